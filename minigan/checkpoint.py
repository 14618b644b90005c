"""Checkpoints of a training run: safetensors and JSON only, written atomically as a directory.

A run directory ``RUN_DIR`` holds one checkpoint, ``RUN_DIR/checkpoint/``::

    G.safetensors, D.safetensors        the two networks' parameters and BatchNorm buffers
    opt_G.safetensors, opt_D.safetensors  each Adam's moments m.i, v.i and its step
    loader.safetensors                  the current epoch's data order (int64)
    state.json                          iteration, epoch, position in the epoch, loader
                                        position and the random generators' states
    config.json                         what was trained: a :class:`TrainConfig`

Nothing here unpickles anything, so a checkpoint from a stranger cannot run code.

**Atomicity.** :func:`save_checkpoint` writes every file into a fresh ``checkpoint.tmp-XXXX``
inside ``RUN_DIR``, fsyncs it, renames the previous ``checkpoint`` to ``checkpoint.old``, renames
the new one to ``checkpoint`` and only then deletes ``checkpoint.old``. A directory named
``checkpoint`` is therefore always complete; a kill between the two renames leaves only
``checkpoint.old``, which :func:`find_checkpoint` then uses.

>>> import tempfile, numpy as np
>>> with tempfile.TemporaryDirectory() as run_dir:
...     _ = save_checkpoint(run_dir, {"G": {"w": np.ones(2, np.float32)}}, {"iteration": 3}, {})
...     ckpt = load_checkpoint(run_dir, parts=("G",))
>>> ckpt.state, ckpt.tensors["G"]["w"]
({'iteration': 3}, array([1., 1.], dtype=float32))
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minigan.losses import GENERATOR_LOSSES
from minigan.models import MODELS
from minigan.nn.module import Module
from minigan.optim import Optimizer
from minigan.serialization import load_file, save_file

if TYPE_CHECKING:
    from minigan.train import Trainer

__all__ = [
    "CHECKPOINT_DIR",
    "PARTS",
    "RESUMABLE",
    "Checkpoint",
    "CheckpointError",
    "TrainConfig",
    "find_checkpoint",
    "get_rng_state",
    "load_checkpoint",
    "load_module_state",
    "read_config",
    "restore",
    "save_checkpoint",
    "set_rng_state",
    "snapshot",
]

CHECKPOINT_DIR = "checkpoint"
#: The safetensors files of a training checkpoint, without their ``.safetensors`` suffix.
PARTS: tuple[str, ...] = ("G", "D", "opt_G", "opt_D", "loader")
_OLD = CHECKPOINT_DIR + ".old"
_TMP_PREFIX = CHECKPOINT_DIR + ".tmp-"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not fit the model it is loaded into."""


#: Fields that a resumed run may change (all others must match the checkpoint's config.json).
RESUMABLE = frozenset({"epochs"})
_ARCHITECTURE = ("model", "z_dim", "dtype")


@dataclass(frozen=True)
class TrainConfig:
    """What a run trains, saved as ``config.json``; a resumed run must match all but ``epochs``.

    ``data`` is ``"fashion-mnist"``, ``"mnist"``, a directory of IDX files,
    :data:`minigan.train.FAKE_DATA`, or a label for images given to
    :class:`minigan.train.Trainer` directly. Invalid values raise ``ValueError`` listing each.
    """

    data: str = "fashion-mnist"
    model: str = "dcgan28"
    z_dim: int = 100
    epochs: int = 1
    batch: int = 64
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    loss: str = "nonsaturating"
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))

        def count(value: object, low: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= low

        checks = [
            (self.model in MODELS, f"model must be one of {MODELS}, got {self.model!r}"),
            (self.loss in GENERATOR_LOSSES, f"loss must be one of {GENERATOR_LOSSES}, got {self.loss!r}"),
            (self.dtype in ("float32", "float64"), f"dtype must be float32 or float64, got {self.dtype!r}"),
            (isinstance(self.lr, int | float) and 0 < self.lr < float("inf"), f"lr must be positive, got {self.lr!r}"),
            (len(self.betas) == 2 and all(isinstance(b, int | float) and 0 <= b < 1 for b in self.betas),
             f"betas must be two numbers in [0, 1), got {self.betas!r}"),
            (count(self.seed, 0), f"seed must be a non-negative integer, got {self.seed!r}"),
        ] + [
            (count(getattr(self, name), 1), f"{name} must be a positive integer, got {getattr(self, name)!r}")
            for name in ("z_dim", "epochs", "batch")
        ]  # fmt: skip
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("TrainConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``config.json``."""
        return {**asdict(self), "betas": list(self.betas)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """Rebuild a config from :meth:`to_dict`; a clear ``CheckpointError`` if it is not one."""
        names = {f.name for f in fields(cls)}
        if set(values) != names:
            raise CheckpointError(
                f"{source}: expected the keys {sorted(names)}, found {sorted(values)}"
            )
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: {exc}") from None

    def resumed_with(self, changes: Mapping[str, Any], run_dir: object) -> TrainConfig:
        """This (saved) config with ``changes`` that a resumed run may make (``epochs``); any
        other change is refused with a :class:`CheckpointError` naming it."""
        conflicts = [
            f"{name} {value!r} (the checkpoint has {getattr(self, name)!r})"
            for name, value in changes.items()
            if name not in RESUMABLE and value != getattr(self, name)
        ]
        if conflicts:
            raise CheckpointError(
                f"cannot resume {run_dir} with {'; '.join(conflicts)}: a resumed run keeps its "
                "configuration (only epochs may change); start a new run with another --out"
            )
        return replace(self, **{k: v for k, v in changes.items() if k in RESUMABLE})

    def conflicts(self, other: TrainConfig) -> list[str]:
        """How ``other`` differs from this config, architecture first, ignoring ``epochs``."""
        names = [*_ARCHITECTURE, *(f.name for f in fields(self))]
        return [
            f"{name} {getattr(self, name)!r} vs {getattr(other, name)!r}"
            for name in dict.fromkeys(names)
            if name not in RESUMABLE and getattr(self, name) != getattr(other, name)
        ]


@dataclass
class Checkpoint:
    """A loaded checkpoint: its directory, ``config.json``, ``state.json`` and tensors by part."""

    path: Path
    config: dict[str, Any]
    state: dict[str, Any]
    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """Return the checkpoint directory that ``path`` names.

    ``path`` may be a run directory (holding ``checkpoint/``, or only ``checkpoint.old/`` after a
    kill mid-save), a checkpoint directory (holding ``config.json``), or a file inside one such
    as ``G.safetensors``. Raises :class:`CheckpointError` naming ``path`` otherwise.
    """
    path = Path(path)
    if path.is_file():
        path = path.parent
    if (path / "config.json").is_file():
        return path
    for name in (CHECKPOINT_DIR, _OLD):
        if (path / name).is_dir():
            return path / name
    if not path.exists():
        raise CheckpointError(f"{path}: no such run directory or checkpoint")
    raise CheckpointError(
        f"{path}: no checkpoint here (expected {path / CHECKPOINT_DIR} or a directory holding "
        "config.json); a run writes one at the end of every epoch and every --checkpoint-every "
        "iterations"
    )


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    tensors: Mapping[str, Mapping[str, np.ndarray]],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
) -> Path:
    """Write ``RUN_DIR/checkpoint/`` atomically and return its path.

    ``tensors`` maps a part name (``"G"``, ``"opt_D"``, ...) to the arrays of
    ``<part>.safetensors``; ``state`` and ``config`` become ``state.json`` and ``config.json``
    (JSON-serialisable: Python ints of any size, floats, strings, lists, dicts). On any error the
    temporary directory is removed and the previous checkpoint is left as it was.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in run_dir.glob(_TMP_PREFIX + "*"):  # left by a save that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = run_dir / (_TMP_PREFIX + secrets.token_hex(4))
    tmp.mkdir()
    try:
        for part, arrays in tensors.items():
            save_file(arrays, tmp / f"{part}.safetensors")
        _write_json(tmp / "state.json", state)
        _write_json(tmp / "config.json", config)
        _fsync_dir(tmp)
        final, old = run_dir / CHECKPOINT_DIR, run_dir / _OLD
        if final.exists():
            if old.exists():  # a complete `checkpoint` exists, so the older copy is not needed
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(run_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | os.PathLike[str], parts: Iterable[str] = PARTS) -> Checkpoint:
    """Read the checkpoint that ``path`` names (see :func:`find_checkpoint`).

    Reads ``config.json``, ``state.json`` and the ``<part>.safetensors`` of each of ``parts``.
    Raises :class:`CheckpointError` naming the file for a missing, truncated or malformed file.
    """
    directory = find_checkpoint(path)
    config = _read_json(directory / "config.json")
    state = _read_json(directory / "state.json")
    tensors = {}
    for part in parts:
        file = directory / f"{part}.safetensors"
        if not file.is_file():
            raise CheckpointError(f"{file}: missing from the checkpoint")
        try:
            tensors[part] = load_file(file)
        except ValueError as exc:  # SafetensorsError names the file and the fault
            raise CheckpointError(f"corrupt checkpoint file: {exc}") from None
    return Checkpoint(directory, config, state, tensors)


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of the checkpoint that ``path`` names, without reading any tensor."""
    return _read_json(find_checkpoint(path) / "config.json")


def load_module_state(
    target: Module | Optimizer, tensors: Mapping[str, np.ndarray], what: str
) -> None:
    """``target.load_state_dict(tensors)`` for a module or an optimizer, turning a key or shape
    mismatch into a :class:`CheckpointError` that starts with ``what`` (e.g.
    ``"G.safetensors does not fit a dcgan28 generator"``).
    """
    try:
        target.load_state_dict(dict(tensors))
    except (KeyError, ValueError) as exc:
        detail = exc.args[0] if exc.args else str(exc)
        raise CheckpointError(f"{what}: {detail}") from None


def get_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's ``bit_generator.state``: a dict of str and int, JSON-serialisable."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Restore a state from :func:`get_rng_state`; a clear error if the bit generators differ."""
    name = type(rng.bit_generator).__name__
    if not isinstance(state, Mapping) or state.get("bit_generator") != name:
        raise CheckpointError(f"random state {state!r} is not a {name} state")
    try:
        rng.bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"invalid {name} state in checkpoint: {exc}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Make renames and new entries in ``path`` durable (a no-op where directories can't be
    opened, e.g. on Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot(
    trainer: Trainer,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any], dict[str, Any]]:
    """``(tensors, state, config)`` of a :class:`~minigan.train.Trainer`, for
    :func:`save_checkpoint`: its networks, optimizers, data order (``loader``), and in
    ``state.json`` the iteration, the position in the data and the random generators' states."""
    loader = trainer.loader.state_dict()
    tensors = {"G": trainer.G.state_dict(), "D": trainer.D.state_dict()}
    tensors |= {"opt_G": trainer.opt_G.state_dict(), "opt_D": trainer.opt_D.state_dict()}
    tensors["loader"] = {"order": loader["order"]}
    steps = len(trainer.loader)
    state = {
        "iteration": trainer.iteration,
        "epoch": trainer.iteration // steps,  # epochs completed
        "position": trainer.iteration % steps,  # iterations into the next one
        "loader": {"epoch": loader["epoch"], "position": loader["position"]},
        "rng": {"data": get_rng_state(trainer.data_rng), "noise": get_rng_state(trainer.noise_rng)},
    }
    return tensors, state, trainer.config.to_dict()


def restore(trainer: Trainer, path: str | os.PathLike[str] | Checkpoint) -> int:
    """Load a checkpoint into a :class:`~minigan.train.Trainer` built with the same
    configuration (else a :class:`CheckpointError` naming each mismatch, architecture first);
    returns the checkpoint's iteration."""
    ckpt = path if isinstance(path, Checkpoint) else load_checkpoint(path)
    saved = TrainConfig.from_dict(ckpt.config, str(ckpt.path / "config.json"))
    mismatch = saved.conflicts(trainer.config)
    if mismatch:
        raise CheckpointError(
            f"{ckpt.path} does not fit this trainer: {'; '.join(mismatch)} (checkpoint vs trainer)"
        )
    targets = {"G": trainer.G, "D": trainer.D, "opt_G": trainer.opt_G, "opt_D": trainer.opt_D}
    for part, target in targets.items():
        what = f"{ckpt.path / part}.safetensors does not fit {trainer.config.model}"
        load_module_state(target, ckpt.tensors[part], what)
    try:
        set_rng_state(trainer.data_rng, ckpt.state["rng"]["data"])
        set_rng_state(trainer.noise_rng, ckpt.state["rng"]["noise"])
        trainer.loader.load_state_dict({**ckpt.state["loader"], **ckpt.tensors["loader"]})
        return int(ckpt.state["iteration"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{ckpt.path}: state.json or loader.safetensors does not fit ({exc})"
        ) from None
