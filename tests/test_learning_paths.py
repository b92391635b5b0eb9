"""One-step eNTK formulas against real SGD steps; EMA, training loop and simplex against direct computations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkbook import archs
from ntkbook import learning_paths as lp


def _jac_entk(apply_fn, params, x1, x2):
    """Reference eNTK J(x1) J(x2)^T from flattened jax.jacobian, shape (N1, N2, O, O)."""
    flat, unravel = ravel_pytree(params)
    f = lambda w, x: apply_fn(unravel(w), x)
    J1 = jax.jacobian(f)(flat, x1)  # (N1, O, P)
    J2 = jax.jacobian(f)(flat, x2)
    return np.asarray(jnp.einsum("aop,bqp->aboq", J1, J2))


def _net(key, out=3, d=5, width=16):
    init_fn, apply_fn, _ = archs.mlp(2, width, out)
    _, params = init_fn(key, (-1, d))
    return apply_fn, params


def _sgd_step(apply_fn, params, x, p, lr, loss):
    def mean_loss(w):
        f = apply_fn(w, x)
        if loss == "xent":
            return -jnp.mean(jnp.sum(p * jax.nn.log_softmax(f), -1))
        return 0.5 * jnp.mean(jnp.sum((f - p) ** 2, -1))

    g = jax.grad(mean_loss)(params)
    return jax.tree_util.tree_map(lambda a, b: a - lr * b, params, g)


@pytest.mark.parametrize("loss", ["xent", "mse"])
def test_one_step_change_is_second_order(key, rng, loss):
    apply_fn, params = _net(key)
    x = jnp.asarray(rng.normal(size=(4, 5)))
    probe = jnp.asarray(rng.normal(size=(3, 5)))
    p = np.eye(3)[[0, 2, 1, 1]]
    K = _jac_entk(apply_fn, params, probe, x)
    g = lp.loss_output_grad(np.asarray(apply_fn(params, x)), p, loss)
    errs = []
    for lr in [1e-2, 5e-3]:
        actual = np.asarray(
            apply_fn(_sgd_step(apply_fn, params, x, p, lr, loss), probe) - apply_fn(params, probe)
        )
        pred = lp.sgd_prediction_change(K, g, lr)
        errs.append(np.linalg.norm(actual - pred))
        # the first-order term explains the step up to a few per cent at these step sizes
        assert errs[-1] < 0.05 * np.linalg.norm(actual)
    # the remainder is O(eta^2): halving eta divides it by ~4 (3 to 5 allows the O(eta^3) term)
    assert 3.0 < errs[0] / errs[1] < 5.0


def test_softmax_change_is_second_order(key, rng):
    apply_fn, params = _net(key)
    x = jnp.asarray(rng.normal(size=(2, 5)))
    probe = jnp.asarray(rng.normal(size=(4, 5)))
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]])  # soft targets too
    K = _jac_entk(apply_fn, params, probe, x)
    q0 = np.asarray(jax.nn.softmax(apply_fn(params, probe)))
    qb = np.asarray(jax.nn.softmax(apply_fn(params, x)))
    errs = []
    for lr in [2e-2, 1e-2]:
        q1 = np.asarray(jax.nn.softmax(apply_fn(_sgd_step(apply_fn, params, x, p, lr, "xent"), probe)))
        pred = lp.softmax_prediction_change(K, q0, qb, p, lr)
        errs.append(np.linalg.norm(q1 - q0 - pred))
        assert errs[-1] < 0.05 * np.linalg.norm(q1 - q0)
    assert 3.0 < errs[0] / errs[1] < 5.0
    # A(q) is the Jacobian of softmax: compare with jax.jacobian at one point
    f = np.array([0.3, -1.0, 0.5])
    np.testing.assert_allclose(
        lp.categorical_covariance(np.asarray(jax.nn.softmax(f))),
        np.asarray(jax.jacobian(jax.nn.softmax)(jnp.asarray(f))),
        rtol=1e-12,
        atol=1e-14,
    )


def test_feature_change_matches_backbone_step(key, rng):
    """Backbone z = phi(x) (4 features), linear head; one joint SGD step moves z as predicted."""
    k1, k2 = jax.random.split(key)
    bb_init, bb_apply, _ = archs.mlp(2, 16, 4)
    _, wb = bb_init(k1, (-1, 5))
    V = jax.random.normal(k2, (3, 4))
    params = (wb, V)
    apply_fn = lambda w, x: bb_apply(w[0], x) @ w[1].T
    x = jnp.asarray(rng.normal(size=(3, 5)))
    probe = jnp.asarray(rng.normal(size=(2, 5)))
    p = np.eye(3)[[0, 1, 2]]
    Kb = _jac_entk(bb_apply, wb, probe, x)  # (2, 3, 4, 4)
    q = np.asarray(jax.nn.softmax(apply_fn(params, x)))
    head_jac = np.broadcast_to(np.asarray(V), (3, 3, 4))  # d logits / d z = V
    errs = []
    for lr in [1e-2, 5e-3]:
        new = _sgd_step(apply_fn, params, x, p, lr, "xent")
        actual = np.asarray(bb_apply(new[0], probe) - bb_apply(wb, probe))
        pred = lp.feature_change(Kb, head_jac, p - q, lr)
        errs.append(np.linalg.norm(actual - pred))
        assert errs[-1] < 0.05 * np.linalg.norm(actual)
    assert 3.0 < errs[0] / errs[1] < 5.0


def test_ema_targets_closed_form(rng):
    q = rng.dirichlet(np.ones(3), size=5)
    init = np.eye(3)[rng.integers(0, 3, 5)]
    path = np.broadcast_to(q, (40, 5, 3))
    out = lp.ema_targets(path, 0.05, init)
    t = np.arange(1, 41)[:, None, None]
    # constant input: p_t = (1-a)^t init + (1 - (1-a)^t) q
    ref = 0.95**t * init + (1 - 0.95**t) * q
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(lp.ema_targets(path, 1.0)[-1], q, rtol=1e-15)


def test_train_recording_matches_manual_steps(key, rng):
    apply_fn, params = _net(key)
    x = rng.normal(size=(6, 5))
    p = np.eye(3)[rng.integers(0, 3, 6)]
    rec = lp.train_recording(
        apply_fn,
        params,
        x,
        p,
        lr=0.1,
        epochs=2,
        batch_size=None,
        x_record=x[:2],
        x_test=x,
        y_test=p.argmax(1),
    )
    ref = params
    for _ in range(2):  # full batch: order does not matter
        ref = _sgd_step(apply_fn, ref, jnp.asarray(x), p, 0.1, "xent")
    a, _ = ravel_pytree(rec.params)
    b, _ = ravel_pytree(ref)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rec.probs[-1], np.asarray(jax.nn.softmax(apply_fn(ref, x[:2]))), rtol=1e-10)
    assert rec.probs.shape == (3, 2, 3) and rec.train_loss.shape == (3,)
    assert rec.train_loss[-1] < rec.train_loss[0]
    # frozen parameters: a mask that zeroes every gradient leaves params unchanged
    frozen = lp.train_recording(
        apply_fn,
        params,
        x,
        p,
        lr=0.1,
        epochs=1,
        trainable=lambda g: jax.tree_util.tree_map(jnp.zeros_like, g),
    )
    np.testing.assert_array_equal(ravel_pytree(frozen.params)[0], ravel_pytree(params)[0])


def test_train_recording_shares_compilation_and_keeps_end_points(key, rng):
    apply_fn, params = _net(key)
    x = rng.normal(size=(8, 5))
    p = np.eye(3)[rng.integers(0, 3, 8)]
    y_test = p.argmax(1)
    lp._compiled.cache_clear()
    runs = {}
    for lr in [0.1, 0.05]:  # one network, two step sizes: compiled once
        runs[lr] = lp.train_recording(
            apply_fn, params, x, p, lr=lr, epochs=3, batch_size=4, seed=1, x_test=x, y_test=y_test
        )
    info = lp._compiled.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    # the step size is an argument of the shared step, not a constant of the first call:
    # each run agrees with plain SGD at its own step size (two full-batch epochs as reference)
    for lr in [0.1, 0.05]:
        full = lp.train_recording(apply_fn, params, x, p, lr=lr, epochs=2)
        ref = _sgd_step(
            apply_fn,
            _sgd_step(apply_fn, params, jnp.asarray(x), p, lr, "xent"),
            jnp.asarray(x),
            p,
            lr,
            "xent",
        )
        # float64, two steps of a small net: agreement to round-off
        np.testing.assert_allclose(ravel_pytree(full.params)[0], ravel_pytree(ref)[0], rtol=1e-10, atol=1e-12)
    # keep_path=False trains identically and keeps only the first and last records
    ends = lp.train_recording(
        apply_fn,
        params,
        x,
        p,
        lr=0.05,
        epochs=3,
        batch_size=4,
        seed=1,
        x_test=x,
        y_test=y_test,
        keep_path=False,
    )
    full = runs[0.05]
    np.testing.assert_array_equal(ravel_pytree(ends.params)[0], ravel_pytree(full.params)[0])
    np.testing.assert_array_equal(ends.probs, full.probs[[0, -1]])
    np.testing.assert_array_equal(ends.test_acc, full.test_acc[[0, -1]])
    assert ends.train_loss.shape == (2,)
    assert lp.train_recording(apply_fn, params, x, p, lr=0.05, epochs=0, keep_path=False).probs.shape == (
        1,
        8,
        3,
    )


def test_simplex_xy():
    q = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], float)
    xy = lp.simplex_xy(q)
    np.testing.assert_allclose(xy[:3], [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]], atol=1e-15)
    np.testing.assert_allclose(xy[3], [0.5, np.sqrt(3) / 6], atol=1e-15)  # the centroid


def test_gaussian_toy_posterior():
    from scipy.stats import multivariate_normal

    x, y, p = lp.gaussian_toy(60, 3, num_classes=3, dim=4, radius=2.0)
    assert x.shape == (60, 4) and np.bincount(y).tolist() == [20, 20, 20]
    ang = 2 * np.pi * np.arange(3) / 3
    mu = np.zeros((3, 4))
    mu[:, 0], mu[:, 1] = 2 * np.cos(ang), 2 * np.sin(ang)
    dens = np.stack([multivariate_normal(mu[k], np.eye(4)).pdf(x) for k in range(3)], 1)
    # Bayes rule from scipy's densities; both in float64, so agreement to 1e-12
    np.testing.assert_allclose(p, dens / dens.sum(1, keepdims=True), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="radius"):
        lp.gaussian_toy(10, radius=0.0)
    with pytest.raises(ValueError, match="dim"):
        lp.gaussian_toy(10, dim=1)
