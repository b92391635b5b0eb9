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

The layer updates are those of the stack written in :mod:`ntkbook.layers`
(its interpreter, :meth:`~ntkbook.layers.KernelFn.advance`): a stride-1 ``SAME``
``k x k`` convolution (``k`` in 1-D) with ``W_std``/``b_std``, a ReLU, and after
the last convolution either ``Flatten`` (pixel-diagonal covariance only) or
global average pooling (the full pixel-pair covariance), then the dense readout
with ``W_std_out`` and ``b_std``; NTK parameterization.  The blocks run through
the package's one blocked engine, :func:`ntkbook.engine.run_blocks`.
``tests/test_cntk_depths.py`` checks every depth against each depth's own
network to float64 rounding.

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

import functools
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from . import _checks, engine
from . import layers as nn
from ._x64 import x64_scope
from .archs import B_STD, W_STD

__all__ = ["DepthGram", "gram_by_depth"]


class DepthGram(NamedTuple):
    """One depth's result of :func:`gram_by_depth`.

    Attributes
    ----------
    gram : ndarray, shape (N1, N2)
        The NTK Gram matrix (float64) of the network with this many convolutions.
    cpu_seconds : float
        Process CPU time of the stages up to this depth: the cost of computing this
        depth's Gram matrix on its own.  Compilation is included the first time a stack runs
        at a block shape in the process; later calls (the test Gram after the training Gram,
        another seed) run the stages already compiled.
    """

    gram: np.ndarray
    cpu_seconds: float


def gram_by_depth(
    x,
    x2=None,
    *,
    depths: Sequence[int],
    pool: str = "gap",
    ndim: int = 2,
    kernel: int = 3,
    W_std: float = W_STD,
    b_std: float = B_STD,
    W_std_out: float = 1.0,
    batch_size: int = 20,
) -> dict[int, DepthGram]:
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
        raise ValueError(f"depths must be a non-empty list of distinct positive ints; got {depths}.")
    x = _checks.finite_array(x, "x", ndim=ndim + 2, dtype=np.float64)
    symmetric = x2 is None
    xb = x if symmetric else _checks.finite_array(x2, "x2", ndim=ndim + 2, dtype=np.float64)
    if xb.shape[1:] != x.shape[1:] or len(x) == 0 or len(xb) == 0:
        raise ValueError(
            f"x and x2 must be non-empty and share a feature shape; got {x.shape} and {xb.shape}."
        )
    order = sorted(depths)
    filt = (kernel,) * ndim
    head = nn.serial(nn.GlobalAvgPool() if pool == "gap" else nn.Flatten(), nn.Dense(1, W_std_out, b_std))
    # the deepest network; its representation (full up to a GAP) serves every shallower cut
    body = nn.serial(
        *[
            nn.serial(nn.Conv(1, filt, padding="SAME", W_std=W_std, b_std=b_std), nn.Relu())
            for _ in range(order[-1])
        ],
        head,
    ).kernel_fn
    head_kernel = head.kernel_fn
    # stage s: the layers from the previous depth to depth order[s], then that depth's readout
    bounds = [0] + [2 * d for d in order]
    stages = [_compiled_stage(body, head_kernel, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    start = jax.jit(body.start)
    cpu = np.zeros(len(order))

    def block_fn(a, c):
        state, outs = start(a, c), []
        for s, stage in enumerate(stages):
            t0 = time.process_time()
            state, blk = stage(state)
            outs.append(np.asarray(blk))  # waits for the stage: its CPU time is complete
            cpu[s] += time.process_time() - t0
        return outs

    with x64_scope(True):
        # one thread: block_fn charges each depth the process's CPU time of its stage
        results, _ = engine.run_blocks(block_fn, x, None if symmetric else xb, batch_size, threads=1)
    cum = np.cumsum(cpu)
    return {d: DepthGram(results[s], float(cum[s])) for s, d in enumerate(order)}


@functools.lru_cache(maxsize=64)
def _compiled_stage(body: nn.KernelFn, head: nn.KernelFn, lo: int, hi: int):
    """``_stage`` of one cut of one stack, jitted once: kernels compare by their layers, so the
    train and test Grams of a network (and every seed's) share the compilation (chapter 4 compiled
    each stage twice per call pair, about 7 s of its 80 s of CPU)."""
    return jax.jit(functools.partial(_stage, body, head, lo=lo, hi=hi))


def _stage(body: nn.KernelFn, head: nn.KernelFn, c: nn.Cov, lo: int, hi: int):
    """Layers ``lo:hi`` of ``body`` on the state ``c``; the new state and its readout's NTK."""
    c = body.advance(c, lo, hi)
    return c, head.finish(head.advance(c)).ntk
