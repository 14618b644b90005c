"""The PyTorch twin of DCGAN-28, for benchmarks and cross-checks only (PyTorch is optional).

Same layers, shapes, parameter names and initialisation scheme as :func:`minigan.models.dcgan28`
(PyTorch's defaults are what minigan copies), so ``load_minigan_state`` moves minigan's weights
across unchanged and both engines compute the same function. ``torch`` is imported here and only
here.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    import common
    import gpu_common


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
    for step, eager, on ``device`` (``"cpu"`` or ``"cuda"``).

    D step: real batch then a fresh fake batch (generated without a graph), BCE with logits,
    one backward each (gradients accumulate), Adam step. G step: fresh noise, non-saturating
    loss through D (whose weights need no gradient there: ``requires_grad_(False)``, as
    minigan's step forms none), Adam step on G. Adam(2e-4, betas (0.5, 0.999)). Weights, the real batch and
    the noise generator may be handed over from a minigan trainer (:func:`twin`), so both compute
    the same numbers. An iteration's noise (D step, G step) waits in ``z``: drawn from ``rng``
    with NumPy at construction, so both engines' first iterations see the same noise, and after
    each step again with NumPy on the CPU (as minigan's CPU backends draw theirs) or by
    ``normal_`` on a GPU (as ``gpu_common.CupyTrainer`` draws its own).
    """

    def __init__(
        self,
        batch: int,
        rng: np.random.Generator,
        real: np.ndarray,
        states: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None,
        z_dim: int = 100,
        device: str = "cpu",
    ) -> None:
        self.G, self.D = dcgan28(z_dim)
        if states is not None:
            load_minigan_state(self.G, states[0])
            load_minigan_state(self.D, states[1])
        self.device = torch.device(device)
        self.G.to(self.device)
        self.D.to(self.device)
        self.batch, self.z_dim, self.rng = batch, z_dim, rng
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=betas)
        self.real = torch.from_numpy(real).to(self.device)
        self.ones = torch.ones(batch, 1, device=self.device)
        self.zeros = torch.zeros(batch, 1, device=self.device)
        self.bce = nn.BCEWithLogitsLoss()
        self.z = self._host_noise()

    def _host_noise(self) -> torch.Tensor:
        draws = self.rng.standard_normal((2, self.batch, self.z_dim), np.float32)
        return torch.from_numpy(draws).to(self.device)

    def iterate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One D step and one G step on the noise in ``z``; returns ``(loss_d, loss_g)`` as 0-d
        tensors on the device (``float()`` them for the numbers; on a GPU that waits for it).
        """
        # D step: maximise log D(x) + log(1 - D(G(z)))
        self.opt_d.zero_grad(set_to_none=False)
        loss_real = self.bce(self.D(self.real), self.ones)
        loss_real.backward()
        with torch.no_grad():
            fake = self.G(self.z[0])
        loss_fake = self.bce(self.D(fake), self.zeros)
        loss_fake.backward()
        self.opt_d.step()
        # G step: minimise -log D(G(z)) (non-saturating). D's weights need no gradient here, and
        # minigan's step forms none (D.backward_input): the same work on both sides
        self.opt_g.zero_grad(set_to_none=False)
        self.D.requires_grad_(False)
        loss_g = self.bce(self.D(self.G(self.z[1])), self.ones)
        loss_g.backward()
        self.D.requires_grad_(True)
        self.opt_g.step()
        return loss_real.detach() + loss_fake.detach(), loss_g.detach()

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`iterate`, then the next iteration's noise into ``z``."""
        losses = self.iterate()
        if self.z.is_cuda:
            self.z.normal_()
        else:
            self.z = self._host_noise()
        return losses


def twin(trainer: common.MiniganTrainer, device: str = "cpu") -> Trainer:
    """A :class:`Trainer` on ``device`` that starts where minigan's ``common.MiniganTrainer``
    ``trainer`` (on the CPU, before its first step) starts: its weights, its real batch and a copy
    of its noise generator.
    """
    return Trainer(
        trainer.batch,
        copy.deepcopy(trainer.rng),
        trainer.real,
        (trainer.G.state_dict(), trainer.D.state_dict()),
        device=device,
    )


def cuda_available() -> bool:
    """Whether this PyTorch build sees a CUDA device."""
    return torch.cuda.is_available()


def prepare_cuda() -> str:
    """Make PyTorch's float32 on the GPU round as CuPy's does: TF32 off in cuBLAS and in cuDNN
    (which PyTorch lets use TF32 by default), process-wide. Returns the header line to print.
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return (
        f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()} (CUDA "
        f"{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), eager, TF32 off"
    )


def cuda_timer() -> gpu_common.EventTimer:
    """A ``gpu_common.EventTimer`` of PyTorch CUDA events on PyTorch's current stream."""
    import gpu_common

    return gpu_common.EventTimer(
        torch.cuda.Event(enable_timing=True),
        torch.cuda.Event(enable_timing=True),
        lambda start, stop: start.elapsed_time(stop),
    )


def set_threads(n: int) -> None:
    """Pin PyTorch's intra-op pool to ``n`` threads (and one inter-op thread)."""
    torch.set_num_threads(n)


def info() -> dict[str, Any]:
    """Version and thread count, for the benchmark header."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads()}
