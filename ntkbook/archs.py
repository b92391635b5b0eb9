"""The architecture zoo, written once in :mod:`ntkbook.layers`.

Every entry is built from two builders, :func:`mlp` and :func:`cnn`, so the
infinite-width kernel (``kernel_fn``) and the finite network it describes
(``init_fn``/``apply_fn``) always come from the same definition.  Widths only
matter for the finite network; the kernel is the width -> infinity limit.

Conventions (ours; DeOliveira et al. do not publish code):

* "L" in ``2-L``/``10-L`` counts layers of weights, so ``2-L`` has one hidden
  ReLU layer -- the two-layer network of the paper's eq. 4 -- and ``10-L`` has
  nine.
* Hidden layers use ``W_std = sqrt(2)`` (He scaling, so ReLU keeps the
  variance) and ``b_std = 0.1``; the linear readout uses ``W_std = 1``.
  In NTK parameterization a zero ``b_std`` would freeze the biases, which the
  "1 Class" experiments of chapter 12 rely on, hence the small non-zero value.
* Convolutions are 3x3 (3 in 1-D), stride 1, ``SAME`` padding unless the
  builder is told otherwise.  ``ndim`` selects 2-D images ``(N, H, W, C)`` or
  1-D signals ``(N, L, C)`` (mnist1d).
* Pooling inside CNN-3 is average pooling: max pooling has no closed-form
  infinite-width kernel.
* Every network is a :class:`ntkbook.layers.Network`: the same layers give the
  finite network (``init_fn``/``apply_fn``, the same parameters and random draws
  as the equivalent neural-tangents ``stax`` network) and its infinite-width
  kernel (``kernel_fn``, one interpreter for every stack), with no
  neural-tangents installed.

Examples
--------
>>> from ntkbook import archs
>>> init_fn, apply_fn, kernel_fn = archs.get("CNN-1")
>>> archs.describe("CNN-1")
'2 conv layers of 64 3x3 filters, 2 hidden dense layers, flatten readout'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from . import _checks
from . import layers as nn

__all__ = ["Arch", "get", "names", "describe", "mlp", "cnn", "ndim_of", "W_STD", "B_STD"]

W_STD: float = math.sqrt(2.0)
"""Weight scale of hidden layers (He initialisation for ReLU)."""
B_STD: float = 0.1
"""Bias scale of every layer."""

Arch = nn.Network
"""A network of :mod:`ntkbook.layers`; unpacks as ``init_fn, apply_fn, kernel_fn``."""


def _check_param(parameterization: str) -> str:
    if parameterization not in nn.PARAMETERIZATIONS:
        raise ValueError(f"parameterization={parameterization!r}; expected one of {nn.PARAMETERIZATIONS}.")
    return parameterization


def mlp(
    depth: int,
    width: int = 512,
    out_dim: int = 10,
    *,
    parameterization: str = "ntk",
    W_std: float = W_STD,
    b_std: float | None = B_STD,
) -> Arch:
    """Fully connected ReLU network with ``depth`` layers of weights (``depth - 1`` hidden).

    Inputs of any shape ``(N, ...)`` are flattened first.

    Parameters
    ----------
    depth
        Layers of weights, >= 1 (``depth=1`` is a linear model).
    width
        Hidden width of the finite network (ignored by ``kernel_fn``).
    out_dim
        Number of outputs O.
    parameterization
        ``"ntk"`` (weights N(0, 1), layer output scaled by ``W_std/sqrt(fan_in)``)
        or ``"standard"`` (weights N(0, W_std^2/fan_in), no scaling).
    W_std, b_std
        Hidden layers' weight and bias scales (``b_std=None``: no biases); the
        readout has ``W_std = 1`` and the same ``b_std``.
    """
    depth = _checks.positive_int(depth, "depth")
    width = _checks.positive_int(width, "width")
    out_dim = _checks.positive_int(out_dim, "out_dim")
    p = _check_param(parameterization)
    stack = [nn.Flatten()]
    for _ in range(depth - 1):
        stack += [nn.Dense(width, W_std, b_std, parameterization=p), nn.Relu()]
    stack += [nn.Dense(out_dim, 1.0, b_std, parameterization=p)]
    return nn.serial(*stack)


def cnn(
    channels: Sequence[int],
    dense: Sequence[int] = (),
    out_dim: int = 10,
    *,
    kernel: int = 3,
    stride: int = 1,
    pool: str = "flatten",
    pool_after: Sequence[int] = (),
    ndim: int = 2,
    width: int | None = None,
    parameterization: str = "ntk",
    W_std: float = W_STD,
    b_std: float | None = B_STD,
) -> Arch:
    """Convolutional ReLU network.

    Parameters
    ----------
    channels
        Output channels of each convolution (its length is the number of
        convolutional layers).
    dense
        Widths of the hidden dense layers after the convolutions.
    kernel, stride
        Filter size and stride of every convolution (``SAME`` padding).
    pool
        How the feature map meets the dense layers: ``"flatten"`` (the vanilla
        CNN; the kernel sums over pairs of equal positions, cost O(P Q) per pair
        of inputs) or ``"gap"`` (global average pooling; the kernel averages over
        all pairs of positions, O(P^2 Q^2)).
    pool_after
        Indices of convolutions (``0 .. len(channels) - 1``) followed by a 2x2 (2 in
        1-D) average pooling with stride 2, ``SAME`` padding.
    ndim
        Spatial dimensions of the input: 2 for images, 1 for signals.
    width
        If given, replaces every entry of ``channels`` and ``dense`` (used to
        train wider or narrower finite versions of one architecture).
    W_std, b_std
        Weight and bias scales of the hidden layers (``b_std=None``: no biases);
        the readout has ``W_std = 1``.
    """
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 (signals) or 2 (images); got {ndim}.")
    if pool not in ("flatten", "gap"):
        raise ValueError(f"pool={pool!r}; expected 'flatten' or 'gap'.")
    p = _check_param(parameterization)
    channels = [_checks.positive_int(c, "channels") for c in channels]
    dense = [_checks.positive_int(w, "dense") for w in dense]
    if not channels:
        raise ValueError("channels must name at least one convolution; use mlp() for none.")
    bad = [
        i for i in pool_after if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(channels)
    ]
    if bad or len(set(pool_after)) != len(tuple(pool_after)):
        raise ValueError(
            f"pool_after={tuple(pool_after)!r}; expected distinct convolution "
            f"indices in 0..{len(channels) - 1}."
        )
    if width is not None:
        width = _checks.positive_int(width, "width")
        channels = [width] * len(channels)
        dense = [width] * len(dense)
    filt, strides, window = (kernel,) * ndim, (stride,) * ndim, (2,) * ndim
    stack = []
    for i, c in enumerate(channels):
        stack += [nn.Conv(c, filt, strides, "SAME", W_std, b_std, parameterization=p), nn.Relu()]
        if i in pool_after:
            stack += [nn.AvgPool(window, window, "SAME")]
    stack += [nn.GlobalAvgPool() if pool == "gap" else nn.Flatten()]
    for w in dense:
        stack += [nn.Dense(w, W_std, b_std, parameterization=p), nn.Relu()]
    stack += [nn.Dense(out_dim, 1.0, b_std, parameterization=p)]
    return nn.serial(*stack)


_VGG19 = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
_VGG19_POOLS = (1, 3, 7, 11, 15)

# name -> (one-line description, builder(out_dim, width, ndim, parameterization))
_ZOO: dict[str, tuple[str, Callable[..., Arch]]] = {
    "2-L": (
        "2 layers of weights (1 hidden ReLU layer): the network of eq. 4",
        lambda o, w, nd, p: mlp(2, w or 512, o, parameterization=p),
    ),
    "10-L": (
        "10 layers of weights (9 hidden ReLU layers)",
        lambda o, w, nd, p: mlp(10, w or 512, o, parameterization=p),
    ),
    "CNN-1": (
        "2 conv layers of 64 3x3 filters, 2 hidden dense layers, flatten readout",
        lambda o, w, nd, p: cnn([64] * 2, [w or 512] * 2, o, ndim=nd, parameterization=p),
    ),
    "CNN-2": (
        "4 conv layers of 256 3x3 filters, 4 hidden dense layers, flatten readout",
        lambda o, w, nd, p: cnn([256] * 4, [w or 512] * 4, o, ndim=nd, parameterization=p),
    ),
    "CNN-3": (
        "VGG-19-like: 16 3x3 conv layers (64-512), 5 average pools, 2 hidden dense layers",
        lambda o, w, nd, p: cnn(
            _VGG19, [w or 512] * 2, o, pool_after=_VGG19_POOLS, ndim=nd, parameterization=p
        ),
    ),
    "CNN-1-GAP": (
        "CNN-1 with global average pooling before the dense layers",
        lambda o, w, nd, p: cnn([64] * 2, [w or 512] * 2, o, pool="gap", ndim=nd, parameterization=p),
    ),
    "CNN-2-GAP": (
        "CNN-2 with global average pooling before the dense layers",
        lambda o, w, nd, p: cnn([256] * 4, [w or 512] * 4, o, pool="gap", ndim=nd, parameterization=p),
    ),
}


def names() -> list[str]:
    """Names accepted by :func:`get`."""
    return list(_ZOO)


def describe(name: str) -> str:
    """One-line description of a zoo architecture."""
    _known(name)
    return _ZOO[name][0]


def _known(name: str) -> None:
    if name not in _ZOO:
        raise ValueError(f"name={name!r} is not in the zoo; known architectures: {names()}.")


def get(
    name: str, *, out_dim: int = 10, width: int | None = None, ndim: int = 2, parameterization: str = "ntk"
) -> Arch:
    """Build a zoo architecture.

    Parameters
    ----------
    name
        One of :func:`names`.
    out_dim
        Number of outputs O (classes).
    width
        Hidden width of the finite network's dense layers (default 512); the
        convolution channels stay those of the architecture.
    ndim
        2 for images ``(N, H, W, C)``, 1 for signals ``(N, L, C)``; ignored by
        the MLPs, which flatten their input.
    parameterization
        ``"ntk"`` or ``"standard"``.
    """
    _known(name)
    out_dim = _checks.positive_int(out_dim, "out_dim")
    return _ZOO[name][1](out_dim, width, ndim, _check_param(parameterization))


def ndim_of(image_shape: Sequence[int]) -> int:
    """Spatial dimensions of a dataset's ``image_shape`` (channels last): ``(8, 8, 1) -> 2``."""
    shape = tuple(image_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"image_shape={shape!r}; expected (length, channels) for signals or "
            "(height, width, channels) for images."
        )
    return len(shape) - 1
