"""Kill and resume (issue "Nothing lost, nothing silent", Tests): a training process killed with
SIGKILL at random moments, several times (often in the middle of a checkpoint save, since it
saves every iteration), then resumed each time, ends with the metrics and the checkpoint of a
run that was never interrupted, and with no temporary file left."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minigan.data import write_idx
from minigan.progress import read_metrics
from minigan.serialization import load_file

ITERATIONS = 40  # 5 epochs of 8 batches


def command(data, *argv):
    """``minigan train`` in a process of its own (one BLAS thread: the same numbers every time)."""
    flags = ["--model", "mlp", "--batch", "8", "--epochs", "5", "--checkpoint-every", "1"]
    argv = [sys.executable, "-m", "minigan.cli", "train", *argv, "--quiet", "--no-pictures"]
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*argv, *(["--data", str(data), *flags] if "--out" in argv else [])],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def without_seconds(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.mark.slow
def test_a_run_killed_at_random_moments_ends_as_if_never_stopped(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte", rng.integers(0, 256, (64, 8, 8), dtype=np.uint8))
    write_idx(data / "train-labels-idx1-ubyte", np.zeros(64, np.uint8))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    reference = command(data, "--out", str(whole))
    assert reference.wait(timeout=120) == 0, reference.stderr.read()

    schedule = random.Random(0)
    kills = 0
    while kills < 5:
        started = (parts / "checkpoint").exists() or (parts / "checkpoint.old").exists()
        if parts.exists() and not started:
            shutil.rmtree(parts)  # killed before its first checkpoint: start over, as told
            started = False
        process = command(data, *(["--resume", str(parts)] if started else ["--out", str(parts)]))
        target = min(lines(parts / "metrics.jsonl") + schedule.randint(1, 6), ITERATIONS - 2)
        deadline = time.monotonic() + 60
        while process.poll() is None and lines(parts / "metrics.jsonl") < target:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.002)
        time.sleep(schedule.uniform(0, 0.01))  # somewhere in the next iteration or its save
        if process.poll() is not None:  # it finished before the kill: the test needs kills
            pytest.fail(f"the run ended before kill {kills + 1}: {process.stderr.read()}")
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    final = command(data, "--resume", str(parts))
    assert final.wait(timeout=120) == 0, final.stderr.read()

    expected = read_metrics(whole / "metrics.jsonl")
    assert len(expected) == ITERATIONS
    assert without_seconds(read_metrics(parts / "metrics.jsonl")) == without_seconds(expected)
    for name in ("G", "D", "opt_G", "opt_D", "loader"):
        a = load_file(whole / "checkpoint" / f"{name}.safetensors")
        b = load_file(parts / "checkpoint" / f"{name}.safetensors")
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    leftovers = [p.name for p in parts.rglob("*") if "tmp" in p.name or p.name.endswith(".old")]
    assert leftovers == []
