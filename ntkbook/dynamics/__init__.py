"""Training dynamics: kernel regression, gradient-flow closed forms, linearisation, finite-width training.

Submodules each hold one job; their public names are re-exported here.
"""

from .kernel_regression import KernelSolve, cholesky_solve, kernel_regression
from .flow import (MSEFlow, linear_regression_flow, mse_flow, residual_spectrum, solve_ode,
                   xent_flow)
from .linearize import (LazyStats, Trajectory, gd_trajectory, lazy_training, linearize,
                        relative_kernel_change, relative_weight_change, tree_norm)

# issue 3: finite-width training (ground truth for chapters 10-14)
from .training import OPTIMIZERS, TRAIN_LOSSES, History, train  # noqa: E402

__all__ = ["KernelSolve", "cholesky_solve", "kernel_regression"]
__all__ += ["History", "train", "TRAIN_LOSSES", "OPTIMIZERS"]
__all__ += ["MSEFlow", "linear_regression_flow", "mse_flow", "residual_spectrum", "solve_ode",
            "xent_flow", "LazyStats", "Trajectory", "gd_trajectory", "lazy_training", "linearize",
            "relative_kernel_change", "relative_weight_change", "tree_norm"]
