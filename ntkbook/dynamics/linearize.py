"""Linearisation and lazy training: how far a finite network strays from its Taylor model.

The first-order Taylor model of a network around its initial parameters is

    f_lin(x, theta) = f(x, theta_0) + J(x, theta_0) (theta - theta_0),

a *linear* model in ``theta`` whose features are the parameter gradients at
initialisation.  Lee et al. (2019) show that, under gradient descent on the
squared loss, a network in NTK parameterisation of width ``m`` stays within
``O(m^-1/2)`` of this model: the relative weight change, the relative change of
the empirical NTK and ``sup_t |f_t - f_lin_t|`` all shrink like ``m^-1/2``.
This module holds the pieces chapter 1 measures that with:

* :func:`linearize` -- the Taylor model (``neural_tangents.linearize``);
* :func:`gd_trajectory` -- full-batch gradient descent on the squared loss that
  keeps parameter snapshots along the way (what a per-epoch training history
  does not keep);
* :func:`relative_weight_change`, :func:`relative_kernel_change`;
* :func:`lazy_training` -- trains a network and its Taylor model side by side
  and reports the three quantities.

Loss convention.  Gradient descent here minimises the *summed* squared loss
``L = 1/2 sum_i ||f(x_i) - y_i||^2``.  With it, ``k`` steps of size ``lr`` follow
the gradient flow ``d f/dt = -Theta (f - Y)`` of :mod:`ntkbook.dynamics.flow`
up to time ``t = lr * k`` with no rescaling by ``N`` (neural-tangents'
``predict.gradient_descent_mse`` instead uses the mean over all ``N x O``
entries; convert with ``t_nt = t * N * O``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, losses
from ..empirical import entk_fn, flatten_entk
from ..linalg import relative_frobenius
from .loop import compiled_forward, compiled_step, compiled_vjp, make_optimizer, run_epochs

__all__ = [
    "linearize",
    "tree_norm",
    "relative_weight_change",
    "relative_kernel_change",
    "Trajectory",
    "gd_trajectory",
    "LazyStats",
    "lazy_training",
    "LOSSES",
]

ApplyFn = Callable[..., jnp.ndarray]


def linearize(apply_fn: ApplyFn, params0) -> ApplyFn:
    """First-order Taylor model of ``apply_fn`` around ``params0``.

    Parameters
    ----------
    apply_fn
        ``apply_fn(params, x) -> (N, O)`` outputs, e.g. a stax ``apply_fn``.
    params0
        Expansion point (a pytree).

    Returns
    -------
    f_lin : callable
        ``f_lin(params, x) = apply_fn(params0, x) + J(x, params0) (params - params0)``,
        with the same signature as ``apply_fn``.  The Jacobian-vector product is
        computed by forward-mode autodiff (``jax.jvp``); the Jacobian itself is
        never formed, so one call costs about two forward passes.
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable; got {type(apply_fn).__name__}.")
    _finite_tree(params0, "params0")
    import neural_tangents as nt

    return nt.linearize(apply_fn, params0)


def _finite_tree(tree, name: str) -> list:
    """The leaves of a parameter pytree, after checking there is one and all are finite."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} has no array leaves; pass a parameter pytree.")
    for leaf in leaves:
        _checks.finite_array(leaf, name)
    return leaves


def tree_norm(tree) -> float:
    """Euclidean norm of all leaves of a pytree taken together (``sqrt(sum leaf**2)``)."""
    leaves = _finite_tree(tree, "tree")
    return float(jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in leaves)))


def relative_weight_change(params, params0) -> float:
    """``||theta - theta_0|| / ||theta_0||`` over all parameters (Euclidean norms).

    Raises
    ------
    ValueError
        If the two pytrees have different structures or shapes, or ``params0`` is all zeros.
    """
    s1, s0 = jax.tree_util.tree_structure(params), jax.tree_util.tree_structure(params0)
    if s1 != s0:
        raise ValueError(f"params and params0 must have the same tree structure; got {s1} and {s0}.")
    for a, b in zip(_finite_tree(params, "params"), _finite_tree(params0, "params0")):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                f"params and params0 hold leaves of different shapes: {jnp.shape(a)} and {jnp.shape(b)}."
            )
    norm0 = tree_norm(params0)
    if norm0 == 0:
        raise ValueError("params0 is all zeros; the relative change is undefined.")
    diff = jax.tree_util.tree_map(lambda a, b: a - b, params, params0)
    return tree_norm(diff) / norm0


def relative_kernel_change(theta, theta0) -> float:
    """``||Theta - Theta_0||_F / ||Theta_0||_F`` for two kernel matrices of equal shape.

    Parameters
    ----------
    theta, theta0 : array, shape (N, N) (or any equal shapes)
        Kernel after and before training.
    """
    return relative_frobenius(theta, theta0, ("theta", "theta0"))


class Trajectory(NamedTuple):
    """Full-batch gradient descent recorded every few steps (from :func:`gd_trajectory`).

    Attributes
    ----------
    step : ndarray, shape (R,)
        Step counts of the records (0 first, ``steps`` last).
    time : ndarray, shape (R,)
        Gradient-flow time ``lr * step``.
    params : list of pytrees, length R (or 2)
        Parameters at each record (first and last only with ``keep_params=False``).
    f_train : ndarray, shape (R, N, O)
        Outputs on the training inputs.
    f_eval : ndarray, shape (R, M, O) or None
        Outputs on ``x_eval`` when given.
    loss : ndarray, shape (R,)
        The summed training loss (squared or cross-entropy) at each record.
    """

    step: np.ndarray
    time: np.ndarray
    params: list
    f_train: np.ndarray
    f_eval: np.ndarray | None
    loss: np.ndarray


def _as_targets(y, n: int) -> np.ndarray:
    y = _checks.finite_array(y, "y", ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but x has {n} samples.")
    return y.reshape(n, -1)


LOSSES = losses.LOSSES
"""Losses accepted by ``loss`` of :func:`gd_trajectory` (:data:`ntkbook.losses.LOSSES`)."""


def gd_trajectory(
    apply_fn: ApplyFn,
    params,
    x,
    y,
    lr: float,
    steps: int,
    *,
    record_every: int = 1,
    x_eval=None,
    keep_params: bool = True,
    loss: str = "mse",
) -> Trajectory:
    """Full-batch gradient descent on a summed loss, with outputs (and parameters) recorded.

    ``loss="mse"``: ``L = 1/2 sum_i ||f(x_i) - y_i||^2``.  ``loss="xent"``:
    ``L = -sum_i y_i . log softmax(f(x_i))`` with ``y`` holding target
    distributions (one-hot rows).  Both are *sums* over samples, so ``k`` steps
    of size ``lr`` correspond to gradient-flow time ``t = lr * k`` in
    :func:`ntkbook.dynamics.mse_flow` and :func:`ntkbook.dynamics.xent_flow`.
    (A training history from optax with a mean loss keeps neither the logits
    along training nor this time scale, which is why this loop exists.)

    Parameters
    ----------
    apply_fn
        ``apply_fn(params, x) -> (N, O)``.
    params
        Initial parameters (pytree).
    x : array, shape (N, ...)
        Training inputs.
    y : array, shape (N,) or (N, O)
        Targets (for ``"xent"``: shape (N, O), rows of non-negative numbers summing to 1).
    lr
        Step size (> 0).  For stability ``lr < 2 / lambda_max(Theta)``.
    steps
        Number of gradient steps (>= 1).
    record_every
        Record parameters and outputs every this many steps (and at the last step).
    x_eval : array, shape (M, ...), optional
        Extra inputs whose outputs are recorded too.
    loss
        ``"mse"`` or ``"xent"``.
    keep_params
        Keep a parameter snapshot at every record (``True``), or only the first
        and the last (``False``; saves memory when many records of a wide
        network are taken for their outputs alone).

    Returns
    -------
    Trajectory

    Raises
    ------
    ValueError
        Non-finite inputs, mismatched lengths, ``lr <= 0``, or a loss that becomes
        non-finite (the step size is too large for this network; the message says
        at which step).
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable; got {type(apply_fn).__name__}.")
    x = _checks.finite_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, ...) with a feature axis; got {x.shape}.")
    n = x.shape[0]
    y = jnp.asarray(_as_targets(y, n))
    lr = _checks.real_scalar(lr, "lr", low=0.0, low_open=True)
    _finite_tree(params, "params")
    steps = _checks.positive_int(steps, "steps")
    record_every = _checks.positive_int(record_every, "record_every")
    if x_eval is not None:
        x_eval = _checks.finite_array(x_eval, "x_eval")
        if x_eval.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_eval has feature shape {x_eval.shape[1:]} but x has {x.shape[1:]}.")
    _checks.one_of(loss, "loss", LOSSES)
    if loss == "xent" and (
        np.any(np.asarray(y) < 0) or not np.allclose(np.asarray(y).sum(axis=1), 1.0, atol=1e-8)
    ):
        raise ValueError(
            "for loss='xent', y must hold probability rows (non-negative, summing "
            "to 1), e.g. data.one_hot(labels, K)."
        )
    x = jnp.asarray(x)

    # The package's one training loop (:mod:`.loop`) with plain gradient descent on the summed
    # loss, one full-batch step per "epoch": one jitted step driven by a Python loop.  (A
    # compiled lax.fori_loop looks cheaper, but XLA's CPU backend runs convolutions inside a
    # while loop about 25x slower than as a top-level computation: measured 0.33 s vs 0.013 s
    # per step for a small CNN.)  Dispatch costs ~0.1 ms per step.
    step_fn = compiled_step(apply_fn, loss=loss, optimizer="sgd", reduction="sum", dtype=x.dtype)
    forward = compiled_forward(apply_fn)

    snaps, f_trains, f_evals, values = [], [], [], []

    def record(k: int, p) -> None:
        if not (k % record_every == 0 or k == steps):
            return
        f_tr = np.asarray(forward(p, x)).reshape(y.shape)
        f_ev = None if x_eval is None else np.asarray(forward(p, x_eval)).reshape(len(x_eval), -1)
        value = float(losses.total(jnp.asarray(f_tr), y, loss, reduction="sum"))
        if not np.isfinite(value):
            raise ValueError(
                f"the loss became non-finite by step {k}: lr={lr} is too large "
                "for this network (use lr < 2 / lambda_max of its NTK)."
            )
        if keep_params or k in (0, steps):
            snaps.append(p)
        f_trains.append(f_tr)
        f_evals.append(f_ev)
        values.append(value)

    record(0, params)
    run_epochs(
        step_fn, params, make_optimizer("sgd", lr).init(params), x, y, lr, epochs=steps, on_epoch=record
    )
    record_steps = list(range(0, steps, record_every)) + [steps]
    step = np.asarray(record_steps, dtype=np.int64)
    return Trajectory(
        step=step,
        time=lr * step.astype(np.float64),
        params=snaps,
        f_train=np.stack(f_trains),
        f_eval=None if x_eval is None else np.stack([f for f in f_evals if f is not None]),
        loss=np.asarray(values),
    )


class LazyStats(NamedTuple):
    """What :func:`lazy_training` measured for one network.

    Attributes
    ----------
    weight_change : float
        ``sup_t ||theta_t - theta_0|| / ||theta_0||`` over the records.
    kernel_change : float
        ``||Theta_T - Theta_0||_F / ||Theta_0||_F`` of the empirical NTK on the
        training inputs, after the last step.
    lin_gap : float
        ``sup_t max_j |f_t(x_j) - f_lin_t(x_j)|`` over the records and the
        evaluation inputs.
    lr : float
        The step size used, ``lr_scale / lambda_max(Theta_0)``.
    lambda_max : float
        Largest eigenvalue of the initial empirical NTK.
    net, lin : Trajectory
        The network's and the Taylor model's trajectories.
    """

    weight_change: float
    kernel_change: float
    lin_gap: float
    lr: float
    lambda_max: float
    net: Trajectory
    lin: Trajectory


def _entk(apply_fn: ApplyFn, params, x) -> np.ndarray:
    """Full empirical NTK on ``x``, shape (N * O, N * O), sample-major.

    :func:`ntkbook.empirical.entk_fn` (structured derivatives, jitted, cached per network, so
    later initialisations reuse its compilation), flattened by
    :func:`ntkbook.empirical.flatten_entk`.
    """
    return flatten_entk(np.asarray(entk_fn(apply_fn)(x, None, params), dtype=np.float64))


def _taylor_trajectory(apply_fn: ApplyFn, params0, x, y, theta, lr: float, net: Trajectory) -> Trajectory:
    """Gradient descent on the Taylor model, run on its outputs with its (constant) kernel.

    The Taylor model is linear in ``theta`` with Jacobian ``J`` (training rows first, then the
    evaluation rows), so one step ``theta -= lr J_tr^T r`` on ``L = 1/2 ||r||^2``,
    ``r = f_tr - y``, moves its outputs by exactly ``-lr Theta[:, tr] r`` with
    ``Theta = J J^T`` the empirical NTK at ``params0``; the parameters after ``k`` steps are
    ``params0 - lr J_tr^T (r_0 + ... + r_{k-1})`` (one vector-Jacobian product per record).
    Records at ``net.step``; starts from ``net``'s outputs at step 0 (``f_lin = f`` there).
    """
    n, o = y.shape
    f = np.concatenate(
        [net.f_train[0].reshape(n * o), np.zeros(0) if net.f_eval is None else net.f_eval[0].reshape(-1)]
    )
    tr_cols = theta[:, : n * o]
    vjp = compiled_vjp(apply_fn)
    r_sum = np.zeros(n * o)
    out, done = [], 0
    for k in net.step:
        for _ in range(int(k) - done):
            r = f[: n * o] - y.reshape(-1)
            r_sum += r
            f = f - lr * (tr_cols @ r)
        done = int(k)
        g = vjp(params0, x, jnp.asarray(r_sum.reshape(n, o)))
        params = jax.tree_util.tree_map(lambda a, b: a - lr * b, params0, g)
        out.append((f.copy(), params))
    f_tr = np.stack([v[: n * o].reshape(n, o) for v, _ in out])
    f_ev = None if net.f_eval is None else np.stack([v[n * o :].reshape(-1, o) for v, _ in out])
    loss = 0.5 * np.sum((f_tr - y[None]) ** 2, axis=(1, 2))
    if not np.all(np.isfinite(loss)):
        raise ValueError(f"the Taylor model's loss became non-finite: lr={lr} is too large.")
    return Trajectory(
        step=net.step.copy(),
        time=net.time.copy(),
        params=[p for _, p in out],
        f_train=f_tr,
        f_eval=f_ev,
        loss=loss,
    )


def lazy_training(
    apply_fn: ApplyFn,
    params0,
    x,
    y,
    *,
    steps: int,
    lr_scale: float = 0.5,
    record_every: int = 10,
    x_eval=None,
) -> LazyStats:
    """Train a network and its Taylor model by the same gradient descent and compare them.

    The step size is ``lr = lr_scale / lambda_max(Theta_0)`` with ``Theta_0`` the
    empirical NTK at initialisation, so every width (and parameterisation) is
    trained for the same amount of *kernel time*: ``lambda_max * t = lr_scale * steps``.

    The network runs :func:`gd_trajectory`.  Its Taylor model is linear in the
    parameters, so gradient descent on it moves its outputs by exactly
    ``-lr * Theta_0 (f - y)`` per step, with ``Theta_0`` the empirical NTK at
    initialisation on the training and evaluation inputs (computed once); the Taylor
    model's trajectory is run that way, on its outputs, and its recorded parameters
    come from one vector-Jacobian product per record.  This is the trajectory of
    ``gd_trajectory(linearize(apply_fn, params0), ...)`` (to float64 rounding:
    ``tests/test_linearize.py`` compares them) without a second training run.

    Parameters
    ----------
    apply_fn, params0
        The network and its initial parameters.
    x : array, shape (N, ...)
        Training inputs.
    y : array, shape (N,) or (N, O)
        Targets.
    steps
        Gradient steps.
    lr_scale
        In ``(0, 2)``; gradient descent on the Taylor model is stable below 2.
    record_every
        Record interval for the sup over time.
    x_eval : array, shape (M, ...), optional
        Inputs on which ``|f - f_lin|`` is measured (default: the training inputs).

    Returns
    -------
    LazyStats
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable; got {type(apply_fn).__name__}.")
    # gradient descent on the Taylor model is stable only for lr_scale in (0, 2)
    lr_scale = _checks.real_scalar(lr_scale, "lr_scale", low=0.0, high=2.0, low_open=True, high_open=True)
    x = _checks.finite_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, ...) with a feature axis; got {x.shape}.")
    _finite_tree(params0, "params0")
    x_ev = x if x_eval is None else _checks.finite_array(x_eval, "x_eval")
    n = x.shape[0]
    y2 = np.asarray(_as_targets(y, n), dtype=np.float64)
    o = y2.shape[1]
    # one eNTK at initialisation on the training and evaluation inputs together: its
    # training block sets the step size, and the whole of it drives the Taylor model
    x_all = x if x_eval is None else np.concatenate([x, x_ev.astype(x.dtype)])
    theta_all = _entk(apply_fn, params0, jnp.asarray(x_all))
    theta0 = theta_all[: n * o, : n * o].reshape(n, o, n, o).trace(axis1=1, axis2=3)
    lam_max = float(np.linalg.eigvalsh(theta0)[-1])
    lr = lr_scale / lam_max
    net = gd_trajectory(apply_fn, params0, x, y, lr, steps, record_every=record_every, x_eval=x_ev)
    if x_eval is None:  # evaluation rows = training rows
        theta_all = np.concatenate([theta_all, theta_all])
    lin = _taylor_trajectory(apply_fn, params0, jnp.asarray(x), y2, theta_all, lr, net)
    weight = max(relative_weight_change(p, params0) for p in net.params)
    # the same inputs as at initialisation, so the compiled eNTK function is reused
    theta_T = _entk(apply_fn, net.params[-1], jnp.asarray(x_all))
    theta_T = theta_T[: n * o, : n * o].reshape(n, o, n, o).trace(axis1=1, axis2=3)
    assert net.f_eval is not None and lin.f_eval is not None  # both ran with x_eval
    return LazyStats(
        weight_change=weight,
        kernel_change=relative_kernel_change(theta_T, theta0),
        lin_gap=float(np.max(np.abs(net.f_eval - lin.f_eval))),
        lr=lr,
        lambda_max=lam_max,
        net=net,
        lin=lin,
    )
