"""ntkbook.lazy: steps to a tolerance (against a brute-force Taylor-model run), a network
trained to it, and per-seed log-log slopes (against planted power laws and np.polyfit)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook import archs, lazy
from ntkbook.dynamics import gd_trajectory, linearize

pytestmark = pytest.mark.core


def _problem(rng, n=12, d=5):
    x = rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.sign(rng.normal(size=n))
    return x, y


def _brute_force_steps(theta, r, lr, tol):
    """Iterate r <- (I - lr theta) r until the loss ratio drops to tol (the definition)."""
    start, k = float(r @ r), 0
    while float(r @ r) > tol * start:
        r = r - lr * theta @ r
        k += 1
    return k


@pytest.mark.parametrize("tol", [0.5, 0.05, 1e-3])
def test_steps_match_brute_force_iteration(rng, tol):
    a = rng.normal(size=(10, 10))
    theta = a @ a.T + 0.05 * np.eye(10)
    r = rng.normal(size=10)
    lr = 1.5 / np.linalg.eigvalsh(theta)[-1]
    # exact integer equality: both count the same monotone sequence of loss ratios
    assert lazy.gd_steps_to_tolerance(theta, r, lr, tol) == _brute_force_steps(theta, r, lr, tol)


def test_steps_refuse_unreachable_and_bad_inputs(rng):
    theta = np.diag([1.0, 0.0])  # the second direction never moves
    with pytest.raises(ValueError, match="does not reach"):
        lazy.gd_steps_to_tolerance(theta, np.array([1.0, 1.0]), 0.5, 0.1, max_steps=1000)
    with pytest.raises(ValueError, match="lr"):
        lazy.gd_steps_to_tolerance(theta, np.array([1.0, 1.0]), 2.5, 0.1)
    with pytest.raises(ValueError, match="residual has 3"):
        lazy.gd_steps_to_tolerance(theta, np.ones(3), 0.5, 0.1)
    with pytest.raises(ValueError, match="residual is zero"):
        lazy.gd_steps_to_tolerance(theta, np.zeros(2), 0.5, 0.1)
    with pytest.raises(ValueError, match="tol"):
        lazy.gd_steps_to_tolerance(theta, np.ones(2), 0.5, 1.0)


@pytest.mark.pinned
def test_fit_to_tolerance_taylor_ratio_matches_linearized_descent(rng):
    pytest.importorskip("neural_tangents")  # dynamics.linearize builds on nt.linearize
    x, y = _problem(rng)
    init_fn, apply_fn, _ = archs.mlp(2, 64, 1)
    _, p0 = init_fn(jax.random.PRNGKey(0), x.shape)
    fit = lazy.fit_to_tolerance(apply_fn, p0, x, y, tol=0.2, lr_scale=1.0)
    # reference: gradient descent in parameter space on the linearized model, same lr and steps
    lin = gd_trajectory(linearize(apply_fn, p0), p0, x, y, fit.lr, fit.steps, record_every=fit.steps)
    ratio = lin.loss[-1] / lin.loss[0]
    assert abs(fit.taylor_ratio - ratio) < 1e-9  # float64 rounding over ~100 steps
    assert fit.taylor_ratio <= 0.2
    # one step fewer would not have reached the tolerance (the count is the fewest)
    shorter = (
        gd_trajectory(linearize(apply_fn, p0), p0, x, y, fit.lr, fit.steps - 1, record_every=fit.steps - 1)
        if fit.steps > 1
        else None
    )
    if shorter is not None:
        assert shorter.loss[-1] / shorter.loss[0] > 0.2
    # the network itself, trained the same number of steps from the same start
    net = gd_trajectory(apply_fn, p0, x, y, fit.lr, fit.steps, record_every=fit.steps)
    assert abs(fit.net_ratio - net.loss[-1] / net.loss[0]) < 1e-12
    assert fit.weight_change > 0
    assert abs(fit.kernel_time - fit.steps * 1.0) < 1e-9  # lr_scale 1: one unit per step


def test_fit_to_tolerance_refuses_several_outputs(rng):
    x, y = _problem(rng)
    init_fn, apply_fn, _ = archs.mlp(2, 16, 2)
    _, p0 = init_fn(jax.random.PRNGKey(0), x.shape)
    with pytest.raises(ValueError, match="one output"):
        lazy.fit_to_tolerance(apply_fn, p0, x, y, tol=0.5)


def test_seed_slopes_against_polyfit_and_planted_power_laws(rng):
    widths = np.array([64.0, 128, 256, 512, 1024])
    exponents = np.array([-0.5, -1.0, 0.3])
    planted = 3.0 * widths[None, :] ** exponents[:, None]
    np.testing.assert_allclose(lazy.seed_slopes(widths, planted), exponents, atol=1e-12)
    noisy = planted * np.exp(0.1 * rng.normal(size=planted.shape))
    ref = [np.polyfit(np.log(widths), np.log(row), 1)[0] for row in noisy]
    np.testing.assert_allclose(lazy.seed_slopes(widths, noisy), ref, atol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        lazy.seed_slopes(widths, -planted)
    with pytest.raises(ValueError, match="shape"):
        lazy.seed_slopes(widths, planted[:, :3])
