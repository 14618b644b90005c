"""minigan: a minimal, autograd-free engine for Generative Adversarial Networks.

Every layer, loss and optimizer writes its own forward and backward pass in NumPy.
``import minigan`` needs NumPy alone; Numba, CuPy and matplotlib are optional extras.

>>> import numpy as np, minigan
>>> minigan.seed(0)
>>> layer = minigan.nn.Linear(3, 2)
>>> layer(np.ones((4, 3), dtype=np.float32)).shape
(4, 2)
"""

from minigan import backend, data, functional, losses, models, nn, optim
from minigan.backend import use
from minigan.random import seed

__version__ = "0.1.0"
__all__ = ["backend", "data", "functional", "losses", "models", "nn", "optim", "seed", "use"]
