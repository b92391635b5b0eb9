"""Reading a classifier's outputs as probabilities: accuracy, Brier score, confidence, reliability.

Chapter 5 compares kernel predictors trained on one-hot and on zero-centred targets; their
outputs are not constrained to be probabilities, so these summaries say how far they are from
behaving like them (do the outputs sum to one, is the largest output as large as the accuracy).

Examples
--------
>>> import numpy as np
>>> from ntkbook import calibration
>>> p = np.array([[0.9, 0.1], [0.4, 0.6]])
>>> s = calibration.probability_summary(p, np.array([0, 0]))
>>> s["accuracy"], round(s["brier"], 3), round(s["mean_confidence"], 2)
(0.5, 0.37, 0.75)
"""

from __future__ import annotations

import numpy as np

from . import _checks

__all__ = ["probability_summary", "reliability"]


def _inputs(p, labels):
    p = _checks.finite_array(p, "p", ndim=2, dtype=np.float64)
    labels = _checks.labels(labels, "labels", num_classes=p.shape[1], n=p.shape[0])
    return p, labels


def probability_summary(p, labels) -> dict[str, float]:
    """Accuracy, Brier score, mean ``|sum - 1|`` and mean confidence of outputs read as probabilities.

    Parameters
    ----------
    p : array, shape (M, K)
        Outputs, one row per test point (not necessarily non-negative or summing to one).
    labels : array, shape (M,)
        True classes in ``[0, K)``.

    Returns
    -------
    dict
        ``accuracy`` (share with ``argmax p == label``), ``brier`` (mean over points of
        ``||p - e_label||^2``), ``mean_abs_sum_minus_1`` and ``mean_confidence`` (mean largest
        output).
    """
    p, labels = _inputs(p, labels)
    onehot = np.eye(p.shape[1])[labels]
    return dict(
        accuracy=float(np.mean(p.argmax(1) == labels)),
        brier=float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        mean_abs_sum_minus_1=float(np.mean(np.abs(p.sum(1) - 1))),
        mean_confidence=float(p.max(1).mean()),
    )


def reliability(p, labels, n_bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Reliability diagram on equal-count bins of the largest output.

    Parameters
    ----------
    p : array, shape (M, K)
        Outputs.
    labels : array, shape (M,)
        True classes.
    n_bins
        Number of bins, each holding about ``M / n_bins`` points (quantile edges).

    Returns
    -------
    confidence, accuracy : numpy.ndarray, shape (n_bins,)
        Per bin, the mean largest output and the share of correct predictions.
    """
    p, labels = _inputs(p, labels)
    n_bins = _checks.positive_int(n_bins, "n_bins")
    if n_bins > p.shape[0]:
        raise ValueError(f"n_bins={n_bins} exceeds the {p.shape[0]} points: a bin would be empty.")
    conf, correct = p.max(1), p.argmax(1) == labels
    edges = np.quantile(conf, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    if np.any(np.bincount(which, minlength=n_bins) == 0):
        raise ValueError("p has too many tied confidences for equal-count bins; use fewer n_bins.")
    return (
        np.array([conf[which == b].mean() for b in range(n_bins)]),
        np.array([correct[which == b].mean() for b in range(n_bins)]),
    )
