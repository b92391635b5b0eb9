"""ntkbook.acquisition: one round of each rule against a brute-force reference.

The look-ahead rules are checked against a greedy loop written here that, for every pick,
refits kernel regression on the enlarged labelled set from scratch (``scipy.linalg.solve``, no
rank-one update) and scores every candidate by retraining once per candidate and label; the
picks must agree exactly (scores differ by round-off ~1e-12, far below the gaps between them).
Max-entropy is checked against ``scipy.stats.entropy`` and the random rule against its seed.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats

from ntkbook import acquisition

pytestmark = pytest.mark.core

P, O, N_LAB, T, REG = 36, 3, 8, 0.5, 1e-2


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(P, 5))
    W = rng.normal(size=(5, 4 * P))
    phi = np.maximum(x @ W, 0.0) / np.sqrt(4 * P)
    K = phi @ phi.T
    f0 = 0.3 * rng.normal(size=(P, O))
    Y = np.eye(O)[rng.integers(0, O, size=P)]
    return K, f0, Y, np.arange(N_LAB)


def _fit(K, f0, Y, lab, ridge):
    A = K[np.ix_(lab, lab)] + ridge * np.eye(len(lab))
    return f0 + K[:, lab] @ scipy.linalg.solve(A, Y[lab] - f0[lab], assume_a="pos")


def _brute_force(K, f0, Y, lab, k, loss):
    lab = list(lab)
    ridge = REG * np.trace(K[np.ix_(lab, lab)]) / len(lab)
    picks = []
    for _ in range(k):
        f_now = _fit(K, f0, Y, lab + picks, ridge)
        cand = [c for c in range(P) if c not in lab and c not in picks]
        q = scipy.special.softmax(f_now[cand] / T, axis=1)
        scores = []
        for j, c in enumerate(cand):
            s = 0.0
            for y in range(O):
                Yc = Y.copy()
                Yc[c] = np.eye(O)[y]
                new = _fit(K, f0, Yc, lab + picks + [c], ridge)
                if loss:
                    pseudo = f_now.argmax(1)
                    ce = lambda f, pseudo=pseudo: (
                        -scipy.special.log_softmax(f / T, axis=1)[np.arange(P), pseudo]
                    )
                    s += q[j, y] * np.mean(np.abs(ce(new) - ce(f_now)))
                else:
                    s += q[j, y] * np.mean(np.sum((new - f_now) ** 2, axis=1))
            scores.append(s)
        picks.append(cand[int(np.argmax(scores))])
    return picks


@pytest.mark.parametrize("strategy", ["look-ahead (output)", "look-ahead (loss)"])
def test_lookahead_picks_match_brute_force(problem, strategy):
    K, f0, Y, lab = problem
    got = acquisition.acquire(strategy, f0, Y, lab, 3, K=K, reg=REG, temperature=T, seed=0)
    want = _brute_force(K, f0, Y, lab, 3, loss=strategy.endswith("(loss)"))
    assert list(got) == want


def test_entropy_and_random(problem):
    K, f0, Y, lab = problem
    pool = np.arange(N_LAB, P)
    got = acquisition.acquire("max-entropy", f0, Y, lab, 4, reg=REG, temperature=T, seed=0)
    ent = scipy.stats.entropy(scipy.special.softmax(f0[pool] / T, axis=1), axis=1)
    assert set(got) == set(pool[np.argsort(-ent)[:4]])
    a = acquisition.acquire("random", f0, Y, lab, 4, reg=REG, temperature=T, seed=7)
    b = acquisition.acquire("random", f0, Y, lab, 4, reg=REG, temperature=T, seed=7)
    assert list(a) == list(b) and set(a) <= set(pool) and len(set(a)) == 4


def test_timings_recorded(problem):
    K, f0, Y, lab = problem
    timings = []
    acquisition.acquire(
        "look-ahead (output)", f0, Y, lab, 2, K=K, reg=REG, temperature=T, seed=0, timings=timings
    )
    assert len(timings) == 2 and all(t["same_pick"] for t in timings)


def test_bad_inputs(problem):
    K, f0, Y, lab = problem
    with pytest.raises(ValueError, match="strategy"):
        acquisition.acquire("greedy", f0, Y, lab, 1, reg=REG, temperature=T, seed=0)
    with pytest.raises(ValueError, match="needs the kernel"):
        acquisition.acquire("look-ahead (loss)", f0, Y, lab, 1, reg=REG, temperature=T, seed=0)
    with pytest.raises(ValueError, match="per_round"):
        acquisition.acquire("random", f0, Y, lab, P, reg=REG, temperature=T, seed=0)
    with pytest.raises(ValueError, match="shape of f0"):
        acquisition.acquire("random", f0, Y[:, :2], lab, 1, reg=REG, temperature=T, seed=0)
