"""The one-shot multi-class Complexity-Gap score against its definition (delete a sample, re-solve)."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import closed_form, data
from ntkbook.tasks import multiclass_complexity_gap


def _brute_force(H, y, k):
    """score(i) = sum_k [y_k^T H^-1 y_k - y_k,-i^T H_-i^-1 y_k,-i], by deleting row/column i."""
    Y = np.eye(k)[y]
    full = np.trace(Y.T @ np.linalg.solve(H, Y))
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        Yk = Y[keep]
        out[i] = full - np.trace(Yk.T @ np.linalg.solve(H[np.ix_(keep, keep)], Yk))
    return out


def test_multiclass_gap_equals_brute_force(rng):
    x = data.normalize(rng.standard_normal((40, 10)))
    H = np.asarray(closed_form.relu_ntk_eq4(x))
    y = np.arange(40) % 4
    # a well-conditioned 40x40 system in float64: the Schur-complement route and 40
    # fresh solves agree to ~1e-12 relative; 1e-8 leaves room for other BLAS builds
    np.testing.assert_allclose(multiclass_complexity_gap(H, y), _brute_force(H, y, 4),
                               rtol=1e-8, atol=1e-10)


def test_multiclass_gap_flags_flipped_labels(rng):
    # two tight, well-separated clusters: the 3 flipped samples must get the 3 largest scores
    centres = np.zeros((2, 20))
    centres[0, 0] = centres[1, 1] = 3.0
    y = np.arange(30) % 2
    x = data.normalize(centres[y] + 0.1 * rng.standard_normal((30, 20)))
    y_noisy, flipped = data.add_label_noise(y, 0.1, 2, seed=1)
    score = multiclass_complexity_gap(np.asarray(closed_form.relu_ntk_eq4(x)), y_noisy)
    assert set(np.argsort(score)[-len(flipped):]) == set(flipped.tolist())


def test_multiclass_gap_bad_input(rng):
    x = data.normalize(rng.standard_normal((6, 3)))
    H = np.asarray(closed_form.relu_ntk_eq4(x))
    with pytest.raises(ValueError, match="square"):
        multiclass_complexity_gap(H[:, :5], [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="no sample of class"):
        multiclass_complexity_gap(H, [0, 0, 0, 2, 2, 2])
    with pytest.raises(ValueError, match="y"):
        multiclass_complexity_gap(H, [0, 1, 0])
