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
    np.testing.assert_allclose(multiclass_complexity_gap(H, y), _brute_force(H, y, 4), rtol=1e-8, atol=1e-10)


def test_multiclass_gap_flags_flipped_labels(rng):
    # two tight, well-separated clusters: the 3 flipped samples must get the 3 largest scores
    centres = np.zeros((2, 20))
    centres[0, 0] = centres[1, 1] = 3.0
    y = np.arange(30) % 2
    x = data.normalize(centres[y] + 0.1 * rng.standard_normal((30, 20)))
    y_noisy, flipped = data.add_label_noise(y, 0.1, 2, seed=1)
    score = multiclass_complexity_gap(np.asarray(closed_form.relu_ntk_eq4(x)), y_noisy)
    assert set(np.argsort(score)[-len(flipped) :]) == set(flipped.tolist())


def test_multiclass_gap_bad_input(rng):
    x = data.normalize(rng.standard_normal((6, 3)))
    H = np.asarray(closed_form.relu_ntk_eq4(x))
    with pytest.raises(ValueError, match="square"):
        multiclass_complexity_gap(H[:, :5], [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="no sample of class"):
        multiclass_complexity_gap(H, [0, 0, 0, 2, 2, 2])
    with pytest.raises(ValueError, match="y"):
        multiclass_complexity_gap(H, [0, 1, 0])


def test_paper_convention_mlp_has_the_papers_hidden_layers(key):
    import jax.numpy as jnp

    from ntkbook import archs
    from ntkbook.tasks import paper_convention_mlp

    def weight_matrices(arch):
        _, params = arch.init_fn(key, (-1, 6))
        return sum(1 for layer in params if layer and jnp.ndim(layer[0]) == 2)

    # the paper's 2-L / 10-L: 2 / 10 hidden layers + readout; the zoo's have one layer fewer
    assert weight_matrices(paper_convention_mlp("2-L (2 hidden)", width=8)) == 3
    assert weight_matrices(paper_convention_mlp("10-L (10 hidden)", width=8)) == 11
    assert weight_matrices(archs.get("2-L", width=8)) == 2
    with pytest.raises(ValueError, match="expected one of"):
        paper_convention_mlp("3-L")
