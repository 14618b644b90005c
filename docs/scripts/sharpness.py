"""How sharp a set of images is: the "Blur, measured" table of docs/vae.md.

For each set of ``uint8`` images (``.npy`` files as ``minigan sample --out FILE.npy`` writes
them, ``(N, 28, 28)`` or ``(N, 1, 28, 28)``; and first the Fashion-MNIST test images, unless
``--no-reference``), with pixels ``a`` scaled to [0, 1]:

- **edge strength**: the mean absolute difference between neighbouring pixels, the mean of the
  vertical and the horizontal one, ``(mean|a[i+1, j] - a[i, j]| + mean|a[i, j+1] - a[i, j]|) / 2``:
  large when edges are sharp;
- **grey share**: of the inked pixels (``a > 0.1``), the share that is grey (``a < 0.9``).

Usage::

    minigan sample runs/vae28-epoch1 --n 10000 --seed 0 --out vae28.npy
    python docs/scripts/sharpness.py vae28.npy reconstructions.npy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from minigan.data import load_dataset

SIDE = 28  # the images are SIDE x SIDE, one channel


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--help`` describes it)."""
    parser = argparse.ArgumentParser(
        prog="sharpness.py",
        description="Edge strength and grey share of sets of 28x28 uint8 images (docs/vae.md).",
    )
    parser.add_argument("files", type=Path, nargs="*", help=".npy files of uint8 images")
    parser.add_argument("--no-reference", action="store_true",
                        help="leave out the Fashion-MNIST test images' row")  # fmt: skip
    parser.add_argument("--data-dir", default=None,
                        help="where to look for Fashion-MNIST first")  # fmt: skip
    parser.add_argument("--no-download", action="store_true",
                        help="never download Fashion-MNIST")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.files and args.no_reference:
        parser.error("nothing to measure: name .npy files, or drop --no-reference")
    return args


def edges(a: np.ndarray) -> float:
    """Mean absolute difference of neighbouring pixels of ``uint8`` images ``a``, in [0, 1]."""
    a = a.reshape(len(a), SIDE, SIDE).astype(np.float64) / 255
    return (np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=2)).mean()) / 2


def grey(a: np.ndarray) -> float:
    """Share of the inked pixels (> 0.1) of ``uint8`` images ``a`` that are grey (< 0.9)."""
    a = a.astype(np.float64) / 255
    return ((a > 0.1) & (a < 0.9)).sum() / (a > 0.1).sum()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sets = []
    try:
        if not args.no_reference:
            test = load_dataset(
                "fashion-mnist", "test", data_dir=args.data_dir, download=not args.no_download
            )[0]
            sets.append(("test images", test))
        for path in args.files:
            a = np.load(path, allow_pickle=False)
            if a.dtype != np.uint8 or a.size % (SIDE * SIDE):
                raise ValueError(
                    f"{path}: expected uint8 {SIDE}x{SIDE} images, got {a.dtype} {a.shape}"
                )
            sets.append((path.stem, a))
    except (OSError, ValueError) as exc:
        print(f"sharpness.py: error: {exc}", file=sys.stderr)
        return 2
    for name, a in sets:
        print(
            f"{name}: edge strength {edges(a):.4f}, share of inked pixels in (0.1, 0.9): {grey(a):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
