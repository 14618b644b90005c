"""Pure math: one file per op family, ``*_forward(...) -> (y, cache)``, ``*_backward(dy, cache)``,
the losses and the Adam update.

These are the NumPy reference implementations, with the derivations in their docstrings; the
kernels of :mod:`minigan.kernels` are faster versions of them, tested against them.
"""

from minigan.functional.activations import (
    dropout_backward,
    dropout_forward,
    dropout_mask,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from minigan.functional.adam import adam_step_factors, adam_update
from minigan.functional.batchnorm import batchnorm_backward, batchnorm_forward
from minigan.functional.conv import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    conv2d_input_grad,
    conv_output_size,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    conv_transpose2d_input_grad,
    conv_transpose_output_size,
    im2col,
)
from minigan.functional.dense import linear_backward, linear_forward, linear_input_grad
from minigan.functional.embedding import embedding_backward, embedding_forward
from minigan.functional.losses import bce, bce_with_logits, softmax_cross_entropy, softplus
from minigan.functional.pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = [
    "adam_step_factors",
    "adam_update",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "bce",
    "bce_with_logits",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_input_grad",
    "conv_output_size",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_input_grad",
    "conv_transpose_output_size",
    "dropout_backward",
    "dropout_forward",
    "dropout_mask",
    "embedding_backward",
    "embedding_forward",
    "im2col",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "linear_backward",
    "linear_forward",
    "linear_input_grad",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_cross_entropy",
    "softplus",
    "tanh_backward",
    "tanh_forward",
]
