"""One training loop: a cache of compiled update steps and an epoch loop with hooks.

:func:`ntkbook.dynamics.train` (optax, minibatches, per-class histories),
:func:`ntkbook.dynamics.gd_trajectory` (full-batch gradient descent on a summed loss, the
gradient-flow time scale) and :func:`ntkbook.learning_paths.train_recording` (SGD on soft
targets, probabilities recorded every epoch) are this loop with different settings and record
hooks:

* :func:`compiled_step` -- the jitted update ``step(params, opt_state, xb, tb, lr)`` of one
  network, loss (:mod:`ntkbook.losses`), optimizer, reduction and gradient mask, cached so that
  repeated fits of one network (seeds, label sets, step sizes, rounds) compile once per batch
  shape.  The step size is an argument of the compiled step, not a constant baked into it;
* :func:`compiled_forward`, :func:`compiled_vjp` -- the jitted forward pass and parameter
  VJP of one network, cached the same way (the records of a gradient-descent trajectory and
  of its Taylor model evaluate them);
* :func:`run_epochs` -- epochs of minibatches in a given order, the update timed per epoch
  (wall and process CPU seconds), and a hook called after each epoch with the parameters.

Plain gradient descent is ``optimizer="sgd"``: optax's update ``p + (-lr) g`` is the same
floating-point number as ``p - lr g``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import optax

from .. import losses

__all__ = [
    "OPTIMIZERS",
    "make_optimizer",
    "compiled_step",
    "compiled_forward",
    "compiled_vjp",
    "EpochTimes",
    "run_epochs",
]

OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam")
"""Optimizers of the training loop."""


def make_optimizer(optimizer: str, lr: Any, momentum: float = 0.9) -> optax.GradientTransformation:
    """The optax transformation named ``optimizer`` with step size ``lr`` (a number or a tracer).

    ``"sgd"``, ``"momentum"`` (heavy ball with coefficient ``momentum``) or ``"adam"``.
    """
    if optimizer == "sgd":
        return optax.sgd(lr)
    if optimizer == "momentum":
        return optax.sgd(lr, momentum=momentum)
    if optimizer == "adam":
        return optax.adam(lr)
    raise ValueError(f"optimizer={optimizer!r}; expected one of {', '.join(map(repr, OPTIMIZERS))}.")


def _train_everything(grads):
    """The default gradient mask: every parameter trains."""
    return grads


def _build_step(
    apply_fn: Callable, loss: str, optimizer: str, momentum: float, reduction: str, mask: Callable
) -> Callable:
    def batch_loss(p, xb, tb):
        f = apply_fn(p, xb)
        return losses.total(f.reshape(tb.shape[0], -1), tb, loss, reduction=reduction)

    @jax.jit
    def step(p, state, xb, tb, lr):
        g = mask(jax.grad(batch_loss)(p, xb, tb))
        updates, state = make_optimizer(optimizer, lr, momentum).update(g, state, p)
        return optax.apply_updates(p, updates), state

    return step


@functools.lru_cache(maxsize=32)
def _cached_step(
    apply_fn: Callable, loss: str, optimizer: str, momentum: float, reduction: str, mask: Callable, dtype: str
) -> Callable:
    # ``dtype`` is part of the key because x64 is switched per precision around a fit
    return _build_step(apply_fn, loss, optimizer, momentum, reduction, mask)


def _per_network(cached: Any, *key: Any) -> Callable:
    """``cached(*key)`` (an ``lru_cache``'d builder of jitted functions), or the builder run
    afresh when a part of the key (a network's ``apply_fn``, a mask) is unhashable."""
    try:
        return cached(*key)
    except TypeError:
        return cached.__wrapped__(*key)


@functools.lru_cache(maxsize=32)
def _cached_forward(apply_fn: Callable) -> Callable:
    return jax.jit(apply_fn)


def compiled_forward(apply_fn: Callable) -> Callable:
    """``jax.jit(apply_fn)``, once per network (per layer stack for :mod:`ntkbook.layers`
    networks, whose functions compare by value): ``forward(params, x) -> (B, K)`` for ``x`` (B, ...).

    The forward pass of every record of :func:`ntkbook.dynamics.gd_trajectory` reuses one
    compilation per input shape instead of running the network op by op; an unhashable
    ``apply_fn`` is jitted afresh.
    """
    return _per_network(_cached_forward, apply_fn)


@functools.lru_cache(maxsize=32)
def _cached_vjp(apply_fn: Callable) -> Callable:
    def vjp(params, x, ct):
        return jax.vjp(lambda p: apply_fn(p, x).reshape(ct.shape), params)[1](ct)[0]

    return jax.jit(vjp)


def compiled_vjp(apply_fn: Callable) -> Callable:
    """``vjp(params, x, ct)``: the gradient of ``sum(ct * apply_fn(params, x))`` in ``params``, jitted.

    ``x`` (N, ...) inputs, ``ct`` (N, O) cotangents of the outputs; returns a pytree shaped like
    ``params``.  Once per network, as :func:`compiled_forward` (the Taylor model's trajectory
    takes one per record: an eager ``jax.vjp`` re-traced the network and ran its backward
    pass op by op every time).
    """
    return _per_network(_cached_vjp, apply_fn)


def compiled_step(
    apply_fn: Callable,
    *,
    loss: str,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    reduction: str = "mean",
    mask: Callable | None = None,
    dtype: Any = np.float32,
) -> Callable:
    """The jitted update ``step(params, opt_state, xb, tb, lr) -> (params, opt_state)``.

    Parameters
    ----------
    apply_fn
        ``apply_fn(params, x) -> (B, K)`` (or any shape with B rows).
    loss
        A name of :data:`ntkbook.losses.LOSSES`; targets ``tb`` are integer labels (B,) or
        rows (B, K), as :func:`ntkbook.losses.per_sample` takes them.
    optimizer, momentum
        As :func:`make_optimizer`; its state comes from ``make_optimizer(...).init(params)``.
    reduction
        ``"mean"`` or ``"sum"`` over the batch (:func:`ntkbook.losses.total`).
    mask
        ``mask(grads) -> grads`` applied before the optimizer (e.g. zero a frozen backbone's
        gradients); pass the same function object to share one compilation.
    dtype
        Training precision; part of the cache key.

    Returns
    -------
    callable
        Cached per (apply_fn, loss, optimizer, momentum, reduction, mask, dtype) when
        ``apply_fn`` and ``mask`` are hashable; built afresh otherwise.
    """
    if loss not in losses.LOSSES:
        raise ValueError(f"loss={loss!r}; expected one of {', '.join(map(repr, losses.LOSSES))}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}; expected one of {', '.join(map(repr, OPTIMIZERS))}.")
    if reduction not in losses.REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}; expected 'mean' or 'sum'.")
    mask = _train_everything if mask is None else mask
    return _per_network(
        _cached_step, apply_fn, loss, optimizer, float(momentum), reduction, mask, str(np.dtype(dtype))
    )


@dataclass(frozen=True)
class EpochTimes:
    """What :func:`run_epochs` returns besides the parameters.

    Attributes
    ----------
    steps : int
        Updates performed.
    wall, cpu : ndarray, shape (epochs,)
        Wall-clock and process CPU seconds of each epoch's updates (the first includes any
        compilation); the hooks' time is not counted.
    """

    steps: int
    wall: np.ndarray
    cpu: np.ndarray


def run_epochs(
    step: Callable,
    params: Any,
    opt_state: Any,
    x: Any,
    targets: Any,
    lr: float,
    *,
    epochs: int,
    batch_size: int | None = None,
    order: Callable[[int], np.ndarray] | None = None,
    drop_last: bool = False,
    on_epoch: Callable[[int, Any], None] | None = None,
    first_epoch: int = 1,
) -> tuple[Any, Any, EpochTimes]:
    """Epochs of minibatch updates with ``step``, calling ``on_epoch(epoch, params)`` after each.

    Parameters
    ----------
    step
        From :func:`compiled_step`.
    params, opt_state
        Initial parameters and optimizer state.
    x : array, shape (N, ...)
    targets : array, shape (N, ...)
        Per-sample targets (integer labels or rows).
    lr
        Step size, passed to ``step``.
    epochs
        Number of passes (>= 0).
    batch_size
        Minibatch size; ``None`` or N is full batch (``x`` and ``targets`` passed whole, never
        indexed, so device arrays stay on the device).
    order
        ``order(epoch) -> permutation of range(N)`` (the minibatch order of that epoch);
        ``None`` keeps the data order.
    drop_last
        Drop each epoch's last incomplete minibatch (one compiled batch shape only).
    on_epoch
        Hook called after each epoch's updates (outside the timing), e.g. to record metrics.
    first_epoch
        Number of the first epoch (the hook and ``order`` see ``first_epoch, ...``).

    Returns
    -------
    params, opt_state, EpochTimes
    """
    n = len(x)
    bs = n if batch_size is None else int(batch_size)
    steps, wall, cpu = 0, [], []
    # a Python float is a weakly typed argument of the jitted step: it takes the parameters'
    # precision, as a constant step size would (a float64 array would promote float32 params)
    lr_arg = float(lr)
    for epoch in range(first_epoch, first_epoch + epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        if bs == n:
            params, opt_state = step(params, opt_state, x, targets, lr_arg)
            steps += 1
        else:
            perm = np.arange(n) if order is None else order(epoch)
            stops: Sequence[int] = range(0, n - bs + 1 if drop_last else n, bs)
            for start in stops:
                idx = perm[start : start + bs]
                params, opt_state = step(params, opt_state, x[idx], targets[idx], lr_arg)
                steps += 1
        jax.block_until_ready(params)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if on_epoch is not None:
            on_epoch(epoch, params)
    return params, opt_state, EpochTimes(steps=steps, wall=np.asarray(wall), cpu=np.asarray(cpu))
