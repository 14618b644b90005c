"""``minigan evaluate``: the metrics of :mod:`minigan.metrics` for a trained generator or a
``.npy`` of images, with the floor (real training images against the same reference).

A run or checkpoint directory (or its ``G.safetensors``) has ``--n`` samples drawn from its
generator in eval mode, from noise seeded by ``--seed`` (a conditional generator gets its
classes in turn, ``0, 1, ..., 9, 0, ...``: balanced). A ``.npy`` holds uint8 images in
[0, 255] or floats in [-1, 1], (N, 28, 28) or (N, 1, 28, 28); ``--n`` then draws that many of
them. The report is a table, or with ``--json`` exactly one JSON object on standard output;
progress goes to standard error. Bad input: exit status 2 and a one-line error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from minigan import backend
from minigan.commands import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_backend_argument,
    select_backend,
)

DEFAULT_N = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan evaluate``."""
    parser.add_argument(
        "path",
        metavar="RUN_DIR|CHECKPOINT|FILE.npy",
        help="a run directory (from minigan train --out), a checkpoint directory or its "
        "G.safetensors, or a .npy of images (uint8 in [0, 255] or float in [-1, 1], shape "
        "(N, 28, 28) or (N, 1, 28, 28))",
    )
    parser.add_argument(
        "--n",
        type=POSITIVE_INT,
        default=None,
        help=f"number of samples: drawn from the generator (default: {DEFAULT_N}) or from the "
        ".npy (default: all of it)",
    )
    parser.add_argument(
        "--seed",
        type=NON_NEGATIVE_INT,
        default=0,
        help="seed of the generator's noise, of the subset of a .npy and of KID's subsets "
        "(default: 0)",
    )
    parser.add_argument(
        "--truncation",
        type=POSITIVE_FLOAT,
        metavar="PSI",
        help="a generator's noise with the truncation trick: entries with |z| > PSI redrawn "
        "until inside (default: plain N(0, I) noise)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the table"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="directory searched first for the data")
    parser.add_argument("--no-download", action="store_true", help="never download Fashion-MNIST")
    add_backend_argument(parser)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_samples(
    path: str, n: int | None, seed: int, truncation: float | None = None
) -> tuple[Any, int | None, str]:
    """``(images, n to draw from them, what they are)`` for a ``.npy`` or a generator (its
    noise truncated at ``truncation`` when given: a ``ValueError`` for a ``.npy``)."""
    source = Path(path)
    if source.suffix.lower() == ".npy":
        if truncation is not None:
            raise ValueError("--truncation needs a generator (a run or checkpoint), not a .npy")
        if not source.is_file():
            raise ValueError(f"no such file: {source}")
        return np.load(source, allow_pickle=False), n, f"{source}"
    from minigan.sampling import classes_in_turn, load_generator, sample

    G, config = load_generator(path)
    if backend.current() == backend.DEVICE_BACKEND:
        G.to(backend.DEVICE_BACKEND)
    count = DEFAULT_N if n is None else n
    labels = classes_in_turn(config.num_classes, count)
    truncate = {} if truncation is None else {"truncation": truncation}
    images = sample(G, count, config.z_dim, seed, labels=labels, **truncate)
    truncated = "" if truncation is None else f" (truncation {truncation:g})"
    return images, None, f"{count} samples of {config.model}{truncated} from {path}"


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.path``; 0, or 2 with a one-line error on a bad input."""
    start = time.perf_counter()
    try:
        select_backend(args)
        from minigan.metrics import Evaluator, format_table

        images, n, what = load_samples(args.path, args.n, args.seed, args.truncation)
        _log(f"minigan evaluate: {what}")
        _log("loading the classifier and the real statistics (computed once, then cached)")
        evaluator = Evaluator(args.data_dir, not args.no_download)
        report = evaluator(images, n=n, seed=args.seed)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"minigan evaluate: error: {message}", file=sys.stderr)
        return 2
    if args.truncation is not None:
        report["truncation"] = args.truncation
    report["seconds"] = round(time.perf_counter() - start, 2)
    if args.json:
        import json

        print(json.dumps(report))
    else:
        extractor = report["extractor"]
        print(f"{what}, seed {args.seed}, against the {report['reference']['name']}")
        print(f"extractor: {extractor['name']} (sha256 {extractor['sha256'][:16]}...)")
        print(format_table(report))
    _log(f"evaluated in {report['seconds']:.1f} s")
    return 0
