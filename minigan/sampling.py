"""Drawing samples from a trained generator (``minigan sample`` is
:mod:`minigan.commands.sample`).

By default the generator runs in **eval mode**: BatchNorm normalises with the running statistics
it gathered in training, so each sample depends only on its own noise vector, never on the rest
of its batch. ``batch_stats=True`` (``--batch-stats``) normalises with the statistics of the
batch instead, as in training; the generator's running statistics are left untouched.

>>> import numpy as np
>>> from minigan.models import build
>>> G, _ = build("mlp", z_dim=8, rng=np.random.default_rng(0))
>>> images = sample(G, 5, z_dim=8, rng=0)
>>> images.shape, images.dtype
((5, 1, 28, 28), dtype('float32'))
>>> z = np.random.default_rng(1).standard_normal((4, 8), dtype=np.float32)
>>> bool(np.allclose(generate(G, z)[2:3], generate(G, z[2:3]), atol=1e-6))  # eval mode
True
"""

from __future__ import annotations

import math
import os

import numpy as np

from minigan import backend, nn
from minigan.checkpoint import CheckpointError, load_checkpoint, load_module_state
from minigan.config import CUSTOM_MODEL, TrainConfig
from minigan.latent import truncated_normal
from minigan.models import build

__all__ = ["class_grid_labels", "classes_in_turn", "generate", "load_generator", "sample"]


def load_generator(path: str | os.PathLike[str]) -> tuple[nn.Module, TrainConfig]:
    """Build the generator a checkpoint describes and load its weights: ``(G, config)``.

    ``path`` is a run directory, a checkpoint directory or its ``G.safetensors`` (see
    :func:`minigan.checkpoint.find_checkpoint`). Raises
    :class:`~minigan.checkpoint.CheckpointError` when it is missing, corrupt, or its weights do
    not fit the architecture its ``config.json`` names, or when it trained networks built in
    Python (their architecture is not in the checkpoint: build G and load
    ``G.safetensors`` into it with :func:`minigan.checkpoint.load_module_state`).
    """
    ckpt = load_checkpoint(path, parts=("G",))
    config = TrainConfig.from_dict(ckpt.config, str(ckpt.path / "config.json"))
    if config.model == CUSTOM_MODEL:
        raise CheckpointError(
            f"{ckpt.path} holds networks built in Python (model {CUSTOM_MODEL!r}): build the "
            "same G and load G.safetensors into it (minigan.checkpoint.load_module_state)"
        )
    G, _ = build(
        config.model, config.z_dim, np.dtype(config.dtype), np.random.default_rng(0),
        image_shape=config.image_shape, num_classes=config.num_classes,
    )  # fmt: skip
    what = f"{ckpt.path / 'G.safetensors'} does not fit a {config.model} generator"
    load_module_state(G, ckpt.tensors["G"], what)
    G.eval()
    return G, config


def classes_in_turn(num_classes: int | None, n: int) -> np.ndarray | None:
    """The labels of ``n`` samples spread evenly over ``num_classes`` classes, ``0, 1, ..., K-1,
    0, 1, ...`` (None for an unconditional model): what a conditional run samples by default.

    >>> classes_in_turn(3, 5), classes_in_turn(None, 5)
    (array([0, 1, 2, 0, 1]), None)
    """
    return None if num_classes is None else np.arange(n) % num_classes


def class_grid_labels(num_classes: int | None, n: int) -> tuple[np.ndarray | None, int]:
    """``(labels, columns)`` of a grid of about ``n`` samples with one row per class: each class
    ``n // num_classes`` times (at least once) in a row of its own. Unconditional
    (``num_classes`` None): ``(None, ceil(sqrt(n)))``, a square grid.

    >>> class_grid_labels(3, 7)
    (array([0, 0, 1, 1, 2, 2]), 2)
    """
    if num_classes is None:
        return None, math.ceil(math.sqrt(n))
    columns = max(1, n // num_classes)
    return np.repeat(np.arange(num_classes), columns), columns


def generate(
    G: nn.Module,
    z: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    batch_stats: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Run ``G`` on noise ``z`` (N, z_dim) (and a conditional G on class ``labels`` (N,)):
    NumPy images (N, C, H, W) in [-1, 1], wherever ``G`` lives (``z`` is moved to its device).

    In eval mode (the default) ``z`` goes through in chunks of ``batch_size``, each image
    depending only on its own row of ``z``. With ``batch_stats`` the whole of ``z`` is one batch
    (at least 2 rows) and ``G``'s BatchNorm buffers are restored afterwards. ``G``'s train/eval
    mode is restored too.
    """
    was_training = G.training
    saved = {name: b.copy() for name, b in G.named_buffers()} if batch_stats else {}
    device = backend.device_of(G.parameters()[0].data)
    z = backend.to_device(z, device)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != z.shape[:1]:
            raise ValueError(f"generate: {len(z)} noise vectors but labels of shape {labels.shape}")
        labels = backend.to_device(labels.astype(np.int64), device)

    def run(i: int, j: int) -> np.ndarray:
        out = G.forward(z[i:j]) if labels is None else G.forward(z[i:j], labels[i:j])
        return backend.to_numpy(out)

    try:
        if batch_stats:
            G.train()
            return run(0, len(z))
        G.eval()
        return np.concatenate([run(i, i + batch_size) for i in range(0, len(z), batch_size)])
    finally:
        for name, buffer in G.named_buffers():
            if name in saved:
                buffer[...] = saved[name]
        G.train(was_training)


def sample(
    G: nn.Module,
    n: int,
    z_dim: int,
    rng: np.random.Generator | int | None = None,
    *,
    labels: np.ndarray | None = None,
    batch_stats: bool = False,
    truncation: float | None = None,
) -> np.ndarray:
    """Draw ``n`` noise vectors ``z ~ N(0, I)`` of ``z_dim`` in ``G``'s dtype from ``rng`` (a
    generator or a seed) and return ``generate(G, z, labels=labels)``: (n, C, H, W) in
    [-1, 1]. A conditional ``G`` needs ``labels`` (n,), the class of each sample.
    ``truncation`` ``psi``: the truncation trick, every entry of ``z`` redrawn until
    ``|z| <= psi`` (:func:`minigan.latent.truncated_normal`; the entries already inside are
    the untruncated draw's).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    dtype = G.dtype or np.float32
    if truncation is None:
        z = rng.standard_normal((n, z_dim), dtype=dtype)
    else:
        z = truncated_normal(rng, (n, z_dim), truncation, dtype)
    return generate(G, z, labels=labels, batch_stats=batch_stats)
