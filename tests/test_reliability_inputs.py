"""Every bad input gets one clear line and exit status 2, with nothing written (issue "Nothing
lost, nothing silent", items 5, 6, 9, 10 and 11): bounded IDX reading, crafted checkpoints,
sizes that cannot fit in memory, the validators every command shares, and Ctrl-C."""

from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

import minigan.backend as backend
import minigan.commands.gradcheck as gradcheck_command
import minigan.commands.train as train_command
from minigan.checkpoint import CheckpointError
from minigan.cli import main
from minigan.commands import FPS, OUT_DIR, OUT_FILE, SEED
from minigan.data import write_idx
from minigan.data.idx import IDXError, read_idx
from minigan.serialization import load_file, save_file
from minigan.train import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (32, 8, 8), dtype=np.uint8)


def one_error_line(capsys, command="train"):
    err = capsys.readouterr().err
    assert err.startswith(f"minigan {command}: error: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def snapshot(directory):
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


# -- item 5: the IDX reader reads at most what the header promises -------------------------------


def peak_bytes(function):
    tracemalloc.start()
    try:
        function()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def refused(path):
    with pytest.raises(IDXError):
        read_idx(path)


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    header = bytes([0, 0, 0x08, 1]) + (16).to_bytes(4, "big")  # promises 16 bytes
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    chunks = [squeeze.compress(header)]
    zeros = bytes(1 << 20)
    chunks += [squeeze.compress(zeros) for _ in range(256)]  # inflates to 256 MiB
    (tmp_path / "bomb").write_bytes(b"".join(chunks) + squeeze.flush())
    assert (tmp_path / "bomb").stat().st_size < 1 << 20
    with pytest.raises(IDXError, match=r"expected 16 data bytes.*found 17 or more.*trailing"):
        read_idx(tmp_path / "bomb")
    assert peak_bytes(lambda: refused(tmp_path / "bomb")) < 8 << 20


def test_a_huge_sparse_raw_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, 1]) + (16).to_bytes(4, "big"))
        f.truncate(3 << 30)  # 3 GiB, nothing stored
    assert peak_bytes(lambda: refused(path)) < 1 << 20
    with pytest.raises(IDXError, match=r"expected 16 data bytes.*found 3221225464.*trailing"):
        read_idx(path)


def test_a_gzip_header_promising_more_than_memory_is_refused(tmp_path):
    header = bytes([0, 0, 0x0E, 3]) + b"".join((2**31).to_bytes(4, "big") for _ in range(3))
    (tmp_path / "big.gz").write_bytes(gzip.compress(header + bytes(64)))
    with pytest.raises(IDXError, match=r"more than the .* of memory available"):
        read_idx(tmp_path / "big.gz")


def test_a_truncated_gzip_stream_is_an_idx_error(tmp_path):
    write_idx(tmp_path / "a.gz", np.arange(4000, dtype=np.int32))
    (tmp_path / "a.gz").write_bytes((tmp_path / "a.gz").read_bytes()[:-30])
    with pytest.raises(IDXError, match=r"a\.gz"):
        read_idx(tmp_path / "a.gz")


# -- item 9: crafted checkpoints ------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A run of 3 iterations on ``IMAGES`` (as IDX files, so that the command resumes it too)."""
    root = tmp_path_factory.mktemp("crafted")
    (root / "data").mkdir()
    write_idx(root / "data" / "train-images-idx3-ubyte", IMAGES)
    write_idx(root / "data" / "train-labels-idx1-ubyte", np.zeros(len(IMAGES), np.uint8))
    argv = ["train", "--data", str(root / "data"), "--model", "mlp", "--batch", "8"]
    assert (
        main([*argv, "--max-iters", "3", "--out", str(root / "run"), "--quiet", "--no-pictures"])
        == 0
    )
    return root / "run"


def edit_json(path, edit):
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


def set_tensor(path, name, value):
    tensors = load_file(path)
    tensors[name] = value
    save_file(tensors, path)


def huge_empty_tensor(path):
    """A safetensors header with shape [2**40, 2**40, 0] (zero bytes of data, a valid size)."""
    raw = path.read_bytes()
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8 : 8 + n])
    end = max(info["data_offsets"][1] for k, info in header.items() if k != "__metadata__")
    header["huge"] = {"dtype": "F32", "shape": [2**40, 2**40, 0], "data_offsets": [end, end]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


CRAFTED = {
    "rng state -1": (
        lambda c: edit_json(c / "state.json", lambda s: s["rng"]["data"]["state"].update(state=-1)),
        "invalid PCG64 state",
    ),
    "optimizer step -1": (
        lambda c: set_tensor(c / "opt_D.safetensors", "step", np.array(-1, np.int64)),
        "step must be a non-negative integer",
    ),
    "negative Adam v": (
        lambda c: set_tensor(c / "opt_G.safetensors", "v.0", -load_file(c / "opt_G.safetensors")["v.0"] - 1),
        "'v.0' must be non-negative",
    ),
    "z_dim 10**12": (
        lambda c: edit_json(c / "config.json", lambda s: s.update(z_dim=10**12)),
        "z_dim 1000000000000",
    ),
    "iteration -5": (
        lambda c: edit_json(c / "state.json", lambda s: s.update(iteration=-5)),
        "iteration -5 is not an iteration of this run",
    ),
    "iteration 10**9": (
        lambda c: edit_json(c / "state.json", lambda s: s.update(iteration=10**9)),
        "iteration 1000000000 is not an iteration of this run",
    ),
    "a NaN weight": (
        lambda c: set_tensor(c / "G.safetensors", "0.bias", np.full(256, np.nan, np.float32)),
        "holds non-finite values",
    ),
    "shape [2**40, 2**40, 0]": (
        lambda c: huge_empty_tensor(c / "D.safetensors"),
        "D.safetensors: tensor 'huge': shape [1099511627776, 1099511627776, 0] is beyond",
    ),
    "metrics without iteration": (
        lambda c: (c.parent / "metrics.jsonl").open("a").write('{"epoch": 1}\n{"iteration": 3}\n'),
        "metrics.jsonl, line 4: expected a JSON object with a non-negative integer iteration",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_checkpoint_is_one_clear_line(template, tmp_path, capsys, case):
    run = tmp_path / "run"
    shutil.copytree(template, run)
    craft, message = CRAFTED[case]
    craft(run / "checkpoint")
    before = snapshot(run)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet", "--no-pictures"]) == 2
    assert message in one_error_line(capsys)
    assert snapshot(run) == before
    with pytest.raises(ValueError, match=re.escape(message.split(": ")[-1][:30])):
        Trainer.resume(run, {"epochs": 2}, images=IMAGES, quiet=True, pictures=False)


def test_the_template_itself_resumes(template, tmp_path):
    shutil.copytree(template, tmp_path / "run")
    trainer = Trainer.resume(tmp_path / "run", {"epochs": 2}, images=IMAGES, quiet=True)
    assert trainer.iteration == 3


def test_z_dim_is_checked_before_a_model_is_built(template, tmp_path):
    shutil.copytree(template, tmp_path / "run")
    edit_json(tmp_path / "run" / "checkpoint" / "config.json", lambda s: s.update(z_dim=10**12))
    with pytest.raises(CheckpointError, match="cannot belong to a generator of"):
        Trainer.resume(tmp_path / "run", images=IMAGES)


# -- item 10: sizes that cannot fit are estimated and refused -------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--z-dim", "1000000000"], "--z-dim 1000000000: the generator's first layer"),
        (["--n-samples", "1000000000000"], "--n-samples 1000000000000: a grid of"),
    ],
)
def test_train_refuses_what_cannot_fit_in_memory(tmp_path, capsys, flags, message):
    argv = ["train", "--dry-run", "--model", "mlp", "--out", str(tmp_path / "run"), *flags]
    assert main(argv) == 2
    err = one_error_line(capsys)
    assert message in err and "of memory, more than the" in err
    assert list(tmp_path.iterdir()) == []


def test_a_memory_error_is_still_one_line(tmp_path, capsys, monkeypatch):
    def out_of_memory(args):
        raise MemoryError("Unable to allocate 5 TiB")

    monkeypatch.setattr(train_command, "_make_trainer", out_of_memory)
    assert main(["train", "--dry-run", "--out", str(tmp_path / "run")]) == 2
    assert "not enough memory: Unable to allocate 5 TiB" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags", [["--n", "1000000000"], ["--n", "30000000", "--batch-stats"]])
def test_sample_refuses_what_cannot_fit_in_memory(template, tmp_path, capsys, flags):
    out = tmp_path / "samples.npy"
    assert main(["sample", str(template), *flags, "--out", str(out)]) == 2
    assert "samples of shape (1, 8, 8) needs about" in one_error_line(capsys, "sample")
    assert list(tmp_path.iterdir()) == []


def test_sample_refuses_an_out_under_a_file(template, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "samples.npy"
    assert main(["sample", str(template), "--n", "4", "--out", str(out)]) == 2
    assert "is not a directory" in one_error_line(capsys, "sample")


# -- item 11: the shared validators, the backend, Ctrl-C -------------------------------------------


def test_the_shared_validators(tmp_path):
    (tmp_path / "file").write_text("x")
    assert SEED("0") == 0 and FPS("0.1") == 0.1 and FPS("100") == 100.0
    for parse, text in [
        (SEED, "-1"),
        (SEED, "1.5"),
        (FPS, "1e-300"),
        (FPS, "nan"),
        (FPS, "1e9"),
        (OUT_DIR, str(tmp_path / "file")),
        (OUT_DIR, str(tmp_path / "file" / "below")),
        (OUT_DIR, "/proc/minigan-out"),
        (OUT_FILE, str(tmp_path)),
        (OUT_FILE, str(tmp_path / "file" / "x.png")),
    ]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert OUT_DIR(str(tmp_path / "new" / "dir")) == tmp_path / "new" / "dir"
    assert OUT_FILE(str(tmp_path / "new" / "x.png")) == tmp_path / "new" / "x.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created


def test_gradcheck_refuses_a_negative_seed(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["gradcheck", "--seed", "-1"])
    assert exit_.value.code == 2
    assert "expected a non-negative integer seed, got '-1'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["gradcheck"], ["train", "--dry-run", "--out", "{out}"]])
def test_an_unknown_backend_in_the_environment_is_one_line(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("MINIGAN_BACKEND", "bogus")
    monkeypatch.setattr(backend, "_active", None)  # read $MINIGAN_BACKEND again
    argv = [a.format(out=tmp_path / "run") for a in command]
    assert main(argv) == 2
    assert "unknown backend 'bogus'" in one_error_line(capsys, command[0])


def test_ctrl_c_is_one_line_and_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gradcheck_command, "suite", interrupted)
    assert main(["gradcheck"]) == 130
    assert capsys.readouterr().err == "\nminigan gradcheck: interrupted\n"
    monkeypatch.setattr(train_command, "_make_trainer", interrupted)  # during start-up
    assert main(["train", "--dry-run", "--out", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err == "\nminigan train: interrupted\n"
    assert list(tmp_path.iterdir()) == []  # the start-up left nothing behind
