"""Kernel (ridge) regression, the t -> infinity limit of gradient flow on the MSE loss.

The solves live in :mod:`ntkbook.linalg`, the package's linear-algebra floor, so that the
training-free tools (``tasks``, ``active``, ``empirical``, ``audit``) reach them without
importing ``dynamics``.  This module keeps the names chapters and older code import from
here: ``ntkbook.dynamics.kernel_regression.cholesky_solve`` *is*
``ntkbook.linalg.cholesky_solve`` (the same object, not a copy).
"""

from __future__ import annotations

from ..linalg import KernelSolve, cholesky_solve, kernel_regression, relative_ridge

__all__ = ["KernelSolve", "kernel_regression", "cholesky_solve", "relative_ridge"]
