"""Training a GAN: :func:`train_step` (one iteration), :class:`Trainer` (epochs, logs, pictures,
checkpoints, resume) and the ``minigan train`` command built on them.

One iteration is a discriminator step on a real batch and a fresh fake batch, then a generator
step on fresh noise (:func:`train_step`). Everything random comes from one seed:
``np.random.SeedSequence(seed).spawn(5)`` gives the generators of weight initialisation, data
shuffling, training noise, the fixed noise of the sample grids, and the fake data of a dry run.

>>> import numpy as np
>>> images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
>>> config = TrainConfig(data="random", model="mlp", batch=8, seed=0)
>>> history = Trainer(config, images=images, quiet=True).fit()  # out=None: all in memory
>>> len(history), sorted(history[-1])
(2, ['D_G_z', 'D_x', 'epoch', 'iteration', 'loss_D', 'loss_G', 'seconds'])
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minigan import backend, nn
from minigan.checkpoint import (
    Checkpoint,
    TrainConfig,
    load_checkpoint,
    read_config,
    restore,
    save_checkpoint,
    snapshot,
)
from minigan.cli import NON_NEGATIVE_INT, POSITIVE_FLOAT, POSITIVE_INT, number_type
from minigan.data import DATASET_NAMES, BatchIterator, load_dataset
from minigan.functional.activations import sigmoid
from minigan.losses import GENERATOR_LOSSES, bce_with_logits, generator_loss
from minigan.models import MODELS, build
from minigan.optim import Adam
from minigan.progress import ProgressBar, RunFiles, format_duration, truncate_metrics
from minigan.sampling import generate, sample

__all__ = ["FAKE_DATA", "TrainConfig", "Trainer", "add_arguments", "run", "train_step"]

#: ``TrainConfig.data`` of a dry run: random pixels, 8 batches of them, no dataset needed.
FAKE_DATA = "fake"


def load_images(
    config: TrainConfig, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The training images of ``config.data``: ``(uint8 (N, 28, 28), labels (N,))``."""
    if config.data == FAKE_DATA:
        rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(5)[4])
        images = rng.integers(0, 256, (8 * config.batch, 28, 28), dtype=np.uint8)
        return images, np.zeros(len(images), np.uint8)
    return load_dataset(config.data, "train", data_dir=data_dir, download=download)


def train_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: Adam,
    opt_D: Adam,
    real: np.ndarray,
    rng: np.random.Generator,
    z_dim: int,
    loss: str = "nonsaturating",
) -> dict[str, float]:
    """One iteration on a real batch ``real`` (N, 1, 28, 28) in [-1, 1], noise from ``rng``
    (drawn on the host, then moved to ``real``'s device).

    Returns ``loss_D``, ``loss_G``, and ``D_x``, ``D_G_z``: the mean of ``sigmoid`` of D's
    logits on the real and on the fake batch of the D step.
    """
    n, dtype, device = real.shape[0], real.dtype, backend.device_of(real)

    # ---------------------------------------------------------------------------------------
    # (1) D: maximise log D(x) + log(1 - D(G(z)))  =  minimise BCE(D(x), 1) + BCE(D(G(z)), 0)
    # D caches only its last forward, so each batch goes forward then backward at once; the
    # two backward passes add into D's gradients. Both inputs are constants here (G.backward is
    # not called), so backward_params skips the image gradient of D's first layer. zero_grad
    # also drops the D gradients left by the last G step.
    # ---------------------------------------------------------------------------------------
    D.zero_grad()
    real_logits = D.forward(real)  # (N, 1, 28, 28) -> (N, 1)
    loss_real, d_real_logits = bce_with_logits(real_logits, np.ones_like(real_logits))
    D.backward_params(d_real_logits)
    z = backend.to_device(rng.standard_normal((n, z_dim), dtype=dtype), device)  # (N, z_dim)
    fake = G.forward(z)  # (N, 1, 28, 28)
    fake_logits = D.forward(fake)  # (N, 1)
    loss_fake, d_fake_logits = bce_with_logits(fake_logits, np.zeros_like(fake_logits))
    D.backward_params(d_fake_logits)
    opt_D.step()

    # ---------------------------------------------------------------------------------------
    # (2) G: maximise log D(G(z))  (loss "nonsaturating"; "minimax" minimises log(1 - D(G(z))))
    # Fresh noise through G and the updated D; D.backward turns the loss gradient on the logits
    # into one on the images, which G.backward takes. The D gradients made here are discarded.
    # ---------------------------------------------------------------------------------------
    G.zero_grad()
    z = backend.to_device(rng.standard_normal((n, z_dim), dtype=dtype), device)  # (N, z_dim)
    fake = G.forward(z)  # (N, 1, 28, 28)
    logits = D.forward(fake)  # (N, 1)
    loss_G, d_logits = generator_loss(logits, loss)
    d_fake = D.backward(d_logits)  # (N, 1, 28, 28)
    G.backward_params(d_fake)  # the noise is data: G's first layer skips its dz
    opt_G.step()

    return {  # float() also fetches the 0-d losses of the cupy backend from the GPU
        "loss_D": float(loss_real + loss_fake),
        "loss_G": float(loss_G),
        "D_x": float(sigmoid(real_logits).mean()),
        "D_G_z": float(sigmoid(fake_logits).mean()),
    }


class Trainer:
    """A training run that a notebook can drive: ``Trainer(config, out).fit()``.

    ``out`` is the run directory (``None``: keep everything in memory); a fresh run refuses a
    non-empty one (continue it with :meth:`resume`). ``images`` (uint8 (N, 28, 28)) replaces
    loading ``config.data``. With ``out``, :meth:`fit` writes the files of
    :class:`~minigan.progress.RunFiles`: the fixed-noise grid every ``sample_every`` iterations
    and after every epoch, and a checkpoint after every epoch, every ``checkpoint_every``
    iterations and at the end. ``pictures=False`` skips the PNG and GIF files.
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        out: str | os.PathLike[str] | None = None,
        *,
        images: np.ndarray | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        download: bool = True,
        checkpoint_every: int = 500,
        sample_every: int = 100,
        n_samples: int = 64,
        log_every: int = 50,
        quiet: bool = False,
        pictures: bool = True,
    ) -> None:
        self.config = config = config or TrainConfig()
        if out is not None and Path(out).is_dir() and any(Path(out).iterdir()):
            raise FileExistsError(
                f"{out} is not empty; continue its run with --resume {out} (Trainer.resume), "
                "or choose a new --out"
            )
        self.files = None if out is None else RunFiles(out, pictures)
        self.checkpoint_every, self.sample_every = checkpoint_every, sample_every
        self.log_every, self.quiet = log_every, quiet
        init, data, noise, fixed, _ = np.random.SeedSequence(config.seed).spawn(5)
        self.data_rng, self.noise_rng = np.random.default_rng(data), np.random.default_rng(noise)
        if images is None:
            images, labels = load_images(config, data_dir, download)
        else:
            labels = np.zeros(len(images), np.int64)
        self.loader = BatchIterator(images, labels, config.batch, rng=self.data_rng)
        dtype = np.dtype(config.dtype)
        self.G, self.D = build(config.model, config.z_dim, dtype, np.random.default_rng(init))
        self.device = "cupy" if backend.current() == "cupy" else "numpy"
        self.G.to(self.device)
        self.D.to(self.device)  # before the optimizers create their moments on the same device
        self.opt_G = Adam(self.G.parameters(), config.lr, config.betas)
        self.opt_D = Adam(self.D.parameters(), config.lr, config.betas)
        # (n_samples, z_dim): the same noise for every grid of the run
        self.fixed_noise = np.random.default_rng(fixed).standard_normal(
            (n_samples, config.z_dim), dtype=dtype
        )
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.saved_at = -1  # iteration of the last checkpoint
        self._bar = ProgressBar(0, enabled=False)

    @property
    def out(self) -> Path | None:
        """The run directory, or None."""
        return None if self.files is None else self.files.out

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike[str],
        changes: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Trainer:
        """Continue the run saved in ``run_dir`` (``options`` as for the constructor).

        ``changes`` may raise ``epochs``; any other field that differs from the checkpoint's
        ``config.json`` raises :class:`~minigan.checkpoint.CheckpointError` naming it.
        """
        ckpt = load_checkpoint(run_dir)
        saved = TrainConfig.from_dict(ckpt.config, str(ckpt.path / "config.json"))
        trainer = cls(saved.resumed_with(changes or {}, run_dir), None, **options)
        trainer.load_checkpoint(ckpt)
        trainer.files = RunFiles(ckpt.path.parent, options.get("pictures", True))
        trainer.history = truncate_metrics(trainer.files.metrics, keep_until=trainer.iteration)
        return trainer

    def load_checkpoint(self, path: str | os.PathLike[str] | Checkpoint) -> None:
        """Continue from a checkpoint of a run with the same configuration: models, optimizers,
        random states, data position and iteration (see :func:`~minigan.checkpoint.restore`)."""
        self.iteration = self.saved_at = restore(self, path)

    def save_checkpoint(self) -> Path:
        """Write ``out/checkpoint/`` atomically (see :func:`~minigan.checkpoint.snapshot`)."""
        if self.out is None:
            raise ValueError("this Trainer has no run directory (out=None) to save into")
        path = save_checkpoint(self.out, *snapshot(self))
        self.saved_at = self.iteration
        return path

    def step(self, real: np.ndarray) -> dict[str, Any]:
        """Run :func:`train_step` on ``real`` and record its metrics; returns the record."""
        start = time.perf_counter()
        c = self.config
        real = backend.to_device(real.astype(c.dtype, copy=False), self.device)
        metrics = train_step(
            self.G, self.D, self.opt_G, self.opt_D, real, self.noise_rng, c.z_dim, c.loss
        )
        self.iteration += 1
        epoch = (self.iteration - 1) // self.steps_per_epoch + 1
        record = {"iteration": self.iteration, "epoch": epoch, **metrics}
        record["seconds"] = round(time.perf_counter() - start, 4)
        self.history.append(record)
        if self.files is not None:
            self.files.log(record)
        return record

    def sample(self, n: int, seed: int = 0, batch_stats: bool = False) -> np.ndarray:
        """``n`` samples (n, 1, 28, 28) in [-1, 1] from noise seeded by ``seed``."""
        return sample(self.G, n, self.config.z_dim, seed, batch_stats=batch_stats)

    def fixed_samples(self) -> np.ndarray:
        """G (in eval mode) on the run's fixed noise: the images of every grid."""
        return generate(self.G, self.fixed_noise)

    def fit(self, max_iters: int | None = None) -> list[dict[str, Any]]:
        """Train until ``config.epochs`` epochs or iteration ``max_iters`` (counted from the
        start of the run); returns :attr:`history`, one record per iteration."""
        stop = self.config.epochs * self.steps_per_epoch
        stop = stop if max_iters is None else min(stop, max_iters)
        files = self.files
        if files is not None and self.iteration == 0:
            files.frame(self.fixed_samples, 0)
        self._bar = ProgressBar(
            stop, self.iteration, log_every=self.log_every, enabled=not self.quiet
        )
        try:
            while self.iteration < stop:
                for real, _ in self.loader:  # real: (N, 1, 28, 28) in [-1, 1]
                    record = self.step(real)
                    self._bar.update(self.iteration, record)
                    if files is not None:
                        self._after_step(files)
                    if self.iteration >= stop:
                        break
                if self.iteration % self.steps_per_epoch == 0:
                    self._end_epoch()
        finally:
            self._bar.close()
        if files is not None:
            if self.saved_at != self.iteration:
                self.save_checkpoint()
            if not self.sample_every or self.iteration % self.sample_every:
                files.frame(self.fixed_samples, self.iteration)
            files.plot(self.history)
            files.gif()
        return self.history

    def _after_step(self, files: RunFiles) -> None:
        if self.sample_every and self.iteration % self.sample_every == 0:
            files.frame(self.fixed_samples, self.iteration)
        epoch_end = self.iteration % self.steps_per_epoch == 0  # which saves anyway
        if self.checkpoint_every and self.iteration % self.checkpoint_every == 0 and not epoch_end:
            self.save_checkpoint()

    def _end_epoch(self) -> None:
        epoch = self.iteration // self.steps_per_epoch
        records = self.history[-self.steps_per_epoch :]
        mean = {k: np.mean([r[k] for r in records]) for k in ("loss_D", "loss_G", "D_x", "D_G_z")}
        self._bar.write(
            f"epoch {epoch}/{self.config.epochs}: mean loss_D {mean['loss_D']:.3f} "
            f"loss_G {mean['loss_G']:.3f} D(x) {mean['D_x']:.3f} D(G(z)) {mean['D_G_z']:.3f}"
        )
        if self.files is not None:
            self.files.epoch_grid(self.fixed_samples, epoch)
            self.files.plot(self.history)
            self.save_checkpoint()


# ---- the `minigan train` command -----------------------------------------------------------------
_BETA = number_type(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``minigan train``."""
    d = TrainConfig()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = """examples (see docs/training.md):
  minigan train --data fashion-mnist --model dcgan28 --epochs 1 --out runs/fmnist1
  minigan train --resume runs/fmnist1 --epochs 5      # continue, up to 5 epochs in all
  minigan train --dry-run --max-iters 20 --out /tmp/smoke"""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="NAME|DIR",
        help=f"{' or '.join(DATASET_NAMES)}, or a directory holding train-images-idx3-ubyte[.gz] "
        f"and train-labels-idx1-ubyte[.gz] (default: {d.data})",
    )
    data.add_argument("--data-dir", metavar="DIR", help="directory searched first for --data NAME")
    data.add_argument("--no-download", action="store_true", help="never download a dataset")
    data.add_argument("--dry-run", action="store_true", help="train on random pixels, no dataset")
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
    run.add_argument(
        "--backend", choices=sorted(backend.BACKENDS), help="default: $MINIGAN_BACKEND or numpy"
    )
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
        if args.backend:
            backend.use(args.backend)
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
