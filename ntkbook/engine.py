"""The blocked engine: one loop over square blocks of input pairs, shared by every Gram matrix.

:func:`run_blocks` evaluates a block function on all pairs of row blocks of
``x1`` and ``x2`` and assembles the ``(N1, N2)`` results.  It is the only block
loop of the package: :func:`ntkbook.gram.gram` (one kernel),
(several depths read off one walk) and the empirical kernels of
:mod:`ntkbook.empirical` (``batch_size=``) all run through it.  What it does:

* **Symmetry.**  For ``x2=None`` only the blocks on and above the diagonal are
  evaluated; the rest is filled by transposition (about half the work), and
  diagonal blocks are made exactly symmetric for the solves downstream.  A
  ``diag_fn`` of one batch, if given, computes the diagonal blocks (for
  :mod:`ntkbook.layers` kernels: only the pairs ``a <= b`` of the block).
* **Equal blocks.**  Inputs are padded (by repeating their last row) to a whole
  number of blocks, so the ragged last block has the same shape as the others
  and a jitted block function compiles once.
* **Every device.**  Blocks are dispatched round-robin to the given JAX devices,
  two in flight per device (JAX dispatches asynchronously, so every device
  works at once and copying a finished block overlaps the next one).
* **Resumable.**  With a :class:`ntkbook.gram_cache.BlockCache`, finished blocks
  are saved and later calls compute only the rest.

Examples
--------
>>> import numpy as np
>>> from ntkbook import engine
>>> x = np.arange(10.0).reshape(5, 2)
>>> (out,), rec = engine.run_blocks(lambda a, c: (a @ c.T,), x, None, block=2)
>>> np.allclose(out, x @ x.T), rec.blocks, rec.computed        # 3 x 3 blocks, 6 on/above diagonal
(True, 6, 6)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from . import _checks

__all__ = ["BlockRecord", "run_blocks", "pad_rows"]


@dataclass
class BlockRecord:
    """What one :func:`run_blocks` call did.

    Attributes
    ----------
    block_size : int
        Rows (and columns) per block.
    blocks : int
        Blocks the result needs (on and above the diagonal when symmetric).
    computed, from_cache : int
        How many of them were evaluated, and how many read from the cache.
    corrupt_blocks : list of (int, int)
        Cached blocks that failed their checksum and were recomputed.
    devices : dict
        Device name -> blocks evaluated there.
    """

    block_size: int
    blocks: int = 0
    computed: int = 0
    from_cache: int = 0
    corrupt_blocks: list = field(default_factory=list)
    devices: dict = field(default_factory=dict)


def pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad to a multiple of ``multiple`` rows by repeating the last row (stays on the sphere).

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    multiple : int

    Returns
    -------
    ndarray, shape (ceil(N / multiple) * multiple, ...)
    """
    multiple = _checks.positive_int(multiple, "multiple")
    extra = (-len(x)) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)


def _swap(blk: np.ndarray) -> np.ndarray:
    """The block of the swapped pair: ``K(x2, x1)[b, a, j, i] = K(x1, x2)[a, b, i, j]``.

    Rows and columns swap, and so do the trailing output axes of an eNTK block
    ``(b, b, O, O)`` (the kernel of a pair is an O x O matrix, transposed with the pair).
    """
    return blk.transpose((1, 0) + tuple(range(blk.ndim - 1, 1, -1)))


def run_blocks(
    block_fn: Callable[[Any, Any], Sequence[Any]],
    x1: np.ndarray,
    x2: np.ndarray | None,
    block: int,
    *,
    devices: Sequence | None = None,
    cache=None,
    progress: bool = False,
    desc: str = "Gram",
    dtype=None,
    diag_fn: Callable[[Any], Sequence[Any]] | None = None,
) -> tuple[list[np.ndarray], BlockRecord]:
    """Evaluate ``block_fn`` on every pair of row blocks and assemble the results.

    Parameters
    ----------
    block_fn : callable
        ``block_fn(a, c) -> tuple of K arrays``, each of shape (block, block, out...)
        (``out``: e.g. the (O, O) of an eNTK pair), for ``a``, ``c`` of shape
        (block, features...) (on one device).
    x1 : ndarray, shape (N1, features...)
    x2 : ndarray, shape (N2, features...), or None
        ``None``: the symmetric case ``x2 = x1`` (blocks on and above the diagonal).
    block : int
        Rows per block, >= 1 (clipped to the larger of N1, N2).
    devices : sequence of jax devices, optional
        Where blocks run, round-robin; default every local device.
    cache : BlockCache, optional
        Finished blocks (K results stacked as one array per block) are read from and
        saved to it.
    progress : bool
        A tqdm bar over blocks, with its estimate of the time left.
    desc : str
        The bar's label.
    dtype
        dtype of the assembled results (default: the blocks' own).
    diag_fn : callable, optional
        ``diag_fn(a) -> tuple of K arrays`` equal to ``block_fn(a, a)``, used for the
        diagonal blocks of a symmetric call (``x2=None``), where the two batches are the
        same inputs and a kernel can skip the pairs ``a > b``.  Default: ``block_fn(a, a)``.

    Returns
    -------
    results : list of K ndarrays, shape (N1, N2, out...) each
    record : BlockRecord
    """
    if not callable(block_fn):
        raise TypeError(f"block_fn must be callable; got {type(block_fn).__name__}.")
    if diag_fn is not None and not callable(diag_fn):
        raise TypeError(f"diag_fn must be callable or None; got {type(diag_fn).__name__}.")
    symmetric = x2 is None
    xb = x1 if x2 is None else x2
    n1, n2 = len(x1), len(xb)
    if n1 == 0 or n2 == 0:
        raise ValueError(f"x1 and x2 must hold at least one input each; got {n1} and {n2}.")
    if not symmetric and np.shape(x1)[1:] != np.shape(xb)[1:]:
        raise ValueError(
            f"x1 and x2 must share a feature shape; got {np.shape(x1)[1:]} and {np.shape(xb)[1:]}."
        )
    b = min(_checks.positive_int(block, "block"), max(n1, n2))
    if devices is not None and len(devices) == 0:
        raise ValueError("devices is empty; pass at least one JAX device (or None for all).")
    xa_p, xb_p = pad_rows(x1, b), pad_rows(xb, b)
    rows, cols = len(xa_p) // b, len(xb_p) // b
    pairs = [(i, j) for i in range(rows) for j in range(cols) if not symmetric or j >= i]
    devices = list(devices) if devices is not None else jax.local_devices()
    rec = BlockRecord(block_size=b, blocks=len(pairs))
    outs: list[np.ndarray] = []

    def place(i: int, j: int, blks: np.ndarray) -> None:
        if not outs:
            outs.extend(
                np.empty((n1, n2) + blks.shape[3:], dtype=dtype or blks.dtype) for _ in range(len(blks))
            )
        r0, c0 = i * b, j * b
        r1, c1 = min(r0 + b, n1), min(c0 + b, n2)
        for out, blk in zip(outs, blks):
            if symmetric and i == j:
                blk = (blk + _swap(blk)) / 2  # symmetric only up to rounding inside a block
            out[r0:r1, c0:c1] = blk[: r1 - r0, : c1 - c0]
            if symmetric and i != j:
                out[c0:c1, r0:r1] = _swap(blk)[: c1 - c0, : r1 - r0]

    todo = []
    for i, j in pairs:
        cached = cache.get(i, j) if cache is not None else None
        if cached is None:
            todo.append((i, j))
        else:
            place(i, j, cached)
            rec.from_cache += 1
    if cache is not None:
        rec.corrupt_blocks = list(cache.corrupt)
    bar = tqdm(total=len(pairs), desc=desc, disable=not progress, unit="block", initial=rec.from_cache)

    def collect(ij: tuple[int, int], result) -> None:
        blks = np.stack([np.asarray(r) for r in result])
        if cache is not None:
            cache.put(*ij, blks)
        place(*ij, blks)
        rec.computed += 1
        bar.update(1)

    inflight: list = []
    for k, (i, j) in enumerate(todo):
        dev = devices[k % len(devices)]
        a = jax.device_put(xa_p[i * b : (i + 1) * b], dev)
        if symmetric and i == j and diag_fn is not None:
            inflight.append(((i, j), diag_fn(a)))
        else:
            c = jax.device_put(xb_p[j * b : (j + 1) * b], dev)
            inflight.append(((i, j), block_fn(a, c)))
        rec.devices[str(dev)] = rec.devices.get(str(dev), 0) + 1
        if len(inflight) >= 2 * len(devices):
            collect(*inflight.pop(0))
    while inflight:
        collect(*inflight.pop(0))
    bar.close()
    return outs, rec
