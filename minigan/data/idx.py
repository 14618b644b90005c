"""Read and write IDX files, the format of MNIST, Fashion-MNIST, KMNIST and EMNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), then each dimension as a big-endian ``uint32``, then the data, big-endian
and in C order. Files may be gzip-compressed; :func:`read_idx` recognises gzip by its
magic bytes ``1f 8b``, whatever the file is called.

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from minigan.data.idx import read_idx, write_idx
>>> with tempfile.TemporaryDirectory() as tmp:
...     write_idx(Path(tmp) / "demo-idx2-ubyte.gz", np.arange(6, dtype=np.uint8).reshape(2, 3))
...     read_idx(Path(tmp) / "demo-idx2-ubyte.gz")
array([[0, 1, 2],
       [3, 4, 5]], dtype=uint8)
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from minigan.resources import available_memory, format_bytes

__all__ = ["IDX_DTYPES", "IDXError", "read_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # bytes read at a time

#: IDX type code -> big-endian NumPy dtype of the stored elements.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXError(ValueError):
    """A file is not a well-formed IDX file; the message names the file and the fault."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path
        The file. Gzip is detected from the first two bytes, not from the name.

    Returns
    -------
    numpy.ndarray
        A writable, native-endian array with the shape stored in the header
        (e.g. ``(60000, 28, 28)`` ``uint8`` for MNIST training images).

    Raises
    ------
    IDXError
        On a corrupt gzip stream, a bad magic number, an unknown type code, a data
        section shorter or longer than the header's shape requires, or (gzip) a header
        promising more data than the memory available. Nothing beyond the promised data
        (plus one byte, to detect trailing data) is read or inflated: a gzip bomb or a huge
        sparse file costs no more memory than its header's promise.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
        f.seek(0)
        stream = gzip.GzipFile(fileobj=f, mode="rb") if compressed else f
        try:
            dtype, shape, data = _read_bounded(stream, path, None if compressed else _size(f))
        except (OSError, EOFError, zlib.error) as exc:
            if not compressed:
                raise
            raise IDXError(f"{path}: corrupt gzip stream ({exc})") from None
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    Parameters
    ----------
    path
        Destination file; overwritten if it exists.
    array
        At least one dimension, each below ``2**32``; dtype ``uint8``, ``int8``,
        ``int16``, ``int32``, ``float32`` or ``float64`` (any byte order).

    Raises
    ------
    TypeError
        If the dtype has no IDX type code.
    ValueError
        If the array is 0-dimensional, has more than 255 dimensions, or a dimension of
        ``2**32`` or more.
    """
    array = np.asarray(array)
    code = _type_code(array.dtype)
    if not 1 <= array.ndim <= 255 or any(n >= 2**32 for n in array.shape):
        raise ValueError(f"IDX cannot store an array of shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(IDX_DTYPES[code], copy=False).tobytes(order="C")
    if Path(path).suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    Path(path).write_bytes(payload)


def _size(f: BinaryIO) -> int:
    """The size in bytes of the open file ``f``."""
    return os.fstat(f.fileno()).st_size


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes of ``stream`` (fewer only at its end), read in chunks of at most
    ``_CHUNK``: memory grows with the bytes the stream really holds, whatever ``n`` is."""
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_bounded(
    stream: BinaryIO, path: Path, file_size: int | None
) -> tuple[np.dtype, tuple[int, ...], bytes]:
    """Read the header, then the data it promises: ``(dtype, shape, data)``.

    A raw file's size (``file_size``) is checked against the promise before any data is read. A
    gzip stream (``file_size`` None) is inflated up to the promise plus one byte (which, if it
    comes, is trailing data), never further; a promise larger than the memory available is
    refused before reading. Memory thus stays within the smaller of the promise and the data.
    """
    head = _read_exactly(stream, 4)
    ndim = head[3] if len(head) == 4 else 0
    dtype, shape, offset = _parse_header(head + _read_exactly(stream, 4 * ndim), path)
    expected = math.prod(shape) * dtype.itemsize

    def mismatch(found: int, more: str = "") -> IDXError:
        hint = (
            "file truncated?" if found < expected else "trailing bytes: over-long or corrupt file"
        )
        return IDXError(
            f"{path}: expected {expected} data bytes for shape {shape} of "
            f"{dtype.newbyteorder('=').name}, found {found}{more} ({hint})"
        )

    if file_size is not None:
        if file_size - offset != expected:
            raise mismatch(file_size - offset)
        data = _read_exactly(stream, expected)
        if len(data) != expected:  # the file shrank while being read
            raise mismatch(len(data))
        return dtype, shape, data
    if expected > available_memory():
        raise IDXError(
            f"{path}: the header promises {expected} data bytes for shape {shape}, more than the "
            f"{format_bytes(available_memory())} of memory available (corrupt header?)"
        )
    data = _read_exactly(stream, expected + 1)
    if len(data) != expected:
        raise mismatch(len(data), " or more" if len(data) > expected else "")
    return dtype, shape, data


def _parse_header(raw: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Check the magic number and read ``(dtype, shape, data offset)`` from the header."""
    if len(raw) < 4:
        raise IDXError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    if raw[:2] != b"\x00\x00":
        raise IDXError(
            f"{path}: bad magic number 0x{raw[:4].hex()}, an IDX file starts with two zero bytes"
        )
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXError(f"{path}: unknown IDX type code 0x{code:02X} (valid: {valid})")
    if ndim == 0:
        raise IDXError(f"{path}: header declares 0 dimensions")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise IDXError(
            f"{path}: header declares {ndim} dimensions but the file ends after "
            f"{len(raw)} bytes (file truncated?)"
        )
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], shape, offset


def _type_code(dtype: np.dtype) -> int:
    """Return the IDX type code that stores ``dtype``."""
    for code, idx_dtype in IDX_DTYPES.items():
        if dtype.kind == idx_dtype.kind and dtype.itemsize == idx_dtype.itemsize:
            return code
    supported = ", ".join(d.newbyteorder("=").name for d in IDX_DTYPES.values())
    raise TypeError(f"IDX cannot store dtype {dtype}; supported: {supported}")
