"""Checkpoints of a training run: safetensors and JSON only, written atomically as a directory.

A run directory ``RUN_DIR`` holds one checkpoint, ``RUN_DIR/checkpoint/``::

    G.safetensors, D.safetensors        the two networks' parameters and BatchNorm buffers
    opt_G.safetensors, opt_D.safetensors  each Adam's moments m.i, v.i and its step
    loader.safetensors                  the current epoch's data order (int64)
    state.json                          iteration, epoch, position in the epoch, loader
                                        position and the random generators' states
    config.json                         what was trained: a :class:`minigan.config.TrainConfig`

This module only reads and writes those files; what goes into them comes from
:meth:`minigan.train.Trainer.state_dict`. Nothing here unpickles anything, so a checkpoint from
a stranger cannot run code.

**Atomicity.** :func:`save_checkpoint` writes every file into a fresh ``checkpoint.tmp-XXXX``
inside ``RUN_DIR``, fsyncs it, renames the previous ``checkpoint`` to ``checkpoint.old``, renames
the new one to ``checkpoint`` and only then deletes ``checkpoint.old``. A directory named
``checkpoint`` is therefore always complete; a kill between the two renames leaves only
``checkpoint.old``, which :func:`find_checkpoint` then uses. Because each save replaces the
directory, ``checkpoint`` and ``checkpoint.old`` must be directories, not symbolic links: a save
refuses a link before writing anything. A save that fails (a full disk) removes its temporary
directory and raises an ``OSError`` that says the previous checkpoint is untouched.

**Loading checks everything** a crafted file could get wrong, and raises
:class:`CheckpointError` naming the file: malformed JSON or safetensors, a non-finite value in
any tensor (a run that diverged), sizes in ``config.json`` that the generator's own tensors
rule out (``z_dim`` and the image size cannot exceed the generator's parameter count: every
generator reads its noise and writes its pixels through weights), and with
:func:`check_state` an iteration, epoch or position that is not the run's own.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minigan.serialization import load_file, save_file

__all__ = [
    "CHECKPOINT_DIR",
    "PARTS",
    "Checkpoint",
    "CheckpointError",
    "check_state",
    "find_checkpoint",
    "get_rng_state",
    "load_checkpoint",
    "load_module_state",
    "read_config",
    "save_checkpoint",
    "set_rng_state",
]

CHECKPOINT_DIR = "checkpoint"
#: The safetensors files of a training checkpoint, without their ``.safetensors`` suffix.
PARTS: tuple[str, ...] = ("G", "D", "opt_G", "opt_D", "loader")
_OLD = CHECKPOINT_DIR + ".old"
_TMP_PREFIX = CHECKPOINT_DIR + ".tmp-"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not fit the model it is loaded into."""


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
    started = any(path.iterdir()) if path.is_dir() else False
    raise CheckpointError(
        f"{path}: no checkpoint here (expected {path / CHECKPOINT_DIR} or a directory holding "
        "config.json); a run writes one at the end of every epoch and every --checkpoint-every "
        "iterations"
        + (
            f"; a run that stopped before its first checkpoint cannot be resumed: start over "
            f"(rm -r {path}, then minigan train --out {path} ...)"
            if started
            else ""
        )
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
    for name in (CHECKPOINT_DIR, _OLD):
        if (run_dir / name).is_symlink():
            raise CheckpointError(
                f"{run_dir / name} is a symbolic link; each save replaces the checkpoint "
                "directory, which would break the link: replace the link by the directory it "
                f"points to ({os.path.realpath(run_dir / name)})"
            )
    for stale in run_dir.glob(_TMP_PREFIX + "*"):  # left by a save that was killed
        shutil.rmtree(stale, ignore_errors=True)
    tmp = run_dir / (_TMP_PREFIX + secrets.token_hex(4))
    final, old = run_dir / CHECKPOINT_DIR, run_dir / _OLD
    tmp.mkdir()
    try:
        for part, arrays in tensors.items():
            save_file(arrays, tmp / f"{part}.safetensors")
        _write_json(tmp / "state.json", state)
        _write_json(tmp / "config.json", config)
        _fsync_dir(tmp)
        if final.exists():
            if old.exists():  # a complete `checkpoint` exists, so the older copy is not needed
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(run_dir)
    except OSError as exc:  # a full disk, a vanished directory: say what was kept
        shutil.rmtree(tmp, ignore_errors=True)
        kept = "the previous checkpoint is untouched" if final.exists() or old.exists() else ""
        raise OSError(
            exc.errno,
            f"could not write a checkpoint into {run_dir} ({exc.strerror or exc})"
            + (f"; {kept}" if kept else ""),
        ) from exc
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
        for name, array in tensors[part].items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise CheckpointError(
                    f"{file}: tensor {name!r} holds non-finite values (NaN or inf): the run "
                    "had diverged when this was saved; use an earlier checkpoint"
                )
    if "G" in tensors:
        _check_sizes(directory / "config.json", config, tensors["G"])
    return Checkpoint(directory, config, state, tensors)


def _check_sizes(path: Path, config: Mapping[str, Any], G: Mapping[str, np.ndarray]) -> None:
    """Refuse sizes in ``config.json`` that ``G``'s tensors rule out, before any model of those
    sizes is built: noise entries, classes and pixels each need a weight of their own."""
    n = sum(int(a.size) for a in G.values())
    shape = config.get("image_shape")
    sizes = {"z_dim": config.get("z_dim"), "num_classes": config.get("num_classes")}
    if isinstance(shape, list) and all(isinstance(s, int) for s in shape):
        sizes["the image size C*H*W"] = int(np.prod(shape, dtype=object))
    for name, value in sizes.items():
        if isinstance(value, int) and value > n:
            raise CheckpointError(
                f"{path}: {name} {value} cannot belong to a generator of {n} parameters "
                "(G.safetensors): crafted or mismatched files"
            )


def check_state(state: Mapping[str, Any], steps_per_epoch: int, epochs: int) -> int:
    """The iteration of a ``state.json``, checked against the run it is loaded into: an integer
    in ``[0, epochs * steps_per_epoch]`` whose ``epoch`` and ``position`` agree with it, and a
    loader position that is a non-negative integer. A :class:`CheckpointError` otherwise."""

    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    iteration = state.get("iteration")
    loader = state.get("loader")
    if not count(iteration) or iteration > epochs * steps_per_epoch:
        raise CheckpointError(
            f"state.json: iteration {iteration!r} is not an iteration of this run "
            f"(0 to {epochs * steps_per_epoch}: {epochs} epochs of {steps_per_epoch})"
        )
    epoch, position = divmod(iteration, steps_per_epoch)
    if (state.get("epoch"), state.get("position")) != (epoch, position):
        raise CheckpointError(
            f"state.json: epoch {state.get('epoch')!r} and position {state.get('position')!r} "
            f"do not agree with iteration {iteration} at {steps_per_epoch} iterations per epoch"
        )
    if not isinstance(loader, Mapping) or not all(
        count(loader.get(k)) for k in ("epoch", "position")
    ):
        raise CheckpointError(
            f"state.json: loader {loader!r} needs a non-negative epoch and position"
        )
    return iteration


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of the checkpoint that ``path`` names, without reading any tensor."""
    return _read_json(find_checkpoint(path) / "config.json")


def load_module_state(target: Any, tensors: Mapping[str, np.ndarray], what: str) -> None:
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
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
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
