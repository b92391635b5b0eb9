"""The Gram-label matrix Z = Y^T (H^inf)^{-1} Y and what DeOliveira et al. read off it.

Notation (one-hot labels ``Y`` of shape (N, K), class counts ``n = Y^T 1``):

* :func:`gram_label_matrix` -- ``Z = Y^T H^{-1} Y`` (K x K) by one Cholesky solve
  (:func:`ntkbook.linalg.cholesky_solve`), float64, with the ridge and the
  condition number it used.
* :func:`block_diagonalization_error` -- the *infinite-width block-diagonalization
  error* of the paper's eq. 10,

      L(Z) = 1/K sum_k Z_kk / (n_k (n_k - 1))
             - beta / (K^2 - K) sum_{k != d} Z_kd / (n_k n_d).

  Small ``L`` means the labelling is cheap to fit for the kernel (the diagonal,
  an RKHS-norm-like complexity, is small) and the classes are entangled in
  ``H^{-1}`` only through large positive cross terms.
* :func:`block_diagonality` -- eq. 6, the same idea on a *finite* kernel
  matrix ``Theta`` (mean within-class entry minus mean between-class entry),
  used to watch an empirical NTK become block diagonal during training.
* :func:`rank_labelings` -- several candidate labellings ordered by ``L``.
* :func:`bias_rankings` -- class orderings predicted from Z's diagonal
  (intra-class learning speed) and its off-diagonal columns (inter-class
  entanglement).

Edge cases (our choices; the paper does not state them):

* ``K`` is the number of columns of ``Y`` (for integer labels ``num_classes``,
  default ``max(y) + 1``).  Every class must have at least 2 members, because
  eq. 10 divides by ``n_k (n_k - 1)``; a class with 0 or 1 members raises a
  ``ValueError`` naming it -- never a NaN.
* ``K = 1`` (the paper's "1 Class" scheme, every label 0): the off-diagonal sum
  is empty and its prefactor ``beta/(K^2 - K)`` undefined; we define the term
  as 0, so ``L = Z_11 / (N (N - 1))``.
* ``Z_kk`` keeps the ``i = j`` terms of ``H^{-1}`` (as the paper writes eq. 10),
  although the normaliser ``n_k (n_k - 1)`` counts pairs ``i != j`` as in eq. 6.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..linalg import cholesky_solve
from ._eq10 import block_error, check_counts, gradient

__all__ = [
    "GramLabel",
    "as_one_hot",
    "gram_label_matrix",
    "block_error_from_z",
    "block_diagonalization_error",
    "label_gradient",
    "block_diagonality",
    "rank_labelings",
    "bias_rankings",
]


@dataclass(frozen=True)
class GramLabel:
    """Result of :func:`gram_label_matrix`.

    Attributes
    ----------
    Z : ndarray, shape (K, K)
        ``Y^T (H + ridge I)^{-1} Y``, symmetric.
    counts : ndarray, shape (K,)
        Class counts ``n = Y^T 1``.
    ridge : float
        Absolute ridge added to the diagonal of H.
    condition_number : float
        Condition number of ``H + ridge I``.
    """

    Z: np.ndarray
    counts: np.ndarray
    ridge: float
    condition_number: float


def as_one_hot(y_or_Y, n: int | None = None, num_classes: int | None = None, name: str = "y") -> np.ndarray:
    """Return one-hot labels of shape (N, K), float64, from integer labels or a one-hot matrix.

    Parameters
    ----------
    y_or_Y : array, shape (N,) integer labels, or (N, K) one-hot rows
    n
        Expected number of rows N (the size of the Gram matrix).
    num_classes
        K for integer labels; default ``max(y) + 1``.  For a matrix, must equal
        its number of columns if given.

    Raises
    ------
    ValueError
        Wrong length, labels outside ``[0, K)``, NaN/inf, or a matrix whose rows
        are not one-hot.
    """
    arr = _checks.finite_array(y_or_Y, name, ndim=(1, 2))
    if n is not None:
        n = _checks.positive_int(n, "n", minimum=0)
    if arr.ndim == 1:
        y = _checks.labels(arr, name, num_classes, n)
        k = int(y.max()) + 1 if num_classes is None else _checks.positive_int(num_classes, "num_classes")
        if y.size == 0:
            raise ValueError(f"{name} is empty; at least one labelled sample is needed.")
        return np.eye(k)[y]
    Y = arr.astype(np.float64)
    if n is not None and Y.shape[0] != n:
        raise ValueError(f"{name} has {Y.shape[0]} rows but {n} were expected (one per sample).")
    if num_classes is not None and Y.shape[1] != num_classes:
        raise ValueError(f"{name} has {Y.shape[1]} columns but num_classes={num_classes}.")
    if not (np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(1) == 1)):
        raise ValueError(
            f"{name} must hold one-hot rows (one 1, the rest 0); pass integer labels or a one-hot matrix."
        )
    return Y


def _beta(beta) -> float:
    """The off-diagonal weight of eq. 10: any finite real number."""
    return _checks.real_scalar(beta, "beta")


def gram_label_matrix(
    H, y_or_Y, reg: float = 0.0, *, num_classes: int | None = None, relative: bool = True
) -> GramLabel:
    """Gram-label matrix ``Z = Y^T (H + ridge I)^{-1} Y`` by a Cholesky solve.

    Parameters
    ----------
    H : array, shape (N, N)
        Symmetric positive definite Gram matrix (the infinite-width NTK).
    y_or_Y : array, shape (N,) or (N, K)
        Integer labels or one-hot rows.
    reg, relative
        Ridge as in :func:`ntkbook.linalg.cholesky_solve`: ``reg * trace(H)/N``
        when ``relative`` (default), else ``reg``.
    num_classes
        K for integer labels (default ``max(y) + 1``).

    Returns
    -------
    GramLabel
        ``Z`` (K, K), ``counts`` (K,), the ``ridge`` used and the ``condition_number``.

    Raises
    ------
    ValueError
        Non-symmetric or non-finite H, labels of the wrong length or out of range,
        or ``H + ridge I`` too ill-conditioned (message gives the condition number).
    """
    H = _checks.symmetric_matrix(H, "H")
    Y = as_one_hot(y_or_Y, H.shape[0], num_classes)
    sol = cholesky_solve(H, Y, reg, relative=relative)
    Z = Y.T @ sol.alpha
    return GramLabel(
        Z=0.5 * (Z + Z.T), counts=Y.sum(0), ridge=sol.ridge, condition_number=sol.condition_number
    )


def block_error_from_z(Z, counts, beta: float = 1.0) -> float:
    """Eq. 10 from a Gram-label matrix ``Z`` (K, K) and class counts ``n`` (K,).

    ``K = 1`` gives ``Z_11 / (n_1 (n_1 - 1))`` (the off-diagonal term is empty).

    Raises
    ------
    ValueError
        Shapes that disagree, NaN, a non-symmetric ``Z`` (``Y^T A Y`` is symmetric),
        counts that are not whole numbers, a non-finite ``beta``, or a class with
        fewer than 2 members.
    """
    Z = _checks.symmetric_matrix(Z, "Z", rtol=1e-8)
    n = _checks.finite_array(counts, "counts", ndim=1, dtype=np.float64)
    beta = _beta(beta)
    k = n.shape[0]
    if Z.shape != (k, k):
        raise ValueError(f"Z has shape {Z.shape} but counts has {k} classes; expected ({k}, {k}).")
    if not np.all(n == np.round(n)):
        raise ValueError(f"counts must be whole numbers of samples per class; got {n.tolist()}.")
    check_counts(n, "counts")
    return block_error(Z, n, beta)


def block_diagonalization_error(
    H, y, beta: float = 1.0, reg: float = 0.0, *, num_classes: int | None = None
) -> float:
    """Infinite-width block-diagonalization error ``L(Z)`` (DeOliveira et al., eq. 10).

    Parameters
    ----------
    H : array, shape (N, N)
        Infinite-width Gram matrix.
    y : array, shape (N,) or (N, K)
        Integer labels or one-hot rows of the labelling to score.
    beta
        Weight of the off-diagonal term (the paper's beta; default 1).
    reg
        Relative ridge on H (see :func:`gram_label_matrix`).
    num_classes
        K for integer labels; default ``max(y) + 1``.  All-zero labels with
        ``num_classes=None`` are the "1 Class" scheme (K = 1).

    Returns
    -------
    float
        ``L(Z)``; lower means the labelling looks easier / cleaner to the kernel.

    Raises
    ------
    ValueError
        Bad H or y (see :func:`gram_label_matrix`), or a class with 0 or 1
        members (the message names it).
    """
    beta = _beta(beta)
    gl = gram_label_matrix(H, y, reg, num_classes=num_classes)
    check_counts(gl.counts, "y")
    return block_error_from_z(gl.Z, gl.counts, beta)


def label_gradient(H, Y, beta: float = 1.0, reg: float = 0.0) -> np.ndarray:
    """Gradient of eq. 13 with respect to a (continuous) label matrix ``Y``.

    ``Y`` need not be one-hot: the paper relaxes its rows to class-membership
    weights.  The class counts are ``n = Y^T 1`` and must exceed 1.

    Parameters
    ----------
    H : array, shape (N, N)
    Y : array, shape (N, K)
    beta, reg
        As in :func:`block_diagonalization_error`.

    Returns
    -------
    ndarray, shape (N, K)
        ``dL/dY``.
    """
    H = _checks.symmetric_matrix(H, "H")
    Y = _checks.finite_array(Y, "Y", ndim=2, dtype=np.float64)
    beta = _beta(beta)
    if Y.shape[0] != H.shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but H is {H.shape[0]}x{H.shape[0]}.")
    n = Y.sum(0)
    if np.any(n <= 1):
        raise ValueError(
            f"Y's column sums must exceed 1 (eq. 13 divides by n_k (n_k - 1)); got {n.tolist()}."
        )
    M = cholesky_solve(H, Y, reg).alpha
    Z = Y.T @ M
    return gradient(M, 0.5 * (Z + Z.T), n, beta)


def block_diagonality(Theta, y, *, num_classes: int | None = None) -> float:
    """Eq. 6: mean within-class off-diagonal entry minus mean between-class entry.

    Averaged over classes k of

        sum_{i != j in X_k} Theta_ij / (n_k (n_k - 1))
        - sum_{i in X_k, j not in X_k} Theta_ij / (n_k (N - n_k)).

    A kernel that has become block diagonal in the classes scores high
    (Seleznova and Kutyniok observed it grow during training).

    Parameters
    ----------
    Theta : array, shape (N, N)
        A finite (empirical) kernel matrix, symmetric.
    y : array, shape (N,)
        Integer labels.
    num_classes
        K (default ``max(y) + 1``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Non-symmetric/NaN Theta, labels of the wrong length, or a class with
        fewer than 2 members.  With one class the between-class term is 0.
    """
    T = _checks.symmetric_matrix(Theta, "Theta", rtol=1e-6)
    Y = as_one_hot(y, T.shape[0], num_classes)
    n = Y.sum(0)
    check_counts(n)
    S = Y.T @ T @ Y  # class-block sums, (K, K)
    within = (np.diag(S) - Y.T @ np.diag(T)) / (n * (n - 1.0))
    total = S.sum(1)
    rest = len(T) - n
    between = np.where(rest > 0, (total - np.diag(S)) / (n * np.maximum(rest, 1)), 0.0)
    return float(np.mean(within - between))


def rank_labelings(H, labelings: Mapping[str, np.ndarray], beta: float = 1.0, reg: float = 0.0):
    """Score several labellings of the same inputs by ``L(Z)`` and order them (lowest first).

    All labellings share one Cholesky factorisation: their one-hot matrices are
    stacked side by side and solved together.

    Parameters
    ----------
    H : array, shape (N, N)
    labelings
        Name -> integer labels, shape (N,), each with its own K = max + 1.
    beta, reg
        As in :func:`block_diagonalization_error`.

    Returns
    -------
    pandas.DataFrame
        Index: labelling names sorted by ``L``; columns ``L`` and ``rank``
        (1 = lowest error), plus ``ridge`` and ``condition_number``.
    """
    import pandas as pd

    H = _checks.symmetric_matrix(H, "H")
    beta = _beta(beta)
    if not isinstance(labelings, Mapping):
        raise TypeError(f"labelings must be a mapping name -> labels; got {type(labelings).__name__}.")
    if not labelings:
        raise ValueError("labelings is empty; pass a dict name -> labels.")
    blocks = {name: as_one_hot(y, H.shape[0], name=f"labelings[{name!r}]") for name, y in labelings.items()}
    for name, Y in blocks.items():
        check_counts(Y.sum(0), f"labelings[{name!r}]")
    sol = cholesky_solve(H, np.concatenate(list(blocks.values()), axis=1), reg)
    rows, start = [], 0
    for name, Y in blocks.items():
        M = sol.alpha[:, start : start + Y.shape[1]]
        start += Y.shape[1]
        Z = Y.T @ M
        rows.append(dict(labeling=name, L=block_error_from_z(0.5 * (Z + Z.T), Y.sum(0), beta)))
    df = pd.DataFrame(rows).set_index("labeling").sort_values("L")
    df["rank"] = np.arange(1, len(df) + 1)
    df["ridge"] = sol.ridge
    df["condition_number"] = sol.condition_number
    return df


def bias_rankings(Z, counts=None) -> tuple[np.ndarray, np.ndarray]:
    """Class orderings predicted from the Gram-label matrix (DeOliveira et al., section 5.3).

    * Intra-class: classes ordered by their (per-sample) diagonal entry
      ``Z_kk / n_k``, smallest first.  ``Z_kk = y_k^T H^{-1} y_k`` is the kernel's
      complexity of the one-vs-rest target of class k; under gradient flow a
      target with a small one is fitted first, so the prediction is "learned
      fastest first".
    * Inter-class: for each class k, the other classes ordered by
      ``|Z_dk| / (n_d n_k)``, largest first -- the classes k is most entangled
      with (most likely confused with) come first.

    Parameters
    ----------
    Z : array, shape (K, K)
        Gram-label matrix (symmetric).
    counts : array, shape (K,), optional
        Class counts; without them no normalisation by class size is done.

    Returns
    -------
    intra : ndarray, shape (K,)
        Class indices, predicted fastest-learned first.
    inter : ndarray, shape (K, K - 1)
        Row k: the other classes, most entangled with k first.
    """
    Z = _checks.symmetric_matrix(Z, "Z", rtol=1e-6)
    k = Z.shape[0]
    if k < 2:
        raise ValueError(f"Z must be at least 2x2 to rank classes; got shape {Z.shape}.")
    n = np.ones(k) if counts is None else _checks.finite_array(counts, "counts", ndim=1, dtype=np.float64)
    if n.shape != (k,) or np.any(n <= 0) or not np.all(n == np.round(n)):
        raise ValueError(f"counts must be {k} positive whole class counts; got {n.tolist()}.")
    # stable sorts: ties keep class order, so the ranking is deterministic
    intra = np.argsort(np.diag(Z) / n, kind="stable")
    W = np.abs(Z) / np.outer(n, n)
    inter = np.empty((k, k - 1), dtype=np.int64)
    for c in range(k):
        others = np.array([d for d in range(k) if d != c])
        inter[c] = others[np.argsort(-W[others, c], kind="stable")]
    return intra, inter
