"""Lazy-regime measurements over widths and seeds (chapter 1).

Two questions the lazy-training literature answers with a rate or a limit, asked of finite
networks:

* *does the training loss reach zero while the weights barely move?* --
  :func:`fit_to_tolerance` trains a network by full-batch gradient descent for exactly as many
  steps as its first-order Taylor model needs to bring the squared loss to a tolerance
  (:func:`gd_steps_to_tolerance`, exact for the Taylor model), and reports the loss the network
  itself reached and how far its weights moved;
* *how fast does a quantity fall with the width?* -- :func:`seed_slopes` fits one log-log slope
  per random seed, so that the rate comes with an interval over seeds
  (:func:`ntkbook.claims.interval`) instead of one fit of the seeds' mean.

Examples
--------
>>> import numpy as np
>>> from ntkbook import lazy
>>> widths = np.array([256, 512, 1024])
>>> values = np.array([[1.0, 0.5 ** 0.5, 0.5], [2.0, 2 * 0.5 ** 0.5, 1.0]])   # two seeds
>>> np.round(lazy.seed_slopes(widths, values), 6)
array([-0.5, -0.5])
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from . import _checks
from .dynamics import gd_trajectory, relative_weight_change
from .empirical import entk_fn, flatten_entk

__all__ = ["ToleranceFit", "gd_steps_to_tolerance", "fit_to_tolerance", "seed_slopes"]


def gd_steps_to_tolerance(theta, residual, lr: float, tol: float, max_steps: int = 1_000_000) -> int:
    """Fewest gradient steps after which the Taylor model's squared loss is ``<= tol`` of its start.

    Gradient descent with step ``lr`` on ``L = 1/2 ||f - y||^2`` with a constant kernel ``theta``
    moves the residual by ``r_k = (I - lr theta)^k r_0``, so along the eigenvectors ``u_i`` of
    ``theta`` (eigenvalues ``lambda_i``) the loss ratio after ``k`` steps is
    ``sum_i (u_i . r_0)^2 (1 - lr lambda_i)^(2k) / ||r_0||^2``.  It is non-increasing in ``k``
    when ``lr < 2 / lambda_max``; the smallest ``k`` that brings it to ``tol`` is found by
    doubling and bisection.

    Parameters
    ----------
    theta : array, shape (N, N)
        Symmetric positive semi-definite kernel on the training inputs (the eNTK at
        initialisation for one output).
    residual : array, shape (N,)
        ``f_0 - y`` at initialisation (not all zero).
    lr
        Step size, in ``(0, 2 / lambda_max(theta))``.
    tol
        Target loss ratio in ``(0, 1)``.
    max_steps
        Give up beyond this many steps.

    Returns
    -------
    int
        ``k >= 1`` with ratio(k) <= tol < ratio(k - 1) (ratio(0) = 1).

    Raises
    ------
    ValueError
        Bad shapes, ``lr`` outside the stable range, or a tolerance the Taylor model cannot reach
        within ``max_steps`` (residual mass on the kernel's null space, or too small a ``tol``).
    """
    theta = _checks.symmetric_matrix(theta, "theta")
    r = _checks.finite_array(residual, "residual", ndim=1)
    if r.shape[0] != theta.shape[0]:
        raise ValueError(f"residual has {r.shape[0]} entries but theta is {theta.shape}.")
    tol = _checks.real_scalar(tol, "tol", low=0.0, high=1.0, low_open=True, high_open=True)
    max_steps = _checks.positive_int(max_steps, "max_steps")
    lam, u = np.linalg.eigh(theta)
    if lam[0] < -1e-10 * max(lam[-1], 1e-300):
        raise ValueError(f"theta must be positive semi-definite; its smallest eigenvalue is {lam[0]:.3g}.")
    lr = _checks.real_scalar(lr, "lr", low=0.0, high=2.0 / lam[-1], low_open=True, high_open=True)
    mass = (u.T @ r) ** 2
    total = float(mass.sum())
    if total == 0.0:
        raise ValueError("residual is zero: the loss is already 0 and no tolerance is defined.")
    log_factor = 2.0 * np.log(np.abs(1.0 - lr * np.clip(lam, 0.0, None)) + 1e-300)

    def ratio(k: int) -> float:
        return float(np.sum(mass * np.exp(k * log_factor)) / total)

    hi = 1
    while ratio(hi) > tol:
        hi *= 2
        if hi > max_steps:
            raise ValueError(
                f"the Taylor model does not reach a loss ratio of {tol} within "
                f"max_steps={max_steps} steps (ratio {ratio(max_steps):.3g} there)."
            )
    lo = hi // 2  # ratio(lo) > tol (or lo == 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ratio(mid) <= tol:
            hi = mid
        else:
            lo = mid
    return hi


class ToleranceFit(NamedTuple):
    """What :func:`fit_to_tolerance` measured for one network.

    Attributes
    ----------
    steps : int
        Gradient steps taken (those its Taylor model needs to reach ``tol``).
    lr : float
        The step size, ``lr_scale / lambda_max(Theta_0)``.
    kernel_time : float
        ``lambda_max * lr * steps``: the training time in units of the fastest mode.
    taylor_ratio : float
        The Taylor model's final loss over its initial loss (``<= tol`` by construction).
    net_ratio : float
        The network's final loss over its initial loss.
    weight_change : float
        ``||theta_T - theta_0|| / ||theta_0||`` at the end of the run.
    """

    steps: int
    lr: float
    kernel_time: float
    taylor_ratio: float
    net_ratio: float
    weight_change: float


def fit_to_tolerance(
    apply_fn, params0, x, y, *, tol: float, lr_scale: float = 1.0, max_steps: int = 100_000
) -> ToleranceFit:
    """Train a one-output network until its Taylor model's loss would be ``tol`` of the start.

    The step count is chosen *before* training, from the eNTK at initialisation alone
    (:func:`gd_steps_to_tolerance`): it is the time the lazy-training picture says suffices. The
    network is then trained for that many full-batch gradient steps on
    ``L = 1/2 sum_i (f(x_i) - y_i)^2`` (:func:`ntkbook.dynamics.gd_trajectory`); if the picture
    holds, its loss ratio is close to ``tol`` and its weights moved little.

    Parameters
    ----------
    apply_fn, params0
        The network (one output) and its initial parameters.
    x : array, shape (N, ...)
        Training inputs.
    y : array, shape (N,)
        Targets.
    tol
        Target loss ratio in ``(0, 1)``.
    lr_scale
        ``lr = lr_scale / lambda_max(Theta_0)``, in ``(0, 2)``.
    max_steps
        Refuse to train longer than this.

    Returns
    -------
    ToleranceFit
    """
    x = _checks.finite_array(x, "x")
    y = _checks.finite_array(y, "y", ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y has {y.shape[0]} targets but x has {x.shape[0]} rows.")
    lr_scale = _checks.real_scalar(lr_scale, "lr_scale", low=0.0, high=2.0, low_open=True, high_open=True)
    xj = jnp.asarray(x)
    f0 = np.asarray(apply_fn(params0, xj), dtype=np.float64)
    if f0.ndim != 2 or f0.shape[1] != 1:
        raise ValueError(f"apply_fn must have one output; it returns shape {f0.shape}.")
    theta0 = flatten_entk(np.asarray(entk_fn(apply_fn)(xj, None, params0), dtype=np.float64))
    lam_max = float(np.linalg.eigvalsh(theta0)[-1])
    lr = lr_scale / lam_max
    steps = gd_steps_to_tolerance(theta0, f0[:, 0] - y, lr, tol, max_steps=max_steps)
    r0 = f0[:, 0] - y
    lam, u = np.linalg.eigh(theta0)
    taylor = float(np.sum((u.T @ r0) ** 2 * (1 - lr * lam) ** (2 * steps)) / np.sum(r0**2))
    traj = gd_trajectory(apply_fn, params0, x, y, lr, steps, record_every=steps, keep_params=False)
    return ToleranceFit(
        steps=steps,
        lr=lr,
        kernel_time=lam_max * lr * steps,
        taylor_ratio=taylor,
        net_ratio=float(traj.loss[-1] / traj.loss[0]),
        weight_change=relative_weight_change(traj.params[-1], params0),
    )


def seed_slopes(widths, values) -> np.ndarray:
    """One least-squares log-log slope of ``values`` against ``widths`` per seed.

    Parameters
    ----------
    widths : array, shape (W,)
        Positive widths, ``W >= 2``.
    values : array, shape (S, W)
        Positive values, one row per seed.

    Returns
    -------
    numpy.ndarray, shape (S,)
        The slope ``a`` of ``log v = a log w + b`` fitted to each row.
    """
    w = _checks.finite_array(widths, "widths", ndim=1)
    v = _checks.finite_array(values, "values", ndim=2)
    if w.shape[0] < 2 or v.shape[1] != w.shape[0]:
        raise ValueError(
            f"values must have shape (seeds, {w.shape[0]}) with at least 2 widths; got {v.shape}."
        )
    if np.any(w <= 0) or np.any(v <= 0):
        raise ValueError("widths and values must be positive for a log-log fit.")
    lw = np.log(w) - np.log(w).mean()
    lv = np.log(v)
    # the least-squares slope of each row: cov(log w, log v) / var(log w)
    return (lv - lv.mean(axis=1, keepdims=True)) @ lw / float(lw @ lw)
