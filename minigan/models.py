"""The reference models: DCGAN-28 and the MLP GAN for 28x28 images.

Shapes are written between the layers (batch ``N``, noise ``z`` of ``z_dim``). Both discriminators
output a logit (no sigmoid): pair them with :func:`minigan.losses.bce_with_logits`.

>>> import numpy as np
>>> G, D = dcgan28(rng=np.random.default_rng(0))
>>> x = G(np.zeros((2, 100), np.float32)); x.shape, D(x).shape
((2, 1, 28, 28), (2, 1))
"""

from __future__ import annotations

import numpy as np

from minigan import nn

MODELS = ("dcgan28", "mlp")


def dcgan28(
    z_dim: int = 100, dtype=np.float32, rng: np.random.Generator | None = None
) -> tuple[nn.Sequential, nn.Sequential]:
    """DCGAN-28: ``(G, D)``, G maps (N, z_dim) noise to (N, 1, 28, 28) images in [-1, 1], D maps
    images to (N, 1) logits.
    """
    G = nn.Sequential(
        nn.Linear(z_dim, 128 * 7 * 7, dtype=dtype, rng=rng),  # (N, 6272)
        nn.BatchNorm1d(128 * 7 * 7, dtype=dtype),
        nn.ReLU(),
        nn.Reshape(128, 7, 7),  # (N, 128, 7, 7)
        nn.ConvTranspose2d(
            128, 64, 4, stride=2, padding=1, dtype=dtype, rng=rng
        ),  # (N, 64, 14, 14)
        nn.BatchNorm2d(64, dtype=dtype),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1, dtype=dtype, rng=rng),  # (N, 1, 28, 28)
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, stride=2, padding=1, dtype=dtype, rng=rng),  # (N, 64, 14, 14)
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1, dtype=dtype, rng=rng),  # (N, 128, 7, 7)
        nn.BatchNorm2d(128, dtype=dtype),
        nn.LeakyReLU(0.2),
        nn.Flatten(),  # (N, 6272)
        nn.Linear(128 * 7 * 7, 1, dtype=dtype, rng=rng),  # (N, 1) logit
    )
    return G, D


def mlp_gan(
    z_dim: int = 100, dtype=np.float32, rng: np.random.Generator | None = None
) -> tuple[nn.Sequential, nn.Sequential]:
    """The fully connected GAN of the classic tutorials: G outputs (N, 1, 28, 28) in [-1, 1]
    (through a final reshape), D takes (N, 1, 28, 28) (flattened first) and outputs (N, 1) logits.
    """
    G = nn.Sequential(
        nn.Linear(z_dim, 256, dtype=dtype, rng=rng),  # (N, 256)
        nn.LeakyReLU(0.2),
        nn.BatchNorm1d(256, dtype=dtype),
        nn.Linear(256, 784, dtype=dtype, rng=rng),  # (N, 784)
        nn.Tanh(),
        nn.Reshape(1, 28, 28),  # (N, 1, 28, 28)
    )
    D = nn.Sequential(
        nn.Flatten(),  # (N, 784)
        nn.Linear(784, 512, dtype=dtype, rng=rng),
        nn.LeakyReLU(0.2),
        nn.Linear(512, 256, dtype=dtype, rng=rng),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 1, dtype=dtype, rng=rng),  # (N, 1) logit
    )
    return G, D


def build(
    name: str, z_dim: int = 100, dtype=np.float32, rng: np.random.Generator | None = None
) -> tuple[nn.Sequential, nn.Sequential]:
    """``build("dcgan28")`` or ``build("mlp")``; a clear error for any other name."""
    if name == "dcgan28":
        return dcgan28(z_dim, dtype, rng)
    if name == "mlp":
        return mlp_gan(z_dim, dtype, rng)
    raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
