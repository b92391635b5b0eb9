"""Pseudo-labellers whose labellings chapter 12 ranks with the block-diagonalization error.

Each takes the inputs and a small labelled subset (indices ``known`` with their
true labels) and returns a full labelling of all N samples; the labelled samples
keep their labels.  They are deliberately simple and cheap (scikit-learn):

* :func:`kmeans_labels` -- k-means on the flattened inputs, clusters mapped to
  classes by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
  on the labelled subset;
* :func:`propagation_labels` -- label spreading on a k-nearest-neighbour graph
  (Zhou et al.'s method, scikit-learn's ``LabelSpreading``);
* :func:`weak_classifier_labels` -- a logistic regression fitted on the labelled
  subset only.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import _checks

__all__ = ["match_clusters", "kmeans_labels", "propagation_labels", "weak_classifier_labels", "known_subset"]


def known_subset(y, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a class-stratified random subset of ``round(fraction * N)`` samples.

    Every class present in ``y`` gets at least two indices (or all its members if
    fewer), so each labeller sees every class and, since labelled samples keep
    their labels, every class keeps the two members eq. 10 of the
    block-diagonalization error needs.
    """
    y = _checks.labels(y, "y")
    if y.size == 0:
        raise ValueError("y is empty; there is nothing to sample from.")
    fraction = _checks.fraction(fraction, "fraction")
    seed = _checks.positive_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    picks = []
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        take = min(len(idx), max(2, int(round(fraction * len(idx)))))
        picks.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(picks)).astype(np.int64)


def match_clusters(clusters, y_ref, num_classes: int) -> np.ndarray:
    """Map cluster ids to classes so that agreement with ``y_ref`` is maximal (Hungarian).

    Parameters
    ----------
    clusters : array, shape (M,)
        Cluster ids in ``[0, num_classes)`` of the reference samples.
    y_ref : array, shape (M,)
        Their true labels.
    num_classes
        K (as many clusters as classes).

    Returns
    -------
    ndarray, shape (K,)
        ``mapping[c]`` = class assigned to cluster ``c``; a permutation of ``range(K)``.
    """
    num_classes = _checks.positive_int(num_classes, "num_classes")
    clusters = _checks.labels(clusters, "clusters", num_classes)
    y_ref = _checks.labels(y_ref, "y_ref", num_classes, n=len(clusters))
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (clusters, y_ref), 1.0)
    rows, cols = linear_sum_assignment(-counts)  # maximise the matched counts
    mapping = np.empty(num_classes, dtype=np.int64)
    mapping[rows] = cols
    return mapping


def _prepare(x, y, known, num_classes):
    _checks.positive_int(num_classes, "num_classes", minimum=2)
    x = _checks.finite_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, ...); got {x.shape}.")
    X = x.reshape(len(x), -1).astype(np.float64)
    y = _checks.labels(y, "y", num_classes, n=len(X))
    known = _checks.indices(known, "known", len(X), min_size=1)
    return X, y, known


def kmeans_labels(x, y, known, num_classes: int, seed: int = 0) -> np.ndarray:
    """k-means pseudo-labels, clusters matched to classes on the labelled subset.

    Parameters
    ----------
    x : array, shape (N, ...)
    y : array, shape (N,)
        True labels; only ``y[known]`` is read.
    known : array of int, shape (M,)
        Indices of the labelled samples.
    num_classes
        K (also the number of clusters).

    Returns
    -------
    ndarray, shape (N,)
    """
    from sklearn.cluster import KMeans

    X, y, known = _prepare(x, y, known, num_classes)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    clusters = KMeans(num_classes, n_init=4, random_state=seed).fit_predict(X)
    out = match_clusters(clusters[known], y[known], num_classes)[clusters]
    out[known] = y[known]
    return out


def propagation_labels(x, y, known, num_classes: int, n_neighbors: int = 10) -> np.ndarray:
    """Label spreading from the labelled subset over a k-NN graph (scikit-learn)."""
    from sklearn.semi_supervised import LabelSpreading

    X, y, known = _prepare(x, y, known, num_classes)
    n_neighbors = _checks.positive_int(n_neighbors, "n_neighbors")
    if n_neighbors >= len(X):
        raise ValueError(f"n_neighbors={n_neighbors} but there are only {len(X)} samples.")
    partial = np.full(len(X), -1, dtype=np.int64)
    partial[known] = y[known]
    model = LabelSpreading(kernel="knn", n_neighbors=n_neighbors, max_iter=100).fit(X, partial)
    out = np.asarray(model.transduction_, dtype=np.int64)
    out[known] = y[known]
    return out


def weak_classifier_labels(x, y, known, num_classes: int, C: float = 1.0) -> np.ndarray:
    """Labels predicted by a logistic regression fitted on the labelled subset only."""
    from sklearn.linear_model import LogisticRegression

    X, y, known = _prepare(x, y, known, num_classes)
    C = _checks.real_scalar(C, "C", low=0.0, low_open=True)
    model = LogisticRegression(C=C, max_iter=500).fit(X[known], y[known])
    out = model.predict(X).astype(np.int64)
    out[known] = y[known]
    return out
