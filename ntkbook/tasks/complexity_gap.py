"""Complexity-Gap scores (Nohyun, Choi and Chung, 2022) with any infinite-width Gram matrix.

For a binary problem with labels ``y in {+1, -1}^n`` and Gram matrix H, the
quantity ``y^T H^{-1} y`` bounds the complexity of what an infinitely wide
network must learn.  The gap of sample i is how much that complexity drops when
i is removed,

    CG(i) = y^T H^{-1} y - y_{-i}^T H_{-i}^{-1} y_{-i} = (H^{-1} y)_i^2 / (H^{-1})_{ii},

where the second form (a Schur-complement identity) needs one Cholesky
factorisation per problem instead of one solve per sample.  Large gaps mark
samples that are hard to fit -- mislabeled ones above all.

The protocol follows the authors' reference code (``JJchy/CG_score``), as a
fact, not as code: one binary problem per class c, with the samples of c as
``+1`` and a random subsample of the other classes, ``unbalance_ratio`` times as
many (capped at all of them), as ``-1``; a sample's score is the gap computed in
its own class's problem, averaged over ``repeats`` draws of the subsample.
The original uses only the 2-layer arc-cosine kernel; DeOliveira et al. swap in
the Gram matrices of deeper and convolutional architectures.

:func:`multiclass_complexity_gap` is the one-shot alternative: all samples and
all one-hot columns in one solve, ``sum_k (H^{-1} y_k)_i^2 / (H^{-1})_ii``.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..linalg import cholesky_solve, diag_of_inverse
from .architecture import class_labels

__all__ = ["complexity_gap", "binary_complexity_gap", "multiclass_complexity_gap"]


def binary_complexity_gap(H, y_pm, reg: float = 0.0) -> np.ndarray:
    """Complexity gap of every sample of one binary problem.

    Parameters
    ----------
    H : array, shape (n, n)
        Symmetric positive-definite Gram matrix of the problem's samples.
    y_pm : array, shape (n,)
        Targets (usually +1/-1).
    reg
        Relative ridge (``reg * trace(H)/n`` added to the diagonal); 0 by default.

    Returns
    -------
    ndarray, shape (n,)
        ``CG(i) = (H^{-1} y)_i^2 / (H^{-1})_{ii}`` (non-negative).

    Raises
    ------
    ValueError
        Non-symmetric/non-finite H, length mismatch, or H too ill-conditioned
        (message with condition number and ridge; raise ``reg``).
    """
    # checked here so that errors name this function's arguments (H, y_pm), not the solver's
    H = _checks.nonempty(_checks.symmetric_matrix(H, "H"), "H")
    y_pm = _checks.finite_array(y_pm, "y_pm", ndim=1, dtype=np.float64)
    if y_pm.shape[0] != H.shape[0]:
        raise ValueError(
            f"y_pm has {y_pm.shape[0]} targets but H is {H.shape[0]}x{H.shape[0]}; one target per row of H."
        )
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    sol = _solve(H, y_pm, reg)
    return sol.alpha**2 / diag_of_inverse(sol.factor)


def _solve(H: np.ndarray, targets: np.ndarray, reg: float):
    """:func:`cholesky_solve` with its ill-conditioning error worded for ``H``."""
    try:
        return cholesky_solve(H, targets, reg)
    except ValueError as err:
        msg = str(err)
        if msg.startswith("K + ridge I"):
            raise ValueError("H" + msg[1:]) from err
        raise


def multiclass_complexity_gap(H, y, *, num_classes: int | None = None, reg: float = 0.0) -> np.ndarray:
    """One-shot multi-class Complexity-Gap: every sample, every class, one factorisation.

    With ``A = H^{-1}`` and one-hot targets ``Y`` (columns ``y_k``), the score of
    sample i is the drop of the total complexity ``sum_k y_k^T A y_k`` when i is
    removed,

        score(i) = sum_k (A y_k)_i^2 / A_ii,

    over all N samples at once (no binary problems, no random negatives).  A
    mislabeled sample contributes twice: as a lone 1 in the column of its given
    label and as a lone 0 in the column of its true class.

    Parameters
    ----------
    H : array, shape (N, N)
        Symmetric positive-definite Gram matrix of all samples.
    y : array, shape (N,)
        (Possibly noisy) labels in ``[0, K)``.
    num_classes
        K; default ``max(y) + 1``.
    reg
        Relative ridge of the solve (``reg * trace(H)/N`` on the diagonal).

    Returns
    -------
    ndarray, shape (N,)
        Larger = harder to fit / more likely mislabeled.

    Raises
    ------
    ValueError
        Non-square, non-symmetric or non-finite ``H``; labels of the wrong
        length or out of range; an ill-conditioned ``H`` (raise ``reg``).
    """
    H = _checks.nonempty(_checks.symmetric_matrix(H, "H"), "H")
    y, k = class_labels(y, H.shape[0], num_classes)
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    targets = np.eye(k)[y]  # (N, K) one-hot
    sol = _solve(H, targets, reg)
    return np.sum(sol.alpha**2, axis=1) / diag_of_inverse(sol.factor)


def complexity_gap(
    H,
    y,
    *,
    num_classes: int | None = None,
    unbalance_ratio: float = 1.0,
    repeats: int = 1,
    seed: int = 0,
    reg: float = 0.0,
) -> np.ndarray:
    """Per-sample Complexity-Gap scores from one-vs-subsampled-rest binary problems.

    Parameters
    ----------
    H : array, shape (N, N)
        Gram matrix of all N samples (e.g. ``gram.gram(archs.get("2-L"), data.normalize(x))``).
    y : array, shape (N,)
        (Possibly noisy) labels; every class in ``[0, K)`` must occur.
    num_classes
        K; default ``max(y) + 1``.
    unbalance_ratio
        Negatives per positive drawn from the other classes (reference: 1).
    repeats
        Independent draws of the negatives; scores are averaged.
    seed
        Seed of the draws (``np.random.default_rng``).
    reg
        Relative ridge of every binary solve.

    Returns
    -------
    ndarray, shape (N,)
        Larger = harder to fit / more likely mislabeled.

    Raises
    ------
    ValueError
        Non-square, non-symmetric or non-finite ``H``; labels of the wrong length,
        out of range, or a class with no sample; fewer than two classes.
    """
    H = _checks.nonempty(_checks.symmetric_matrix(H, "H"), "H")
    n = H.shape[0]
    y, k = class_labels(y, n, num_classes)
    if k < 2:
        raise ValueError("y must hold at least two classes (one-vs-rest problems).")
    unbalance_ratio = _checks.real_scalar(unbalance_ratio, "unbalance_ratio", low=0.0, low_open=True)
    repeats = _checks.positive_int(repeats, "repeats")
    seed = _checks.positive_int(seed, "seed", minimum=0)
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    rng = np.random.default_rng(seed)
    total = np.zeros(n)
    for _ in range(repeats):
        for c in range(k):
            pos = np.flatnonzero(y == c)
            rest = np.flatnonzero(y != c)
            m = min(int(len(pos) * unbalance_ratio), len(rest))
            neg = rng.choice(rest, size=max(m, 1), replace=False)
            idx = np.concatenate([pos, neg])
            y_pm = np.concatenate([np.ones(len(pos)), -np.ones(len(neg))])
            gaps = binary_complexity_gap(H[np.ix_(idx, idx)], y_pm, reg)
            total[pos] += gaps[: len(pos)]
    return total / repeats
