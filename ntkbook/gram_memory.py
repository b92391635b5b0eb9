"""The Gram engine's memory model: what one block needs, whether it fits, and the block size.

* :func:`estimate_memory` reads the working set of one block off the layers' shape
  rules (a :class:`~ntkbook.layers.KernelFn`) or the traced block computation
  (``jax.make_jaxpr``, any other ``kernel_fn``), without allocating anything;
* the guard (:func:`check_fits`) compares it and the result with the free memory and
  fails with :class:`~ntkbook.gram_memory.GramMemoryError` naming a block size that fits;
* :func:`auto_batch_size` turns the working set per pair of inputs into the
  block size :func:`ntkbook.gram.gram` uses by default.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import _checks
from ._x64 import x64_scope
from .engine import block_threads
from .layers import KernelFn, _Conv

__all__ = [
    "GramMemoryError",
    "estimate_memory",
    "check_fits",
    "auto_batch_size",
    "host_available_bytes",
    "kernel_fn_of",
]


class GramMemoryError(MemoryError):
    """The requested Gram matrix or its blocks would not fit in memory."""


def kernel_fn_of(arch_or_kernel_fn) -> Callable:
    """Return the ``kernel_fn`` of a network triple (``init_fn, apply_fn, kernel_fn``), or the callable itself."""
    if isinstance(arch_or_kernel_fn, tuple) and len(arch_or_kernel_fn) == 3:
        return arch_or_kernel_fn[2]
    if callable(arch_or_kernel_fn):
        return arch_or_kernel_fn
    raise TypeError(
        "arch_or_kernel_fn must be a network triple (init_fn, apply_fn, kernel_fn) "
        f"or a kernel_fn; got {type(arch_or_kernel_fn).__name__}."
    )


def _largest_intermediate(fn: Callable, *specs) -> int:
    """Bytes of the largest array the traced ``fn(*specs)`` creates (including sub-jaxprs)."""
    closed = jax.make_jaxpr(fn)(*specs)
    largest = 0

    def walk(jaxpr) -> None:
        nonlocal largest
        for eqn in jaxpr.eqns:
            for var in eqn.outvars:
                aval: Any = getattr(var, "aval", None)
                if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                    largest = max(largest, int(np.prod(aval.shape)) * aval.dtype.itemsize)
            for param in eqn.params.values():
                for sub in param if isinstance(param, (list, tuple)) else [param]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(closed.jaxpr)
    return largest


def host_available_bytes() -> int:
    """Free host memory (``MemAvailable`` of /proc/meminfo where there is one)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def _device_available_bytes(device) -> int:
    """Free memory of an accelerator; host memory for a CPU device."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return host_available_bytes()


# kernel_fn -> {(kind, block shapes, dtype): bytes of the largest traced intermediate}, for
# kernels not built with ntkbook.layers (those read their working set off their shape rules)
_LARGEST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _known_largest(kernel_fn) -> dict:
    """The cache of traced block sizes for ``kernel_fn`` (a fresh dict where it cannot be kept)."""
    try:
        return _LARGEST.setdefault(kernel_fn, {})
    except TypeError:  # not weak-referenceable: trace every time
        return {}


# Working set of one block, in multiples of its largest array (``_largest_in_block``).  A kernel
# keeps the NNGP and NTK covariance tensors of the current layer plus temporaries, and
# XLA's schedule of a whole stack keeps more of them alive the more convolutions run on
# the full pixel-pair covariance.  Measured (``python -m ntkbook.bench --memory``, CPU,
# peak RSS rise during a warm call, 64 digits, block 32, ntkbook.layers kernels): CNN-1-GAP
# (2 such convolutions) peaked at 11.1x its largest array, CNN-2-GAP (4) at 21.0x; the
# flatten networks stayed below what RSS resolves.  Hence 7x per full-covariance
# convolution (a fifth to a third to spare), and 8x at least.
_WORKING_SET_FACTOR = 8
_PER_FULL_CONV = 7


def _working_set_factor(kernel_fn) -> int:
    """Multiples of the largest array one block of ``kernel_fn`` keeps alive at its peak."""
    if not isinstance(kernel_fn, KernelFn):
        return _WORKING_SET_FACTOR
    full = kernel_fn.layers[: kernel_fn.full_until + 1]
    return max(_WORKING_SET_FACTOR, _PER_FULL_CONV * sum(isinstance(layer, _Conv) for layer in full))


def _largest_in_block(
    kernel_fn, feature_shape: tuple, kind: str, b1: int, b2: int, one_block: bool, dtype
) -> float:
    """Bytes of the largest array one ``b1 x b2`` block of ``kernel_fn`` keeps.

    A :class:`~ntkbook.layers.KernelFn` is not traced: its largest state, read off the
    layers' shape rules (:meth:`~ntkbook.layers.KernelFn.pair_entries`), times the pairs
    on the state's axis (:meth:`~ntkbook.layers.KernelFn.state_pairs`: the block's ``b1 b2`` and
    each input with itself, or ``b1 (b1 + 1) / 2`` when a symmetric Gram that fits
    ``one_block`` runs as the symmetric state), or one block of inputs where that is
    larger.  Temporaries inside its programs are left out: a convolution's window runs
    on the NNGP and the NTK joined side by side (:meth:`~ntkbook.layers.Cov.map_joined`),
    about twice the largest state, and the working-set factor was measured against the states
    (CNN-1-GAP's peak was 529-545 MB with the joined window, 537 MB before;
    ``python -m ntkbook.bench --memory``).  Any other ``kernel_fn`` is traced once per
    feature shape on a block of at most ``_TRACE_BLOCK`` inputs (cached) and scaled by
    the pairs: its largest arrays are the pairwise covariances, which grow as
    ``b1 * b2`` (tracing again at every block size cost a second or more per call).
    """
    dt = np.dtype(dtype)
    if isinstance(kernel_fn, KernelFn):
        pairs = KernelFn.state_pairs(b1, b2, symmetric=one_block)
        # the inputs themselves can be larger (an MLP on images keeps one entry per pair)
        inputs = max(b1, b2) * math.prod(feature_shape)
        return float(max(kernel_fn.pair_entries(feature_shape) * pairs, inputs) * dt.itemsize)
    t1, t2 = min(_TRACE_BLOCK, b1), min(_TRACE_BLOCK, b2)
    key = (kind, t1, t2, tuple(feature_shape), dt.str)
    known = _known_largest(kernel_fn)
    if key not in known:
        with x64_scope(dt == np.float64):
            spec_a = jax.ShapeDtypeStruct((t1,) + tuple(feature_shape), dt)
            spec_b = jax.ShapeDtypeStruct((t2,) + tuple(feature_shape), dt)
            known[key] = _largest_intermediate(lambda a, b: kernel_fn(a, b, kind), spec_a, spec_b)
    return known[key] * (b1 * b2) / (t1 * t2)


def _block_inputs(x, x2) -> np.ndarray:
    """``x`` as an array, checked to hold at least one input (and ``x2``, if given)."""
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0 or (x2 is not None and len(x2) == 0):
        raise ValueError(
            f"x (and x2) must have shape (N, *feature_shape) with N >= 1; got "
            f"{x.shape}" + ("" if x2 is None else f" and {np.shape(x2)}") + "."
        )
    return x


def _device_list(devices: Sequence | None) -> list:
    """``devices`` as a non-empty list (default: every local device)."""
    if devices is not None and len(devices) == 0:
        raise ValueError("devices is empty; pass at least one JAX device (or None for all).")
    return list(devices) if devices is not None else jax.local_devices()


# Share of the free memory the guard lets one call use.
_MEMORY_SHARE = 0.8


def estimate_memory(
    arch_or_kernel_fn,
    x,
    x2=None,
    kind: str = "ntk",
    batch_size: int = 256,
    dtype=np.float64,
    devices: Sequence | None = None,
    *,
    trace: bool = True,
) -> dict:
    """Estimate the memory :func:`gram` needs, without allocating it.

    The block working set is the block's largest array times a factor measured to
    bound the peak RSS of every zoo kernel on CPU (``_working_set_factor``: 7 per
    convolution on the full pixel-pair covariance, 8 at least).  The largest array of
    a :class:`~ntkbook.layers.KernelFn` is its largest state, from the layers' shape
    rules; any other ``kernel_fn`` is traced (``jax.make_jaxpr``) for its largest
    intermediate (``_largest_in_block``).

    ``trace=False`` skips the working set and reports 0 for it (the result alone is
    then checked).

    Returns
    -------
    dict
        ``result_bytes`` (the N1 x N2 output), ``block_bytes`` (working set of
        one block on one device), ``devices`` (how many), ``blocks_at_once`` (blocks in
        flight: one per device, or :func:`ntkbook.engine.block_threads` on one CPU
        device), ``host_available_bytes``
        and ``device_available_bytes`` (free memory of the first device; the host's
        on a CPU).
    """
    kernel_fn = kernel_fn_of(arch_or_kernel_fn)
    x = _block_inputs(x, x2)
    batch_size = _checks.positive_int(batch_size, "batch_size")
    devices = _device_list(devices)
    n1 = len(x)
    n2 = n1 if x2 is None else len(x2)
    b1, b2 = min(batch_size, n1), min(batch_size, n2)
    one_block = x2 is None and n1 <= batch_size  # gram runs it as the symmetric state
    largest = _largest_in_block(kernel_fn, x.shape[1:], kind, b1, b2, one_block, dtype) if trace else 0
    return dict(
        result_bytes=n1 * n2 * np.dtype(dtype).itemsize,
        block_bytes=int(_working_set_factor(kernel_fn) * largest),
        devices=len(devices),
        # the engine's threads evaluate that many blocks at once on one CPU device
        blocks_at_once=block_threads(devices) if len(devices) == 1 else len(devices),
        on_host=devices[0].platform == "cpu",
        host_available_bytes=host_available_bytes(),
        device_available_bytes=_device_available_bytes(devices[0]),
    )


def _fits(est: dict) -> tuple[bool, float]:
    """Whether the blocks of ``est`` fit beside the result, and the spare bytes per device."""
    host = _MEMORY_SHARE * est["host_available_bytes"]
    # On a CPU every block in flight (one per device, or one per engine thread on a single
    # CPU device) shares host memory with the result.
    if est["on_host"]:
        spare = (host - est["result_bytes"]) / est.get("blocks_at_once", est["devices"])
    else:
        spare = _MEMORY_SHARE * est["device_available_bytes"]
    return est["block_bytes"] <= spare, spare


_EST_KEYS = frozenset(
    {"result_bytes", "block_bytes", "devices", "on_host", "host_available_bytes", "device_available_bytes"}
)


def check_fits(est: dict, batch_size: int, reestimate: Callable[[int], dict] | None = None) -> None:
    """Raise :class:`~ntkbook.gram_memory.GramMemoryError` when ``est`` (from :func:`estimate_memory`) does not fit.

    ``reestimate(b)`` re-runs the estimate for block size ``b``; with it the
    suggested ``batch_size`` is checked to fit before it is named.
    """
    missing = _EST_KEYS - set(est) if isinstance(est, dict) else _EST_KEYS
    if missing:
        raise TypeError(f"est must be a dict from estimate_memory(); missing {sorted(missing)}.")
    batch_size = _checks.positive_int(batch_size, "batch_size")
    gib = 2.0**30
    host = _MEMORY_SHARE * est["host_available_bytes"]
    if est["result_bytes"] > host:
        raise GramMemoryError(
            f"the Gram matrix alone needs {est['result_bytes'] / gib:.2f} GiB but only "
            f"{est['host_available_bytes'] / gib:.2f} GiB are free: compute it in row slices "
            f"(x=x[i:j], x2=x) or on a machine with more memory."
        )
    ok, spare = _fits(est)
    if ok:
        return
    # the working set grows about as batch_size**2 (pairs of inputs in a block);
    # start there and shrink until the traced estimate really fits
    suggestion = max(1, int(batch_size * math.sqrt(max(spare, 0.0) / est["block_bytes"])))
    if reestimate is not None:
        while suggestion > 1 and not _fits(reestimate(suggestion))[0]:
            suggestion = max(1, int(suggestion * 0.8))
        if not _fits(reestimate(suggestion))[0]:
            raise GramMemoryError(
                f"even a 1x1 block does not fit in the {spare / gib:.3g} GiB per block left "
                f"beside the {est['result_bytes'] / gib:.2f} GiB result: free memory first."
            )
    raise GramMemoryError(
        f"one {batch_size}x{batch_size} block needs about {est['block_bytes'] / gib:.2f} GiB "
        f"per block ({est.get('blocks_at_once', est['devices'])} evaluated at once) beside a "
        f"{est['result_bytes'] / gib:.2f} GiB result, but only {spare / gib:.2f} GiB per "
        f"block are free: pass batch_size={suggestion} or less."
    )


def _cache_bytes() -> int:
    """Size of the CPU's last-level cache, read from sysfs (32 MiB where it cannot be read)."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        unit = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:].upper(), 1)
        sizes.append(int(text.rstrip("KkMmGg")) * unit)
    return max(sizes) if sizes else 32 * 2**20


# Block-size rule (batch_size=None).  The working set of one block grows as the number
# of input pairs in it, b^2 (traced per pair at a 16 x 16 block).  On a CPU the
# blocked kernels are memory-bound: a block whose working set spills out of the
# last-level cache streams every covariance tensor through DRAM several times per
# layer, while blocks that are too small pay XLA's per-call overhead and recompute the
# per-input terms (the GAP kernels' self-covariances) once per block.  The sweep
# recorded in :func:`auto_batch_size` put the best block of the flatten CNNs at a
# traced working set (4 x the largest array) of about an eighth of the last-level cache
# (b = 40 of 20..160), a quarter with the guard's factor of 8,
# and the GAP kernel's at the smallest size tried, hence this budget and floor.  The
# floor is 10: with the staged kernels (one program per full-covariance layer) CNN-1-GAP
# on 100 digits took 2.06 s of process CPU time per warm Gram at b = 10, 2.68 s at 15,
# 3.58 s at 20 and 4.85 s at 34 (load ~17); b = 5 and 7 took 3.7 s, their covariances
# then under the size where the ReLU took the rational angle (2**18 entries, since
# lowered to layers._FAST_ANGLE_MIN).  With that threshold lowered and the ReLU traced
# in lax, 13 was the fastest on a 2-core Xeon (0.62 s wall per warm Gram at 13, 0.79 s at
# 10, 0.80-0.91 s at 7, 1.34-1.46 s at 16); with the self-covariances carried as pairs,
# 10 is (0.65 s against 0.71-0.75 s at 13, 100 digits), which the least padding picks.
_CPU_CACHE_SHARE = 1 / 4
# On an accelerator, one block may use this share of its free memory (two blocks are
# in flight per device, and XLA's temporaries exceed the traced estimate).
_DEVICE_SHARE = 0.25
_MIN_BLOCK, _MAX_BLOCK = 10, 4096
_TRACE_BLOCK = 16


def _least_padding(n: int, b: int) -> int:
    """The size of equal blocks, at most ``b`` and not below 3/4 of it (nor ``_MIN_BLOCK``),
    that cover ``n`` inputs with the fewest padded rows (the larger size on a tie); when no
    split lands in that range, the fewest blocks evened out (11 inputs, ``b = 10``: 6).

    ``k`` blocks of ``ceil(n / k)`` rows, for ``k`` from ``ceil(n / b)`` up: a padded row
    costs a block as much as a real one, and the pairs grow as the rows squared.  Measured
    (CNN-1-GAP, warm Gram, a 2-core Xeon): 100 digits in blocks of 10 took 0.65 s against
    0.71-0.75 s in the 8 blocks of 13 (104 rows) that the cache budget gave; where neither
    size pads (120 and 130 digits) the two took the same time, so a block down to 3/4 of
    the budget's costs nothing measurable.
    """
    lo = min(b, max(_MIN_BLOCK, -(-3 * b // 4)))

    def evened(size: int) -> int:  # the blocks of ``size`` cover n: as equal as they can be
        return -(-n // -(-n // size))

    sizes = {evened(b)} | {e for e in map(evened, range(lo, b + 1)) if e >= lo}
    return min(sizes, key=lambda size: (-(-n // size) * size, -size))


def auto_batch_size(
    arch_or_kernel_fn, x, x2=None, kind: str = "ntk", dtype=np.float64, devices: Sequence | None = None
) -> tuple[int, dict]:
    """The block size :func:`gram` uses when ``batch_size=None``, and why.

    Rule: the working set per input pair ``w`` -- for a
    :class:`~ntkbook.layers.KernelFn`, the largest covariance its state holds per pair
    (:meth:`~ntkbook.layers.KernelFn.pair_entries`, from the layers' shape rules: for the
    zoo, the largest state of a traced block) times the guard's working-set factor; for
    any other ``kernel_fn``, one ``16 x 16`` block traced by :func:`estimate_memory` --,
    take the budget ``M`` -- on a CPU a
    quarter of the last-level cache (sysfs), on an accelerator a quarter of its
    free memory -- and use ``b = sqrt(M / w)``, clipped to ``[10, 4096]`` and to
    the number of inputs, then evened out so that the blocks cover the inputs
    with as little padding as possible: ``b = ceil(N / k)`` for the number of blocks
    ``k`` from ``ceil(N / b)`` up that pads fewest rows, the block not below 3/4 of the
    budget's (nor 10; the fewest blocks evened out when no split lands there).  The
    memory guard still applies on top.

    The budget was set on the first sweep (``python -m ntkbook.bench --sweep``) on this
    project's 2-core CPU with 32 MiB of L3, with kernels since replaced.  The stored
    sweep for appendix A1 (``notebooks/data/a1_block_sweep.csv``: a 2-core Xeon whose
    virtual machine reports 300 MiB of L3; float64, ``N = 160`` digits (8 x 8), best of
    two warm Grams, seconds; the automatic block in brackets):

    ==========  ======  ======  ======  ======  ============
    kernel       b=10    b=16    b=40    b=80   automatic
    ==========  ======  ======  ======  ======  ============
    CNN-1        0.17    0.091   0.041   0.046  0.043 (80)
    CNN-2        0.28    0.086   0.061   0.076  0.073 (80)
    CNN-1-GAP    1.72    3.75    5.28    5.79   1.87 (10)
    CNN-2-GAP    3.11    7.40   11.0    13.8    2.92 (10)
    ==========  ======  ======  ======  ======  ============

    (the MLPs take milliseconds at every size; one block of all inputs is what the rule
    gives them).  The pooled kernels' time per pair grows with the block beyond about
    10 inputs, faster than the budget assumes on this machine; on 100 and 160 inputs the
    least padding cuts their budget's block of 13 to 10.

    Returns
    -------
    b : int
    info : dict
        ``rule`` (a sentence), ``bytes_per_pair``, ``budget_bytes``.
    """
    kernel_fn = kernel_fn_of(arch_or_kernel_fn)
    x = _block_inputs(x, x2)
    n = max(len(x), len(x) if x2 is None else len(x2))
    devices = _device_list(devices)
    if isinstance(kernel_fn, KernelFn):
        # the state's largest covariance per pair, from the layers' shape rules: no trace
        # (the guard reads the same rule, _largest_in_block)
        per_pair = (
            _working_set_factor(kernel_fn) * kernel_fn.pair_entries(x.shape[1:]) * np.dtype(dtype).itemsize
        )
    else:
        t = min(_TRACE_BLOCK, n)
        est = estimate_memory(
            kernel_fn, x[:t], x[:t] if x2 is None else np.asarray(x2)[:t], kind, t, dtype, devices
        )
        per_pair = est["block_bytes"] / (t * t)
    if devices[0].platform == "cpu":
        budget, where = _CPU_CACHE_SHARE * _cache_bytes(), "1/4 of the last-level cache"
    else:
        budget, where = _DEVICE_SHARE * _device_available_bytes(devices[0]), "1/4 of free device memory"
    b = int(math.sqrt(budget / per_pair))
    b = _least_padding(n, min(max(b, _MIN_BLOCK), _MAX_BLOCK, n))
    return b, dict(
        rule=f"b = sqrt(budget / bytes per pair), budget = {where} "
        f"({budget / 2**20:.0f} MiB), {per_pair:.0f} bytes per pair, then the equal blocks "
        "down to 3/4 of that which pad fewest rows",
        bytes_per_pair=per_pair,
        budget_bytes=budget,
    )
