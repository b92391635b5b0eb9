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
* **Every core.**  On a single CPU device the blocks are evaluated by a pool of
  threads, one per core the process may use (:func:`block_threads`): the CPU
  client of the book's JAX (0.4.23) runs a program on the thread that calls it,
  so without threads one core did all the work while neural-tangents' single
  large program used both.  The first block of each kind (diagonal, off-diagonal)
  is evaluated alone, so that each block function is compiled once, not once per
  thread.  The results do not depend on the number of threads: each block is the
  same computation, and blocks are placed in a fixed order.
* **Resumable.**  With a :class:`ntkbook.gram_cache.BlockCache`, finished blocks
  are saved and later calls compute only the rest.
* **Memory kept for the next block.**  The first call sets glibc's malloc thresholds
  (:func:`ntkbook._malloc.keep_block_memory`) so that a block's freed tensors serve the
  next one instead of fresh pages: half the time of a single-threaded GAP Gram went to
  page faults before.

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

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from . import _checks
from ._malloc import keep_block_memory
from ._x64 import x64_scope

__all__ = ["BlockRecord", "block_threads", "run_blocks", "pad_rows"]

# How many threads evaluate blocks on one CPU device; unset: every core the process may use.
# `make test` sets it to 1 (its jobs already keep both cores busy, one process per core).
THREADS_ENV = "NTKBOOK_BLOCK_THREADS"


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


def block_threads(devices: Sequence) -> int:
    """Threads that evaluate blocks at once on ``devices``.

    One per core the process may use (its CPU affinity) when the blocks run on a
    single CPU device, else 1 (accelerators, and several devices, already run
    concurrently through JAX's asynchronous dispatch).  The environment variable
    ``NTKBOOK_BLOCK_THREADS`` (an integer >= 1; empty means unset) overrides the
    number of cores.

    A worker thread enters the caller's float64 setting (JAX keeps it per thread inside
    a scope, and :func:`ntkbook.gram.gram` sets it in one); JAX's other per-thread
    contexts (``jax.default_device``, ``jax.default_matmul_precision``,
    ``jax.debug_nans``, ``jax.disable_jit``) are not carried over: under those, pass
    ``threads=1`` to :func:`run_blocks`.
    """
    if len(devices) == 0:
        raise ValueError("devices is empty; pass at least one JAX device.")
    if len(devices) != 1 or devices[0].platform != "cpu":
        return 1
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{THREADS_ENV} must be an integer >= 1 (threads per CPU device); got {raw!r}.")
    return value


def _result(item: tuple[tuple[int, int], Any]) -> tuple[tuple[int, int], Any]:
    """``(ij, future)`` -> ``(ij, its result)`` (re-raises the worker's exception)."""
    ij, fut = item
    return ij, fut.result()


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
    threads: int | None = None,
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
    threads : int, optional
        Blocks evaluated at once on a single CPU device (default :func:`block_threads`);
        1 for a ``block_fn`` that is not thread-safe or that times itself with the
        process's CPU clock.

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
    keep_block_memory()
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

    def on_diag_fn(ij: tuple[int, int]) -> bool:
        return symmetric and ij[0] == ij[1] and diag_fn is not None

    def dispatch(ij: tuple[int, int], dev) -> Sequence[Any]:
        i, j = ij
        a = jax.device_put(xa_p[i * b : (i + 1) * b], dev)
        if diag_fn is not None and on_diag_fn(ij):
            return diag_fn(a)
        return block_fn(a, jax.device_put(xb_p[j * b : (j + 1) * b], dev))

    threads = block_threads(devices) if threads is None else _checks.positive_int(threads, "threads")
    if threads > 1 and len(todo) > 1 and len(devices) == 1:
        # the first block of each kind alone (it compiles its function), then the rest on the
        # threads; a worker returns host arrays, so a block is finished when its future is.
        # JAX's float64 switch is per thread inside a scope (gram runs in x64_scope): a worker
        # starts from the global flag, so it enters the caller's setting, or it would compute
        # in float32
        dev = devices[0]
        x64 = jax.dtypes.canonicalize_dtype(np.float64) == np.float64

        def work(ij: tuple[int, int]) -> list[np.ndarray]:
            with x64_scope(x64):
                return [np.asarray(r) for r in dispatch(ij, dev)]

        first = [
            next(ij for ij in todo if on_diag_fn(ij) == kind) for kind in {on_diag_fn(ij) for ij in todo}
        ]
        for ij in first:
            collect(ij, dispatch(ij, dev))
        with ThreadPoolExecutor(threads) as pool:
            pending: list = []
            try:
                for ij in (ij for ij in todo if ij not in first):
                    pending.append((ij, pool.submit(work, ij)))
                    if len(pending) >= 2 * threads:
                        collect(*_result(pending.pop(0)))
                for item in pending:
                    collect(*_result(item))
            except BaseException:  # Ctrl-C or a failed block: drop the queued blocks, not the run ones
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        rec.devices[str(dev)] = len(todo)
        bar.close()
        return outs, rec

    inflight: list = []
    for k, (i, j) in enumerate(todo):
        dev = devices[k % len(devices)]
        inflight.append(((i, j), dispatch((i, j), dev)))
        rec.devices[str(dev)] = rec.devices.get(str(dev), 0) + 1
        if len(inflight) >= 2 * len(devices):
            collect(*inflight.pop(0))
    while inflight:
        collect(*inflight.pop(0))
    bar.close()
    return outs, rec
