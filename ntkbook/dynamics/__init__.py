"""Training dynamics: gradient-flow closed forms, linearisation, the training loop, finite-width training.

Submodules each hold one job; their public names are re-exported here:

* :mod:`.flow` -- gradient flow in closed form (MSE) and by ODE solver (cross-entropy);
* :mod:`.linearize` -- the first-order Taylor model, lazy-training statistics and
  :func:`gd_trajectory` (full-batch gradient descent on the summed loss);
* :mod:`.loop` -- the one training loop: the compiled-step cache and the epoch loop with hooks;
* :mod:`.training` -- finite-width training with optax, the ground truth of Part III;
* :mod:`.tuning` -- a training run's learning rate chosen on held-out training rows;
* ``cholesky_solve``, ``kernel_regression`` and ``KernelSolve`` are :mod:`ntkbook.linalg`'s,
  re-exported here (the same objects; no submodule of that name, which would shadow the
  function ``kernel_regression`` as soon as it was imported).

Losses are :mod:`ntkbook.losses`.
"""

from ..linalg import KernelSolve, cholesky_solve, kernel_regression
from .flow import (
    MSEFlow,
    linear_regression_flow,
    mse_flow,
    residual_spectrum,
    solve_ode,
    xent_flow,
)
from .linearize import (
    LazyStats,
    Trajectory,
    gd_trajectory,
    lazy_training,
    linearize,
    relative_kernel_change,
    relative_weight_change,
    tree_norm,
)
from .loop import OPTIMIZERS
from .training import TRAIN_LOSSES, History, TrainingDiverged, train
from .tuning import LrChoice, select_lr, validation_split

__all__ = [
    "KernelSolve",
    "cholesky_solve",
    "kernel_regression",
    "MSEFlow",
    "linear_regression_flow",
    "mse_flow",
    "residual_spectrum",
    "solve_ode",
    "xent_flow",
    "LazyStats",
    "Trajectory",
    "gd_trajectory",
    "lazy_training",
    "linearize",
    "relative_kernel_change",
    "relative_weight_change",
    "tree_norm",
    "History",
    "train",
    "TrainingDiverged",
    "TRAIN_LOSSES",
    "LrChoice",
    "select_lr",
    "validation_split",
    "OPTIMIZERS",
]
