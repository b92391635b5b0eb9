"""Blocked Gram matrices of infinite-width kernels.

:func:`gram` evaluates a neural-tangents ``kernel_fn`` on all pairs of inputs in
square blocks, so that a Gram matrix of tens of thousands of samples never
holds more than one block of the kernel's intermediate covariance tensors in
memory.  What it does beyond ``neural_tangents.batch``:

* **Symmetry.**  For ``x2=None`` only the blocks on and above the diagonal are
  computed; the rest is filled by transposition (about half the work).
* **One compilation.**  The block function is jitted once per kernel and kind
  (and reused by later calls with the same kernel and block shape).  Inputs are padded
  (by repeating their last row) to a whole number of blocks, so the ragged last
  block has the same shape as the others and never triggers a recompilation.
* **Every device.**  Blocks are dispatched round-robin to all local JAX devices
  (every GPU of a machine; on a CPU host, test with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=2``) and collected in order.
* **Memory guard.**  Before allocating, the result and the block working set
  (read off the traced computation) are compared with the free memory; too
  large a request fails with :class:`GramMemoryError` naming a block size that fits.
* **Resumable.**  With ``cache_dir`` every finished block is saved as ``.npy``;
  a later call with the same inputs reloads them and computes only the rest.
* **float64 by default, chosen by measurement.**  Gram matrices feed linear
  solves and the chapters need float64 for conditioning; float32's result is
  off by ~1e-4 relative (the arc-cosine's infinite slope at equal inputs
  amplifies rounding).  Speed depends on the kernel (``python -m
  ntkbook.bench``, row ``dtype``, 2-core CPU): neural-tangents' CNN-1-GAP
  kernel on 100 digits took 2.3-3.0x *longer* in float32 than in float64
  (issue 8 saw the same with ``nt.batch``: 166 s against 48 s), while the
  hand-written GAP kernel on 200 digits was 1.4x faster in float32.  No
  speed-up is worth 1e-4 errors in matrices that are then inverted, so
  float64 stays the default and float32 is available through ``dtype``.
* **Hand-written kernels, chosen without probing.**  A network built by
  :mod:`ntkbook.archs` carries its layer list (:func:`ntkbook.archs.layers_of`),
  so its hand-written kernel (:func:`ntkbook.fast_kernels.from_layers`: any ReLU
  network of Conv/Relu/AvgPool/GAP/Flatten/Dense in NTK parameterization) runs
  instead of neural-tangents' without a probe; a bare ``kernel_fn`` is probed
  against the zoo's GAP kernels, on tiny images first (:func:`fast_equivalent`).
  :data:`last_run` says which kernel ran and why; ``fast=False`` switches this off.
* **Block size chosen by the engine** (``batch_size=None``): from the traced
  working set per pair of inputs and a cache (CPU) or memory (accelerator)
  budget, :func:`auto_batch_size`.

Examples
--------
>>> from ntkbook import archs, data, gram
>>> x = data.normalize(data.load("digits", n=20).x)        # (20, 8, 8, 1)
>>> H = gram.gram(archs.get("CNN-1"), x, batch_size=128, progress=False)
>>> H.shape, H.dtype                                        # (N, N) float64 ndarray
((20, 20), dtype('float64'))
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import weakref
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from . import _checks
from ._x64 import enable_x64
from .closed_form import (arccos_relu, mlp_ntk, relu_ntk_2layer, relu_ntk_eq4)

__all__ = ["gram", "GramMemoryError", "estimate_memory", "kernel_fn_of", "fast_equivalent",
           "choose_kernel", "auto_batch_size", "last_run",
           "arccos_relu", "mlp_ntk", "relu_ntk_2layer", "relu_ntk_eq4"]

KINDS = ("ntk", "nngp")


last_run: dict = {}
"""What the latest :func:`gram` call did: ``kernel`` (``"neural-tangents"`` or the
hand-written kernel used), ``kernel_choice`` (how it was chosen, see
:func:`choose_kernel`), ``block_size`` and ``block_rule`` (``"given"`` or the
automatic rule with its numbers), ``blocks`` (blocks the matrix needs),
``computed`` and ``from_cache`` (how many of them), ``devices`` (device -> blocks
computed there)."""


class GramMemoryError(MemoryError):
    """The requested Gram matrix or its blocks would not fit in memory."""


def kernel_fn_of(arch_or_kernel_fn) -> Callable:
    """Return the ``kernel_fn`` of a stax triple (or of :class:`ntkbook.archs.Arch`), or the callable itself."""
    if isinstance(arch_or_kernel_fn, tuple) and len(arch_or_kernel_fn) == 3:
        return arch_or_kernel_fn[2]
    if callable(arch_or_kernel_fn):
        return arch_or_kernel_fn
    raise TypeError("arch_or_kernel_fn must be a stax triple (init_fn, apply_fn, kernel_fn) or "
                    f"a kernel_fn; got {type(arch_or_kernel_fn).__name__}.")


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad to a multiple of ``multiple`` rows by repeating the last row (stays on the sphere)."""
    extra = (-len(x)) % multiple
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)], axis=0)


def _largest_intermediate(fn: Callable, a, b) -> int:
    """Bytes of the largest array the traced ``fn(a, b)`` creates (including sub-jaxprs)."""
    closed = jax.make_jaxpr(fn)(a, b)
    largest = 0

    def walk(jaxpr) -> None:
        nonlocal largest
        for eqn in jaxpr.eqns:
            for var in eqn.outvars:
                aval = getattr(var, "aval", None)
                if hasattr(aval, "shape") and hasattr(aval, "dtype"):
                    largest = max(largest, int(np.prod(aval.shape)) * aval.dtype.itemsize)
            for param in eqn.params.values():
                for sub in (param if isinstance(param, (list, tuple)) else [param]):
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner)

    walk(closed.jaxpr)
    return largest


def _host_available_bytes() -> int:
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
    return _host_available_bytes()


# kernel_fn -> {(kind, block shapes, dtype): bytes of the largest traced intermediate}
_LARGEST: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

# Working set of one block, in multiples of its largest intermediate array:
# neural-tangents and the hand-written kernels keep the NNGP and NTK covariance
# tensors of the current layer plus temporaries while building the next one.
# Measured (``python -m ntkbook.bench --memory``, CPU, peak RSS rise during a warm
# call, 48 digits, block 16): the hand-written CNN-1-GAP block peaked at 1.5x
# "4 x largest" (50 MB against 34 MB), so 8 x largest bounds it with a third to spare.
_WORKING_SET_FACTOR = 8
# Share of the free memory the guard lets one call use.
_MEMORY_SHARE = 0.8


def estimate_memory(arch_or_kernel_fn, x, x2=None, kind: str = "ntk", batch_size: int = 256,
                    dtype=np.float64, devices: Sequence | None = None) -> dict:
    """Estimate the memory :func:`gram` needs, without allocating it.

    The block working set is read off the traced block computation
    (``jax.make_jaxpr``): ``8 x`` its largest intermediate array (measured
    to bound the peak RSS of every zoo kernel on CPU, see ``_WORKING_SET_FACTOR``).

    Returns
    -------
    dict
        ``result_bytes`` (the N1 x N2 output), ``block_bytes`` (working set of
        one block on one device), ``devices`` (how many), ``host_available_bytes``
        and ``device_available_bytes`` (free memory of the first device; the host's
        on a CPU).
    """
    kernel_fn = kernel_fn_of(arch_or_kernel_fn)
    x = np.asarray(x)
    n1 = len(x)
    n2 = n1 if x2 is None else len(x2)
    b1, b2 = min(batch_size, n1), min(batch_size, n2)
    key = (kind, b1, b2, x.shape[1:], np.dtype(dtype).str)
    try:
        known = _LARGEST.setdefault(kernel_fn, {})
    except TypeError:          # not weak-referenceable: trace every time
        known = {}
    if key not in known:
        # tracing a deep neural-tangents kernel takes seconds; do it once per shape
        with enable_x64(np.dtype(dtype) == np.float64):
            spec_a = jax.ShapeDtypeStruct((b1,) + x.shape[1:], dtype)
            spec_b = jax.ShapeDtypeStruct((b2,) + x.shape[1:], dtype)
            known[key] = _largest_intermediate(lambda a, b: kernel_fn(a, b, kind), spec_a, spec_b)
    largest = known[key]
    devices = list(devices) if devices is not None else jax.local_devices()
    return dict(result_bytes=n1 * n2 * np.dtype(dtype).itemsize,
                block_bytes=_WORKING_SET_FACTOR * largest, devices=len(devices),
                on_host=devices[0].platform == "cpu",
                host_available_bytes=_host_available_bytes(),
                device_available_bytes=_device_available_bytes(devices[0]))


def _fits(est: dict) -> tuple[bool, float]:
    """Whether the blocks of ``est`` fit beside the result, and the spare bytes per device."""
    host = _MEMORY_SHARE * est["host_available_bytes"]
    # On a CPU every "device" shares host memory with the result.
    if est["on_host"]:
        spare = (host - est["result_bytes"]) / est["devices"]
    else:
        spare = _MEMORY_SHARE * est["device_available_bytes"]
    return est["block_bytes"] <= spare, spare


def _memory_guard(est: dict, batch_size: int, reestimate: Callable[[int], dict] | None = None
                  ) -> None:
    """Raise :class:`GramMemoryError` when ``est`` (from :func:`estimate_memory`) does not fit.

    ``reestimate(b)`` re-runs the estimate for block size ``b``; with it the
    suggested ``batch_size`` is checked to fit before it is named.
    """
    gib = 2.0 ** 30
    host = _MEMORY_SHARE * est["host_available_bytes"]
    if est["result_bytes"] > host:
        raise GramMemoryError(
            f"the Gram matrix alone needs {est['result_bytes'] / gib:.2f} GiB but only "
            f"{est['host_available_bytes'] / gib:.2f} GiB are free: compute it in row slices "
            f"(x=x[i:j], x2=x) or on a machine with more memory.")
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
                f"even a 1x1 block does not fit in the {spare / gib:.3g} GiB per device left "
                f"beside the {est['result_bytes'] / gib:.2f} GiB result: free memory first.")
    raise GramMemoryError(
        f"one {batch_size}x{batch_size} block needs about {est['block_bytes'] / gib:.2f} GiB "
        f"per device ({est['devices']} device(s)) beside a "
        f"{est['result_bytes'] / gib:.2f} GiB result, but only {spare / gib:.2f} GiB per "
        f"device are free: pass batch_size={suggestion} or less.")


def _cache_bytes() -> int:
    """Size of the CPU's last-level cache, read from sysfs (32 MiB where it cannot be read)."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        unit = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(text[-1:].upper(), 1)
        sizes.append(int(text.rstrip("KkMmGg")) * unit)
    return max(sizes) if sizes else 32 * 2 ** 20


# Block-size rule (batch_size=None).  The working set of one block grows as the number
# of input pairs in it, b^2 (traced per pair at a 16 x 16 block).  On a CPU the
# blocked kernels are memory-bound: a block whose working set spills out of the
# last-level cache streams every covariance tensor through DRAM several times per
# layer, while blocks that are too small pay XLA's per-call overhead and recompute the
# per-input terms (the GAP kernels' self-covariances) once per block.  The sweep
# recorded in :func:`auto_batch_size` put the best block of the flatten CNNs at a
# traced working set (4 x the largest array) of about an eighth of the last-level cache
# (b = 40 of 20..160), a quarter with the guard's factor of 8,
# and the GAP kernel's at the smallest size tried, hence this budget and floor.
_CPU_CACHE_SHARE = 1 / 4
# On an accelerator, one block may use this share of its free memory (two blocks are
# in flight per device, and XLA's temporaries exceed the traced estimate).
_DEVICE_SHARE = 0.25
_MIN_BLOCK, _MAX_BLOCK = 16, 4096
_TRACE_BLOCK = 16


def auto_batch_size(arch_or_kernel_fn, x, x2=None, kind: str = "ntk", dtype=np.float64,
                    devices: Sequence | None = None) -> tuple[int, dict]:
    """The block size :func:`gram` uses when ``batch_size=None``, and why.

    Rule: trace one ``16 x 16`` block to get the working set per input pair
    ``w`` (:func:`estimate_memory`), take the budget ``M`` -- on a CPU a
    quarter of the last-level cache (sysfs), on an accelerator a quarter of its
    free memory -- and use ``b = sqrt(M / w)``, clipped to ``[16, 4096]`` and to
    the number of inputs, then evened out so that the blocks cover the inputs
    with as little padding as possible (``b = ceil(N / ceil(N / b))``).  The
    memory guard still applies on top.

    Measured on this project's 2-core CPU (32 MiB L3, shared with other jobs,
    load ~10), float64, ``N = 160`` digits (8 x 8), seconds per warm Gram with
    the hand-written kernels (``python -m ntkbook.bench --sweep``), first sweep,
    which set the budget; a second run with the final rule (blocks 16/40/80/160
    and the automatic one: within 11 % of the best fixed size for the CNNs, the
    MLPs' millisecond timings are noise) is stored for appendix A1 in
    ``notebooks/data/a1_block_sweep.csv``:

    ==========  ======  ======  ======  ======
    kernel       b=20    b=40    b=80   b=160
    ==========  ======  ======  ======  ======
    CNN-1        0.45    0.32    0.96    1.16
    CNN-2        0.72    0.65    1.53    2.02
    CNN-1-GAP   22.6    29.3    45.4    48.5
    ==========  ======  ======  ======  ======

    (the MLPs take milliseconds at every size; one block of all inputs is
    what the rule gives them).

    Returns
    -------
    b : int
    info : dict
        ``rule`` (a sentence), ``bytes_per_pair``, ``budget_bytes``.
    """
    kernel_fn = kernel_fn_of(arch_or_kernel_fn)
    x = np.asarray(x)
    n = max(len(x), len(x) if x2 is None else len(x2))
    devices = list(devices) if devices is not None else jax.local_devices()
    t = min(_TRACE_BLOCK, n)
    est = estimate_memory(kernel_fn, x[:t], None if x2 is None else np.asarray(x2)[:t], kind,
                          t, dtype, devices)
    per_pair = est["block_bytes"] / (t * t)
    if est["on_host"]:
        budget, where = _CPU_CACHE_SHARE * _cache_bytes(), "1/4 of the last-level cache"
    else:
        budget, where = _DEVICE_SHARE * est["device_available_bytes"], "1/4 of free device memory"
    b = int(math.sqrt(budget / per_pair))
    b = min(max(b, _MIN_BLOCK), _MAX_BLOCK, n)
    b = -(-n // -(-n // b))          # ceil(n / ceil(n / b)): equal blocks, least padding
    return b, dict(rule=f"b = sqrt(budget / bytes per pair), budget = {where} "
                        f"({budget / 2 ** 20:.0f} MiB), {per_pair:.0f} bytes per pair",
                   bytes_per_pair=per_pair, budget_bytes=budget)


# (kernel_fn, feature shape) -> hand-written equivalent or None, decided once per pair
_FAST_CHOICE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# Agreement a probe must show before a hand-written kernel replaces neural-tangents'
# (the equivalents agree to ~1e-14; a different architecture is off by >1e-3).
_PROBE_RTOL = 1e-9


_PROBE_IMAGES: dict = {}          # feature shape -> the five probe images (xa, xb)
_PROBE_VALUES: dict = {}          # (feature shape, candidate name) -> (kernel, its values)
# A bare kernel_fn (no recorded structure) is only probed against the pooled CNNs:
# neural-tangents' flatten-CNN and MLP kernels are already fast once jitted, while
# its GAP kernels are the slow ones.  The probe is first run on tiny images (4 x 4,
# milliseconds even for neural-tangents' GAP kernels); only a kernel that matches
# there is probed again at the real feature shape, against the candidate it matched
# only.  Gram matrices below this many entries are not worth even the tiny probe.
_AUTO_CANDIDATES = ("CNN-1-GAP", "CNN-2-GAP")
_AUTO_MIN_ENTRIES = 40_000
_TINY_SIDE = 4


def _probe_images(shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The fixed probe images of one feature shape: five unit-norm random images (seed 0),
    split 3 + 2, shapes (3, *shape) and (2, *shape); made once per shape and process."""
    if shape not in _PROBE_IMAGES:
        z = np.random.default_rng(0).normal(size=(5,) + shape)
        z /= np.linalg.norm(z.reshape(5, -1), axis=1).reshape((5,) + (1,) * len(shape))
        _PROBE_IMAGES[shape] = (z[:3], z[3:])
    return _PROBE_IMAGES[shape]


def _probe_candidate(shape: tuple, name: str) -> tuple[Callable, list[np.ndarray]]:
    """Candidate ``name``'s hand-written kernel and its (NTK, NNGP) values on the probe images.

    Evaluated (jitted, float64) once per feature shape, candidate and process, each value of
    shape (3, 2).
    """
    from . import fast_kernels

    if (shape, name) not in _PROBE_VALUES:
        xa, xb = _probe_images(shape)
        cand = fast_kernels.get(name)
        with enable_x64(True):
            vals = jax.jit(lambda a, c: cand(a, c, KINDS))(xa, xb)
        _PROBE_VALUES[shape, name] = (cand, [np.asarray(v) for v in vals])
    return _PROBE_VALUES[shape, name]


def _probe_match(kernel_fn: Callable, shape: tuple, names: tuple[str, ...] = _AUTO_CANDIDATES
                 ) -> tuple[str, Callable] | None:
    """The first candidate of ``names`` that agrees with ``kernel_fn`` on the probe images of
    ``shape``, as (name, kernel), or ``None``."""
    xa, xb = _probe_images(shape)
    with enable_x64(True):
        try:
            refs = [np.asarray(kernel_fn(xa, xb, k)) for k in KINDS]
        except Exception:      # kernel_fn that cannot take these inputs: nothing to match
            return None
    for name in names:
        cand, vals = _probe_candidate(shape, name)
        if all(v.shape == r.shape and np.max(np.abs(v - r)) <= _PROBE_RTOL * np.max(np.abs(r))
               for v, r in zip(vals, refs)):
            return name, cand
    return None


def fast_equivalent(kernel_fn: Callable, x: np.ndarray) -> Callable | None:
    """The hand-written kernel of :mod:`ntkbook.fast_kernels` equal to a bare ``kernel_fn``, if any.

    Each zoo GAP CNN's hand-written kernel is evaluated beside ``kernel_fn`` on
    five random unit-norm images (3 x 2 pairs, NTK and NNGP, float64), first of
    4 x 4 pixels (cheap), then -- only if one agrees there, and only that one --
    of ``x``'s shape; one that agrees to ``1e-9`` relative on both is returned.  A kernel that
    matches no candidate (other depths, strides, pooling inside the stack, 1-D
    inputs...) gives ``None`` and stays with neural-tangents.  The answer is
    remembered per ``kernel_fn`` and feature shape.  Kernels built by
    :mod:`ntkbook.archs` never need this: :func:`gram` reads their recorded
    layers instead (:func:`choose_kernel`).

    Parameters
    ----------
    kernel_fn : callable
        neural-tangents ``kernel_fn(x1, x2, get)``.
    x : array, shape (N, H, W, C)
        Inputs the Gram matrix will be computed on (only their shape is used).
    """
    from . import fast_kernels

    if isinstance(kernel_fn, fast_kernels.CNNKernel) or np.ndim(x) != 4 or len(x) < 2:
        return None
    key = tuple(np.shape(x)[1:])
    try:
        known = _FAST_CHOICE.setdefault(kernel_fn, {})
    except TypeError:          # not weak-referenceable: decide every time
        known = {}
    if key in known:
        return known[key]
    tiny = (_TINY_SIDE, _TINY_SIDE, key[-1])
    match = _probe_match(kernel_fn, tiny)
    if match is not None and key != tiny:
        # only the candidate that matched can agree on both shapes
        match = _probe_match(kernel_fn, key, names=(match[0],))
    choice = None if match is None else match[1]
    known[key] = choice
    return choice


# kernel_fn with recorded layers -> its hand-written kernel (or None), derived once
_DERIVED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def choose_kernel(kernel_fn: Callable, x: np.ndarray, n_entries: int, fast: bool = True
                  ) -> tuple[Callable, str, str]:
    """Which kernel :func:`gram` runs for ``kernel_fn`` on inputs shaped like ``x``.

    In order: a hand-written kernel passed directly runs as given; a kernel built
    by :mod:`ntkbook.archs` gets the hand-written kernel derived from its recorded
    layer list (:func:`ntkbook.fast_kernels.from_layers`) without any probe, or
    neural-tangents when its layers have none; a bare ``kernel_fn`` is probed
    (:func:`fast_equivalent`) for Gram matrices of at least 40,000 entries.

    Returns
    -------
    kernel_fn, name, how
        The kernel to run, its name for :data:`last_run` (``"neural-tangents"``
        or the hand-written kernel's repr) and how it was chosen: ``"given"``,
        ``"layers"``, ``"probe"``, ``"fast=False"`` or ``"no hand-written kernel"``.
    """
    from . import archs, fast_kernels

    hand = (fast_kernels.CNNKernel, fast_kernels.MLPKernel, fast_kernels.LayerKernel)
    if isinstance(kernel_fn, hand):
        return kernel_fn, repr(kernel_fn), "given"
    if not fast:
        return kernel_fn, "neural-tangents", "fast=False"
    structure = archs.layers_of(kernel_fn)
    if structure is not None:
        # one derived kernel per kernel_fn, so its compiled blocks and traced memory
        # estimate are reused by later calls (a new object would compile again)
        if kernel_fn not in _DERIVED:
            _DERIVED[kernel_fn] = fast_kernels.from_layers(structure)
        derived = _DERIVED[kernel_fn]
        if derived is not None and derived.accepts(np.shape(x)[1:]):
            return derived, repr(derived), "layers"
        return kernel_fn, "neural-tangents", "no hand-written kernel"
    if n_entries >= _AUTO_MIN_ENTRIES:
        equivalent = fast_equivalent(kernel_fn, x)
        if equivalent is not None:
            return equivalent, repr(equivalent), "probe"
    return kernel_fn, "neural-tangents", "no hand-written kernel"


# kernel_fn -> {kind: jitted block function}: a second gram() call with the same
# kernel and block shape reuses the compiled program instead of compiling again
_BLOCK_FNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _block_fn(kernel_fn: Callable, kind: str) -> Callable:
    """The jitted ``(a, c) -> kernel_fn(a, c, kind)``, one per kernel and kind (cached)."""
    try:
        per_kind = _BLOCK_FNS.setdefault(kernel_fn, {})
    except TypeError:          # not weak-referenceable: no reuse across calls
        per_kind = {}
    if kind not in per_kind:
        per_kind[kind] = jax.jit(lambda a, c: kernel_fn(a, c, kind))
    return per_kind[kind]


def _fingerprint(x: np.ndarray, x2: np.ndarray | None, kind: str, batch_size: int) -> str:
    """sha256 of the inputs (shape, dtype, bytes), ``kind`` and the block size."""
    h = hashlib.sha256()
    for arr in (x, x2):
        if arr is not None:
            h.update(f"{arr.shape}|{arr.dtype}".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update(f"{kind}|{batch_size}".encode())
    return h.hexdigest()


class _BlockCache:
    """Finished blocks of one Gram matrix, one ``.npy`` file each, under ``folder``.

    Each file is named after its block and the first 16 hex digits of the
    sha256 of its bytes (``block_00001_00002.<sha>.npy``) and written
    atomically (temporary file, then rename), so a process killed mid-write
    leaves no block, and a file whose bytes no longer match its name (a
    corrupted disk, a truncated copy) is detected on load, deleted and
    recomputed instead of being used.
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.corrupt: list[tuple[int, int]] = []
        meta = self.folder / "meta.json"
        if meta.exists():
            stored = json.loads(meta.read_text()).get("fingerprint")
            if stored != fingerprint:
                raise ValueError(
                    f"cache_dir={str(self.folder)!r} holds blocks of a different Gram matrix "
                    "(other inputs, kind or batch_size); use another folder or empty this one.")
        else:
            tmp = self.folder / ".meta.json.tmp"
            tmp.write_text(json.dumps({"fingerprint": fingerprint}))
            os.replace(tmp, meta)

    @staticmethod
    def _digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    def _files(self, i: int, j: int) -> list[Path]:
        return sorted(self.folder.glob(f"block_{i:05d}_{j:05d}.*.npy"))

    def get(self, i: int, j: int) -> np.ndarray | None:
        """The cached block, or ``None`` when it is missing or fails its checksum."""
        for p in self._files(i, j):
            data = p.read_bytes()
            if p.name.split(".")[1] == self._digest(data):
                try:
                    return np.load(io.BytesIO(data), allow_pickle=False)
                except ValueError:    # checksum of a file that was never a valid .npy
                    pass
            self.corrupt.append((i, j))
            p.unlink(missing_ok=True)
        return None

    def put(self, i: int, j: int, block: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(block), allow_pickle=False)
        data = buf.getvalue()
        tmp = self.folder / f".tmp_{i:05d}_{j:05d}.npy"
        tmp.write_bytes(data)
        for old in self._files(i, j):
            old.unlink(missing_ok=True)
        # atomic: an interrupted save leaves no half block under a block's name
        os.replace(tmp, self.folder / f"block_{i:05d}_{j:05d}.{self._digest(data)}.npy")


def gram(arch_or_kernel_fn, x, x2=None, kind: str = "ntk", batch_size: int | None = None,
         progress: bool = True, *, dtype=np.float64, devices: Sequence | None = None,
         cache_dir: str | os.PathLike | None = None, check_memory: bool = True,
         fast: bool = True) -> np.ndarray:
    """Gram matrix of an infinite-width kernel, computed in blocks.

    Parameters
    ----------
    arch_or_kernel_fn
        A stax triple ``(init_fn, apply_fn, kernel_fn)`` (e.g. from
        :func:`ntkbook.archs.get`) or a ``kernel_fn`` alone.
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
        ``None`` (default): chosen by :func:`auto_batch_size` from the traced
        working set of one block and the cache (CPU) or free memory
        (accelerator); :data:`last_run` reports the choice and the rule.
    progress
        Show a tqdm bar over blocks.
    dtype
        ``np.float64`` (default) or ``np.float32``.  float16 is refused: jaxlib
        0.4.23 crashes compiling it on some CPUs.
    devices
        JAX devices to spread blocks over; default all local devices.
    cache_dir
        Optional folder for finished blocks, making an interrupted computation
        resumable.  A folder belongs to one Gram matrix: reusing it with other
        inputs raises ``ValueError``; the first block is recomputed on resume and
        compared with the cached one, so a different kernel is detected too.
    check_memory
        Estimate the memory first and raise :class:`GramMemoryError` if it
        would not fit.
    fast
        Run the hand-written kernel of a network built by :mod:`ntkbook.archs`
        (from its recorded layers), or, for a bare ``kernel_fn`` and Gram
        matrices of at least 40,000 entries, of a zoo GAP CNN a probe shows it
        equals (:func:`choose_kernel`); ``False`` always uses the kernel as
        given.  :data:`last_run` says which kernel ran.

    Returns
    -------
    ndarray, shape (N1, N2)
        The Gram matrix, ``dtype``.

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
    x = _checks.finite_array(x, "x").astype(dtype)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must have shape (N, *feature_shape) with N >= 1; got {x.shape}.")
    symmetric = x2 is None
    if not symmetric:
        x2 = _checks.finite_array(x2, "x2").astype(dtype)
        if x2.ndim < 2 or x2.shape[1:] != x.shape[1:] or len(x2) == 0:
            raise ValueError(f"x2 must have shape (N2, *feature_shape) with N2 >= 1 and x's "
                             f"feature shape {x.shape[1:]}; got {x2.shape}.")
    xb = x if symmetric else x2
    n1, n2 = len(x), len(xb)
    devices = list(devices) if devices is not None else jax.local_devices()
    kernel_fn, used, how = choose_kernel(kernel_fn, x, n1 * n2, fast)
    if batch_size is None:
        b, choice = auto_batch_size(kernel_fn, x, x2, kind, dtype, devices)
        rule = choice["rule"]
    else:
        b, rule = min(batch_size, max(n1, n2)), "given"

    if check_memory:
        _memory_guard(estimate_memory(kernel_fn, x, x2, kind, b, dtype, devices), b,
                      lambda bs: estimate_memory(kernel_fn, x, x2, kind, bs, dtype, devices))

    xa_p, xb_p = _pad_rows(x, b), _pad_rows(xb, b)
    rows, cols = len(xa_p) // b, len(xb_p) // b
    pairs = [(i, j) for i in range(rows) for j in range(cols) if not symmetric or j >= i]
    cache = (_BlockCache(cache_dir, _fingerprint(x, x2, kind, b)) if cache_dir is not None
             else None)
    out = np.empty((n1, n2), dtype=dtype)

    with enable_x64(dtype == np.float64):
        block_fn = _block_fn(kernel_fn, kind)

        def place(i: int, j: int, blk: np.ndarray) -> None:
            if symmetric and i == j:
                # the kernel is symmetric only up to rounding inside a block;
                # make the result exactly symmetric for the solves downstream
                blk = (blk + blk.T) / 2
            r0, c0 = i * b, j * b
            r1, c1 = min(r0 + b, n1), min(c0 + b, n2)
            out[r0:r1, c0:c1] = blk[: r1 - r0, : c1 - c0]
            if symmetric and i != j:
                out[c0:c1, r0:r1] = blk[: r1 - r0, : c1 - c0].T

        todo, first_cached = [], None
        for i, j in pairs:
            cached = cache.get(i, j) if cache is not None else None
            if cached is None:
                todo.append((i, j))
            elif (i, j) == (0, 0):
                # recomputed and compared: a cache filled by another kernel is refused
                first_cached = cached
                todo.append((i, j))
            else:
                place(i, j, cached)

        last_run.clear()
        last_run.update(kernel=used, kernel_choice=how, block_size=b, block_rule=rule,
                        corrupt_blocks=list(cache.corrupt) if cache is not None else [],
                        blocks=len(pairs), computed=0,
                        from_cache=len(pairs) - len(todo), devices={})
        bar = tqdm(total=len(pairs), desc=f"{kind} Gram {n1}x{n2}", disable=not progress,
                   unit="block", initial=len(pairs) - len(todo))

        def collect(ij: tuple[int, int], result) -> None:
            i, j = ij
            blk = np.asarray(result)
            if cache is not None:
                if (i, j) == (0, 0) and first_cached is not None and not np.allclose(
                        first_cached, blk, rtol=1e-6, atol=0):
                    raise ValueError(
                        f"cache_dir={str(cache.folder)!r} was filled by a different kernel "
                        "(its first block disagrees with a fresh computation); use another "
                        "folder.")
                cache.put(i, j, blk)
            place(i, j, blk)
            last_run["computed"] += 1
            bar.update(1)

        # Blocks go round-robin to the devices.  JAX dispatches asynchronously, so
        # keeping two blocks per device in flight lets every device work at once
        # and overlaps copying a finished block into the result with computing
        # the next one.
        inflight: list = []
        for k, (i, j) in enumerate(todo):
            dev = devices[k % len(devices)]
            a = jax.device_put(xa_p[i * b:(i + 1) * b], dev)
            c = jax.device_put(xb_p[j * b:(j + 1) * b], dev)
            inflight.append(((i, j), block_fn(a, c)))
            last_run["devices"][str(dev)] = last_run["devices"].get(str(dev), 0) + 1
            if len(inflight) >= 2 * len(devices):
                collect(*inflight.pop(0))
        while inflight:
            collect(*inflight.pop(0))
        bar.close()
    return out
