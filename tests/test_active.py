"""Look-ahead active learning: rank-one updates against direct solves, scores against brute force."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ntkbook import active
from ntkbook.dynamics import kernel_regression


def _kernel(rng, n, d=6):
    """A PSD kernel of rank > n (features of width 3n) so every bordered matrix is PD."""
    x = rng.normal(size=(n, d))
    W = rng.normal(size=(d, 3 * n))
    phi = np.maximum(x @ W, 0.0) / np.sqrt(3 * n)
    return phi @ phi.T


def test_growing_cholesky_matches_fresh_factor(rng):
    K = _kernel(rng, 30)
    ridge = active.relative_ridge(K[:20, :20], 1e-3)
    chol = active.GrowingCholesky(K[:20, :20], ridge)
    for j in range(20, 30):
        chol.append(K[:j, j], K[j, j])
    fresh = np.linalg.cholesky(K + ridge * np.eye(30))
    # both are the unique Cholesky factor of a matrix with condition ~1e4; 1e-8 relative
    # leaves room for the different order of floating-point operations.
    assert np.max(np.abs(chol.L - fresh)) <= 1e-8 * np.max(np.abs(fresh))
    B = rng.normal(size=(30, 3))
    np.testing.assert_allclose(
        chol.solve(B), scipy.linalg.solve(K + ridge * np.eye(30), B), rtol=1e-8, atol=1e-10
    )


def test_lookahead_equals_direct_solve(rng):
    """Every (candidate, label) retraining from the rank-one formula equals a fresh solve."""
    P, n_lab, O = 40, 12, 4
    K = _kernel(rng, P)
    f0 = rng.normal(size=(P, O)) * 0.3
    lab = np.arange(n_lab)
    cand = np.arange(n_lab, P)
    Y = np.eye(O)[rng.integers(0, O, n_lab)]
    ridge = active.relative_ridge(K[np.ix_(lab, lab)], 1e-2)
    chol = active.GrowingCholesky(K[np.ix_(lab, lab)], ridge)
    # current predictions via the book's kernel regression (absolute ridge)
    f_now = f0 + kernel_regression(K[np.ix_(lab, lab)], Y - f0[lab], K[:, lab], ridge, relative=False)
    la = active.lookahead(
        chol, K[np.ix_(lab, cand)], K[:, cand], K[:, lab], np.diag(K)[cand], f_now, f_now[cand]
    )
    for ci in [0, 5, len(cand) - 1]:
        for y in range(O):
            idx = np.concatenate([lab, [cand[ci]]])
            Y2 = np.vstack([Y, np.eye(O)[y]])
            direct = active.retrain_direct(K, Y2, f0, idx, ridge)
            # acceptance criterion of the chapter: update == direct solve to 1e-8
            np.testing.assert_allclose(la.predictions(ci, np.eye(O)[y]), direct, rtol=0, atol=1e-8)
    # Schur complement agrees with the last pivot of the fresh factor
    idx = np.concatenate([lab, [cand[3]]])
    Lf = np.linalg.cholesky(K[np.ix_(idx, idx)] + ridge * np.eye(len(idx)))
    np.testing.assert_allclose(la.schur[3], Lf[-1, -1] ** 2, rtol=1e-9)


def test_score_output_change_brute_force(rng):
    P, n_lab, O = 25, 8, 3
    K = _kernel(rng, P)
    f0 = rng.normal(size=(P, O)) * 0.2
    lab, cand = np.arange(n_lab), np.arange(n_lab, P)
    Y = np.eye(O)[rng.integers(0, O, n_lab)]
    ridge = 1e-3
    f_now = active.retrain_direct(K, Y, f0, lab, ridge)
    chol = active.GrowingCholesky(K[np.ix_(lab, lab)], ridge)
    la = active.lookahead(
        chol, K[np.ix_(lab, cand)], K[:, cand], K[:, lab], np.diag(K)[cand], f_now, f_now[cand]
    )
    q = active.softmax(f_now[cand], 0.5)
    brute_out = np.zeros(len(cand))
    brute_loss = np.zeros(len(cand))
    pseudo = np.argmax(f_now, 1)
    lp_now = np.log(active.softmax(f_now, 0.5))[np.arange(P), pseudo]
    for ci, c in enumerate(cand):
        for y in range(O):
            new = active.retrain_direct(
                K, np.vstack([Y, np.eye(O)[y]]), f0, np.concatenate([lab, [c]]), ridge
            )
            brute_out[ci] += q[ci, y] * np.mean(np.sum((new - f_now) ** 2, 1))
            lp = np.log(active.softmax(new, 0.5))[np.arange(P), pseudo]
            brute_loss[ci] += q[ci, y] * np.mean(np.abs(lp - lp_now))
    # same quantity by two algebraic routes; 1e-8 relative covers round-off of the solves
    np.testing.assert_allclose(active.score_output_change(la, q), brute_out, rtol=1e-8)
    np.testing.assert_allclose(active.score_loss_change(la, q, 0.5), brute_loss, rtol=1e-7, atol=1e-12)
    # the packaged baseline (one fresh factorisation per candidate) gives the same scores
    np.testing.assert_allclose(
        active.output_change_direct(K, f0, Y, lab, cand, q, ridge), brute_out, rtol=1e-8
    )


def test_score_loss_change_against_explicit_log_softmax(rng):
    """The one-exponential form of the loss score equals scipy's log-softmax of every
    (evaluation, candidate, label) logit vector, for ordinary gains and for gains so large
    that exp(G / T) overflows (the logaddexp branch)."""
    import scipy.special

    E, C, O, T = 7, 5, 4, 0.3
    for scale in (0.5, 400.0):  # 400 / 0.3 > 709: exp overflows in float64
        la = active.LookAhead(
            G=rng.normal(size=(E, C)) * scale,
            schur=np.ones(C),
            f_eval=rng.normal(size=(E, O)),
            f_cand=rng.normal(size=(C, O)),
        )
        q = active.softmax(rng.normal(size=(C, O)))
        pseudo = np.argmax(la.f_eval, 1)
        now = scipy.special.log_softmax(la.f_eval / T, axis=1)[np.arange(E), pseudo]
        ref = np.zeros(C)
        for y in range(O):
            new = la.f_eval[:, None, :] + la.G[:, :, None] * (np.eye(O)[y] - la.f_cand)[None]
            lp = scipy.special.log_softmax(new / T, axis=2)[np.arange(E), :, pseudo]
            ref += q[:, y] * np.mean(np.abs(lp - now[:, None]), axis=0)
        # two float64 routes to the same log-sum-exp: round-off only (1e-10 relative)
        np.testing.assert_allclose(active.score_loss_change(la, q, T), ref, rtol=1e-10)


def test_entropy_softmax_topk(rng):
    q = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
    # closed forms: 0, log 3, log 2
    np.testing.assert_allclose(active.score_entropy(q), [0.0, np.log(3), np.log(2)], atol=1e-15)
    f = rng.normal(size=(5, 4))
    p = active.softmax(f, 2.0)
    np.testing.assert_allclose(p, np.exp(f / 2) / np.exp(f / 2).sum(1, keepdims=True), rtol=1e-13)
    s = np.array([0.1, 0.9, 0.5, 0.7])
    assert active.top_k(s, 2).tolist() == [1, 3]
    assert active.top_k(s, 2, exclude=[1]).tolist() == [3, 2]
    r = active.score_random(1000, 0)
    assert abs(r.mean() - 0.5) < 0.05  # uniform mean 1/2, sd of mean 0.009
    np.testing.assert_array_equal(r, active.score_random(1000, 0))
