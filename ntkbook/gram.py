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
* **Hand-written kernels.**  For zoo CNNs with global average pooling,
  neural-tangents' kernel is replaced by the exact one of
  :mod:`ntkbook.fast_kernels` when a probe confirms they agree
  (:func:`fast_equivalent`; switch off with ``fast=False``).

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
           "last_run",
           "arccos_relu", "mlp_ntk", "relu_ntk_2layer", "relu_ntk_eq4"]

KINDS = ("ntk", "nngp")


last_run: dict = {}
"""What the latest :func:`gram` call did: ``kernel`` (``"neural-tangents"`` or the
hand-written kernel used), ``block_size``, ``blocks`` (blocks the matrix needs),
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
# neural-tangents keeps the NNGP and NTK covariance tensors of the current
# layer plus about as many temporaries while building the next one.
_WORKING_SET_FACTOR = 4
# Share of the free memory the guard lets one call use.
_MEMORY_SHARE = 0.8


def estimate_memory(arch_or_kernel_fn, x, x2=None, kind: str = "ntk", batch_size: int = 256,
                    dtype=np.float64, devices: Sequence | None = None) -> dict:
    """Estimate the memory :func:`gram` needs, without allocating it.

    The block working set is read off the traced block computation
    (``jax.make_jaxpr``): ``4 x`` its largest intermediate array.

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


# (kernel_fn, feature shape) -> hand-written equivalent or None, decided once per pair
_FAST_CHOICE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# Agreement a probe must show before a hand-written kernel replaces neural-tangents'
# (the equivalents agree to ~1e-14; a different architecture is off by >1e-3).
_PROBE_RTOL = 1e-9


_PROBES: dict = {}
# Only the pooled CNNs are worth a probe: neural-tangents' flatten-CNN and MLP
# kernels are already fast once jitted (0.2 s for a 200 x 200 CNN-1 Gram here),
# while its GAP kernels are the slow ones.  The probe itself costs a few CPU
# seconds once per process and feature shape, so it is only tried for Gram
# matrices with at least this many entries.
_AUTO_CANDIDATES = ("CNN-1-GAP", "CNN-2-GAP")
_AUTO_MIN_ENTRIES = 40_000


def _probe(shape: tuple) -> tuple:
    """Fixed probe images of one feature shape and every candidate's values on them (cached).

    The probe is five unit-norm random images (seed 0), so each candidate is
    evaluated once per feature shape and process, not once per call.
    """
    from . import fast_kernels

    if shape not in _PROBES:
        z = np.random.default_rng(0).normal(size=(5,) + shape)
        z /= np.linalg.norm(z.reshape(5, -1), axis=1).reshape((5,) + (1,) * len(shape))
        xa, xb = z[:3], z[3:]
        cands = []
        with enable_x64(True):
            for name in _AUTO_CANDIDATES:
                cand = fast_kernels.get(name)
                vals = jax.jit(lambda a, c: cand(a, c, KINDS))(xa, xb)
                cands.append((cand, [np.asarray(v) for v in vals]))
        _PROBES[shape] = (xa, xb, cands)
    return _PROBES[shape]


def fast_equivalent(kernel_fn: Callable, x: np.ndarray) -> Callable | None:
    """The hand-written kernel of :mod:`ntkbook.fast_kernels` equal to ``kernel_fn``, if any.

    Each zoo GAP CNN's hand-written kernel is evaluated beside ``kernel_fn`` on a
    probe of five random unit-norm images of ``x``'s shape (3 x 2 pairs, NTK
    and NNGP, float64); one that agrees to ``1e-9`` relative is returned.  A kernel that matches no
    candidate (other depths, strides, pooling inside the stack, 1-D inputs...)
    gives ``None`` and stays with neural-tangents.  The answer is remembered
    per ``kernel_fn`` and feature shape.

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
    choice = None
    xa, xb, cands = _probe(key)
    with enable_x64(True):
        try:
            refs = [np.asarray(kernel_fn(xa, xb, k)) for k in KINDS]
        except Exception:      # kernel_fn that cannot take these inputs: nothing to match
            refs = None
        for cand, vals in cands if refs is not None else []:
            if all(v.shape == r.shape and np.max(np.abs(v - r)) <= _PROBE_RTOL * np.max(np.abs(r))
                   for v, r in zip(vals, refs)):
                choice = cand
                break
    known[key] = choice
    return choice


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
    """Finished blocks of one Gram matrix, one ``.npy`` file each, under ``folder``."""

    def __init__(self, folder: str | os.PathLike, fingerprint: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        if meta.exists():
            stored = json.loads(meta.read_text()).get("fingerprint")
            if stored != fingerprint:
                raise ValueError(
                    f"cache_dir={str(self.folder)!r} holds blocks of a different Gram matrix "
                    "(other inputs, kind or batch_size); use another folder or empty this one.")
        else:
            meta.write_text(json.dumps({"fingerprint": fingerprint}))

    def path(self, i: int, j: int) -> Path:
        return self.folder / f"block_{i:05d}_{j:05d}.npy"

    def get(self, i: int, j: int) -> np.ndarray | None:
        p = self.path(i, j)
        return np.load(p) if p.exists() else None

    def put(self, i: int, j: int, block: np.ndarray) -> None:
        tmp = self.folder / f".tmp_{i:05d}_{j:05d}.npy"
        np.save(tmp, block)
        os.replace(tmp, self.path(i, j))   # atomic: an interrupted save leaves no half block


def gram(arch_or_kernel_fn, x, x2=None, kind: str = "ntk", batch_size: int = 256,
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
        Block size along each axis.  Working memory grows as ``batch_size**2``.
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
        For Gram matrices of at least 40,000 entries, replace a zoo GAP
        CNN's neural-tangents kernel by its hand-written equivalent from
        :mod:`ntkbook.fast_kernels` when a probe shows they agree (see
        :func:`fast_equivalent`); ``False`` always uses the kernel as given.
        Pass ``fast_kernels.get(name)`` to use a hand-written kernel directly.  :data:`last_run` says which kernel ran.

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
    batch_size = _checks.positive_int(batch_size, "batch_size")
    x = _checks.finite_array(x, "x").astype(dtype)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, *feature_shape); got {x.shape}.")
    symmetric = x2 is None
    if not symmetric:
        x2 = _checks.finite_array(x2, "x2").astype(dtype)
        if x2.shape[1:] != x.shape[1:]:
            raise ValueError(f"x and x2 must have the same feature shape; got {x.shape[1:]} "
                             f"and {x2.shape[1:]}.")
    xb = x if symmetric else x2
    n1, n2 = len(x), len(xb)
    devices = list(devices) if devices is not None else jax.local_devices()
    b = min(batch_size, max(n1, n2))
    used = "neural-tangents"
    if fast and n1 * n2 >= _AUTO_MIN_ENTRIES:
        equivalent = fast_equivalent(kernel_fn, x)
        if equivalent is not None:
            kernel_fn, used = equivalent, repr(equivalent)

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

        todo = []
        for i, j in pairs:
            cached = cache.get(i, j) if cache is not None else None
            if cached is not None and (i, j) != (0, 0):
                place(i, j, cached)
            else:
                todo.append((i, j))
        if cache is not None and cache.get(0, 0) is not None and (0, 0) not in todo:
            todo.insert(0, (0, 0))

        last_run.clear()
        last_run.update(kernel=used, block_size=b, blocks=len(pairs), computed=0,
                        from_cache=len(pairs) - len(todo), devices={})
        bar = tqdm(total=len(pairs), desc=f"{kind} Gram {n1}x{n2}", disable=not progress,
                   unit="block", initial=len(pairs) - len(todo))

        def collect(ij: tuple[int, int], result) -> None:
            i, j = ij
            blk = np.asarray(result)
            if cache is not None:
                previous = cache.get(i, j)
                if previous is not None and not np.allclose(previous, blk, rtol=1e-6, atol=0):
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
