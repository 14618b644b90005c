"""The ``minigan`` commands, one module each (``add_arguments(parser)`` and ``run(args) -> int``),
and the argument validators they share. :mod:`minigan.cli` only dispatches to them.

>>> POSITIVE_INT("3"), NON_NEGATIVE_INT("0"), POSITIVE_FLOAT("1e-3")
(3, 0, 0.001)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from minigan import backend, tuning

__all__ = [
    "NON_NEGATIVE_INT",
    "POSITIVE_FLOAT",
    "POSITIVE_INT",
    "add_backend_argument",
    "number_type",
    "select_backend",
]


def number_type(kind: type, what: str, valid: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind(text)`` if ``valid`` of it, else the error "expected <what>"."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


POSITIVE_INT = number_type(int, "a positive integer", lambda v: v > 0)
NON_NEGATIVE_INT = number_type(int, "a non-negative integer", lambda v: v >= 0)
POSITIVE_FLOAT = number_type(float, "a positive number", lambda v: 0 < v < float("inf"))


def add_backend_argument(parser: argparse.ArgumentParser | Any) -> None:
    """``--backend NAME``, the same for every command that computes."""
    parser.add_argument(
        "--backend",
        choices=sorted(backend.BACKENDS),
        help="kernels to run: numpy (the reference), numba, cupy (default: $MINIGAN_BACKEND or "
        "numpy)",
    )


def select_backend(args: argparse.Namespace) -> str:
    """Select ``args.backend`` (else ``$MINIGAN_BACKEND`` or numpy) and apply the process
    tuning measured for it (:func:`minigan.tuning.tune_process`), before any kernel runs.
    Returns the backend's name; raises ``ValueError`` or
    :class:`~minigan.backend.BackendUnavailableError` (an ``ImportError``) with the reason."""
    if getattr(args, "backend", None):
        backend.use(args.backend)
    name = backend.current()
    tuning.tune_process(name)
    return name
