"""Fuzzing the two parsers that read files from strangers (issue "Nothing lost, nothing silent",
Tests): the IDX reader and the checkpoint loader (safetensors and JSON). Valid files are mutated
by hypothesis (flipped bytes, cut or extended files, edited header fields, JSON values and tensors
replaced by hostile ones); every outcome is either a successful load or the module's own error
(:class:`IDXError`, :class:`SafetensorsError`, :class:`CheckpointError` or another
``ValueError`` with a message), never another exception, and the memory the parsers take stays
bounded whatever the headers promise."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import tempfile
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minigan.checkpoint import CheckpointError, load_checkpoint
from minigan.data.idx import IDX_DTYPES, IDXError, read_idx
from minigan.guards import DivergenceError
from minigan.serialization import SafetensorsError, load_bytes, load_file, save_bytes, save_file
from minigan.train import TrainConfig, Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (32, 8, 8), dtype=np.uint8)
FUZZ = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
MEMORY = 16 << 20  # bytes a parser may take on these files of a few kB, whatever they promise

byte_edits = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 4096), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.integers(0, 4096)),
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=16)),
    ),
    max_size=3,
)


def mutate(data: bytes, edits) -> bytes:
    """Apply the byte edits of ``byte_edits`` (positions wrap around the data)."""
    data = bytearray(data)
    for edit in edits:
        if edit[0] == "flip" and data:
            data[edit[1] % len(data)] ^= edit[2]
        elif edit[0] == "cut":
            del data[edit[1] % (len(data) + 1) :]
        elif edit[0] == "append":
            data += edit[1]
    return bytes(data)


def bounded(load):
    """``load()``'s result or the exception it raised, checking its peak memory."""
    tracemalloc.start()
    try:
        return load()
    except Exception as exc:  # judged by the caller
        return exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY, f"the parser took {peak} bytes"


# -- the IDX reader -------------------------------------------------------------------------------


@FUZZ
@given(
    code=st.sampled_from(sorted(IDX_DTYPES)),
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    header_edits=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 2**32 - 1)), max_size=2),
    compress=st.booleans(),
    edits=byte_edits,
)
def test_the_idx_reader_loads_or_refuses_any_mutated_file(
    code, shape, header_edits, compress, edits
):
    dtype = IDX_DTYPES[code]
    raw = bytearray(bytes([0, 0, code, len(shape)]) + np.asarray(shape, ">u4").tobytes())
    raw += np.arange(math.prod(shape)).astype(dtype).tobytes()
    for position, value in header_edits:  # a header field (magic, type, ndim, a dimension)
        if position < 4:
            raw[position] = value % 256
        elif position // 4 <= len(shape):
            raw[4 * (position // 4) : 4 * (position // 4) + 4] = value.to_bytes(4, "big")
    data = gzip.compress(bytes(raw), mtime=0) if compress else bytes(raw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz-idx"
        path.write_bytes(mutate(data, edits))
        result = bounded(lambda: read_idx(path))
    if isinstance(result, Exception):
        assert isinstance(result, IDXError) and str(path) in str(result), repr(result)
    else:
        assert isinstance(result, np.ndarray) and result.dtype.isnative


# -- safetensors ------------------------------------------------------------------------------------

hostile_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([-1, 0, 2**31, 2**40, 2**63, 10**12, 10**30])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


@FUZZ
@given(
    shapes=st.lists(st.lists(st.integers(0, 4), max_size=3), min_size=1, max_size=3),
    header_edit=st.none() | st.tuples(st.integers(0, 3), st.sampled_from(["dtype", "shape", "data_offsets"]), hostile_json),
    edits=byte_edits,
)  # fmt: skip
def test_safetensors_loads_or_refuses_any_mutated_buffer(shapes, header_edit, edits):
    tensors = {f"t{i}": np.ones(shape, np.float32) for i, shape in enumerate(shapes)}
    data = save_bytes(tensors)
    if header_edit is not None:  # replace one field of one entry by a hostile JSON value
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
        header[f"t{header_edit[0] % len(shapes)}"][header_edit[1]] = header_edit[2]
        text = json.dumps(header).encode()
        data = len(text).to_bytes(8, "little") + text + data[8 + n :]
    result = bounded(lambda: load_bytes(mutate(data, edits)))
    if isinstance(result, Exception):
        assert isinstance(result, SafetensorsError) and str(result), repr(result)
    else:
        assert all(isinstance(a, np.ndarray) for a in result.values())


# -- a whole checkpoint --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    run = tmp_path_factory.mktemp("fuzz") / "run"
    trainer = Trainer(
        TrainConfig(model="mlp", batch=8, z_dim=8), run, images=IMAGES, quiet=True, pictures=False
    )
    trainer.fit(max_iters=3)
    del trainer  # releases the run directory's lock
    return run


FILES = ["G", "D", "opt_G", "opt_D", "loader", "state.json", "config.json", "metrics.jsonl"]


def json_paths(value, prefix=()):
    """Every path to a value inside a JSON document."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from json_paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from json_paths(inner, (*prefix, i))


def replace_at(document, path, value):
    if not path:
        return value
    document[path[0]] = replace_at(document[path[0]], path[1:], value)
    return document


@FUZZ
@given(
    which=st.sampled_from(FILES),
    pick=st.integers(0, 10**6),
    value=hostile_json,
    tensor=st.sampled_from(["nan", "negative", "huge", "shape", "dtype", "drop"]),
    structured=st.booleans(),
    edits=byte_edits,
)
def test_a_mutated_checkpoint_resumes_or_is_refused_clearly(
    template, which, pick, value, tensor, structured, edits
):
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(template, run)
        if which == "metrics.jsonl":
            path = run / which
        else:
            path = run / "checkpoint" / (which if "." in which else f"{which}.safetensors")
        if not structured:
            path.write_bytes(mutate(path.read_bytes(), edits))
        elif path.suffix in (".json", ".jsonl"):  # a JSON document per line, or in all
            text = path.read_text()
            lines = text.splitlines() if path.suffix == ".jsonl" else [text]
            line = pick % len(lines)
            document = json.loads(lines[line])
            paths = list(json_paths(document))
            lines[line] = json.dumps(replace_at(document, paths[pick % len(paths)], value))
            path.write_text("\n".join(lines) + "\n")
        else:
            arrays = load_file(path)
            name = sorted(arrays)[pick % len(arrays)]
            a = arrays[name]
            arrays[name] = {
                "nan": np.full_like(a, np.nan) if a.dtype.kind == "f" else a,
                "negative": -np.abs(a) - 1,
                "huge": np.full_like(a, np.iinfo(np.int64).max if a.dtype.kind == "i" else 3e38),
                "shape": np.zeros((*a.shape, 2), a.dtype),
                "dtype": a.astype(np.float64),
                "drop": None,
            }[tensor]
            save_file({k: v for k, v in arrays.items() if v is not None}, path)
        parsed = bounded(lambda: load_checkpoint(run))
        if isinstance(parsed, Exception):
            assert isinstance(parsed, CheckpointError) and str(parsed), repr(parsed)
        try:
            trainer = Trainer.resume(run, {"epochs": 2}, images=IMAGES, quiet=True, pictures=False)
        except ValueError as exc:  # CheckpointError, or what the configuration does not allow
            assert str(exc)
        else:
            assert 0 <= trainer.iteration <= 8
            with warnings.catch_warnings():  # huge but finite weights overflow on the way
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    trainer.fit(max_iters=trainer.iteration + 1)
                except DivergenceError:
                    pass  # finite weights can still make a step diverge: then it stops
