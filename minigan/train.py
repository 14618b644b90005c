"""Training a GAN: :class:`Trainer` runs :func:`minigan.step.train_step` over epochs, with logs,
pictures, checkpoints and exact resume. ``minigan train`` (:mod:`minigan.commands.train`) is
built on it.

Everything random comes from one seed: ``np.random.SeedSequence(seed).spawn(5)`` gives the
generators of weight initialisation, data shuffling, training noise, the fixed noise of the
sample grids, and the fake data of a dry run.

>>> import numpy as np
>>> images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
>>> config = TrainConfig(data="random", model="mlp", batch=8, seed=0)
>>> history = Trainer(config, images=images, quiet=True).fit()  # out=None: all in memory
>>> len(history), sorted(history[-1])
(2, ['D_G_z', 'D_x', 'epoch', 'iteration', 'loss_D', 'loss_G', 'seconds'])
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from minigan import backend
from minigan.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_state,
    get_rng_state,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
    set_rng_state,
)
from minigan.config import CUSTOM_MODEL, FAKE_DATA, TrainConfig
from minigan.data import BatchIterator
from minigan.data.loader import as_nchw
from minigan.guards import Watchdog
from minigan.models import build
from minigan.nn import Module
from minigan.optim import make_optimizer
from minigan.progress import ProgressBar, RunFiles, epoch_means, resume_history
from minigan.rundir import check_fresh, resume_target
from minigan.sampling import class_grid_labels, classes_in_turn, generate, sample
from minigan.step import as_floats, train_step
from minigan.training_data import (
    EVAL_SAMPLES,
    EVAL_SEED,
    default_evaluator,
    evaluation_values,
    fit_data,
    load_images,
)
from minigan.vae import reconstruction_grid, reconstruction_images

__all__ = ["FAKE_DATA", "TrainConfig", "Trainer", "load_images"]


class Trainer:
    """A training run that a notebook can drive: ``Trainer(config, out).fit()``.

    ``out`` is the run directory (``None``: keep everything in memory); a fresh run refuses a
    non-empty one (continue it with :meth:`resume`). ``images`` (uint8 ``(N, H, W)``,
    ``(N, H, W, C)`` or ``(N, C, H, W)``, any size and channel count) and ``labels`` (N,)
    replace loading ``config.data``. ``G`` and ``D`` replace building ``config.model``: any
    :class:`~minigan.nn.Module` pair with a hand-written backward (the config's model is then
    recorded as ``"custom"``, and :meth:`resume` needs the same pair again). G maps
    ``(N, z_dim)`` noise to images of the data's shape in [-1, 1]; D maps images to ``(N, 1)``.
    A conditional run (``config.num_classes``) calls them as ``G(z, y)`` and ``D(x, y)``.

    ``eval_every`` > 0 scores ``eval_n`` samples of G (eval mode, the same noise every time)
    with :mod:`minigan.metrics` every ``eval_every`` iterations and at every epoch's end, into
    that iteration's record (``fid``, ``coverage``, ...): the ``evaluator`` given (any
    ``evaluator(images) -> dict``, e.g. a :class:`minigan.metrics.Evaluator` on other
    reference images), or one on the Fashion-MNIST test set.

    With ``out``, :meth:`fit` writes the files of :class:`~minigan.progress.RunFiles`: the
    fixed-noise grid (one row per class for a conditional run) every ``sample_every``
    iterations and after every epoch (and for a VAE, ``config.model="vae28"``, the
    reconstructions of 32 training images), and a checkpoint after every epoch, every
    ``checkpoint_every`` iterations and at the end. ``pictures=False`` skips the PNG and GIF
    files. An iteration is ``config.n_critic`` D steps (one real batch each) and one G step;
    an epoch is one pass over the data, ``len(loader) // n_critic`` iterations.
    """

    def __init__(
        self,
        config: TrainConfig | None = None,
        out: str | os.PathLike[str] | None = None,
        *,
        images: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        G: Module | None = None,
        D: Module | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        download: bool = True,
        checkpoint_every: int = 500,
        sample_every: int = 100,
        n_samples: int = 64,
        log_every: int = 50,
        quiet: bool = False,
        pictures: bool = True,
        eval_every: int = 0,
        eval_n: int = EVAL_SAMPLES,
        evaluator: Any = None,
    ) -> None:
        config = config or TrainConfig()
        check_fresh(out)  # a non-empty out: a FileExistsError saying what to do instead
        if (G is None) != (D is None):
            raise ValueError("Trainer: give both G and D, or neither (then config.model is built)")
        if G is not None:
            config = replace(config, model=CUSTOM_MODEL)
        elif config.model == CUSTOM_MODEL:
            raise ValueError(f"Trainer: a {CUSTOM_MODEL!r} model needs its G and D passed in")
        init, data, noise, fixed, _ = np.random.SeedSequence(config.seed).spawn(5)
        self.data_rng, self.noise_rng = np.random.default_rng(data), np.random.default_rng(noise)
        if images is None:
            images, labels = load_images(config, data_dir, download)
        images = as_nchw(images)
        labels = np.zeros(len(images), np.int64) if labels is None else np.asarray(labels)
        self.config = config = fit_data(config, images, labels)
        self.files = None if out is None else RunFiles(out, pictures)
        self.checkpoint_every, self.sample_every = checkpoint_every, sample_every
        self.log_every, self.quiet = log_every, quiet
        self.loader = BatchIterator(images, labels, config.batch, rng=self.data_rng)
        if len(self.loader) < config.n_critic:
            raise ValueError(
                f"{len(images)} images make {len(self.loader)} batches of {config.batch}, fewer "
                f"than the {config.n_critic} D steps of one iteration (n_critic)"
            )
        dtype = np.dtype(config.dtype)
        if G is None:
            G, D = build(
                config.model, config.z_dim, dtype, np.random.default_rng(init),
                image_shape=config.image_shape, num_classes=config.num_classes,
            )  # fmt: skip
        self.G, self.D = G, D
        self.objective = config.objective()
        self.objective.check_critic(self.D)
        self.penalty = self.objective.make_penalty(self.noise_rng)
        self.device = "cupy" if backend.current() == "cupy" else "numpy"
        self.G.to(self.device)
        self.D.to(self.device)  # before the optimizers create their moments on the same device
        self.opt_G = make_optimizer(
            config.optimizer, self.G.parameters(), config.lr_g, config.betas
        )
        self.opt_D = make_optimizer(
            config.optimizer, self.D.parameters(), config.lr_d, config.betas
        )
        self.watch = Watchdog(self.G, self.D, self.opt_G, self.opt_D, self.objective, config.batch)
        # the same noise (and labels: one row per class) for every grid of the run
        self.fixed_labels, self.grid_columns = class_grid_labels(config.num_classes, n_samples)
        n_fixed = n_samples if self.fixed_labels is None else len(self.fixed_labels)
        self.fixed_noise = np.random.default_rng(fixed).standard_normal(
            (n_fixed, config.z_dim), dtype=dtype
        )
        if self.files is not None:
            self.files.nrow = self.grid_columns
        # a VAE's reconstructions: the same training images after every epoch
        vae = self.objective.name == "elbo"
        self.recon_images = reconstruction_images(images, config.seed) if vae else None
        self.eval_every, self.eval_n = eval_every, eval_n
        self.evaluator = evaluator
        if eval_every and evaluator is None:
            self.evaluator = default_evaluator(config, data_dir, download)
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
        """Iterations per epoch: the loader's batches in groups of ``n_critic``."""
        return len(self.loader) // self.config.n_critic

    @classmethod
    def resume(
        cls,
        run_dir: str | os.PathLike[str],
        changes: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Trainer:
        """Continue ``run_dir``'s run, in place or in ``out`` (``options`` as for the constructor).

        ``changes`` may raise ``epochs``; any other field that differs from the checkpoint's
        ``config.json`` raises :class:`~minigan.checkpoint.CheckpointError` naming it. A run of
        custom networks needs the same ``G`` and ``D`` (and ``images``) passed again.
        """
        ckpt = load_checkpoint(run_dir)
        target = resume_target(run_dir, options.pop("out", None))  # never another run's files
        saved = TrainConfig.from_dict(ckpt.config, str(ckpt.path / "config.json"))
        if saved.model == CUSTOM_MODEL and options.get("G") is None:
            raise CheckpointError(
                f"{run_dir} trained networks built in Python (model {CUSTOM_MODEL!r}): pass the "
                "same G and D to Trainer.resume(run_dir, G=G, D=D, images=...)"
            )
        trainer = cls(saved.resumed_with(changes or {}, run_dir), None, **options)
        trainer.load_checkpoint(ckpt)
        trainer.files = RunFiles(target, options.get("pictures", True)).locked()
        trainer.history = resume_history(trainer.files, ckpt.path, trainer.iteration)
        return trainer

    def state_dict(self) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
        """Everything needed to continue this run exactly: ``(tensors, state)``.

        ``tensors`` maps a part (``G``, ``D``, ``opt_G``, ``opt_D``, ``loader``: the current
        epoch's data order) to its arrays; ``state`` (JSON) holds the iteration, the position
        in the data and the random generators' states. With :attr:`config` they are what
        :func:`~minigan.checkpoint.save_checkpoint` writes.
        """
        loader = self.loader.state_dict()
        tensors = {"G": self.G.state_dict(), "D": self.D.state_dict()}
        tensors |= {"opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict()}
        tensors["loader"] = {"order": loader["order"]}
        steps = self.steps_per_epoch
        state = {
            "iteration": self.iteration,
            "epoch": self.iteration // steps,  # epochs completed
            "position": self.iteration % steps,  # iterations into the next one
            "loader": {"epoch": loader["epoch"], "position": loader["position"]},
            "rng": {"data": get_rng_state(self.data_rng), "noise": get_rng_state(self.noise_rng)},
        }
        return tensors, state

    def load_state_dict(
        self, tensors: Mapping[str, Mapping[str, np.ndarray]], state: Mapping[str, Any]
    ) -> None:
        """Continue from :meth:`state_dict`'s ``(tensors, state)`` of a run with the same
        configuration; a :class:`~minigan.checkpoint.CheckpointError` when a part does not fit.
        """
        targets = {"G": self.G, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D}
        for part, target in targets.items():
            what = f"{part}.safetensors does not fit {self.config.model}"
            load_module_state(target, tensors[part], what)
        try:
            set_rng_state(self.data_rng, state["rng"]["data"])
            set_rng_state(self.noise_rng, state["rng"]["noise"])
            self.loader.load_state_dict({**state["loader"], **tensors["loader"]})
            steps, epochs = self.steps_per_epoch, self.config.epochs
            self.iteration = self.saved_at = check_state(state, steps, epochs)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"state.json or loader.safetensors does not fit ({exc})"
            ) from None

    def load_checkpoint(self, path: str | os.PathLike[str] | Checkpoint) -> None:
        """Continue from a checkpoint of a run with the same configuration: models, optimizers,
        random states, data position and iteration; a
        :class:`~minigan.checkpoint.CheckpointError` naming each mismatch, architecture first."""
        ckpt = path if isinstance(path, Checkpoint) else load_checkpoint(path)
        saved = TrainConfig.from_dict(ckpt.config, str(ckpt.path / "config.json"))
        mismatch = saved.conflicts(self.config)
        if mismatch:
            raise CheckpointError(
                f"{ckpt.path} does not fit this trainer: {'; '.join(mismatch)} "
                "(checkpoint vs trainer)"
            )
        try:
            self.load_state_dict(ckpt.tensors, ckpt.state)
        except CheckpointError as exc:
            raise CheckpointError(f"{ckpt.path}: {exc}") from None

    def save_checkpoint(self) -> Path:
        """Write ``out/checkpoint/`` atomically (see :func:`~minigan.checkpoint.save_checkpoint`)."""
        if self.out is None:
            raise ValueError("this Trainer has no run directory (out=None) to save into")
        self.watch.flush()  # never a checkpoint of a diverged run
        path = save_checkpoint(self.out, *self.state_dict(), self.config.to_dict())
        self.saved_at = self.iteration
        return path

    def step(self, real: np.ndarray | Sequence[np.ndarray], labels: Any = None) -> dict[str, Any]:
        """Run :func:`~minigan.step.train_step` on ``real`` (a batch, or ``n_critic`` of them)
        and, for a conditional run, their ``labels``; record its metrics and return the record."""
        start = time.perf_counter()
        batches = [real] if hasattr(real, "shape") else list(real)
        batches = [self._to_device(x.astype(self.config.dtype, copy=False)) for x in batches]
        if self.config.num_classes is None:
            labels = None
        else:
            labels = [labels] if hasattr(labels, "shape") else list(labels)
            labels = [self._to_device(y) for y in labels]
        metrics = train_step(
            self.G, self.D, self.opt_G, self.opt_D, batches, self.noise, self.objective,
            labels=labels, penalty=self.penalty,
        )  # fmt: skip
        self.iteration += 1
        epoch = (self.iteration - 1) // self.steps_per_epoch + 1
        record = {"iteration": self.iteration, "epoch": epoch, **as_floats(metrics)}
        record["seconds"] = round(time.perf_counter() - start, 4)
        self.watch.after_step(self.iteration, record)  # DivergenceError before it is logged
        if (
            self.evaluator is not None
            and self.eval_every
            and (
                self.iteration % self.eval_every == 0 or self.iteration % self.steps_per_epoch == 0
            )
        ):
            record |= self.evaluate()
        self.history.append(record)
        if self.files is not None:
            self.files.log(record)
        return record

    def _to_device(self, a: np.ndarray) -> Any:
        return backend.to_device(a, self.device)

    def noise(self, n: int) -> Any:
        """``n`` noise vectors (n, z_dim) from the run's noise generator, on the models' device."""
        z = self.noise_rng.standard_normal((n, self.config.z_dim), dtype=self.config.dtype)
        return self._to_device(z)

    def sample(
        self, n: int, seed: int = 0, batch_stats: bool = False, labels: np.ndarray | None = None
    ) -> np.ndarray:
        """``n`` samples (n, C, H, W) in [-1, 1] from noise seeded by ``seed`` (and for a
        conditional run, of the classes ``labels`` (n,), by default spread evenly)."""
        if labels is None:
            labels = classes_in_turn(self.config.num_classes, n)
        return sample(self.G, n, self.config.z_dim, seed, batch_stats=batch_stats, labels=labels)

    def evaluate(self) -> dict[str, float]:
        """The metrics of :attr:`evaluator` on ``eval_n`` samples of G drawn with
        :data:`EVAL_SEED` (the same noise at every evaluation, none of the run's random
        streams), as the flat floats a record holds; a line on the progress bar."""
        report = self.evaluator(self.sample(self.eval_n, seed=EVAL_SEED))
        return evaluation_values(report, self.iteration, self._bar.write)

    def fixed_samples(self) -> np.ndarray:
        """G (in eval mode) on the run's fixed noise: the images of every grid."""
        return generate(self.G, self.fixed_noise, labels=self.fixed_labels)

    def fit(self, max_iters: int | None = None) -> list[dict[str, Any]]:
        """Train until ``config.epochs`` epochs or iteration ``max_iters`` (counted from the
        start of the run); returns :attr:`history`, one record per iteration."""
        stop = self.config.epochs * self.steps_per_epoch
        stop = stop if max_iters is None else min(stop, max_iters)
        files = None if self.files is None else self.files.locked()
        if files is not None and self.iteration == 0:
            files.frame(self.fixed_samples, 0)
        self._bar = ProgressBar(
            stop, self.iteration, log_every=self.log_every, enabled=not self.quiet
        )
        n_critic = self.config.n_critic
        try:
            while self.iteration < stop:
                group: list[tuple[np.ndarray, np.ndarray]] = []
                for batch in self.loader:  # (x (N, C, H, W) in [-1, 1], y (N,))
                    group.append(batch)
                    if len(group) < n_critic:
                        continue
                    record = self.step(*(list(part) for part in zip(*group)))
                    group = []
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
        means = epoch_means(self.history[-self.steps_per_epoch :])
        self._bar.write(f"epoch {epoch}/{self.config.epochs}: mean {means}")
        if self.files is not None:
            self.files.epoch_grid(self.fixed_samples, epoch)
            if self.recon_images is not None:  # a VAE's images and their reconstructions
                grid = partial(reconstruction_grid, self.G, self.D, self.recon_images)
                self.files.reconstructions(grid, epoch)
            self.files.plot(self.history)
            self.save_checkpoint()
