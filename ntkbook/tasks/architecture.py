"""Architecture selection from the infinite-width Gram matrix (DeOliveira et al., sec. 5.1).

Gradient flow with a fixed kernel learns the directions of large eigenvalues of
H first and those of small eigenvalues last.  DeOliveira et al. propose that an
architecture suits a task when even its *last-learned* (low-eigenvalue) kernel
principal components already separate the classes, and score this by the ratio
of inter-class to intra-class distances after projecting onto them (their
Table 3).  The paper publishes no code; every choice below is ours and is a
parameter:

* **Centring.**  As in kernel PCA, H is double-centred, ``Hc = C H C`` with
  ``C = I - 11^T/N`` (``center=True``).  Centring creates one exactly null
  direction (the constant vector), which is dropped together with any other
  eigenvalue below ``rtol * lambda_max``.
* **Components.**  ``which="low"`` keeps the ``n_components`` smallest remaining
  eigenvalues ("the last 4 principal components"), ``"high"`` the largest.
* **Coordinates.**  Sample ``i`` is projected to ``sqrt(lambda_j) v_j[i]`` (the
  kernel-PCA scores, as scikit-learn's ``KernelPCA`` returns them);
  ``whiten=True`` uses ``v_j[i]`` instead, giving each component equal weight.
* **Distances.**  Euclidean distances between the projected samples over all
  unordered pairs ``i < j``: *inter-class* pairs have ``y_i != y_j``,
  *intra-class* pairs ``y_i == y_j`` (pooled over classes).  The score is
  ``ratio = mean(inter) / mean(intra)``; ``ratio_std = std(inter) / std(intra)``
  is the paper's parenthesised number as we read it.  Both are invariant to the
  scale of H; a denominator that is zero up to rounding gives ``inf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.spatial.distance

from .. import _checks

__all__ = [
    "KPCASeparation",
    "kpca_separation",
    "kpca_projection",
    "rank_architectures",
    "class_labels",
    "PAPER_HIDDEN_LAYERS",
    "paper_convention_mlp",
]

PAPER_HIDDEN_LAYERS: dict[str, int] = {"2-L (2 hidden)": 2, "10-L (10 hidden)": 10}
"""DeOliveira et al. define 2-L and 10-L as feed-forward nets with 2 and 10 *hidden* layers;
the zoo's ``archs.get("2-L")``/``("10-L")`` have 1 and 9 (2 and 10 layers of weights)."""


def paper_convention_mlp(name: str, out_dim: int = 10, width: int = 512):
    """The paper's 2-L / 10-L: a ReLU MLP with 2 / 10 hidden layers (3 / 11 layers of weights).

    Parameters
    ----------
    name
        A key of :data:`PAPER_HIDDEN_LAYERS`.
    out_dim, width
        Outputs and hidden width of the finite network (the kernel ignores width).

    Returns
    -------
    archs.Arch
        ``archs.mlp(hidden + 1, width, out_dim)``.
    """
    from .. import archs

    if name not in PAPER_HIDDEN_LAYERS:
        raise ValueError(f"name={name!r}; expected one of {sorted(PAPER_HIDDEN_LAYERS)}.")
    out_dim = _checks.positive_int(out_dim, "out_dim")
    return archs.mlp(PAPER_HIDDEN_LAYERS[name] + 1, width, out_dim)


WHICH = ("low", "high")


def class_labels(y, n: int, num_classes: int | None, name: str = "y") -> tuple[np.ndarray, int]:
    """Check labels of ``n`` samples and that every class in ``[0, K)`` occurs.

    ``K`` is ``num_classes`` if given, else ``max(y) + 1``.  Returns ``(y, K)``.

    Raises
    ------
    ValueError
        Empty ``y``, wrong length, labels outside ``[0, K)``, or a class with no sample.
    """
    y = _checks.nonempty(_checks.labels(y, name, num_classes, n=n), name)
    k = int(num_classes) if num_classes is not None else int(y.max()) + 1
    counts = np.bincount(y, minlength=k)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0).tolist()
        raise ValueError(
            f"{name} has no sample of class(es) {missing} (of {k} classes); every "
            "class must occur, or pass the labels re-indexed to [0, K)."
        )
    return y, k


@dataclass(frozen=True)
class KPCASeparation:
    """Result of :func:`kpca_separation`.

    Attributes
    ----------
    ratio : float
        ``mean(inter-class distances) / mean(intra-class distances)``.
    ratio_std : float
        ``std(inter) / std(intra)``.
    mean_inter, mean_intra, std_inter, std_intra : float
        The four statistics behind the ratios.
    eigenvalues : ndarray, shape (n_components,)
        Eigenvalues of the (centred) H of the components used, ascending.
    projection : ndarray, shape (N, n_components)
        Coordinates of the samples on those components.
    """

    ratio: float
    ratio_std: float
    mean_inter: float
    mean_intra: float
    std_inter: float
    std_intra: float
    eigenvalues: np.ndarray
    projection: np.ndarray


def kpca_projection(
    H,
    n_components: int = 4,
    which: str = "low",
    *,
    center: bool = True,
    whiten: bool = False,
    rtol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel-PCA coordinates of the training samples on the lowest or highest components.

    Parameters
    ----------
    H : array, shape (N, N)
        Symmetric positive semi-definite Gram matrix.
    n_components, which, center, whiten, rtol
        See the module docstring.

    Returns
    -------
    eigenvalues : ndarray, shape (n_components,)
        Ascending.
    projection : ndarray, shape (N, n_components)
    """
    H = _checks.nonempty(_checks.symmetric_matrix(H, "H"), "H")
    n = H.shape[0]
    n_components = _checks.positive_int(n_components, "n_components")
    _checks.one_of(which, "which", WHICH)
    rtol = _checks.real_scalar(rtol, "rtol", low=0.0)
    if center:
        Hc = H - H.mean(axis=0, keepdims=True)
        Hc = Hc - Hc.mean(axis=1, keepdims=True)
        Hc = (Hc + Hc.T) / 2  # exact symmetry after rounding
    else:
        Hc = H
    lam, V = np.linalg.eigh(Hc)  # ascending
    if lam[-1] <= 0:
        raise ValueError("H (centred) has no positive eigenvalue; it is not a usable Gram matrix.")
    if lam[0] < -1e-8 * lam[-1]:
        raise ValueError(
            f"H is not positive semi-definite: smallest (centred) eigenvalue "
            f"{lam[0]:.3g} vs largest {lam[-1]:.3g}."
        )
    keep = np.flatnonzero(lam > rtol * lam[-1])  # drops the null direction of the centring
    if len(keep) < n_components:
        raise ValueError(
            f"only {len(keep)} eigenvalues of H (of {n}) exceed rtol*lambda_max; "
            f"cannot take n_components={n_components}."
        )
    sel = keep[:n_components] if which == "low" else keep[-n_components:]
    coords = V[:, sel] if whiten else V[:, sel] * np.sqrt(lam[sel])
    return lam[sel], coords


def kpca_separation(
    H,
    y,
    n_components: int = 4,
    which: str = "low",
    *,
    num_classes: int | None = None,
    center: bool = True,
    whiten: bool = False,
    rtol: float = 1e-10,
) -> KPCASeparation:
    """Inter/intra-class distance ratio after kernel PCA on the low (or high) components of H.

    Parameters
    ----------
    H : array, shape (N, N)
        Infinite-width Gram matrix of the training inputs (symmetric PSD).
    y : array, shape (N,)
        Integer labels; every class in ``[0, K)`` must occur.
    n_components
        Number of principal components projected on (the paper: 4).
    which
        ``"low"`` (smallest eigenvalues, learned last) or ``"high"``.
    num_classes
        K; default ``max(y) + 1``.
    center, whiten, rtol
        See the module docstring.

    Returns
    -------
    KPCASeparation
        ``ratio`` > 1 means samples of one class lie closer together than samples
        of different classes; larger = better separated.

    Raises
    ------
    ValueError
        Non-square, non-symmetric or non-finite ``H``; labels of the wrong length,
        out of range, or a class with no sample; fewer than two classes; no
        intra-class pair (every class a singleton); too few usable eigenvalues.
    """
    H = _checks.nonempty(_checks.symmetric_matrix(H, "H"), "H")
    y, k = class_labels(y, H.shape[0], num_classes)
    if k < 2:
        raise ValueError("y must hold at least two classes to compare inter- and intra-class distances.")
    lam, Z = kpca_projection(H, n_components, which, center=center, whiten=whiten, rtol=rtol)
    d = scipy.spatial.distance.pdist(Z)  # pairs i < j, row-major
    iu, ju = np.triu_indices(len(y), k=1)
    same = y[iu] == y[ju]
    if not same.any():
        raise ValueError("y has no two samples of the same class: intra-class distances are undefined.")
    inter, intra = d[~same], d[same]
    mi, ma = float(inter.mean()), float(intra.mean())
    si, sa = float(inter.std()), float(intra.std())
    ratio, ratio_std = _ratio(mi, ma), _ratio(si, sa)
    return KPCASeparation(
        ratio=ratio,
        ratio_std=ratio_std,
        mean_inter=mi,
        mean_intra=ma,
        std_inter=si,
        std_intra=sa,
        eigenvalues=lam,
        projection=Z,
    )


def _ratio(num: float, den: float) -> float:
    """``num / den``, or ``inf`` when ``den`` is zero up to rounding (below 1e-12 of ``num``)."""
    if den <= 1e-12 * max(num, 0.0) or den == 0.0:
        return np.inf
    return num / den


def rank_architectures(
    grams: Mapping[str, np.ndarray], y, n_components: int = 4, which: str = "low", **kwargs
) -> pd.DataFrame:
    """Rank architectures by the kernel-PCA separation ratio of their Gram matrices.

    Parameters
    ----------
    grams
        ``{name: H}``, each H of shape (N, N) on the same N training inputs.
    y : array, shape (N,)
        Labels.
    n_components, which, **kwargs
        Passed to :func:`kpca_separation`.

    Returns
    -------
    pandas.DataFrame
        Indexed by architecture name, sorted best first (largest ``ratio``; ties
        keep the order of ``grams``), with columns ``ratio``, ``ratio_std``,
        ``mean_inter``, ``mean_intra`` and ``rank`` (1 = best).

    Raises
    ------
    ValueError
        Empty ``grams``, Gram matrices of different sizes, or any error of
        :func:`kpca_separation`.
    """
    if not isinstance(grams, Mapping):
        raise TypeError(
            f"grams must be a mapping architecture name -> Gram matrix; got {type(grams).__name__}."
        )
    if not grams:
        raise ValueError("grams is empty; pass {architecture name: Gram matrix}.")
    sizes = {name: np.shape(H) for name, H in grams.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"all Gram matrices must have the same shape; got {sizes}.")
    rows = {}
    for name, H in grams.items():
        s = kpca_separation(H, y, n_components, which, **kwargs)
        rows[name] = dict(
            ratio=s.ratio, ratio_std=s.ratio_std, mean_inter=s.mean_inter, mean_intra=s.mean_intra
        )
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.sort_values("ratio", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    table.index.name = "architecture"
    return table
