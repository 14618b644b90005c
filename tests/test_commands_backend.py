"""``--backend`` on ``minigan gradcheck`` and ``minigan sample``: the same results as without it,
clear one-line errors (exit status 2) for a backend that cannot run, and a gradcheck note that
says truthfully which kernels the checks ran. ``minigan train`` and ``minigan toy`` without it:
the fastest installed CPU backend, named in their first line.

Commands that select a real backend run in a subprocess: selecting one is process-wide state
(:func:`minigan.backend.use`), and "the default" means a fresh process without
``$MINIGAN_BACKEND``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan import backend as backends
from minigan.cli import main
from minigan.config import TrainConfig
from minigan.train import Trainer

HAS_NUMBA = "numba" in backends.available()
HAS_CUPY = importlib.util.find_spec("cupy") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed (minigan[numba])")
IMAGES = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)


def minigan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``minigan ARGS`` in a fresh process, ``$MINIGAN_BACKEND`` unset unless ``env`` sets it."""
    environ = {k: v for k, v in os.environ.items() if k != "MINIGAN_BACKEND"} | (env or {})
    code = "import sys; from minigan.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=300,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A dcgan28 run of 4 iterations (so BatchNorm's running statistics are not the defaults)."""
    out = tmp_path_factory.mktemp("backend") / "run"
    config = TrainConfig(data="random", model="dcgan28", batch=8, z_dim=16)
    with backends.using("numpy"):
        Trainer(config, out, images=IMAGES, quiet=True, pictures=False).fit()
    return out


def table_rows(out: str) -> list[list[str]]:
    """The gradcheck table's rows below its header, as lists of cells."""
    rows = [line.strip("|").split(" | ") for line in out.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]


# ---- gradcheck ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gradcheck_default() -> str:
    result = minigan("gradcheck")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gradcheck_backend_numpy_prints_what_the_default_prints(gradcheck_default):
    result = minigan("gradcheck", "--backend", "numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout == gradcheck_default
    assert "backend" not in result.stdout  # the reference everywhere: no note


@needs_numba
def test_gradcheck_backend_numba_passes_the_same_checks_and_says_what_ran(gradcheck_default):
    result = minigan("gradcheck", "--backend", "numba")
    assert result.returncode == 0, result.stderr
    rows, default = table_rows(result.stdout), table_rows(gradcheck_default)
    assert [(r[0], r[1], r[3]) for r in rows] == [(r[0], r[1], r[3]) for r in default]
    assert all(float(r[2]) <= 1e-6 for r in rows)  # float64 tolerance: kernels ran in float64
    note = " ".join(result.stdout.split("\n\n")[-2].split())
    assert note.startswith("backend numba: its kernels are compiled for float64")
    assert "batchnorm, conv2d, conv_transpose2d, leaky_relu and relu" in note
    assert result.stdout.rstrip().endswith(f"{len(default)} passed, 0 failed")


@needs_numba
def test_the_numba_note_is_what_the_suite_runs(monkeypatch):
    """Measured: under numba the suite calls exactly the kernels the note names, on float64
    arrays, and never the Numba col2im (its convolutions have fewer than 8 channels)."""
    from minigan.commands.gradcheck import kernel_note
    from minigan.gradcheck import suite
    from minigan.kernels.numba import conv

    called: dict[str, set[str]] = {}

    def recording(name, fast):
        def run(*args, **kwargs):
            dtypes = {str(a.dtype) for a in args if isinstance(a, np.ndarray) and a.size}
            called.setdefault(name, set()).update(dtypes)
            return fast(*args, **kwargs)

        return run

    table = backends.table("numba")
    for ref, fast in list(table.items()):
        monkeypatch.setitem(table, ref, recording(ref.__name__, fast))
    monkeypatch.setattr(conv, "_col2im", recording("numba col2im", conv._col2im))
    with backends.using("numba"):
        reports = suite(0)
        note = kernel_note("numba")
    assert all(rep.passed for rep in reports)
    ops = sorted({n.rsplit("_", 1)[0] for n in called if n.endswith(("_forward", "_backward"))})
    assert ops == ["batchnorm", "conv2d", "conv_transpose2d", "leaky_relu", "relu"]
    # the input-gradient-only convolutions of the second-order rows (WGAN-GP's penalty)
    assert {"conv2d_input_grad", "conv_transpose2d_input_grad"} <= set(called)
    assert all(dtypes == {"float64"} for dtypes in called.values()), called
    assert f"ran them for {', '.join(ops[:-1])} and {ops[-1]}" in note
    assert "col2im onto fewer than 8 channels" in note


# ---- sample -------------------------------------------------------------------------------------


def test_sample_backend_numpy_writes_the_default_bytes(run_dir, tmp_path):
    default, numpy_ = tmp_path / "default.npy", tmp_path / "numpy.npy"
    assert minigan("sample", str(run_dir), "--n", "16", "--out", str(default)).returncode == 0
    result = minigan(
        "sample", str(run_dir), "--n", "16", "--backend", "numpy", "--out", str(numpy_)
    )
    assert result.returncode == 0, result.stderr
    assert numpy_.read_bytes() == default.read_bytes()


@needs_numba
def test_sample_backend_numba_matches_within_float32_rounding(run_dir, tmp_path):
    default, numba_ = tmp_path / "default.npy", tmp_path / "numba.npy"
    assert minigan("sample", str(run_dir), "--n", "16", "--out", str(default)).returncode == 0
    result = minigan(
        "sample", str(run_dir), "--n", "16", "--backend", "numba", "--out", str(numba_)
    )
    assert result.returncode == 0, result.stderr
    a, b = np.load(default).astype(int), np.load(numba_).astype(int)
    assert a.shape == b.shape == (16, 28, 28)
    # float32 results that differ in the last bits can round to neighbouring uint8 levels
    assert np.abs(a - b).max() <= 1 and np.mean(a != b) < 0.01


# ---- the training commands' default: the fastest CPU backend ------------------------------------

NO_NUMBA = "import sys; sys.modules['numba'] = None; "  # numba's import simulated missing
HAS_PLOT = all(importlib.util.find_spec(p) is not None for p in ("matplotlib", "PIL"))


def train_argv(tmp_path: Path, *flags: str) -> list[str]:
    out = tmp_path / "run"
    return ["train", "--dry-run", "--model", "mlp", "--batch", "4", "--max-iters", "1",
            "--no-pictures", "--out", str(out), *flags]  # fmt: skip


def first_line(text: str) -> str:
    return text.splitlines()[0]


def minigan_without_numba(*args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "MINIGAN_BACKEND"}
    code = NO_NUMBA + "from minigan.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=environ,
        timeout=300,
    )  # fmt: skip


@needs_numba
def test_train_defaults_to_numba_and_says_so(tmp_path):
    result = minigan(*train_argv(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "| backend numba |" in first_line(result.stdout)


def test_train_without_numba_defaults_to_numpy_with_no_error(tmp_path):
    result = minigan_without_numba(*train_argv(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "| backend numpy |" in first_line(result.stdout)
    assert "error" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [(["--backend", "numpy"], None, "numpy"), ([], {"MINIGAN_BACKEND": "numpy"}, "numpy")],
)
def test_train_honours_backend_flag_and_variable(tmp_path, flags, env, expected):
    result = minigan(*train_argv(tmp_path, *flags), env=env)
    assert result.returncode == 0, result.stderr
    assert f"| backend {expected} |" in first_line(result.stdout)


@pytest.mark.skipif(not HAS_PLOT, reason="minigan toy needs matplotlib and Pillow")
@pytest.mark.parametrize("variant", ["default", "numpy flag", "numba missing"])
def test_toy_names_its_backend_in_its_first_line(tmp_path, variant):
    argv = ["toy", "--steps", "2", "--every", "2", "--no-frames", "--out", str(tmp_path / "toy")]
    if variant == "default":
        result, expected = minigan(*argv), "numba" if HAS_NUMBA else "numpy"
    elif variant == "numpy flag":
        result, expected = minigan(*argv, "--backend", "numpy"), "numpy"
    else:
        result, expected = minigan_without_numba(*argv), "numpy"
    assert result.returncode == 0, result.stderr
    line = first_line(result.stderr)
    assert line.startswith("minigan toy: ") and line.endswith(f"| out {tmp_path / 'toy'}")
    assert f"| backend {expected} |" in line


@pytest.mark.parametrize("command", ["train", "toy"])
def test_a_backend_the_command_picked_is_unselected_when_it_ends(command, tmp_path, monkeypatch):
    """In process (``minigan.cli.main``), the fastest backend a command picked by itself does not
    outlive the command: the program is back on its default afterwards."""
    if command == "toy" and not HAS_PLOT:
        pytest.skip("minigan toy needs matplotlib and Pillow")
    monkeypatch.delenv("MINIGAN_BACKEND", raising=False)
    monkeypatch.setattr(backends, "_active", None)  # as in a fresh process
    seen = []
    fastest = "numba" if HAS_NUMBA else "numpy"
    monkeypatch.setattr(backends, "fastest_cpu", lambda: seen.append(fastest) or fastest)
    argv = [*train_argv(tmp_path), "--quiet"] if command == "train" else [
        "toy", "--steps", "2", "--every", "2", "--no-frames", "--quiet",
        "--out", str(tmp_path / "toy")]  # fmt: skip
    assert main(argv) == 0
    assert seen == [fastest]
    assert backends.chosen() is None and backends.current() == "numpy"


def test_program_choice_is_kept_by_train_in_process(tmp_path, capsys):
    """A program that selected a backend (here numpy) keeps it when it calls ``main``."""
    with backends.using("numpy"):
        assert main(train_argv(tmp_path)) == 0
        assert backends.current() == "numpy"
    assert "| backend numpy |" in capsys.readouterr().out


# ---- errors -------------------------------------------------------------------------------------


def argv(command: str, run_dir: Path, tmp_path: Path) -> list[str]:
    if command == "sample":
        return ["sample", str(run_dir), "--n", "2", "--out", str(tmp_path / "x.npy")]
    return [command]


@pytest.mark.parametrize("command", ["gradcheck", "sample"])
def test_an_unknown_backend_is_an_argparse_error(command, run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv(command, run_dir, tmp_path), "--backend", "bogus"])
    assert exit_info.value.code == 2
    assert "argument --backend: invalid choice: 'bogus'" in capsys.readouterr().err


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: --backend cupy would run")
@pytest.mark.parametrize("command", ["gradcheck", "sample"])
def test_backend_cupy_without_cupy_names_the_extra(command, run_dir, tmp_path, capsys):
    assert main([*argv(command, run_dir, tmp_path), "--backend", "cupy"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"minigan {command}: error: ")
    assert "pip install 'minigan[cuda]'" in err
    assert not (tmp_path / "x.npy").exists()
    assert backends.current() != "cupy"  # a failed selection leaves the backend alone


@pytest.mark.parametrize("command", ["gradcheck", "sample"])
def test_a_bogus_minigan_backend_variable_is_a_one_line_error(command, run_dir, tmp_path):
    result = minigan(*argv(command, run_dir, tmp_path), env={"MINIGAN_BACKEND": "bogus"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"minigan {command}: error: unknown backend 'bogus'; choose one of "
        "['cupy', 'numba', 'numpy']\n"
    )
