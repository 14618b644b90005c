r"""Class-conditional wrappers: a generator ``G(z, y)`` and a projection discriminator ``D(x, y)``.

Each wraps the networks of an unconditional model and adds one :class:`~minigan.nn.Embedding` of
the labels ``y`` (N,), integers in ``[0, K)``. Both are ordinary modules: ``parameters()``,
``state_dict()`` (keys ``embed.weight``, ``body.0.weight``, ...; ``features.0.weight``, ...,
``linear.weight``, ``embed.weight``), ``to()``, ``train()``/``eval()`` and ``zero_grad()`` work as
for ``Sequential``. Their ``forward`` and ``__call__`` take two arrays.

**Generator.** ``G(z, y) = body([z, e_y])``: the label's embedding :math:`e_y` (N, E) joined to
the noise ``z`` (N, z_dim) along the features, through the unconditional body whose first layer
takes ``z_dim + E`` inputs. Backward: the body returns ``dh`` (N, z_dim + E); its first ``z_dim``
columns are ``dz``, the rest the embedding's ``dy``. Through the first layer the label acts as a
learned per-class shift of its pre-activations, :math:`W_e e_y`. With a ``BatchNorm1d`` after that
layer (DCGAN-28, in training mode) a shift shared by the whole batch is subtracted with the batch
mean, so training batches need mixed labels (one label per sample, as in the data) and
single-class samples come from eval mode (running statistics), as :mod:`minigan.sampling` runs.

**Projection discriminator** (Miyato & Koyama, *cGANs with Projection Discriminator*, ICLR 2018).
``h = features(x)`` (N, F), the unconditional D up to its last ``Linear``; the logit is

.. math::
    a_n = w \cdot h_n + b + e_{y_n} \cdot h_n

with ``linear`` holding ``w`` (1, F) and ``b``, and ``embed`` (K, F) the rows :math:`e_k`. With
``dy`` (N, 1) the gradient of the loss for :math:`a`:

.. math::
    dh_n = dy_n (w + e_{y_n}), \quad dw = \sum_n dy_n h_n, \quad db = \sum_n dy_n, \quad
    de_k = \sum_{n:\, y_n = k} dy_n h_n,

that is ``linear.backward(dy)`` (``dy * w``) plus ``dy * e``, and the embedding's backward on
``dy * h``; ``dx = features.backward(dh)``.

*Why a projection rather than labels as input channels.* If the class posteriors of the data and
of G are log-linear in some features :math:`\phi(x)` (a softmax classifier on them), the optimal
D's logit, :math:`\log p_\text{data}(x, y) / p_g(x, y)`, is exactly
:math:`e_y^T \phi(x) + \psi(\phi(x))` (the log-ratio of the two posteriors, then of the two
marginals): an inner product of a class embedding with the features plus a shared head. The projection builds that form in, where concatenated labels leave the
network to find it; the paper reports a better Inception score and intra-class FID than input or
hidden-layer concatenation on CIFAR-10/100 and ImageNet. It is also cheap: a few ``N F``
products and sums, and the embedding's gradient, where K label channels widen D's first
convolution from C to C + K input channels (see the measurement in :mod:`minigan.models`).

>>> import numpy as np
>>> from minigan import nn
>>> rng = np.random.default_rng(0)
>>> body = nn.Sequential(nn.Linear(2 + 3, 4, rng=rng), nn.Tanh())
>>> G = nn.ConditionalGenerator(body, z_dim=2, num_classes=5, embedding_dim=3, rng=rng)
>>> D = nn.ProjectionDiscriminator(nn.Sequential(nn.Linear(4, 6, rng=rng)), nn.Linear(6, 1), 5)
>>> x = G(np.zeros((2, 2), np.float32), np.array([0, 4])); out = D(x, np.array([0, 4]))
>>> out.shape, G.backward(np.ones_like(x)).shape, D.backward(np.ones_like(out)).shape
((2, 1), (2, 2), (2, 4))
>>> e = G.embedding(np.array([0, 4]))  # (2, 3): feed G a blend of them with forward_embedded
>>> bool((G.forward_embedded(np.zeros((2, 2), np.float32), e) == x).all())
True
>>> list(D.state_dict())
['features.0.weight', 'features.0.bias', 'linear.weight', 'linear.bias', 'embed.weight']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigan.nn.activation import Tanh
from minigan.nn.embedding import Embedding, check_indices
from minigan.nn.layers import Conv2d, Flatten, Linear, Reshape
from minigan.nn.module import Module, Sequential, check_input
from minigan.nn.norm import BatchNorm1d, BatchNorm2d
from minigan.random import get_rng, uniform


def check_num_classes(num_classes: Any) -> int:
    """``num_classes`` as an int; a clear error unless it is an integer >= 2."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise TypeError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes}")
    return int(num_classes)


class _Named:
    """A wrapper as its error messages name it: its own line of ``repr`` (not the whole tree of
    submodules), its parameters and dtype, which is what the input checks read."""

    def __init__(self, module: Module) -> None:
        self.module = module

    def __repr__(self) -> str:
        return f"{type(self.module).__name__}({self.module.extra_repr()})"

    def parameters(self) -> list:
        return self.module.parameters()

    @property
    def dtype(self) -> np.dtype | None:
        return self.module.dtype


def check_labels(module: Any, y: Any, num_classes: int, n: int) -> None:
    """A clear error unless ``y`` is an integer array of shape (n,) with labels in
    ``[0, num_classes)`` on the module's device."""
    check_indices(module, y, num_classes, "labels", "classes")
    if y.shape != (n,):
        raise ValueError(f"{module!r}: expected labels of shape ({n},) (N,), got shape {y.shape}")


class ConditionalGenerator(Module):
    """``G(z, y) = body([z, embed(y)])``; ``z`` (N, z_dim), ``y`` (N,) integer labels.

    ``body`` is an unconditional generator whose first layer takes ``z_dim + embedding_dim``
    inputs; ``embed`` is ``Embedding(num_classes, embedding_dim)`` drawn from ``rng``.
    """

    def __init__(
        self,
        body: Module,
        z_dim: int,
        num_classes: int,
        embedding_dim: int,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.z_dim, self.num_classes = int(z_dim), check_num_classes(num_classes)
        self.embedding_dim = int(embedding_dim)
        self.embed = Embedding(self.num_classes, self.embedding_dim, dtype, rng)
        self.body = body

    def forward(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[override]
        named = _Named(self)
        check_input(named, z, (2,), self.z_dim, f"(N, {self.z_dim})")  # type: ignore[arg-type]
        check_labels(named, y, self.num_classes, z.shape[0])
        h = np.concatenate([z, self.embed(y)], axis=1)  # (N, z_dim + E)
        self._cache = z.shape
        return self.body(h)

    def __call__(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return self.forward(z, y)

    def embedding(self, y: np.ndarray) -> np.ndarray:
        """The labels' embeddings ``e_y`` (N, E), a copy of the rows of ``embed.weight``."""
        check_indices(_Named(self), y, self.num_classes, "labels", "classes")
        if y.ndim != 1:
            raise ValueError(f"{_Named(self)!r}: expected labels (N,), got shape {y.shape}")
        return self.embed.weight.data[y]  # fancy indexing copies

    def forward_embedded(self, z: np.ndarray, e: np.ndarray) -> np.ndarray:
        """``body([z, e])`` for any embeddings ``e`` (N, E), e.g. a blend of two classes' rows
        (``minigan interpolate --labels``); ``forward(z, y)`` is ``forward_embedded(z,
        embedding(y))``. Inference only: the next ``backward`` refuses (no labels to send
        ``de`` to)."""
        named = _Named(self)
        check_input(named, z, (2,), self.z_dim, f"(N, {self.z_dim})")  # type: ignore[arg-type]
        e_shape = f"(N, {self.embedding_dim})"
        check_input(named, e, (2,), self.embedding_dim, e_shape)  # type: ignore[arg-type]
        if e.shape[0] != z.shape[0]:
            raise ValueError(f"{named!r}: {z.shape[0]} noise vectors but {e.shape[0]} embeddings")
        self._cache = None
        return self.body(np.concatenate([z, e], axis=1))  # (N, z_dim + E)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dz`` (N, z_dim); add into the body's and the embedding's gradients."""
        self._saved()
        dh = self.body.backward(dy)  # (N, z_dim + E)
        self.embed.backward(dh[:, self.z_dim :])
        return np.ascontiguousarray(dh[:, : self.z_dim])

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        """``dz`` alone: the body's input gradient, its noise columns; no gradient touched."""
        self._saved()
        return np.ascontiguousarray(self.body.backward_input(dy)[:, : self.z_dim])

    def backward_params(self, dy: np.ndarray) -> None:
        """The parameter gradients only. The body's input gradient is still computed: its
        embedding columns are the embedding's ``dy``."""
        self.backward(dy)

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, num_classes={self.num_classes}"


class ProjectionDiscriminator(Module):
    """``D(x, y) = linear(h) + sum(embed(y) * h, axis=1)`` with ``h = features(x)`` (N, F).

    ``linear`` is a ``Linear(F, 1)``; ``embed`` is ``Embedding(num_classes, F)``, initialised
    like ``linear``'s weight (``U(-1/sqrt(F), 1/sqrt(F))``), not ``N(0, 1)``: each class's
    :math:`e_k` adds to the shared head ``w``, so it starts on ``w``'s scale (N(0, 1) rows would
    make the class term ``sqrt(F)`` times the head's at initialisation). Draws from ``rng``.
    """

    def __init__(
        self,
        features: Module,
        linear: Linear,
        num_classes: int,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(linear, Linear) or linear.out_features != 1:
            raise ValueError(
                f"ProjectionDiscriminator: linear must be a Linear(F, 1), got {linear}"
            )
        self.num_classes = check_num_classes(num_classes)
        self.features, self.linear = features, linear
        f = linear.in_features
        rng = get_rng(rng)
        self.embed = Embedding(self.num_classes, f, dtype, rng)
        self.embed.weight.data[...] = uniform(rng, 1 / math.sqrt(f), (self.num_classes, f), dtype)

    def forward(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[override]
        named = _Named(self)
        check_input(named, x, tuple(range(2, 9)), None, "(N, ...)")  # type: ignore[arg-type]
        check_labels(named, y, self.num_classes, x.shape[0])
        h = self.features(x)  # (N, F)
        e = self.embed(y)  # (N, F)
        self._cache = (h, e)
        return self.linear(h) + (e * h).sum(axis=1, keepdims=True)  # (N, 1) logits

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return self.forward(x, y)

    def _dh(self, dy: np.ndarray) -> np.ndarray:
        """``dh = dy * (w + e)`` (N, F); adds ``dw``, ``db`` and ``de`` into the gradients."""
        h, e = self._saved()
        dh = self.linear.backward(dy)  # dy * w
        self.embed.backward(dy * h)
        return dh + dy * e

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Return ``dx`` (the images' shape); add into every parameter's gradient."""
        return self.features.backward(self._dh(dy))

    def backward_params(self, dy: np.ndarray) -> None:
        """The parameter gradients only (D's first layer skips its input-gradient product)."""
        self.features.backward_params(self._dh(dy))

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        """``dx`` alone, ``dh = dy * (w + e)`` through the features' :meth:`backward_input`:
        no weight, bias or embedding gradient is formed or touched."""
        _, e = self._saved()
        return self.features.backward_input(self.linear.backward_input(dy) + dy * e)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"


class WithLabels(Module):
    """A conditional ``module`` with its labels ``y`` fixed, as a one-input module:
    ``forward(x) = module(x, y)``, ``backward`` and ``backward_params`` the module's; what
    :func:`minigan.gradcheck.check_module` takes. Parameter names gain the prefix ``module.``.
    """

    def __init__(self, module: Module, y: np.ndarray) -> None:
        super().__init__()
        self.module, self.y = module, y

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.module(x, self.y)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.module.backward(dy)

    def backward_params(self, dy: np.ndarray) -> None:
        self.module.backward_params(dy)

    def backward_input(self, dy: np.ndarray) -> np.ndarray:
        return self.module.backward_input(dy)


def gradcheck_cases(rng: np.random.Generator, n: int) -> list[tuple[Module, np.ndarray, str]]:
    """``(module, x, name)`` for :func:`minigan.gradcheck.check_module`: a conditional G and a
    projection D in float64 on small smooth bodies (Tanh rather than ReLU, so no finite
    difference straddles a kink; BatchNorm included, over ``n + 2`` samples, as two samples make
    it nearly singular), their labels fixed by :class:`WithLabels`; D's input gradient is
    checked too. The model-sized versions are checked in ``tests/test_models.py``.
    """
    n, k = n + 2, 3
    body = Sequential(
        Linear(3 + 4, 6, rng=rng), BatchNorm1d(6), Tanh(), Linear(6, 4, rng=rng), Tanh(),
        Reshape(1, 2, 2),
    )  # fmt: skip
    G = ConditionalGenerator(body, 3, k, 4, rng=rng).to(np.float64)
    features = Sequential(Conv2d(1, 2, 3, 1, 1, rng=rng), BatchNorm2d(2), Tanh(), Flatten())
    D = ProjectionDiscriminator(features, Linear(8, 1, rng=rng), k, rng=rng).to(np.float64)
    y = rng.integers(0, k, n)
    y[-1] = y[0]  # a repeated label: its embedding row collects two gradients
    return [
        (WithLabels(G, y), rng.standard_normal((n, 3)), "ConditionalGenerator(z 3, 3 classes)"),
        (WithLabels(D, y), rng.standard_normal((n, 1, 2, 2)), "ProjectionDiscriminator(3)"),
    ]
