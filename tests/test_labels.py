"""Tests of ntkbook.tasks.labels: the Gram-label matrix Z, eq. 10, eq. 6 and the rankings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from ntkbook import archs, data, gram
from ntkbook.tasks import labels as lab


def _spd(rng, n):
    B = rng.standard_normal((n, n + 5))
    return B @ B.T / n + 0.1 * np.eye(n)


def _brute_L(H, y, K, beta):
    """Eq. 10 by explicit loops over pairs of samples and an explicit inverse (reference only)."""
    A = np.linalg.inv(H)
    n = np.bincount(y, minlength=K).astype(float)
    Z = np.zeros((K, K))
    for i in range(len(y)):
        for j in range(len(y)):
            Z[y[i], y[j]] += A[i, j]
    diag = sum(Z[k, k] / (n[k] * (n[k] - 1)) for k in range(K)) / K
    if K == 1:
        return diag
    off = sum(Z[k, d] / (n[k] * n[d]) for k in range(K) for d in range(K) if d != k)
    return diag - beta * off / (K * K - K)


def test_block_diagonal_H_known_answer():
    # H = blockdiag(a_k I + c_k 11^T), labels = blocks: H^{-1} is block diagonal, so Z is
    # diagonal with Z_kk = 1^T B_k^{-1} 1 = n_k / (a_k + n_k c_k) (Sherman-Morrison) and
    # L = 1/K sum_k 1 / ((a_k + n_k c_k)(n_k - 1)).  Float64 solves of a well-conditioned
    # 60x60 system: 1e-12 relative.
    sizes, a, c = [10, 20, 30], [1.0, 2.0, 0.5], [0.3, 0.1, 0.2]
    H = scipy.linalg.block_diag(*[ai * np.eye(n) + ci * np.ones((n, n)) for n, ai, ci in zip(sizes, a, c)])
    y = np.repeat(np.arange(3), sizes)
    gl = lab.gram_label_matrix(H, y)
    np.testing.assert_allclose(
        np.diag(gl.Z), [n / (ai + n * ci) for n, ai, ci in zip(sizes, a, c)], rtol=1e-12
    )
    np.testing.assert_allclose(gl.Z - np.diag(np.diag(gl.Z)), 0.0, atol=1e-13)
    expected = np.mean([1 / ((ai + n * ci) * (n - 1)) for n, ai, ci in zip(sizes, a, c)])
    for beta in (0.0, 1.0, 3.0):  # off-diagonal term is exactly zero, beta cannot matter
        assert lab.block_diagonalization_error(H, y, beta=beta) == pytest.approx(expected, rel=1e-12)
    assert gl.ridge == 0.0 and gl.condition_number >= 1.0


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
def test_eq10_matches_brute_force(rng, beta):
    # random SPD H and labels vs the double loop with an explicit inverse: both float64 on a
    # condition number below 1e3, so 1e-10 relative.
    H = _spd(rng, 40)
    y = rng.permutation(np.arange(40) % 4)
    assert lab.block_diagonalization_error(H, y, beta=beta) == pytest.approx(
        _brute_L(H, y, 4, beta), rel=1e-10
    )
    gl = lab.gram_label_matrix(H, y)
    Y = np.eye(4)[y]
    np.testing.assert_allclose(gl.Z, Y.T @ np.linalg.inv(H) @ Y, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(gl.counts, [10, 10, 10, 10])
    # one-hot matrix input gives the same Z
    np.testing.assert_allclose(lab.gram_label_matrix(H, Y).Z, gl.Z, rtol=1e-14)


def test_one_class_scheme(rng):
    # K = 1: the off-diagonal term is empty, L = 1^T H^{-1} 1 / (N (N - 1)).
    H = _spd(rng, 30)
    ref = np.ones(30) @ np.linalg.solve(H, np.ones(30)) / (30 * 29)
    assert lab.block_diagonalization_error(H, np.zeros(30, int)) == pytest.approx(ref, rel=1e-10)
    assert lab.block_diagonalization_error(H, np.zeros(30, int)) == pytest.approx(
        _brute_L(H, np.zeros(30, int), 1, 1.0), rel=1e-10
    )


def test_ridge_is_reported(rng):
    H = _spd(rng, 20)
    y = np.arange(20) % 2
    gl = lab.gram_label_matrix(H, y, reg=0.1)
    assert gl.ridge == pytest.approx(0.1 * np.trace(H) / 20, rel=1e-14)
    Y = np.eye(2)[y]
    np.testing.assert_allclose(gl.Z, Y.T @ np.linalg.solve(H + gl.ridge * np.eye(20), Y), rtol=1e-10)


@pytest.fixture(scope="module")
def digits_grams():
    """2-L and CNN-1 infinite-width Grams of 300 unit-norm digits (engine's block size)."""
    ds = data.load("digits", n=300, seed=0)
    x = data.normalize(ds.x).astype(np.float64)
    return ds.y, {name: gram.gram(archs.get(name), x, progress=False) for name in ("2-L", "CNN-1")}


@pytest.mark.parametrize("arch", ["2-L", "CNN-1"])
def test_L_increases_with_noise_on_digits(digits_grams, arch):
    # the paper's Table 6 claim at small scale: more label noise, larger L(Z).  Strict
    # monotonicity over 0 < 10 < 30 < 70 % noise, and 1 Class far below clean.
    y, grams = digits_grams
    H = grams[arch]
    values = [
        lab.block_diagonalization_error(H, data.add_label_noise(y, r, 10, seed=3)[0])
        for r in (0.0, 0.1, 0.3, 0.7)
    ]
    assert np.all(np.diff(values) > 0), values
    assert lab.block_diagonalization_error(H, np.zeros_like(y)) < 0.1 * values[0]
    table = lab.rank_labelings(
        H, {"clean": y, "one": np.zeros_like(y), "noisy": data.add_label_noise(y, 0.3, 10, seed=3)[0]}
    )
    assert list(table.index) == ["one", "clean", "noisy"]
    assert table.loc["noisy", "L"] == pytest.approx(values[2], rel=1e-12)


def test_block_diagonality_eq6(rng):
    # eq. 6 against a double loop over pairs; 1e-12 relative (sums of 900 float64 numbers).
    T = _spd(rng, 30)
    y = rng.permutation(np.arange(30) % 3)
    ref = []
    for k in range(3):
        ins, outs = np.flatnonzero(y == k), np.flatnonzero(y != k)
        w = sum(T[i, j] for i in ins for j in ins if i != j) / (len(ins) * (len(ins) - 1))
        b = sum(T[i, j] for i in ins for j in outs) / (len(ins) * len(outs))
        ref.append(w - b)
    assert lab.block_diagonality(T, y) == pytest.approx(np.mean(ref), rel=1e-12)
    # a kernel equal to 1 within classes and 0 between scores exactly 1
    Y = np.eye(3)[y]
    assert lab.block_diagonality(Y @ Y.T, y) == pytest.approx(1.0, abs=1e-15)
    # one class: the between term vanishes, the within term is the mean off-diagonal entry
    ones = np.zeros(30, int)
    assert lab.block_diagonality(T, ones) == pytest.approx((T.sum() - np.trace(T)) / (30 * 29), rel=1e-12)


def test_bias_rankings_hand_made():
    Z = np.array(
        [[3.0, -1.0, 0.2, 0.0], [-1.0, 1.0, 0.5, -0.1], [0.2, 0.5, 2.0, -2.0], [0.0, -0.1, -2.0, 4.0]]
    )
    intra, inter = lab.bias_rankings(Z)
    np.testing.assert_array_equal(intra, [1, 2, 0, 3])  # ascending diagonal
    np.testing.assert_array_equal(inter, [[1, 2, 3], [0, 2, 3], [3, 1, 0], [2, 1, 0]])
    # per-sample normalisation: counts make class 3 (diag 4, n = 8) the fastest
    intra_n, _ = lab.bias_rankings(Z, counts=[1, 1, 1, 8])
    assert intra_n[0] == 3


# --------------------------------------------------------------------------- pseudo-labellers
from ntkbook.tasks import pseudo_labels as pl  # noqa: E402


def test_match_clusters_recovers_permutation(rng):
    # clusters that are a relabelled copy of the truth: Hungarian matching must undo the
    # permutation exactly (the reference is the permutation itself)
    y = rng.integers(0, 5, 200)
    perm = rng.permutation(5)
    clusters = perm[y]
    mapping = pl.match_clusters(clusters, y, 5)
    np.testing.assert_array_equal(mapping[clusters], y)
    np.testing.assert_array_equal(mapping[perm], np.arange(5))


@pytest.mark.parametrize("labeller", [pl.kmeans_labels, pl.propagation_labels, pl.weak_classifier_labels])
def test_pseudo_labellers_on_separated_blobs(rng, labeller):
    # four far-apart Gaussian blobs: each labeller must recover every label from 10 %
    # of them (the truth is the reference); labelled samples keep their labels.
    centres = 20.0 * np.eye(4, 6)
    y = rng.permutation(np.arange(200) % 4)
    x = centres[y] + rng.standard_normal((200, 6))
    known = pl.known_subset(y, 0.1, seed=1)
    assert len(known) == 20 and set(y[known]) == {0, 1, 2, 3}
    out = labeller(x, y, known, 4)
    np.testing.assert_array_equal(out, y)
