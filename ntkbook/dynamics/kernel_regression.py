"""Kernel (ridge) regression: the t -> infinity limit of gradient flow on the MSE loss.

With a kernel ``K`` on the training inputs, targets ``Y`` and ridge ``lambda``,

    f(x*) = K(x*, X) (K(X, X) + lambda I)^{-1} Y.

The solve uses a Cholesky factorisation, never an explicit inverse.  As in
``neural_tangents.predict``, the ridge is by default *relative*:
``lambda = reg * trace(K) / N``, so one ``reg`` means the same thing for
kernels of different scale (the eNTK and the pNTK of chapter 7, say).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .. import _checks

__all__ = ["KernelSolve", "kernel_regression", "cholesky_solve", "relative_ridge"]


def relative_ridge(K, reg: float) -> float:
    """Absolute ridge ``reg * trace(K) / N`` (the scaling of ``neural_tangents.predict``).

    Parameters
    ----------
    K : array, shape (N, N)
    reg : float, >= 0
    """
    K = _checks.symmetric_matrix(K, "K")
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    if K.shape[0] == 0:
        raise ValueError("K is empty (0 x 0); the relative ridge needs at least one point.")
    return float(reg * np.trace(K) / K.shape[0])


@dataclass(frozen=True)
class KernelSolve:
    """Result of :func:`cholesky_solve`.

    Attributes
    ----------
    alpha : ndarray, shape (N, O)
        ``(K + ridge I)^{-1} Y``.
    ridge : float
        The absolute ridge added to the diagonal.
    condition_number : float
        Condition number of ``K + ridge I``: the exact 2-norm one (from its
        eigenvalues) or LAPACK's 1-norm estimate, as ``condition`` asked.
    factor : tuple or None
        The ``scipy.linalg.cho_factor`` factor of ``K + ridge I``, kept so that
        callers (label refurbishment) can solve again without refactorising.
    """

    alpha: np.ndarray
    ridge: float
    condition_number: float
    factor: tuple | None = None


CONDITION_MODES = ("exact", "estimate")


def cholesky_solve(K, Y, reg: float = 0.0, *, relative: bool = True,
                   max_condition: float = 1e14, condition: str = "exact") -> KernelSolve:
    """Solve ``(K + ridge I) alpha = Y`` by Cholesky.

    Parameters
    ----------
    K : array, shape (N, N)
        Symmetric positive semi-definite kernel matrix.
    Y : array, shape (N,) or (N, O)
        Right-hand sides.
    reg
        Ridge: ``ridge = reg * trace(K)/N`` if ``relative`` else ``reg``.
    max_condition
        Refuse (``ValueError``) a system whose condition number exceeds this.
    condition
        ``"exact"``: the 2-norm condition number from all eigenvalues, an
        O(N^3) eigendecomposition costing about four Cholesky factorisations.
        ``"estimate"``: LAPACK's 1-norm estimate (``pocon``) from the Cholesky
        factor, O(N^2); for callers whose solve is the cheap part of their work
        (label refurbishment factorises once and then runs for many steps).

    Raises
    ------
    ValueError
        Non-symmetric or non-finite ``K``, shape mismatch, negative ``reg``, or a
        system too ill-conditioned to solve (the message gives the condition
        number and the ridge used, and suggests a larger ``reg``).
    """
    K = _checks.symmetric_matrix(K, "K")
    if K.shape[0] == 0:
        raise ValueError("K is empty (0 x 0); there is nothing to solve.")
    Y = _checks.finite_array(Y, "Y", ndim=(1, 2), dtype=np.float64)
    if Y.shape[0] != K.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but K is {K.shape[0]}x{K.shape[0]}.")
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    max_condition = _checks.real_scalar(max_condition, "max_condition", low=1.0)
    _checks.one_of(condition, "condition", CONDITION_MODES)
    n = K.shape[0]
    ridge = relative_ridge(K, reg) if relative else reg
    A = K + ridge * np.eye(n)
    if condition == "exact":
        eig = np.linalg.eigvalsh(A)
        cond = float(eig[-1] / eig[0]) if eig[0] > 0 else np.inf
        detail = f"smallest eigenvalue {eig[0]:.3g}"
        factor = scipy.linalg.cho_factor(A, lower=True) if cond <= max_condition else None
    else:
        try:
            factor = scipy.linalg.cho_factor(A, lower=True)
        except np.linalg.LinAlgError:
            factor, cond = None, np.inf
        else:
            rcond, info = scipy.linalg.lapack.dpocon(factor[0], np.linalg.norm(A, 1), uplo="L")
            cond = float(1.0 / rcond) if info == 0 and rcond > 0 else np.inf
        detail = "1-norm estimate" if np.isfinite(cond) else "Cholesky failed: not positive definite"
    if not cond <= max_condition:
        raise ValueError(
            f"K + ridge I is too ill-conditioned to solve: condition number {cond:.3g} "
            f"(ridge {ridge:.3g}, {detail}); pass a larger reg.")
    return KernelSolve(alpha=scipy.linalg.cho_solve(factor, Y), ridge=ridge, condition_number=cond,
                       factor=factor)


def kernel_regression(K_train, Y, K_test_train=None, reg: float = 0.0, *,
                      relative: bool = True) -> np.ndarray:
    """Kernel-regression predictions ``K(x*, X) (K(X, X) + ridge I)^{-1} Y``.

    Parameters
    ----------
    K_train : array, shape (N, N)
        Kernel on the training inputs.
    Y : array, shape (N,) or (N, O)
        Training targets.
    K_test_train : array, shape (M, N), optional
        Kernel between test and training inputs; ``None`` predicts on the
        training inputs.
    reg, relative
        Ridge, as in :func:`cholesky_solve`.

    Returns
    -------
    ndarray, shape (M, O) or (M,)
    """
    sol = cholesky_solve(K_train, Y, reg, relative=relative)
    if K_test_train is None:
        K_test_train = _checks.finite_array(K_train, "K_train", ndim=2, dtype=np.float64)
    else:
        K_test_train = _checks.finite_array(K_test_train, "K_test_train", ndim=2, dtype=np.float64)
        if K_test_train.shape[1] != sol.alpha.shape[0]:
            raise ValueError(f"K_test_train has {K_test_train.shape[1]} columns but there are "
                             f"{sol.alpha.shape[0]} training points.")
    return K_test_train @ sol.alpha
