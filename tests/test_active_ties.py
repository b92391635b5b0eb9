"""``active.top_k`` breaks ties by index, lowest first (issue 25's planted bug ``top_k`` tie order).

Ties are common in acquisition: equal predictive entropies (identical or duplicated pool
samples, saturated softmax outputs), or scores of -inf for excluded candidates.  An acquisition
round must not depend on how the sort treats equal keys, so :func:`ntkbook.active.top_k` picks,
among equal scores, the lowest indices first (``np.argsort(-scores, kind="stable")``).  A sort
that reverses an ascending order instead picks the *highest* indices among ties -- the same
scores, another acquisition -- and no test without ties can see it.

The reference is a brute force independent of NumPy's sort: Python's ``sorted`` on the keys
``(-score, index)``, which defines the order completely.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import active

pytestmark = pytest.mark.core


def _reference(scores: np.ndarray, k: int, exclude=()) -> list[int]:
    """The ``k`` best indices by ``(-score, index)``, skipping ``exclude`` (plain Python)."""
    skip = set(int(i) for i in exclude)
    keep = [i for i in range(len(scores)) if i not in skip]
    return sorted(keep, key=lambda i: (-float(scores[i]), i))[:k]


def test_ties_go_to_the_lowest_index():
    s = np.array([0.5, 0.9, 0.5, 0.9, 0.5])
    assert active.top_k(s, 1).tolist() == [1]
    assert active.top_k(s, 3).tolist() == [1, 3, 0]
    assert active.top_k(s, 5).tolist() == [1, 3, 0, 2, 4]
    # the excluded index leaves its tie group; the rest keep index order
    assert active.top_k(s, 3, exclude=[1, 0]).tolist() == [3, 2, 4]
    # all equal: the first k indices
    assert active.top_k(np.zeros(6), 4).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", range(5))
def test_random_scores_with_many_ties_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 40
    s = rng.integers(0, 5, size=n).astype(np.float64)  # 5 values among 40: every group ties
    for k in (1, 7, 20):
        assert active.top_k(s, k).tolist() == _reference(s, k)
        exclude = rng.choice(n, size=10, replace=False)
        assert active.top_k(s, k, exclude=exclude).tolist() == _reference(s, k, exclude)
