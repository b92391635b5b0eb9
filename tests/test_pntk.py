"""ntkbook.pntk: chapter 7's computations against independent references.

* :func:`gap_second_moment` (closed form from Gaussian quadratic-form moments) against a
  Monte Carlo average of ``||eNTK - pNTK I_O||_F^2`` built here from sampled readouts with an
  explicit loop over output pairs (not :func:`readout_gap_draws`); 40,000 draws give a relative
  standard error of about 1 %, tolerance 5 %.
* :func:`readout_gap_draws` against the same explicit loop, draw by draw (1e-10).
* :func:`gap_bound` holds with at least the promised probability on those draws.
* :func:`pntk_predict` against :func:`ntkbook.empirical.pntk_regression` (same solve, 1e-10).
* :func:`kernel_pair` / :func:`compare_pair` against separate eNTK/pNTK calls and a hand-written
  Frobenius error (float64 sums in another order, 1e-10).
* :func:`describe_path` on hand-made paths of each kind.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook import archs, empirical, pntk

pytestmark = pytest.mark.core


def _explicit_gaps(A, phi_dot, o, V):
    """||eNTK - pNTK I||_F for each readout V (draws, O, h), one output pair at a time."""
    out = []
    for v in V:
        E = np.empty((o, o))
        for j in range(o):
            for k in range(o):
                E[j, k] = v[j] @ A @ v[k] + (phi_dot if j == k else 0.0)
        out.append(np.linalg.norm(E - E.sum() / o * np.eye(o)))  # pNTK = sum of entries / O
    return np.array(out)


@pytest.fixture(scope="module")
def jac_kernel():
    rng = np.random.default_rng(0)
    G = rng.standard_normal((12, 30))
    G2 = G + 0.3 * rng.standard_normal((12, 30))
    return G @ G2.T / 30  # (12, 12), not symmetric: the x1 != x2 case


def test_second_moment_matches_monte_carlo(jac_kernel):
    A, o, s2 = jac_kernel, 4, 0.7
    rng = np.random.default_rng(1)
    V = np.sqrt(s2) * rng.standard_normal((40_000, o, A.shape[0]))
    E = np.einsum("dji,ik,dlk->djl", V, A, V)
    D = E - (E.sum(axis=(1, 2)) / o)[:, None, None] * np.eye(o)
    mc = float(np.mean(np.sum(D**2, axis=(1, 2))))
    assert pntk.gap_second_moment(A, o, s2) == pytest.approx(mc, rel=0.05)
    # planted bug: dropping the symmetric-part term (a naive "Var = ||A||^2" for the diagonal)
    wrong = s2**2 * (o - 1) * o * np.sum(A * A)
    assert abs(wrong / mc - 1) > 0.15


def test_second_moment_identity_case():
    # A = I_h, one output: the pNTK equals the eNTK exactly; O outputs: (O-1)(O+4) h sigma^4
    assert pntk.gap_second_moment(np.eye(5), 1) == 0.0
    assert pntk.gap_second_moment(np.eye(5), 3, sigma2=2.0) == pytest.approx(4 * 2 * 7 * 5)


def test_draws_match_explicit_loop(jac_kernel):
    A, o = jac_kernel, 3
    got = pntk.readout_gap_draws(A, 0.4, o, draws=5, seed=3)
    V = np.random.default_rng(3).standard_normal((5, o, A.shape[0]))
    want = _explicit_gaps(A, 0.4, o, V)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_bound_holds_with_promised_probability(jac_kernel):
    A, o, phi, delta = jac_kernel, 5, 0.5, 0.2
    gaps = pntk.readout_gap_draws(A, phi, o, draws=4000, seed=4)
    rel = gaps / (np.sqrt(o) * abs(np.trace(A) + phi))
    assert np.mean(rel > pntk.gap_bound(A, phi, o, delta)) <= delta
    with pytest.raises(ValueError, match="delta"):
        pntk.gap_bound(A, phi, o, 1.0)
    with pytest.raises(ValueError, match="square"):
        pntk.gap_second_moment(np.ones((2, 3)), 2)


@pytest.fixture(scope="module")
def net():
    init_fn, apply_fn, _ = archs.mlp(2, 16, 3)
    rng = np.random.default_rng(0)
    x, xt = rng.standard_normal((7, 5)), rng.standard_normal((4, 5))
    _, params = init_fn(jax.random.PRNGKey(0), x.shape)
    return apply_fn, params, x, xt


def test_kernel_pair_and_compare(net):
    apply_fn, params, x, xt = net
    k = pntk.kernel_pair(apply_fn, params, x, xt)
    np.testing.assert_allclose(k.K, empirical.entk(apply_fn, params, x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(k.Pt, empirical.pntk(apply_fn, params, xt, x), rtol=1e-10, atol=1e-12)
    Y = np.eye(3)[[0, 1, 2, 0, 1, 2, 0]]
    stats = pntk.compare_pair(k, Y, np.array([0, 1, 2, 0]), reg=1e-3)
    Kf = empirical.flatten_entk(k.K)
    Pf = np.kron(k.P, np.eye(3))
    assert stats["frob"] == pytest.approx(np.linalg.norm(Kf - Pf) / np.linalg.norm(Kf), rel=1e-10)
    with pytest.raises(ValueError, match="features"):
        pntk.kernel_pair(apply_fn, params, x, xt[:, :4])


def test_pntk_predict_matches_regression(net):
    apply_fn, params, x, xt = net
    k = pntk.kernel_pair(apply_fn, params, x, xt)
    Y = np.eye(3)[[0, 1, 2, 0, 1, 2, 0]]
    got = pntk.pntk_predict(k.P, Y, k.Pt, k.f0, k.f0t, 1e-3)
    want = empirical.pntk_regression(k.P, Y, k.Pt, 1e-3, f0_train=k.f0, f0_test=k.f0t)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "path, phrase",
    [
        ([1.0, 0.5, 0.9], "first drops and then climbs back"),
        ([1.0, 1.2, 1.8], "rises markedly"),
        ([1.0, 0.8, 0.5], "falls markedly"),
        ([1.0, 0.95, 1.05], "changes little"),
    ],
)
def test_describe_path(path, phrase):
    assert pntk.describe_path(path) == phrase


def test_describe_path_needs_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        pntk.describe_path([1.0])


def test_full_split_seed_matches_direct_regression():
    """Per-image correctness at initial weights equals empirical.pntk_regression's argmax;
    the trained stage is a different network (its outputs differ from the initial ones)."""
    rng = np.random.default_rng(1)
    x, xt = rng.standard_normal((24, 6)), rng.standard_normal((10, 6))
    x, xt = x / np.linalg.norm(x, axis=1, keepdims=True), xt / np.linalg.norm(xt, axis=1, keepdims=True)
    y, yt = np.arange(24) % 3, np.arange(10) % 3
    run = pntk.full_split_seed(
        x,
        y,
        xt,
        yt,
        [8, 16],
        seed=4,
        depth=2,
        steps=3,
        lr_scale=0.5,
        reg=1e-3,
        train_widths=[16],
        infinite=False,
    )
    assert set(run.correct) == {(8, "init"), (16, "init"), (16, "trained")}
    init_fn, apply_fn, _ = archs.mlp(2, 8, 3)
    _, p0 = init_fn(jax.random.PRNGKey(4), x.shape)
    P, Pt = empirical.pntk(apply_fn, p0, x), empirical.pntk(apply_fn, p0, xt, x)
    f = empirical.pntk_regression(
        P, np.eye(3)[y], Pt, 1e-3, f0_train=np.asarray(apply_fn(p0, x)), f0_test=np.asarray(apply_fn(p0, xt))
    )
    np.testing.assert_array_equal(run.correct[8, "init"], f.argmax(1) == yt)
    assert run.accuracy((8, "init")) == pytest.approx(np.mean(f.argmax(1) == yt))
    with pytest.raises(ValueError, match="subset"):
        pntk.full_split_seed(
            x,
            y,
            xt,
            yt,
            [8],
            seed=0,
            depth=2,
            steps=1,
            lr_scale=0.5,
            reg=1e-3,
            train_widths=[16],
            infinite=False,
        )
