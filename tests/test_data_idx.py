"""IDX reader and writer: round trips for every type code, and every kind of broken file."""

import gzip
import re

import numpy as np
import pytest

from minigan.data.idx import IDX_DTYPES, IDXError, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(7,), (3, 4), (2, 3, 5), (2, 1, 3, 2)]


def _sample_array(dtype, shape, rng):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype) * 1e3


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, shape, suffix):
    array = _sample_array(dtype, shape, np.random.default_rng(0))
    path = tmp_path / f"data-idx{len(shape)}{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_header_layout_is_big_endian(tmp_path):
    path = tmp_path / "x-idx2-int"
    write_idx(path, np.array([[1, -2]], dtype=np.int32))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 2])
    assert raw[4:12] == (1).to_bytes(4, "big") + (2).to_bytes(4, "big")
    assert raw[12:] == (1).to_bytes(4, "big", signed=True) + (-2).to_bytes(4, "big", signed=True)
    assert set(IDX_DTYPES) == {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}


def test_writes_gzip_only_for_gz_suffix(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "a", array)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a").read_bytes()[:2] == b"\x00\x00"


def test_gzip_detected_by_magic_not_name(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    write_idx(tmp_path / "real.gz", array)
    (tmp_path / "misnamed-raw").write_bytes((tmp_path / "real.gz").read_bytes())
    write_idx(tmp_path / "plain", array)
    (tmp_path / "misnamed.gz").write_bytes((tmp_path / "plain").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "misnamed-raw"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "misnamed.gz"), array)


def test_big_endian_input_array_is_written_correctly(tmp_path):
    array = np.array([1.5, -2.25], dtype=">f8")
    write_idx(tmp_path / "be", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "be"), array.astype(np.float64))


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.float16, np.bool_, np.complex64])
def test_write_rejects_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(TypeError, match="IDX cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=dtype))


def test_write_rejects_scalar(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_idx(tmp_path / "x", np.uint8(3))


def _raw_images(path, n=10):
    write_idx(path, np.zeros((n, 28, 28), dtype=np.uint8))
    return path.read_bytes()


def _assert_idx_error(path, pattern):
    with pytest.raises(IDXError, match=re.escape(str(path))) as info:
        read_idx(path)
    assert re.search(pattern, str(info.value)), str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_data(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    raw = _raw_images(path)
    path.write_bytes(raw[:1016])
    _assert_idx_error(
        path,
        re.escape("expected 7840 data bytes for shape (10, 28, 28) of uint8, found 1000")
        + ".*truncated",
    )


def test_truncated_data_in_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = _raw_images(tmp_path / "raw")
    path.write_bytes(gzip.compress(raw[:-5]))
    _assert_idx_error(path, r"found 7835 .*truncated")


def test_over_long_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    write_idx(path, np.arange(5, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00\x01\x02")
    _assert_idx_error(path, r"expected 5 data bytes .*found 8 .*over-long")


def test_truncated_header(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 10]))
    _assert_idx_error(path, r"declares 3 dimensions .*ends after 8 bytes")


@pytest.mark.parametrize("content", [b"", b"\x00\x00"])
def test_too_short_for_magic(tmp_path, content):
    path = tmp_path / "empty"
    path.write_bytes(content)
    _assert_idx_error(path, "too short")


def test_bad_magic(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    _assert_idx_error(path, r"bad magic number 0x89504e47")


def test_bad_type_code(tmp_path):
    path = tmp_path / "bad-type"
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 2, 1, 2]))
    _assert_idx_error(path, r"unknown IDX type code 0x07")


def test_zero_dimensions(tmp_path):
    path = tmp_path / "zero-dims"
    path.write_bytes(bytes([0, 0, 0x08, 0, 5]))
    _assert_idx_error(path, "0 dimensions")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    compressed = bytearray(gzip.compress(bytes(range(256)) * 40))
    compressed[20:40] = b"\xff" * 20
    path.write_bytes(bytes(compressed))
    _assert_idx_error(path, "corrupt gzip")


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-30])
    _assert_idx_error(path, "corrupt gzip")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")
