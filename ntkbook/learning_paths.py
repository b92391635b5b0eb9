"""The eNTK as a local tool: one-step prediction changes, learning paths, distillation, fine-tuning.

One SGD step on sample ``x_i`` moves the outputs at any other input ``x~`` by a first-order
Taylor term (Ren, Guo, Sutherland 2022):

    f_{t+1}(x~) - f_t(x~) = -eta eNTK_t(x~, x_i) l'(f_t(x_i)) + O(eta^2),

with ``eNTK_t(x~, x_i) = J(x~) J(x_i)^T`` (O x O) and ``l'`` the gradient of the loss with
respect to the outputs.  For cross-entropy, ``l' = q - p`` (softmax minus target) and the
change of the *probabilities* picks up the softmax Jacobian, the covariance of a categorical
variable, ``A_t(x~) = diag(q) - q q^T``:

    q_{t+1}(x~) - q_t(x~) = eta A_t(x~) eNTK_t(x~, x_i) (p_i - q_t(x_i)) + O(eta^2).

For a minibatch of B samples (mean loss) the terms are averaged.  The same algebra applied to
a backbone ``z = phi(x)`` under a head ``g(z)`` gives the fine-tuning decomposition of Ren et
al. (2023):

    z_{t+1}(x~) - z_t(x~) = eta/B sum_i eNTK^phi(x~, x_i) J_g(x_i)^T (p_i - q_t(x_i)) + O(eta^2),

with ``J_g`` the Jacobian of the logits with respect to the features (the "direction" of the
head) and ``p_i - q_t(x_i)`` the "energy" left in the labels.

Kernels are passed in: compute them with :func:`ntkbook.empirical.entk`.  The module also
holds a recording run of the package's training loop (:func:`train_recording`: every sample's
predicted probabilities along training, for zig-zag paths and distillation targets) and the
exponential-moving-average teacher of Filter-KD (:func:`ema_targets`, alpha = 0.05 in the
authors' code).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, losses
from ._numerics import softmax
from .dynamics import loop

__all__ = [
    "sgd_prediction_change",
    "loss_output_grad",
    "categorical_covariance",
    "softmax_prediction_change",
    "feature_change",
    "ema_targets",
    "Recording",
    "train_recording",
    "simplex_xy",
    "gaussian_toy",
    "LOSSES",
]

LOSSES: tuple[str, ...] = losses.LOSSES
"""Losses understood by :func:`loss_output_grad` and :func:`train_recording` (:data:`ntkbook.losses.LOSSES`)."""


def _check_kernel(K, name: str) -> np.ndarray:
    K = _checks.finite_array(K, name, ndim=4, dtype=np.float64)
    if K.shape[2] != K.shape[3]:
        raise ValueError(f"{name} must have shape (M, B, O, O) (square output blocks); got {K.shape}.")
    return K


def _check_lr(lr) -> float:
    """A step size: finite and > 0 (a negative one would be gradient ascent)."""
    return _checks.real_scalar(lr, "lr", low=0.0, low_open=True)


def sgd_prediction_change(K, grad_out, lr: float) -> np.ndarray:
    """First-order change of the outputs at ``x~`` from one SGD step on a batch (mean loss).

    Parameters
    ----------
    K : array, shape (M, B, O, O)
        eNTK between the M probe inputs ``x~`` and the B batch inputs.
    grad_out : array, shape (B, O)
        ``l'(f_t(x_i))``, the gradient of each sample's loss with respect to its outputs
        (see :func:`loss_output_grad`).
    lr : float
        Learning rate eta.

    Returns
    -------
    ndarray, shape (M, O)
        ``-eta/B sum_i K[m, i] grad_out[i]``.
    """
    K = _check_kernel(K, "K")
    # an empty batch would divide 0 by 0 (the mean over B = 0 samples): NaN, silently
    g = _checks.nonempty(_checks.finite_array(grad_out, "grad_out", ndim=2, dtype=np.float64), "grad_out")
    if K.shape[1] != g.shape[0] or K.shape[3] != g.shape[1]:
        raise ValueError(
            f"K has shape {K.shape} but grad_out has shape {g.shape}; expected "
            f"K of shape (M, {g.shape[0]}, O, {g.shape[1]})."
        )
    lr = _check_lr(lr)
    return -lr * np.einsum("mipq,iq->mp", K, g) / g.shape[0]


def loss_output_grad(f, targets, loss: str = "xent") -> np.ndarray:
    """Gradient of one sample's loss with respect to its outputs, for every sample.

    ``"xent"``: ``l = -sum_k p_k log softmax(f)_k`` with (possibly soft) targets ``p`` gives
    ``softmax(f) - p``.  ``"mse"``: ``l = |f - p|^2 / 2`` gives ``f - p``.

    Parameters
    ----------
    f : array, shape (N, O)
        Outputs (logits).
    targets : array, shape (N, O)
        Target rows (one-hot or soft).
    loss : {"xent", "mse"}

    Returns
    -------
    ndarray, shape (N, O)
    """
    f = _checks.nonempty(_checks.finite_array(f, "f", ndim=2, dtype=np.float64), "f", axes=(1,))
    p = _checks.finite_array(targets, "targets", ndim=2, dtype=np.float64)
    if f.shape != p.shape:
        raise ValueError(f"f has shape {f.shape} but targets has shape {p.shape}.")
    _checks.one_of(loss, "loss", LOSSES)
    return losses.output_grad(f, p, loss)


def categorical_covariance(q) -> np.ndarray:
    """``A = diag(q) - q q^T``, the softmax Jacobian, for each probability row of ``q``.

    Parameters
    ----------
    q : array, shape (..., O)
        Probability vectors (non-negative rows summing to one).

    Returns
    -------
    ndarray, shape (..., O, O)
    """
    q = _checks.finite_array(q, "q", dtype=np.float64)
    if q.ndim >= 1 and q.shape[-1] == 0:
        raise ValueError(
            f"q is empty along its last axis (shape {q.shape}); a probability "
            "vector needs at least one class."
        )
    if q.ndim < 1 or np.any(q < 0) or not np.allclose(q.sum(-1), 1.0, atol=1e-8):
        raise ValueError("q must hold probability vectors along its last axis (non-negative, summing to 1).")
    eye = np.eye(q.shape[-1])
    return q[..., :, None] * eye - q[..., :, None] * q[..., None, :]


def softmax_prediction_change(K, q_probe, q_batch, targets, lr: float) -> np.ndarray:
    """First-order change of the probabilities at ``x~`` from one cross-entropy SGD step.

    Parameters
    ----------
    K : array, shape (M, B, O, O)
        eNTK between probe inputs and the batch.
    q_probe : array, shape (M, O)
        Current probabilities at the probes.
    q_batch : array, shape (B, O)
        Current probabilities on the batch.
    targets : array, shape (B, O)
        Targets ``p_i`` of the batch (one-hot or soft).
    lr : float

    Returns
    -------
    ndarray, shape (M, O)
        ``eta/B sum_i A(x~) K[m, i] (p_i - q_i)``.
    """
    K = _check_kernel(K, "K")
    qb = _checks.nonempty(_checks.finite_array(q_batch, "q_batch", ndim=2, dtype=np.float64), "q_batch")
    p = _checks.finite_array(targets, "targets", ndim=2, dtype=np.float64)
    if p.shape != qb.shape:
        raise ValueError(f"targets has shape {p.shape} but q_batch has shape {qb.shape}.")
    q_probe = _checks.finite_array(q_probe, "q_probe", ndim=2, dtype=np.float64)
    if q_probe.shape != (K.shape[0], K.shape[2]):
        raise ValueError(
            f"q_probe has shape {q_probe.shape}; expected {(K.shape[0], K.shape[2])} "
            "(one probability row per probe of K)."
        )
    A = categorical_covariance(q_probe)
    dlogits = sgd_prediction_change(K, qb - p, lr)  # first-order change of the logits
    return np.einsum("mpq,mq->mp", A, dlogits)


def feature_change(K_backbone, head_jac, energy, lr: float) -> np.ndarray:
    """First-order change of backbone features at ``x~`` from one SGD step (mean loss).

    Parameters
    ----------
    K_backbone : array, shape (M, B, D, D)
        eNTK of the backbone ``z = phi(x)`` (D features) between probes and the batch.
    head_jac : array, shape (B, O, D)
        Jacobian of the head's logits with respect to the features at each batch sample.
    energy : array, shape (B, O)
        ``p_i - q_t(x_i)``: target minus predicted probabilities (cross-entropy).
    lr : float

    Returns
    -------
    ndarray, shape (M, D)
        ``eta/B sum_i K_backbone[m, i] head_jac[i]^T energy[i]``.
    """
    K = _check_kernel(K_backbone, "K_backbone")
    J = _checks.finite_array(head_jac, "head_jac", ndim=3, dtype=np.float64)
    e = _checks.finite_array(energy, "energy", ndim=2, dtype=np.float64)
    if J.shape[:2] != e.shape or K.shape[1] != e.shape[0] or K.shape[3] != J.shape[2]:
        raise ValueError(
            f"shapes disagree: K_backbone {K.shape} (M, B, D, D), head_jac "
            f"{J.shape} (B, O, D), energy {e.shape} (B, O)."
        )
    lr = _check_lr(lr)
    direction = np.einsum("iod,io->id", J, e)  # (B, D): head direction x energy
    return lr * np.einsum("mide,ie->md", K, direction) / e.shape[0]


def ema_targets(q_path, alpha: float = 0.05, init=None) -> np.ndarray:
    """Exponential moving average of predicted probabilities (the Filter-KD teacher table).

    ``p_0 = init`` (default ``q_path[0]``), ``p_t = (1 - alpha) p_{t-1} + alpha q_path[t]``.

    Parameters
    ----------
    q_path : array, shape (T, N, O)
        Predicted probabilities of N samples at T recorded times.
    alpha : float in (0, 1]
        Weight of the newest prediction (0.05 in the authors' code).
    init : array, shape (N, O), optional

    Returns
    -------
    ndarray, shape (T, N, O)
        The table after each update; ``[-1]`` is the distillation target.
    """
    q = _checks.nonempty(_checks.finite_array(q_path, "q_path", ndim=3, dtype=np.float64), "q_path")
    alpha = _checks.real_scalar(alpha, "alpha", low=0.0, high=1.0, low_open=True)
    p = q[0].copy() if init is None else _checks.finite_array(init, "init", ndim=2, dtype=np.float64).copy()
    if p.shape != q.shape[1:]:
        raise ValueError(f"init has shape {p.shape}; expected {q.shape[1:]}.")
    out = np.empty_like(q)
    for t in range(q.shape[0]):
        p = (1.0 - alpha) * p + alpha * q[t]
        out[t] = p
    return out


@dataclass
class Recording:
    """Result of :func:`train_recording`.

    Attributes
    ----------
    params
        Final parameters.
    probs : ndarray, shape (E + 1, M, O)
        Softmax probabilities at the recorded inputs, before training and after each epoch.
    train_loss : ndarray, shape (E + 1,)
        Mean training loss on the whole set at the same times.
    test_acc : ndarray, shape (E + 1,)
        Accuracy on ``(x_test, y_test)`` at the same times (NaN if not given).
    """

    params: Any
    probs: np.ndarray
    train_loss: np.ndarray
    test_acc: np.ndarray


@functools.lru_cache(maxsize=32)
def _compiled(apply_fn: Callable, loss: str, mask: Callable | None) -> tuple[Callable, Callable, Callable]:
    """SGD step, evaluation and test accuracy of one network, loss and gradient mask.

    The step is the training loop's (:func:`ntkbook.dynamics.loop.compiled_step`: plain SGD on
    the mean loss of :mod:`ntkbook.losses`); the evaluation and the accuracy are jitted here.
    Cached, with the step size and the data as arguments rather than baked-in constants, so
    that repeated :func:`train_recording` calls on one network (several step sizes, noise
    rates, students, probing lengths) compile once per input shape instead of once per call.
    ``mask=None`` trains every parameter (the loop's default mask).
    """
    step = loop.compiled_step(apply_fn, loss=loss, optimizer="sgd", reduction="mean", mask=mask)

    @jax.jit
    def evaluate(params, xr, x, p):
        probs = jax.nn.softmax(apply_fn(params, xr), axis=-1)
        return probs, losses.total(apply_fn(params, x), p, loss, reduction="mean")

    @jax.jit
    def accuracy(params, x_test, y_test):
        return jnp.mean(jnp.argmax(apply_fn(params, x_test), -1) == y_test)

    return step, evaluate, accuracy


def train_recording(
    apply_fn: Callable,
    params,
    x,
    targets,
    *,
    lr: float,
    epochs: int,
    batch_size: int | None = None,
    seed: int = 0,
    x_record=None,
    x_test=None,
    y_test=None,
    loss: str = "xent",
    trainable: Callable[[Any], Any] | None = None,
    keep_path: bool = True,
) -> Recording:
    """Plain SGD (optax) on (soft) targets that records predicted probabilities every epoch.

    Parameters
    ----------
    apply_fn, params
        The network (``apply_fn(params, x) -> (N, O)``) and its initial parameters.
    x : array, shape (N, ...)
    targets : array, shape (N, O)
        Target rows: one-hot labels, or soft targets (a teacher's probabilities).
    lr, epochs, batch_size
        Step size, number of passes, minibatch size (``None``: full batch).
    seed
        Seed of the minibatch order (``np.random.default_rng(seed)``).
    x_record : array, shape (M, ...), optional
        Inputs whose probabilities are recorded (default ``x``).
    x_test, y_test : optional
        Held-out inputs and integer labels for the accuracy curve.
    loss : {"xent", "mse"}
        Mean cross-entropy against ``targets`` or mean ``|f - p|^2 / 2``.
    trainable : callable, optional
        ``trainable(grads) -> grads`` masks gradients (e.g. zero the backbone's for head
        probing); default trains everything.  Pass the same function object to every call
        that should share one compilation.
    keep_path : bool
        Record after every epoch (``True``), or only before training and after the last
        epoch (``False``: the arrays of the :class:`Recording` then have 2 rows, or 1 when
        ``epochs == 0``).  The training itself, and so the final parameters, are the same;
        ``False`` saves the per-epoch evaluations when only the end point is needed.

    Returns
    -------
    Recording
    """
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable; got {type(apply_fn).__name__}.")
    if trainable is not None and not callable(trainable):
        raise TypeError(f"trainable must be callable or None; got {type(trainable).__name__}.")
    _checks.one_of(loss, "loss", LOSSES)
    x = _checks.finite_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, ...) with a feature axis; got {x.shape}.")
    p = _checks.finite_array(targets, "targets", ndim=2)
    if p.shape[0] != x.shape[0]:
        raise ValueError(f"targets has {p.shape[0]} rows but x has {x.shape[0]} samples.")
    epochs = _checks.positive_int(epochs, "epochs", minimum=0)
    n = x.shape[0]
    bs = n if batch_size is None else _checks.positive_int(batch_size, "batch_size")
    if bs > n:
        raise ValueError(f"batch_size={bs} exceeds the {n} training samples.")
    lr = _check_lr(lr)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    xr = x if x_record is None else _checks.finite_array(x_record, "x_record")
    if xr.shape[1:] != x.shape[1:]:
        raise ValueError(f"x_record has feature shape {xr.shape[1:]} but x has {x.shape[1:]}.")
    if (x_test is None) != (y_test is None):
        raise ValueError("give both x_test and y_test, or neither.")
    if x_test is not None:
        x_test = _checks.finite_array(x_test, "x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_test has feature shape {x_test.shape[1:]} but x has {x.shape[1:]}.")
        y_test = _checks.labels(y_test, "y_test", p.shape[1], n=x_test.shape[0])
    if not isinstance(keep_path, (bool, np.bool_)):
        raise TypeError(f"keep_path must be True or False; got {type(keep_path).__name__}.")
    step, evaluate, accuracy = _compiled(apply_fn, loss, trainable)
    state = loop.make_optimizer("sgd", lr).init(params)

    rng = np.random.default_rng(seed)
    probs: list[np.ndarray] = []
    train_loss: list[float] = []
    accs: list[float] = []

    def record(epoch: int, params: Any) -> None:
        if not (keep_path or epoch in (0, epochs)):
            return
        pr, lo = evaluate(params, xr, x, p)
        probs.append(np.asarray(pr))
        train_loss.append(float(lo))
        accs.append(float(accuracy(params, x_test, y_test)) if x_test is not None else np.nan)

    record(0, params)
    params, _, _ = loop.run_epochs(
        step,
        params,
        state,
        x,
        p,
        lr,
        epochs=epochs,
        batch_size=bs,
        # one permutation per epoch from one generator: the minibatch order of ``seed``
        order=lambda epoch: rng.permutation(n),
        # drop the ragged last batch so every step has the same shape (one compilation)
        drop_last=True,
        on_epoch=record,
    )
    return Recording(
        params=params, probs=np.stack(probs), train_loss=np.asarray(train_loss), test_acc=np.asarray(accs)
    )


def simplex_xy(q) -> np.ndarray:
    """Barycentric -> Cartesian coordinates of 3-class probability vectors for simplex plots.

    Vertices: class 0 at (0, 0), class 1 at (1, 0), class 2 at (1/2, sqrt(3)/2).

    Parameters
    ----------
    q : array, shape (..., 3)

    Returns
    -------
    ndarray, shape (..., 2)
    """
    q = _checks.finite_array(q, "q", dtype=np.float64)
    if q.shape[-1] != 3:
        raise ValueError(f"q must have 3 classes on its last axis; got shape {q.shape}.")
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    return q @ corners


def gaussian_toy(
    n: int, seed: int = 0, *, num_classes: int = 3, dim: int = 2, radius: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian-mixture toy of the zig-zag experiment, with its exact Bayes posterior.

    Classes are balanced; class ``k`` is ``N(mu_k, I_dim)`` with ``mu_k`` on a circle of
    ``radius`` in the first two coordinates (angles ``2 pi k / num_classes``), zero elsewhere,
    so the extra ``dim - 2`` coordinates are pure noise (they make memorising noisy labels
    easier, as a large network does on real data).

    Parameters
    ----------
    n
        Number of samples.
    seed
        Seed of ``np.random.default_rng``.
    num_classes, dim, radius
        Classes K, input dimension (>= 2) and distance of the means from the origin.

    Returns
    -------
    x : ndarray, shape (n, dim)
    y : ndarray, shape (n,), int64
        The mixture component of each sample (the clean label).
    p_star : ndarray, shape (n, num_classes)
        Bayes posterior ``p(y | x)`` under equal priors: ``softmax_k(mu_k . x - |mu_k|^2 / 2)``.
    """
    n = _checks.positive_int(n, "n")
    num_classes = _checks.positive_int(num_classes, "num_classes", minimum=2)
    dim = _checks.positive_int(dim, "dim", minimum=2)
    radius = _checks.real_scalar(radius, "radius", low=0.0, low_open=True)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_classes) / num_classes
    mu = np.zeros((num_classes, dim))
    mu[:, 0], mu[:, 1] = radius * np.cos(angles), radius * np.sin(angles)
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    x = mu[y] + rng.normal(size=(n, dim))
    # log N(x; mu_k, I) = const - |x|^2/2 + mu_k.x - |mu_k|^2/2; the first two cancel in softmax
    p_star = softmax(x @ mu.T - 0.5 * np.sum(mu**2, axis=1))
    return x, y, p_star
