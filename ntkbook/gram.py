"""Blocked Gram matrices of infinite-width kernels.

:func:`gram` evaluates a ``kernel_fn`` (of a :mod:`ntkbook.layers` network, or
neural-tangents' own) on all pairs of inputs in square blocks, so that a Gram matrix of tens of thousands of samples never
holds more than one block of the kernel's intermediate covariance tensors in
memory.  What it does beyond ``neural_tangents.batch``:

* **Symmetry, one compilation, every device, resumable** -- the blocked engine
  :func:`ntkbook.engine.run_blocks`: only blocks on and above the diagonal for
  ``x2=None`` (a Gram of one block runs only its pairs ``a <= b``, the symmetric
  state of :mod:`ntkbook.layers`), equal (padded) blocks so the jitted block compiles once, blocks
  round-robin over every local JAX device, finished blocks cached on disk
  (:mod:`ntkbook.gram_cache`) with ``cache_dir``.
* **Memory guard** (:mod:`ntkbook.gram_memory`).  Before allocating, the result
  and the block working set (read off the traced computation) are compared with
  the free memory; too large a request fails with :class:`~ntkbook.gram_memory.GramMemoryError`
  naming a block size that fits.
* **float64 by default, chosen by measurement.**  Gram matrices feed linear
  solves and the chapters need float64 for conditioning; float32's result is
  off by ~1e-4 relative (the arc-cosine's infinite slope at equal inputs
  amplifies rounding).  Speed depends on the kernel (``python -m
  ntkbook.bench``, row ``dtype``, 2-core CPU): neural-tangents' CNN-1-GAP
  kernel on 100 digits took 2.3-3.0x *longer* in float32 than in float64
  (issue 8 saw the same with ``nt.batch``: 166 s against 48 s), while our
  GAP kernel on 200 digits was 1.4x faster in float32.  No
  speed-up is worth 1e-4 errors in matrices that are then inverted, so
  float64 stays the default and float32 is available through ``dtype``.
* **One kernel interpreter.**  A network of :mod:`ntkbook.layers` (every zoo
  network of :mod:`ntkbook.archs`) carries its own ``kernel_fn``, the
  interpreter of its layer stack, which runs as it is; any other ``kernel_fn``
  (a neural-tangents ``stax`` network, say) runs as given too, in blocks of
  :data:`FOREIGN_BLOCK` inputs, the block of ``nt.batch(kernel_fn, 100)``, so it is
  never slower than that baseline (and does half the blocks when symmetric).
  To get the interpreter's speed for a ``stax`` network, build it with
  :mod:`ntkbook.layers` instead: the same names and arguments.
* **Block size chosen by the engine** (``batch_size=None``): for a
  :mod:`ntkbook.layers` kernel, from the working set per pair of inputs (its layers'
  shape rules) and a cache (CPU) or memory (accelerator) budget,
  :func:`ntkbook.gram_memory.auto_batch_size`.

Examples
--------
>>> from ntkbook import archs, data, gram
>>> x = data.normalize(data.load("digits", n=20).x)        # (20, 8, 8, 1)
>>> H = gram.gram(archs.get("CNN-1"), x, batch_size=128, progress=False)
>>> H.shape, H.dtype                                        # (N, N) float64 ndarray
((20, 20), dtype('float64'))
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, overload

import jax
import numpy as np

from . import _checks, engine
from ._x64 import x64_scope
from .gram_cache import BlockCache, fingerprint, kernel_identity
from .gram_memory import GramMemoryError as GramMemoryError  # re-exported for the chapters
from .gram_memory import auto_batch_size, check_fits, estimate_memory, kernel_fn_of
from .layers import KernelFn

# The memory model's names (GramMemoryError, estimate_memory, auto_batch_size, kernel_fn_of)
# stay importable from here, as the chapters call them, but are documented in
# ntkbook.gram_memory: listing them here too would document them twice.
__all__ = ["gram", "GramRun", "last_run", "FOREIGN_BLOCK"]

KINDS = ("ntk", "nngp")

FOREIGN_BLOCK = 100
"""Default block of a ``kernel_fn`` that is not a :class:`ntkbook.layers.KernelFn`:
the block of the ``nt.batch(kernel_fn, 100)`` baseline."""


@dataclass(frozen=True)
class GramRun:
    """What one :func:`gram` call did (``gram(..., return_record=True)`` returns it).

    Attributes
    ----------
    kernel : str
        The interpreter's repr (``"KernelFn(Conv -> Relu -> ...)"``), or ``"foreign kernel_fn"``.
    block_size : int
        Rows (and columns) per block.
    block_rule : str
        ``"given"``, or the automatic rule with its numbers.
    blocks : int
        Blocks the matrix needs (on and above the diagonal when ``x2`` is None).
    computed, from_cache : int
        How many of them were evaluated, and how many read from the cache.
    corrupt_blocks : list of (int, int)
        Cached blocks that failed their checksum and were recomputed.
    devices : dict
        Device name -> blocks computed there.

    Items read like a dict too (``run["blocks"]``), as the old ``last_run`` did.
    """

    kernel: str
    block_size: int
    block_rule: str
    blocks: int
    computed: int
    from_cache: int
    corrupt_blocks: list = field(default_factory=list)
    devices: dict = field(default_factory=dict)

    def __getitem__(self, name: str):
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def as_dict(self) -> dict:
        """The record as a plain dict."""
        return asdict(self)


class _LastRun(Mapping):
    """Read-only view of the latest :func:`gram` call's :class:`GramRun` (compatibility).

    Prefer ``H, run = gram(..., return_record=True)``: the record travels with its matrix,
    while this view changes with every call in the process.
    """

    def __init__(self) -> None:
        self._run: GramRun | None = None

    def __getitem__(self, name: str):
        if self._run is None:
            raise KeyError(f"{name!r}: no gram() call has finished yet in this process.")
        return self._run[name]

    def __iter__(self) -> Iterator[str]:
        return iter(() if self._run is None else GramRun.__dataclass_fields__)

    def __len__(self) -> int:
        return 0 if self._run is None else len(GramRun.__dataclass_fields__)

    def __repr__(self) -> str:
        return f"last_run({self._run!r})"


last_run = _LastRun()
"""Read-only view of the latest :func:`gram` call's :class:`GramRun`, item by item
(``gram.last_run["blocks"]``), kept for code written against the old global dict.
New code takes the record with its result: ``H, run = gram.gram(..., return_record=True)``."""


# kernel_fn -> {kind: jitted block function}: a second gram() call with the same
# kernel and block shape reuses the compiled program instead of compiling again
_BLOCK_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _block_fn(kernel_fn: Callable, kind: str) -> tuple[Callable, Callable | None]:
    """The block functions ``(a, c) -> (kernel_fn(a, c, kind),)`` and ``a -> (kernel_fn(a, a,
    kind),)`` (or ``None``), one pair per kernel and kind (cached).

    A :class:`~ntkbook.layers.KernelFn` runs as its chain of compiled stages
    (:meth:`~ntkbook.layers.KernelFn.staged`: one program per layer on the full pixel-pair
    covariance, shared by equal layers), and its diagonal blocks as the symmetric state
    (only the pairs ``a <= b``: about half the work); any other ``kernel_fn`` is jitted
    whole, as ``nt.batch`` jits its blocks, and has no diagonal function.  Either way it is
    compiled once and reused by later calls.
    """
    try:
        per_kind = _BLOCK_FNS.setdefault(kernel_fn, {})
    except TypeError:  # not weak-referenceable: no reuse across calls
        per_kind = {}
    if kind not in per_kind:
        diag: Callable | None = None
        if isinstance(kernel_fn, KernelFn):
            staged = kernel_fn.staged(kind)

            def block(a, c):
                return (staged(a, c),)

            def diag(a):
                return (staged(a),)
        else:

            def block(a, c):
                return (kernel_fn(a, c, kind),)

            block = jax.jit(block)
        per_kind[kind] = (block, diag)
    return per_kind[kind]


# the return type follows return_record, so a caller's matrix is typed as an array
@overload
def gram(
    arch_or_kernel_fn,
    x,
    x2=None,
    kind: str = "ntk",
    batch_size: int | None = None,
    progress: bool = True,
    *,
    dtype=np.float64,
    devices: Sequence | None = None,
    cache_dir: str | os.PathLike | None = None,
    check_memory: bool = True,
    return_record: Literal[False] = False,
) -> np.ndarray: ...
@overload
def gram(
    arch_or_kernel_fn,
    x,
    x2=None,
    kind: str = "ntk",
    batch_size: int | None = None,
    progress: bool = True,
    *,
    dtype=np.float64,
    devices: Sequence | None = None,
    cache_dir: str | os.PathLike | None = None,
    check_memory: bool = True,
    return_record: Literal[True],
) -> tuple[np.ndarray, GramRun]: ...
def gram(
    arch_or_kernel_fn,
    x,
    x2=None,
    kind: str = "ntk",
    batch_size: int | None = None,
    progress: bool = True,
    *,
    dtype=np.float64,
    devices: Sequence | None = None,
    cache_dir: str | os.PathLike | None = None,
    check_memory: bool = True,
    return_record: bool = False,
) -> np.ndarray | tuple[np.ndarray, GramRun]:
    """Gram matrix of an infinite-width kernel, computed in blocks.

    Parameters
    ----------
    arch_or_kernel_fn
        A network triple ``(init_fn, apply_fn, kernel_fn)`` (e.g. from
        :func:`ntkbook.archs.get`, :mod:`ntkbook.layers` or neural-tangents' ``stax``)
        or a ``kernel_fn`` alone.
    x : array, shape ``(N1, *feature_shape)``
        First inputs.
    x2 : array, shape ``(N2, *feature_shape)``, optional
        Second inputs; ``None`` means ``x`` (a symmetric Gram, computed on and
        above the diagonal blocks only).
    kind
        ``"ntk"`` (the neural tangent kernel Theta) or ``"nngp"`` (the
        Gaussian-process kernel K).
    batch_size
        Block size along each axis; working memory grows as ``batch_size**2``.
        ``None`` (default): for a :mod:`ntkbook.layers` kernel, chosen by
        :func:`~ntkbook.gram_memory.auto_batch_size` from the working set of one block
        (its layers' shape rules) and the cache (CPU) or free memory (accelerator); for any other
        kernel, :data:`FOREIGN_BLOCK`.  The :class:`GramRun` record reports the choice and
        the rule.
    progress
        Show a tqdm bar over blocks, with its estimate of the time left.
    dtype
        ``np.float64`` (default) or ``np.float32``.  float16 is refused: jaxlib
        0.4.23 crashes compiling it on some CPUs.
    devices
        JAX devices to spread blocks over; default all local devices.
    cache_dir
        Optional folder for finished blocks, making an interrupted computation
        resumable.  A folder belongs to one Gram matrix (inputs, kind, block size
        and kernel): reusing it for another raises ``ValueError``.
    check_memory
        Estimate the memory first and raise :class:`~ntkbook.gram_memory.GramMemoryError` if it
        would not fit (for a foreign ``kernel_fn``, the result only).
    return_record
        Also return the :class:`GramRun` record of this call (block size and rule,
        blocks computed and read from the cache, devices).

    Returns
    -------
    ndarray, shape (N1, N2)
        The Gram matrix, ``dtype``.
    GramRun
        Only with ``return_record=True``: ``(matrix, record)``.

    Raises
    ------
    ValueError
        NaN/inf in the inputs, feature shapes that disagree, unknown ``kind``.
    GramMemoryError
        The result or one block would not fit in memory.
    """
    kernel_fn = kernel_fn_of(arch_or_kernel_fn)
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {KINDS}.")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype={dtype}; expected float64 or float32.")
    if batch_size is not None:
        batch_size = _checks.positive_int(batch_size, "batch_size")
    if not isinstance(return_record, bool):
        raise TypeError(f"return_record must be True or False; got {return_record!r}.")
    x = _checks.finite_array(x, "x").astype(dtype)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must have shape (N, *feature_shape) with N >= 1; got {x.shape}.")
    symmetric = x2 is None
    if not symmetric:
        x2 = _checks.finite_array(x2, "x2").astype(dtype)
        if x2.ndim < 2 or x2.shape[1:] != x.shape[1:] or len(x2) == 0:
            raise ValueError(
                f"x2 must have shape (N2, *feature_shape) with N2 >= 1 and x's "
                f"feature shape {x.shape[1:]}; got {x2.shape}."
            )
    n1, n2 = len(x), len(x if symmetric else x2)
    devices = list(devices) if devices is not None else jax.local_devices()
    ours = isinstance(kernel_fn, KernelFn)
    if batch_size is not None:
        b, rule = min(batch_size, max(n1, n2)), "given"
    elif ours:
        b, choice = auto_batch_size(kernel_fn, x, x2, kind, dtype, devices)
        rule = choice["rule"]
    else:
        b = min(FOREIGN_BLOCK, max(n1, n2))
        rule = f"foreign kernel_fn: nt.batch's block of {FOREIGN_BLOCK}"

    with x64_scope(dtype == np.float64):
        one_block = symmetric and n1 <= b
        if check_memory:
            # a foreign kernel is not traced for its working set (tracing a neural-tangents
            # kernel costs about as much as a small Gram): only the result is checked
            check_fits(
                estimate_memory(kernel_fn, x, x2, kind, b, dtype, devices, trace=ours),
                b,
                lambda bs: estimate_memory(kernel_fn, x, x2, kind, bs, dtype, devices, trace=ours),
            )
        if isinstance(kernel_fn, KernelFn) and len(devices) == 1 and devices[0] == jax.devices()[0]:
            # every stage traced and compiled before the first block, side by side on the
            # engine's threads (after the guard: a refused block compiles nothing)
            spec = jax.ShapeDtypeStruct((b,) + x.shape[1:], dtype)
            kernel_fn.staged(kind).compile(spec, None if one_block else spec, engine.block_threads(devices))
        cache = None
        if cache_dir is not None:
            ident = kernel_identity(kernel_fn, x, kind)
            cache = BlockCache(cache_dir, fingerprint(x, x2, kind, b, ident))
        block_fn, diag_fn = _block_fn(kernel_fn, kind)
        if not one_block:
            # the symmetric state halves the pairs of a diagonal block, but its programs
            # are other shapes, compiled on top of the all-pairs ones: with off-diagonal
            # blocks too, that compilation cost more than it saved (zoo CNN-1-GAP, 100
            # digits, blocks of 10: 1.3 s more to compile, 0.1 s less to run; process CPU
            # time, 2-core CPU).  A Gram of one (diagonal) block compiles only the
            # symmetric programs and does half the work: CNN-1-GAP on 100 digits in one
            # block, 1.81 s warm and 3.50 s first call against 2.93 s and 4.48 s all pairs
            # (wall, quiet 2-core CPU).
            diag_fn = None
        (out,), rec = engine.run_blocks(
            block_fn,
            x,
            x2,
            b,
            devices=devices,
            cache=cache,
            progress=progress,
            desc=f"{kind} Gram {n1}x{n2}",
            dtype=dtype,
            diag_fn=diag_fn,
        )
    run = GramRun(
        kernel=repr(kernel_fn) if ours else "foreign kernel_fn",
        block_size=b,
        block_rule=rule,
        blocks=rec.blocks,
        computed=rec.computed,
        from_cache=rec.from_cache,
        corrupt_blocks=list(rec.corrupt_blocks),
        devices=dict(rec.devices),
    )
    last_run._run = run
    return (out, run) if return_record else out
