"""``ntkbook.layers`` against neural-tangents' ``stax``, the oracle it replaces.

Every check builds the same stack twice -- once from ``neural_tangents.stax``, once from
``ntkbook.layers``, with the same calls -- and compares:

* the infinite-width NTK and NNGP (float64) on random stacks (depths, filter sizes, strides,
  paddings, average pools inside the stack, GAP or flatten readout, ``W_std``, ``b_std``
  including ``None`` and 0, both parameterizations, 1-D and 2-D, odd image sides,
  ``x2 != x``) and on real images (scikit-learn digits and MNIST, bias-free layers whose
  black patches have zero variance);
* the finite networks: the same ``init_fn`` draws and the same ``apply_fn`` outputs.

Tolerance: the measured disagreement is at float64 rounding (<= 3e-15 relative) wherever
the two inputs differ; on the diagonal of a symmetric Gram (``x2 = x``) neural-tangents'
angle ``atan2(sqrt(v^2 - k^2), k)`` keeps a rounding residue of ~1e-8 rad (measured up to
5.4e-9 relative in the NTK), which the interpreter snaps to 0 (``_DET_SNAP_ULPS``).
"""

from __future__ import annotations

import numpy as np
import pytest

nt = pytest.importorskip("neural_tangents")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _stacks import SHAPES, ndim_of  # noqa: E402
from _stacks import random_stack as _random_stack  # noqa: E402
from neural_tangents import stax  # noqa: E402

from ntkbook import archs, data, gram, layers  # noqa: E402

# relative agreement off the diagonal (measured <= 3e-15): 10x margin is 3e-14
OFF_DIAG_RTOL = 3e-14
# on the diagonal of a symmetric Gram neural-tangents' residue is ~5e-9 (see docstring)
DIAG_RTOL = 5e-8
# real images share identical patches (black corners, equal strokes), whose angle is 0 up to
# that same residue in neural-tangents: measured 9.4e-14 off the diagonal on digits
REAL_RTOL = 1e-12


def _both(kernel_fn, x1, x2):
    """``(ntk, nngp)`` of ``kernel_fn``, jitted (one compilation costs less than hundreds of
    eager operations)."""
    return [np.asarray(k) for k in jax.jit(lambda a, b: kernel_fn(a, b, ("ntk", "nngp")))(x1, x2)]


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _pair(seed: int, ndim: int):
    """The same random stack from stax and from ntkbook.layers."""
    a, recipe = _random_stack(stax, np.random.default_rng(seed), ndim)
    b, _ = _random_stack(layers, np.random.default_rng(seed), ndim)
    return a, b, recipe


@pytest.mark.parametrize("seed", range(8))
def test_random_stacks_match_neural_tangents(seed):
    ndim = ndim_of(seed)
    (_, _, k_nt), (_, _, k_ours), recipe = _pair(seed, ndim)
    rng = np.random.default_rng(100 + seed)
    x1, x2 = rng.normal(size=(3,) + SHAPES[ndim]), rng.normal(size=(2,) + SHAPES[ndim])
    for get, o, r in zip(("ntk", "nngp"), _both(k_ours, x1, x2), _both(k_nt, x1, x2)):
        assert _rel(o, r) < OFF_DIAG_RTOL, (recipe, get)


@pytest.mark.parametrize("seed", range(8))
def test_symmetric_state_matches_neural_tangents(seed):
    """``kernel_fn(x)`` (``x2=None``: the symmetric pair axis, pairs a <= b only) against
    neural-tangents' ``kernel_fn(x, None)`` on an odd batch of 3: off the diagonal to
    ``OFF_DIAG_RTOL`` (different inputs), on it to ``DIAG_RTOL`` (neural-tangents' angle
    residue, see the module docstring)."""
    ndim = ndim_of(seed)
    (_, _, k_nt), (_, _, k_ours), recipe = _pair(seed, ndim)
    x = np.random.default_rng(200 + seed).normal(size=(3,) + SHAPES[ndim])
    ours = [np.asarray(k) for k in jax.jit(lambda a: k_ours(a, None, ("ntk", "nngp")))(x)]
    ref = [np.asarray(k) for k in jax.jit(lambda a: k_nt(a, None, ("ntk", "nngp")))(x)]
    off = ~np.eye(3, dtype=bool)
    for get, o, r in zip(("ntk", "nngp"), ours, ref):
        assert _rel(o[off], r[off]) < OFF_DIAG_RTOL, (recipe, get)
        assert _rel(np.diag(o), np.diag(r)) < DIAG_RTOL, (recipe, get)


def _zoo_like(S, gap: bool, b_std):
    return S.serial(
        S.Conv(8, (3, 3), padding="SAME", W_std=2**0.5, b_std=b_std),
        S.Relu(),
        S.Conv(8, (3, 3), padding="SAME", W_std=2**0.5, b_std=b_std),
        S.Relu(),
        S.GlobalAvgPool() if gap else S.Flatten(),
        S.Dense(16, W_std=2**0.5, b_std=b_std),
        S.Relu(),
        S.Dense(10, b_std=b_std),
    )


@pytest.mark.parametrize("gap", [False, True])
@pytest.mark.parametrize("b_std", [None, 0.0, 0.1])
def test_real_digits_with_black_patches(gap, b_std):
    # 99.5 % of the digits have a black 3x3 patch: zero variance without biases
    x = data.normalize(data.load("digits", n=4).x)
    k_nt, k_ours = _zoo_like(stax, gap, b_std)[2], _zoo_like(layers, gap, b_std)[2]
    for ours, ref in zip(_both(k_ours, x, x), _both(k_nt, x, x)):
        assert np.all(np.isfinite(ours))
        off = ~np.eye(len(x), dtype=bool)
        assert _rel(ours[off], ref[off]) < REAL_RTOL
        assert _rel(np.diag(ours), np.diag(ref)) < DIAG_RTOL


def test_real_mnist_bias_free_flatten():
    d = data.load("mnist", n=5, seed=0)
    x = data.normalize(d.x)  # (5, 28, 28, 1), black borders
    k_nt, k_ours = _zoo_like(stax, False, None)[2], _zoo_like(layers, False, None)[2]
    for ours, ref in zip(_both(k_ours, x[:3], x[3:]), _both(k_nt, x[:3], x[3:])):
        assert np.all(np.isfinite(ours)) and _rel(ours, ref) < REAL_RTOL


@pytest.mark.parametrize("ndim", [0, 1, 2])
def test_finite_networks_draw_and_compute_like_stax(ndim):
    (i_nt, a_nt, _), (i_ours, a_ours, _), recipe = _pair(7 + ndim, ndim)
    shape = {0: (9,), 1: (9, 2), 2: (7, 5, 2)}[ndim]
    x = np.random.default_rng(0).normal(size=(4,) + shape)
    key = jax.random.PRNGKey(11)
    (_, p_nt), (_, p_ours) = i_nt(key, (-1,) + shape), i_ours(key, (-1,) + shape)
    leaves_nt, leaves_ours = jax.tree_util.tree_leaves(p_nt), jax.tree_util.tree_leaves(p_ours)
    assert len(leaves_nt) == len(leaves_ours)
    for u, v in zip(leaves_nt, leaves_ours):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))  # the same draws
    # the same parameters give the same outputs, to rounding of the same operations
    np.testing.assert_allclose(a_ours(p_ours, x), a_nt(p_nt, x), rtol=1e-13, atol=1e-13)


def test_kernel_through_gram_equals_direct_call():
    x = data.normalize(data.load("digits", n=20).x)
    net = _zoo_like(layers, True, 0.1)
    direct = _both(net.kernel_fn, x, x)[0]
    H = gram.gram(net, x, batch_size=8, progress=False)
    assert gram.last_run["kernel"].startswith("KernelFn(Conv")
    # blocks vs one call: other summation orders, and gram symmetrizes (measured 2.7e-14)
    assert _rel(H, direct) < 3e-13


def test_fast_angle_matches_atan2():
    rng = np.random.default_rng(0)
    k = np.concatenate([rng.normal(size=20000), [0.0, 0.0, -1.0, 1.0, 1e-300, -1e-300]])
    r = np.concatenate(
        [
            np.abs(rng.normal(size=20000)) * rng.choice([1e-8, 1.0, 1e8], 20000),
            [0.0, 1.0, 0.0, 0.0, 0.0, 1e-300],
        ]
    )
    ref = np.where((r == 0) & (k == 0), np.pi / 2, np.arctan2(r, k))
    got = np.asarray(jax.jit(layers._angle)(jnp.asarray(r), jnp.asarray(k)))
    # measured 4.4e-16 absolute (Cephes' rational form after two reductions)
    assert np.max(np.abs(got - ref)) < 4e-15


def test_get_conventions():
    x = np.random.default_rng(0).normal(size=(3, 4))
    kf = layers.serial(layers.Dense(5, b_std=0.1), layers.Relu(), layers.Dense(1)).kernel_fn
    both = kf(x, None)
    assert isinstance(both, layers.Kernel) and both.ntk.shape == (3, 3)
    ntk, nngp = kf(x, None, ("ntk", "nngp"))
    np.testing.assert_array_equal(ntk, both.ntk)
    np.testing.assert_array_equal(nngp, both.nngp)


@pytest.mark.parametrize(
    "build, exc, match",
    [
        (lambda: layers.Conv(4, (3, 3), padding="CIRCULAR"), NotImplementedError, "CIRCULAR"),
        (lambda: layers.Conv(4, (3, 3, 3)), NotImplementedError, "1-D and 2-D"),
        (lambda: layers.Conv(4, (3, 3), padding="FULL"), ValueError, "padding"),
        (lambda: layers.Dense(0), ValueError, "out_dim"),
        (lambda: layers.Dense(3, W_std=float("nan")), ValueError, "W_std"),
        (lambda: layers.Dense(3, b_std=-1.0), ValueError, "b_std"),
        (lambda: layers.Dense(3, parameterization="mup"), ValueError, "parameterization"),
        (lambda: layers.AvgPool((2, 2), (0, 2)), ValueError, "strides"),
        (lambda: layers.serial(), ValueError, "at least one"),
        (lambda: layers.serial(stax.Relu()), TypeError, "stax"),
    ],
)
def test_bad_layers_are_refused_when_built(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_spatial_output_needs_a_readout():
    kf = layers.serial(layers.Conv(3, (3, 3), padding="SAME"), layers.Relu()).kernel_fn
    with pytest.raises(NotImplementedError, match="Flatten or GlobalAvgPool"):
        kf(np.ones((2, 5, 5, 1)))
    with pytest.raises(ValueError, match="spatial axes"):
        layers.serial(layers.Conv(3, (3, 3)), layers.Flatten()).kernel_fn(np.ones((2, 5, 1)))


def test_flatten_first_stack_keeps_no_pixel_axes():
    """A stack that flattens first (the zoo's MLPs on images) starts from the flat inputs'
    inner products: its state holds one number per pair of inputs, not one per pixel (on
    28 x 28 digits the per-pixel state was 784x larger and forced tiny blocks), and its
    kernel equals the same network on the flattened inputs (the same sums, reordered)."""
    x = np.random.default_rng(3).normal(size=(6, 7, 5, 2))
    net = archs.get("10-L")
    state = net.kernel_fn.start(x, x)  # all 6 x 6 pairs, then each input with itself
    assert state.spatial == () and state.nngp.shape == (36 + 6 + 6,)
    assert net.kernel_fn.start(x).nngp.shape == (21,)  # x with itself: the pairs a <= b
    np.testing.assert_allclose(
        net.kernel_fn(x, None, "ntk"), net.kernel_fn(x.reshape(6, -1), None, "ntk"), rtol=1e-14
    )
