"""The reference models: DCGAN-28 and the MLP GAN for 28x28 images.

Shapes are written between the layers (batch ``N``, noise ``z`` of ``z_dim``). Both discriminators
output a logit (no sigmoid): pair them with :func:`minigan.losses.bce_with_logits`.

``init`` picks the initial weights: ``"pytorch"`` keeps each layer's PyTorch default
(``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``); ``"dcgan"`` is the DCGAN paper's scheme (the
``weights_init`` of pytorch/examples): every weight from ``N(0, 0.02)``, BatchNorm's scale from
``N(1, 0.02)``, biases zero. DCGAN-28 defaults to ``"dcgan"``: from the same data and
hyper-parameters it gave more varied garments after one epoch than the layer defaults did
(PyTorch showed the same); the MLP GAN keeps the classic tutorials' layer defaults.

>>> import numpy as np
>>> G, D = dcgan28(rng=np.random.default_rng(0))
>>> x = G(np.zeros((2, 100), np.float32)); x.shape, D(x).shape
((2, 1, 28, 28), (2, 1))
"""

from __future__ import annotations

import numpy as np

from minigan import nn
from minigan.random import get_rng

MODELS = ("dcgan28", "mlp")
INITS = ("dcgan", "pytorch")


def dcgan_init(model: nn.Module, rng: np.random.Generator | None = None) -> nn.Module:
    """Re-initialise ``model`` in place as the DCGAN paper does; returns it.

    Linear and (transposed) convolution weights ``~ N(0, 0.02)``, their biases 0; BatchNorm
    ``weight ~ N(1, 0.02)``, ``bias`` 0. Draws go through ``rng`` in layer order.
    """
    rng = get_rng(rng)
    for m in model.modules():
        if isinstance(
            m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d | nn.BatchNorm1d | nn.BatchNorm2d
        ):
            mean = 1.0 if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) else 0.0
            m.weight.data[...] = rng.normal(mean, 0.02, m.weight.shape)
            if m.bias is not None:
                m.bias.data[...] = 0
    return model


def _initialise(
    G: nn.Sequential, D: nn.Sequential, init: str, rng: np.random.Generator | None
) -> tuple[nn.Sequential, nn.Sequential]:
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    if init == "dcgan":
        rng = get_rng(rng)
        dcgan_init(G, rng)
        dcgan_init(D, rng)
    return G, D


def dcgan28(
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str = "dcgan",
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
    return _initialise(G, D, init, rng)


def mlp_gan(
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str = "pytorch",
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
    return _initialise(G, D, init, rng)


def build(
    name: str,
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str | None = None,
) -> tuple[nn.Sequential, nn.Sequential]:
    """``build("dcgan28")`` or ``build("mlp")`` (``init=None``: the model's default); a clear
    error for any other name."""
    kwargs = {} if init is None else {"init": init}
    if name == "dcgan28":
        return dcgan28(z_dim, dtype, rng, **kwargs)
    if name == "mlp":
        return mlp_gan(z_dim, dtype, rng, **kwargs)
    raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
