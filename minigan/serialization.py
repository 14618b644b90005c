"""Checkpoints in the safetensors format, read and written with NumPy alone (never pickle).

A safetensors file cannot run code when loaded: it is a JSON header plus raw bytes.

Layout:

1. 8 bytes: ``N``, the header length, a little-endian unsigned 64-bit integer.
2. ``N`` bytes: a UTF-8 JSON object, padded with spaces to a multiple of 8 bytes::

       {"__metadata__": {"step": "100"},
        "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}

   ``__metadata__`` (optional) maps strings to strings. Offsets count bytes from the
   start of the data section; ``end - begin == prod(shape) * itemsize``.
3. The data section: each tensor's raw little-endian C-order bytes, packed back to back
   with no gaps, and nothing after the last tensor.

As the reference writer does, tensors are laid out by dtype (widest and highest ranked
first, see ``DTYPES``), then by name, so the files we write are byte-identical to
``safetensors.numpy.save_file``'s (for C-ordered input: the reference stores Fortran-ordered
arrays' buffers unreordered). The reader accepts any order and checks everything.

>>> import os, tempfile, numpy as np
>>> from minigan.serialization import load_file_with_metadata, save_file
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = os.path.join(tmp, "gan.safetensors")
...     save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, path, {"step": "7"})
...     tensors, metadata = load_file_with_metadata(path)
>>> tensors["w"]
array([[0., 1., 2.],
       [3., 4., 5.]], dtype=float32)
>>> metadata
{'step': '7'}
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct
from collections.abc import Mapping

import numpy as np

__all__ = [
    "DTYPES",
    "SafetensorsError",
    "load_bytes",
    "load_file",
    "load_file_with_metadata",
    "save_bytes",
    "save_file",
]

#: safetensors dtype code -> NumPy little-endian dtype, in the reference writer's layout order.
DTYPES: dict[str, np.dtype] = {
    code: np.dtype(np_code)
    for code, np_code in [
        ("U64", "<u8"), ("I64", "<i8"), ("F64", "<f8"), ("F32", "<f4"), ("U32", "<u4"),
        ("I32", "<i4"), ("F16", "<f2"), ("U16", "<u2"), ("I16", "<i2"), ("I8", "i1"),
        ("U8", "u1"), ("BOOL", "?"),
    ]
}  # fmt: skip
_CODES = {dt.str[1:]: code for code, dt in DTYPES.items()}  # "f4" -> "F32"
_META = "__metadata__"


class SafetensorsError(ValueError):
    """A safetensors file or buffer is malformed; the message names the source and problem."""


def save_bytes(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialize ``tensors`` (and optional string ``metadata``) to safetensors bytes.

    Arrays may be non-contiguous or big-endian; they are stored C-order little-endian.
    Raises ``ValueError`` for non-str names or metadata and unsupported dtypes
    (object, complex, structured, datetime, ...).
    """
    header: dict[str, object] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError(f"metadata must map str to str, got {dict(metadata)!r}")
        header[_META] = dict(metadata)
    entries = []
    for name, value in tensors.items():
        if not isinstance(name, str) or name == _META:
            raise ValueError(f"tensor names must be str other than {_META!r}, got {name!r}")
        if not isinstance(value, np.ndarray | np.generic):
            raise ValueError(f"tensor {name!r} must be a numpy array, got {type(value).__name__}")
        code = _CODES.get(value.dtype.str[1:])
        if code is None:
            raise ValueError(f"tensor {name!r} has unsupported dtype {value.dtype}")
        entries.append((list(DTYPES).index(code), name, code, np.asarray(value)))
    chunks, offset = [], 0
    for _, name, code, array in sorted(entries, key=lambda entry: entry[:2]):
        chunks.append(array.astype(DTYPES[code], copy=False).tobytes(order="C"))
        end = offset + len(chunks[-1])
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return b"".join([struct.pack("<Q", len(text)), text, *chunks])


def save_file(
    tensors: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``tensors`` to ``path`` atomically (see :func:`save_bytes` for the format).

    The bytes go to a temporary file in the same directory, are flushed and fsynced,
    then ``os.replace`` moves it over ``path``: an interrupted save leaves any previous
    file intact and removes its temporary file.
    """
    data = save_bytes(tensors, metadata)
    path = os.fspath(path)
    tmp = f"{path}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _parse(buf: bytes, source: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Validate ``buf`` strictly and return owned, writable arrays and the metadata."""

    def fail(problem: str) -> SafetensorsError:
        return SafetensorsError(f"{source}: {problem}")

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"repeated key among {keys!r}")
        return dict(pairs)

    def is_count(x: object) -> bool:
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0

    if len(buf) < 8:
        raise fail(f"{len(buf)} bytes is shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", buf)
    if n > min(len(buf) - 8, 100_000_000):  # the reference reader's limit is 100 MB
        raise fail(f"header length {n} goes beyond the {len(buf)}-byte file or 100 MB")
    try:
        header = json.loads(bytes(buf[8 : 8 + n]).decode(), object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, repeated or huge keys
        raise fail(f"header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise fail(f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop(_META, None)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise fail(f"{_META} must map str to str, got {metadata!r}")
    data = memoryview(buf)[8 + n :]
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or info.keys() != {"dtype", "shape", "data_offsets"}:
            raise fail(f"tensor {name!r}: entry needs exactly dtype, shape, data_offsets: {info!r}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code == "BF16":
            raise fail(f"tensor {name!r}: BF16 is not supported (NumPy has no bfloat16)")
        if not isinstance(code, str) or code not in DTYPES:
            raise fail(f"tensor {name!r}: unknown dtype {code!r}")
        if not isinstance(shape, list) or not all(map(is_count, shape)):
            raise fail(f"tensor {name!r}: shape {shape!r} is not a list of non-negative ints")
        # NumPy's limits, even for an empty tensor: at most 64 axes, fewer than 2**63 bytes
        if len(shape) > 64 or math.prod(d for d in shape if d) * DTYPES[code].itemsize >= 2**63:
            raise fail(f"tensor {name!r}: shape {shape!r} is beyond what an array can have")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(is_count, offsets))):
            raise fail(f"tensor {name!r}: data_offsets {offsets!r} is not two non-negative ints")
        begin, end = offsets
        if end - begin != math.prod(shape) * DTYPES[code].itemsize:
            raise fail(f"tensor {name!r}: data_offsets {offsets} do not fit {code} shape {shape}")
        if end > len(data):
            raise fail(f"tensor {name!r}: data_offsets {offsets} beyond {len(data)} data bytes")
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            kind = "overlaps the previous tensor" if begin < position else "leaves a gap"
            raise fail(f"tensor {name!r}: data_offsets [{begin}, {end}] {kind}")
        position = end
    if position != len(data):
        raise fail(f"{len(data) - position} trailing bytes not covered by any tensor")
    tensors = {
        name: np.frombuffer(data[begin:end], DTYPES[header[name]["dtype"]])
        .reshape(header[name]["shape"])
        .copy()
        for begin, end, name in spans
    }
    return tensors, metadata


def load_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Parse safetensors ``data``; raises :class:`SafetensorsError` if it is malformed."""
    return _parse(data, "<bytes>")[0]


def load_file_with_metadata(
    path: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(tensors, metadata)``, arrays owned and writable.

    Raises :class:`SafetensorsError` naming the file if it is malformed in any way.
    """
    with open(path, "rb") as f:
        return _parse(f.read(), os.fspath(path))


def load_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read the tensors of a safetensors file (see :func:`load_file_with_metadata`)."""
    return load_file_with_metadata(path)[0]
