"""Layers with PyTorch's names, arguments and parameter layouts, each with its own backward."""

from minigan.nn.activation import Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from minigan.nn.conditional import ConditionalGenerator, ProjectionDiscriminator, WithLabels
from minigan.nn.embedding import Embedding
from minigan.nn.layers import Conv2d, ConvTranspose2d, Flatten, Linear, Reshape
from minigan.nn.module import Module, Parameter, Sequential
from minigan.nn.norm import BatchNorm1d, BatchNorm2d
from minigan.nn.pooling import AvgPool2d, MaxPool2d

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "ConditionalGenerator",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ProjectionDiscriminator",
    "ReLU",
    "Reshape",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "WithLabels",
]
