"""The zoo's rarely used options built and checked: CNN-3, ``pool_after``, ``stride`` and
``parameterization="standard"``.

Each is compared with the same network written out layer by layer with neural-tangents'
``stax`` here (infinite-width NTK and NNGP, and the finite network's outputs on shared
parameters), checked to differ from the network *without* the option (so an option that
were silently ignored fails), and where possible checked by hand: the parameter shapes a
stride or a pooling implies, and the forward pass of a standard- vs NTK-parameterized
two-layer network written in NumPy.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from neural_tangents import stax

from ntkbook import archs

W, B = archs.W_STD, archs.B_STD


def _images(key, n=3, side=8, channels=1):
    x = jax.random.normal(key, (n, side, side, channels))
    return x / np.linalg.norm(np.asarray(x).reshape(n, -1), axis=1)[:, None, None, None]


def _assert_same_network(ours, ref, x, key, rtol=1e-10):
    """Same NTK and NNGP (float64: equal up to summation order, 1e-10), and the same outputs
    of the finite network on parameters drawn once and shared (identical code paths: 1e-12)."""
    k_ours = ours.kernel_fn(x, None, ("ntk", "nngp"))
    k_ref = ref[2](x, None, ("ntk", "nngp"))
    np.testing.assert_allclose(k_ours.ntk, k_ref.ntk, rtol=rtol)
    np.testing.assert_allclose(k_ours.nngp, k_ref.nngp, rtol=rtol)
    _, params = ref[0](key, x.shape)
    np.testing.assert_allclose(ours.apply_fn(params, x), ref[1](params, x), rtol=1e-12, atol=1e-12)
    return k_ours.ntk


def _conv(c, stride=1, parameterization="ntk"):
    return [
        stax.Conv(
            c, (3, 3), (stride, stride), padding="SAME", W_std=W, b_std=B, parameterization=parameterization
        ),
        stax.Relu(),
    ]


def _head(dense, out, parameterization="ntk"):
    layers = [stax.Flatten()]
    for w in dense:
        layers += [stax.Dense(w, W_std=W, b_std=B, parameterization=parameterization), stax.Relu()]
    return layers + [stax.Dense(out, W_std=1.0, b_std=B, parameterization=parameterization)]


def _vgg(channels, pools, dense, out):
    layers = []
    for i, c in enumerate(channels):
        layers += _conv(c)
        if i in pools:
            layers += [stax.AvgPool((2, 2), (2, 2), padding="SAME")]
    return stax.serial(*layers, *_head(dense, out))


def test_cnn3_is_vgg19_with_average_pools(key):
    # VGG-19's 16 convolutions (64-512 channels) with a 2x2 average pool after convolutions
    # 2, 4, 8, 12 and 16, written out here; 4x4 inputs (kept small: the infinite-width kernel
    # tracks every pair of positions) shrink 4 -> 2 -> 1 -> 1 -> 1 -> 1.  Three of them, as
    # in the other tests: neural-tangents' eager operations on these (3, 3, 4, 4, 4, 4) and
    # smaller covariances are then compiled once for the module (the pooled networks below
    # reach the same shapes), which costs less than a third image adds
    vgg = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
    pools = {1, 3, 7, 11, 15}
    ours = archs.get("CNN-3", out_dim=4, width=32)
    k1, k2 = jax.random.split(key)
    x = _images(k1, n=3, side=4)
    # the kernel does not depend on the channel counts; compare CNN-3 itself
    ntk = ours.kernel_fn(x, None, "ntk")
    ref_ntk = _vgg(vgg, pools, [32, 32], 4)[2](x, None, "ntk")
    # after five pools every pixel pair is nearly one angle-0 pair: neural-tangents' angle
    # keeps its ~1e-8 rounding residue there (tests/test_layers.py), measured 2.5e-9 relative
    np.testing.assert_allclose(ntk, ref_ntk, rtol=2.5e-8)
    # the finite network with every channel count set to 8 (``width``; 512-channel weights
    # would only cost time): same layers, same outputs on shared parameters
    _assert_same_network(
        archs.cnn(vgg, [32, 32], 4, pool_after=sorted(pools), width=8),
        _vgg([8] * 16, pools, [8, 8], 4),
        x,
        k2,
        rtol=2.5e-8,
    )
    # the pools matter: the same 16 convolutions without them give another kernel
    plain = archs.cnn(vgg, [32, 32], 4)
    assert np.max(np.abs(plain.kernel_fn(x, None, "ntk") - ntk)) > 1e-3 * np.max(np.abs(ntk))
    assert sum(type(layer).__name__ == "_AvgPool" for layer in ours.layers) == 5


@pytest.mark.parametrize("pool_after", [(0,), (1,), (0, 1)])
def test_pool_after_places_the_pools(key, pool_after):
    layers = []
    for i in range(2):
        layers += _conv(4)
        if i in pool_after:
            layers += [stax.AvgPool((2, 2), (2, 2), padding="SAME")]
    ref = stax.serial(*layers, *_head([8], 3))
    ours = archs.cnn([4, 4], [8], 3, pool_after=pool_after)
    k1, k2 = jax.random.split(key)
    x = _images(k1)
    _assert_same_network(ours, ref, x, k2)
    # by hand: each pool halves both sides of the 8x8 map, so the first dense layer sees
    # 4 channels x (8 / 2^pools)^2 positions
    _, params = ours.init_fn(k2, x.shape)
    dense_in = [p for p in params if isinstance(p, tuple) and len(p) == 2 and p[0].ndim == 2][0]
    assert dense_in[0].shape[0] == 4 * (8 // 2 ** len(pool_after)) ** 2


def test_stride_two_convolutions(key):
    ref = stax.serial(*_conv(4, stride=2), *_conv(4, stride=2), *_head([8], 3))
    ours = archs.cnn([4, 4], [8], 3, stride=2)
    k1, k2 = jax.random.split(key)
    x = _images(k1)
    ntk = _assert_same_network(ours, ref, x, k2)
    # by hand: two stride-2 SAME convolutions take 8x8 to 2x2, so the readout sees 4 * 2 * 2
    _, params = ours.init_fn(k2, x.shape)
    dense_in = [p for p in params if isinstance(p, tuple) and len(p) == 2 and p[0].ndim == 2][0]
    assert dense_in[0].shape[0] == 4 * 2 * 2
    one = archs.cnn([4, 4], [8], 3, stride=1).kernel_fn(x, None, "ntk")
    assert np.max(np.abs(one - ntk)) > 1e-3 * np.max(np.abs(ntk))


@pytest.mark.parametrize("name", ["2-L", "CNN-1"])
def test_standard_parameterization_matches_neural_tangents(key, name):
    k1, k2 = jax.random.split(key)
    x = _images(k1)
    if name == "2-L":
        layers = [
            stax.Flatten(),
            stax.Dense(16, W_std=W, b_std=B, parameterization="standard"),
            stax.Relu(),
            stax.Dense(3, W_std=1.0, b_std=B, parameterization="standard"),
        ]
    else:
        layers = _conv(64, parameterization="standard") * 2 + _head([16, 16], 3, parameterization="standard")
    ref = stax.serial(*layers)
    ours = archs.get(name, out_dim=3, width=16, parameterization="standard")
    ntk = _assert_same_network(ours, ref, x, k2)
    ntk_param = archs.get(name, out_dim=3, width=16).kernel_fn(x, None, "ntk")
    assert np.max(np.abs(ntk_param - ntk)) > 1e-3 * np.max(np.abs(ntk))


def test_two_layer_forward_pass_by_hand(key):
    """The 2-L forward pass in NumPy for both parameterizations on the same parameters.

    NTK: ``f = (1/sqrt(h)) relu((sqrt 2/sqrt d) x W1 + 0.1 b1) W2 + 0.1 b2``;
    standard: ``f = relu(x W1 + b1) W2 + b2`` (the scales live in the initial variances).
    """
    k1, k2 = jax.random.split(key)
    x = _images(k1, n=4)
    X = np.asarray(x).reshape(4, -1)
    d, h = X.shape[1], 16
    for parameterization in ("ntk", "standard"):
        net = archs.get("2-L", out_dim=3, width=h, parameterization=parameterization)
        _, params = net.init_fn(k2, x.shape)
        (W1, b1), (W2, b2) = [np.asarray(a) for a in params[1]], [np.asarray(a) for a in params[3]]
        if parameterization == "ntk":
            hidden = np.maximum(W / math.sqrt(d) * X @ W1 + B * b1, 0.0)
            ref = hidden @ W2 / math.sqrt(h) + B * b2
        else:
            ref = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
        # float64, the same products in another order: 1e-12
        np.testing.assert_allclose(net.apply_fn(params, x), ref, rtol=1e-12, atol=1e-12)
