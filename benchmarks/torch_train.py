"""Train the PyTorch twin of DCGAN-28 as ``minigan train`` trains minigan's: the quality reference.

It starts from the weights and fixed noise a ``minigan.train.Trainer`` with the same seed starts
from, uses the same hyper-parameters (Adam 2e-4, betas (0.5, 0.999), batch 64, non-saturating
loss) and the same data pipeline (``minigan.data``), and writes the fixed-noise grid after each
epoch, with G in eval mode as minigan's grids are. The batch order and training noise come from
their own seeded generators, so the two runs are two draws of the same recipe, not a replay.
PyTorch is an optional, comparison-only dependency.

    python benchmarks/torch_train.py --epochs 5 --out runs/torch-dcgan28
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from minigan.config import TrainConfig
from minigan.data import BatchIterator, load_dataset
from minigan.train import Trainer
from minigan.viz import save_image_grid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Needs PyTorch: pip install torch"
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)  # before importing PyTorch: --help works without it
    try:
        import torch
        import torch_dcgan
    except ImportError as exc:
        parser.exit(
            2, f"{parser.prog}: error: this script needs PyTorch ({exc}): pip install torch\n"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    torch_dcgan.set_threads(args.threads)

    reference = Trainer(
        TrainConfig(seed=args.seed), out=None, images=np.zeros((64, 28, 28), np.uint8), quiet=True
    )
    rng = np.random.default_rng(args.seed + 1)
    images, _ = load_dataset("fashion-mnist")
    batches = BatchIterator(images, np.zeros(len(images), np.uint8), 64, rng)
    trainer = torch_dcgan.Trainer(
        64, rng, np.zeros((64, 1, 28, 28), np.float32),
        (reference.G.state_dict(), reference.D.state_dict()),
    )  # fmt: skip
    fixed = torch.from_numpy(reference.fixed_noise)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        for i, (x, _) in enumerate(batches):
            trainer.real = torch.from_numpy(x)
            loss_d, loss_g = trainer.step()
            if i % 200 == 0:
                print(f"epoch {epoch} iter {i} loss_D {loss_d:.3f} loss_G {loss_g:.3f}", flush=True)
        trainer.G.eval()
        with torch.no_grad():
            grid = trainer.G(fixed).numpy()
        trainer.G.train()
        save_image_grid(
            grid, args.out / f"epoch_{epoch:03d}.png", nrow=8, scale=2
        )  # as minigan train
    print(f"{args.epochs} epochs in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
