"""``minigan train``: train a GAN on Fashion-MNIST, MNIST or IDX files, or resume a run.

The run itself is a :class:`minigan.train.Trainer`; this module turns flags into one, prints the
start line, and maps errors to exit codes (2 for a bad input, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from minigan import backend
from minigan.checkpoint import read_config
from minigan.commands import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_backend_argument,
    number_type,
    select_backend,
)
from minigan.config import FAKE_DATA, TrainConfig
from minigan.data import DATASET_NAMES
from minigan.losses import GENERATOR_LOSSES
from minigan.models import MODELS
from minigan.progress import format_duration
from minigan.train import Trainer

_BETA = number_type(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan train``."""
    d = TrainConfig()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = """examples (see docs/training.md):
  minigan train --data fashion-mnist --model dcgan28 --epochs 1 --out runs/fmnist1
  minigan train --resume runs/fmnist1 --epochs 5      # continue, up to 5 epochs in all
  minigan train --dry-run --epochs 3 --max-iters 20 --out /tmp/smoke
      # random pixels, 8 batches per epoch: 20 iterations (3 epochs of 8, stopped at 20)"""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="NAME|DIR",
        help=f"{' or '.join(DATASET_NAMES)}, or a directory holding train-images-idx3-ubyte[.gz] "
        f"and train-labels-idx1-ubyte[.gz] (default: {d.data})",
    )
    data.add_argument("--data-dir", metavar="DIR", help="directory searched first for --data NAME")
    data.add_argument("--no-download", action="store_true", help="never download a dataset")
    data.add_argument(
        "--dry-run",
        action="store_true",
        help="train on random pixels, no dataset: 8 batches of --batch images per epoch",
    )
    model = parser.add_argument_group("model and optimisation (saved in config.json)")
    for flag, kwargs in [
        ("--model", {"choices": MODELS, "help": f"architecture (default: {d.model})"}),
        ("--z-dim", {"type": POSITIVE_INT, "metavar": "N", "help": f"noise size (default: {d.z_dim})"}),
        ("--epochs", {"type": POSITIVE_INT, "metavar": "N",
                      "help": f"epochs in all; --resume may raise it (default: {d.epochs})"}),
        ("--batch", {"type": POSITIVE_INT, "metavar": "N", "help": f"batch size (default: {d.batch})"}),
        ("--lr", {"type": POSITIVE_FLOAT, "help": f"Adam learning rate, G and D (default: {d.lr})"}),
        ("--beta1", {"type": _BETA, "help": f"Adam beta1 (default: {d.betas[0]})"}),
        ("--beta2", {"type": _BETA, "help": f"Adam beta2 (default: {d.betas[1]})"}),
        ("--loss", {"choices": GENERATOR_LOSSES, "help": "nonsaturating: G maximises log D(G(z)); "
                    f"minimax: G minimises log(1 - D(G(z))) (default: {d.loss})"}),
        ("--seed", {"type": NON_NEGATIVE_INT, "metavar": "S",
                    "help": f"seed of everything random; printed at start (default: {d.seed})"}),
        ("--dtype", {"choices": ("float32", "float64"), "help": f"default: {d.dtype}"}),
    ]:  # fmt: skip
        model.add_argument(flag, **kwargs)
    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="RUN_DIR", help="new run directory (absent or empty)")
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run saved in RUN_DIR with its config.json (only --epochs may differ)",
    )
    for flag, kind, default, text in [
        ("--max-iters", POSITIVE_INT, None, "stop at iteration N (counted from the run's start)"),
        (
            "--checkpoint-every",
            NON_NEGATIVE_INT,
            500,
            "checkpoint every N iterations, 0: per epoch only",
        ),
        (
            "--sample-every",
            NON_NEGATIVE_INT,
            100,
            "fixed-noise grid every N iterations (GIF frames)",
        ),
        ("--n-samples", POSITIVE_INT, 64, "images per grid"),
        ("--log-every", POSITIVE_INT, 50, "progress line every N iterations if not on a terminal"),
    ]:
        text += "" if default is None else f" (default: {default})"
        run.add_argument(flag, type=kind, default=default, metavar="N", help=text)
    add_backend_argument(run)
    run.add_argument("--no-pictures", action="store_true", help="write no PNG or GIF (faster)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _make_trainer(args: argparse.Namespace) -> Trainer:
    """The :class:`Trainer` that ``args`` ask for (a fresh run or a resumed one)."""
    changes = {
        name: getattr(args, name)
        for name in ("data", "model", "z_dim", "epochs", "batch", "lr", "loss", "seed", "dtype")
        if getattr(args, name) is not None
    }
    if "data" in changes:  # a name in lower case; a directory as an absolute path
        name = changes["data"].lower()
        changes["data"] = name if name in DATASET_NAMES else str(Path(changes["data"]).resolve())
    if args.dry_run:
        changes["data"] = FAKE_DATA
    base = TrainConfig.from_dict(read_config(args.resume)) if args.resume else TrainConfig()
    if args.beta1 is not None or args.beta2 is not None:
        changes["betas"] = (
            base.betas[0] if args.beta1 is None else args.beta1,
            base.betas[1] if args.beta2 is None else args.beta2,
        )
    options = {
        "data_dir": args.data_dir, "download": not args.no_download,
        "checkpoint_every": args.checkpoint_every, "sample_every": args.sample_every,
        "n_samples": args.n_samples, "log_every": args.log_every, "quiet": args.quiet,
        "pictures": not args.no_pictures,
    }  # fmt: skip
    if args.resume:
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise ValueError("--resume RUN_DIR continues in RUN_DIR itself; drop --out")
        return Trainer.resume(args.resume, changes, **options)
    if not args.out:
        raise ValueError("--out RUN_DIR is required (or --resume RUN_DIR)")
    return Trainer(TrainConfig(**changes), args.out, **options)


def run(args: argparse.Namespace) -> int:
    """Run ``minigan train``: 0 when done, 2 on a bad input, 130 when interrupted."""
    try:
        select_backend(args)
        trainer = _make_trainer(args)
    except (OSError, ValueError, ImportError) as exc:  # bad path, corrupt file, conflicting run
        print(f"minigan train: error: {exc}", file=sys.stderr)
        return 2
    c, say = trainer.config, (lambda text: None) if args.quiet else print
    resuming = f" | resuming at iteration {trainer.iteration}" if args.resume else ""
    say(
        f"minigan train: seed {c.seed} | {c.model} on {c.data} ({len(trainer.loader.images)} "
        f"images, {trainer.steps_per_epoch} iterations/epoch x {c.epochs}) | batch {c.batch}, "
        f"Adam lr {c.lr} betas {c.betas}, {c.loss} loss | backend {backend.current()} | "
        f"out {trainer.out}{resuming}"
    )
    start, first = time.perf_counter(), trainer.iteration
    try:
        trainer.fit(args.max_iters)
    except KeyboardInterrupt:
        where = "no checkpoint was written"
        if trainer.saved_at >= 0:
            where = (
                f"the checkpoint holds iteration {trainer.saved_at}; continue with "
                f"minigan train --resume {trainer.out}"
            )
        print(f"\ninterrupted at iteration {trainer.iteration}; {where}", file=sys.stderr)
        return 130
    done, seconds = trainer.iteration - first, time.perf_counter() - start
    say(
        f"done: {done} iterations in {format_duration(seconds)}"
        + (f" ({seconds / done:.3f} s/iteration)" if done else "")
        + f"; run directory {trainer.out}"
    )
    return 0
