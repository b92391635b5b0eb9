"""Tests of ntkbook.metrics: RBO, noise found at k, ROC AUC."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from ntkbook import metrics

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


def test_rbo_identical_and_hand_computed():
    # extrapolated RBO of identical lists is exactly 1 (the truncated .rbo() would not be)
    assert metrics.rbo(list("abcdefg"), list("abcdefg"), p=0.9) == pytest.approx(1.0, abs=1e-12)
    # [1,2,3] vs [1,3,2]: agreements A1 = 1, A2 = 1/2, A3 = 1, so
    # RBO_ext = (1-p)(A1 + p A2 + p^2 A3) + A3 p^3 = 0.1 (1 + 0.45 + 0.81) + 0.729 = 0.955
    assert metrics.rbo([1, 2, 3], [1, 3, 2], p=0.9) == pytest.approx(0.955, abs=1e-12)
    # disjoint rankings share nothing
    assert metrics.rbo([1, 2], [3, 4], p=0.9) == pytest.approx(0.0, abs=1e-12)


def test_noise_found_at_hand_case():
    score = np.array([0.9, 0.1, 0.8, 0.7, 0.2, 0.3, 0.6, 0.5, 0.4, 0.0])
    noisy = [0, 3, 9]
    # top 20% = 2 samples: indices 0 and 2 -> 1 of 3 noisy found
    assert metrics.noise_found_at(score, noisy, 0.2) == pytest.approx(1 / 3)
    # top 40% = 0, 2, 3, 6 -> 2 of 3
    assert metrics.noise_found_at(score, noisy, 0.4) == pytest.approx(2 / 3)
    assert metrics.noise_found_at(score, noisy, 1.0) == pytest.approx(1.0)


def test_roc_auc_matches_sklearn(rng):
    score = np.round(rng.standard_normal(200), 1)  # rounding creates ties
    noisy = rng.choice(200, size=40, replace=False)
    score[noisy] += 0.7
    truth = np.zeros(200, dtype=int)
    truth[noisy] = 1
    # same statistic two ways (ranks vs trapezoids of the ROC curve): equal to rounding
    assert metrics.roc_auc(score, noisy) == pytest.approx(roc_auc_score(truth, score), abs=1e-12)


def _rbo_ext_brute_force(a, b, p):
    """Eq. 32 of Webber, Moffat and Zobel (2010), written from the paper with explicit set
    intersections: S the shorter list (length s), L the longer (length l), X_d = |S_:d & L_:d|
    (for d > s, S is cut at s), A_d = X_d / d,

        RBO_ext = (1-p)/p [sum_{d=1}^{l} X_d p^d / d + sum_{d=s+1}^{l} X_s (d-s) p^d / (s d)]
                  + ((X_l - X_s)/l + X_s/s) p^l
    """
    S, L = (list(a), list(b)) if len(a) <= len(b) else (list(b), list(a))
    s, l = len(S), len(L)
    X = {d: len(set(S[: min(d, s)]) & set(L[:d])) for d in range(1, l + 1)}
    total = sum(X[d] / d * p**d for d in range(1, l + 1))
    total += sum(X[s] * (d - s) / (s * d) * p**d for d in range(s + 1, l + 1))
    return (1 - p) / p * total + ((X[l] - X[s]) / l + X[s] / s) * p**l


@pytest.mark.parametrize("p", [0.9, 0.7, 0.3])
def test_rbo_matches_eq32_on_asymmetric_cases(rng, p):
    """Lists where the agreement is *not* symmetric in depth, so p and 1 - p give different
    values (the hand case above is symmetric: 0.955 for p = 0.9 and p = 0.1 alike).  The
    brute force and the rbo package sum the same terms in another order: 1e-12."""
    cases = [
        ([1, 2, 3, 4, 5], [2, 1, 5, 4, 3]),  # equal length
        ([1, 2, 3, 4, 5, 6, 7], [7, 1, 2]),  # uneven, shorter second
        (list(rng.permutation(12)), list(rng.permutation(12))),
        (list(rng.permutation(15)[:9]), list(rng.permutation(15))),
    ]
    for a, b in cases:
        ref = _rbo_ext_brute_force(a, b, p)
        assert metrics.rbo(a, b, p=p) == pytest.approx(ref, abs=1e-12)
        if p != 0.5:  # the reference itself tells p from 1 - p on these lists
            assert abs(ref - _rbo_ext_brute_force(a, b, 1 - p)) > 1e-3
    # top-weighted: agreeing at the top beats agreeing at the bottom, the more so the smaller p
    top = metrics.rbo([1, 2, 3, 4], [1, 2, 4, 3], p=p)
    bottom = metrics.rbo([1, 2, 3, 4], [2, 1, 3, 4], p=p)
    assert top > bottom


def test_noise_found_at_checks_ceil_of_frac_n():
    """frac * N = 2.5 -> the top ceil(2.5) = 3 samples are checked; the third one is noisy,
    so floor (2 samples) would find 1 of 2 and ceil finds 2 of 2."""
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.0, 0.2, 0.3, 0.4, 0.5, 0.6])
    noisy = [0, 2]
    assert metrics.noise_found_at(score, noisy, 0.25) == 1.0
    assert metrics.noise_found_at(score, noisy, 0.2) == 0.5  # exactly 2: no rounding
    # brute force over fractions: the share found among the ceil(frac N) highest scores
    order = sorted(range(10), key=lambda i: (-score[i], i))
    for frac in np.linspace(0.0, 1.0, 41):
        k = int(np.ceil(round(frac * 10, 9)))
        assert metrics.noise_found_at(score, noisy, frac) == len(set(order[:k]) & set(noisy)) / 2


def test_noise_found_at_breaks_ties_by_index():
    """Equal scores: the lower sample index is checked first (stable order), documented."""
    score = np.zeros(6)
    assert metrics.noise_found_at(score, [0], 1 / 6) == 1.0
    assert metrics.noise_found_at(score, [5], 1 / 6) == 0.0
    assert metrics.noise_found_at(score, [1], 2 / 6) == 1.0
    score = np.array([1.0, 0.5, 0.5, 0.5, 0.0])
    assert metrics.noise_found_at(score, [1], 0.4) == 1.0  # top 2: index 0, then index 1
    assert metrics.noise_found_at(score, [3], 0.4) == 0.0
