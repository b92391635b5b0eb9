"""Training dynamics: kernel regression, gradient-flow closed forms, linearisation, finite-width training.

Submodules each hold one job; their public names are re-exported here.
"""

from .kernel_regression import KernelSolve, cholesky_solve, kernel_regression

__all__ = ["KernelSolve", "cholesky_solve", "kernel_regression"]
