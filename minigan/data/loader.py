"""Mini-batches of images scaled to [-1, 1], with seeded shuffling and mid-epoch resume.

:class:`BatchIterator` yields ``(x, y)``: ``x`` float32 ``(B, C, H, W)`` in [-1, 1] (the
range of a ``tanh`` generator) and ``y`` int64 ``(B,)``. Each ``for`` loop over it runs the
rest of the current epoch, or a fresh epoch shuffled by its generator.
:func:`to_unit_range` and :func:`to_uint8` convert between ``uint8`` pixels and [-1, 1].

>>> import numpy as np
>>> from minigan.data.loader import BatchIterator, to_uint8
>>> images = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
>>> loader = BatchIterator(images, np.arange(4), batch_size=2, rng=np.random.default_rng(0))
>>> len(loader)
2
>>> x, y = next(iter(loader))
>>> x.shape, x.dtype, y.dtype
((2, 1, 28, 28), dtype('float32'), dtype('int64'))
>>> bool(x.min() >= -1.0 and x.max() <= 1.0)
True
>>> bool((to_uint8(x) == images[y][:, None]).all())
True
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from minigan.random import get_rng

__all__ = ["BatchIterator", "as_nchw", "to_uint8", "to_unit_range"]


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """Map ``uint8`` pixels to float32 in [-1, 1] as ``x / 127.5 - 1``, in float32 throughout.

    Parameters
    ----------
    images
        ``uint8`` array of any shape.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape; 0 maps to -1 and 255 to 1.
    """
    if images.dtype != np.uint8:
        raise TypeError(f"to_unit_range expects uint8 images, got {images.dtype}")
    x = images.astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return x


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] back to ``uint8`` pixels: ``(x + 1) * 127.5``, rounded and clipped.

    Parameters
    ----------
    x
        Float array of any shape (e.g. generator output ``(B, 1, 28, 28)``); values
        outside [-1, 1] are clipped. It must hold no NaN.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of the same shape; the inverse of :func:`to_unit_range`.
    """
    x = np.asarray(x)
    one, half_range = x.dtype.type(1), x.dtype.type(127.5)
    return np.clip(np.rint((x + one) * half_range), 0, 255).astype(np.uint8)


def as_nchw(images: np.ndarray) -> np.ndarray:
    """``uint8`` images as ``(N, C, H, W)``, from ``(N, H, W)`` (one channel),
    ``(N, H, W, C)`` or ``(N, C, H, W)``.

    A 4-d array is read as channels-last when its last axis has 1, 3 or 4 entries and its
    second does not (``(N, 32, 32, 3)``), else as channels-first (``(N, 3, 32, 32)``); a
    channels-last array is copied into channels-first order.

    >>> as_nchw(np.zeros((5, 32, 32, 3), np.uint8)).shape, as_nchw(np.zeros((5, 28, 28), np.uint8)).shape
    ((5, 3, 32, 32), (5, 1, 28, 28))
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or 0 in images.shape:
        raise ValueError(
            "images must be a non-empty uint8 array (N, H, W), (N, H, W, C) or (N, C, H, W), "
            f"got {images.dtype} {images.shape}"
        )
    if images.ndim == 3:
        return images[:, None]
    channels_last = images.shape[3] in (1, 3, 4) and images.shape[1] not in (1, 3, 4)
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)) if channels_last else images


class BatchIterator:
    """Iterate over ``(x, y)`` mini-batches of an image dataset, one epoch per ``for`` loop.

    Parameters
    ----------
    images
        ``uint8`` images, ``(N, H, W)`` (a channel axis is added) or ``(N, C, H, W)``.
    labels
        ``(N,)`` integer labels, returned as int64.
    batch_size
        Images per batch ``B``.
    rng
        Generator that draws each epoch's permutation; defaults to minigan's global one
        as it is when the loader is built (a later ``minigan.seed`` does not reach it).
        It is used, not copied: checkpoint its ``bit_generator.state`` alongside
        :meth:`state_dict` to make the epochs after a resumed one reproducible too.
    shuffle
        Draw a new permutation at the start of each epoch; otherwise keep dataset order.
    drop_last
        Drop the final short batch, so every batch has exactly ``B`` images.

    Notes
    -----
    Iterating runs the remainder of the current epoch, or starts a new one if none is in
    progress; ``break`` out of a loop and the next loop continues where it stopped.
    :meth:`state_dict` records the epoch's permutation and position, so a loader restored
    with :meth:`load_state_dict` yields exactly the batches the original had left. Only
    one iteration over a loader should be active at a time.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        rng: np.random.Generator | None = None,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(
                f"images must be uint8 (N, H, W) or (N, C, H, W), got {images.dtype} {images.shape}"
            )
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels shape {labels.shape} does not match {len(images)} images")
        if batch_size < 1 or (drop_last and batch_size > len(images)):
            raise ValueError(f"batch_size {batch_size} gives no batches for {len(images)} images")
        self.images = images[:, None] if images.ndim == 3 else images
        self.labels = labels.astype(np.int64)
        self.batch_size = batch_size
        self.rng = get_rng(rng)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self._order = np.empty(0, dtype=np.int64)
        self._position = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(len(self.images), self.batch_size)
        return full + int(rest > 0 and not self.drop_last)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(x, y)``: float32 ``(B, C, H, W)`` in [-1, 1] and int64 ``(B,)``."""
        if self._position >= self._epoch_end():
            self._start_epoch()
        while self._position < self._epoch_end():
            index = self._order[self._position : self._position + self.batch_size]
            self._position += len(index)
            yield to_unit_range(self.images[index]), self.labels[index]

    def state_dict(self) -> dict[str, int | np.ndarray]:
        """Return ``{"epoch", "position", "order"}``: ints and the epoch's int64 permutation.

        ``order`` is empty before the first epoch; ``position`` is the number of images of
        the current epoch already yielded.
        """
        return {"epoch": self.epoch, "position": self._position, "order": self._order.copy()}

    def load_state_dict(self, state: dict[str, int | np.ndarray]) -> None:
        """Restore a state from :meth:`state_dict` (taken on a loader over the same data)."""
        order = np.asarray(state["order"], dtype=np.int64)
        position = int(state["position"])
        if order.size and not np.array_equal(np.sort(order), np.arange(len(self.images))):
            raise ValueError(f"order is not a permutation of {len(self.images)} indices")
        if not 0 <= position <= order.size:
            raise ValueError(f"position {position} is outside an order of {order.size} indices")
        self.epoch, self._order, self._position = int(state["epoch"]), order.copy(), position

    def _epoch_end(self) -> int:
        """Number of images of an epoch that are yielded (all, or whole batches only)."""
        n = len(self._order)
        return n - n % self.batch_size if self.drop_last else n

    def _start_epoch(self) -> None:
        """Draw the next epoch's order and rewind."""
        n = len(self.images)
        self._order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        self._order = self._order.astype(np.int64)
        self._position = 0
        self.epoch += 1
