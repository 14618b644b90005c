"""Layers with PyTorch's names, arguments and parameter layouts, each with its own backward."""

from minigan.nn.activation import Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from minigan.nn.layers import Conv2d, ConvTranspose2d, Flatten, Linear, Reshape
from minigan.nn.module import Module, Parameter, Sequential
from minigan.nn.norm import BatchNorm1d, BatchNorm2d

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Tanh",
]
