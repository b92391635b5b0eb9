"""The layer language: neural-tangents' ``stax`` calling convention in plain JAX.

Each constructor (:func:`Dense`, :func:`Conv`, :func:`Relu`, :func:`AvgPool`,
:func:`GlobalAvgPool`, :func:`Flatten`) and the combinator :func:`serial`
returns a :class:`Network`, which unpacks like a ``stax`` triple::

    init_fn, apply_fn, kernel_fn = serial(Conv(64, (3, 3), padding="SAME", W_std=2**.5),
                                          Relu(), Flatten(), Dense(10))

with the same argument names and defaults as neural-tangents 0.6.5 (``out_dim``,
``out_chan``, ``filter_shape``, ``strides``, ``padding``, ``W_std``, ``b_std``,
``parameterization``), the same parameter layout and the same random draws, so a
reader ports a ``stax`` network by changing the import.  It needs no
neural-tangents and runs on any current JAX.

Every layer holds, in one class, its three parts:

* its **shape rule** (``out_shape``),
* its **finite forward pass** (``init``/``apply``, used to train the network),
* its **NNGP/NTK update** (``kernel``): how the covariance of its inputs and the
  NTK accumulated so far become those of its outputs.

One interpreter, :class:`KernelFn`, composes the updates of any stack.  The
state it carries (:class:`Cov`) is the NNGP covariance and the NTK of pairs of
inputs, over

* all pairs of pixels ``(*S, *S, Q)`` (*full*) up to the last layer that
  mixes pixels (an average pool or the global average pool), because those need
  the covariance of different pixels;
* the pixel diagonal ``(*S, Q)`` from there on (a convolution, a dense
  layer acting on channels and the ReLU never mix two pixels' diagonals);
* no pixels ``(Q,)`` after ``Flatten``/``GlobalAvgPool``.

The pairs of inputs are one axis, last: every elementwise update (the
arc-cosine above all) then runs over long contiguous rows, which XLA vectorises
(2.4x faster than over a trailing axis of ``B2 = 15``, measured).  The NNGP's
axis holds the kernel's ``B1 * B2`` pairs and then each input with itself
(``Q = B1 B2 + B1 + B2``), whose covariances give the ReLU its variances; the
NTK holds the kernel's pairs alone.  A batch with itself (``kernel_fn(x)``,
``x2=None``) carries only the pairs ``a <= b`` (:attr:`Cov.symmetric`,
``_pair_index``), the self pairs among them: ``K[a, b] = K[b, a]``, so half the
pairs are never computed.  Only the input covariances, the ReLU (which pairs
read which variances, ``_pair_sources``), the affine layers' NTK (the kernel's
pairs, :meth:`Cov.kernel_part`) and the readout know which pairs the axis holds;
the other updates are the same for every pair.

The ReLU update is the arc-cosine expectation written as neural-tangents
writes it (``sqrt(v1 v2 - k^2)`` and ``atan2``, no division by a variance), so
zero-variance pixels -- black patches seen by bias-free layers -- give its
finite limit, never NaN.  Layers the interpreter cannot do (``CIRCULAR``
padding, networks without a ``Flatten``/``GlobalAvgPool`` readout after
spatial layers) raise :class:`NotImplementedError` naming them when the
network is built or first called.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ntkbook import layers
>>> net = layers.serial(layers.Dense(64, W_std=2 ** .5, b_std=.1), layers.Relu(), layers.Dense(1))
>>> x = jnp.ones((3, 5)) / 5 ** .5
>>> net.kernel_fn(x, None, "ntk").shape                       # (N1, N2)
(3, 3)
>>> out_shape, params = net.init_fn(jax.random.PRNGKey(0), (-1, 5))
>>> out_shape, net.apply_fn(params, x).shape                  # finite network, width 64
((-1, 1), (3, 1))
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax, random

from . import _checks
from ._prng import normal, same_draws

__all__ = [
    "Network",
    "KernelFn",
    "Kernel",
    "Cov",
    "serial",
    "Dense",
    "Conv",
    "Relu",
    "AvgPool",
    "GlobalAvgPool",
    "Flatten",
    "to_stax",
    "PARAMETERIZATIONS",
    "PADDINGS",
]

PARAMETERIZATIONS = ("ntk", "standard")
PADDINGS = ("SAME", "VALID")

# Entries of the normalised determinant ``1 - cos^2`` at or below this many ulps of
# ``v1 v2`` are rounding (equal pixels of equal inputs), snapped to 0 so that the
# angle is exactly 0 there; a genuine angle of 1e-7 rad is ~1e-14, far above.
_DET_SNAP_ULPS = 64


# -- the state the interpreter carries ------------------------------------------------------


@dataclass(frozen=True)
class Cov:
    """Covariances of two batches after some layers (what :class:`KernelFn` passes along).

    Attributes
    ----------
    nngp : array
        Covariances of pairs of outputs, spatial axes first and the pairs of inputs last,
        on one axis of ``Q`` pairs: ``(H, H', W, W', Q)`` over all pairs of pixels
        ``(p, p')`` when ``full`` (each spatial axis next to its partner; 1-D:
        ``(L, L', Q)``), ``(H, W, Q)`` on the pixel diagonal, ``(Q,)`` without pixels.
        The first ``P`` pairs are the kernel's (:attr:`pairs`: ``(a, b)`` at
        ``a * B2 + b``); then, unless ``symmetric``, each input with itself, batch 1's
        ``B1`` then batch 2's ``B2`` (``Q = P + B1 + B2``).  A ReLU reads every pair's
        variances off those self pairs, and one update runs over the whole axis: the
        self-covariances are pairs like any other, not arrays of their own.  CNN-1-GAP's
        ReLU stage, one arc-cosine chain instead of three, traces and compiles in 0.15 s
        of CPU time instead of 0.35 s, and ran a 13 x 13 block 7-13% faster (a 2-core
        Xeon, one and two threads); its second convolution compiles in 0.13 s instead of
        0.18 s.  Pairs-last keeps every shift of a
        convolution a contiguous copy and every elementwise update a long vectorisable row.
    ntk : array or None
        The NTK so far, on the kernel's ``P`` pairs only, shaped like ``nngp`` otherwise;
        ``None`` before the first layer with parameters.
    full : bool
        Whether the pixel axes hold all pairs of pixels (``*S, *S``).
    spatial : tuple of int
        The spatial shape ``S`` (empty after ``Flatten``/``GlobalAvgPool``).
    channels : int
        Channels (features) of the layer's finite input: the fan-in that the
        standard parameterization's NTK needs.
    batches : tuple of two ints
        ``(B1, B2)``, the inputs in each batch.
    inputs : tuple of two arrays, or None
        The raw inputs ``(x1, x2)`` while the state is the input itself (then a first
        convolution reads its covariances off the image patches, one matrix product,
        instead of shifting a covariance tensor); ``None`` after the first layer.
    symmetric : bool
        The two batches are the same inputs (a diagonal block of a Gram matrix): the
        pair axis then holds only the pairs ``a <= b``, ``P = Q = B (B + 1) / 2`` of them
        in the order of ``np.triu_indices(B)`` (``_pair_index``), since
        ``K[a, b] = K[b, a]``; the self pairs are among them, and
        :meth:`KernelFn.finish` scatters the pairs back to a symmetric ``(B, B)`` matrix.
    """

    nngp: Any
    ntk: Any
    full: bool
    spatial: tuple
    channels: int
    batches: tuple[int, int]
    inputs: Any = None
    symmetric: bool = False

    @property
    def pairs(self) -> int:
        """``P``: the pairs of inputs the kernel is wanted for (the NTK's pair axis)."""
        b1, b2 = self.batches
        return _kernel_pairs(b1, b2, self.symmetric)

    def kernel_part(self, t):
        """The kernel's ``P`` pairs of a pair axis of ``Q`` (the self pairs dropped)."""
        p = self.pairs
        return t if t.shape[-1] == p else lax.slice_in_dim(t, 0, p, axis=t.ndim - 1)

    def variances(self):
        """Per-pixel variance of every input: ``(*S, B1 + B2)``, batch 1 then batch 2
        (``(*S, B)`` when ``symmetric``), read off the self pairs."""
        t = _pixel_diagonal(self.nngp, self.spatial) if self.full else self.nngp
        if self.symmetric:
            rows, cols = _pair_index(self.batches[0])
            return t[..., np.flatnonzero(rows == cols)]
        return lax.slice_in_dim(t, self.pairs, t.shape[-1], axis=t.ndim - 1)

    def map(self, fn: Callable[[Any], Any], *, ntk: bool = True) -> Cov:
        """Apply ``fn`` (acting on the leading spatial axes) to the NNGP (and the NTK)."""
        return replace(self, nngp=fn(self.nngp), ntk=None if self.ntk is None or not ntk else fn(self.ntk))

    def map_joined(self, fn: Callable[[Any], Any]) -> Cov:
        """:meth:`map` (the NTK included) as one call of ``fn`` on the NNGP and the NTK laid
        side by side along the pair axis, then split back.

        ``fn`` must act on the leading spatial axes alone.  Used for a convolution's
        window, a chain of in-place updates that XLA compiles once per array it is
        applied to: on CNN-1-GAP's 13 x 13 block, four windowed arrays compiled in 0.31 s
        of CPU time against 0.14 s for one twice as wide (its second convolution's
        program: 0.36-0.38 s against 0.11-0.13 s, when the self-covariances were arrays
        of their own).  Joining costs one more pass over the state: that program ran a
        block about 1 ms slower (4.1-5.6 against 5.0-6.8 ms, a noisy 2-core Xeon), about
        5% of a block, so the join pays on first calls and small Grams and costs a few
        percent on Grams of thousands of blocks.
        """
        if self.ntk is None:
            return self.map(fn)
        q = self.nngp.shape[-1]
        out = fn(jnp.concatenate([self.nngp, self.ntk], axis=-1))
        last = out.ndim - 1
        return replace(
            self,
            nngp=lax.slice_in_dim(out, 0, q, axis=last),
            ntk=lax.slice_in_dim(out, q, out.shape[-1], axis=last),
        )


def _kernel_pairs(b1: int, b2: int, symmetric: bool) -> int:
    """``P``: pairs of inputs of a ``b1 x b2`` block's kernel (``b (b + 1) / 2`` symmetric)."""
    return b1 * (b1 + 1) // 2 if symmetric else b1 * b2


@functools.lru_cache(maxsize=64)
def _pair_sources(b1: int, b2: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """For each pair ``k`` of the state's axis, the inputs it pairs, as indices into
    :meth:`Cov.variances` (batch 1, then batch 2): ``(left, right)``, shape ``(Q,)`` each."""
    if symmetric:
        return _pair_index(b1)
    one, two = np.arange(b1), b1 + np.arange(b2)
    left = np.concatenate([np.repeat(one, b2), one, two])
    right = np.concatenate([np.tile(two, b1), one, two])
    left.flags.writeable = right.flags.writeable = False
    return left, right


jax.tree_util.register_pytree_node(
    Cov,
    lambda c: ((c.nngp, c.ntk, c.inputs), (c.full, c.spatial, c.channels, c.batches, c.symmetric)),
    lambda aux, arrays: Cov(*arrays[:2], *aux[:4], inputs=arrays[2], symmetric=aux[4]),
)


class Kernel(NamedTuple):
    """What ``kernel_fn(x1, x2)`` returns without ``get``: both kernels, ``(N1, N2)`` each."""

    nngp: Any
    ntk: Any


# -- helpers shared by the layers' updates --------------------------------------------------


def _tuple(value, n: int, name: str) -> tuple:
    """``value`` as an ``n``-tuple of positive ints (an int is repeated)."""
    vals = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    if len(vals) != n or any(
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in vals
    ):
        raise ValueError(f"{name}={value!r}; expected {n} positive int(s).")
    return tuple(int(v) for v in vals)


def _padding(padding: str, name: str) -> str:
    p = str(padding).upper()
    if p == "CIRCULAR":
        raise NotImplementedError(
            f"{name}(padding='CIRCULAR') is not implemented in ntkbook.layers; use 'SAME' or 'VALID'."
        )
    if p not in PADDINGS:
        raise ValueError(f"{name}(padding={padding!r}); expected one of {PADDINGS}.")
    return p


def _pads(size: int, window: int, stride: int, padding: str) -> tuple[int, int, int]:
    """Output size and (low, high) padding of one spatial axis, as ``lax`` computes them."""
    if padding == "VALID":
        if size < window:
            raise ValueError(
                f"a window of {window} does not fit a spatial side of {size} with padding='VALID'."
            )
        return (size - window) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


def _strided_window_sum(t, axes: Sequence[int], window: int, stride: int, lo: int, hi: int, out: int):
    """``sum_{d < window} t[..., s*i + d - lo, ...]`` along every axis of ``axes`` *together*.

    Zero outside ``t`` (padding ``lo``/``hi``); ``out`` output positions, stride ``stride``.
    The axes move together: for a convolution, the two pixels of a covariance entry are
    shifted by the same filter offset.
    """
    if stride == 1 and lo + hi == window - 1 and lo == (window - 1) // 2 and hi == lo:
        return _shift_sum(t, axes, lo)
    pad = [(0, 0)] * t.ndim
    for a in axes:
        pad[a] = (lo, hi)
    tp = jnp.pad(t, pad)
    total: Any = 0
    for d in range(window):
        idx = [slice(None)] * t.ndim
        for a in axes:
            idx[a] = slice(d, d + stride * (out - 1) + 1, stride)
        total = total + tp[tuple(idx)]
    return total


def _shift_sum(t, axes: Sequence[int], r: int):
    """``sum_{|d| <= r} t[..., i + d, ...]`` along ``axes`` together, zero outside (stride 1, SAME).

    ``axes`` are adjacent.  The tensor is viewed as ``(before, *axes, after)`` (a free
    reshape), so each shifted in-place add copies rows of ``after`` contiguous entries.
    Measured (process CPU time, loaded 2-core machine): on the full covariance of
    CNN-1-GAP's 15 x 15 block the window ran 2.3x faster than in-place adds on the 6-D
    array; zero-padded slices summed in one fusion (``lax.pad``) compiled faster (0.27
    against 0.44 s) but ran the flatten CNN's diagonal-covariance block at 5.0 ms against
    3.3 ms, so in-place adds it is.  They are written as ``lax`` slices and
    ``dynamic_update_slice`` (XLA's in-place update), not ``.at[].add``, which traces
    as a scatter: CNN-1-GAP's second convolution traced and compiled 0.03-0.07 s of CPU
    time faster, and ran the same.
    """
    a0, a1 = min(axes), max(axes) + 1
    if tuple(axes) != tuple(range(a0, a1)):
        raise ValueError(f"_shift_sum needs adjacent axes; got {tuple(axes)}.")
    shape = t.shape
    v = t.reshape((math.prod(shape[:a0]),) + shape[a0:a1] + (math.prod(shape[a1:]),))
    o = v
    for d in range(1, r + 1):
        size = v.shape[:1] + tuple(n - d for n in v.shape[1:-1]) + v.shape[-1:]
        for src, dst in ((0, d), (d, 0)):  # o[dst:] += v[:-d], then o[:-d] += v[d:]
            at_src = (0,) + (src,) * (a1 - a0) + (0,)
            at_dst = (0,) + (dst,) * (a1 - a0) + (0,)
            moved = lax.slice(v, at_src, tuple(i + n for i, n in zip(at_src, size)))
            here = lax.slice(o, at_dst, tuple(i + n for i, n in zip(at_dst, size)))
            o = lax.dynamic_update_slice(o, lax.add(here, moved), at_dst)
    return o.reshape(shape)


def _pool_axis(t, axis: int, window: int, stride: int, lo: int, hi: int, out: int):
    """Average over a window along one axis (zeros of the padding counted, like ``stax``)."""
    if lo == hi == 0 and window == stride and t.shape[axis] == out * window:
        shape = t.shape[:axis] + (out, window) + t.shape[axis + 1 :]
        return jnp.mean(t.reshape(shape), axis=axis + 1)
    return _strided_window_sum(t, (axis,), window, stride, lo, hi, out) / window


def _pixel_diagonal(t, spatial: tuple):
    """``(H, H', W, W', *B) -> (H, W, *B)``: the covariance of each pixel with itself.

    Each pair of axes is merged (a free reshape) and read with stride ``H + 1``: one
    strided slice, which traces and compiles faster than the equivalent ``einsum``.
    """
    merged = t.reshape(tuple(n * n for n in spatial) + t.shape[2 * len(spatial) :])
    strides = tuple(n + 1 for n in spatial) + (1,) * (merged.ndim - len(spatial))
    return lax.slice(merged, (0,) * merged.ndim, merged.shape, strides)


@functools.lru_cache(maxsize=64)
def _pair_index(b: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(a, b)``, ``a <= b``, of a symmetric pair axis over ``b`` inputs.

    Parameters
    ----------
    b : int
        Inputs in the (one) batch.

    Returns
    -------
    rows, cols : int ndarrays, shape (b (b + 1) / 2,)
        ``np.triu_indices(b)``: pair ``k`` of the axis is ``(rows[k], cols[k])``
        (read-only: the arrays are shared by every caller).
    """
    rows, cols = np.triu_indices(b)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def _feature_covariances(f1, f2, full: bool, norm: float, symmetric: bool = False):
    """The NNGP state of two batches of feature maps, in the interpreter's layout.

    Parameters
    ----------
    f1, f2 : arrays, shapes (B1, spatial..., F) and (B2, spatial..., F)
        Inputs, or their patches (F = channels x filter taps).
    full : bool
        All pairs of pixels, each spatial axis beside its partner, or the pixel diagonal.
    norm : float
        Divides the inner products over F (the channel count, or channels x taps).
    symmetric : bool
        ``f2`` is ``f1`` (ignored): only the pairs ``a <= b`` of ``_pair_index``, gathered
        from the same one matrix product.

    Returns
    -------
    nngp : array
        ``(H, H', W, W', Q)`` when ``full``, else ``(H, W, Q)`` (``(Q,)`` for flat
        features ``(B, F)``): the ``P = B1 B2`` pairs
        (``(a, b)`` at ``a B2 + b``), then each input with itself (``Q = P + B1 + B2``);
        ``P = Q = B1 (B1 + 1) / 2`` when ``symmetric`` (:class:`Cov`).
    """
    if symmetric:
        f2 = f1
    n = f1.ndim - 2
    p, q = "ijkl"[:n], "mnop"[:n]
    b1, b2 = f1.shape[0], f2.shape[0]
    rows, cols = _pair_index(b1) if symmetric else (None, None)
    if full:
        pairs = "".join(a + b for a, b in zip(p, q))  # i m j n: each axis beside its partner
        # one matrix product over every (input, pixel) row, then one transpose into the
        # layout (an einsum straight into it ran 5x slower on a CPU)
        g = (f1.reshape(-1, f1.shape[-1]) @ f2.reshape(-1, f2.shape[-1]).T) / norm
        g = g.reshape(f1.shape[:-1] + f2.shape[:-1])
        if symmetric:
            # gather the pairs a <= b first (rows of whole pixel blocks), so the transpose
            # into the layout moves only half the product: (P, *S, *S) -> (pairs..., P)
            return jnp.einsum(f"z{p}{q}->{pairs}z", g[(rows,) + (slice(None),) * n + (cols,)])
        g = jnp.einsum(f"a{p}b{q}->{pairs}ab", g)
        g = g.reshape(g.shape[: 2 * n] + (b1 * b2,))

        def selves(f):
            return jnp.einsum(f"a{p}z,a{q}z->{pairs}a", f, f) / norm

    else:
        g = jnp.einsum(f"a{p}z,b{p}z->{p}ab", f1, f2) / norm
        g = g.reshape(g.shape[:n] + (b1 * b2,))
        if symmetric:
            return g[..., rows * b2 + cols]

        def selves(f):
            return jnp.einsum(f"a{p}z->{p}a", f * f) / norm

    return jnp.concatenate([g, selves(f1), selves(f2)], axis=-1)


# Cephes' rational approximation of atan on [0, tan(pi/8)] (atan.c: P/Q, relative error
# below 2e-16 there); the range [0, 1] needs one reduction, atan(t) = pi/4 + atan((t-1)/(t+1)).
_ATAN_P = (
    -8.750608600031904122785e-01,
    -1.615753718733365076637e01,
    -7.500855792314704667340e01,
    -1.228866684490136173410e02,
    -6.485021904942025371773e01,
)
_ATAN_Q = (
    2.485846490142306297962e01,
    1.650270098316988542046e02,
    4.328810604912902668951e02,
    4.853903996359136964868e02,
    1.945506571482613964425e02,
)
_TAN_PI_8 = 0.41421356237309504880
# Arrays of at least this many entries take the rational angle: below it, the time XLA
# needs to compile the longer program exceeds what the faster evaluation saves.  Set when
# the self-covariances were arrays of their own: at 2**14 those of CNN-1-GAP's 13-input
# blocks (8^4 x 13 entries) took it, and its ReLU stage ran a block in 3.8 ms against
# 7-8.5 ms with XLA's atan2 there, for about the same compile time (0.18-0.34 s against
# 0.22-0.24 s, a noisy 2-core Xeon).  Every pooled network's state is far above it now;
# the MLPs' few thousand pairs stay below.
_FAST_ANGLE_MIN = 2**14


# The two functions below are written in ``lax`` primitives, not ``jnp``: on the book's JAX
# (0.4.23) every ``jnp`` operation, arithmetic operators included, is traced as a nested
# jitted function, about 2 ms each; CNN-1-GAP's ReLU stage (when the self-covariances were
# arrays of their own, three angles) traced in 0.20 s in ``jnp`` and 0.05 s in ``lax``.


def _angle(root, k12):
    """``atan2(root, k12)`` for ``root >= 0``, in ``[0, pi]``, with ``atan2(0, 0) = pi / 2``.

    Written in plain arithmetic and selects (a rational approximation after two range
    reductions) because XLA's ``atan2`` on a CPU evaluates about 2e7 entries per second
    on one core, while this runs at the speed of the surrounding elementwise work
    (``python -m ntkbook.bench --rates``); agrees with ``jnp.arctan2`` to a few ulps
    (``tests/test_layers.py``).  ``root`` and ``k12`` have one shape and dtype.
    """
    one, pi = np.asarray(1, root.dtype), np.asarray(np.pi, root.dtype)
    zeros = lax.full_like(root, 0)
    a = lax.abs(k12)
    lo, hi = lax.min(root, a), lax.max(root, a)
    empty = lax.eq(hi, zeros)
    t = lax.div(lo, lax.select(empty, lax.full_like(root, 1), hi))  # in [0, 1]
    big = lax.gt(t, np.asarray(_TAN_PI_8, root.dtype))
    u = lax.select(big, lax.div(lax.sub(t, one), lax.add(t, one)), t)  # |u| <= tan(pi/8)
    z = lax.mul(u, u)
    p = lax.full_like(root, _ATAN_P[0])
    q = lax.add(z, np.asarray(_ATAN_Q[0], root.dtype))
    for cp in _ATAN_P[1:]:
        p = lax.add(lax.mul(p, z), np.asarray(cp, root.dtype))
    for cq in _ATAN_Q[1:]:
        q = lax.add(lax.mul(q, z), np.asarray(cq, root.dtype))
    # atan(lo / hi) in [0, pi/4]
    th = lax.add(
        lax.select(big, lax.full_like(root, np.pi / 4), zeros),
        lax.add(u, lax.div(lax.mul(lax.mul(u, z), p), q)),
    )
    th = lax.select(lax.gt(root, a), lax.sub(pi / 2, th), th)  # atan(root / |k12|)
    th = lax.select(lax.lt(k12, zeros), lax.sub(pi, th), th)
    return lax.select(empty, lax.full_like(root, np.pi / 2), th)


def _arccos_relu(k12, prod):
    """ReLU's arc-cosine expectations from a covariance and the product of the two variances.

    Parameters
    ----------
    k12, prod : arrays (broadcastable, one dtype)
        ``E[u v]`` and ``E[u^2] E[v^2]`` of a centred Gaussian pair.

    Returns
    -------
    e_relu, e_step : arrays
        ``E[relu(u) relu(v)] = (sqrt(prod - k12^2) + (pi - t) k12) / (2 pi)`` and
        ``E[relu'(u) relu'(v)] = (pi - t) / (2 pi)``, with ``t = atan2(sqrt(prod - k12^2), k12)``.
        ``prod = k12 = 0`` (a pixel with no variance) takes ``t = pi/2``, the value
        neural-tangents fills in; no variance is ever divided by.
    """
    k12, prod = jnp.broadcast_arrays(k12, prod)
    pi, zeros = np.asarray(np.pi, k12.dtype), lax.full_like(k12, 0)
    det = lax.sub(prod, lax.mul(k12, k12))
    snap = lax.mul(np.asarray(_DET_SNAP_ULPS * jnp.finfo(k12.dtype).eps, k12.dtype), prod)
    root = lax.sqrt(lax.select(lax.le(det, snap), zeros, det))
    if np.size(det) >= _FAST_ANGLE_MIN:
        angle = _angle(root, k12)
    else:
        # small arrays: XLA's atan2 is one operation, so the program compiles faster
        empty = lax.bitwise_and(lax.eq(root, zeros), lax.eq(k12, zeros))
        angle = lax.select(empty, lax.full_like(k12, np.pi / 2), lax.atan2(root, k12))
    e_step = lax.div(lax.sub(pi, angle), 2 * pi)
    return lax.add(lax.div(root, 2 * pi), lax.mul(e_step, k12)), e_step


# -- layers ----------------------------------------------------------------------------------


class _Layer:
    """One layer: shape rule, finite forward pass and kernel update (subclasses fill them in)."""

    #: whether the kernel update needs the covariance of *different* pixels of its input
    mixes_pixels = False

    def out_shape(self, in_shape: tuple) -> tuple:
        """Shape of the output for an input of shape ``in_shape`` (batch axis first)."""
        return in_shape

    def init(self, key, in_shape: tuple) -> tuple[tuple, Any]:
        """``(out_shape, params)`` of the finite layer; ``key`` is a JAX PRNG key."""
        return self.out_shape(tuple(in_shape)), ()

    def apply(self, params, x):
        """The finite layer's output for inputs ``x``."""
        raise NotImplementedError

    def kernel(self, c: Cov) -> Cov:
        """The covariances and NTK after this layer, from those before it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"

    # layers are values: two equal layers share their compiled kernel stage (KernelFn.staged)
    def _key(self) -> tuple:
        return (type(self),) + tuple(sorted(vars(self).items()))

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@overload
def _check_std(value, name: str, layer: str, allow_none: Literal[False]) -> float: ...
@overload
def _check_std(value, name: str, layer: str, allow_none: bool) -> float | None: ...
def _check_std(value, name: str, layer: str, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"{layer}({name}={value!r}); expected a finite number >= 0"
            + (" or None" if allow_none else "")
            + "."
        )
    return float(value)


class _Affine(_Layer):
    """What Dense and Conv share: weights, biases, parameterization and the NTK update."""

    def __init__(self, name: str, W_std, b_std, parameterization: str):
        self.W_std = _check_std(W_std, "W_std", name, False)
        self.b_std = _check_std(b_std, "b_std", name, True)
        p = str(parameterization).lower()
        if p not in PARAMETERIZATIONS:
            raise ValueError(
                f"{name}(parameterization={parameterization!r}); expected one of {PARAMETERIZATIONS}."
            )
        self.parameterization = p

    def _scale_params(self, W, b, fan_in: int):
        if self.parameterization == "standard":
            W = W * (self.W_std / fan_in**0.5)
            b = None if b is None else b * self.b_std
        return W, b

    def _finish(self, out, b, fan_in: int):
        """Scale the raw product and add the bias, as ``stax`` does for each parameterization."""
        if self.parameterization == "ntk":
            out = (self.W_std / fan_in**0.5) * out
            return out if b is None else out + self.b_std * b
        return out if b is None else out + b

    def _update(self, moved: Cov, fan_in: int, **changes) -> Cov:
        """``nngp -> W^2 nngp + b^2`` and the NTK by the parameterization's rule, for a state
        ``moved`` whose covariances (the NTK included) went through the layer's map of
        pixels already (a convolution's window; nothing for a dense layer).  The NTK
        reads the NNGP's kernel pairs alone (:meth:`Cov.kernel_part`)."""
        w2, b2 = self.W_std**2, (self.b_std or 0.0) ** 2
        new = moved.map(lambda t: w2 * t + b2, ntk=False)
        ntk_old = moved.ntk
        if self.parameterization == "ntk":
            nngp = new.kernel_part(new.nngp)
            ntk = nngp if ntk_old is None else nngp + w2 * ntk_old
        else:
            # standard: the weights' gradient carries the fan-in, a bias adds 1 (stax's rule)
            ntk = fan_in * moved.kernel_part(moved.nngp) + (0.0 if ntk_old is None else w2 * ntk_old)
            if self.b_std is not None:
                ntk = ntk + 1.0
        return replace(new, ntk=ntk, **changes)


class _Dense(_Affine):
    def __init__(self, out_dim, W_std, b_std, parameterization):
        super().__init__("Dense", W_std, b_std, parameterization)
        self.out_dim = _tuple(out_dim, 1, "Dense(out_dim)")[0]

    def out_shape(self, in_shape):
        return tuple(in_shape[:-1]) + (self.out_dim,)

    def init(self, key, in_shape):
        in_shape = tuple(in_shape)
        k1, k2 = random.split(key)
        W = normal(k1, (in_shape[-1], self.out_dim))
        b = None if self.b_std is None else normal(k2, (1,) * (len(in_shape) - 1) + (self.out_dim,))
        return self.out_shape(in_shape), self._scale_params(W, b, in_shape[-1])

    def apply(self, params, x):
        W, b = params
        out = jnp.moveaxis(jnp.tensordot(W, x, (0, x.ndim - 1)), 0, -1)
        return self._finish(out, b, x.shape[-1])

    def kernel(self, c):
        return self._update(c, c.channels, channels=self.out_dim)


class _Conv(_Affine):
    def __init__(self, out_chan, filter_shape, strides, padding, W_std, b_std, parameterization):
        super().__init__("Conv", W_std, b_std, parameterization)
        self.out_chan = _tuple(out_chan, 1, "Conv(out_chan)")[0]
        self.filter_shape = _tuple(filter_shape, len(tuple(filter_shape)), "Conv(filter_shape)")
        n = len(self.filter_shape)
        if n not in (1, 2):
            raise NotImplementedError(
                f"Conv(filter_shape={filter_shape!r}): ntkbook.layers does 1-D and 2-D convolutions only."
            )
        self.strides = (1,) * n if strides is None else _tuple(strides, n, "Conv(strides)")
        self.padding = _padding(padding, "Conv")

    def _geometry(self, spatial):
        if len(spatial) != len(self.filter_shape):
            raise ValueError(
                f"Conv(filter_shape={self.filter_shape}) needs inputs with "
                f"{len(self.filter_shape)} spatial axes before the channels; got "
                f"spatial shape {tuple(spatial)}."
            )
        return [_pads(s, k, st, self.padding) for s, k, st in zip(spatial, self.filter_shape, self.strides)]

    def out_shape(self, in_shape):
        geo = self._geometry(in_shape[1:-1])
        return (in_shape[0],) + tuple(g[0] for g in geo) + (self.out_chan,)

    def _dims(self):
        s = "HW"[-len(self.filter_shape) :] if len(self.filter_shape) == 2 else "W"
        return ("N" + s + "C", s + "IO", "N" + s + "C")

    def init(self, key, in_shape):
        in_shape = tuple(in_shape)
        k1, k2 = random.split(key)
        W = normal(k1, self.filter_shape + (in_shape[-1], self.out_chan))
        b = None if self.b_std is None else normal(k2, (1,) * (len(in_shape) - 1) + (self.out_chan,))
        fan_in = in_shape[-1] * math.prod(self.filter_shape)
        return self.out_shape(in_shape), self._scale_params(W, b, fan_in)

    def apply(self, params, x):
        W, b = params
        out = lax.conv_general_dilated(x, W, self.strides, self.padding, dimension_numbers=self._dims())
        return self._finish(out, b, x.shape[-1] * math.prod(self.filter_shape))

    def kernel(self, c):
        geo = self._geometry(c.spatial)
        taps = math.prod(self.filter_shape)

        def window(t):
            # the two pixels of an entry move by the same filter offset (shared weights)
            for a, ((out, lo, hi), k, s) in enumerate(zip(geo, self.filter_shape, self.strides)):
                axes = (2 * a, 2 * a + 1) if c.full else (a,)
                t = _strided_window_sum(t, axes, k, s, lo, hi, out)
            return t / taps

        moved = c.map_joined(window) if c.inputs is None else self._from_patches(c, geo)
        return self._update(
            moved, c.channels * taps, spatial=tuple(g[0] for g in geo), channels=self.out_chan
        )

    def _from_patches(self, c: Cov, geo) -> Cov:
        """The window-averaged covariances of the raw inputs, as products of their patches.

        ``mean_d x1[p + d] . x2[q + d] / C`` is the inner product of the two pixels'
        patch vectors over ``C * taps`` entries: one matrix product writes the
        covariance tensor once, where shifting the input covariance would pass over it
        ``2 r`` times per axis.
        """
        x1, x2 = c.inputs
        pads = [(lo, hi) for _, lo, hi in geo]
        dims = self._dims()

        def patches(x):  # (B, *S', C * taps)
            return lax.conv_general_dilated_patches(
                x, self.filter_shape, self.strides, pads, dimension_numbers=dims
            )

        p1 = patches(x1)
        nngp = _feature_covariances(
            p1,
            p1 if c.symmetric else patches(x2),
            c.full,
            c.channels * math.prod(self.filter_shape),
            c.symmetric,
        )
        return replace(c, nngp=nngp, inputs=None)


class _Relu(_Layer):
    def apply(self, params, x):
        return jnp.maximum(x, 0)

    def kernel(self, c):
        # every pair's two variances, read off the self pairs: (*S, Q) each.  A self pair's
        # own pixel diagonal then has a snapped determinant and angle 0: exactly var / 2
        left, right = _pair_sources(*c.batches, c.symmetric)
        v = c.variances()
        v1, v2 = v[..., left], v[..., right]
        if c.full:
            # entry (p, p', k) pairs the left input's pixel p with the right one's p'
            shape = v1.shape[len(c.spatial) :]
            v1 = v1.reshape(sum(((h, 1) for h in c.spatial), ()) + shape)
            v2 = v2.reshape(sum(((1, h) for h in c.spatial), ()) + shape)
        nngp, step = _arccos_relu(c.nngp, v1 * v2)
        return replace(c, nngp=nngp, ntk=None if c.ntk is None else c.ntk * c.kernel_part(step))


class _AvgPool(_Layer):
    mixes_pixels = True

    def __init__(self, window_shape, strides, padding):
        self.window_shape = _tuple(window_shape, len(tuple(window_shape)), "AvgPool(window_shape)")
        n = len(self.window_shape)
        # stax's default stride is 1 on every axis (not the window)
        self.strides = (1,) * n if strides is None else _tuple(strides, n, "AvgPool(strides)")
        self.padding = _padding(padding, "AvgPool")

    def _geometry(self, spatial):
        if len(spatial) != len(self.window_shape):
            raise ValueError(
                f"AvgPool(window_shape={self.window_shape}) needs inputs with "
                f"{len(self.window_shape)} spatial axes; got {tuple(spatial)}."
            )
        return [_pads(s, w, st, self.padding) for s, w, st in zip(spatial, self.window_shape, self.strides)]

    def out_shape(self, in_shape):
        geo = self._geometry(in_shape[1:-1])
        return (in_shape[0],) + tuple(g[0] for g in geo) + (in_shape[-1],)

    def apply(self, params, x):
        dims = (1,) + self.window_shape + (1,)
        strides = (1,) + self.strides + (1,)
        return lax.reduce_window(x, 0.0, lax.add, dims, strides, self.padding) / math.prod(self.window_shape)

    def kernel(self, c):
        geo = self._geometry(c.spatial)

        def pool(t):
            # each pixel of an entry is averaged over its own window (no shared offset)
            for a, ((out, lo, hi), w, s) in enumerate(zip(geo, self.window_shape, self.strides)):
                for axis in (2 * a, 2 * a + 1):
                    t = _pool_axis(t, axis, w, s, lo, hi, out)
            return t

        return replace(c.map(pool), spatial=tuple(g[0] for g in geo))


class _GlobalAvgPool(_Layer):
    mixes_pixels = True

    def out_shape(self, in_shape):
        return (in_shape[0], in_shape[-1])

    def apply(self, params, x):
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))

    def kernel(self, c):
        # every spatial axis leads and the batch (or pair) axis is last: one 2-D mean
        return replace(c.map(lambda t: jnp.mean(t.reshape(-1, t.shape[-1]), axis=0)), spatial=(), full=False)


class _Flatten(_Layer):
    def out_shape(self, in_shape):
        return (in_shape[0], math.prod(in_shape[1:]))

    def apply(self, params, x):
        return x.reshape(x.shape[0], -1)

    def kernel(self, c):
        if not c.spatial:
            return c

        def flat(t):
            if c.full:
                t = _pixel_diagonal(t, c.spatial)
            return jnp.mean(t, axis=tuple(range(len(c.spatial))))

        return replace(c.map(flat), spatial=(), full=False, channels=c.channels * math.prod(c.spatial))


# -- networks ----------------------------------------------------------------------------------


def _select(k: Kernel, get):
    """neural-tangents' ``get``: ``None`` -> :class:`Kernel`, a name -> one array, a tuple of
    names -> a named tuple of arrays in that order."""
    if get is None:
        return k
    names = (get,) if isinstance(get, str) else tuple(get)
    bad = [g for g in names if g not in Kernel._fields]
    if bad:
        raise ValueError(f"get={get!r}; expected 'ntk', 'nngp', a tuple of them, or None.")
    vals = tuple(getattr(k, g) for g in names)
    if isinstance(get, str):
        return vals[0]
    # a tuple of names: a named tuple in that order (``.ntk``/``.nngp``), as neural-tangents
    return _named(names)(*vals)


@functools.cache
def _named(names: tuple) -> type:
    return collections.namedtuple("Kernel", names)


def _float_dtype(dtype) -> Any:
    """``dtype`` promoted to at least the default float precision (float64 under x64), as
    neural-tangents computes: float32 data give float64 kernels when x64 is on."""
    return jnp.promote_types(dtype, jnp.zeros(()).dtype)


def _as_float(x):
    """``x`` as a JAX array of :func:`_float_dtype`."""
    x = jnp.asarray(x)
    return x.astype(_float_dtype(x.dtype))


def _advance(layers: Sequence[_Layer], c: Cov, full_until: int) -> Cov:
    """Apply ``layers`` in order; after layer ``full_until`` (an index into ``layers``) the
    full pixel-pair covariance is reduced to its pixel diagonal: nothing later needs the rest."""
    for i, layer in enumerate(layers):
        c = replace(layer.kernel(c), inputs=None)
        if c.full and i >= full_until and c.spatial:
            c = replace(c.map(functools.partial(_pixel_diagonal, spatial=c.spatial)), full=False)
    return c


def _input_state(first: _Layer, mixing: bool, x1, x2=None) -> Cov:
    """The state of the inputs ``(N1, *S, C)``, ``(N2, *S, C)`` for a stack whose first layer
    is ``first`` and which mixes pixels somewhere (then the covariance is full).

    ``x2=None``: the symmetric state of ``x1`` with itself (:attr:`Cov.symmetric`).
    """
    sym = x2 is None
    x2 = x1 if sym else x2
    spatial = tuple(x1.shape[1:-1])
    full = mixing and bool(spatial)
    chans = x1.shape[-1]
    batches = (x1.shape[0], x2.shape[0])
    if isinstance(first, _Flatten) and spatial:
        # a stack that starts by flattening (the zoo's MLPs on images) needs only the inner
        # products of the flat inputs: the mean over pixels of the per-pixel covariances is
        # x1 . x2 / (pixels x channels), without an (H, W, Q) array (784x smaller on MNIST)
        f1, f2 = x1.reshape(x1.shape[0], -1), x2.reshape(x2.shape[0], -1)
        nngp = _feature_covariances(f1, f2, False, f1.shape[-1], sym)
        return Cov(
            nngp=nngp, ntk=None, full=False, spatial=(), channels=f1.shape[-1], batches=batches, symmetric=sym
        )
    if isinstance(first, _Conv):
        # the first convolution reads the raw inputs' patches (_Conv._from_patches)
        return Cov(
            nngp=None,
            ntk=None,
            full=full,
            spatial=spatial,
            channels=chans,
            batches=batches,
            inputs=(x1, x2),
            symmetric=sym,
        )
    nngp = _feature_covariances(x1, x2, full, chans, sym)
    return Cov(
        nngp=nngp, ntk=None, full=full, spatial=spatial, channels=chans, batches=batches, symmetric=sym
    )


@functools.lru_cache(maxsize=256)
def _compiled_stage(layers: tuple, full_until: int, mixing: bool | None, get: Any) -> Callable:
    """One jitted stage of :meth:`KernelFn.staged`, shared by every stage with equal layers.

    ``mixing`` not None: the stage begins from the (checked, float) inputs ``(x1, x2)`` of a
    stack that mixes pixels (``True``) or not; ``get`` not None: it ends with the readout
    (``finish`` and ``get``).
    """

    def stage(*args):
        c = _input_state(layers[0], mixing, *args) if mixing is not None else args[0]
        c = _advance(layers, c, full_until)
        return c if get is None else _select(KernelFn.finish(c), get)

    return jax.jit(stage)


class _StackFn:
    """A function of a layer stack that equals every other one of the same stack.

    Equal stacks compute the same function, so the caches keyed on a network's functions
    (its kernel's memory estimate, :mod:`ntkbook.gram_memory`; its compiled training step
    and forward pass, :mod:`ntkbook.dynamics.loop`; its jitted empirical kernels,
    :mod:`ntkbook.empirical`; JAX's own trace cache) serve every network
    built with the same layers: a chapter that builds one architecture again per fit or per
    width compiles its programs once instead of once per object.
    """

    def __init__(self, layers: tuple[_Layer, ...]):
        self.layers = layers

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.layers == other.layers

    def __hash__(self) -> int:
        return hash((type(self), self.layers))

    def __repr__(self) -> str:
        return f"{type(self).__name__.lstrip('_')}({' -> '.join(type(layer).__name__.lstrip('_') for layer in self.layers)})"


class KernelFn(_StackFn):
    """The infinite-width ``kernel_fn`` of a stack of layers: ``kernel_fn(x1, x2=None, get=None)``.

    Call it with inputs ``x1`` and ``x2`` of shapes (N1, spatial..., C) and
    (N2, spatial..., C) (``x2=None`` means ``x1``); it returns (N1, N2) arrays for
    ``get="ntk"`` or ``"nngp"``, a named tuple of them for a tuple of names, or a
    :class:`Kernel` with both for ``get=None``.  It is a plain function of arrays, so
    ``jax.jit`` and :func:`ntkbook.gram.gram` take it as they are.

    Parameters
    ----------
    layers : sequence of layers
        The stack, input first (as :class:`Network` records it).
    """

    def __init__(self, layers: Sequence[_Layer]):
        super().__init__(tuple(layers))
        mixing = [i for i, layer in enumerate(self.layers) if layer.mixes_pixels]
        # the full pixel-pair covariance is carried up to the last layer that mixes pixels
        self.full_until = mixing[-1] if mixing else -1

    def start(self, x1, x2=None) -> Cov:
        """The covariance state of the inputs, in the representation this stack needs.

        Parameters
        ----------
        x1 : array, shape (N1, spatial..., C)
        x2 : array, shape (N2, spatial..., C), optional
            ``None``: ``x1`` with itself, as a symmetric state (:attr:`Cov.symmetric`: only
            the pairs ``a <= b``, about half the work of passing ``x1`` again).
        """
        x1 = _as_float(x1)
        x2 = None if x2 is None else _as_float(x2)
        self._check_inputs(x1, x1 if x2 is None else x2)
        return _input_state(self.layers[0], self.full_until >= 0, x1, x2)

    def advance(self, c: Cov, start: int = 0, stop: int | None = None) -> Cov:
        """Apply layers ``start:stop`` of the stack to the state ``c``.

        After the last layer that mixes pixels the full pixel-pair covariance is
        reduced to its pixel diagonal: nothing later needs the rest.
        """
        stop = len(self.layers) if stop is None else stop
        return _advance(self.layers[start:stop], c, self.full_until - start)

    @staticmethod
    def finish(c: Cov) -> Kernel:
        """The ``(N1, N2)`` kernels of a state (pixels averaged as ``Flatten`` would).

        A symmetric state's pairs ``a <= b`` are scattered to both ``[a, b]`` and
        ``[b, a]``: the result is exactly symmetric.
        """
        f = _Flatten().kernel(c) if c.spatial else c
        b1, b2 = f.batches
        if f.symmetric:
            rows, cols = _pair_index(b1)

            def square(v):
                return jnp.zeros((b1, b1), v.dtype).at[rows, cols].set(v).at[cols, rows].set(v)
        else:

            def square(v):
                return v.reshape(b1, b2)

        nngp = square(f.kernel_part(f.nngp))
        return Kernel(nngp=nngp, ntk=jnp.zeros_like(nngp) if f.ntk is None else square(f.ntk))

    def _check_inputs(self, x1, x2) -> None:
        if x1.ndim < 2 or x1.shape[1:] != x2.shape[1:]:
            raise ValueError(
                f"x1 and x2 must have shape (N, *spatial, channels) with one feature "
                f"shape; got {x1.shape} and {x2.shape}."
            )
        shape = (-1,) + tuple(x1.shape[1:])
        for layer in self.layers:
            shape = layer.out_shape(shape)
        if len(shape) != 2:
            raise NotImplementedError(
                f"{self!r} ends with spatial axes (output shape {shape}); the kernel needs a "
                "Flatten or GlobalAvgPool before the readout."
            )

    def pair_entries(self, feature_shape: Sequence[int]) -> int:
        """Entries per pair of inputs of the largest covariance the stack's state holds.

        Read off the layers' shape rules, without tracing: the full pixel-pair covariance
        (``prod(S)**2`` entries per pair, up to the last layer that mixes pixels), the pixel
        diagonal (``prod(S)``) after it, 1 without pixels; the input state counts unless the
        first layer reads the raw inputs (a convolution's patches, a ``Flatten``).  For the
        zoo it equals the largest state of a traced block after any number of layers, per
        pair on the state's axis (:meth:`state_pairs`; what the memory guard reads).
        Temporaries can be larger: a convolution's window works on the NNGP and the NTK
        joined (:meth:`Cov.map_joined`), about twice the state, and one with padding
        outside ``SAME``'s stride-1 shift pads it.

        Parameters
        ----------
        feature_shape : tuple of int
            ``(*S, C)`` of one input.
        """
        shape = (1,) + tuple(feature_shape)
        full = self.full_until >= 0 and len(shape) > 2

        def entries(spatial: tuple) -> int:
            return math.prod(spatial) ** (2 if full else 1)

        largest = 1 if isinstance(self.layers[0], (_Conv, _Flatten)) else entries(shape[1:-1])
        for i, layer in enumerate(self.layers):
            shape = layer.out_shape(shape)
            largest = max(largest, entries(shape[1:-1]))
            full = full and i < self.full_until
        return largest

    @staticmethod
    def state_pairs(b1: int, b2: int, symmetric: bool = False) -> int:
        """``Q``: pairs on the state's pair axis for batches of ``b1`` and ``b2`` inputs: the
        kernel's pairs and, unless ``symmetric`` (then ``b2 == b1``), each input with itself
        (:class:`Cov`).  What the memory model multiplies :meth:`pair_entries` by.
        """
        b1 = _checks.positive_int(b1, "b1")
        b2 = _checks.positive_int(b2, "b2")
        if symmetric and b2 != b1:
            raise ValueError(
                f"a symmetric state pairs one batch with itself: b2 must equal b1; got {b1}, {b2}."
            )
        return _kernel_pairs(b1, b2, symmetric) + (0 if symmetric else b1 + b2)

    def __call__(self, x1, x2=None, get=None):
        return _select(self.finish(self.advance(self.start(x1, x2))), get)

    def staged(self, get="ntk") -> _Staged:
        """``(x1, x2=None) -> self(x1, x2, get)`` as a chain of compiled programs, one per layer
        that carries the full pixel-pair covariance, then one for the rest.

        ``x2=None`` runs the symmetric state (a diagonal block of a Gram matrix: the pairs
        ``a <= b`` only, :attr:`Cov.symmetric`); its programs are traced separately (JAX
        keys them on the number of inputs and on the state's structure).

        What :func:`ntkbook.gram.gram` runs per block.  Each layer of the full part is
        its own XLA program because, compiled as one, XLA fused each layer's
        elementwise work into the next one's reads in a transposed layout and recomputed
        it (CNN-1-GAP's 15 x 15 block: 125 ms as one program against 68 ms as stages,
        process CPU time); between programs every covariance is a row-major array.
        Stages are cached by value: equal layers on equal shapes (the two ReLUs of
        CNN-1-GAP, the same convolution in another network or for the other ``get``)
        compile once.  JAX dispatches the stages asynchronously, so they cost no
        synchronisation.  The returned chain's ``compile(x1, x2=None, threads=1)`` traces
        and compiles every stage ahead of the first call (:meth:`_Staged.compile`).
        """
        _select(Kernel(0, 0), get)  # check get now
        get = get if get is None or isinstance(get, str) else tuple(get)
        cut = max(self.full_until, 0)  # layers 0 .. cut-1 are stages alone
        # a stage depends on where the full covariance ends only within its own layers:
        # clipped, equal layers at different depths get one key
        mixing = self.full_until >= 0
        stages = [
            _compiled_stage(
                self.layers[i : i + 1], min(max(self.full_until - i, 0), 1), mixing if i == 0 else None, None
            )
            for i in range(cut)
        ]
        tail = _compiled_stage(self.layers[cut:], self.full_until - cut, mixing if cut == 0 else None, get)
        return _Staged(self, tuple(stages) + (tail,))


class _Staged:
    """A :class:`KernelFn` as its chain of compiled stages (what :meth:`KernelFn.staged` returns).

    ``staged(x1, x2=None)`` runs the chain; :meth:`compile` compiles it beforehand for given
    input shapes, the stages side by side.
    """

    def __init__(self, kernel_fn: KernelFn, stages: tuple):
        self.kernel_fn = kernel_fn
        self.stages = stages

    def _inputs(self, x1: Any, x2: Any) -> tuple:
        """The checked float inputs the first stage takes: ``(x1,)`` (symmetric) or ``(x1, x2)``."""
        x1 = _as_float(x1)
        x2 = None if x2 is None else _as_float(x2)
        self.kernel_fn._check_inputs(x1, x1 if x2 is None else x2)  # shapes only: before any stage
        return (x1,) if x2 is None else (x1, x2)

    def __call__(self, x1: Any, x2: Any = None) -> Any:
        c: Any = self._inputs(x1, x2)
        for stage in self.stages:
            c = stage(*c) if isinstance(c, tuple) else stage(c)
        return c

    def compile(self, x1: Any, x2: Any = None, threads: int = 1) -> None:
        """Compile every stage for inputs shaped like ``x1`` and ``x2`` (arrays or
        ``jax.ShapeDtypeStruct``), ``threads`` programs at a time.

        The stages are traced in order on this thread (each one's input is the previous
        one's output shape) and each is compiled on a worker as soon as it is traced: XLA
        lets go of the interpreter while it compiles, so on the book's JAX (0.4.23) one
        stage compiles while the next is traced and the rest compile side by side
        (CNN-1-GAP's first Gram of 100 digits: its four programs ready 0.2 s sooner on two
        cores; the current JAX compiled one at a time either way).  Calls of the same
        shapes then run the compiled programs (JAX caches them per stage, and equal
        stages on equal shapes compile once).
        """
        from concurrent.futures import ThreadPoolExecutor

        threads = int(threads)
        if threads < 1:
            raise ValueError(f"threads must be >= 1; got {threads}.")
        specs: Any = tuple(
            jax.ShapeDtypeStruct(tuple(v.shape), _float_dtype(v.dtype)) for v in (x1, x2) if v is not None
        )
        self.kernel_fn._check_inputs(specs[0], specs[-1])
        seen = set()
        with ThreadPoolExecutor(threads) as pool:
            compiled = []
            for stage in self.stages:
                args = specs if isinstance(specs, tuple) else (specs,)
                key = (
                    id(stage),
                    str(jax.tree_util.tree_structure(args)),
                    str(jax.tree_util.tree_leaves(args)),
                )
                if key not in seen:
                    seen.add(key)
                    compiled.append(pool.submit(stage.lower(*args).compile))
                specs = jax.eval_shape(stage, *args)
            for job in compiled:
                job.result()


class Network(NamedTuple):
    """A network in the layer language; unpacks as ``init_fn, apply_fn, kernel_fn``.

    ``init_fn(key, input_shape) -> (output_shape, params)``,
    ``apply_fn(params, x) -> outputs`` and ``kernel_fn(x1, x2=None, get=None)``
    follow neural-tangents' ``stax`` conventions; ``layers`` lists the stack.
    """

    init_fn: Callable
    apply_fn: Callable
    kernel_fn: KernelFn

    @property
    def layers(self) -> tuple:
        """The layers of the stack, input first."""
        return self.kernel_fn.layers


class _InitFn(_StackFn):
    """``init_fn(key, input_shape) -> (output_shape, params)``; one layer's params are its own."""

    __name__ = "init_fn"

    def __call__(self, key, input_shape):
        shape = tuple(input_shape)
        with same_draws():  # the original threefry on every JAX (ntkbook._prng)
            if len(self.layers) == 1:
                # a single layer's params are its own, not a list of one (like a stax layer)
                return self.layers[0].init(key, shape)
            params = []
            for layer in self.layers:
                # the same key splits as stax.serial, so the same draws
                key, layer_key = random.split(key)
                shape, p = layer.init(layer_key, shape)
                params.append(p)
        return shape, params


class _ApplyFn(_StackFn):
    """``apply_fn(params, x) -> outputs``, the finite network's forward pass."""

    __name__ = "apply_fn"

    def __call__(self, params, x, **kwargs):
        if len(self.layers) == 1:
            return self.layers[0].apply(params, x)
        if len(params) != len(self.layers):
            raise ValueError(f"params has {len(params)} entries for {len(self.layers)} layers.")
        for layer, p in zip(self.layers, params):
            x = layer.apply(p, x)
        return x


def _network(layers: Sequence[_Layer]) -> Network:
    layers = tuple(layers)
    return Network(_InitFn(layers), _ApplyFn(layers), KernelFn(layers))


def serial(*networks: Network) -> Network:
    """Compose networks (or single layers) in order, like ``stax.serial``."""
    if not networks:
        raise ValueError("serial() needs at least one layer.")
    stack = []
    for net in networks:
        if not isinstance(net, Network):
            raise TypeError(
                f"serial takes ntkbook.layers networks; got {type(net).__name__} "
                "(a neural-tangents stax layer? import it from ntkbook.layers)."
            )
        stack += list(net.layers)
    return _network(stack)


def Dense(
    out_dim: int, W_std: float = 1.0, b_std: float | None = None, *, parameterization: str = "ntk"
) -> Network:
    """Fully connected layer on the last (channel) axis, as ``stax.Dense``."""
    return _network([_Dense(out_dim, W_std, b_std, parameterization)])


def Conv(
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    W_std: float = 1.0,
    b_std: float | None = None,
    *,
    parameterization: str = "ntk",
) -> Network:
    """Convolution with shared weights over 1 or 2 spatial axes (``NHWC``/``NWC``), as ``stax.Conv``."""
    return _network([_Conv(out_chan, filter_shape, strides, padding, W_std, b_std, parameterization)])


def Relu() -> Network:
    """The rectifier ``max(x, 0)``, as ``stax.Relu``."""
    return _network([_Relu()])


def AvgPool(
    window_shape: Sequence[int], strides: Sequence[int] | None = None, padding: str = "VALID"
) -> Network:
    """Average pooling (zeros of the padding counted), as ``stax.AvgPool``."""
    return _network([_AvgPool(window_shape, strides, padding)])


def GlobalAvgPool() -> Network:
    """Mean over all spatial positions, as ``stax.GlobalAvgPool``."""
    return _network([_GlobalAvgPool()])


def Flatten() -> Network:
    """Flatten all but the batch axis, as ``stax.Flatten``."""
    return _network([_Flatten()])


def to_stax(network: Network):
    """The same network written with neural-tangents' ``stax`` (the oracle and the baseline).

    Needs neural-tangents (the book's environment).  The result draws the same
    parameters from the same key and computes the same kernels (``tests/test_layers.py``).

    Returns
    -------
    tuple
        neural-tangents' ``(init_fn, apply_fn, kernel_fn)``.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be an ntkbook.layers Network; got {type(network).__name__}.")
    from neural_tangents import stax

    def one(layer: _Layer):
        if isinstance(layer, _Dense):
            return stax.Dense(
                layer.out_dim, layer.W_std, layer.b_std, parameterization=layer.parameterization
            )
        if isinstance(layer, _Conv):
            return stax.Conv(
                layer.out_chan,
                layer.filter_shape,
                layer.strides,
                layer.padding,
                layer.W_std,
                layer.b_std,
                parameterization=layer.parameterization,
            )
        if isinstance(layer, _AvgPool):
            return stax.AvgPool(layer.window_shape, layer.strides, layer.padding)
        simple = {_Relu: stax.Relu, _GlobalAvgPool: stax.GlobalAvgPool, _Flatten: stax.Flatten}
        return simple[type(layer)]()

    return stax.serial(*[one(layer) for layer in network.layers])
