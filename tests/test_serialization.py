"""Tests for minigan.serialization: round trips, strict validation, atomic writes, interop."""

import json
import os
import struct

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigan.serialization import (
    DTYPES,
    SafetensorsError,
    load_bytes,
    load_file,
    load_file_with_metadata,
    save_bytes,
    save_file,
)

NUMPY_DTYPES = [np.dtype(dt) for dt in DTYPES.values()]


def assert_same(loaded: np.ndarray, original: np.ndarray) -> None:
    """Same shape, little-endian version of the dtype, and bit-identical values."""
    expected = np.asarray(original).astype(np.asarray(original).dtype.newbyteorder("<"))
    assert loaded.dtype == expected.dtype
    assert loaded.shape == expected.shape
    assert loaded.tobytes() == expected.tobytes()
    assert loaded.flags.writeable and loaded.flags.owndata and loaded.flags.c_contiguous


@settings(deadline=None, max_examples=60)
@given(
    data=st.data(),
    dtype=st.sampled_from(NUMPY_DTYPES),
    big_endian=st.booleans(),
)
def test_roundtrip_any_dtype_and_shape(data, dtype, big_endian):
    if big_endian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    array = data.draw(hnp.arrays(dtype, shape))
    assert_same(load_bytes(save_bytes({"t": array}))["t"], array)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=str)
def test_file_roundtrip_every_dtype(tmp_path, dtype):
    rng = np.random.default_rng(0)
    tensors = {
        "matrix": (rng.integers(0, 100, (3, 5)) / 4).astype(dtype),
        "scalar": np.array(7, dtype=dtype),
        "empty": np.zeros((0, 4), dtype=dtype),
    }
    save_file(tensors, tmp_path / "m.safetensors")
    loaded = load_file(tmp_path / "m.safetensors")
    assert loaded.keys() == tensors.keys()
    for name, array in tensors.items():
        assert_same(loaded[name], array)


def test_noncontiguous_scalars_and_mixed_dtypes(tmp_path):
    base = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    tensors = {
        "strided": base[::2, ::-1, 1::2],
        "transposed": base.T,
        "fortran": np.asfortranarray(base[0]),
        "numpy_scalar": np.float32(2.5),
        "big_endian": np.arange(4, dtype=">i4"),
        "mask": base[0] > 3,
        "bytes": np.arange(5, dtype=np.uint8),
    }
    save_file(tensors, str(tmp_path / "m.safetensors"))
    loaded = load_file(tmp_path / "m.safetensors")
    for name, array in tensors.items():
        assert_same(loaded[name], array)
        np.testing.assert_array_equal(loaded[name], array)
    loaded["strided"][0, 0, 0] = -1.0  # writable, owned copy
    assert base[0, -1, 1] == 16.0


def test_metadata_roundtrip(tmp_path):
    path = tmp_path / "m.safetensors"
    metadata = {"step": "100", "config": json.dumps({"lr": 2e-4}), "ünï": "çødé"}
    save_file({"w": np.ones(3, np.float32), "ŵ": np.zeros(1)}, path, metadata)
    tensors, loaded_metadata = load_file_with_metadata(path)
    assert loaded_metadata == metadata
    assert sorted(tensors) == ["w", "ŵ"]
    save_file({"w": np.ones(3, np.float32)}, path)
    assert load_file_with_metadata(path)[1] == {}
    assert load_bytes(save_bytes({})) == {}


def test_layout_is_sorted_padded_and_packed():
    data = save_bytes({"b": np.zeros(1, np.uint8), "a": np.zeros(2, np.float64)}, {"k": "v"})
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0 and len(data) == 8 + n + 1 + 16
    header = json.loads(data[8 : 8 + n])
    assert list(header) == ["__metadata__", "a", "b"]  # widest dtype first, then by name
    assert header["a"] == {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}
    assert header["b"]["data_offsets"] == [16, 17]


@pytest.mark.parametrize(
    ("tensors", "metadata", "match"),
    [
        ({"o": np.array([None, 1], dtype=object)}, None, "unsupported dtype"),
        ({"c": np.zeros(2, np.complex64)}, None, "unsupported dtype"),
        ({"d": np.zeros(2, "datetime64[s]")}, None, "unsupported dtype"),
        ({"l": [1.0, 2.0]}, None, "numpy array"),
        ({1: np.zeros(2)}, None, "names must be str"),
        ({"__metadata__": np.zeros(2)}, None, "names must be str"),
        ({"w": np.zeros(2)}, {"step": 3}, "metadata must map str to str"),
        ({"w": np.zeros(2)}, {4: "x"}, "metadata must map str to str"),
    ],
)
def test_save_rejects_bad_input(tmp_path, tensors, metadata, match):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=match):
        save_file(tensors, path, metadata)
    assert os.listdir(tmp_path) == []


def raw(header, data: bytes = b"") -> bytes:
    """A safetensors buffer from a header (dict/list serialized to JSON, or raw bytes)."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "shorter than the 8-byte"),
        (b"\x01\x00\x00", "shorter than the 8-byte"),
        (struct.pack("<Q", 1000) + b"{}", "goes beyond"),
        (struct.pack("<Q", 2**64 - 1) + b"{}", "goes beyond"),
        (raw(b'{"a": '), "not valid UTF-8 JSON"),
        (raw(b'{"\xff": 1}'), "not valid UTF-8 JSON"),
        (raw(b"[" * 100_000), "not valid UTF-8 JSON"),
        (raw(b'{"a": {}, "a": {}}'), "repeated key"),
        (raw([1, 2]), "not an object"),
        (raw({"__metadata__": {"k": 1}}), "__metadata__ must map str to str"),
        (raw({"__metadata__": ["k"]}), "__metadata__ must map str to str"),
        (raw({"t": {"dtype": "F32", "shape": [2]}}, bytes(8)), "needs exactly"),
        (raw({"t": [1]}), "needs exactly"),
        (raw({"t": {**F32x2, "extra": 1}}, bytes(8)), "needs exactly"),
        (raw({"t": {**F32x2, "dtype": "X99"}}, bytes(8)), "unknown dtype"),
        (raw({"t": {**F32x2, "dtype": "BF16", "data_offsets": [0, 4]}}, bytes(4)), "BF16"),
        (raw({"t": {**F32x2, "shape": [-2]}}, bytes(8)), "non-negative ints"),
        (raw({"t": {**F32x2, "shape": [2.0]}}, bytes(8)), "non-negative ints"),
        (raw({"t": {**F32x2, "shape": [True, 2]}}, bytes(8)), "non-negative ints"),
        (raw({"t": {**F32x2, "shape": 2}}, bytes(8)), "non-negative ints"),
        (raw({"t": {**F32x2, "data_offsets": [0]}}, bytes(8)), "two non-negative ints"),
        (raw({"t": {**F32x2, "data_offsets": [4, -4]}}, bytes(8)), "two non-negative ints"),
        (raw({"t": {**F32x2, "shape": [3]}}, bytes(8)), "do not fit"),
        (raw({"t": {**F32x2, "data_offsets": [8, 0]}}, bytes(8)), "do not fit"),
        (raw({"t": F32x2}, bytes(4)), "beyond 4 data bytes"),
        (raw({"t": {**F32x2, "data_offsets": [8, 16]}}, bytes(16)), "leaves a gap"),
        (raw({"t": F32x2, "u": {**F32x2, "data_offsets": [4, 12]}}, bytes(12)), "overlaps"),
        (raw({"t": F32x2, "u": F32x2}, bytes(8)), "overlaps"),
        (raw({"t": F32x2}, bytes(12)), "4 trailing bytes"),
        (raw({}, b"x"), "1 trailing bytes"),
    ],
)
def test_corrupt_files_raise_naming_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(content)
    with pytest.raises(SafetensorsError, match=problem) as info:
        load_file(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(SafetensorsError, match=problem):
        load_bytes(content)


def test_reader_accepts_any_order_and_spaces():
    header = {
        "__metadata__": None,
        "late": {"dtype": "U8", "shape": [2], "data_offsets": [8, 10]},
        "early": F32x2,
    }
    data = np.array([1, 2], np.float32).tobytes() + bytes([3, 4])
    tensors = load_bytes(raw(json.dumps(header).encode() + b"     ", data))
    np.testing.assert_array_equal(tensors["early"], [1.0, 2.0])
    np.testing.assert_array_equal(tensors["late"], [3, 4])


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_atomic_write_keeps_previous_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "ckpt.safetensors"
    save_file({"w": np.arange(3.0)}, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(f"simulated {failing} failure")

    if failing == "write":  # a disk that fills up mid-write
        real_fdopen = os.fdopen

        class BrokenFile:
            def __init__(self, *args):
                self.file = real_fdopen(*args)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.file.close()

            def write(self, data):
                self.file.write(data[:5])
                boom()

        monkeypatch.setattr(os, "fdopen", BrokenFile)
    else:
        monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match=f"simulated {failing}"):
        save_file({"w": np.zeros(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    np.testing.assert_array_equal(load_file(path)["w"], np.arange(3.0))


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_file({"w": np.arange(3.0)}, path)
    save_file({"v": np.ones(2, np.int8)}, path)
    assert list(load_file(path)) == ["v"]
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def sample_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    tensors = {
        f"t_{dt.str[1:]}": (rng.integers(0, 100, (2, 3)) / 4).astype(dt) for dt in NUMPY_DTYPES
    }
    tensors["scalar"] = np.array(1.5, np.float32)
    tensors["empty"] = np.zeros((0, 3), np.int16)
    return tensors


def test_interop_reference_to_minigan(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    tensors, path = sample_tensors(), tmp_path / "ref.safetensors"
    st_numpy.save_file(tensors, str(path), metadata={"epoch": "3"})
    loaded, metadata = load_file_with_metadata(path)
    assert metadata == {"epoch": "3"}
    assert loaded.keys() == tensors.keys()
    for name, array in tensors.items():
        assert_same(loaded[name], array)


def test_interop_minigan_to_reference(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    st_numpy = pytest.importorskip("safetensors.numpy")
    tensors, path = sample_tensors(), tmp_path / "ours.safetensors"
    tensors["transposed"] = np.arange(12.0).reshape(3, 4).T
    save_file(tensors, path, {"epoch": "3"})
    loaded = st_numpy.load_file(str(path))
    assert loaded.keys() == tensors.keys()
    for name, array in tensors.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype
    with safetensors.safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"epoch": "3"}
    # same layout as the reference writer, byte for byte (its numpy.save writes Fortran-ordered
    # arrays' raw buffer in the wrong order, so hand it C-ordered copies)
    c_ordered = {name: np.array(array, order="C") for name, array in tensors.items()}
    assert path.read_bytes() == st_numpy.save(c_ordered, metadata={"epoch": "3"})


VALID = save_bytes({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, bool)})


@settings(deadline=None, max_examples=300)
@given(
    position=st.integers(0, len(VALID) - 1),
    byte=st.integers(0, 255),
    cut=st.integers(0, len(VALID)),
)
def test_mutated_files_load_or_raise_safetensors_error(position, byte, cut):
    corrupted = (VALID[:position] + bytes([byte]) + VALID[position + 1 :])[:cut]
    try:
        tensors = load_bytes(corrupted)
    except SafetensorsError:
        return
    assert all(isinstance(array, np.ndarray) for array in tensors.values())
