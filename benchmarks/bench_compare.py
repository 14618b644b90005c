"""Before and after a change, in one process: an earlier copy of the ``minigan`` package against
the current one (and the PyTorch twin), their DCGAN-28 iterations interleaved.

Separate runs of ``bench_step.py`` on a shared machine drift by more than most changes gain, so
this puts both versions in one process: the copy in ``BEFORE/minigan`` (for instance a
worktree of the commit before the change, ``git worktree add ../minigan-before COMMIT``) is
copied to a temporary directory as the package ``minigan_before`` (its own imports renamed),
and every contender's iterations run in turn, in blocks of ``BLOCK``:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_compare.py --before ../minigan-before
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_compare.py --before ../minigan-before --threads 1 --cpu-time

Both versions run with this version's process tuning (``minigan.tuning.tune_process``).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
import numpy as np

BLOCK = 3  # timed iterations per contender per turn
RENAMED = "minigan_before"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--before", type=Path, required=True, help="a directory holding the earlier minigan/"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--iters", type=int, default=24, help="timed iterations per contender")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", nargs="+", default=["numpy", "numba"])
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--cpu-time", action="store_true", help="process CPU time, not wall")
    return parser.parse_args(argv)


def import_before(before: Path, into: Path) -> Any:
    """``before/minigan`` copied to ``into/minigan_before`` with its imports renamed, imported."""
    target = into / RENAMED
    shutil.copytree(before / "minigan", target, ignore=shutil.ignore_patterns("__pycache__"))
    pattern = re.compile(r"\bminigan(?=[. ]|$)", re.MULTILINE)
    for path in target.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(pattern.sub(RENAMED, text), encoding="utf-8")
    sys.path.insert(0, str(into))
    return importlib.import_module(RENAMED)


class BeforeTrainer:
    """:class:`common.MiniganTrainer`'s iteration on the earlier package."""

    def __init__(self, pkg: str, name: str, batch: int, seed: int = 0) -> None:
        models, optim = (importlib.import_module(f"{pkg}.{m}") for m in ("models", "optim"))
        self.backend = importlib.import_module(f"{pkg}.backend")
        self.step_fn = importlib.import_module(f"{pkg}.step").train_step
        self.name, self.rng = name, np.random.default_rng(seed)
        self.G, self.D = models.dcgan28(common.Z_DIM, rng=self.rng)
        self.opt_g = optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.real = self.rng.uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)

    def noise(self, n: int) -> np.ndarray:
        return self.rng.standard_normal((n, common.Z_DIM), dtype=np.float32)

    def step(self) -> None:
        with self.backend.using(self.name):
            self.step_fn(self.G, self.D, self.opt_g, self.opt_d, self.real, self.noise)


def run(args: argparse.Namespace) -> str:
    from minigan import tuning

    tuning.tune_process("numba" if "numba" in args.backend else "numpy")
    info = common.pin_threads(args.threads)
    contenders: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        import_before(args.before, Path(tmp))
        for name in args.backend:
            contenders[f"{name} before"] = BeforeTrainer(RENAMED, name, args.batch)
            contenders[f"{name} after"] = common.MiniganTrainer(name, args.batch)
        if not args.no_torch and importlib.util.find_spec("torch") is not None:
            import torch
            import torch_dcgan

            torch.set_num_threads(args.threads)
            rng = np.random.default_rng(0)
            real = rng.uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32)
            contenders["torch"] = torch_dcgan.Trainer(args.batch, rng, real)
        clock = time.process_time if args.cpu_time else time.perf_counter
        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for trainer in contenders.values():
            for _ in range(3):
                trainer.step()
        turn = 0
        while len(times[names[-1]]) < args.iters:
            for name in names if turn % 2 == 0 else names[::-1]:
                for _ in range(min(BLOCK, args.iters - len(times[name]))):
                    start = clock()
                    contenders[name].step()
                    times[name].append(clock() - start)
            turn += 1
    base = statistics.median(times["torch"]) if "torch" in times else None
    rows = []
    for name, t in times.items():
        ratio = f"{statistics.median(t) / base:.2f}x" if base else "-"
        rows.append([name, args.batch, statistics.median(t) * 1e3, ratio])
    clock_name = "process CPU time" if args.cpu_time else "wall clock"
    return "\n".join(
        [
            common.blas_line(info),
            f"Threads: {args.threads}; median of {args.iters} iterations after 3 warm-up, "
            f"in interleaved blocks of {BLOCK}; {clock_name}; before: {args.before}",
            common.load_line(),
            "",
            common.markdown_table(["contender", "batch", "ms/iter", "vs PyTorch"], rows),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not (args.before / "minigan" / "__init__.py").is_file():  # checked here, not while parsing
        print(
            f"bench_compare.py: error: --before: no minigan package in {args.before}",
            file=sys.stderr,
        )
        sys.exit(2)
    print(run(args))


if __name__ == "__main__":
    main()
