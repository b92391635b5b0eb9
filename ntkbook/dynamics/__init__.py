"""Training dynamics: kernel regression, gradient-flow closed forms, linearisation, finite-width training.

Submodules each hold one job; their public names are re-exported here:

* :mod:`.kernel_regression` -- Cholesky kernel (ridge) regression, the t -> infinity limit;
* :mod:`.flow` -- gradient flow in closed form (MSE) and by ODE solver (cross-entropy);
* :mod:`.linearize` -- the first-order Taylor model and lazy-training statistics;
* :mod:`.training` -- finite-width training with optax, the ground truth of Part III.
"""

from .flow import (MSEFlow, linear_regression_flow, mse_flow, residual_spectrum, solve_ode,
                   xent_flow)
from .kernel_regression import KernelSolve, cholesky_solve, kernel_regression
from .linearize import (LazyStats, Trajectory, gd_trajectory, lazy_training, linearize,
                        relative_kernel_change, relative_weight_change, tree_norm)

# `training` imports optax (in both locks), which costs seconds of start-up that the
# training-free tools do not need: `tasks` and `audit` reach `kernel_regression` through this
# package, so the training names are imported on first use instead of here (PEP 562).
_TRAINING_NAMES = ("OPTIMIZERS", "TRAIN_LOSSES", "History", "train")


def __getattr__(name: str):
    if name in _TRAINING_NAMES:
        from . import training
        return getattr(training, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "KernelSolve", "cholesky_solve", "kernel_regression",
    "MSEFlow", "linear_regression_flow", "mse_flow", "residual_spectrum", "solve_ode", "xent_flow",
    "LazyStats", "Trajectory", "gd_trajectory", "lazy_training", "linearize",
    "relative_kernel_change", "relative_weight_change", "tree_norm",
    "History", "train", "TRAIN_LOSSES", "OPTIMIZERS",
]
