r"""Paths through a generator's noise space, and the truncation trick (NumPy alone).

**lerp** walks the straight line, :math:`\mathrm{lerp}(a, b, t) = (1 - t)\,a + t\,b`.

**slerp** walks the arc: the direction turns from :math:`\hat a = a/|a|` to
:math:`\hat b = b/|b|` along their great circle at constant angular speed,

.. math::
    \Omega = \arccos(\hat a \cdot \hat b), \qquad
    \hat u(t) = \frac{\sin((1 - t)\Omega)}{\sin\Omega}\,\hat a
              + \frac{\sin(t\Omega)}{\sin\Omega}\,\hat b, \qquad
    \mathrm{slerp}(a, b, t) = \bigl((1 - t)|a| + t|b|\bigr)\,\hat u(t),

while the norm goes linearly from :math:`|a|` to :math:`|b|` (for endpoints of equal norm this
is Shoemake's slerp, and the norm stays constant). Endpoints of one direction and a zero
endpoint fall back to lerp; opposite directions (:math:`\Omega = \pi`, every great circle
through them fits) turn through the plane of :math:`\hat a` and the coordinate axis least
aligned with it.

*Why slerp for Gaussian noise.* A draw of :math:`\mathcal N(0, I_d)` has norm close to
:math:`\sqrt d` (its squared norm is a :math:`\chi^2_d`, mean :math:`d`, standard deviation
:math:`\sqrt{2d}`): the generator was trained on a thin shell. Two independent draws are nearly
orthogonal, so the lerp midpoint :math:`(a + b)/2` has squared norm about :math:`(d + d)/4`,
norm :math:`\sqrt{d/2}`, :math:`1/\sqrt2` of the shell's radius; at ``d = 100`` that is 7.07
instead of 10, about 6 standard deviations of the norm (0.71) inside the shell, where training
noise almost never fell. slerp stays on the shell:

>>> rng = np.random.default_rng(0)
>>> a, b = rng.standard_normal((2, 10000, 100))         # 10,000 pairs, d = 100
>>> def mean_norm(z): return round(float(np.linalg.norm(z, axis=-1).mean()), 2)
>>> mean_norm(a), mean_norm(lerp(a[0], b[0], 0.5))     # the shell ~ sqrt(d) = 10; one midpoint
(9.98, 7.22)
>>> mean_norm((a + b) / 2)                             # lerp midpoints ~ sqrt(d / 2) = 7.07
7.05
>>> mean_norm(np.stack([slerp(x, y, 0.5) for x, y in zip(a, b)]))  # slerp stays on the shell
9.97

**path** strings segments together; **truncated_normal** is the truncation trick (Brock et al.,
*BigGAN*, 2019; Marchesi, 2017): noise entries with :math:`|z| > \psi` are redrawn until inside,
trading variety (recall, coverage) for typical, cleaner samples (precision).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MODES", "lerp", "path", "seed_noise", "slerp", "truncated_normal"]

#: The interpolation modes of :func:`path` (and ``minigan interpolate --mode``).
MODES = ("lerp", "slerp")

#: sin(Omega) below this: one direction (lerp, its norm off by < 1e-12) or opposite ones.
_PARALLEL = 1e-6


def _endpoints(a: np.ndarray, b: np.ndarray, t: float | np.ndarray, name: str):
    """Check ``a``, ``b`` (d,) of one shape and ``t`` a number or 1-D array; ``(a, b, t as a
    float64 array, result dtype)``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"{name}: a and b must be non-empty vectors (d,) of one shape, got {a.shape} and "
            f"{b.shape}"
        )
    for x in (a, b):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name}: a and b must be floating-point arrays, got {x.dtype}")
    t_arr = np.asarray(t, dtype=np.float64)
    if t_arr.ndim > 1:
        raise ValueError(f"{name}: t must be a number or a 1-D array, got shape {t_arr.shape}")
    return a, b, t_arr, np.result_type(a, b)


def lerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """``(1 - t) a + t b``: shape (d,) for a number ``t``, (M, d) for ``t`` (M,); in the dtype
    of ``a`` and ``b``. ``t = 0`` and ``t = 1`` give ``a`` and ``b`` exactly.

    >>> lerp(np.array([0.0, 2.0]), np.array([4.0, 2.0]), np.array([0, 0.25, 1]))
    array([[0., 2.],
           [1., 2.],
           [4., 2.]])
    """
    a, b, t, dtype = _endpoints(a, b, t, "lerp")
    t = t[..., None]
    out = (1 - t) * a.astype(np.float64) + t * b.astype(np.float64)
    return out.astype(dtype, copy=False)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation (the module's formula): the direction along the great circle
    at constant angular speed, the norm linear from ``|a|`` to ``|b|``. Shapes and dtype as
    :func:`lerp`; ``t = 0`` and ``t = 1`` give ``a`` and ``b`` exactly; endpoints of one
    direction, or a zero one, fall back to lerp; opposite ones turn through a chosen plane.

    >>> a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    >>> np.round(slerp(a, b, 0.5), 4)            # on the unit circle, 45 degrees
    array([0.7071, 0.7071])
    >>> slerp(a, 3 * a, 0.5)                      # parallel: the straight line
    array([2., 0.])
    """
    a, b, t, dtype = _endpoints(a, b, t, "slerp")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    ua, ub = a64 / na, b64 / nb
    cos = float(np.clip(ua @ ub, -1.0, 1.0))
    omega = np.arccos(cos)
    tt = t[..., None]
    if np.sin(omega) >= _PARALLEL:
        direction = (np.sin((1 - tt) * omega) * ua + np.sin(tt * omega) * ub) / np.sin(omega)
    elif cos > 0 or a.size == 1:  # one direction: the norm alone changes, as on the line
        return lerp(a, b, t)
    else:  # opposite: turn through the plane of ua and the axis least aligned with it
        p = np.zeros_like(ua)
        p[np.argmin(np.abs(ua))] = 1.0
        p -= (p @ ua) * ua
        direction = np.cos(tt * np.pi) * ua + np.sin(tt * np.pi) * (p / np.linalg.norm(p))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)  # unit up to rounding: exactly
    out = (((1 - tt) * na + tt * nb) * direction).astype(dtype)
    out[..., :] = np.where(tt == 0, a, np.where(tt == 1, b, out))  # exact endpoints
    return out


def path(points: np.ndarray, steps: int, mode: str = "slerp") -> np.ndarray:
    """The path through ``points`` (P, d), P >= 2, in order: each of the P - 1 segments has
    ``steps`` >= 2 evenly spaced points, both ends included, a segment's last point the next
    one's first (listed once). Returns (M, d), ``M = (P - 1)(steps - 1) + 1``, in the points'
    dtype; ``mode`` is ``"lerp"`` or ``"slerp"``.

    >>> path(np.array([[0.0], [1.0], [3.0]]), steps=3, mode="lerp")[:, 0]
    array([0. , 0.5, 1. , 2. , 3. ])
    """
    if mode not in MODES:
        raise ValueError(f"path: mode must be one of {MODES}, got {mode!r}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 2:
        raise ValueError(f"path: steps must be an integer >= 2, got {steps!r}")
    points = np.asarray(points)
    if points.ndim != 2 or len(points) < 2:
        raise ValueError(f"path: points must be (P, d) with P >= 2, got shape {points.shape}")
    step = lerp if mode == "lerp" else slerp
    t = np.linspace(0.0, 1.0, int(steps))
    segments = [
        step(points[i], points[i + 1], t if i == 0 else t[1:]) for i in range(len(points) - 1)
    ]
    return np.concatenate(segments)


def seed_noise(seed: int, z_dim: int, dtype=np.float32) -> np.ndarray:
    """The noise vector of ``seed``: ``default_rng(seed).standard_normal(z_dim, dtype)`` (z_dim,),
    which is the first sample's noise of ``minigan sample --seed SEED`` (and of
    :func:`minigan.sampling.sample` with ``rng=seed``): the rows of its (n, z_dim) draw come one
    after the other from the same stream.

    >>> z = np.random.default_rng(3).standard_normal((5, 4), dtype=np.float32)
    >>> bool((seed_noise(3, 4) == z[0]).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed_noise: seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed)).standard_normal(int(z_dim), dtype=np.dtype(dtype))


def truncated_normal(
    rng: np.random.Generator, shape: int | tuple[int, ...], psi: float, dtype=np.float32
) -> np.ndarray:
    """``N(0, 1)`` entries of ``shape`` conditioned on ``|z| <= psi`` (the truncation trick):
    one ``rng.standard_normal(shape, dtype)`` draw, then every entry with ``|z| > psi`` redrawn
    (only those, from the same ``rng``) until all are inside. Entries already inside are the
    plain draw's, so a seed's truncated noise stays close to its untruncated noise. ``psi`` must
    be a positive finite number; a small ``psi`` costs about ``1 / P(|z| <= psi)`` rounds
    (``psi = 0.5``: 2.6, ``psi = 0.1``: 12.6).

    >>> z = truncated_normal(np.random.default_rng(0), (1000, 8), psi=0.5)
    >>> z.dtype, bool(np.abs(z).max() <= 0.5)
    (dtype('float32'), True)
    >>> bool((truncated_normal(np.random.default_rng(0), (1000, 8), 0.5) == z).all())  # seeded
    True
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"truncated_normal: rng must be a np.random.Generator, got {type(rng)}")
    if isinstance(psi, bool) or not isinstance(psi, int | float | np.number):
        raise TypeError(f"truncated_normal: psi must be a positive number, got {psi!r}")
    if not (0 < float(psi) < float("inf")):
        raise ValueError(f"truncated_normal: psi must be a positive finite number, got {psi!r}")
    dtype = np.dtype(dtype)
    z = rng.standard_normal(shape, dtype=dtype)
    outside = np.flatnonzero(np.abs(z) > psi)
    flat = z.reshape(-1)
    while outside.size:
        flat[outside] = rng.standard_normal(outside.size, dtype=dtype)
        outside = outside[np.abs(flat[outside]) > psi]
    return z
