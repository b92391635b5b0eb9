"""Gradient flow in function space: closed forms for the squared loss, an ODE solve for cross-entropy.

With a kernel ``Theta`` that stays constant during training (the infinite-width
NTK, or the empirical NTK of a linearised network), gradient flow on the
*summed* squared loss ``L = 1/2 sum_i ||f(x_i) - y_i||^2`` moves the outputs as

    d f_t(X)/dt = -Theta(X, X) (f_t(X) - Y),
    d f_t(x)/dt = -Theta(x, X) (f_t(X) - Y)          (any other input x),

whose solutions are, with ``Theta(X, X) = V diag(lambda) V^T``,

    f_t(X) = Y + V diag(exp(-lambda t)) V^T (f_0(X) - Y),
    f_t(x) = f_0(x) - Theta(x, X) V diag((1 - exp(-lambda t)) / lambda) V^T (f_0(X) - Y).

The factor ``(1 - exp(-lambda t)) / lambda`` tends to ``t`` as ``lambda -> 0``, so
the out-of-sample form needs no inverse and is defined for a singular
``Theta``; as ``t -> infinity`` (positive-definite ``Theta``) it becomes kernel
regression, ``f_0(x) + Theta(x, X) Theta^{-1} (Y - f_0(X))``.

In the eigenbasis the training residual decouples: its component along the
``i``-th eigenvector decays as ``exp(-lambda_i t)`` (:func:`residual_spectrum`),
so directions of large eigenvalue are learned first.

Cross-entropy has no closed form: ``d f/dt = -Theta (softmax(f) - Y)`` is solved
numerically by :func:`xent_flow` with JAX's adaptive Dormand-Prince integrator
(``jax.experimental.ode.odeint``, an embedded 5th/4th-order Runge-Kutta pair
with step control on ``rtol``/``atol``).

Multi-output conventions: every output shares the same kernel (the
infinite-width NTK is ``Theta ⊗ I_O``), so ``Theta`` is ``N x N`` and acts on the
``N x O`` output matrix column by column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _checks, losses

__all__ = ["MSEFlow", "mse_flow", "linear_regression_flow", "residual_spectrum", "solve_ode", "xent_flow"]


class MSEFlow(NamedTuple):
    """Outputs along gradient flow at the requested times.

    Attributes
    ----------
    train : ndarray, shape (T, N, O) (or (T, N) for 1-D targets)
        ``f_t(X)``.
    test : ndarray, shape (T, M, O) (or (T, M)), or None
        ``f_t(x)`` on the test inputs when a test kernel was given.
    """

    train: np.ndarray
    test: np.ndarray | None


def _times(t) -> np.ndarray:
    t = _checks.finite_array(t, "t", ndim=(0, 1), dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise ValueError("t must hold at least one time.")
    if np.any(t < 0):
        raise ValueError(f"t must be >= 0 (gradient flow runs forward); got min {t.min()}.")
    return t


def _train_inputs(theta, f0, y) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Check and reshape (Theta, f0, Y) to float64 ``(N, N), (N, O), (N, O)``."""
    theta = _checks.nonempty(_checks.symmetric_matrix(theta, "theta"), "theta")
    n = theta.shape[0]
    y = _checks.nonempty(_checks.finite_array(y, "y", ndim=(1, 2), dtype=np.float64), "y")
    vector = y.ndim == 1
    y = y.reshape(len(y), -1)
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but theta is {n}x{n}.")
    if f0 is None:
        f0 = np.zeros_like(y)
    f0 = _checks.finite_array(f0, "f0", ndim=(1, 2), dtype=np.float64)
    f0 = f0.reshape(len(f0), -1) if f0.size else f0.reshape(len(f0), 0)
    if f0.shape != y.shape:
        raise ValueError(
            f"f0 has shape {f0.shape} but y has shape {y.shape} (after making both 2-D); they must agree."
        )
    return theta, f0, y, vector


def _test_inputs(theta_test_train, f0_test, n: int, o: int) -> tuple[np.ndarray, np.ndarray]:
    k = _checks.finite_array(theta_test_train, "theta_test_train", ndim=2, dtype=np.float64)
    if k.shape[1] != n:
        raise ValueError(f"theta_test_train has {k.shape[1]} columns but there are {n} training points.")
    if f0_test is None:
        f0_test = np.zeros((k.shape[0], o))
    f0_test = _checks.finite_array(f0_test, "f0_test", ndim=(1, 2), dtype=np.float64)
    f0_test = f0_test.reshape(len(f0_test), -1) if f0_test.size else f0_test.reshape(len(f0_test), 0)
    if f0_test.shape != (k.shape[0], o):
        raise ValueError(
            f"f0_test has shape {f0_test.shape}; expected {(k.shape[0], o)} "
            "(one row per test point, one column per output)."
        )
    return k, f0_test


def _eigh(theta: np.ndarray, name: str = "theta") -> tuple[np.ndarray, np.ndarray]:
    lam, vec = np.linalg.eigh(theta)
    # A kernel matrix is positive semi-definite; eigenvalues a little below zero
    # are rounding.  A clearly negative one means the input is not a kernel.
    tol = 1e-8 * max(abs(lam[-1]), np.finfo(np.float64).tiny)
    if lam[0] < -tol:
        raise ValueError(
            f"{name} must be positive semi-definite; its smallest eigenvalue is "
            f"{lam[0]:.3g} (largest {lam[-1]:.3g})."
        )
    return np.clip(lam, 0.0, None), vec


def _phi(lam: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(1 - exp(-lambda t)) / lambda`` with its limit ``t`` at ``lambda = 0``, shape (T, N)."""
    lt = np.outer(t, lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.expm1(-lt) / lam[None, :]
    return np.where(lam[None, :] > 0, out, t[:, None])


def mse_flow(theta, f0, y, t, *, theta_test_train=None, f0_test=None) -> MSEFlow:
    """Closed-form gradient flow on the squared loss with a constant kernel.

    Parameters
    ----------
    theta : array, shape (N, N)
        Kernel on the training inputs (symmetric positive semi-definite).
    f0 : array, shape (N,) or (N, O), or None
        Outputs at ``t = 0`` on the training inputs (``None``: zeros).
    y : array, shape (N,) or (N, O)
        Targets.
    t : float or array, shape (T,)
        Times (>= 0), in the units of ``d f/dt = -Theta (f - Y)``: ``lr * steps``
        for gradient descent on the summed loss ``1/2 sum ||f - y||^2``.
    theta_test_train : array, shape (M, N), optional
        Kernel between test and training inputs.
    f0_test : array, shape (M,) or (M, O), optional
        Test outputs at ``t = 0`` (``None``: zeros).

    Returns
    -------
    MSEFlow
        ``train`` of shape (T, N, O) and ``test`` of shape (T, M, O) (the output
        axis dropped when ``y`` is 1-D).

    Raises
    ------
    ValueError
        Non-finite, non-symmetric or indefinite ``theta``; shapes that disagree;
        negative times.
    """
    theta, f0, y, vector = _train_inputs(theta, f0, y)
    t = _times(t)
    lam, vec = _eigh(theta)
    r0 = vec.T @ (f0 - y)  # (N, O) residual in eigenbasis
    decay = np.exp(-np.outer(t, lam))  # (T, N)
    train = y[None] + np.einsum("ni,ti,io->tno", vec, decay, r0)
    test = None
    if theta_test_train is not None:
        k, f0_test = _test_inputs(theta_test_train, f0_test, *y.shape)
        kv = k @ vec  # (M, N)
        test = f0_test[None] - np.einsum("mi,ti,io->tmo", kv, _phi(lam, t), r0)
    if vector:
        train = train[..., 0]
        test = None if test is None else test[..., 0]
    return MSEFlow(train=train, test=test)


def linear_regression_flow(X, y, t, w0=None) -> np.ndarray:
    """Weights of the linear model ``f(x) = x^T w`` along gradient flow on ``1/2 ||X w - y||^2``.

    In function space this is :func:`mse_flow` with the kernel ``X X^T``; the
    weights are the model's outputs on the unit vectors ``e_j``, whose kernel
    with the training inputs is ``X^T``, so they come from the out-of-sample form.
    From ``w0 = 0`` the flow tends to the minimum-norm least-squares solution.

    Parameters
    ----------
    X : array, shape (N, d)
        Inputs.
    y : array, shape (N,) or (N, O)
        Targets.
    t : float or array, shape (T,)
        Times.
    w0 : array, shape (d,) or (d, O), optional
        Initial weights (default zeros).

    Returns
    -------
    ndarray, shape (T, d) or (T, d, O)
    """
    X = _checks.nonempty(_checks.finite_array(X, "X", ndim=2, dtype=np.float64), "X")
    y = _checks.nonempty(_checks.finite_array(y, "y", ndim=(1, 2), dtype=np.float64), "y")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}.")
    y2 = y.reshape(len(y), -1)
    if w0 is None:
        w0 = np.zeros((X.shape[1], y2.shape[1]))
    w0 = _checks.finite_array(w0, "w0", ndim=(1, 2), dtype=np.float64)
    w0 = w0[:, None] if w0.ndim == 1 else w0
    if w0.shape != (X.shape[1], y2.shape[1]):
        raise ValueError(f"w0 has shape {w0.shape}; expected {(X.shape[1], y2.shape[1])}.")
    out = mse_flow(X @ X.T, X @ w0, y2, t, theta_test_train=X.T, f0_test=w0).test
    assert out is not None  # a test kernel was passed, so the flow has test outputs
    return out[..., 0] if y.ndim == 1 else out


def residual_spectrum(theta, residuals) -> tuple[np.ndarray, np.ndarray]:
    """Project residuals ``f_t(X) - Y`` onto the eigenvectors of ``Theta``.

    Under constant-kernel gradient flow the ``i``-th coefficient is
    ``exp(-lambda_i t)`` times its value at ``t = 0``; comparing the measured
    coefficients of a trained network with that law is the spectral picture of
    which directions are learned first.

    Parameters
    ----------
    theta : array, shape (N, N)
        Kernel on the training inputs.
    residuals : array, shape (T, N) or (T, N, O)
        Residuals along training.

    Returns
    -------
    eigenvalues : ndarray, shape (N,)
        In *decreasing* order.
    coefficients : ndarray, shape (T, N) or (T, N, O)
        ``V^T r_t``, columns in the same order as ``eigenvalues``.
    """
    theta = _checks.nonempty(_checks.symmetric_matrix(theta, "theta"), "theta")
    r = _checks.nonempty(
        _checks.finite_array(residuals, "residuals", ndim=(2, 3), dtype=np.float64), "residuals"
    )
    if r.shape[1] != theta.shape[0]:
        raise ValueError(
            f"residuals have {r.shape[1]} samples per time but theta is {theta.shape[0]}x{theta.shape[0]}."
        )
    lam, vec = _eigh(theta)
    lam, vec = lam[::-1], vec[:, ::-1]
    coeffs = np.einsum("ni,tn...->ti...", vec, r)
    return lam, coeffs


def solve_ode(
    rhs: Callable, y0, t, *, rtol: float = 1e-8, atol: float = 1e-8, mxstep: int = 100_000
) -> np.ndarray:
    """Integrate ``dy/dt = rhs(y, t)`` with JAX's adaptive Dormand-Prince method.

    A thin, checked front to ``jax.experimental.ode.odeint``: an embedded
    Runge-Kutta 5(4) pair whose step size keeps the local error estimate below
    ``atol + rtol * |y|`` in every component.

    Parameters
    ----------
    rhs
        ``rhs(y, t) -> dy/dt`` written with ``jax.numpy``; ``y`` has the shape of ``y0``.
    y0 : array
        State at ``t[0]``.
    t : array, shape (T,)
        Increasing output times; ``t[0]`` is the time of ``y0``.
    rtol, atol
        Relative and absolute tolerances (> 0).
    mxstep
        Largest number of steps between two output times.

    Returns
    -------
    ndarray, shape ``(T, *y0.shape)``

    Raises
    ------
    ValueError
        Non-finite ``y0``; ``t`` not strictly increasing; non-positive tolerances;
        a solution that became non-finite (the message names the first bad time).
    """
    from jax.experimental.ode import odeint

    if not callable(rhs):
        raise TypeError(f"rhs must be callable; got {type(rhs).__name__}.")
    y0 = _checks.nonempty(_checks.finite_array(y0, "y0", dtype=np.float64), "y0")
    t = _checks.finite_array(t, "t", ndim=1, dtype=np.float64)
    if len(t) < 1 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a non-empty, strictly increasing 1-D array of times.")
    rtol = _checks.real_scalar(rtol, "rtol", low=0.0, low_open=True)
    atol = _checks.real_scalar(atol, "atol", low=0.0, low_open=True)
    mxstep = _checks.positive_int(mxstep, "mxstep")
    out = np.asarray(odeint(rhs, jnp.asarray(y0), jnp.asarray(t), rtol=rtol, atol=atol, mxstep=mxstep))
    bad = ~np.isfinite(out.reshape(len(t), -1)).all(axis=1)
    if bad.any():
        raise ValueError(
            f"the ODE solution is non-finite from t={t[np.argmax(bad)]:.4g} on "
            f"(it diverged, or mxstep={mxstep} steps were not enough)."
        )
    return out


def xent_flow(
    theta, f0, y_onehot, t, *, theta_test_train=None, f0_test=None, rtol: float = 1e-8, atol: float = 1e-8
) -> MSEFlow:
    """Gradient flow of the summed cross-entropy loss with a constant kernel, solved numerically.

    Solves

        d f_t(X)/dt = -Theta(X, X) (softmax(f_t(X)) - Y),
        d f_t(x)/dt = -Theta(x, X) (softmax(f_t(X)) - Y),

    jointly with :func:`solve_ode` (Dormand-Prince, tolerances ``rtol``/``atol``).
    ``L = sum_i CE(f(x_i), y_i)``: gradient descent with step ``lr`` on the
    *mean* loss over ``N`` samples is time ``t = lr * steps / N``.

    Parameters
    ----------
    theta : array, shape (N, N)
        Kernel on the training inputs.
    f0 : array, shape (N, K), or None
        Logits at ``t = 0`` (``None``: zeros).
    y_onehot : array, shape (N, K)
        Target distributions (rows of non-negative numbers summing to 1).
    t : array, shape (T,)
        Increasing times starting at 0.
    theta_test_train : array, shape (M, N), optional
    f0_test : array, shape (M, K), optional

    Returns
    -------
    MSEFlow
        Logits ``train`` (T, N, K) and ``test`` (T, M, K) or None.
    """
    theta, f0, y, _ = _train_inputs(theta, f0, y_onehot)
    if np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0, atol=1e-8):
        raise ValueError("y_onehot must hold probability rows (non-negative, summing to 1).")
    t = _times(t)
    if t[0] != 0:
        raise ValueError(f"t must start at 0 (the time of f0); got t[0]={t[0]}.")
    n, k = y.shape
    has_test = theta_test_train is not None
    if has_test:
        kt, f0_test = _test_inputs(theta_test_train, f0_test, n, k)
        state0 = np.concatenate([f0, f0_test])
        kfull = np.concatenate([theta, kt])  # (N + M, N)
    else:
        state0, kfull = f0, theta
    kfull_j, y_j = jnp.asarray(kfull), jnp.asarray(y)

    def rhs(state, _t):
        # Only the training logits drive the flow; the test rows follow them.
        return -kfull_j @ losses.output_grad(state[:n], y_j, "xent")

    sol = solve_ode(rhs, state0, t, rtol=rtol, atol=atol)
    return MSEFlow(train=sol[:, :n], test=sol[:, n:] if has_test else None)
