"""ntkbook.calibration against brute-force loops over the points."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import calibration

pytestmark = pytest.mark.core


def test_summary_against_loops(rng):
    p = rng.normal(size=(50, 4))
    y = rng.integers(0, 4, size=50)
    s = calibration.probability_summary(p, y)
    acc = sum(int(np.argmax(p[i]) == y[i]) for i in range(50)) / 50
    brier = sum(sum((p[i, k] - (k == y[i])) ** 2 for k in range(4)) for i in range(50)) / 50
    dev = sum(abs(sum(p[i]) - 1) for i in range(50)) / 50
    conf = sum(max(p[i]) for i in range(50)) / 50
    assert s["accuracy"] == acc
    np.testing.assert_allclose(
        [s["brier"], s["mean_abs_sum_minus_1"], s["mean_confidence"]], [brier, dev, conf], rtol=1e-12
    )


def test_reliability_equal_count_bins(rng):
    p = rng.dirichlet(np.ones(3), size=40)
    y = rng.integers(0, 3, size=40)
    conf, acc = calibration.reliability(p, y, n_bins=4)
    order = np.argsort(p.max(1))  # 40 distinct confidences: 10 per bin in order
    for b in range(4):
        idx = order[10 * b : 10 * (b + 1)]
        assert conf[b] == pytest.approx(p.max(1)[idx].mean(), rel=1e-12)
        assert acc[b] == pytest.approx(np.mean(p[idx].argmax(1) == y[idx]), rel=1e-12)


def test_bad_inputs(rng):
    with pytest.raises(ValueError, match="labels"):
        calibration.probability_summary(np.ones((3, 2)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="n_bins"):
        calibration.reliability(np.eye(3), np.arange(3), n_bins=5)
