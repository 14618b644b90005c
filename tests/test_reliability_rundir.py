"""Run-directory safety (issue "Nothing lost, nothing silent", items 1, 3, 4, 7, 8 and 12):
resumes write only into the run their checkpoint belongs to, symbolic links are refused before
a save breaks them, one process at a time holds a run directory, a bad ``--out`` is refused
before anything else, a full disk is one line and leaves no temporaries, and a run that stopped
before its first checkpoint is not a dead end."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minigan.checkpoint as checkpoint_module
import minigan.progress as progress_module
from minigan.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minigan.cli import main
from minigan.data import write_idx
from minigan.progress import RunFiles, read_metrics
from minigan.rundir import RunDirError, check_out, lock_run_dir
from minigan.train import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (32, 8, 8), dtype=np.uint8)


@pytest.fixture
def data(tmp_path):
    """32 random 8x8 images as IDX files: 4 iterations per epoch at batch 8."""
    directory = tmp_path / "data"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte", IMAGES)
    write_idx(directory / "train-labels-idx1-ubyte", np.zeros(len(IMAGES), np.uint8))
    return directory


def train(*argv):
    return main(["train", *map(str, argv), "--quiet", "--no-pictures"])


def fresh(data, out, *extra):
    return train("--data", data, "--model", "mlp", "--batch", 8, "--out", out, *extra)


def iteration(run_dir):
    return json.loads((run_dir / "checkpoint" / "state.json").read_text())["iteration"]


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# -- item 1: a resume writes only into the run its checkpoint belongs to --------------------------


def test_resuming_a_copied_checkpoint_in_place_is_refused_and_writes_nothing(
    data, tmp_path, capsys
):
    run = tmp_path / "run"
    assert fresh(data, run) == 0
    (run / "snap").mkdir()
    for f in (run / "checkpoint").iterdir():
        (run / "snap" / f.name).write_bytes(f.read_bytes())
    before = snapshot(run)
    assert train("--resume", run / "snap", "--epochs", 2) == 2
    err = capsys.readouterr().err
    assert "outside a run directory" in err and "--out" in err and len(err.splitlines()) == 1
    assert snapshot(run) == before  # run/checkpoint and run/metrics.jsonl untouched
    with pytest.raises(RunDirError, match="outside a run directory"):
        Trainer.resume(run / "snap", images=IMAGES, quiet=True, pictures=False)


def test_a_copied_checkpoint_continues_in_a_new_run_directory(data, tmp_path):
    run, branch, copy = tmp_path / "run", tmp_path / "branch", tmp_path / "copy"
    assert fresh(data, run) == 0
    (tmp_path / "snap").mkdir()
    for f in (run / "checkpoint").iterdir():
        (tmp_path / "snap" / f.name).write_bytes(f.read_bytes())
    before = snapshot(run)
    assert train("--resume", run, "--epochs", 2, "--out", branch) == 0  # the run's own history
    assert train("--resume", tmp_path / "snap", "--epochs", 2, "--out", copy) == 0  # none
    assert snapshot(run) == before
    assert iteration(branch) == iteration(copy) == 8
    branched = read_metrics(branch / "metrics.jsonl")
    assert [r["iteration"] for r in branched] == list(range(1, 9))
    assert [r["iteration"] for r in read_metrics(copy / "metrics.jsonl")] == list(range(5, 9))
    assert train("--resume", run, "--epochs", 2) == 0  # in place, for comparison
    assert without_seconds(branched) == without_seconds(read_metrics(run / "metrics.jsonl"))


def test_resuming_into_another_runs_directory_is_refused(data, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert fresh(data, a) == 0 and fresh(data, b, "--seed", 1) == 0
    before = snapshot(b)
    assert train("--resume", a, "--epochs", 2, "--out", b) == 2
    assert "is not empty" in capsys.readouterr().err
    assert snapshot(b) == before


# -- item 3: symbolic links where a save replaces a directory -------------------------------------


def test_a_symlinked_checkpoint_is_refused_up_front(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert fresh(data, run) == 0
    (run / "checkpoint").rename(run / "real")
    (run / "checkpoint").symlink_to("real")
    before = snapshot(run)
    assert train("--resume", run, "--epochs", 3) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert snapshot(run) == before and (run / "checkpoint").is_symlink()
    with pytest.raises(CheckpointError, match="symbolic link"):
        save_checkpoint(run, {"G": {"w": np.zeros(1)}}, {"iteration": 9}, {})
    assert snapshot(run) == before


# -- item 4: one process per run directory ---------------------------------------------------------


def test_a_second_process_is_refused_naming_the_holder_and_a_kill_frees_the_lock(
    data, tmp_path, capsys
):
    run = tmp_path / "run"
    assert fresh(data, run) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from minigan.rundir import lock_run_dir
            lock = lock_run_dir({str(run)!r})
            print("locked", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(run)
        assert train("--resume", run, "--epochs", 2) == 2
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err and len(err.splitlines()) == 1
        assert snapshot(run) == before
        with pytest.raises(RunDirError, match=str(holder.pid)):
            Trainer.resume(run, {"epochs": 2}, images=IMAGES, quiet=True, pictures=False)
    finally:
        holder.kill()  # as kill -9: the kernel releases the lock
        holder.wait()
    assert train("--resume", run, "--epochs", 2) == 0
    assert iteration(run) == 8


def test_the_lock_is_shared_within_a_process_and_released_with_its_holders(tmp_path):
    first = lock_run_dir(tmp_path / "run")
    assert lock_run_dir(tmp_path / "run") is first
    files = RunFiles(tmp_path / "run").locked()
    assert files.lock is first
    first.release()
    again = lock_run_dir(tmp_path / "run")  # released: a new lock
    assert again is not first and again.held
    again.release()


def test_taking_the_lock_removes_what_interrupted_writes_left(data, tmp_path):
    run = tmp_path / "run"
    assert fresh(data, run, "--max-iters", 2) == 0
    leftovers = [
        run / "metrics.jsonl.tmp",
        run / "frames" / ".iter_0000002.png.4242.tmp",
        run / "samples" / ".epoch_001.png.4242.tmp",
        run / ".training.png.4242.tmp",
    ]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")  # what a full disk or a kill leaves: 0-byte temporaries
    (run / "checkpoint.tmp-dead").mkdir()
    assert train("--resume", run) == 0
    assert not any(p.exists() for p in leftovers) and not (run / "checkpoint.tmp-dead").exists()


# -- item 7: an unwritable --out is refused before anything else -----------------------------------


@pytest.mark.parametrize("where", ["under_a_file", "proc", "a_file"])
def test_an_unwritable_out_is_refused_before_the_data_is_read(tmp_path, capsys, where):
    (tmp_path / "file").write_text("x")
    out = {"under_a_file": tmp_path / "file" / "run", "proc": "/proc/minigan-run"}.get(
        where, tmp_path / "file"
    )
    # the data does not exist: checking it first would give a dataset error instead
    code = train("--data", tmp_path / "nowhere", "--model", "mlp", "--out", out)
    err = capsys.readouterr().err
    assert (
        code == 2 and err.startswith("minigan train: error: --out") and len(err.splitlines()) == 1
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_check_out_leaves_nothing_behind(tmp_path):
    check_out(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []


# -- item 8: a full disk ---------------------------------------------------------------------------


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_checkpoint(
    data, tmp_path, capsys, monkeypatch
):
    run = tmp_path / "run"
    original, calls = checkpoint_module.save_file, []

    def save_file(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) > 5:  # the second checkpoint: its first file fills the disk
            open(f"{path}.0123.tmp", "wb").close()
            raise OSError(errno.ENOSPC, "No space left on device")
        original(tensors, path, metadata)

    monkeypatch.setattr(checkpoint_module, "save_file", save_file)
    code = fresh(data, run, "--checkpoint-every", 2, "--max-iters", 4)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "No space left on device" in err and "iteration 2" in err and "untouched" in err
    assert iteration(run) == 2 and load_checkpoint(run).state["iteration"] == 2
    assert [p.name for p in run.iterdir() if "tmp" in p.name] == []


def test_a_full_disk_while_drawing_leaves_no_temporary(tmp_path, monkeypatch):
    def save_image_grid(grid, path, nrow, scale=1):
        open(path.with_name(f".{path.name}.4242.tmp"), "wb").close()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(progress_module, "save_image_grid", save_image_grid)
    files = RunFiles(tmp_path)
    with pytest.raises(OSError, match="No space"):
        files.frame(lambda: np.zeros((4, 1, 8, 8), np.float32), 0)
    assert list((tmp_path / "frames").iterdir()) == []


def test_metrics_are_rewritten_atomically_and_leave_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    text = "".join(
        json.dumps({"iteration": i, "epoch": 1, "loss_D": 1.0, "loss_G": 1.0}) + "\n"
        for i in (1, 2)
    )
    path.write_text(text)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(progress_module.os, "replace", full)
    with pytest.raises(OSError):
        progress_module.truncate_metrics(path, keep_until=1)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
    assert path.read_text() == text


# -- item 12: after a crash before the first checkpoint ---------------------------------------------


def test_a_run_without_checkpoint_says_how_to_start_over(data, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"iteration": 1, "epoch": 1}\n')  # killed before a save
    assert train("--resume", run) == 2
    resume_err = capsys.readouterr().err
    assert fresh(data, run) == 2
    out_err = capsys.readouterr().err
    for err in (resume_err, out_err):
        assert f"rm -r {run}" in err and "--resume" not in err.split("error:")[1].split(";")[-1]
    assert "holds no checkpoint" in out_err and "start over" in resume_err
    for path in run.iterdir():  # follow the advice
        path.unlink()
    run.rmdir()
    assert fresh(data, run) == 0
    assert os.path.isdir(run / "checkpoint")
