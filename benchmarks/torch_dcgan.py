"""The PyTorch twin of DCGAN-28, for benchmarks and cross-checks only (PyTorch is optional).

Same layers, shapes, parameter names and initialisation scheme as :func:`minigan.models.dcgan28`
(PyTorch's defaults are what minigan copies), so ``load_minigan_state`` moves minigan's weights
across unchanged and both engines compute the same function. ``torch`` is imported here and only
here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def dcgan28(z_dim: int = 100) -> tuple[nn.Sequential, nn.Sequential]:
    """``(G, D)`` with the layer order of ``minigan.models.dcgan28`` (so ``state_dict`` keys match)."""
    G = nn.Sequential(
        nn.Linear(z_dim, 128 * 7 * 7),  # (N, 6272)
        nn.BatchNorm1d(128 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),  # (N, 128, 7, 7)
        nn.ConvTranspose2d(128, 64, 4, 2, 1),  # (N, 64, 14, 14)
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1),  # (N, 1, 28, 28)
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1),  # (N, 64, 14, 14)
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1),  # (N, 128, 7, 7)
        nn.BatchNorm2d(128),
        nn.LeakyReLU(0.2),
        nn.Flatten(),  # (N, 6272)
        nn.Linear(128 * 7 * 7, 1),  # (N, 1) logit
    )
    return G, D


def load_minigan_state(module: nn.Module, state: dict[str, np.ndarray]) -> None:
    """Copy a minigan ``state_dict()`` (same keys and layouts as PyTorch's) into ``module``."""
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})


class Trainer:
    """One DCGAN-28 training iteration in PyTorch, the loop of ``common.MiniganTrainer`` step
    for step.

    D step: real batch then a fresh fake batch (generated without a graph), BCE with logits,
    one backward each (gradients accumulate), Adam step. G step: fresh noise, non-saturating
    loss through D, Adam step on G. Adam(2e-4, betas (0.5, 0.999)). Weights, the real batch and
    the noise generator may be handed over from a minigan trainer, so both compute the same
    numbers; the noise is drawn with NumPy either way (the same cost on both sides).
    """

    def __init__(
        self,
        batch: int,
        rng: np.random.Generator,
        real: np.ndarray,
        states: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
        z_dim: int = 100,
    ) -> None:
        self.G, self.D = dcgan28(z_dim)
        if states is not None:
            load_minigan_state(self.G, states[0])
            load_minigan_state(self.D, states[1])
        self.batch, self.z_dim, self.rng = batch, z_dim, rng
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=betas)
        self.real = torch.from_numpy(real)
        self.ones = torch.ones(batch, 1)
        self.zeros = torch.zeros(batch, 1)
        self.bce = nn.BCEWithLogitsLoss()

    def noise(self) -> torch.Tensor:
        return torch.from_numpy(self.rng.standard_normal((self.batch, self.z_dim), np.float32))

    def step(self) -> tuple[float, float]:
        """One D step and one G step; returns ``(loss_d, loss_g)``."""
        # D step: maximise log D(x) + log(1 - D(G(z)))
        self.opt_d.zero_grad(set_to_none=False)
        loss_real = self.bce(self.D(self.real), self.ones)
        loss_real.backward()
        with torch.no_grad():
            fake = self.G(self.noise())
        loss_fake = self.bce(self.D(fake), self.zeros)
        loss_fake.backward()
        self.opt_d.step()
        # G step: minimise -log D(G(z)) (non-saturating)
        self.opt_g.zero_grad(set_to_none=False)
        loss_g = self.bce(self.D(self.G(self.noise())), self.ones)
        loss_g.backward()
        self.opt_g.step()
        return float(loss_real.detach() + loss_fake.detach()), float(loss_g.detach())


def set_threads(n: int) -> None:
    """Pin PyTorch's intra-op pool to ``n`` threads (and one inter-op thread)."""
    torch.set_num_threads(n)


def info() -> dict[str, Any]:
    """Version and thread count, for the benchmark header."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads()}
