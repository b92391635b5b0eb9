"""Figure and table helpers shared by the chapters: one style, labelled axes, fitted slopes.

Call :func:`use_style` once at the top of a notebook.  Every helper returns the
matplotlib ``Axes`` it drew on so a chapter can add to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _checks

__all__ = [
    "use_style",
    "loglog_with_slope",
    "fit_loglog_slope",
    "log_ticks",
    "class_blocks",
    "class_heatmap",
    "table",
]


def use_style() -> None:
    """Apply the book's figure and table style.

    Figures: seaborn's white grid, colour-blind palette, readable fonts.  Tables: pandas shows
    every row and the whole text of every cell (its defaults cut a cell at 50 characters with
    ``...`` and a table at 60 rows: a claim's interval or a ladder's verdicts lost their end).
    """
    import matplotlib as mpl
    import pandas as pd
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update(
        {"figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold"}
    )
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", None)


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``log y = slope * log x + intercept``.

    Returns
    -------
    slope, intercept : float
        In natural-log units (the slope is base-independent).

    Raises
    ------
    ValueError
        If fewer than two points are given or any value is not positive.
    """
    xa = np.asarray(x, np.float64)
    ya = np.asarray(y, np.float64)
    if xa.shape != ya.shape or xa.ndim != 1 or len(xa) < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2; got shapes {xa.shape}, {ya.shape}.")
    if np.any(xa <= 0) or np.any(ya <= 0) or not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite and positive for a log-log fit.")
    slope, intercept = np.polyfit(np.log(xa), np.log(ya), 1)
    return float(slope), float(intercept)


def loglog_with_slope(
    ax,
    x,
    y,
    *,
    label: str,
    reference_slope: float | None = None,
    reference_label: str | None = None,
    marker: str = "o",
    **kwargs,
):
    """Plot ``y`` against ``x`` on log-log axes with its fitted slope in the legend.

    Parameters
    ----------
    ax
        Matplotlib axes.
    x, y : 1-D arrays
        Positive data.
    label
        Legend label of the data; the fitted slope is appended.
    reference_slope
        If given, also draw a dashed line of this slope through the first point
        (e.g. ``-0.5`` for the m^-1/2 law).

    Returns
    -------
    slope : float
        The fitted log-log slope.
    """
    slope, intercept = fit_loglog_slope(x, y)
    x = np.asarray(x, np.float64)
    ax.loglog(x, y, marker=marker, label=f"{label} (slope {slope:+.2f})", **kwargs)
    if reference_slope is not None:
        ref = np.asarray(y, np.float64)[0] * (x / x[0]) ** reference_slope
        ax.loglog(x, ref, "--", color="grey", label=reference_label or f"slope {reference_slope:+g}")
    return slope


def log_ticks(ax, axis: str = "y"):
    """Label a log axis at 1-2-5 steps with plain numbers and no minor labels.

    Matplotlib's default log labels (powers of ten plus minor labels) overlap on short decades;
    this puts major ticks at ``{1, 2, 5} x 10^k``, formats them with ``%g`` and hides the minor
    labels.

    Parameters
    ----------
    ax
        A matplotlib ``Axes`` whose chosen axes are already log-scaled.
    axis
        ``"x"``, ``"y"`` or ``"xy"``.

    Returns
    -------
    Axes
        ``ax``.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    if axis not in ("x", "y", "xy"):
        raise ValueError(f"axis must be 'x', 'y' or 'xy'; got {axis!r}.")
    for a in ([ax.xaxis] if "x" in axis else []) + ([ax.yaxis] if "y" in axis else []):
        a.set_major_locator(LogLocator(subs=(1, 2, 5)))
        a.set_major_formatter(FormatStrFormatter("%g"))
        a.set_minor_formatter(NullFormatter())
    return ax


def class_blocks(y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the class blocks of a class-sorted Gram matrix begin and where their centres are.

    Parameters
    ----------
    y : array of int, shape (N,)
        Labels, sorted so that each class is one contiguous run (e.g. ``np.sort``-ed).

    Returns
    -------
    edges : ndarray, shape (C - 1,)
        Boundaries between consecutive runs, at half-integer pixel positions (``i - 0.5``
        before the first sample ``i`` of a new class): where :func:`class_heatmap` draws lines.
    centres : ndarray, shape (C,)
        Midpoint of each run in the same pixel coordinates: where the class ticks go.
    classes : ndarray, shape (C,)
        The label of each run, in order.

    Raises
    ------
    ValueError
        If ``y`` is empty or no 1-D array of labels, or a class occurs in more than one run.
    """
    ya = _checks.nonempty(_checks.labels(y, "y"), "y")
    change = np.flatnonzero(ya[1:] != ya[:-1]) + 1  # first index of each run after the first
    classes = ya[np.concatenate([[0], change])]
    if len(np.unique(classes)) != len(classes):
        raise ValueError("y must be sorted by class (each class one contiguous run); sort the samples first.")
    edges = change - 0.5
    bounds = np.concatenate([[-0.5], edges, [len(ya) - 0.5]])
    return edges, (bounds[:-1] + bounds[1:]) / 2, classes


def class_heatmap(ax, K, y, title: str | None = None):
    """Image of a Gram matrix whose rows and columns are sorted by class, class blocks marked.

    White lines at the class boundaries and one tick per class at its block's centre
    (:func:`class_blocks`); the colour scale is the matrix's own.

    Parameters
    ----------
    ax
        Matplotlib axes.
    K : array, shape (N, N)
        The Gram matrix, rows and columns in the order of ``y``.
    y : array of int, shape (N,)
        Class-sorted labels.
    title
        Axes title.

    Returns
    -------
    AxesImage
        The image (pass it to ``colorbar``).
    """
    K = np.asarray(K)
    edges, centres, classes = class_blocks(y)
    n = len(np.asarray(y))
    if K.shape != (n, n):
        raise ValueError(f"K must have shape (N, N) with N = len(y) = {n}; got {K.shape}.")
    im = ax.imshow(K, cmap="viridis", interpolation="nearest")
    for e in edges:
        ax.axhline(e, color="white", lw=0.6)
        ax.axvline(e, color="white", lw=0.6)
    ax.set_xticks(centres, classes)
    ax.set_yticks(centres, classes)
    ax.set_xlabel("sample (sorted by class)")
    ax.set_ylabel("sample (sorted by class)")
    if title is not None:
        ax.set_title(title)
    ax.grid(False)
    return im


def table(frame, decimals: int | None = None, missing: str = "\u2014"):
    """A table as a chapter shows it: rounded, with a dash where a cell has no value.

    A cell is missing where the chapter computed nothing (a network not trained on a dataset,
    a quantity undefined for a row); pandas would print ``NaN``, which reads as a failed
    computation.  Present values are unchanged apart from the rounding.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    decimals
        Round every numeric cell to this many decimals (``None``: as it is).
    missing
        What a missing cell shows.

    Returns
    -------
    pandas.DataFrame
        Same index and columns, object dtype: the rounded values, and ``missing`` where
        ``frame`` has NaN/None.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame; got {type(frame).__name__}.")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0):
        raise ValueError(f"decimals must be None or an int >= 0; got {decimals!r}.")
    shown = frame if decimals is None else frame.round(decimals)
    return shown.astype(object).where(shown.notna(), missing)
