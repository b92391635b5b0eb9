"""Hand-written closed-form kernels against neural-tangents, in float64."""

from __future__ import annotations

import numpy as np
import pytest
from neural_tangents import stax

from ntkbook import archs
from ntkbook import closed_form as cf


def rel_err(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.fixture
def xs(rng):
    return rng.normal(size=(12, 5)), rng.normal(size=(9, 5))


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
@pytest.mark.parametrize("b_std", [0.0, 0.3])
def test_mlp_recursion_matches_neural_tangents(xs, depth, b_std):
    x1, x2 = xs
    ref = archs.mlp(depth, b_std=b_std).kernel_fn(x1, x2, ("ntk", "nngp"))
    ntk, nngp = cf.mlp_ntk(x1, x2, depth=depth, W_std=archs.W_STD, b_std=b_std)
    assert rel_err(ntk, ref.ntk) < 1e-10
    assert rel_err(nngp, ref.nngp) < 1e-10


def _stax_mlp(depth: int, W_std: float, b_std: float, W_std_out: float):
    """``depth`` Dense layers (ReLU between them) written out with stax, readout scale ``W_std_out``."""
    layers = []
    for _ in range(depth - 1):
        layers += [stax.Dense(64, W_std=W_std, b_std=b_std), stax.Relu()]
    layers += [stax.Dense(1, W_std=W_std_out, b_std=b_std)]
    return stax.serial(*layers)[2]


def test_mlp_recursion_layers_match_truncated_networks(xs):
    """Each returned layer (Sigma_l, Theta_l) is the NNGP/NTK of the l-layer network that stops there.

    The reference is neural-tangents on networks written out layer by layer (hidden scale
    W_std on every layer inside the deep net, W_std_out on its last), not the recursion's own
    outputs.
    """
    x1, _ = xs
    W_std, b_std, W_std_out = 1.3, 0.2, 0.9
    _, _, layers = cf.mlp_ntk(x1, depth=4, W_std=W_std, b_std=b_std, W_std_out=W_std_out, return_layers=True)
    assert len(layers["sigma"]) == 4 and len(layers["theta"]) == 4
    for depth in range(1, 5):
        last = W_std_out if depth == 4 else W_std
        ref = _stax_mlp(depth, W_std, b_std, last)(x1, None, ("ntk", "nngp"))
        assert rel_err(layers["sigma"][depth - 1], ref.nngp) < 1e-10, depth
        assert rel_err(layers["theta"][depth - 1], ref.ntk) < 1e-10, depth


@pytest.mark.parametrize("depth", [2, 4])
def test_mlp_readout_scale_matches_neural_tangents(xs, depth):
    """W_std_out scales the readout of a deep net; a wrong use of it changes the kernel visibly."""
    x1, x2 = xs
    ref = _stax_mlp(depth, 1.3, 0.1, 0.7)(x1, x2, ("ntk", "nngp"))
    ntk, nngp = cf.mlp_ntk(x1, x2, depth=depth, W_std=1.3, b_std=0.1, W_std_out=0.7)
    assert rel_err(ntk, ref.ntk) < 1e-10
    assert rel_err(nngp, ref.nngp) < 1e-10
    # the default readout scale (1.0) gives a kernel that differs by far more than the tolerance
    ntk_default, _ = cf.mlp_ntk(x1, x2, depth=depth, W_std=1.3, b_std=0.1)
    assert rel_err(ntk_default, ref.ntk) > 1e-2


def test_two_layer_closed_form_matches_neural_tangents(xs):
    x1, x2 = xs
    _, _, kernel_fn = stax.serial(
        stax.Dense(7, W_std=1.3, b_std=0.2), stax.Relu(), stax.Dense(1, W_std=0.7, b_std=0.3)
    )
    ref = kernel_fn(x1, x2, ("ntk", "nngp"))
    ntk, nngp = cf.relu_ntk_2layer(x1, x2, W_std=1.3, b_std=0.2, W_std_out=0.7, b_std_out=0.3)
    assert rel_err(ntk, ref.ntk) < 1e-10
    assert rel_err(nngp, ref.nngp) < 1e-10


def test_eq4_is_first_layer_part_of_two_layer_ntk(xs):
    """eq. 4 = NTK minus the readout's contribution (its NNGP) for inputs scaled by 1/sqrt(D)."""
    x1, x2 = xs
    d = x1.shape[1]
    _, _, kernel_fn = stax.serial(stax.Dense(7, W_std=1.0), stax.Relu(), stax.Dense(1, W_std=1.0))
    ref = kernel_fn(x1, x2, ("ntk", "nngp"))
    eq4 = cf.relu_ntk_eq4(x1 / np.sqrt(d), x2 / np.sqrt(d))
    assert rel_err(eq4, ref.ntk - ref.nngp) < 1e-10


def test_eq4_on_the_sphere_values():
    """On unit vectors eq. 4 reads x.x'(pi - arccos x.x')/(2 pi): 1/2 on the diagonal, 0 when orthogonal."""
    x = np.eye(3)
    x = np.vstack([x, (x[0] + x[1]) / np.sqrt(2)])
    H = np.asarray(cf.relu_ntk_eq4(x))
    np.testing.assert_allclose(np.diag(H), 0.5, rtol=1e-14)
    assert abs(H[0, 1]) < 1e-15
    cos = 1 / np.sqrt(2)
    np.testing.assert_allclose(H[0, 3], cos * (np.pi - np.pi / 4) / (2 * np.pi), rtol=1e-14)


def test_arccos_expectations_match_monte_carlo(rng):
    """E[relu(u)relu(v)] and E[relu'(u)relu'(v)] against 2,000,000 Gaussian samples."""
    cov = np.array([[1.5, 0.6], [0.6, 0.8]])
    uv = rng.multivariate_normal(np.zeros(2), cov, size=2_000_000)
    mc_relu = np.mean(np.maximum(uv[:, 0], 0) * np.maximum(uv[:, 1], 0))
    mc_step = np.mean((uv[:, 0] > 0) & (uv[:, 1] > 0))
    e_relu, e_step = cf.arccos_relu(np.array([[0.6]]), np.array([[1.5]]), np.array([[0.8]]))
    # Monte-Carlo standard error is about 1e-3 here; 5e-3 is > 4 standard errors.
    assert abs(float(e_relu[0, 0]) - mc_relu) < 5e-3
    assert abs(float(e_step[0, 0]) - mc_step) < 5e-3
