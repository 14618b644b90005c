r"""The minimax lab: train GANs on toy data in seconds, with any objective of
:mod:`minigan.objectives`, and check the theory of the objective.

- :mod:`minigan.lab.toy_gan`: :class:`ToyGAN`, small MLPs and their training loop (1-D and 2-D);
  :func:`point_gradients`, the generator loss's gradient at each generated point.
- :mod:`minigan.lab.games`: per objective, the toy's settings (:data:`TOY_SETTINGS`), how its
  numbers read (:func:`readout`), and its generator loss against D's output
  (:func:`generator_loss_curves`, ``minigan lab losses``).
- :mod:`minigan.lab.frames`: :func:`run_toy` (``minigan toy``): frames, a GIF and a final PNG
  with D(x) as a heat map, the points, the generator's push as arrows, and the loss curves.
- :mod:`minigan.lab.theory`: statements 1-3, the optimal discriminator, the value
  :math:`-\log 4 + 2\,\mathrm{JSD}` at the optimum, and saturation (``minigan lab ...``).
- :mod:`minigan.lab.modes`: statement 4, :func:`count_modes` and mode collapse over training,
  per objective.
- :mod:`minigan.lab.figures`: the figures of the checks (matplotlib imported inside).
- :mod:`minigan.lab.mistakes` (and ``mistakes_toy``, ``mistakes_figures``): six classic GAN
  mistakes, each measured against the correct version (``minigan lab mistakes``,
  ``docs/mistakes.md``).

The tutorial that derives each statement is ``docs/minimax.md``; the objectives in the lab are
``docs/objectives.md``'s "In the lab". Nothing here needs more than
NumPy until a picture is drawn.

>>> import numpy as np
>>> from minigan.lab import ToyGAN, count_modes
>>> gan = ToyGAN("grid25", rng=np.random.default_rng(0))
>>> count_modes(gan.generate(1000), gan.dist.centers, gan.dist.std).covered  # untrained
1
"""

from minigan.lab.frames import ToyRenderer, ToyResult, run_toy
from minigan.lab.games import (
    BCE_LOSSES,
    TOY_SETTINGS,
    LossCurves,
    Readout,
    generator_loss_curves,
    readout,
    toy_settings,
)
from minigan.lab.mistakes import (
    MISTAKES,
    batchnorm_sampling,
    bce_overflow,
    naive_bce_terms,
    run_mistake,
    stable_bce_terms,
)
from minigan.lab.mistakes_toy import WrongSignG
from minigan.lab.modes import ModeCoverage, ModeRun, count_modes, mode_collapse_runs, mode_table
from minigan.lab.theory import (
    LOG4,
    OPTIMAL_D_TOL,
    VALUE_TOL,
    OptimalDResult,
    SaturationRun,
    ValueResult,
    check_optimal_d,
    check_value,
    default_generators,
    discriminator_prob,
    gaussian,
    jsd,
    measure_saturation,
    optimal_discriminator,
    train_discriminator,
    value_estimate,
)
from minigan.lab.toy_gan import ToyGAN, TrainingLog, point_gradients, toy_mlps

__all__ = [
    "BCE_LOSSES",
    "LOG4",
    "MISTAKES",
    "OPTIMAL_D_TOL",
    "TOY_SETTINGS",
    "VALUE_TOL",
    "LossCurves",
    "ModeCoverage",
    "ModeRun",
    "OptimalDResult",
    "Readout",
    "SaturationRun",
    "ToyGAN",
    "ToyRenderer",
    "ToyResult",
    "TrainingLog",
    "ValueResult",
    "WrongSignG",
    "batchnorm_sampling",
    "bce_overflow",
    "check_optimal_d",
    "check_value",
    "count_modes",
    "default_generators",
    "discriminator_prob",
    "gaussian",
    "generator_loss_curves",
    "jsd",
    "measure_saturation",
    "mode_collapse_runs",
    "mode_table",
    "naive_bce_terms",
    "optimal_discriminator",
    "point_gradients",
    "readout",
    "run_mistake",
    "run_toy",
    "stable_bce_terms",
    "toy_mlps",
    "toy_settings",
    "train_discriminator",
    "value_estimate",
]
