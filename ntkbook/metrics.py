"""Scores for comparing rankings and for judging how well a score finds noisy labels.

* :func:`rbo` -- rank-biased overlap (Webber, Moffat and Zobel, 2010) between two
  rankings, through the ``rbo`` package.  We use its *extrapolated* estimate
  ``RankingSimilarity(a, b).rbo_ext(p)`` (eq. 32 of the RBO paper): for two
  identical finite lists it is exactly 1, whereas the package's truncated
  ``.rbo(p)`` is below 1 for short lists, and its default ``p=1`` is average
  overlap, not RBO.
* :func:`noise_found_at` -- share of the mislabeled samples found when a person
  checks the ``frac`` highest-scoring samples (the top rows of the paper's Table 4).
* :func:`roc_auc` -- area under the ROC curve of a score that should be larger on
  mislabeled samples (Table 4's bottom rows), via the Mann-Whitney rank statistic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats

from . import _checks

__all__ = ["rbo", "noise_found_at", "roc_auc"]


def _ranking(values: Sequence, name: str) -> list:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of items (a ranking); got {type(values).__name__}.")
    items = np.asarray(values).tolist() if isinstance(values, np.ndarray) else list(values)
    if not items:
        raise ValueError(f"{name} is empty; a ranking needs at least one item.")
    if any(isinstance(v, float) and not np.isfinite(v) for v in items):
        raise ValueError(f"{name} holds NaN or inf; rank items must be comparable labels.")
    if len(set(items)) != len(items):
        raise ValueError(f"{name} must list each item once (a ranking); it has duplicates.")
    return items


def rbo(a: Sequence, b: Sequence, p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap of two rankings (best item first).

    Parameters
    ----------
    a, b
        Rankings as sequences of hashable items, best first; items may differ
        between the lists and lists may differ in length.
    p
        Persistence in (0, 1): the weight of depth ``d`` is proportional to
        ``p**(d-1)``, so smaller ``p`` concentrates on the top of the lists.

    Returns
    -------
    float
        In [0, 1]; 1 for identical rankings.

    Raises
    ------
    ValueError
        ``p`` outside (0, 1), or a list with repeated items.
    """
    import rbo as _rbo

    p = _checks.real_scalar(p, "p", low=0.0, high=1.0, low_open=True, high_open=True)
    a, b = _ranking(a, "a"), _ranking(b, "b")
    return float(_rbo.RankingSimilarity(a, b).rbo_ext(p=p))


def _noisy_mask(noisy_idx, n: int) -> np.ndarray:
    idx = _checks.indices(noisy_idx, "noisy_idx", n)
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return mask


def noise_found_at(score, noisy_idx, frac: float = 0.2) -> float:
    """Share of noisy samples among the ``ceil(frac * N)`` highest scores.

    Parameters
    ----------
    score : array, shape (N,)
        Larger = more suspicious.  Ties are broken by sample index (stable sort).
    noisy_idx : array of int, shape (M,)
        Indices of the truly mislabeled samples (M >= 1).
    frac
        Share of the data a person checks, in [0, 1].

    Returns
    -------
    float
        ``|top-k ∩ noisy| / M`` in [0, 1] (a recall; with ``frac`` equal to the
        noise rate, a perfect score gives 1).
    """
    score = _checks.nonempty(_checks.finite_array(score, "score", ndim=1, dtype=np.float64), "score")
    mask = _noisy_mask(noisy_idx, len(score))
    if not mask.any():
        raise ValueError("noisy_idx is empty: there is no noise to find.")
    frac = _checks.fraction(frac, "frac")
    k = int(np.ceil(frac * len(score) - 1e-9))
    top = np.argsort(-score, kind="stable")[:k]
    return float(mask[top].sum() / mask.sum())


def roc_auc(score, noisy_idx) -> float:
    """ROC AUC of ``score`` for telling mislabeled samples (positives) from clean ones.

    Computed as the Mann-Whitney statistic: the probability that a random noisy
    sample scores higher than a random clean one, ties counting one half
    (average ranks), which equals the trapezoidal area under the ROC curve.

    Parameters
    ----------
    score : array, shape (N,)
    noisy_idx : array of int, shape (M,), 1 <= M < N

    Returns
    -------
    float in [0, 1]
    """
    score = _checks.nonempty(_checks.finite_array(score, "score", ndim=1, dtype=np.float64), "score")
    mask = _noisy_mask(noisy_idx, len(score))
    n_pos, n_neg = int(mask.sum()), int((~mask).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"roc_auc needs both noisy and clean samples; got {n_pos} noisy and {n_neg} clean.")
    ranks = scipy.stats.rankdata(score)  # average ranks for ties
    u = ranks[mask].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
