"""``minigan train``: train a GAN on Fashion-MNIST, MNIST or IDX files, or resume a run.

The run itself is a :class:`minigan.train.Trainer`; this module turns flags into one, prints the
start line, and maps errors to exit codes: 0 done; 2 a bad input (a flag, a path, the data, a
checkpoint, a locked run directory, a size that cannot fit in memory) or an I/O error while
running (a full disk), each one line on stderr; 3 (:data:`minigan.guards.EXIT_DIVERGED`) the
run diverged; 130 interrupted. Before anything else it checks the run directory (``--out``
writable and fresh, or where ``--resume`` may write) and locks it for the whole command; a
start that fails leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from minigan import backend
from minigan.checkpoint import load_checkpoint
from minigan.commands import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_backend_argument,
    number_type,
    release_backend,
    select_backend,
)
from minigan.config import FAKE_DATA, TrainConfig
from minigan.data import DATASET_NAMES
from minigan.guards import EXIT_DIVERGED, DivergenceError
from minigan.models import MODELS
from minigan.objectives import LOSSES
from minigan.optim import OPTIMIZERS
from minigan.progress import format_duration
from minigan.resources import check_memory, samples_bytes
from minigan.rundir import LOCK_NAME, RunLock, check_fresh, check_out, lock_run_dir, resume_target
from minigan.train import Trainer
from minigan.training_data import EVAL_SAMPLES, load_images

_LOSS_HELP = """the game (docs/objectives.md), each with its paper's optimizer, learning rate, betas and
D steps per G step unless given: nonsaturating (BCE; G maximises log D(G(z))), minimax (BCE; G
minimises log(1 - D(G(z)))), lsgan (least squares), hinge, wgan (critic with clipped weights;
RMSprop 5e-5, 5 critic steps), wgan-gp (critic with a gradient penalty; Adam 1e-4 (0, 0.9), 5
critic steps; needs a critic without BatchNorm: --model dcgan28-nobn or mlp); --model vae28 (a
VAE, docs/vae.md) trains on its negative ELBO alone (Adam 1e-3, betas (0.9, 0.999)) (default: %s
for the GANs)"""

_BETA = number_type(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan train``."""
    d = TrainConfig()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = """examples (see docs/training.md):
  minigan train --data fashion-mnist --model dcgan28 --epochs 1 --out runs/fmnist1
  minigan train --resume runs/fmnist1 --epochs 5      # continue, up to 5 epochs in all
  minigan train --dry-run --epochs 3 --max-iters 20 --out /tmp/smoke
      # random pixels, 8 batches per epoch: 20 iterations (3 epochs of 8, stopped at 20)
  minigan train --loss wgan-gp --model dcgan28-nobn --epochs 5 --out runs/wgangp
  minigan train --conditional --epochs 2 --out runs/cdcgan   # then: minigan sample --label 3
  minigan train --model vae28 --epochs 1 --out runs/vae28     # a VAE (docs/vae.md)"""
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
        ("--loss", {"choices": tuple(LOSSES), "help": _LOSS_HELP % d.loss}),
        ("--optimizer", {"choices": OPTIMIZERS, "help": "G's and D's optimizer (default: the loss's)"}),
        ("--lr", {"type": POSITIVE_FLOAT, "help": "learning rate of G and D (default: the loss's)"}),
        ("--lr-g", {"type": POSITIVE_FLOAT, "metavar": "LR", "help": "G's learning rate (two time-scales)"}),
        ("--lr-d", {"type": POSITIVE_FLOAT, "metavar": "LR", "help": "D's learning rate (two time-scales)"}),
        ("--beta1", {"type": _BETA, "help": "Adam beta1 (default: the loss's)"}),
        ("--beta2", {"type": _BETA, "help": "Adam beta2 (default: the loss's)"}),
        ("--n-critic", {"type": POSITIVE_INT, "metavar": "K",
                        "help": "D steps per G step, one real batch each (default: the loss's)"}),
        ("--clip", {"type": POSITIVE_FLOAT, "metavar": "C",
                    "help": "wgan: clip D's weights to [-C, C] after each D step (default: 0.01)"}),
        ("--gp-weight", {"type": POSITIVE_FLOAT, "metavar": "LAMBDA",
                         "help": "wgan-gp: weight of the gradient penalty (default: 10)"}),
        ("--conditional", {"action": "store_true",
                           "help": "condition G and D on the data's class labels (grids: a row per "
                                   "class; minigan sample --label K)"}),
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
        (
            "--eval-every",
            NON_NEGATIVE_INT,
            0,
            "score G's samples with minigan.metrics (FID, "
            "coverage, ...) every N iterations and after every epoch, into metrics.jsonl; 0: never",
        ),
        ("--eval-n", POSITIVE_INT, EVAL_SAMPLES, "samples per evaluation"),
        ("--log-every", POSITIVE_INT, 50, "progress line every N iterations if not on a terminal"),
    ]:
        text += "" if default is None else f" (default: {default})"
        run.add_argument(flag, type=kind, default=default, metavar="N", help=text)
    add_backend_argument(run, fastest=True)
    run.add_argument("--no-pictures", action="store_true", help="write no PNG or GIF (faster)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _make_trainer(args: argparse.Namespace) -> Trainer:
    """The :class:`Trainer` that ``args`` ask for (a fresh run or a resumed one)."""
    names = ("data", "model", "z_dim", "epochs", "batch", "loss", "optimizer", "lr_g", "lr_d")
    names += ("n_critic", "clip", "gp_weight", "seed", "dtype")
    changes = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.lr is not None:
        changes = {"lr_g": args.lr, "lr_d": args.lr} | changes
    if "data" in changes:  # a name in lower case; a directory as an absolute path
        name = changes["data"].lower()
        changes["data"] = name if name in DATASET_NAMES else str(Path(changes["data"]).resolve())
    if args.dry_run:
        changes["data"] = FAKE_DATA
    # a resumed run's config, once its sizes are checked against G's tensors (load_checkpoint)
    base = (
        TrainConfig.from_dict(load_checkpoint(args.resume, ("G",)).config) if args.resume else None
    )
    if args.beta1 is not None or args.beta2 is not None:
        # the betas the model and loss asked for would have, unless the resumed run has its own
        game = {k: changes[k] for k in ("model", "loss") if k in changes}
        betas = base.betas if base else TrainConfig(**game).betas
        changes["betas"] = (
            betas[0] if args.beta1 is None else args.beta1,
            betas[1] if args.beta2 is None else args.beta2,
        )
    options = {
        "data_dir": args.data_dir, "download": not args.no_download,
        "checkpoint_every": args.checkpoint_every, "sample_every": args.sample_every,
        "n_samples": args.n_samples, "log_every": args.log_every, "quiet": args.quiet,
        "pictures": not args.no_pictures, "eval_every": args.eval_every, "eval_n": args.eval_n,
    }  # fmt: skip
    if args.resume:
        if args.conditional and base is not None and base.num_classes is None:
            raise ValueError(f"--conditional: {args.resume} is an unconditional run")
        _check_sizes(base.resumed_with(changes, args.resume), args)
        return Trainer.resume(args.resume, changes, out=args.out, **options)
    config = TrainConfig(**changes)
    _check_sizes(config, args)
    if not args.conditional:
        return Trainer(config, args.out, **options)
    # a conditional model needs the number of classes before it is built: read the labels
    images, labels = load_images(config, args.data_dir, not args.no_download)
    config = replace(config, num_classes=max(int(labels.max()) + 1, 2))
    del options["data_dir"], options["download"]
    return Trainer(config, args.out, images=images, labels=labels, **options)


def _check_sizes(config: TrainConfig, args: argparse.Namespace) -> None:
    """Refuse, before any allocation, what cannot fit in memory: a noise size whose first layer
    alone (at least 256 outputs per input in every built-in generator, with its gradient and two
    optimizer moments) is too large, and grids of ``--n-samples`` images (28x28 assumed while
    the data's shape is unknown)."""
    itemsize = 8 if config.dtype == "float64" else 4
    check_memory(
        config.z_dim * 256 * 4 * itemsize,
        f"--z-dim {config.z_dim}: the generator's first layer (weights, gradient, optimizer state)",
    )
    if not args.no_pictures:
        shape = config.image_shape or (1, 28, 28)
        check_memory(
            samples_bytes(args.n_samples, config.z_dim, shape, itemsize, grid=True),
            f"--n-samples {args.n_samples}: a grid of {args.n_samples} images",
        )


def _run_dir(args: argparse.Namespace) -> Path:
    """The run directory this command will write, checked before anything else is done: a new
    ``--out`` (writable, empty), or where ``--resume`` may write (its own run, or ``--out``)."""
    if args.resume:
        return resume_target(args.resume, args.out)
    if not args.out:
        raise ValueError("--out RUN_DIR is required (or --resume RUN_DIR)")
    check_out(args.out)
    check_fresh(args.out)
    return Path(args.out)


def _undo_start(lock: RunLock | None, target: Path | None, created: Path | None) -> None:
    """After a start that failed: release the lock and remove what the start made (the lock
    file if it is alone in the run directory, and the directories it created, if empty)."""
    if lock is None or target is None:
        return
    lock.release()
    if target.is_dir() and [p.name for p in target.iterdir()] == [LOCK_NAME]:
        (target / LOCK_NAME).unlink(missing_ok=True)
    while created is not None and target.is_dir() and not any(target.iterdir()):
        target.rmdir()
        if target == created:
            break
        target = target.parent


def _first_missing(path: Path) -> Path | None:
    """The outermost directory that creating ``path`` would make, or None if it exists."""
    missing = None
    while not path.exists():
        missing, path = path, path.parent
    return missing


def _model_text(c: TrainConfig) -> str:
    """``dcgan28 (1x28x28)``, with ``conditional on 10 classes`` when it is."""
    text = f"{c.model} ({'x'.join(map(str, c.image_shape or ()))})"
    return text + (f", conditional on {c.num_classes} classes" if c.num_classes else "")


def _game_text(c: TrainConfig) -> str:
    """The loss and how it is optimised, as the start line prints it."""
    lr = f"lr {c.lr_g}" if c.lr_g == c.lr_d else f"lr G {c.lr_g} D {c.lr_d}"
    optimizer = f"Adam {lr} betas {c.betas}" if c.optimizer == "adam" else f"RMSprop {lr}"
    extras = [f"{c.n_critic} D steps per G step"] if c.n_critic > 1 else []
    extras += [f"clip {c.clip}"] if c.clip is not None else []
    extras += [f"gradient penalty {c.gp_weight}"] if c.gp_weight is not None else []
    return ", ".join([f"{c.loss} loss", optimizer, *extras])


def run(args: argparse.Namespace) -> int:
    """Run ``minigan train``: 0 when done, 2 on a bad input or an I/O error, 3 when the run
    diverged, 130 when interrupted (see the module docstring)."""
    lock = target = created = None
    try:
        target = _run_dir(args)  # an unwritable or used run directory costs nothing
        select_backend(args, fastest=True)
        created = _first_missing(target)
        lock = lock_run_dir(target)  # another process on it: refused, naming it
        trainer = _make_trainer(args)
    except BaseException as exc:
        _undo_start(lock, target, created)
        release_backend()
        if not isinstance(exc, OSError | ValueError | ImportError | MemoryError):
            raise  # Ctrl-C: minigan.cli says so in one line
        reason = "not enough memory: " if isinstance(exc, MemoryError) else ""
        print(f"minigan train: error: {reason}{exc}", file=sys.stderr)
        return 2
    try:
        return _train(trainer, args)
    finally:
        lock.release()
        release_backend()


def _train(trainer: Trainer, args: argparse.Namespace) -> int:
    """Print the start line, fit, and say how it ended (the exit status)."""
    c, say = trainer.config, (lambda text: None) if args.quiet else print
    resuming = f" | resuming at iteration {trainer.iteration}" if args.resume else ""
    say(
        f"minigan train: seed {c.seed} | {_model_text(c)} on {c.data} "
        f"({len(trainer.loader.images)} images, {trainer.steps_per_epoch} iterations/epoch x "
        f"{c.epochs}) | batch {c.batch} | {_game_text(c)} | backend {backend.current()} | "
        f"out {trainer.out}{resuming}"
    )
    start, first = time.perf_counter(), trainer.iteration
    where = "no checkpoint was written"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each warning once per place, as one line
            warnings.showwarning = _warning_printer(trainer)
            trainer.fit(args.max_iters)
    except KeyboardInterrupt:
        if trainer.saved_at >= 0:
            where = (
                f"the checkpoint holds iteration {trainer.saved_at}; continue with "
                f"minigan train --resume {trainer.out}"
            )
        print(f"\ninterrupted at iteration {trainer.iteration}; {where}", file=sys.stderr)
        return 130
    except (DivergenceError, OSError) as exc:
        if trainer.saved_at >= 0:
            where = f"the checkpoint of iteration {trainer.saved_at} is left as it was"
        advice = (
            "; start again with a lower learning rate (--lr), or see docs/training.md"
            if isinstance(exc, DivergenceError)
            else ""
        )
        print(f"minigan train: error: {exc}; {where}{advice}", file=sys.stderr)
        return EXIT_DIVERGED if isinstance(exc, DivergenceError) else 2
    done, seconds = trainer.iteration - first, time.perf_counter() - start
    say(
        f"done: {done} iterations in {format_duration(seconds)}"
        + (f" ({seconds / done:.3f} s/iteration)" if done else "")
        + f"; run directory {trainer.out}"
    )
    return 0


def _warning_printer(trainer: Trainer) -> Any:
    """A ``warnings.showwarning`` that prints one line, ``minigan train: warning: ...``, above
    the progress bar (also with ``--quiet``: a warning is not progress)."""

    def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        text = f"minigan train: warning: {message}"
        bar = trainer._bar
        if bar.enabled:
            bar.write(text)
        else:
            print(text, file=sys.stderr)

    return show
