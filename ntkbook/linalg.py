"""The linear-algebra floor: Cholesky solves with a reported ridge and condition number.

Every solve of the package with a kernel or Gram matrix goes through here (``dynamics``,
``empirical``, ``tasks``, ``active``, ``audit``), so this module imports nothing of
``ntkbook`` but the shared input checks, and nothing heavier than SciPy: the training-free
tools reach a solve without importing JAX training code or optax.

* :func:`cholesky_solve` -- ``(K + ridge I)^{-1} Y`` by Cholesky, never an explicit inverse,
  returning the ridge it added, the condition number of the system, and the factor;
* :func:`kernel_regression` -- ``K(x*, X) (K(X, X) + ridge I)^{-1} Y``;
* :func:`relative_ridge` -- the ``reg * trace(K) / N`` scaling of ``neural_tangents.predict``;
* :func:`diag_of_inverse` -- ``diag(A^{-1})`` from a Cholesky factor, no inverse formed;
* :func:`inverse_from_factor` -- ``A^{-1}`` from a Cholesky factor (LAPACK ``potri``), for the
  one algorithm that needs every column of it (label refurbishment's incremental updates).

As in ``neural_tangents.predict`` the ridge of :func:`cholesky_solve` is by default
*relative*: ``ridge = reg * trace(K) / N``, so one ``reg`` means the same thing for kernels
of different scale (the eNTK and the pNTK of chapter 7, say).

Examples
--------
>>> import numpy as np
>>> from ntkbook import linalg
>>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
>>> sol = linalg.cholesky_solve(K, np.array([3.0, 3.0]))
>>> sol.alpha, sol.ridge, round(sol.condition_number, 12)
(array([1., 1.]), 0.0, 3.0)
>>> linalg.diag_of_inverse(sol.factor)            # diag of [[2, -1], [-1, 2]] / 3
array([0.66666667, 0.66666667])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from . import _checks

__all__ = [
    "KernelSolve",
    "CONDITION_MODES",
    "cholesky_solve",
    "kernel_regression",
    "relative_ridge",
    "diag_of_inverse",
    "inverse_from_factor",
    "relative_frobenius",
]

CONDITION_MODES: tuple[str, ...] = ("exact", "estimate")
"""Accepted values of ``condition`` in :func:`cholesky_solve`."""


def relative_ridge(K, reg: float) -> float:
    """Absolute ridge ``reg * trace(K) / N`` (the scaling of ``neural_tangents.predict``).

    Parameters
    ----------
    K : array, shape (N, N)
        Symmetric kernel matrix, N >= 1.
    reg : float, >= 0
        Relative ridge.

    Returns
    -------
    float
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
    alpha : ndarray, shape (N,) or (N, O)
        ``(K + ridge I)^{-1} Y``.
    ridge : float
        The absolute ridge added to the diagonal.
    condition_number : float
        Condition number of ``K + ridge I``: the exact 2-norm one (from its
        eigenvalues) or LAPACK's 1-norm estimate, as ``condition`` asked.
    factor : tuple
        The ``scipy.linalg.cho_factor`` pair ``(c, lower)`` of ``K + ridge I``, kept so
        that callers can solve again (:meth:`solve`), read :func:`diag_of_inverse` or form
        :func:`inverse_from_factor` without refactorising.
    """

    alpha: np.ndarray
    ridge: float
    condition_number: float
    factor: tuple[np.ndarray, bool]

    def solve(self, B) -> np.ndarray:
        """``(K + ridge I)^{-1} B`` with the stored factor; ``B`` of shape (N,) or (N, R)."""
        B = _checks.finite_array(B, "B", ndim=(1, 2), dtype=np.float64)
        n = self.factor[0].shape[0]
        if B.shape[0] != n:
            raise ValueError(f"B has {B.shape[0]} rows but the factor is {n}x{n}.")
        return scipy.linalg.cho_solve(self.factor, B)


def cholesky_solve(
    K, Y, reg: float = 0.0, *, relative: bool = True, max_condition: float = 1e14, condition: str = "exact"
) -> KernelSolve:
    """Solve ``(K + ridge I) alpha = Y`` by Cholesky.

    Parameters
    ----------
    K : array, shape (N, N)
        Symmetric positive semi-definite kernel matrix.
    Y : array, shape (N,) or (N, O)
        Right-hand sides.
    reg
        Ridge: ``ridge = reg * trace(K)/N`` if ``relative`` else ``reg``.
    relative
        Whether ``reg`` is relative to the mean diagonal of ``K`` (default) or absolute.
    max_condition
        Refuse (``ValueError``) a system whose condition number exceeds this.
    condition
        ``"exact"``: the 2-norm condition number from all eigenvalues, an
        O(N^3) eigendecomposition costing about four Cholesky factorisations.
        ``"estimate"``: LAPACK's 1-norm estimate (``pocon``) from the Cholesky
        factor, O(N^2); for callers whose solve is the cheap part of their work
        (label refurbishment factorises once and then runs for many steps).

    Returns
    -------
    KernelSolve

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
    factor: tuple | None
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
    if factor is None or not cond <= max_condition:
        raise ValueError(
            f"K + ridge I is too ill-conditioned to solve: condition number {cond:.3g} "
            f"(ridge {ridge:.3g}, {detail}); pass a larger reg."
        )
    return KernelSolve(
        alpha=scipy.linalg.cho_solve(factor, Y), ridge=ridge, condition_number=cond, factor=factor
    )


def kernel_regression(
    K_train, Y, K_test_train=None, reg: float = 0.0, *, relative: bool = True
) -> np.ndarray:
    """Kernel-regression predictions ``K(x*, X) (K(X, X) + ridge I)^{-1} Y``.

    The t -> infinity limit of gradient flow on the squared loss with a constant kernel
    (:mod:`ntkbook.dynamics.flow`).

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
            raise ValueError(
                f"K_test_train has {K_test_train.shape[1]} columns but there are "
                f"{sol.alpha.shape[0]} training points."
            )
    return K_test_train @ sol.alpha


def _check_factor(factor) -> tuple[np.ndarray, bool]:
    """``(c, lower)`` of a ``scipy.linalg.cho_factor`` pair, checked."""
    try:
        c, lower = factor
    except (TypeError, ValueError) as err:
        raise TypeError(
            "factor must be a (c, lower) pair from scipy.linalg.cho_factor or "
            f"KernelSolve.factor; got {type(factor).__name__}."
        ) from err
    c = np.asarray(c)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"factor's matrix must be square; got shape {c.shape}.")
    return c, bool(lower)


def diag_of_inverse(factor) -> np.ndarray:
    """``diag(A^{-1})`` from the Cholesky factor of ``A``; no inverse of ``A`` is formed.

    With ``A = L L^T``, ``A^{-1} = L^{-T} L^{-1}`` and its diagonal is the column sums of
    squares of ``L^{-1}`` (one triangular solve against the identity, O(N^3 / 3)).

    Parameters
    ----------
    factor : tuple
        ``(c, lower)`` from ``scipy.linalg.cho_factor`` (or :attr:`KernelSolve.factor`),
        ``c`` of shape (N, N).

    Returns
    -------
    ndarray, shape (N,)
    """
    c, lower = _check_factor(factor)
    # cho_factor leaves the unused triangle holding junk: read only the factor's own triangle
    L = np.tril(c) if lower else np.triu(c).T
    l_inv = scipy.linalg.solve_triangular(L, np.eye(L.shape[0]), lower=True)
    return np.sum(l_inv**2, axis=0)


def inverse_from_factor(factor) -> np.ndarray:
    """``A^{-1}``, shape (N, N), from the Cholesky factor of ``A`` (LAPACK ``potri``).

    About the cost of the factorisation itself.  The package's one explicit inverse: label
    refurbishment's incremental updates read a different column of it at every flip
    (:mod:`ntkbook.tasks.refurbish`); everything else solves.

    Parameters
    ----------
    factor : tuple
        ``(c, lower)`` from ``scipy.linalg.cho_factor`` (or :attr:`KernelSolve.factor`).

    Returns
    -------
    ndarray, shape (N, N), symmetric

    Raises
    ------
    ValueError
        If LAPACK reports a failure (a zero on the factor's diagonal).
    """
    c, lower = _check_factor(factor)
    inv, info = scipy.linalg.lapack.dpotri(c, lower=int(lower))
    if info != 0:
        raise ValueError(
            f"LAPACK potri failed (info={info}) inverting the factored matrix: "
            "a zero on the factor's diagonal."
        )
    # potri fills one triangle; mirror it
    return np.tril(inv) + np.tril(inv, -1).T if lower else np.triu(inv) + np.triu(inv, 1).T


def relative_frobenius(a, ref, names: tuple[str, str] = ("a", "ref")) -> float:
    """``||a - ref||_F / ||ref||_F`` for two arrays of equal shape (float64).

    The one relative difference behind a kernel's change in training and the pNTK's
    prediction gap (:func:`ntkbook.dynamics.relative_kernel_change`,
    :func:`ntkbook.empirical.relative_prediction_difference`).

    Parameters
    ----------
    a, ref : array, any equal shapes
        The array and its reference (the denominator).
    names
        The two arguments' names as the caller calls them, for the error messages.
    """
    x = _checks.finite_array(a, names[0], dtype=np.float64)
    r = _checks.finite_array(ref, names[1], dtype=np.float64)
    if x.shape != r.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape; got {x.shape} and {r.shape}.")
    norm = float(np.linalg.norm(r))
    if norm == 0:
        raise ValueError(f"{names[1]} is all zeros; the relative difference is undefined.")
    return float(np.linalg.norm(x - r)) / norm
