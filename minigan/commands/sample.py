"""``minigan sample``: write samples of a trained generator as ``.npy`` (uint8) or a ``.png`` grid.

The generator runs through the selected backend's kernels (``--backend``); with ``cupy`` it is
moved to the GPU first, as :class:`minigan.train.Trainer` places its models.

Exit codes: 0 done, 2 a bad input (a flag, a checkpoint, an ``--out`` that cannot be written,
or a number of samples that cannot fit in memory: estimated before anything is drawn), 130
interrupted. The file appears whole or not at all (written to a temporary, then renamed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from minigan import backend
from minigan.commands import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_backend_argument,
    add_run_argument,
    select_backend,
)
from minigan.data.loader import to_uint8
from minigan.resources import check_memory, samples_bytes
from minigan.rundir import check_out
from minigan.sampling import class_grid_labels, classes_in_turn, load_generator, sample


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan sample``."""
    add_run_argument(parser)
    parser.add_argument(
        "--n", type=POSITIVE_INT, default=64, help="number of samples (default: 64)"
    )
    parser.add_argument(
        "--seed",
        type=NON_NEGATIVE_INT,
        default=0,
        help="seed of the noise; same seed, same samples (default: 0)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="FILE.npy: uint8 array of shape (N, H, W), or (N, C, H, W) for colour; FILE.png: "
        "a grid of the samples",
    )
    parser.add_argument(
        "--nrow",
        type=POSITIVE_INT,
        default=8,
        metavar="N",
        help="images per row of a .png grid (default: 8)",
    )
    parser.add_argument(
        "--label",
        metavar="K|all",
        help="conditional runs: draw only class K, or with 'all' --n samples spread evenly over "
        "the classes, one row per class in a .png (default: the classes in turn)",
    )
    parser.add_argument(
        "--batch-stats",
        action="store_true",
        help="normalise BatchNorm with the statistics of the N samples (training mode) instead "
        "of the running statistics; then a sample depends on the rest of its batch",
    )
    parser.add_argument(
        "--truncation",
        type=POSITIVE_FLOAT,
        metavar="PSI",
        help="the truncation trick: every noise entry with |z| > PSI redrawn until inside "
        "(smaller PSI: more typical samples, less variety; default: plain N(0, I) noise)",
    )
    add_backend_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Write ``args.n`` samples of the checkpoint to ``args.out``; 2 on a bad input."""
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".npy", ".png"):
        print(f"minigan sample: error: --out must end in .npy or .png, got {out}", file=sys.stderr)
        return 2
    if args.batch_stats and args.n < 2:
        print("minigan sample: error: --batch-stats needs --n of at least 2", file=sys.stderr)
        return 2
    try:
        check_out(out.parent, "--out's folder")
        select_backend(args)
        G, config = load_generator(args.checkpoint)
        labels, nrow = _labels(args.label, config.num_classes, args.n, args.nrow)
        n = args.n if labels is None else len(labels)
        _check_fits(G, config, n, labels, suffix == ".png", args.batch_stats)
        if backend.current() == backend.DEVICE_BACKEND:
            G.to(backend.DEVICE_BACKEND)  # the CUDA kernels run on its CuPy arrays
        images = sample(
            G, n, config.z_dim, args.seed, labels=labels, batch_stats=args.batch_stats,
            truncation=args.truncation,
        )  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # viz's temporary name too
        try:
            if suffix == ".png":
                from minigan.viz import save_image_grid

                save_image_grid(images, out, nrow)
            else:
                with open(tmp, "wb") as f:
                    np.save(f, to_uint8(images[:, 0] if images.shape[1] == 1 else images))
                os.replace(tmp, out)
        finally:  # a full disk or Ctrl-C leaves no temporary behind
            tmp.unlink(missing_ok=True)
    except (OSError, ValueError, ImportError, MemoryError) as exc:
        reason = "not enough memory: " if isinstance(exc, MemoryError) else ""
        print(f"minigan sample: error: {reason}{exc}", file=sys.stderr)
        return 2
    which = "" if args.label is None else f" (label {args.label})"
    which += "" if args.truncation is None else f" (truncation {args.truncation:g})"
    print(f"wrote {n} samples of {config.model}{which} to {out}")
    return 0


def _check_fits(
    G: object, config: object, n: int, labels: np.ndarray | None, png: bool, batch_stats: bool
) -> None:
    """Refuse ``n`` samples that cannot fit in memory (a ``ValueError`` saying how much they
    need): the noise, the images and the file's pixels; with ``--batch-stats`` also G's
    activations for the whole batch, measured on two samples."""
    shape = config.image_shape or (1, 28, 28)
    itemsize = (G.dtype or np.dtype(np.float32)).itemsize
    need = samples_bytes(n, config.z_dim, shape, itemsize, grid=png)
    if batch_stats:
        tracing = tracemalloc.is_tracing()
        tracemalloc.start() if not tracing else tracemalloc.reset_peak()
        two = None if labels is None else labels[:2]
        sample(G, 2, config.z_dim, 0, labels=two, batch_stats=True)
        need += n * tracemalloc.get_traced_memory()[1] // 2
        if not tracing:
            tracemalloc.stop()
    check_memory(need, f"--n {n}: {n} samples of shape {tuple(shape)}")


def _labels(
    label: str | None, num_classes: int | None, n: int, nrow: int
) -> tuple[np.ndarray | None, int]:
    """The class of each sample and the grid's row length: ``--label K`` gives class K only,
    ``all`` ``n // num_classes`` samples of each class in a row of their own (the training
    grids' layout), none the classes in turn."""
    if num_classes is None:
        if label is not None:
            raise ValueError("--label needs a conditional run (minigan train --conditional)")
        return None, nrow
    if label is None:
        return classes_in_turn(num_classes, n), nrow
    if label == "all":
        return class_grid_labels(num_classes, n)
    if not label.isdigit() or int(label) >= num_classes:
        raise ValueError(f"--label must be 'all' or a class in 0..{num_classes - 1}, got {label!r}")
    return np.full(n, int(label)), nrow
