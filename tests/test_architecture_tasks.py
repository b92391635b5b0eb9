"""Tests of kernel-PCA separation, architecture ranking and Complexity-Gap (ntkbook.tasks)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance
from _references import brute_force_gap

from ntkbook import closed_form, data
from ntkbook.tasks import (
    binary_complexity_gap,
    complexity_gap,
    kpca_projection,
    kpca_separation,
    rank_architectures,
)

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


# ---------------------------------------------------------------- kernel PCA separation


def _square():
    """Four points with known distances: class 0 at x=-1, class 1 at x=+1, y = +-0.5."""
    X = np.array([[-1.0, 0.5], [-1.0, -0.5], [1.0, 0.5], [1.0, -0.5]])
    return X @ X.T, np.array([0, 0, 1, 1])


def test_kpca_separation_hand_computed_square():
    H, y = _square()
    # both components (the data are already centred): intra pairs have distance 1, inter pairs
    # 2, 2, sqrt(5), sqrt(5) -> ratio = (4 + 2 sqrt 5)/4 / 1 exactly
    s = kpca_separation(H, y, n_components=2)
    assert s.ratio == pytest.approx(1 + np.sqrt(5) / 2, rel=1e-12)
    # the low component is the y-axis (variance 0.25 < 1): coordinates +-0.5, so intra
    # distances are 1, 1 and inter distances 0, 1, 1, 0 -> ratio 0.5, std ratio 0.5 / 0
    low = kpca_separation(H, y, n_components=1, which="low")
    assert low.ratio == pytest.approx(0.5, rel=1e-12)
    assert low.mean_intra == pytest.approx(1.0, rel=1e-12)
    assert low.std_intra == pytest.approx(0.0, abs=1e-12) and low.ratio_std == np.inf
    # the high component is the x-axis: classes collapse to points, intra distance 0 -> inf
    high = kpca_separation(H, y, n_components=1, which="high")
    assert high.mean_inter == pytest.approx(2.0, rel=1e-12) and high.ratio == np.inf


def test_kpca_separation_matches_linear_pca(rng):
    """Linear kernel H = X X^T: centred kernel PCA scores = PCA scores of the centred X."""
    n, d = 40, 6
    y = np.arange(n) % 3
    X = rng.standard_normal((n, d)) * np.array([3.0, 2.5, 2.0, 1.0, 0.5, 0.2]) + y[:, None]
    Xc = X - X.mean(axis=0)
    _, sv, vt = np.linalg.svd(Xc, full_matrices=False)  # singular values descending
    for which, cols in (("low", [3, 4, 5]), ("high", [0, 1, 2])):
        Z = Xc @ vt[cols].T
        d_all = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(Z))
        same = y[:, None] == y[None, :]
        off = ~np.eye(n, dtype=bool)
        ref = d_all[~same].mean() / d_all[same & off].mean()
        ref_std = d_all[~same].std() / d_all[same & off].std()
        s = kpca_separation(X @ X.T, y, n_components=3, which=which)
        # eigh vs SVD of the same matrix: agree to rounding (1e-9 leaves room for eigenvector
        # round-off in the smallest components)
        assert s.ratio == pytest.approx(ref, rel=1e-9)
        assert s.ratio_std == pytest.approx(ref_std, rel=1e-9)
        np.testing.assert_allclose(np.sort(s.eigenvalues), np.sort(sv[cols] ** 2), rtol=1e-9)


def test_kpca_projection_drops_the_centring_null_direction(rng):
    x = data.normalize(rng.standard_normal((12, 5)))
    H = closed_form.relu_ntk_eq4(x)  # positive definite on the sphere
    lam, Z = kpca_projection(H, n_components=11, which="low")
    assert lam[0] > 1e-10 * lam[-1]  # the constant vector's ~0 eigenvalue is gone
    np.testing.assert_allclose(Z.sum(axis=0), 0.0, atol=1e-10)  # centred scores
    with pytest.raises(ValueError, match="only 11 eigenvalues"):
        kpca_projection(H, n_components=12)


def test_ratio_is_scale_invariant_and_separated_classes_score_high(rng):
    y = np.repeat([0, 1, 2, 3], 10)
    tight = data.normalize(np.eye(4)[y] * 5 + 0.1 * rng.standard_normal((40, 4)))
    loose = data.normalize(np.eye(4)[y] * 5 + 3.0 * rng.standard_normal((40, 4)))
    Ht, Hl = closed_form.relu_ntk_eq4(tight), closed_form.relu_ntk_eq4(loose)
    a = kpca_separation(Ht, y, which="high")
    assert kpca_separation(7.0 * Ht, y, which="high").ratio == pytest.approx(a.ratio, rel=1e-10)
    assert a.ratio > kpca_separation(Hl, y, which="high").ratio > 1.0
    table = rank_architectures({"loose": Hl, "tight": Ht}, y, which="high")
    assert list(table.index) == ["tight", "loose"]
    assert table.loc["tight", "ratio"] == pytest.approx(a.ratio, rel=1e-12)
    np.testing.assert_array_equal(table["rank"], [1, 2])


# ---------------------------------------------------------------- Complexity-Gap


def test_binary_gap_equals_brute_force(rng):
    x = data.normalize(rng.standard_normal((30, 8)))
    H = np.asarray(closed_form.relu_ntk_eq4(x))  # NumPy: the references index it in loops
    y_pm = np.where(rng.random(30) < 0.5, 1.0, -1.0)
    # a well-conditioned 30x30 system in float64: both routes agree to ~1e-12 relative
    np.testing.assert_allclose(
        binary_complexity_gap(H, y_pm), brute_force_gap(H, y_pm), rtol=1e-8, atol=1e-10
    )


def _protocol_reference(H, y, c, negatives):
    """CG of the members of class c in one binary problem, written from the paper's description.

    Class c is +1, the given ``negatives`` (indices of other classes) are -1, and the gap of
    member i is ``y^T H^{-1} y - y_{-i}^T H_{-i}^{-1} y_{-i}``, sample i deleted and the
    problem solved again (:func:`brute_force_gap`).  Returns {member index: gap}.
    """
    pos = np.flatnonzero(y == c)
    idx = np.concatenate([pos, np.asarray(negatives, dtype=int)])
    y_pm = np.r_[np.ones(len(pos)), -np.ones(len(negatives))]
    return dict(zip(pos.tolist(), brute_force_gap(H[np.ix_(idx, idx)], y_pm)[: len(pos)]))


def test_complexity_gap_with_whole_rest_equals_one_problem_per_class(rng):
    """When the subsample is the whole rest, the protocol has no randomness left: one binary
    problem per class (class c = +1, every other sample = -1) and each sample's gap in its own
    class's problem, computed by deleting the sample and solving again."""
    n, k = 30, 3
    y = np.r_[np.zeros(6, int), np.ones(10, int), np.full(14, 2)]  # unequal classes
    x = data.normalize(np.eye(k, 10)[y] + 0.8 * rng.standard_normal((n, 10)))
    H = np.asarray(closed_form.relu_ntk_eq4(x))  # NumPy: the references index it in loops
    ref = np.empty(n)
    for c in range(k):
        for i, gap in _protocol_reference(H, y, c, np.flatnonzero(y != c)).items():
            ref[i] = gap
    # unbalance_ratio 5 asks for 5 x |class| negatives, more than the rest holds for every
    # class (30 >= 24, 50 >= 20, 70 >= 16), so the cap takes the whole rest; two repeats of a
    # deterministic problem average to the same value.  Both routes solve 30x30 well-conditioned
    # float64 systems (Schur-complement identity vs deletion): agreement to ~1e-12 relative.
    got = complexity_gap(H, y, unbalance_ratio=5.0, repeats=2, seed=3)
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-12)


def test_complexity_gap_subsample_is_one_equal_size_draw_per_class(rng):
    """With the default ratio 1 the negatives of class c are a random subset of the rest with
    as many samples as class c.  Without reproducing the random draw, check every possible
    draw: the scores of all members of class c must equal the brute-force gaps of one and the
    same size-|c| subset of the rest (and no subset of another size)."""
    from itertools import combinations

    n, k = 9, 3
    y = np.arange(n) % k  # 3 classes of 3
    x = data.normalize(np.eye(k, 6)[y] + 0.7 * rng.standard_normal((n, 6)))
    H = np.asarray(closed_form.relu_ntk_eq4(x))  # NumPy: the references index it in loops
    got = complexity_gap(H, y, seed=11)
    for c in range(k):
        pos, rest = np.flatnonzero(y == c), np.flatnonzero(y != c)
        matches = {}
        for size in range(1, len(rest) + 1):
            for neg in combinations(rest.tolist(), size):
                ref = _protocol_reference(H, y, c, neg)
                # 9x9 float64 solves: the draw that was taken agrees to ~1e-13; distinct draws
                # differ by O(0.01-1), far above the 1e-8 tolerance
                if np.allclose([ref[i] for i in pos], got[pos], rtol=1e-8, atol=1e-12):
                    matches.setdefault(size, []).append(neg)
        assert list(matches) == [len(pos)], (c, matches)
        assert len(matches[len(pos)]) == 1, (c, matches)


def test_complexity_gap_flags_flipped_labels(rng):
    """Well-separated clusters with 5 flipped labels: the flipped ones get the largest gaps."""
    n, k = 90, 3
    y = np.arange(n) % k
    x = data.normalize(4 * np.eye(k, 12)[y] + 0.5 * rng.standard_normal((n, 12)))
    y_noisy, flipped = data.add_label_noise(y, 5 / n, k, seed=1)
    cg = complexity_gap(closed_form.relu_ntk_eq4(x), y_noisy)
    assert set(np.argsort(-cg)[:5]) == set(flipped)
