"""Table 7 of DeOliveira et al.: score the Gram-label matrix's bias predictions against training.

Chapter 13 reads two rankings off ``Z = Y^T (H^inf)^{-1} Y``
(:func:`ntkbook.tasks.labels.bias_rankings`) and compares them with the rankings a
trained network shows, by rank-biased overlap (:func:`ntkbook.metrics.rbo`):

* :func:`trained_rankings` -- the "true" intra-class ranking (classes by training
  accuracy averaged over checkpoint epochs, highest first) and inter-class
  rankings (for class k, the other classes by the mean softmax probability the
  network gives them on samples of k, highest first) from a
  :class:`ntkbook.dynamics.History`;
* :func:`bias_scores` -- the RBO of the predicted rankings against those, and the
  RBO random rankings get against the same truth (the floor a prediction must
  beat: with ten classes unrelated rankings score far above 0);

One seed of the whole experiment, (dataset, n, seed) in, is
:func:`ntkbook.tasks.tables.table7_seed`.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..metrics import rbo
from .labels import bias_rankings

__all__ = ["trained_rankings", "bias_scores", "inverse_sign_share", "ranking_agreement"]


def trained_rankings(class_acc, class_prob) -> tuple[np.ndarray, np.ndarray]:
    """The trained network's intra- and inter-class rankings (Table 7's ground truth).

    Parameters
    ----------
    class_acc : array, shape (T, K)
        Per-class training accuracy at the T checkpoint epochs.
    class_prob : array, shape (T, K, K)
        ``class_prob[t, k]``: mean softmax vector on the samples of class k at checkpoint t.

    Returns
    -------
    intra : ndarray, shape (K,)
        Classes by mean accuracy over the checkpoints, highest (learned first) first.
    inter : ndarray, shape (K, K - 1)
        Row k: the other classes by the mean probability given to them on class k, highest first.
        Stable sorts: ties keep class order.
    """
    acc = _checks.finite_array(class_acc, "class_acc", ndim=2, dtype=np.float64)
    t, k = acc.shape
    prob = _checks.finite_array(class_prob, "class_prob", ndim=3, dtype=np.float64)
    if prob.shape != (t, k, k):
        raise ValueError(
            f"class_prob must have shape {(t, k, k)} to match class_acc {acc.shape}; got {prob.shape}."
        )
    if k < 2:
        raise ValueError(f"class_acc must cover at least 2 classes; got {k}.")
    intra = np.argsort(-acc.mean(0), kind="stable")
    mean_prob = prob.mean(0)
    inter = np.empty((k, k - 1), dtype=np.int64)
    for c in range(k):
        order = np.argsort(-mean_prob[c], kind="stable")
        inter[c] = order[order != c]
    return intra, inter


def bias_scores(Z, counts, intra_true, inter_true, p: float, *, seed: int = 0, n_random: int = 200) -> dict:
    """RBO of Z's predicted rankings against trained ones, and random floors.

    Parameters
    ----------
    Z : array, shape (K, K)
        Gram-label matrix (symmetric).
    counts : array, shape (K,)
        Class counts.
    intra_true : array, shape (K,)
        Trained intra-class ranking (first = learned first), e.g. from :func:`trained_rankings`.
    inter_true : array, shape (K, K - 1)
        Trained inter-class rankings, row k without k.
    p
        RBO persistence in (0, 1).
    seed
        Seed of the random permutations of the floors.
    n_random
        Random permutations for the intra floor; the inter floor uses ``n_random // 10`` per
        class (K classes, so about as many in all for K = 10).

    Returns
    -------
    dict
        ``intra``, ``inter`` (mean over classes) RBO; ``rand_intra``, ``rand_inter`` (the mean
        RBO of uniformly random rankings against the same truth); ``inter_per_class`` (K,);
        ``intra_pred`` (K,), ``inter_pred`` (K, K - 1).
    """
    intra_pred, inter_pred = bias_rankings(Z, counts)
    k = intra_pred.shape[0]
    intra_true = np.asarray(intra_true)
    inter_true = np.asarray(inter_true)
    if sorted(intra_true.tolist()) != list(range(k)):
        raise ValueError(f"intra_true must be a permutation of the {k} classes; got {intra_true.tolist()}.")
    if inter_true.shape != (k, k - 1):
        raise ValueError(f"inter_true must have shape {(k, k - 1)}; got {inter_true.shape}.")
    n_random = _checks.positive_int(n_random, "n_random", minimum=10)
    rng = np.random.default_rng(seed)
    per_class = np.array([rbo(list(inter_pred[c]), list(inter_true[c]), p) for c in range(k)])
    rand_intra = np.mean([rbo(list(rng.permutation(k)), list(intra_true), p) for _ in range(n_random)])
    rand_inter = np.mean(
        [
            rbo(list(rng.permutation(inter_true[c])), list(inter_true[c]), p)
            for c in range(k)
            for _ in range(n_random // 10)
        ]
    )
    return dict(
        intra=rbo(list(intra_pred), list(intra_true), p),
        inter=float(per_class.mean()),
        rand_intra=float(rand_intra),
        rand_inter=float(rand_inter),
        inter_per_class=per_class,
        intra_pred=intra_pred,
        inter_pred=inter_pred,
    )


def inverse_sign_share(H, top: int = 1) -> float:
    """Share of each sample's most similar partners whose entry of ``H^{-1}`` is negative.

    The partial correlation of samples a and b given all the others is
    ``-A_ab / sqrt(A_aa A_bb)`` with ``A = H^{-1}``: samples the kernel finds similar
    get a *negative* inverse entry, the opposite of reading large entries of
    ``Z = Y^T A Y`` as similarity.  Similarity here is the kernel's cosine
    ``H_ab / sqrt(H_aa H_bb)``.

    Parameters
    ----------
    H : array, shape (N, N)
        Symmetric positive definite Gram matrix, N >= 2.
    top
        Partners per sample (its ``top`` most similar others), 1 <= top < N.

    Returns
    -------
    float
        Among the N * top (sample, partner) pairs, the share with ``A_ab < 0``.
    """
    import scipy.linalg

    H = _checks.symmetric_matrix(H, "H")
    N = H.shape[0]
    top = _checks.positive_int(top, "top")
    if N < 2 or top >= N:
        raise ValueError(f"top must lie in [1, N - 1] = [1, {N - 1}]; got {top}.")
    d = np.sqrt(np.diag(H))
    cos = H / np.outer(d, d)
    np.fill_diagonal(cos, -np.inf)
    partners = np.argsort(-cos, axis=1, kind="stable")[:, :top]
    A = scipy.linalg.cho_solve(scipy.linalg.cho_factor(H), np.eye(N))
    return float(np.mean(A[np.arange(N)[:, None], partners] < 0))


def ranking_agreement(rankings, p: float) -> float:
    """Mean RBO between every pair of rankings from different runs (how repeatable a truth is).

    Parameters
    ----------
    rankings : sequence of arrays, each shape (K,) or (K, K - 1)
        One ranking per run (e.g. the trained intra-class ranking of each seed), or one set of
        per-class rankings per run (the inter-class rankings; their RBOs are averaged over the
        K classes first).  At least two runs.
    p
        RBO persistence.

    Returns
    -------
    float
        The mean over the pairs of runs; compare it with the random floor of
        :func:`bias_scores`: a ground truth whose runs agree no better than random rankings is
        noise.
    """
    runs = [np.asarray(r) for r in rankings]
    if len(runs) < 2 or any(r.shape != runs[0].shape or r.ndim not in (1, 2) for r in runs):
        raise ValueError(
            "rankings must hold at least two runs' rankings of one shape, (K,) or "
            f"(K, K - 1); got shapes {[r.shape for r in runs]}."
        )

    def pair(a, b):
        if a.ndim == 1:
            return rbo(list(a), list(b), p)
        return float(np.mean([rbo(list(x), list(y), p) for x, y in zip(a, b)]))

    return float(np.mean([pair(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]))
