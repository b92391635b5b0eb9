"""ntkbook.tasks.bias and ntkbook.tasks.tables (chapters 12-14) against brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ntkbook import archs, closed_form, data, gram
from ntkbook.metrics import rbo
from ntkbook.tasks import bias, tables
from ntkbook.tasks.refurbish import refurbish_labels, refurbish_scores

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


def test_trained_rankings_by_hand(rng):
    # reference: Python's sorted with the mean as key (stable ties, like the package)
    T, K = 3, 5
    acc = rng.uniform(size=(T, K))
    prob = rng.dirichlet(np.ones(K), size=(T, K))
    intra, inter = bias.trained_rankings(acc, prob)
    assert intra.tolist() == sorted(range(K), key=lambda k: -acc[:, k].mean())
    for c in range(K):
        ref = [d for d in sorted(range(K), key=lambda d: -prob[:, c, d].mean()) if d != c]
        assert inter[c].tolist() == ref
    with pytest.raises(ValueError, match="class_prob must have shape"):
        bias.trained_rankings(acc, prob[:, :, :-1])


def test_bias_scores_against_rbo_and_exact_random_floor(rng):
    # Z with a known diagonal order; the random floor against the exact mean over all 4! = 24
    # permutations (Monte Carlo with 2,000 draws: standard error ~0.005, tolerance 0.03)
    K = 4
    B = rng.standard_normal((K, K))
    Z = B @ B.T + K * np.eye(K)
    counts = np.full(K, 10.0)
    intra_true = np.array([2, 0, 3, 1])
    inter_true = np.array([[d for d in range(K) if d != c] for c in range(K)])
    sc = bias.bias_scores(Z, counts, intra_true, inter_true, 0.9, seed=1, n_random=2000)
    pred = np.argsort(np.diag(Z) / counts, kind="stable")
    assert sc["intra"] == pytest.approx(rbo(list(pred), list(intra_true), 0.9), abs=1e-12)
    exact = np.mean([rbo(list(p), list(intra_true), 0.9) for p in itertools.permutations(range(K))])
    assert sc["rand_intra"] == pytest.approx(exact, abs=0.03)
    exact_inter = np.mean(
        [rbo(list(p), list(inter_true[0]), 0.9) for p in itertools.permutations(inter_true[0])]
    )
    assert sc["rand_inter"] == pytest.approx(exact_inter, abs=0.03)
    with pytest.raises(ValueError, match="permutation"):
        bias.bias_scores(Z, counts, np.array([0, 0, 1, 2]), inter_true, 0.9)


def test_inverse_sign_share_brute_force(rng):
    # reference: explicit inverse and a loop over samples
    X = rng.standard_normal((30, 5))
    H = np.asarray(closed_form.relu_ntk_eq4(X / np.linalg.norm(X, axis=1, keepdims=True))) + 1e-3 * np.eye(30)
    A = np.linalg.inv(H)
    for top in (1, 3):
        hits = []
        for a in range(30):
            cos = H[a] / np.sqrt(H[a, a] * np.diag(H))
            cos[a] = -np.inf
            for b in np.argsort(-cos, kind="stable")[:top]:
                hits.append(A[a, b] < 0)
        assert bias.inverse_sign_share(H, top=top) == pytest.approx(np.mean(hits), abs=1e-12)
    # two nearly parallel samples: a 2x2 kernel [[1, r], [r, 1]] has inverse entry -r/(1-r^2)
    assert bias.inverse_sign_share(np.array([[1.0, 0.9], [0.9, 1.0]])) == 1.0
    with pytest.raises(ValueError, match="top"):
        bias.inverse_sign_share(H, top=30)


def test_kernel_gram_flattened_equals_image_kernel():
    # the flattened shortcut is the same kernel as the zoo's 2-L on images (both float64)
    ds = data.load("digits", n=40, seed=0)
    x = data.normalize(ds.x).astype(np.float64)
    ref = gram.gram(archs.get("2-L", ndim=archs.ndim_of(ds.image_shape)), x, progress=False)
    np.testing.assert_allclose(tables.kernel_gram("2-L", x), ref, rtol=1e-12, atol=1e-14)
    xt = data.normalize(ds.x_test[:7]).astype(np.float64)
    ref2 = gram.gram(archs.get("2-L", ndim=2), x, xt, progress=False)
    np.testing.assert_allclose(tables.kernel_gram("2-L", x, xt), ref2, rtol=1e-12, atol=1e-14)


def test_table8_seed_matches_direct_runs():
    ds = data.load("digits", n=150, seed=2)
    x = data.normalize(ds.x.reshape(len(ds.x), -1)).astype(np.float64)
    H = np.asarray(closed_form.relu_ntk_eq4(x)) + 1e-3 * np.eye(len(x))
    got = tables.table8_seed(H, ds.y, seed=5, noise_rates=(0.1, 0.3))
    for rate in (0.1, 0.3):
        y_noisy, flipped = data.add_label_noise(ds.y, rate, 10, seed=5)
        res = refurbish_labels(H, y_noisy, steps=len(flipped), stop="never", score_against="initial")
        assert got[rate]["corrected"] == refurbish_scores(ds.y, y_noisy, res.labels)["corrected"]
        assert got[rate]["n_noisy"] == len(flipped)


@pytest.mark.parametrize(
    "lo, hi, want",
    [
        (8.0, 12.0, "reproduced"),
        (0.0, 4.0, "not reproduced"),
        (3.0, 6.0, "inconclusive"),
        (16.0, 30.0, "not reproduced"),
        (14.0, 16.0, "inconclusive"),
    ],
)
def test_close_to(lo, hi, want):
    assert tables.close_to(lo, hi, 10.0, 5.0) == want


def test_ranking_agreement_by_hand():
    # reference: the three pairwise RBOs written out
    a, b, c = [0, 1, 2, 3], [1, 0, 2, 3], [3, 2, 1, 0]
    want = np.mean([rbo(a, b, 0.9), rbo(a, c, 0.9), rbo(b, c, 0.9)])
    assert bias.ranking_agreement([np.array(a), np.array(b), np.array(c)], 0.9) == pytest.approx(want)
    two = [np.array([[1, 2], [0, 2], [0, 1]]), np.array([[2, 1], [0, 2], [1, 0]])]
    want2 = np.mean([rbo([1, 2], [2, 1], 0.9), 1.0, rbo([0, 1], [1, 0], 0.9)])
    assert bias.ranking_agreement(two, 0.9) == pytest.approx(want2)
    with pytest.raises(ValueError, match="at least two"):
        bias.ranking_agreement([np.array(a)], 0.9)


def test_kernel_accuracy_against_direct_solve():
    # reference: np.linalg.solve of the zoo's image kernel and an explicit argmax
    ds = data.load("digits", n=60, seed=1)
    x = data.normalize(ds.x).astype(np.float64)
    xt = data.normalize(ds.x_test[:25]).astype(np.float64)
    k = archs.get("2-L", ndim=2)
    H = gram.gram(k, x, progress=False)
    K_te = gram.gram(k, xt, x, progress=False)
    pred = (K_te @ np.linalg.solve(H, np.eye(10)[ds.y])).argmax(1)
    want = float(np.mean(pred == ds.y_test[:25]))
    assert tables.kernel_accuracy("2-L", H, x, ds.y, xt, ds.y_test[:25]) == pytest.approx(want, abs=1e-12)
