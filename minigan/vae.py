r"""The variational autoencoder on minigan's engine: the decoder module, the step, reconstructions.

``models.build("vae28", ...)`` returns ``(G, D)`` = (decoder, encoder), so that checkpoints,
``minigan sample``, ``minigan evaluate`` and :func:`minigan.sampling.load_generator` treat a VAE
run as a GAN run:

- **D, the encoder**: DCGAN-28's discriminator body with one ``Linear`` head of ``2 * z_dim``
  outputs, ``[mu | logvar]`` (N, 2k): two heads in one GEMM.
- **G, the decoder**: :class:`BernoulliDecoder` around DCGAN-28's generator body without its
  ``Tanh`` (attribute ``logits``): ``G(z) = tanh(l / 2) = 2 sigmoid(l) - 1``, the Bernoulli mean
  in [-1, 1], which is what sampling and evaluation need from a generator.

:func:`vae_step` is one update of both networks on the negative ELBO
(:mod:`minigan.functional.vae` has the terms and their gradients; ``docs/vae.md`` the
derivation). It is :func:`minigan.step.train_step` for the ``elbo`` objective.

>>> import numpy as np
>>> from minigan import models, optim
>>> G, D = models.build("vae28", z_dim=3, image_shape=(1, 8, 8), rng=np.random.default_rng(0))
>>> opt_G, opt_D = optim.Adam(G.parameters(), 1e-3), optim.Adam(D.parameters(), 1e-3)
>>> real = np.random.default_rng(1).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
>>> noise = lambda n: np.random.default_rng(2).standard_normal((n, 3), dtype=np.float32)
>>> sorted(vae_step(G, D, opt_G, opt_D, real, noise))
['kl', 'loss', 'recon']
>>> encode_mean(D, real).shape, G(np.zeros((2, 3), np.float32)).shape
((4, 3), (2, 1, 8, 8))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from minigan import backend
from minigan.functional.vae import (
    bernoulli_nll,
    kl_standard_normal,
    reparameterise,
    reparameterise_backward,
)
from minigan.nn.module import Module
from minigan.viz import PLOT_HINT

if TYPE_CHECKING:
    from minigan.optim import Optimizer

__all__ = [
    "RECONSTRUCTIONS",
    "BernoulliDecoder",
    "elbo_gradients",
    "encode_mean",
    "gradcheck_cases",
    "negative_elbo",
    "plot_elbo",
    "reconstruction_grid",
    "reconstruction_images",
    "vae_step",
]

#: Training images shown, with their reconstructions, after every epoch of a VAE run.
RECONSTRUCTIONS = 32


class BernoulliDecoder(Module):
    r"""``G(z) = tanh(logits(z) / 2)`` (N, C, H, W) in [-1, 1]: the mean of Bernoulli pixels
    with logits :math:`l`, mapped to [-1, 1] (:math:`2\sigma(l) - 1 = \tanh(l/2)`).

    ``logits`` is the network :math:`z \mapsto l`; training uses it directly (the loss is on
    logits). Backward: ``dlogits = dy * (1 - y**2) / 2``, then ``logits.backward``.
    """

    def __init__(self, logits: Module) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, z: np.ndarray) -> np.ndarray:
        y = np.tanh(self.logits.forward(z) * 0.5)
        self._cache = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dz``; add into the parameter gradients of ``logits``."""
        y = self._saved()
        return self.logits.backward(dy * (1 - y * y) * 0.5)

    def backward_params(self, dy: np.ndarray) -> None:
        """The parameter gradients only (``z`` is data)."""
        y = self._saved()
        self.logits.backward_params(dy * (1 - y * y) * 0.5)

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        """``dz`` alone, through ``logits.backward_input``; no gradient touched."""
        y = self._saved()
        return self.logits.backward_input(dy * (1 - y * y) * 0.5)


def _device(net: Module) -> str:
    """Where ``net``'s parameters live (``"numpy"`` or ``"cupy"``)."""
    return backend.device_of(net.parameters()[0].data)


@contextmanager
def _eval_mode(*nets: Module) -> Iterator[None]:
    """The networks in eval mode inside the block, their modes restored after it."""
    modes = [net.training for net in nets]
    try:
        for net in nets:
            net.eval()
        yield
    finally:
        for net, mode in zip(nets, modes):
            net.train(mode)


def encode_mean(encoder: Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The encoder's mean ``mu`` (N, z_dim) of images ``x`` (N, C, H, W) in [-1, 1], in eval
    mode (BatchNorm's running statistics: each row depends on its own image only), as a NumPy
    array; ``x`` is moved to the encoder's device, the encoder's mode restored."""
    if not hasattr(x, "shape") or x.ndim != 4 or len(x) == 0:
        raise ValueError(f"encode_mean: expected images (N, C, H, W), got {getattr(x, 'shape', x)}")
    x = backend.to_device(x, _device(encoder))
    with _eval_mode(encoder):
        chunks = [encoder.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        h = np.concatenate([backend.to_numpy(c) for c in chunks])  # (N, 2k) = [mu | logvar]
    return np.ascontiguousarray(h[:, : h.shape[1] // 2])


def reconstruction_images(images: np.ndarray, seed: int, n: int = RECONSTRUCTIONS) -> np.ndarray:
    """``n`` of the training ``images`` (uint8 (N, C, H, W)) as floats in [-1, 1], chosen by
    ``seed`` (its own stream: ``SeedSequence(seed).spawn(6)[5]``, past the five of
    :class:`minigan.train.Trainer`), in index order: the same images for every grid of a run."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(6)[5])
    index = np.sort(rng.choice(len(images), min(n, len(images)), replace=False))
    return images[index].astype(np.float32) / np.float32(127.5) - np.float32(1)


def reconstruction_grid(G: Module, D: Module, x: np.ndarray, columns: int = 8) -> np.ndarray:
    """Images ``x`` and their reconstructions ``G(encode_mean(D, x))`` (eval mode) in
    alternating rows of ``columns``: (2N, C, H, W) in [-1, 1], for
    :func:`minigan.viz.save_image_grid` with ``nrow=columns``."""
    x = x.astype(G.dtype, copy=False)
    mu = encode_mean(D, x)
    with _eval_mode(G):
        recon = backend.to_numpy(G.forward(backend.to_device(mu, _device(G))))
    rows = []
    for i in range(0, len(x), columns):
        rows += [x[i : i + columns], recon[i : i + columns]]
    return np.concatenate(rows)


def _forward(G: BernoulliDecoder, D: Module, x: Any, eps: Any) -> dict[str, Any]:
    """Encoder, reparameterisation, decoder and the two terms: the values, and in ``cache``
    what backward needs."""
    h = D.forward(x)  # (N, 2k) = [mu | logvar]
    k = h.shape[1] // 2
    if tuple(eps.shape) != (len(x), k) or eps.dtype != h.dtype:
        raise ValueError(
            f"vae: noise eps {eps.dtype} {tuple(eps.shape)}, expected {h.dtype} {(len(x), k)}"
        )
    mu, logvar = h[:, :k], h[:, k:]
    logits = G.logits.forward(reparameterise(mu, logvar, eps))  # (N, C, H, W)
    recon, dlogits = bernoulli_nll(logits, x)
    kl, dmu, dlogvar = kl_standard_normal(mu, logvar)
    return {"loss": recon + kl, "recon": recon, "kl": kl, "cache": (logvar, dlogits, dmu, dlogvar)}


def negative_elbo(G: BernoulliDecoder, D: Module, x: Any, eps: Any) -> float:
    """The negative ELBO (nats per image) of images ``x`` with noise ``eps``, forward only."""
    return float(_forward(G, D, x, eps)["loss"])


def elbo_gradients(G: BernoulliDecoder, D: Module, x: Any, eps: Any) -> dict[str, Any]:
    """Set the parameter gradients of ``G`` (decoder) and ``D`` (encoder) to those of the
    negative ELBO of images ``x`` (N, C, H, W) in [-1, 1] with reparameterisation noise
    ``eps`` (N, z_dim); return its value ``loss`` (nats per image) and its terms ``recon``
    and ``kl``. The chain rule, written out: ``dz = G.logits.backward(dlogits)``;
    ``reparameterise_backward(dz)`` plus the KL's own gradients give ``dmu`` and ``dlogvar``;
    ``D.backward_params([dmu | dlogvar])`` (the images are data: no input gradient).
    """
    G.zero_grad()
    D.zero_grad()
    out = _forward(G, D, x, eps)
    logvar, dlogits, dmu_kl, dlogvar_kl = out.pop("cache")
    dz = G.logits.backward(dlogits)  # (N, k): the decoder's input gradient
    dmu, dlogvar = reparameterise_backward(dz, logvar, eps)
    D.backward_params(np.concatenate([dmu + dmu_kl, dlogvar + dlogvar_kl], axis=1))  # (N, 2k)
    return out


def vae_step(
    G: BernoulliDecoder,
    D: Module,
    opt_G: Optimizer,
    opt_D: Optimizer,
    real: Any,
    noise: Callable[[int], Any],
) -> dict[str, Any]:
    """One update of the decoder ``G`` and the encoder ``D`` on the negative ELBO of the batch
    ``real`` (N, C, H, W) in [-1, 1], with ``eps = noise(N)``; returns ``loss``, ``recon``,
    ``kl`` (see :func:`elbo_gradients`). Two Adam optimizers on disjoint parameter sets are
    exactly one Adam on their union (Adam's update is elementwise, its moments per parameter),
    so this is the usual joint update of a VAE.
    """
    record = elbo_gradients(G, D, real, noise(len(real)))
    opt_G.step()
    opt_D.step()
    return record


def plot_elbo(metrics: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Plot a VAE run's records (``loss``, ``recon``, ``kl`` per iteration) as a PNG: the
    negative ELBO and its reconstruction term (left), the KL term (right), each faintly per
    iteration with a moving average. Needs matplotlib; returns the path written."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"plot_elbo needs matplotlib and Pillow: {PLOT_HINT}") from exc
    window = max(1, len(metrics) // 40)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    series = (("loss", "-ELBO", "C0", 0), ("recon", "recon", "C1", 0), ("kl", "KL", "C2", 1))
    for key, label, color, panel in series:
        x, y = np.array([(m["iteration"], m[key]) for m in metrics], dtype=np.float64).T
        smooth = np.convolve(y, np.ones(window) / window, mode="valid")
        axes[panel].plot(x, y, color=color, alpha=0.25, linewidth=0.6)
        axes[panel].plot(x[window - 1 :], smooth, color=color, linewidth=1.6, label=label)
    for ax, title in zip(axes, ("negative ELBO and reconstruction (nats per image)", "KL(q(z|x) || N(0, I)) (nats)")):  # fmt: skip
        ax.set(title=title, xlabel="iteration")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)
    return path


def gradcheck_cases(
    rng: np.random.Generator, n: int
) -> list[tuple[str, str, dict[str, tuple[Callable[[], float], np.ndarray, np.ndarray]]]]:
    """The VAE's checks for :func:`minigan.gradcheck.suite`, float64: ``(name, shapes, {key:
    (f, u, analytic)})``, where ``f()`` reads ``u`` (perturbed in place by the checker) and
    ``analytic`` is ``df/du``. Each of the three terms summed against a random ``dy``, then the
    whole negative ELBO of a small VAE (vae28's layers with 2 and 3 channels for 64 and 128,
    1x8x8 images, ``z_dim`` 3, ``eps`` fixed) against every parameter of both networks."""
    from minigan import nn

    k = 3
    mu, logvar, eps = (rng.standard_normal((n, k)) for _ in range(3))
    dz = rng.standard_normal((n, k))
    dmu, dlogvar = reparameterise_backward(dz, logvar, eps)
    z_of = lambda: float(np.vdot(reparameterise(mu, logvar, eps), dz))  # noqa: E731
    kl_of = lambda: float(kl_standard_normal(mu, logvar)[0])  # noqa: E731
    _, kl_mu, kl_logvar = kl_standard_normal(mu, logvar)
    logits, x = rng.standard_normal((n, 1, 4, 4)) * 3, rng.uniform(-1, 1, (n, 1, 4, 4))
    recon_of = lambda: float(bernoulli_nll(logits, x)[0])  # noqa: E731
    gen, f64 = np.random.default_rng(int(rng.integers(2**31))), {"dtype": np.float64}
    G = BernoulliDecoder(nn.Sequential(
        nn.Linear(k, 12, **f64, rng=gen), nn.BatchNorm1d(12, **f64), nn.ReLU(), nn.Reshape(3, 2, 2),
        nn.ConvTranspose2d(3, 2, 4, 2, 1, **f64, rng=gen), nn.BatchNorm2d(2, **f64), nn.ReLU(),
        nn.ConvTranspose2d(2, 1, 4, 2, 1, **f64, rng=gen),
    ))  # fmt: skip
    D = nn.Sequential(
        nn.Conv2d(1, 2, 4, 2, 1, **f64, rng=gen), nn.LeakyReLU(0.2),
        nn.Conv2d(2, 3, 4, 2, 1, **f64, rng=gen), nn.BatchNorm2d(3, **f64), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(12, 2 * k, **f64, rng=gen),
    )  # fmt: skip
    images, noise = rng.uniform(-1, 1, (n, 1, 8, 8)), rng.standard_normal((n, k))
    elbo_gradients(G, D, images, noise)
    params = [(f"{net}.{name}", p) for net, m in (("G", G), ("D", D)) for name, p in m.named_parameters()]  # fmt: skip
    elbo_of = lambda: negative_elbo(G, D, images, noise)  # noqa: E731
    return [
        ("VAE reparameterise", f"mu, logvar{mu.shape}",
         {"mu": (z_of, mu, dmu), "logvar": (z_of, logvar, dlogvar)}),
        ("VAE KL(q, N(0, I))", f"mu, logvar{mu.shape}",
         {"mu": (kl_of, mu, kl_mu), "logvar": (kl_of, logvar, kl_logvar)}),
        ("VAE Bernoulli recon", f"logits{logits.shape}",
         {"logits": (recon_of, logits, bernoulli_nll(logits, x)[1])}),
        ("VAE negative ELBO", f"x{images.shape}, z_dim {k}",
         {name: (elbo_of, p.data, p.grad.copy()) for name, p in params}),
    ]  # fmt: skip
