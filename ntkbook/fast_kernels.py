"""Hand-written infinite-width kernels of the zoo's ReLU CNNs, faster than neural-tangents.

neural-tangents evaluates a convolution's covariance update with a general
``lax.conv`` over the covariance tensor; for networks with global average
pooling (GAP) that tensor has one entry per pair of inputs *and* per pair of
pixels, ``(B1, B2, H, W, H, W)``, and the convolution dominates the cost.  For
a ``k x k`` convolution with shared weights the covariance of two outputs at
pixels ``p`` and ``q`` only mixes the input covariances at ``(p + d, q + d)``
for the ``k^2`` offsets ``d`` (the same offset on both sides, because
``E[w_d w_d'] = 0`` for ``d != d'``):

    Sigma'(p, q) = W_std^2 / k^2 * sum_d Sigma(p + d, q + d) + b_std^2.

That sum is separable: ``k`` shifted adds along the x axes of ``p`` and ``q``
together, then ``k`` along the y axes -- ``2k`` adds per entry instead of a
``k^2``-tap convolution.  The ReLU layers are the arc-cosine expectations of
:func:`ntkbook.closed_form.arccos_relu`, applied entrywise with each pixel's
own variance.  Networks that *flatten* before the dense layers only need the
pixel-diagonal ``Sigma(p, p)``, a ``(B1, B2, H, W)`` map, and the same update
becomes a ``k x k`` box filter on it.

:func:`cnn_kernel_fn` builds the ``kernel_fn`` of :func:`ntkbook.archs.cnn`
(2-D inputs, stride 1, ``SAME`` padding, no intermediate pooling, NTK
parameterization) and :func:`get` the zoo's CNNs by name.  The result is a
callable with neural-tangents' signature ``kernel_fn(x1, x2, get)``, so it runs
through :func:`ntkbook.gram.gram` like any other; ``tests/test_gram_engine.py``
checks it against neural-tangents to 1e-6 relative.  The MLPs need nothing
new: :func:`ntkbook.closed_form.mlp_ntk` is their recursion, and jitting
neural-tangents' own MLP kernel (what :func:`~ntkbook.gram.gram` does) is
already as fast.

Examples
--------
>>> from ntkbook import data, fast_kernels, gram
>>> x = data.normalize(data.load("digits", n=20).x)        # (20, 8, 8, 1)
>>> H = gram.gram(fast_kernels.get("CNN-1-GAP"), x, batch_size=100, progress=False)
>>> H.shape                                                 # (N, N) float64
(20, 20)
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from . import _checks
from .archs import B_STD, W_STD
from .closed_form import _DET_SNAP_ULPS, arccos_relu, mlp_ntk

__all__ = ["cnn_kernel_fn", "get", "names", "from_layers", "CNNKernel", "MLPKernel", "LayerKernel"]


def _shift_sum_full(t, k: int, kx: int | None = None):
    """``sum_d t[..., p + d, q + d]`` over the ``k x kx`` offsets, zero outside the image.

    Parameters
    ----------
    t : array, shape (B1, B2, H, W, H, W)
        Covariance over pairs of inputs and pairs of pixels ``p = (py, px)``,
        ``q = (qy, qx)`` (axes 2, 3 for ``p``; 4, 5 for ``q``).
    k : int
        Odd filter size (height); ``SAME`` padding of ``k // 2`` on each side.
    kx : int, optional
        Odd filter width (default ``k``; 1-D signals run as ``H = 1``, ``k = 1``).

    Returns
    -------
    array, shape (B1, B2, H, W, H, W)
    """
    # Shifted in-place adds (``.at[].add``) instead of pad + k slices: XLA on CPU
    # then makes about one pass over the tensor per offset instead of allocating
    # a padded copy and k temporaries (measured 2x faster on a 10^7-entry tensor).
    r, rx = k // 2, (k if kx is None else kx) // 2
    o = t
    for d in range(1, rx + 1):      # along x: px and qx shifted by the same offset
        o = o.at[:, :, :, d:, :, d:].add(t[:, :, :, :-d, :, :-d])
        o = o.at[:, :, :, :-d, :, :-d].add(t[:, :, :, d:, :, d:])
    t = o
    for d in range(1, r + 1):       # along y: py and qy together
        o = o.at[:, :, d:, :, d:, :].add(t[:, :, :-d, :, :-d, :])
        o = o.at[:, :, :-d, :, :-d, :].add(t[:, :, d:, :, d:, :])
    return o


def _box_sum(t, k: int, kx: int | None = None):
    """``k x kx`` box sum over the last two (pixel) axes, zero padded: ``(..., H, W) -> (..., H, W)``."""
    r, rx = k // 2, (k if kx is None else kx) // 2
    h, w = t.shape[-2], t.shape[-1]
    lead = ((0, 0),) * (t.ndim - 2)
    tp = jnp.pad(t, lead + ((0, 0), (rx, rx)))
    t = sum(tp[..., :, rx + d:rx + d + w] for d in range(-rx, rx + 1))
    tp = jnp.pad(t, lead + ((r, r), (0, 0)))
    return sum(tp[..., r + d:r + d + h, :] for d in range(-r, r + 1))


def _relu_big(cov, s1, s2):
    """:func:`~ntkbook.closed_form.arccos_relu` for the big covariance tensors, fused.

    Same formulas, arranged so each entry costs one ``atan2`` and one ``sqrt``:
    ``s1``, ``s2`` are the (small) inverse standard deviations
    ``1/sqrt(var)`` broadcast against ``cov``; the normalised determinant
    ``sin^2 t = 1 - cos^2 t`` is snapped to 0 at rounding level and the angle
    is ``atan2(sin t, cos t)`` -- the stable angle of :mod:`ntkbook.closed_form`,
    so equal pixels of equal inputs get ``t = 0`` exactly.

    Returns
    -------
    e_relu, e_step : arrays shaped like ``cov``
    """
    scale = s1 * s2
    cos = jnp.clip(cov * scale, -1.0, 1.0)   # rounding only: |cos| <= 1 exactly
    sin2 = 1.0 - cos * cos
    eps = jnp.finfo(sin2.dtype).eps
    sin = jnp.sqrt(jnp.where(sin2 <= _DET_SNAP_ULPS * eps, 0.0, sin2))
    e_step = (jnp.pi - jnp.arctan2(sin, cos)) / (2 * jnp.pi)
    e_relu = (sin / (2 * jnp.pi) + e_step * cos) / scale
    return e_relu, e_step


def _conv_input(x1, x2, full: bool):
    """Covariance state ``(cov, ntk, v1, v2)`` of the inputs, before the first convolution.

    ``cov`` is ``(B1, B2, H, W, H, W)`` over all pixel pairs (``full``) or the pixel diagonal
    ``(B1, B2, H, W)``; ``ntk`` is ``None`` (no layer yet); ``v1``, ``v2`` are the per-pixel
    variances ``(B1, H, W)`` and ``(B2, H, W)``.
    """
    c = x1.shape[-1]
    cov = (jnp.einsum("aijc,bklc->abijkl", x1, x2) if full
           else jnp.einsum("aijc,bijc->abij", x1, x2)) / c
    return cov, None, jnp.sum(x1 * x1, axis=-1) / c, jnp.sum(x2 * x2, axis=-1) / c


def _conv_relu(state, full: bool, ky: int, kx: int, w2: float, b2: float):
    """One ``Conv(ky x kx) -> ReLU`` update of ``(cov, ntk, v1, v2)`` (:func:`_conv_input`).

    ``w2`` is ``W_std^2 / (ky kx)``, ``b2`` is ``b_std^2``; stride 1, ``SAME`` padding.
    """
    cov, ntk, v1, v2 = state
    shift = _shift_sum_full if full else _box_sum
    cov = w2 * shift(cov, ky, kx) + b2
    ntk = cov if ntk is None else w2 * shift(ntk, ky, kx) + cov
    v1 = w2 * _box_sum(v1, ky, kx) + b2
    v2 = w2 * _box_sum(v2, ky, kx) + b2
    if full:
        s1 = jax.lax.rsqrt(v1)[:, None, :, :, None, None]
        s2 = jax.lax.rsqrt(v2)[None, :, None, None]
    else:
        s1, s2 = jax.lax.rsqrt(v1)[:, None], jax.lax.rsqrt(v2)[None, :]
    cov, step = _relu_big(cov, s1, s2)
    return cov, ntk * step, v1 / 2, v2 / 2        # E[relu(u)^2] = var / 2


class CNNKernel:
    """``kernel_fn`` of a stride-1 ``SAME`` ReLU CNN in NTK parameterization, by hand.

    Layers: ``n_conv`` times [Conv(k x k, W_std, b_std) -> ReLU], then
    ``GlobalAvgPool`` (``pool="gap"``) or ``Flatten`` (``pool="flatten"``),
    ``n_dense`` times [Dense(W_std, b_std) -> ReLU], and a Dense readout with
    ``W_std_out`` and ``b_std``: the architecture :func:`ntkbook.archs.cnn`
    builds with ``pool_after=()`` and ``ndim=2`` (channel and width counts do
    not enter the infinite-width kernel).

    Call it as neural-tangents' ``kernel_fn(x1, x2=None, get="ntk")`` with
    ``x1`` of shape ``(N1, H, W, C)`` and ``x2`` of shape ``(N2, H, W, C)``;
    ``get`` is ``"ntk"``, ``"nngp"`` or a tuple of them.  Returns arrays of
    shape ``(N1, N2)``.
    """

    def __init__(self, n_conv: int, n_dense: int, pool: str = "flatten", *, kernel: int = 3,
                 W_std: float = W_STD, b_std: float = B_STD, W_std_out: float = 1.0):
        self.n_conv = _checks.positive_int(n_conv, "n_conv")
        if isinstance(n_dense, bool) or not isinstance(n_dense, int) or n_dense < 0:
            raise ValueError(f"n_dense must be a non-negative int; got {n_dense!r}.")
        self.n_dense = n_dense
        if pool not in ("flatten", "gap"):
            raise ValueError(f"pool={pool!r}; expected 'flatten' or 'gap'.")
        self.pool = pool
        kernel = _checks.positive_int(kernel, "kernel")
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (SAME padding symmetric); got {kernel}.")
        self.kernel = kernel
        self.W2, self.b2, self.Wout2 = float(W_std) ** 2, float(b_std) ** 2, float(W_std_out) ** 2

    def accepts(self, feature_shape: Sequence[int]) -> bool:
        """Whether inputs of this feature shape (no batch axis) can run here: images ``(H, W, C)``."""
        return len(tuple(feature_shape)) == 3

    def __repr__(self) -> str:
        return (f"CNNKernel(n_conv={self.n_conv}, n_dense={self.n_dense}, pool={self.pool!r}, "
                f"kernel={self.kernel}, W_std^2={self.W2:g}, b_std^2={self.b2:g})")

    # -- the convolutional part -------------------------------------------------------
    def _conv_stack(self, x1, x2, full: bool):
        state = _conv_input(x1, x2, full)
        for _ in range(self.n_conv):
            state = _conv_relu(state, full, self.kernel, self.kernel, self.W2 / self.kernel ** 2,
                               self.b2)
        return state

    def _conv_full(self, x1, x2):
        """Full-spatial NNGP/NTK after the conv stack: ``(B1, B2, H, W, H, W)`` each."""
        cov, ntk, _, _ = self._conv_stack(x1, x2, full=True)
        return cov, ntk

    def _conv_diag(self, x1, x2):
        """Pixel-diagonal NNGP/NTK ``(B1, B2, H, W)`` and variances ``(B1, H, W)``, ``(B2, H, W)``."""
        return self._conv_stack(x1, x2, full=False)

    def _self_gap(self, x):
        """Pooled self-covariance ``mean_{p,q} Sigma(x_i, x_i, p, q)``, shape (B,)."""
        # one input at a time (B x H W x H W, not B^2 x ...): a Python loop would
        # unroll, so map the pair computation over the batch with lax.map
        def one(xi):
            cov, _ = self._conv_full(xi[None], xi[None])
            return jnp.mean(cov)

        return jax.lax.map(one, x)

    def __call__(self, x1, x2=None, get="ntk"):
        x1 = jnp.asarray(x1)
        x2 = x1 if x2 is None else jnp.asarray(x2)
        if x1.ndim != 4 or x2.ndim != 4 or x1.shape[1:] != x2.shape[1:]:
            raise ValueError("x1 and x2 must be images of one shape (N, H, W, C); got "
                             f"{x1.shape} and {x2.shape}.")
        if self.pool == "gap":
            cov, ntk = self._conv_full(x1, x2)
            k12, theta = jnp.mean(cov, axis=(2, 3, 4, 5)), jnp.mean(ntk, axis=(2, 3, 4, 5))
            k11, k22 = self._self_gap(x1)[:, None], self._self_gap(x2)[None, :]
        else:
            cov, ntk, v1, v2 = self._conv_diag(x1, x2)
            # Flatten's kernel is the mean over pixels of the diagonal covariance
            k12, theta = jnp.mean(cov, axis=(2, 3)), jnp.mean(ntk, axis=(2, 3))
            k11, k22 = jnp.mean(v1, axis=(1, 2))[:, None], jnp.mean(v2, axis=(1, 2))[None, :]
        W2, b2 = self.W2, self.b2
        for _ in range(self.n_dense):
            k12, k11, k22 = W2 * k12 + b2, W2 * k11 + b2, W2 * k22 + b2
            theta = W2 * theta + k12
            k12, step = arccos_relu(k12, k11, k22)
            theta = theta * step
            k11, k22 = k11 / 2, k22 / 2
        k12 = self.Wout2 * k12 + b2
        theta = self.Wout2 * theta + k12
        return _select({"ntk": theta, "nngp": k12}, get)


def _select(out: dict, get):
    """neural-tangents' ``get`` convention: one name -> one array, a tuple -> a tuple."""
    if isinstance(get, str):
        if get not in out:
            raise ValueError(f"get={get!r}; expected 'ntk', 'nngp' or a tuple of them.")
        return out[get]
    if not all(g in out for g in get):
        raise ValueError(f"get={get!r}; expected 'ntk', 'nngp' or a tuple of them.")
    return tuple(out[g] for g in get)


class MLPKernel:
    """``kernel_fn`` of :func:`ntkbook.archs.mlp` by the closed-form recursion, without neural-tangents.

    ``Flatten -> (depth - 1) x [Dense(W_std, b_std) -> ReLU] -> Dense(W_std_out, b_std)``
    in NTK parameterization; evaluated by :func:`ntkbook.closed_form.mlp_ntk`.
    Call it as ``kernel_fn(x1, x2=None, get="ntk")`` with inputs of any shape
    ``(N, ...)`` (flattened); returns arrays of shape ``(N1, N2)``.
    """

    def __init__(self, depth: int, *, W_std: float = W_STD, b_std: float = B_STD,
                 W_std_out: float = 1.0):
        self.depth = _checks.positive_int(depth, "depth")
        self.W_std, self.b_std, self.W_std_out = float(W_std), float(b_std), float(W_std_out)

    def accepts(self, feature_shape: Sequence[int]) -> bool:
        """Any feature shape: the inputs are flattened."""
        return len(tuple(feature_shape)) >= 1

    def __repr__(self) -> str:
        return (f"MLPKernel(depth={self.depth}, W_std={self.W_std:g}, b_std={self.b_std:g}, "
                f"W_std_out={self.W_std_out:g})")

    def __call__(self, x1, x2=None, get="ntk"):
        x1 = jnp.asarray(x1)
        x2 = x1 if x2 is None else jnp.asarray(x2)
        if x1.ndim < 2 or x1.shape[1:] != x2.shape[1:]:
            raise ValueError("x1 and x2 must have shape (N, ...) with one feature shape; got "
                             f"{x1.shape} and {x2.shape}.")
        ntk, nngp = mlp_ntk(x1.reshape(len(x1), -1), x2.reshape(len(x2), -1), depth=self.depth,
                            W_std=self.W_std, b_std=self.b_std, W_std_out=self.W_std_out)
        return _select({"ntk": ntk, "nngp": nngp}, get)


_OPS = ("conv", "relu", "avgpool", "gap", "flatten", "dense")


def _b2(b_std) -> float:
    """Bias variance; ``b_std=None`` (no bias) counts as 0."""
    return 0.0 if b_std is None else float(b_std) ** 2


class LayerKernel:
    """``kernel_fn`` of any ReLU network built from Conv/Relu/AvgPool/GAP/Flatten/Dense, derived from its layer list.

    The layer list is what :func:`ntkbook.archs.layers_of` returns for a
    network built by :func:`ntkbook.archs.cnn` or :func:`ntkbook.archs.mlp`:
    tuples ``("conv", kernel, stride, W_std, b_std)``, ``("relu",)``,
    ``("avgpool", window, stride)``, ``("gap",)``, ``("flatten",)``,
    ``("dense", W_std, b_std)``, NTK parameterization.  Convolutions must be
    stride 1 with an odd filter (``SAME`` padding); average pools need
    window = stride and image sides divisible by it (:meth:`accepts`).

    The convolutional part runs on the pixel-diagonal covariance
    ``(B1, B2, H, W)`` when only ``Flatten`` follows it (exact: a stride-1 conv
    and the ReLU never mix two pixels' diagonals), and on the full
    ``(B1, B2, H, W, H, W)`` covariance when an average pool or GAP mixes
    pixels; the per-input variances are then read off each input's own full
    covariance (``lax.map`` over the batch).  1-D signals ``(N, L, C)`` run as
    images of height 1.
    """

    def __init__(self, layers: Sequence[tuple], ndim: int | None = 2):
        if ndim not in (None, 1, 2):
            raise ValueError(f"ndim must be None (MLP), 1 or 2; got {ndim!r}.")
        layers = tuple(tuple(layer) for layer in layers)
        if not layers or any(not layer or layer[0] not in _OPS for layer in layers):
            raise ValueError(f"layers must be a non-empty list of {_OPS} tuples; got {layers!r}.")
        ends = [i for i, layer in enumerate(layers) if layer[0] in ("gap", "flatten")]
        if len(ends) != 1:
            raise ValueError("layers must contain exactly one 'gap' or 'flatten'; got "
                             f"{[layers[i][0] for i in ends]}.")
        self.conv_part, self.pool = layers[:ends[0]], layers[ends[0]][0]
        self.dense_part = layers[ends[0] + 1:]
        for layer in self.conv_part:
            if layer[0] == "dense":
                raise ValueError("a 'dense' layer before 'gap'/'flatten' is not supported.")
            if layer[0] == "conv" and (layer[1] % 2 == 0 or layer[2] != 1):
                raise ValueError(f"conv layers need an odd kernel and stride 1; got {layer}.")
            if layer[0] == "avgpool" and layer[1] != layer[2]:
                raise ValueError(f"avgpool needs window == stride; got {layer}.")
        if any(layer[0] not in ("dense", "relu") for layer in self.dense_part):
            raise ValueError("after 'gap'/'flatten' only 'dense' and 'relu' layers are supported.")
        if ndim is None and self.conv_part:
            raise ValueError("an MLP (ndim=None) has no layers before 'flatten'.")
        self.ndim, self.layers = ndim, layers
        # full pixel-pair covariance only where pixels mix: GAP or an average pool
        self.full = self.pool == "gap" or any(layer[0] == "avgpool" for layer in self.conv_part)

    def __repr__(self) -> str:
        return f"LayerKernel({'-'.join(layer[0] for layer in self.layers)}, ndim={self.ndim})"

    def accepts(self, feature_shape: Sequence[int]) -> bool:
        """Whether inputs of this feature shape (no batch axis) can run here."""
        shape = tuple(feature_shape)
        if self.ndim is None:
            return len(shape) >= 1
        if len(shape) != self.ndim + 1:
            return False
        hw = (1,) + shape[:1] if self.ndim == 1 else shape[:2]
        for layer in self.conv_part:
            if layer[0] == "avgpool":
                if hw[0] % layer[1] and hw[0] != 1 or hw[1] % layer[1]:
                    return False
                hw = (hw[0] if hw[0] == 1 else hw[0] // layer[1], hw[1] // layer[1])
        return True

    def _as_images(self, x):
        """``(N, H, W, C)`` view of the inputs (signals get height 1, MLP inputs one pixel)."""
        if self.ndim is None:
            return x.reshape(len(x), 1, 1, -1)
        return x[:, None] if self.ndim == 1 else x

    def _kernel_size(self, layer) -> tuple[int, int]:
        return (1, layer[1]) if self.ndim == 1 else (layer[1], layer[1])

    def _pool_window(self, layer, h: int) -> tuple[int, int]:
        return (1 if h == 1 else layer[1], layer[1])

    # -- convolutional part on the full pixel-pair covariance ---------------------------
    def _walk_full(self, x1, x2, vars1=None, vars2=None):
        """Full covariance walk; ``vars*=None`` means ``x1 is x2`` (one input): variances from the diagonal.

        Returns the NNGP and NTK after the conv part ``(B1, B2, H, W, H, W)``
        and the variance maps used at each ReLU (self mode only).
        """
        c = x1.shape[-1]
        cov = jnp.einsum("aijc,bklc->abijkl", x1, x2) / c
        ntk = None                     # the inputs carry no NTK term: Theta starts at the first layer
        used, r = [], 0
        for layer in self.conv_part:
            op = layer[0]
            if op == "conv":
                ky, kx = self._kernel_size(layer)
                w2 = float(layer[3]) ** 2 / (ky * kx)
                cov = w2 * _shift_sum_full(cov, ky, kx) + _b2(layer[4])
                ntk = cov if ntk is None else w2 * _shift_sum_full(ntk, ky, kx) + cov
            elif op == "avgpool":
                wy, wx = self._pool_window(layer, cov.shape[2])
                b1, b2, h, w = cov.shape[:4]
                shape = (b1, b2, h // wy, wy, w // wx, wx, h // wy, wy, w // wx, wx)
                cov = jnp.mean(cov.reshape(shape), axis=(3, 5, 7, 9))
                ntk = None if ntk is None else jnp.mean(ntk.reshape(shape), axis=(3, 5, 7, 9))
            else:   # relu
                if vars1 is None:
                    h, w = cov.shape[2:4]
                    v = jnp.diagonal(cov.reshape(h * w, h * w)).reshape(1, h, w)
                    used.append(v[0])
                    v1 = v2 = v
                else:
                    v1, v2 = vars1[r], vars2[r]
                r += 1
                cov, step = _relu_big(cov, jax.lax.rsqrt(v1)[:, None, :, :, None, None],
                                      jax.lax.rsqrt(v2)[None, :, None, None])
                ntk = None if ntk is None else ntk * step
        return cov, (jnp.zeros_like(cov) if ntk is None else ntk), used

    def _self_stats(self, x):
        """Per input: the variance maps at each ReLU and the pooled self-covariance, by lax.map."""
        def one(xi):
            cov, _, used = self._walk_full(xi[None], xi[None])
            if self.pool == "gap":
                k = jnp.mean(cov)
            else:
                h, w = cov.shape[2:4]
                k = jnp.mean(jnp.diagonal(cov.reshape(h * w, h * w)))
            return used, k

        return jax.lax.map(one, x)

    # -- convolutional part on the pixel-diagonal covariance ------------------------------
    def _walk_diag(self, x1, x2):
        c = x1.shape[-1]
        cov = jnp.einsum("aijc,bijc->abij", x1, x2) / c
        v1, v2 = jnp.sum(x1 * x1, axis=-1) / c, jnp.sum(x2 * x2, axis=-1) / c
        ntk = None
        for layer in self.conv_part:
            if layer[0] == "conv":
                ky, kx = self._kernel_size(layer)
                w2, b2 = float(layer[3]) ** 2 / (ky * kx), _b2(layer[4])
                cov = w2 * _box_sum(cov, ky, kx) + b2
                ntk = cov if ntk is None else w2 * _box_sum(ntk, ky, kx) + cov
                v1, v2 = w2 * _box_sum(v1, ky, kx) + b2, w2 * _box_sum(v2, ky, kx) + b2
            else:   # relu (no pooling on this path)
                cov, step = _relu_big(cov, jax.lax.rsqrt(v1)[:, None], jax.lax.rsqrt(v2)[None, :])
                ntk = None if ntk is None else ntk * step
                v1, v2 = v1 / 2, v2 / 2          # E[relu(u)^2] = var / 2
        return cov, (jnp.zeros_like(cov) if ntk is None else ntk), v1, v2

    def __call__(self, x1, x2=None, get="ntk"):
        x1 = jnp.asarray(x1)
        x2 = x1 if x2 is None else jnp.asarray(x2)
        if x1.shape[1:] != x2.shape[1:] or not self.accepts(x1.shape[1:]):
            raise ValueError(f"x1 and x2 must share a feature shape this network accepts "
                             f"({self!r}); got {x1.shape} and {x2.shape}.")
        a, c = self._as_images(x1), self._as_images(x2)
        if self.full:
            (vars1, k11), (vars2, k22) = self._self_stats(a), self._self_stats(c)
            cov, ntk, _ = self._walk_full(a, c, vars1, vars2)
            if self.pool == "gap":
                k12, theta = jnp.mean(cov, axis=(2, 3, 4, 5)), jnp.mean(ntk, axis=(2, 3, 4, 5))
            else:
                b1, b2, h, w = cov.shape[:4]
                cov = jnp.diagonal(cov.reshape(b1, b2, h * w, h * w), axis1=2, axis2=3)
                ntk = jnp.diagonal(ntk.reshape(b1, b2, h * w, h * w), axis1=2, axis2=3)
                k12, theta = jnp.mean(cov, axis=2), jnp.mean(ntk, axis=2)
            k11, k22 = k11[:, None], k22[None, :]
        else:
            cov, ntk, v1, v2 = self._walk_diag(a, c)
            k12, theta = jnp.mean(cov, axis=(2, 3)), jnp.mean(ntk, axis=(2, 3))
            k11, k22 = jnp.mean(v1, axis=(1, 2))[:, None], jnp.mean(v2, axis=(1, 2))[None, :]
        for layer in self.dense_part:
            if layer[0] == "dense":
                w2, b2 = float(layer[1]) ** 2, _b2(layer[2])
                k12, k11, k22 = w2 * k12 + b2, w2 * k11 + b2, w2 * k22 + b2
                theta = w2 * theta + k12
            else:
                k12, step = arccos_relu(k12, k11, k22)
                theta = theta * step
                k11, k22 = k11 / 2, k22 / 2
        return _select({"ntk": theta, "nngp": k12}, get)


def _uniform(values) -> bool:
    return len(set(values)) <= 1


def from_layers(structure) -> Callable | None:
    """The hand-written ``kernel_fn`` of a recorded network structure, or ``None``.

    Parameters
    ----------
    structure : tuple
        ``(parameterization, ndim, layers)`` as :func:`ntkbook.archs.layers_of` returns.

    Returns
    -------
    callable or None
        :class:`CNNKernel` for the zoo's pattern (``n x [conv -> relu]``, GAP or
        Flatten, ``m x [dense -> relu]``, dense readout; one filter size, stride 1,
        shared ``W_std``/``b_std``, 2-D), :class:`MLPKernel` for a plain MLP,
        :class:`LayerKernel` for any other supported layer list, ``None`` when a
        layer or the parameterization has no hand-written kernel (standard
        parameterization: its kernel depends on the widths, which are not recorded).
    """
    if structure is None:
        return None
    parameterization, ndim, layers = structure
    if parameterization != "ntk":
        return None
    ops = [layer[0] for layer in layers]
    n_body = len(ops) - 1
    if (ndim is None and ops[0] == "flatten" and ops[-1] == "dense"
            and ops[1:-1] == ["dense", "relu"] * ((n_body - 1) // 2)
            and _uniform(layers[i][1:] for i in range(1, n_body, 2))):
        depth = (n_body - 1) // 2 + 1
        hidden = layers[1][1:] if depth > 1 else (1.0, layers[-1][2])
        if _b2(hidden[1]) == _b2(layers[-1][2]):
            return MLPKernel(depth, W_std=hidden[0], b_std=_b2(hidden[1]) ** 0.5,
                             W_std_out=layers[-1][1])
    if ndim == 2 and ("gap" in ops or "flatten" in ops):
        end = ops.index("gap") if "gap" in ops else ops.index("flatten")
        conv, dense = layers[:end], layers[end + 1:-1]
        n, m = len(conv) // 2, len(dense) // 2
        if (ndim == 2 and n >= 1 and [l[0] for l in conv] == ["conv", "relu"] * n
                and [l[0] for l in dense] == ["dense", "relu"] * m and ops[-1] == "dense"
                and _uniform([l[1:] for l in conv[::2]] + [(layers[0][1], 1) + l[1:]
                                                          for l in dense[::2]])
                and layers[0][2] == 1 and layers[0][1] % 2 == 1
                and _b2(layers[-1][2]) == _b2(layers[0][4])):
            k, _, w_std, b_std = layers[0][1:]
            return CNNKernel(n, m, ops[end], kernel=k, W_std=w_std, b_std=_b2(b_std) ** 0.5,
                             W_std_out=layers[-1][1])
    try:
        return LayerKernel(layers, ndim)
    except ValueError:
        return None


def cnn_kernel_fn(channels: Sequence[int], dense: Sequence[int] = (), *, pool: str = "flatten",
                  kernel: int = 3, W_std: float = W_STD, b_std: float = B_STD) -> CNNKernel:
    """Hand-written ``kernel_fn`` for ``archs.cnn(channels, dense, pool=pool, kernel=kernel)``.

    Only the number of layers matters in the infinite-width limit, so the
    arguments mirror :func:`ntkbook.archs.cnn`'s (2-D, stride 1, no
    ``pool_after``).
    """
    return CNNKernel(len(channels), len(dense), pool, kernel=kernel, W_std=W_std, b_std=b_std)


# zoo name -> (conv layers, dense layers, pool); the same layer counts as archs._ZOO
_ZOO: dict[str, tuple[int, int, str]] = {
    "CNN-1": (2, 2, "flatten"), "CNN-2": (4, 4, "flatten"),
    "CNN-1-GAP": (2, 2, "gap"), "CNN-2-GAP": (4, 4, "gap"),
}
# zoo MLPs: name -> layers of weights (archs._ZOO's "2-L" and "10-L")
_MLP_ZOO: dict[str, int] = {"2-L": 2, "10-L": 10}


def names() -> list[str]:
    """Zoo architectures with a hand-written kernel (the MLPs' is their closed form)."""
    return list(_MLP_ZOO) + list(_ZOO)


def get(name: str) -> Callable:
    """The hand-written ``kernel_fn`` of a zoo network (default ``W_std``/``b_std``; CNNs on 2-D images).

    Needs no neural-tangents: the MLPs are :class:`MLPKernel` (closed form),
    the CNNs :class:`CNNKernel`.
    """
    if name in _MLP_ZOO:
        return MLPKernel(_MLP_ZOO[name])
    if name not in _ZOO:
        raise ValueError(f"name={name!r} has no hand-written kernel; known: {names()}.")
    n_conv, n_dense, pool = _ZOO[name]
    return CNNKernel(n_conv, n_dense, pool)
