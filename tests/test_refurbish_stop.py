"""The automatic stop of ``refurbish_labels`` against an independent reference (issue 25).

The rule: stop at the first step whose chosen flip would not lower L (eq. 10) at all. The
reference re-derives every quantity from scratch: a dense inverse of H, the autodiff gradient of
eq. 13 for the flip's choice, and L recomputed from the new labels' Z = Y^T A Y (no rank-two
update). A rule that demands a *relative* decrease (say 1e-3) stops earlier, at the first flip
that lowers L by less than that; the test asserts that such small but real decreases happen on
this problem and are taken.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from _references import eq13, grad_eq13

from ntkbook import closed_form, data
from ntkbook.tasks import refurbish as rf

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


def _L(y, A, K):
    """Eq. 10 from scratch: Z of the one-hot labels by a dense product, then the two sums."""
    return float(eq13(jnp.asarray(np.eye(K)[y]), A))


def _reference_auto(H, y0, score_against):
    """Algorithm 1 with the stop rule written from its definition, every step recomputed.

    Returns the list of applied (row, class) flips and L after each (L[0] before any flip).
    """
    A = jnp.asarray(np.linalg.inv(H))
    K = int(y0.max()) + 1
    y = y0.copy()
    flips, Ls = [], [_L(y, A, K)]
    for _ in range(len(y)):
        neg = -np.asarray(grad_eq13(jnp.asarray(np.eye(K)[y]), A))
        a = y0 if score_against == "initial" else y
        d = neg.max(axis=1) - neg[np.arange(len(y)), a]
        d[np.bincount(y, minlength=K)[y] <= 2] = -np.inf
        I = int(np.argmax(d))
        if not d[I] > 0:
            break
        J = int(np.argmax(neg[I]))
        y_new = y.copy()
        y_new[I] = J
        L_new = _L(y_new, A, K)
        if not L_new < Ls[-1]:  # the rule: any decrease, however small, is taken
            break
        y = y_new
        flips.append((I, J))
        Ls.append(L_new)
    return flips, np.asarray(Ls)


@pytest.fixture(scope="module")
def digits_noisy():
    """eq.-4 Gram of 300 unit-norm digits (ridge 1e-3) and 30 % symmetric label noise.

    Chosen so the run takes a flip lowering L by less than 1e-3 relative (measured: 6.0e-4 with
    the current reading, 6.7e-4 with the printed one; at 150 digits and 20 % the smallest
    decrease is 8e-3 and a 1e-3 rule would go unnoticed).
    """
    ds = data.load("digits", n=300, seed=3)
    x = data.normalize(ds.x.reshape(len(ds.x), -1)).astype(np.float64)
    H = np.asarray(closed_form.relu_ntk_eq4(x)) + 1e-3 * np.eye(len(x))
    y_noisy, _ = data.add_label_noise(ds.y, 0.3, 10, seed=4)
    return H, np.asarray(y_noisy, dtype=np.int64)


@pytest.mark.parametrize("score_against", ["current", "initial"])
def test_auto_stop_matches_reference_and_takes_small_decreases(digits_noisy, score_against):
    H, y = digits_noisy
    res = rf.refurbish_labels(H, y, score_against=score_against)  # stop="auto"
    flips, Ls = _reference_auto(H, y, score_against)
    # Same flips (exact: the gaps between scores are far above rounding) and the same stop.
    assert list(zip(res.index.tolist(), res.new.tolist())) == flips
    assert res.stop_reason in ("no decrease", "stationary")
    # The package's L path equals the recomputed one to rounding (1e-10 relative; measured ~1e-13).
    np.testing.assert_allclose(res.L, Ls, rtol=1e-10)
    # Every applied flip lowers L, and the run takes flips whose relative decrease is below 1e-3:
    # a stop rule demanding that much would have stopped at the first of them (mutant guard).
    rel = -np.diff(Ls) / np.abs(Ls[:-1])
    assert np.all(rel > 0)
    assert np.any(rel < 1e-3), rel.min()
    # The rejected next flip would not lower L (next_dL >= 0), or nothing was left to try.
    if res.stop_reason == "no decrease":
        assert res.next_dL >= 0.0
