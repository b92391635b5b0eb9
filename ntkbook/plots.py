"""Figure helpers shared by the chapters: one style, labelled axes, fitted slopes.

Call :func:`use_style` once at the top of a notebook.  Every helper returns the
matplotlib ``Axes`` it drew on so a chapter can add to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["use_style", "loglog_with_slope", "fit_loglog_slope", "log_ticks"]


def use_style() -> None:
    """Apply the book's seaborn style (white grid, colour-blind palette, readable fonts)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update(
        {"figure.figsize": (6.4, 4.0), "figure.dpi": 100, "savefig.bbox": "tight", "axes.titleweight": "bold"}
    )


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
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2; got shapes {x.shape}, {y.shape}.")
    if np.any(x <= 0) or np.any(y <= 0) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite and positive for a log-log fit.")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
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
