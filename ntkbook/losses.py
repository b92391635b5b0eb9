"""The training losses of the package, written once: softmax cross-entropy and squared error.

Every training loop (:func:`ntkbook.dynamics.train`, :func:`ntkbook.dynamics.gd_trajectory`,
:func:`ntkbook.learning_paths.train_recording`) and every evaluation of their losses calls
:func:`per_sample` (or :func:`total`), on JAX arrays inside a compiled step or on NumPy arrays
when a history is recorded in float64.

* ``"xent"``: ``-sum_k t_k log softmax(f)_k``, with ``t`` a target distribution (one-hot
  rows, soft labels), or ``-log softmax(f)_y`` for integer labels ``y``;
* ``"mse"``: ``1/2 ||f - t||^2``.

:func:`output_grad` is their gradient with respect to the outputs, ``softmax(f) - t`` and
``f - t`` (the residual that drives gradient flow and the one-step eNTK formulas).

The log-softmax is the library one (``jax.nn.log_softmax``, ``scipy.special.log_softmax``),
both the max-shifted formula, so large logits neither overflow nor lose digits.

Examples
--------
>>> import numpy as np
>>> from ntkbook import losses
>>> f = np.array([[0.0, 0.0], [2.0, 0.0]])
>>> losses.per_sample(f, np.array([0, 1]), "xent")          # log 2, log(1 + e^2)
array([0.69314718, 2.12692801])
>>> float(losses.total(f, np.eye(2), "mse", reduction="sum"))   # (1 + 0 + 4 + 1) / 2
3.0
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from ._numerics import softmax as _np_softmax

__all__ = ["LOSSES", "REDUCTIONS", "per_sample", "total", "output_grad"]

LOSSES: tuple[str, ...] = ("xent", "mse")
"""The loss names every training loop of the package accepts."""
REDUCTIONS: tuple[str, ...] = ("mean", "sum")
"""How :func:`total` reduces over samples: the mean (a minibatch loop's convention) or the sum
(gradient-flow time, :mod:`ntkbook.dynamics.flow`)."""


def _check_name(loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}; expected one of {', '.join(map(repr, LOSSES))}.")


def per_sample(f: Any, targets: Any, loss: str) -> Any:
    """Loss of each sample, shape ``f.shape[:-1]``.

    Parameters
    ----------
    f : array, shape (..., K)
        Outputs (logits); NumPy in, NumPy out, JAX in (traced or not), JAX out.
    targets : array, shape (..., K) or (...,) of int
        Target rows (``"mse"``; or target distributions for ``"xent"``), or integer labels
        for ``"xent"``.
    loss : {"xent", "mse"}

    Returns
    -------
    array, shape ``f.shape[:-1]``
    """
    _check_name(loss)
    xp: Any = np if isinstance(f, np.ndarray) else jnp
    if loss == "mse":
        return 0.5 * xp.sum(xp.square(f - targets), axis=-1)
    log_p = scipy.special.log_softmax(f, axis=-1) if xp is np else jax.nn.log_softmax(f, axis=-1)
    if np.issubdtype(targets.dtype, np.integer):
        return -xp.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
    return -xp.sum(targets * log_p, axis=-1)


def total(f: Any, targets: Any, loss: str, *, reduction: str = "mean") -> Any:
    """:func:`per_sample` reduced over all samples by ``reduction`` ("mean" or "sum")."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r}; expected 'mean' or 'sum'.")
    values = per_sample(f, targets, loss)
    return values.mean() if reduction == "mean" else values.sum()


def output_grad(f: Any, targets: Any, loss: str) -> Any:
    """Gradient of each sample's loss (:func:`per_sample`) with respect to its outputs.

    ``"xent"``: ``softmax(f) - t`` (``t`` the target rows, or the one-hot rows of integer
    labels); ``"mse"``: ``f - t`` (target rows).

    Parameters
    ----------
    f : array, shape (..., K)
        Outputs (logits); NumPy in, NumPy out, JAX in (traced or not), JAX out.
    targets : array, shape (..., K) or (...,) of int
        As :func:`per_sample`.
    loss : {"xent", "mse"}

    Returns
    -------
    array, shape ``f.shape``
    """
    _check_name(loss)
    xp: Any = np if isinstance(f, np.ndarray) else jnp
    if loss == "mse":
        return f - targets
    if np.issubdtype(targets.dtype, np.integer):  # labels, as per_sample takes them for "xent"
        targets = xp.eye(f.shape[-1], dtype=f.dtype)[targets]
    q = _np_softmax(f) if xp is np else jax.nn.softmax(f, axis=-1)
    return q - targets
