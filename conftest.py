"""Test-session setup shared by ``tests/`` and the doctests of ``minigan/``.

- Doctest collection skips the modules whose optional packages are absent: both kernel sets
  need Numba (the CUDA one ``numba.cuda``); neither needs CuPy to import.
- Under CI (``$CI`` set) hypothesis draws the same examples on every run (``derandomize``), so
  that a submission's result does not depend on the draw; locally it keeps exploring new ones.
"""

import importlib.util
import os

collect_ignore_glob = []
if importlib.util.find_spec("numba") is None:
    collect_ignore_glob += ["minigan/kernels/numba/*", "minigan/kernels/cuda/*"]

if importlib.util.find_spec("hypothesis") is not None:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")
