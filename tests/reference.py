r"""Naive reference implementations, written for clarity rather than speed: an oracle for the
ops of :mod:`minigan.functional` that shares no code and no technique with them.

Every function loops over plain indices straight from the definition (no im2col, no sliding
windows, no einsum, no broadcasting tricks) and computes in float64. They are slow Python: keep
the shapes tiny.

Layouts are PyTorch's: ``x`` (N, C, H, W); ``conv2d`` weight (O, C, kh, kw);
``conv_transpose2d`` weight (C_in, C_out, kh, kw); ``b`` (O,) or None; one ``stride`` and one
``padding`` for both spatial axes.
"""

from __future__ import annotations

import numpy as np


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


# ---- convolution ---------------------------------------------------------------------------------
def conv2d(x, W, b, stride, padding):
    """Cross-correlation with zero padding:

    ``y[n, o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] * x[n, c, h*s - p + i, w*s - p + j]``,
    a term with an input index outside [0, H) x [0, W) being zero;
    ``Ho = (H + 2p - kh) // s + 1`` (and likewise ``Wo``).
    """
    x, W, b = _f64(x), _f64(W), _f64(b)
    N, C, H, Wd = x.shape
    O, C2, kh, kw = W.shape
    assert C == C2
    s, p = stride, padding
    Ho = (H + 2 * p - kh) // s + 1
    Wo = (Wd + 2 * p - kw) // s + 1
    y = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for h in range(Ho):
                for w in range(Wo):
                    total = 0.0 if b is None else b[o]
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                r = h * s - p + i
                                q = w * s - p + j
                                if 0 <= r < H and 0 <= q < Wd:
                                    total += W[o, c, i, j] * x[n, c, r, q]
                    y[n, o, h, w] = total
    return y


def conv2d_backward(dy, x, W, stride, padding):
    """Adjoint of :func:`conv2d`: each output value ``y[n, o, h, w]`` scatters its gradient back
    to everything that made it,

    ``dx[n, c, h*s - p + i, w*s - p + j] += W[o, c, i, j] * dy[n, o, h, w]`` (inside the input),
    ``dW[o, c, i, j] += x[n, c, h*s - p + i, w*s - p + j] * dy[n, o, h, w]`` (same condition),
    ``db[o] += dy[n, o, h, w]``.

    Returns ``(dx, dW, db)``; ``db`` is always computed (the caller ignores it without bias).
    """
    dy, x, W = _f64(dy), _f64(x), _f64(W)
    N, C, H, Wd = x.shape
    O, _, kh, kw = W.shape
    _, _, Ho, Wo = dy.shape
    s, p = stride, padding
    dx = np.zeros(x.shape)
    dW = np.zeros(W.shape)
    db = np.zeros(O)
    for n in range(N):
        for o in range(O):
            for h in range(Ho):
                for w in range(Wo):
                    g = dy[n, o, h, w]
                    db[o] += g
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                r = h * s - p + i
                                q = w * s - p + j
                                if 0 <= r < H and 0 <= q < Wd:
                                    dx[n, c, r, q] += W[o, c, i, j] * g
                                    dW[o, c, i, j] += x[n, c, r, q] * g
    return dx, dW, db


def conv_transpose2d(x, W, b, stride, padding, output_padding=0):
    """Transposed convolution, defined by scattering every input value into the output:

    ``y[n, o, h*s - p + i, w*s - p + j] += x[n, c, h, w] * W[c, o, i, j]`` for every
    ``(n, c, h, w, o, i, j)`` whose target lies inside the output, then ``y[n, o] += b[o]``;
    ``Ho = (H - 1) s - 2p + kh + output_padding`` (and likewise ``Wo``).
    """
    x, W, b = _f64(x), _f64(W), _f64(b)
    N, C, H, Wd = x.shape
    C2, O, kh, kw = W.shape
    assert C == C2
    s, p = stride, padding
    Ho = (H - 1) * s - 2 * p + kh + output_padding
    Wo = (Wd - 1) * s - 2 * p + kw + output_padding
    y = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(Wd):
                    for o in range(O):
                        for i in range(kh):
                            for j in range(kw):
                                r = h * s - p + i
                                q = w * s - p + j
                                if 0 <= r < Ho and 0 <= q < Wo:
                                    y[n, o, r, q] += x[n, c, h, w] * W[c, o, i, j]
    if b is not None:
        for n in range(N):
            for o in range(O):
                for r in range(Ho):
                    for q in range(Wo):
                        y[n, o, r, q] += b[o]
    return y


def conv_transpose2d_backward(dy, x, W, stride, padding):
    """Adjoint of :func:`conv_transpose2d`: each scattered term
    ``y[n, o, r, q] += x[n, c, h, w] * W[c, o, i, j]`` (``r = h*s - p + i``, ``q = w*s - p + j``,
    inside the output) sends back

    ``dx[n, c, h, w] += W[c, o, i, j] * dy[n, o, r, q]``,
    ``dW[c, o, i, j] += x[n, c, h, w] * dy[n, o, r, q]``, and ``db[o] = sum_{n, r, q} dy[n, o, r, q]``.

    The output size (and so ``output_padding``) is read off ``dy``. Returns ``(dx, dW, db)``.
    """
    dy, x, W = _f64(dy), _f64(x), _f64(W)
    N, C, H, Wd = x.shape
    _, O, kh, kw = W.shape
    _, _, Ho, Wo = dy.shape
    s, p = stride, padding
    dx = np.zeros(x.shape)
    dW = np.zeros(W.shape)
    db = np.zeros(O)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for w in range(Wd):
                    for o in range(O):
                        for i in range(kh):
                            for j in range(kw):
                                r = h * s - p + i
                                q = w * s - p + j
                                if 0 <= r < Ho and 0 <= q < Wo:
                                    dx[n, c, h, w] += W[c, o, i, j] * dy[n, o, r, q]
                                    dW[c, o, i, j] += x[n, c, h, w] * dy[n, o, r, q]
    for n in range(N):
        for o in range(O):
            for r in range(Ho):
                for q in range(Wo):
                    db[o] += dy[n, o, r, q]
    return dx, dW, db


# ---- batch normalisation -------------------------------------------------------------------------
def _channel_positions(shape):
    """Every index of an array of ``shape`` with the channel axis 1 left out, as a list of
    ``(n, rest)`` pairs: ``x[(n, c, *rest)]`` runs over one channel's m values."""
    return [(n, rest) for n in range(shape[0]) for rest in np.ndindex(*shape[2:])]


def batchnorm_train(x, gamma, beta, eps):
    """Training-mode batch norm over every axis but the channel axis 1 ((N, C) or (N, C, H, W)),
    each channel ``c`` with its m values (``m = N`` or ``N*H*W``):

    ``mean_c = (1/m) sum x``, ``var_c = (1/m) sum (x - mean_c)^2`` (biased),
    ``y = gamma_c (x - mean_c) / sqrt(var_c + eps) + beta_c``.

    Returns ``(y, mean, var)``, ``mean`` and ``var`` of shape (C,).
    """
    x, gamma, beta = _f64(x), _f64(gamma), _f64(beta)
    C = x.shape[1]
    positions = _channel_positions(x.shape)
    m = len(positions)
    y = np.zeros(x.shape)
    mean = np.zeros(C)
    var = np.zeros(C)
    for c in range(C):
        total = 0.0
        for n, rest in positions:
            total += x[(n, c, *rest)]
        mean[c] = total / m
        total = 0.0
        for n, rest in positions:
            total += (x[(n, c, *rest)] - mean[c]) ** 2
        var[c] = total / m
        std = np.sqrt(var[c] + eps)
        for n, rest in positions:
            y[(n, c, *rest)] = gamma[c] * (x[(n, c, *rest)] - mean[c]) / std + beta[c]
    return y, mean, var


def batchnorm_eval(x, gamma, beta, running_mean, running_var, eps):
    """Evaluation-mode batch norm: the running statistics in place of the batch's,
    ``y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c``."""
    x, gamma, beta = _f64(x), _f64(gamma), _f64(beta)
    running_mean, running_var = _f64(running_mean), _f64(running_var)
    y = np.zeros(x.shape)
    for c in range(x.shape[1]):
        std = np.sqrt(running_var[c] + eps)
        for n, rest in _channel_positions(x.shape):
            idx = (n, c, *rest)
            y[idx] = gamma[c] * (x[idx] - running_mean[c]) / std + beta[c]
    return y


def batchnorm_running_stats(running_mean, running_var, mean, var, m, momentum):
    """PyTorch's update of the running statistics from one training batch of m values per
    channel: ``running_mean <- (1 - momentum) running_mean + momentum mean`` and
    ``running_var <- (1 - momentum) running_var + momentum var * m / (m - 1)`` (the *unbiased*
    batch variance). Returns the new ``(running_mean, running_var)``; the inputs are untouched.
    """
    running_mean, running_var = _f64(running_mean), _f64(running_var)
    new_mean = np.zeros(running_mean.shape)
    new_var = np.zeros(running_var.shape)
    for c in range(running_mean.shape[0]):
        new_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean[c]
        new_var[c] = (1 - momentum) * running_var[c] + momentum * var[c] * m / (m - 1)
    return new_mean, new_var


def batchnorm_backward(dy, x, gamma, eps):
    """Gradients of :func:`batchnorm_train`, by the chain rule one term at a time, per channel
    (``mu``, ``var`` the batch statistics, ``inv = 1/sqrt(var + eps)``, sums over the channel's
    m values):

    - ``dx_hat = dy * gamma``
    - ``dvar = sum(dx_hat * (x - mu)) * (-1/2) * (var + eps)^(-3/2)``
    - ``dmean = sum(-dx_hat * inv) + dvar * sum(-2 (x - mu)) / m``
    - ``dx = dx_hat * inv + dvar * 2 (x - mu) / m + dmean / m``
    - ``dgamma = sum(dy * x_hat)``, ``dbeta = sum(dy)``, ``x_hat = (x - mu) * inv``.

    Returns ``(dx, dgamma, dbeta)``.
    """
    dy, x, gamma = _f64(dy), _f64(x), _f64(gamma)
    C = x.shape[1]
    positions = _channel_positions(x.shape)
    m = len(positions)
    _, mean, var = batchnorm_train(x, gamma, np.zeros(C), eps)
    dx = np.zeros(x.shape)
    dgamma = np.zeros(C)
    dbeta = np.zeros(C)
    for c in range(C):
        mu = mean[c]
        inv = 1.0 / np.sqrt(var[c] + eps)
        dvar = 0.0
        for n, rest in positions:
            idx = (n, c, *rest)
            dx_hat = dy[idx] * gamma[c]
            dvar += dx_hat * (x[idx] - mu)
        dvar *= -0.5 * (var[c] + eps) ** -1.5
        dmean = 0.0
        centred_sum = 0.0
        for n, rest in positions:
            idx = (n, c, *rest)
            dmean += -dy[idx] * gamma[c] * inv
            centred_sum += -2.0 * (x[idx] - mu)
        dmean += dvar * centred_sum / m
        for n, rest in positions:
            idx = (n, c, *rest)
            dx_hat = dy[idx] * gamma[c]
            dx[idx] = dx_hat * inv + dvar * 2.0 * (x[idx] - mu) / m + dmean / m
            dgamma[c] += dy[idx] * (x[idx] - mu) * inv
            dbeta[c] += dy[idx]
    return dx, dgamma, dbeta
