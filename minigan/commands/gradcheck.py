"""``minigan gradcheck``: every layer and loss against finite differences, as a table
(:func:`minigan.gradcheck.suite`); exit status 1 if any check fails, 2 on a bad ``--backend``.

The checks run in float64, through :func:`minigan.backend.kernel` like every layer, so
``--backend numba`` checks the Numba kernels themselves: they are compiled for the dtype they are
called with, float64 here as float32 in training. Numba has no kernel for some ops, and its
kernels hand some inputs back to the reference, so with a backend other than numpy the table is
followed by a note saying which ops ran whose code.
"""

from __future__ import annotations

import argparse
import textwrap

from minigan import backend
from minigan.commands import SEED, add_backend_argument, error, select_backend
from minigan.gradcheck import format_table, suite


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan gradcheck``."""
    parser.epilog = (
        "The checks run in float64 with the selected backend's kernels (numba compiles its "
        "kernels for float64 too); with a backend other than numpy a note after the table says "
        "which ops ran its kernels and which the NumPy reference."
    )
    parser.add_argument(
        "--seed", type=SEED, default=0, help="seed for shapes and values (default 0)"
    )
    add_backend_argument(parser)


def kernel_note(name: str) -> str | None:
    """What the checks ran under backend ``name``: None for numpy (the reference everywhere)."""
    if name == "numpy":
        return None
    if name == backend.DEVICE_BACKEND:
        return (
            f"backend {name}: the checks run on NumPy arrays, for which this backend keeps the "
            "NumPy reference; its CUDA kernels run on CuPy arrays only (tests/test_kernels_cuda.py "
            "checks them against the reference)."
        )
    pairs = sorted(
        {
            ref.__name__.rsplit("_", 1)[0]
            for ref in backend.table(name)
            if ref.__name__.endswith(("_forward", "_backward"))
        }
    )
    ops = ", ".join(pairs[:-1]) + f" and {pairs[-1]}" if len(pairs) > 1 else "".join(pairs)
    note = (
        f"backend {name}: its kernels are compiled for float64 as for float32, so these checks "
        f"ran them for {ops} (forward and backward); every other op ran the NumPy reference."
    )
    if name == "numba":
        from minigan.kernels.numba.conv import MIN_CHANNELS

        note += (
            " Inside those kernels, (N, C) BatchNorm inputs and col2im onto fewer than "
            f"{MIN_CHANNELS} channels (every convolution here) take the reference's path."
        )
    return note


def run(args: argparse.Namespace) -> int:
    """Print the table; 1 if any check fails, 2 if the backend cannot be selected."""
    try:
        name = select_backend(args)
    except (ValueError, ImportError) as exc:  # an unknown or missing backend
        return error("gradcheck", exc)
    reports = suite(args.seed)
    print(format_table(reports))
    note = kernel_note(name)
    if note:
        print("\n" + textwrap.fill(note, 100))
    failed = [rep.name for rep in reports if not rep.passed]
    print(f"\n{len(reports) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
