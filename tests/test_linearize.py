"""Linearisation, gradient-descent trajectories and lazy-training statistics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkbook import archs
from ntkbook.dynamics import (
    gd_trajectory,
    lazy_training,
    linearize,
    relative_kernel_change,
    relative_weight_change,
    tree_norm,
    xent_flow,
)


def _net(key, depth=2, width=32, out_dim=2, d=5, n=6):
    init_fn, apply_fn, _ = archs.mlp(depth, width, out_dim)
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (n, d))
    _, params = init_fn(k2, (-1, d))
    return apply_fn, params, x


def _jacobian(apply_fn, params, x):
    """Dense Jacobian (N*O, P) by reverse-mode autodiff of the flattened parameters."""
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.jacrev(lambda p: apply_fn(unravel(p), x).ravel())(flat))


def test_linearization_equals_network_at_expansion_point(key):
    apply_fn, params, x = _net(key)
    f_lin = linearize(apply_fn, params)
    np.testing.assert_allclose(f_lin(params, x), apply_fn(params, x), rtol=1e-14, atol=1e-14)


def test_linearization_slope_matches_central_difference(key):
    apply_fn, params, x = _net(key)
    f_lin = linearize(apply_fn, params)
    flat, unravel = ravel_pytree(params)
    delta = jax.random.normal(jax.random.PRNGKey(7), flat.shape)
    eps = 1e-4
    lin_step = f_lin(unravel(flat + eps * delta), x) - apply_fn(params, x)
    # A central difference has error O(eps^3 f''') ~ 1e-12 relative to the O(eps) step.
    fd = (apply_fn(unravel(flat + eps * delta), x) - apply_fn(unravel(flat - eps * delta), x)) / 2
    np.testing.assert_allclose(lin_step, fd, rtol=1e-6, atol=1e-12)
    # And it is exactly linear in the displacement: J (2 delta) = 2 J delta.
    lin2 = f_lin(unravel(flat + 2 * eps * delta), x) - apply_fn(params, x)
    np.testing.assert_allclose(lin2, 2 * lin_step, rtol=1e-10, atol=1e-15)


def test_gd_on_linear_model_matches_discrete_closed_form(key):
    # A depth-1 "MLP" is linear in its parameters, so GD on 1/2||f - y||^2 follows
    # f_k = Y + (I - lr Theta)^k (f_0 - Y) exactly, Theta = J J^T.
    apply_fn, params, x = _net(key, depth=1, out_dim=1)
    y = np.sin(np.arange(6.0))
    J = _jacobian(apply_fn, params, x)
    theta = J @ J.T
    lr = 0.5 / np.linalg.eigvalsh(theta)[-1]
    traj = gd_trajectory(apply_fn, params, x, y, lr, 25, record_every=10)
    np.testing.assert_array_equal(traj.step, [0, 10, 20, 25])
    np.testing.assert_allclose(traj.time, lr * traj.step)
    f0 = np.asarray(apply_fn(params, x))
    M = np.eye(6) - lr * theta
    for k, f in zip(traj.step, traj.f_train):
        ref = y[:, None] + np.linalg.matrix_power(M, int(k)) @ (f0 - y[:, None])
        np.testing.assert_allclose(f, ref, rtol=1e-10, atol=1e-12)  # float64 round-off only
    np.testing.assert_allclose(traj.loss, 0.5 * ((traj.f_train - y[:, None]) ** 2).sum((1, 2)))
    # Without snapshots the outputs are the same and only the end points are kept.
    lean = gd_trajectory(apply_fn, params, x, y, lr, 25, record_every=10, keep_params=False)
    assert len(lean.params) == 2 and len(traj.params) == 4
    np.testing.assert_allclose(lean.f_train, traj.f_train, rtol=0, atol=0)
    for a, b in zip(jax.tree_util.tree_leaves(lean.params[-1]), jax.tree_util.tree_leaves(traj.params[-1])):
        np.testing.assert_array_equal(a, b)


def test_xent_gd_on_linear_model_tracks_the_xent_flow(key):
    # A linear model's eNTK is constant and equal across outputs (Theta ⊗ I_O), so
    # small-step GD on the summed cross-entropy follows xent_flow up to O(lr) per unit time.
    apply_fn, params, x = _net(key, depth=1, out_dim=3)
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    J = _jacobian(lambda p, z: apply_fn(p, z)[:, :1], params, x)  # kernel of output 0
    theta = J @ J.T
    lr = 0.002 / np.linalg.eigvalsh(theta)[-1]
    traj = gd_trajectory(apply_fn, params, x, y, lr, 2000, record_every=500, loss="xent")
    flow = xent_flow(theta, traj.f_train[0], y, traj.time, rtol=1e-10, atol=1e-10)
    # Explicit Euler (= GD here) at lr * lambda_max = 0.002 has relative error ~1e-3.
    np.testing.assert_allclose(traj.f_train, flow.train, atol=2e-3 * np.abs(flow.train).max())
    # The recorded loss is the summed cross-entropy of the recorded logits.
    f = traj.f_train
    logp = f - np.log(np.exp(f).sum(-1, keepdims=True))
    np.testing.assert_allclose(traj.loss, -(y * logp).sum((1, 2)), rtol=1e-12)
    assert traj.loss[-1] < traj.loss[0]


def test_relative_changes_against_manual_norms(rng):
    a = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    b = {"w": a["w"] + 0.1, "b": a["b"] - 0.2}
    manual = np.sqrt(6 * 0.01 + 2 * 0.04) / np.sqrt((a["w"] ** 2).sum() + (a["b"] ** 2).sum())
    assert relative_weight_change(b, a) == pytest.approx(manual, rel=1e-12)
    assert tree_norm(a) == pytest.approx(np.sqrt((a["w"] ** 2).sum() + (a["b"] ** 2).sum()))
    k0 = rng.normal(size=(4, 4))
    k1 = k0 + 0.01 * rng.normal(size=(4, 4))
    assert relative_kernel_change(k1, k0) == pytest.approx(
        np.sqrt(((k1 - k0) ** 2).sum() / (k0**2).sum()), rel=1e-12
    )


def test_lazy_training_on_linear_model_is_exactly_lazy(key):
    # For a model linear in its parameters the Taylor model is the model itself:
    # the kernel never moves and f - f_lin is round-off.
    apply_fn, params, x = _net(key, depth=1, out_dim=1)
    stats = lazy_training(apply_fn, params, x, jnp.cos(jnp.arange(6.0)), steps=40, record_every=10)
    assert stats.kernel_change < 1e-12
    assert stats.lin_gap < 1e-10
    assert stats.weight_change == pytest.approx(
        max(relative_weight_change(p, params) for p in stats.net.params), rel=1e-12
    )
    J = _jacobian(apply_fn, params, x)
    assert stats.lambda_max == pytest.approx(np.linalg.eigvalsh(J @ J.T)[-1], rel=1e-10)
    assert stats.lr == pytest.approx(0.5 / stats.lambda_max, rel=1e-12)


def test_lazy_training_wider_is_lazier(key):
    # Lee et al.: all three quantities shrink with width.  A 64x width ratio gives
    # an expected factor of about 8 (m^-1/2); we only require a factor of 2 so the
    # test does not hinge on one random draw.
    y = np.sin(np.arange(6.0))
    out = []
    for width in (16, 1024):
        apply_fn, params, x = _net(key, depth=2, width=width, out_dim=1)
        out.append(lazy_training(apply_fn, params, x, y, steps=60, record_every=20))
    narrow, wide = out
    assert wide.weight_change < narrow.weight_change / 2
    assert wide.kernel_change < narrow.kernel_change / 2
    assert wide.lin_gap < narrow.lin_gap / 2
    assert narrow.lin_gap > 1e-6  # the narrow net is visibly non-linear


@pytest.mark.parametrize("out_dim,with_eval", [(1, True), (3, True), (2, False)])
def test_lazy_training_taylor_trajectory_equals_parameter_space_descent(key, out_dim, with_eval):
    # lazy_training runs the Taylor model on its outputs with the eNTK at initialisation;
    # the reference is gradient descent on neural-tangents' linearize in parameter space.
    # Both are exact for a linear model, so they agree to float64 rounding accumulated
    # over the steps (1e-10 relative; the observed difference is ~1e-15).
    apply_fn, params, x = _net(key, depth=3, width=24, out_dim=out_dim)
    y = np.cos(np.arange(x.shape[0] * out_dim, dtype=np.float64)).reshape(x.shape[0], out_dim)
    x_eval = jax.random.normal(jax.random.PRNGKey(3), (4, x.shape[1])) if with_eval else None
    stats = lazy_training(apply_fn, params, x, y, steps=30, record_every=7, x_eval=x_eval)
    ref = gd_trajectory(
        linearize(apply_fn, params),
        params,
        x,
        y,
        stats.lr,
        30,
        record_every=7,
        x_eval=x if x_eval is None else x_eval,
    )
    np.testing.assert_array_equal(stats.lin.step, ref.step)
    scale = float(np.max(np.abs(ref.f_eval)))
    assert np.max(np.abs(stats.lin.f_eval - ref.f_eval)) < 1e-10 * scale
    assert np.max(np.abs(stats.lin.f_train - ref.f_train)) < 1e-10 * scale
    np.testing.assert_allclose(stats.lin.loss, ref.loss, rtol=1e-10)
    assert len(stats.lin.params) == len(ref.params)
    for p, q in zip(stats.lin.params, ref.params):
        assert relative_weight_change(p, q) < 1e-10
    # lambda_max is that of the output-summed eNTK on the training inputs
    J = _jacobian(apply_fn, params, x).reshape(x.shape[0], out_dim, -1)
    theta0 = np.einsum("iop,jop->ij", J, J)
    assert stats.lambda_max == pytest.approx(np.linalg.eigvalsh(theta0)[-1], rel=1e-10)
