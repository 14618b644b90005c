"""The reference models: DCGAN-28, its BatchNorm-free critic, and the MLP GAN, for images of any
shape ``(C, H, W)`` (28x28 grayscale by default), unconditional or class-conditional; and the
VAE on DCGAN-28's networks (``vae28``, :mod:`minigan.vae`).

Shapes are written between the layers (batch ``N``, noise ``z`` of ``z_dim``, ``h = H/4``,
``w = W/4``). Every discriminator outputs a logit (no sigmoid): pair it with
:func:`minigan.losses.bce_with_logits`.

``init`` picks the initial weights: ``"pytorch"`` keeps each layer's PyTorch default
(``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``); ``"dcgan"`` is the DCGAN paper's scheme (the
``weights_init`` of pytorch/examples): every weight from ``N(0, 0.02)``, BatchNorm's scale from
``N(1, 0.02)``, biases zero. DCGAN-28 defaults to ``"dcgan"``: from the same data and
hyper-parameters it gave more varied garments after one epoch than the layer defaults did
(PyTorch showed the same); the MLP GAN keeps the classic tutorials' layer defaults.

**Conditional models** (``num_classes=K``): G is a :class:`~minigan.nn.ConditionalGenerator`
(the label's embedding joined to ``z``), D a :class:`~minigan.nn.ProjectionDiscriminator` (the
unconditional D's features, its ``Linear`` head plus the inner product of a class embedding with
the features); the derivations are in :mod:`minigan.nn.conditional`. G's label embedding has
``E = K`` values (as PyTorch-GAN's ``cgan``): enough for the K class vectors to be linearly
independent (as distinct as one-hot codes; more values add nothing the first layer could use, as
it sees the label only through the K vectors ``W_e e_k``), and few beside the noise's ``z_dim``,
so that the label does not take over the first layer. Measured: conditional DCGAN-28 on 20,000
Fashion-MNIST images, 250 iterations, seed 0, then the mean per-pixel standard deviation of 10
eval-mode samples of each class over the noise: ``E = 100`` (the noise's size) gave 0.068 and,
trained on, two epochs later 0.012 (every noise vector drew the same image of its class: G had
learned to ignore ``z``), where ``E = 10`` gave 0.306 (the unconditional DCGAN-28 after one epoch:
0.40 within each class its classifier predicts). Initialisation of the embeddings, under either ``init``: G's stays at
PyTorch's ``N(0, 1)`` (``weights_init`` of pytorch/examples leaves ``nn.Embedding`` alone, and
``N(0, 1)`` is the noise's scale beside it); D's projection starts on the scale of the head it
adds to, ``N(0, 0.02)`` under ``"dcgan"`` and ``U(-1/sqrt(F), 1/sqrt(F))`` (the ``Linear``'s
default) under ``"pytorch"``.

Measured cost of the projection against the other common conditioning, K = 10 one-hot label
channels joined to D's input (``Conv2d(1 + 10, 64, 4, 2, 1)`` first): DCGAN-28's D, forward then
backward on a batch of 64 at 1x28x28, float32, NumPy backend, ``OPENBLAS_NUM_THREADS=1``, median
of 20 runs, two rounds: unconditional 41 ms, projection 41 to 43 ms, label channels 58 to 63 ms.

>>> import numpy as np
>>> G, D = dcgan28(rng=np.random.default_rng(0))
>>> x = G(np.zeros((2, 100), np.float32)); x.shape, D(x).shape
((2, 1, 28, 28), (2, 1))
>>> G, D = build("dcgan28", z_dim=8, image_shape=(3, 16, 24), num_classes=10)
>>> y = np.array([3, 7])
>>> x = G(np.zeros((2, 8), np.float32), y); x.shape, D(x, y).shape
((2, 3, 16, 24), (2, 1))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from minigan import nn
from minigan.nn.conditional import check_num_classes
from minigan.random import get_rng
from minigan.vae import BernoulliDecoder

#: The GANs (G a generator, D a discriminator with a (N, 1) output, conditional on demand).
GAN_MODELS = ("dcgan28", "dcgan28-nobn", "mlp")
#: Every model of ``--model``: the GANs and the VAE ``vae28`` (G its decoder, D its encoder).
MODELS = (*GAN_MODELS, "vae28")
INITS = ("dcgan", "pytorch")
MNIST_SHAPE = (1, 28, 28)


def dcgan_init(model: nn.Module, rng: np.random.Generator | None = None) -> nn.Module:
    """Re-initialise ``model`` in place as the DCGAN paper does; returns it.

    Linear and (transposed) convolution weights ``~ N(0, 0.02)``, their biases 0; BatchNorm
    ``weight ~ N(1, 0.02)``, ``bias`` 0; a projection discriminator's class embedding
    ``~ N(0, 0.02)`` like the head it adds to. Other embeddings keep their ``N(0, 1)``, as
    PyTorch's ``weights_init`` leaves them. Draws go through ``rng`` in module order.
    """
    rng = get_rng(rng)
    for m in model.modules():
        if isinstance(m, nn.ProjectionDiscriminator):
            m.embed.weight.data[...] = rng.normal(0.0, 0.02, m.embed.weight.shape)
        if isinstance(
            m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d | nn.BatchNorm1d | nn.BatchNorm2d
        ):
            mean = 1.0 if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) else 0.0
            m.weight.data[...] = rng.normal(mean, 0.02, m.weight.shape)
            if m.bias is not None:
                m.bias.data[...] = 0
    return model


def _image_shape(image_shape: Sequence[int] | None, multiple: int, model: str) -> tuple:
    """``image_shape`` as ``(C, H, W)`` ints (None: 1x28x28); H and W multiples of ``multiple``."""
    shape = MNIST_SHAPE if image_shape is None else image_shape
    if (
        not isinstance(shape, Sequence | np.ndarray)
        or len(shape) != 3
        or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in shape)
        or min(shape) < 1
    ):
        raise ValueError(f"image_shape must be three positive integers (C, H, W), got {shape!r}")
    c, h, w = (int(s) for s in shape)
    if h % multiple or w % multiple:
        raise ValueError(
            f"{model} needs image height and width divisible by {multiple} (two stride-2 "
            f"layers), got image_shape {(c, h, w)}"
        )
    return c, h, w


def _finish(
    G: nn.Sequential,
    D: nn.Sequential,
    z_dim: int,
    dtype,
    rng: np.random.Generator | None,
    init: str,
    num_classes: int | None,
) -> tuple[nn.Module, nn.Module]:
    """Wrap the networks as conditional ones when ``num_classes`` is given, then initialise."""
    rng = get_rng(rng)
    if num_classes is not None:
        G = nn.ConditionalGenerator(G, z_dim, num_classes, _label_dim(num_classes), dtype, rng)
        *features, head = D
        D = nn.ProjectionDiscriminator(nn.Sequential(*features), head, num_classes, dtype, rng)
    if init == "dcgan":
        dcgan_init(G, rng)
        dcgan_init(D, rng)
    return G, D


def _checked(init: str, num_classes: int | None) -> int | None:
    """A clear error for an unknown ``init`` or a bad ``num_classes``; returns the latter."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {INITS}")
    return None if num_classes is None else check_num_classes(num_classes)


def _label_dim(num_classes: int | None) -> int:
    """G's label embedding size ``K`` (0 unconditional): see the module docstring."""
    return 0 if num_classes is None else num_classes


def _dcgan_networks(
    z_dim: int, dtype, rng, image_shape, num_classes: int | None, batchnorm_d: bool, name: str
) -> tuple[nn.Sequential, nn.Sequential]:
    """DCGAN-28's two networks for ``image_shape`` (G's first layer takes ``z_dim`` plus the
    label embedding's size); D with or without its BatchNorm."""
    c, h, w = _image_shape(image_shape, 4, name)
    hw = 128 * (h // 4) * (w // 4)
    G = nn.Sequential(
        nn.Linear(z_dim + _label_dim(num_classes), hw, dtype=dtype, rng=rng),  # (N, hw)
        nn.BatchNorm1d(hw, dtype=dtype),
        nn.ReLU(),
        nn.Reshape(128, h // 4, w // 4),  # (N, 128, h, w)
        nn.ConvTranspose2d(
            128, 64, 4, stride=2, padding=1, dtype=dtype, rng=rng
        ),  # (N, 64, 2h, 2w)
        nn.BatchNorm2d(64, dtype=dtype),
        nn.ReLU(),
        nn.ConvTranspose2d(64, c, 4, stride=2, padding=1, dtype=dtype, rng=rng),  # (N, C, H, W)
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(c, 64, 4, stride=2, padding=1, dtype=dtype, rng=rng),  # (N, 64, 2h, 2w)
        nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1, dtype=dtype, rng=rng),  # (N, 128, h, w)
        *([nn.BatchNorm2d(128, dtype=dtype)] if batchnorm_d else []),
        nn.LeakyReLU(0.2),
        nn.Flatten(),  # (N, hw)
        nn.Linear(hw, 1, dtype=dtype, rng=rng),  # (N, 1) logit
    )
    return G, D


def dcgan28(
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str = "dcgan",
    *,
    image_shape: Sequence[int] = MNIST_SHAPE,
    num_classes: int | None = None,
) -> tuple[nn.Module, nn.Module]:
    """DCGAN-28: ``(G, D)``, G maps (N, z_dim) noise to (N, C, H, W) images in [-1, 1], D maps
    images to (N, 1) logits; ``image_shape`` (C, H, W) with H and W divisible by 4 (1x28x28 by
    default). With ``num_classes``: ``G(z, y)``, ``D(x, y)`` (see the module docstring).
    """
    num_classes = _checked(init, num_classes)
    G, D = _dcgan_networks(z_dim, dtype, rng, image_shape, num_classes, True, "dcgan28")
    return _finish(G, D, z_dim, dtype, rng, init, num_classes)


def dcgan28_nobn(
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str = "dcgan",
    *,
    image_shape: Sequence[int] = MNIST_SHAPE,
    num_classes: int | None = None,
) -> tuple[nn.Module, nn.Module]:
    """DCGAN-28 whose D has no BatchNorm: Conv2d, LeakyReLU(0.2), Conv2d, LeakyReLU(0.2),
    Flatten, Linear. G is DCGAN-28's.

    This is the critic for the WGAN gradient penalty. The penalty constrains the gradient of
    D's output for *each* input, but BatchNorm in training mode makes every sample's output
    depend on the whole batch, so there is no per-sample gradient to penalise (WGAN-GP's paper
    drops it from the critic for this reason), and minigan's second-order passes refuse it.
    """
    num_classes = _checked(init, num_classes)
    G, D = _dcgan_networks(z_dim, dtype, rng, image_shape, num_classes, False, "dcgan28-nobn")
    return _finish(G, D, z_dim, dtype, rng, init, num_classes)


def mlp_gan(
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str = "pytorch",
    *,
    image_shape: Sequence[int] = MNIST_SHAPE,
    num_classes: int | None = None,
) -> tuple[nn.Module, nn.Module]:
    """The fully connected GAN of the classic tutorials: G outputs (N, C, H, W) in [-1, 1]
    (through a final reshape), D takes (N, C, H, W) (flattened first) and outputs (N, 1) logits.
    """
    num_classes = _checked(init, num_classes)
    c, h, w = _image_shape(image_shape, 1, "mlp")
    G = nn.Sequential(
        nn.Linear(z_dim + _label_dim(num_classes), 256, dtype=dtype, rng=rng),  # (N, 256)
        nn.LeakyReLU(0.2),
        nn.BatchNorm1d(256, dtype=dtype),
        nn.Linear(256, c * h * w, dtype=dtype, rng=rng),  # (N, C*H*W)
        nn.Tanh(),
        nn.Reshape(c, h, w),  # (N, C, H, W)
    )
    D = nn.Sequential(
        nn.Flatten(),  # (N, C*H*W)
        nn.Linear(c * h * w, 512, dtype=dtype, rng=rng),
        nn.LeakyReLU(0.2),
        nn.Linear(512, 256, dtype=dtype, rng=rng),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 1, dtype=dtype, rng=rng),  # (N, 1) logit
    )
    return _finish(G, D, z_dim, dtype, rng, init, num_classes)


def vae28(
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str = "dcgan",
    *,
    image_shape: Sequence[int] = MNIST_SHAPE,
    num_classes: int | None = None,
) -> tuple[nn.Module, nn.Module]:
    """The VAE on DCGAN-28's networks (:mod:`minigan.vae`): ``(G, D)`` = (decoder, encoder).
    D is DCGAN-28's discriminator with a ``Linear(hw, 2 * z_dim)`` head, ``[mu | logvar]``;
    G is a :class:`~minigan.vae.BernoulliDecoder` around DCGAN-28's generator without its
    ``Tanh`` (``G.logits``), so ``G(z)`` is the Bernoulli mean in [-1, 1]. Unconditional only.
    """
    if num_classes is not None:
        raise ValueError(
            f"vae28 is unconditional: a conditional VAE is not implemented (num_classes "
            f"{num_classes!r}; drop --conditional)"
        )
    _checked(init, None)
    G, D = _dcgan_networks(z_dim, dtype, rng, image_shape, None, True, "vae28")
    *features, head = D
    encoder = nn.Sequential(*features, nn.Linear(head.in_features, 2 * z_dim, dtype=dtype, rng=rng))
    decoder = BernoulliDecoder(nn.Sequential(*list(G)[:-1]))  # (N, C, H, W) logits, no Tanh
    return _finish(decoder, encoder, z_dim, dtype, rng, init, None)


_BUILDERS = {"dcgan28": dcgan28, "dcgan28-nobn": dcgan28_nobn, "mlp": mlp_gan, "vae28": vae28}


def build(
    name: str,
    z_dim: int = 100,
    dtype=np.float32,
    rng: np.random.Generator | None = None,
    init: str | None = None,
    *,
    image_shape: Sequence[int] | None = MNIST_SHAPE,
    num_classes: int | None = None,
) -> tuple[nn.Module, nn.Module]:
    """``(G, D)`` of model ``name`` (one of :data:`MODELS`; a clear error for any other) for
    images of ``image_shape`` (C, H, W) (None: 1x28x28), conditional on ``num_classes`` labels
    when given (an integer >= 2). ``init=None`` keeps the model's default."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    kwargs = {} if init is None else {"init": init}
    return _BUILDERS[name](
        z_dim, dtype, rng, image_shape=image_shape, num_classes=num_classes, **kwargs
    )
