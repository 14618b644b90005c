"""The ``minigan`` commands, one module each (``add_arguments(parser)`` and ``run(args) -> int``),
and the argument validators they share. :mod:`minigan.cli` only dispatches to them.

Every command answers a bad input the same way: one line, ``minigan <command>: error: ...``,
exit status 2, nothing written. The argparse types below refuse a bad value while the flags are
parsed (``SEED`` a negative seed, ``FPS`` a frame rate no GIF can show, ``OUT_DIR`` and
``OUT_FILE`` a path that cannot be written, checked without writing anything); for the rest,
:func:`select_backend` turns an unknown backend (``--backend`` or ``$MINIGAN_BACKEND``) into a
``ValueError`` and a missing one into an ``ImportError``, and :func:`error` prints the line.
Ctrl-C is :mod:`minigan.cli`'s: one line, exit status 130.

>>> POSITIVE_INT("3"), NON_NEGATIVE_INT("0"), POSITIVE_FLOAT("1e-3"), SEED("7"), FPS("12")
(3, 0, 0.001, 7, 12.0)
>>> FPS("1e-300")
Traceback (most recent call last):
    ...
argparse.ArgumentTypeError: expected a frame rate from 0.1 to 100 frames per second, got '1e-300'
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minigan import backend, tuning
from minigan.rundir import check_out

__all__ = [
    "FPS",
    "NON_NEGATIVE_INT",
    "OUT_DIR",
    "OUT_FILE",
    "POSITIVE_FLOAT",
    "POSITIVE_INT",
    "SEED",
    "add_backend_argument",
    "add_run_argument",
    "error",
    "number_type",
    "release_backend",
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
#: A seed of ``np.random.SeedSequence``: any non-negative integer.
SEED = number_type(int, "a non-negative integer seed", lambda v: v >= 0)
#: Frames per second of a GIF: its delays are whole hundredths of a second, at most 10 s here.
FPS = number_type(
    float, "a frame rate from 0.1 to 100 frames per second", lambda v: 0.1 <= v <= 100
)


def OUT_DIR(text: str) -> Path:
    """An argparse ``type`` for an output directory: an existing directory, or a path where one
    can be created (checked by :func:`minigan.rundir.check_out`, which leaves nothing behind)."""
    try:
        check_out(text, "directory")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def OUT_FILE(text: str) -> Path:
    """An argparse ``type`` for an output file: not a directory, in a folder that exists or can
    be created."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"file {text}: is a directory")
    try:
        check_out(path.parent, f"file {text}: folder")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def add_run_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``checkpoint`` of the commands that read a trained generator."""
    parser.add_argument(
        "checkpoint",
        metavar="RUN_DIR|CHECKPOINT",
        help="a run directory (from minigan train --out), its checkpoint/ directory, or the "
        "G.safetensors in it",
    )


def error(command: str, exc: BaseException | str) -> int:
    """Print ``minigan <command>: error: <exc>`` on stderr and return 2, the exit status of a
    bad input."""
    print(f"minigan {command}: error: {exc}", file=sys.stderr)
    return 2


def add_backend_argument(parser: argparse.ArgumentParser | Any, fastest: bool = False) -> None:
    """``--backend NAME``, the same for every command that computes; ``fastest`` says in the
    help that the command's default is the fastest installed CPU backend (:func:`select_backend`
    with ``fastest=True``)."""
    default = "the fastest installed CPU backend, numba or numpy" if fastest else "numpy"
    parser.add_argument(
        "--backend",
        choices=sorted(backend.BACKENDS),
        help=f"kernels to run: numpy (the reference), numba, cupy (default: $MINIGAN_BACKEND or "
        f"{default})",
    )


# the backends a command picked by itself, to unselect when it ends (release_backend)
_picked = contextlib.ExitStack()


def select_backend(args: argparse.Namespace, fastest: bool = False) -> str:
    """Select ``args.backend`` (else ``$MINIGAN_BACKEND`` or numpy) and apply the process
    tuning measured for it (:func:`minigan.tuning.tune_process`), before any kernel runs.
    With ``fastest`` (the training commands), no ``--backend`` means the backend the program
    chose (:func:`minigan.backend.chosen`: ``minigan.use(...)`` or ``$MINIGAN_BACKEND``), else
    :func:`minigan.backend.fastest_cpu` (numba when it imports, else numpy; never cupy), held
    only until the command calls :func:`release_backend`: a program that calls
    ``minigan.cli.main`` keeps its own selection. Returns the backend's name; raises
    ``ValueError`` or :class:`~minigan.backend.BackendUnavailableError` (an ``ImportError``)
    with the reason."""
    name = getattr(args, "backend", None)
    if not name and fastest and backend.chosen() is None:
        _picked.enter_context(backend.using(backend.fastest_cpu()))
    elif name or fastest:
        backend.use(name or backend.chosen())
    name = backend.current()
    tuning.tune_process(name)
    return name


def release_backend() -> None:
    """Unselect the backend :func:`select_backend` picked by itself for the command now ending
    (the one asked for by ``--backend`` stays selected, as :func:`minigan.backend.use` does)."""
    _picked.close()
