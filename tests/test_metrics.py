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
    score = np.round(rng.standard_normal(200), 1)      # rounding creates ties
    noisy = rng.choice(200, size=40, replace=False)
    score[noisy] += 0.7
    truth = np.zeros(200, dtype=int)
    truth[noisy] = 1
    # same statistic two ways (ranks vs trapezoids of the ROC curve): equal to rounding
    assert metrics.roc_auc(score, noisy) == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
