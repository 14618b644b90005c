"""Mean norm of truncated noise per PSI: the "mean noise norm" column of the truncation table of
docs/latent.md.

Draws ``--n`` noise vectors of ``--z-dim`` entries with ``minigan.latent.truncated_normal``
(generator ``np.random.default_rng(--seed)``, the draw ``minigan sample --seed S --truncation
PSI`` makes) for each PSI, and, for the row without truncation, plain float32 normal draws.
The other columns come from ``minigan evaluate RUN --truncation PSI --json``.

Usage::

    python docs/scripts/truncation_norms.py                    # z_dim 100, 10,000 vectors
    python docs/scripts/truncation_norms.py --psi 0.7 --n 1000
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from minigan.latent import truncated_normal

PSIS = (0.5, 1.0, 1.5, 2.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--help`` describes it)."""
    parser = argparse.ArgumentParser(
        prog="truncation_norms.py",
        description="Mean norm of truncated normal noise per PSI (docs/latent.md, the "
        "truncation table's noise norms).",
    )
    parser.add_argument("--psi", type=float, nargs="+", default=list(PSIS),
                        help="truncation thresholds (default: 0.5 1.0 1.5 2.0)")  # fmt: skip
    parser.add_argument("--n", type=int, default=10000,
                        help="noise vectors per PSI (default 10000)")  # fmt: skip
    parser.add_argument("--z-dim", type=int, default=100,
                        help="entries per vector: the run's z_dim (default 100)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.z_dim < 1:
        parser.error(f"--n and --z-dim must be at least 1, got {args.n} and {args.z_dim}")
    if any(psi <= 0 for psi in args.psi):
        parser.error(f"--psi must be positive, got {args.psi}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shape = (args.n, args.z_dim)
    for psi in args.psi:
        z = truncated_normal(np.random.default_rng(args.seed), shape, psi)
        print(f"psi {psi}: mean |z| {np.linalg.norm(z, axis=1).mean():.2f}")
    z = np.random.default_rng(args.seed).standard_normal(shape, dtype=np.float32)
    print(f"none: mean |z| {np.linalg.norm(z, axis=1).mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
