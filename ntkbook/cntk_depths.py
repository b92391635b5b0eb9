"""CNTK Gram matrices of one convolutional stack at several depths, in one pass.

Chapter 4 compares the kernels of ``archs.cnn([c] * L, [], K, pool=pool)`` for
several depths ``L``.  The recursion of a depth-6 network passes through the
states of the depth-3 and depth-4 networks on its way, so computing each depth
from scratch (``gram.gram`` once per depth) repeats the shallow layers: for
depths 3, 4 and 6 that is 13 layer updates where 6 suffice, and for the GAP
readout each update is the expensive full ``(B1, B2, H, W, H, W)`` tensor.
:func:`gram_by_depth` walks the stack once, in *stages* (inputs -> first depth,
then from each depth to the next), reads each depth's readout off the state it
passes, and times every stage, so a depth's CPU cost is still reported: the
sum of the stages up to it, i.e. what computing that depth alone costs.

The layer updates are those of :class:`ntkbook.fast_kernels.CNNKernel` (its
``_conv_input`` and ``_conv_relu``): a stride-1 ``SAME`` ``k x k`` convolution
(``k`` in 1-D, run as images of height 1) with ``W_std``/``b_std``, a ReLU,
and after the last convolution either ``Flatten`` (pixel-diagonal covariance
only) or global average pooling (the full pixel-pair covariance), then the
dense readout with ``W_std_out`` and ``b_std``; NTK parameterization.
``tests/test_cntk_depths.py`` checks every depth against the single-depth
hand-written kernels to float64 rounding.

Examples
--------
>>> import numpy as np
>>> from ntkbook import cntk_depths
>>> x = np.random.default_rng(0).normal(size=(6, 5, 5, 1))
>>> res = cntk_depths.gram_by_depth(x, depths=[1, 2], pool="gap", batch_size=4)
>>> sorted(res), res[2].gram.shape, res[2].cpu_seconds >= res[1].cpu_seconds
([1, 2], (6, 6), True)
"""

from __future__ import annotations

import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from ._x64 import enable_x64
from .archs import B_STD, W_STD
from .fast_kernels import _conv_input, _conv_relu
from .gram import _pad_rows

__all__ = ["DepthGram", "gram_by_depth"]


class DepthGram(NamedTuple):
    """One depth's result of :func:`gram_by_depth`.

    Attributes
    ----------
    gram : ndarray, shape (N1, N2)
        The NTK Gram matrix (float64) of the network with this many convolutions.
    cpu_seconds : float
        Process CPU time of the stages up to this depth (compilation included): the
        cost of computing this depth's Gram matrix on its own.
    """

    gram: np.ndarray
    cpu_seconds: float


def _readout(state, full: bool, wout2: float, b2: float):
    """The NTK after GAP (mean over all pixel pairs) or Flatten (the diagonal) and the readout."""
    cov, ntk = state[0], state[1]
    axes = (2, 3, 4, 5) if full else (2, 3)
    k12 = wout2 * jnp.mean(cov, axis=axes) + b2
    return wout2 * jnp.mean(ntk, axis=axes) + k12


# (full, ky, kx, w2, b2, wout2, first, n_layers) -> jitted stage; reused across calls and blocks
_STAGES: dict = {}


def _stage(full: bool, ky: int, kx: int, w2: float, b2: float, wout2: float, first: bool,
           n_layers: int):
    key = (full, ky, kx, w2, b2, wout2, first, n_layers)
    if key not in _STAGES:
        def run(*args):
            state = _conv_input(*args, full) if first else args
            for _ in range(n_layers):
                state = _conv_relu(state, full, ky, kx, w2, b2)
            return _readout(state, full, wout2, b2), state

        _STAGES[key] = jax.jit(run)
    return _STAGES[key]


def gram_by_depth(x, x2=None, *, depths: Sequence[int], pool: str = "gap", ndim: int = 2,
                  kernel: int = 3, W_std: float = W_STD, b_std: float = B_STD,
                  W_std_out: float = 1.0, batch_size: int = 20) -> dict[int, DepthGram]:
    """NTK Grams of ``archs.cnn([c] * L, [], K, pool=pool, ndim=ndim)``, every ``L`` in ``depths``.

    Equal, to float64 rounding, to ``gram.gram(archs.cnn([c] * L, [], K, pool=pool,
    ndim=ndim), x, x2, batch_size=batch_size)`` for each depth, at the cost of the
    deepest one alone.

    Parameters
    ----------
    x : array, shape (N1, H, W, C) (``ndim=2``) or (N1, L, C) (``ndim=1``)
        First inputs.
    x2 : array like ``x``, optional
        Second inputs; ``None`` means ``x`` (symmetric: blocks on and above the diagonal only).
    depths
        Numbers of convolutional layers, positive (any order, no repeats).
    pool
        ``"gap"`` (global average pooling) or ``"flatten"``.
    ndim
        2 for images, 1 for signals.
    kernel
        Odd filter size.
    W_std, b_std, W_std_out
        Hidden-layer weight and bias scales and the readout's weight scale
        (:func:`ntkbook.archs.cnn`'s defaults).
    batch_size
        Block size along each axis (as in :func:`ntkbook.gram.gram`).

    Returns
    -------
    dict
        depth -> :class:`DepthGram` (``gram``, ``cpu_seconds``).
    """
    if pool not in ("gap", "flatten"):
        raise ValueError(f"pool={pool!r}; expected 'gap' or 'flatten'.")
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 (signals) or 2 (images); got {ndim!r}.")
    kernel = _checks.positive_int(kernel, "kernel")
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (SAME padding symmetric); got {kernel}.")
    batch_size = _checks.positive_int(batch_size, "batch_size")
    depths = [_checks.positive_int(d, "depths") for d in depths]
    if not depths or len(set(depths)) != len(depths):
        raise ValueError(f"depths must be a non-empty list of distinct positive ints; "
                         f"got {depths}.")
    x = _checks.finite_array(x, "x", ndim=ndim + 2, dtype=np.float64)
    symmetric = x2 is None
    xb = x if symmetric else _checks.finite_array(x2, "x2", ndim=ndim + 2, dtype=np.float64)
    if xb.shape[1:] != x.shape[1:] or len(x) == 0 or len(xb) == 0:
        raise ValueError(f"x and x2 must be non-empty and share a feature shape; got {x.shape} "
                         f"and {xb.shape}.")
    if ndim == 1:                      # signals run as images of height 1
        x, xb = x[:, None], xb[:, None]
    ky, kx = (1, kernel) if ndim == 1 else (kernel, kernel)
    full, w2 = pool == "gap", float(W_std) ** 2 / (ky * kx)
    b2, wout2 = (0.0 if b_std is None else float(b_std) ** 2), float(W_std_out) ** 2

    order = sorted(depths)
    stages = [_stage(full, ky, kx, w2, b2, wout2, i == 0, d - (order[i - 1] if i else 0))
              for i, d in enumerate(order)]
    n1, n2 = len(x), len(xb)
    b = min(batch_size, max(n1, n2))
    xa_p, xb_p = _pad_rows(x, b), _pad_rows(xb, b)
    pairs = [(i, j) for i in range(len(xa_p) // b) for j in range(len(xb_p) // b)
             if not symmetric or j >= i]
    out = {d: np.empty((n1, n2)) for d in order}
    cpu = np.zeros(len(order))
    with enable_x64(True):
        for i, j in pairs:
            args = (jnp.asarray(xa_p[i * b:(i + 1) * b]), jnp.asarray(xb_p[j * b:(j + 1) * b]))
            r0, c0 = i * b, j * b
            r1, c1 = min(r0 + b, n1), min(c0 + b, n2)
            for s, (d, stage) in enumerate(zip(order, stages)):
                t0 = time.process_time()
                blk, args = stage(*args)
                blk = np.asarray(blk)          # waits for the stage: its CPU time is complete
                cpu[s] += time.process_time() - t0
                if symmetric and i == j:
                    blk = (blk + blk.T) / 2    # exactly symmetric, as gram.gram makes it
                out[d][r0:r1, c0:c1] = blk[: r1 - r0, : c1 - c0]
                if symmetric and i != j:
                    out[d][c0:c1, r0:r1] = blk[: r1 - r0, : c1 - c0].T
    cum = np.cumsum(cpu)
    return {d: DepthGram(out[d], float(cum[s])) for s, d in enumerate(order)}
