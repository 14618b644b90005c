"""Doctest collection over ``minigan/`` skips the modules whose optional packages are absent."""

import importlib.util

collect_ignore = []
collect_ignore_glob = []
if importlib.util.find_spec("cupy") is None:
    collect_ignore.append("minigan/kernels/cuda.py")
if importlib.util.find_spec("numba") is None:
    collect_ignore_glob.append("minigan/kernels/*.py")
