"""Gradient-flow closed forms and the ODE solve, each against an independent computation."""

from __future__ import annotations

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.special

from ntkbook.dynamics import (
    kernel_regression,
    linear_regression_flow,
    mse_flow,
    residual_spectrum,
    solve_ode,
    xent_flow,
)


def _psd(rng, n, rank=None, floor=0.05):
    """A random symmetric positive-definite (or low-rank PSD) matrix of moderate scale."""
    a = rng.normal(size=(n, rank or n))
    k = a @ a.T / (rank or n)
    return k + floor * np.eye(n) if rank is None else k


def _problem(rng, n=6, m=4, o=2):
    feats = rng.normal(size=(n + m, n + m))
    full = feats @ feats.T / (n + m) + 0.05 * np.eye(n + m)
    return (
        full[:n, :n],
        full[n:, :n],
        rng.normal(size=(n, o)),
        rng.normal(size=(m, o)),
        rng.normal(size=(n, o)),
    )


def test_closed_form_matches_fine_euler(rng):
    theta, k_test, f0, f0_test, y = _problem(rng)
    times = np.array([0.0, 0.5, 2.0])
    flow = mse_flow(theta, f0, y, times, theta_test_train=k_test, f0_test=f0_test)
    # Explicit Euler on the joint (train, test) system with dt = 1e-4.
    dt = 1e-4
    f, g, t, out_f, out_g = f0.copy(), f0_test.copy(), 0.0, [], []
    for target in times:
        while t < target - 1e-12:
            r = f - y
            f, g, t = f - dt * theta @ r, g - dt * k_test @ r, t + dt
        out_f.append(f.copy())
        out_g.append(g.copy())
    # Euler's global error is O(dt * t * ||Theta||^2 * |r|) ~ 1e-4 here; 2e-3 leaves margin.
    np.testing.assert_allclose(flow.train, np.stack(out_f), atol=2e-3)
    np.testing.assert_allclose(flow.test, np.stack(out_g), atol=2e-3)
    # At t = 0 the closed form must return f0 exactly (up to rounding).
    np.testing.assert_allclose(flow.train[0], f0, atol=1e-12)


def test_matches_neural_tangents_predict(rng):
    import neural_tangents as nt

    theta, k_test, f0, f0_test, y = _problem(rng)
    times = np.array([0.0, 0.3, 1.0, 5.0])
    ours = mse_flow(theta, f0, y, times, theta_test_train=k_test, f0_test=f0_test)
    predict = nt.predict.gradient_descent_mse(theta, y, learning_rate=1.0)
    # neural-tangents normalises the loss by y.size = N * O, so its time is ours * N * O.
    tr, te = predict(times * y.size, f0, f0_test, k_test)
    # Both are eigen-decompositions of the same 6x6 matrix in float64: 1e-10.
    np.testing.assert_allclose(ours.train, np.asarray(tr), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.test, np.asarray(te), rtol=1e-10, atol=1e-10)


def test_long_time_limit_is_kernel_regression(rng):
    theta, k_test, f0, f0_test, y = _problem(rng)
    lam_min = np.linalg.eigvalsh(theta)[0]
    t_long = 80.0 / lam_min  # exp(-80) ~ 2e-35: the transient is gone
    flow = mse_flow(theta, None, y, t_long, theta_test_train=k_test)
    ref = kernel_regression(theta, y, k_test)
    # Eigen-form vs Cholesky solve of a well-conditioned 6x6 system: 1e-9.
    np.testing.assert_allclose(flow.test[0], ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(flow.train[0], y, atol=1e-9)  # interpolation
    # With a non-zero start the limit is f0(x) + K Theta^-1 (Y - f0(X)).
    flow = mse_flow(theta, f0, y, t_long, theta_test_train=k_test, f0_test=f0_test)
    np.testing.assert_allclose(
        flow.test[0], f0_test + kernel_regression(theta, y - f0, k_test), rtol=1e-9, atol=1e-9
    )


def test_singular_kernel_is_handled(rng):
    # Rank-2 kernel on 5 points: the out-of-sample factor must use its t-limit, not divide by 0.
    theta = _psd(rng, 5, rank=2)
    y = rng.normal(size=(5, 1))
    flow = mse_flow(theta, None, y, [0.0, 1.0], theta_test_train=theta[:2])
    assert np.all(np.isfinite(flow.test))
    # The "test" points are training points 0 and 1, so both forms must agree.
    np.testing.assert_allclose(flow.test, flow.train[:, :2], atol=1e-10)


def test_one_dimensional_targets_keep_their_shape(rng):
    theta, k_test, _, _, _ = _problem(rng, o=1)
    y = rng.normal(size=6)
    flow = mse_flow(theta, None, y, [0.0, 1.0], theta_test_train=k_test)
    assert flow.train.shape == (2, 6) and flow.test.shape == (2, 4)
    flow2 = mse_flow(theta, None, y[:, None], [0.0, 1.0], theta_test_train=k_test)
    np.testing.assert_allclose(flow.test, flow2.test[..., 0], atol=0)


def test_linear_regression_flow_tends_to_min_norm_solution(rng):
    X = rng.normal(size=(5, 8))  # under-determined: many interpolants
    y = rng.normal(size=5)
    lam_min = np.linalg.eigvalsh(X @ X.T)[0]
    w = linear_regression_flow(X, y, [0.0, 80.0 / lam_min])
    ref = np.linalg.lstsq(X, y, rcond=None)[0]  # SVD-based minimum-norm solution
    np.testing.assert_allclose(w[0], 0.0, atol=0)
    np.testing.assert_allclose(w[-1], ref, rtol=1e-8, atol=1e-10)


def test_linear_regression_flow_matches_weight_space_euler(rng):
    X = rng.normal(size=(4, 3))
    y = rng.normal(size=(4, 2))
    w0 = rng.normal(size=(3, 2))
    w_closed = linear_regression_flow(X, y, 0.7, w0)[0]
    # Reference: the weight-space ODE dw/dt = -X^T (X w - y) solved by expm of the affine system.
    A = -X.T @ X
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    # w_t - w_star - (component in null space) evolves linearly: w_t = w_star + expm(A t)(w0 - w_star)
    # holds because X^T X w_star = X^T y for the least-squares solution.
    ref = w_star + scipy.linalg.expm(A * 0.7) @ (w0 - w_star)
    np.testing.assert_allclose(w_closed, ref, rtol=1e-10, atol=1e-10)


def test_residual_spectrum_decays_exponentially(rng):
    theta, _, f0, _, y = _problem(rng)
    times = np.linspace(0, 3, 7)
    flow = mse_flow(theta, f0, y, times)
    lam, coeffs = residual_spectrum(theta, flow.train - y)
    assert np.all(np.diff(lam) <= 0)  # decreasing order
    expected = np.exp(-np.outer(times, lam))[..., None] * coeffs[0][None]
    np.testing.assert_allclose(coeffs, expected, rtol=1e-9, atol=1e-12)


def test_solve_ode_linear_system_matches_expm(rng):
    A = -_psd(rng, 4) + 0.3 * (lambda b: b - b.T)(rng.normal(size=(4, 4)))
    y0 = rng.normal(size=4)
    times = np.array([0.0, 0.5, 1.0, 3.0])
    import jax.numpy as jnp

    Aj = jnp.asarray(A)
    sol = solve_ode(lambda y, t: Aj @ y, y0, times, rtol=1e-10, atol=1e-10)
    ref = np.stack([scipy.linalg.expm(A * s) @ y0 for s in times])
    # Dormand-Prince at 1e-10 local tolerance: global error well below 1e-7.
    np.testing.assert_allclose(sol, ref, atol=1e-7)


def test_xent_flow_matches_scipy_and_conserves_logit_sums(rng):
    theta, k_test, f0, f0_test, _ = _problem(rng, o=3)
    labels = rng.integers(0, 3, size=6)
    y = np.eye(3)[labels]
    times = np.array([0.0, 0.5, 2.0, 6.0])
    ours = xent_flow(theta, f0, y, times, theta_test_train=k_test, f0_test=f0_test, rtol=1e-10, atol=1e-10)
    n = 6
    kfull = np.concatenate([theta, k_test])

    def rhs(_t, s):
        s = s.reshape(-1, 3)
        p = np.exp(s[:n] - s[:n].max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return (-kfull @ (p - y)).ravel()

    ref = scipy.integrate.solve_ivp(
        rhs,
        (0, times[-1]),
        np.concatenate([f0, f0_test]).ravel(),
        t_eval=times,
        method="DOP853",
        rtol=1e-11,
        atol=1e-11,
    )
    ref = ref.y.T.reshape(len(times), -1, 3)
    # Two independent adaptive integrators at ~1e-10 tolerances: agree to 1e-7.
    np.testing.assert_allclose(ours.train, ref[:, :n], atol=1e-7)
    np.testing.assert_allclose(ours.test, ref[:, n:], atol=1e-7)
    # softmax(f) - y sums to 0 over classes, so each row's logit sum never moves.
    np.testing.assert_allclose(ours.train.sum(-1), np.broadcast_to(f0.sum(-1), (4, n)), atol=1e-8)
    # Cross-entropy falls along the flow.
    logp = ours.train - scipy.special.logsumexp(ours.train, axis=-1, keepdims=True)
    loss = -(logp * y).sum((1, 2))
    assert np.all(np.diff(loss) < 0)


def test_zero_eigenvalue_direction_drifts_test_outputs_linearly():
    """theta = diag(1, 0): the second training residual never decays, so a test point whose
    kernel row reaches that sample moves linearly in t (the lambda -> 0 limit of
    (1 - exp(-lambda t)) / lambda is t).  By hand, from d f_test/dt = -K_test (f(X) - y):

        f_test(t) = f0_test - K[:, 0] r0 (1 - e^-t) - K[:, 1] r1 t,   r = f0 - y.

    Same arithmetic both ways up to rounding: 1e-13."""
    theta = np.diag([1.0, 0.0])
    k_test = np.array([[0.3, 0.7], [-0.2, 0.5]])
    f0, y, f0_test = np.array([0.4, -1.0]), np.array([1.0, 2.0]), np.array([0.1, 0.2])
    t = np.array([0.0, 0.5, 3.0])
    out = mse_flow(theta, f0, y, t, theta_test_train=k_test, f0_test=f0_test)
    r = f0 - y
    want = f0_test[None, :] - np.outer(1 - np.exp(-t), k_test[:, 0] * r[0]) - np.outer(t, k_test[:, 1] * r[1])
    np.testing.assert_allclose(out.test, want, rtol=0, atol=1e-13)
    np.testing.assert_allclose(out.train[:, 1], f0[1], rtol=0, atol=1e-15)
