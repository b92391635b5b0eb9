"""Input checks shared by every public function (one home for each rule in DESIGN.md).

Each check raises a ``ValueError``/``TypeError`` that names the argument and
states what was expected; nothing is silently clipped or repaired.
"""

from __future__ import annotations

import numpy as np


def finite_array(value, name: str, *, ndim: int | tuple[int, ...] | None = None, dtype=None) -> np.ndarray:
    """Return ``value`` as a NumPy array after checking it holds no NaN/inf.

    Parameters
    ----------
    value
        Array-like to check.
    name
        Argument name used in the error message.
    ndim
        Required number of dimensions (an int or a tuple of allowed values).
    dtype
        Optional dtype to convert to.
    """
    try:
        # strings are refused before any cast: np.asarray(["1.5"], float) would parse them
        raw = value if isinstance(value, np.ndarray) else np.asarray(value)
        if raw.dtype.kind in "USV":
            raise TypeError(f"{name} must be a numeric array; got dtype {raw.dtype}.")
        arr = np.asarray(raw, dtype=dtype)
    except TypeError as err:
        if str(err).startswith(f"{name} must be"):
            raise
        raise TypeError(f"{name} must be a numeric array; got {type(value).__name__} ({err}).") from err
    except ValueError as err:
        raise TypeError(f"{name} must be a numeric array; got {type(value).__name__} ({err}).") from err
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array; got dtype {arr.dtype}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimensions; got shape {arr.shape}."
            )
    if np.issubdtype(arr.dtype, np.inexact):
        bad = ~np.isfinite(arr)
        if bad.any():
            where = np.argwhere(bad)[0].tolist()
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN or inf value(s) "
                f"(first at index {where}); clean the input first."
            )
    return arr


def labels(y, name: str, num_classes: int | None = None, n: int | None = None) -> np.ndarray:
    """Return integer class labels in ``[0, num_classes)`` as an int64 vector.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, has the wrong length, non-integer values, or labels
        outside ``[0, num_classes)``.
    """
    arr = finite_array(y, name, ndim=1)
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name} must hold integer class labels; got non-integer values.")
    arr = arr.astype(np.int64)
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has length {arr.shape[0]} but {n} was expected (one label per sample).")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} holds negative label {int(arr.min())}; labels must be in [0, num_classes).")
    if num_classes is not None and arr.size and arr.max() >= num_classes:
        raise ValueError(
            f"{name} holds label {int(arr.max())} but num_classes={num_classes}; "
            f"labels must be in [0, {num_classes})."
        )
    return arr


def symmetric_matrix(H, name: str, *, rtol: float = 1e-8) -> np.ndarray:
    """Return ``H`` as a finite float64 square symmetric matrix.

    Symmetry is checked as ``max|H - H.T| <= rtol * max|H|``.
    """
    arr = finite_array(H, name, ndim=2, dtype=np.float64)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square; got shape {arr.shape}.")
    scale = float(np.max(np.abs(arr))) if arr.size else 0.0
    asym = float(np.max(np.abs(arr - arr.T))) if arr.size else 0.0
    if asym > rtol * max(scale, float(np.finfo(np.float64).tiny)):
        raise ValueError(
            f"{name} must be symmetric; max|{name} - {name}.T| = {asym:.3g} "
            f"exceeds {rtol:g} x max|{name}| = {rtol * scale:.3g}."
        )
    return arr


def positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking ``value >= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def fraction(value, name: str, *, low: float = 0.0, high: float = 1.0) -> float:
    """Return ``value`` as a float after checking ``low <= value <= high``."""
    return real_scalar(value, name, low=low, high=high)


def real_scalar(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float after checking it lies in the stated interval.

    Parameters
    ----------
    value
        A real number (Python or NumPy scalar, or a 0-d array); ``bool`` is refused.
    name
        Argument name used in the error message.
    low, high
        Bounds of the interval (``None``: unbounded on that side).
    low_open, high_open
        Exclude the bound itself (``low < value`` instead of ``low <= value``).

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is NaN, infinite, or outside the interval.
    """
    arr = None if isinstance(value, (bool, np.bool_, str, bytes)) else np.asarray(value)
    if (
        arr is None
        or arr.ndim != 0
        or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating))
    ):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}.")
    v = float(arr)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number; got {value}.")
    too_low = low is not None and (v <= low if low_open else v < low)
    too_high = high is not None and (v >= high if high_open else v > high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = (
            f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        )
        raise ValueError(f"{name} must be in {interval}; got {value}.")
    return v


def indices(value, name: str, n: int, *, unique: bool = True, min_size: int = 0) -> np.ndarray:
    """Return integer indices into an axis of length ``n`` as an int64 vector.

    Negative indices are refused rather than wrapped (``-1`` is almost always a bug
    here, not "the last sample"), and so are repeats when ``unique``.

    Raises
    ------
    TypeError
        ``value`` is not numeric.
    ValueError
        Not 1-D, non-integer values, an index outside ``[0, n)``, a repeated index
        (when ``unique``), or fewer than ``min_size`` indices.
    """
    arr = finite_array(value, name, ndim=1)
    if arr.dtype == np.bool_:
        raise TypeError(f"{name} must hold integer indices; got a boolean mask (use np.flatnonzero(mask)).")
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name} must hold integer indices; got non-integer values.")
    arr = arr.astype(np.int64)
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} index(es); got {arr.size}.")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = int(arr[(arr < 0) | (arr >= n)][0])
        raise ValueError(f"{name} holds index {bad}, outside [0, {n}) (negative indices are not wrapped).")
    if unique and len(np.unique(arr)) != arr.size:
        vals, counts = np.unique(arr, return_counts=True)
        raise ValueError(f"{name} repeats index {int(vals[counts > 1][0])}; each index may appear once.")
    return arr


def epoch_list(value, name: str, epochs: int) -> frozenset[int]:
    """Return a non-empty collection of epoch numbers, each in ``[1, epochs]``, as a frozenset.

    Raises
    ------
    ValueError
        Empty, not integers, or an epoch outside ``[1, epochs]`` (the message names it).
    """
    arr = finite_array(value, name, ndim=1)
    if arr.size == 0 or arr.dtype == np.bool_ or not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name} must be epochs in [1, {epochs}]; got {list(np.ravel(value))}.")
    bad = arr[(arr < 1) | (arr > epochs)]
    if bad.size:
        raise ValueError(
            f"{name} must be epochs in [1, {epochs}]; got {int(bad[0])} among {arr.astype(int).tolist()}."
        )
    return frozenset(int(e) for e in arr)


def one_of(value, name: str, options) -> str:
    """Return ``value`` after checking it is one of ``options`` (e.g. a mode name)."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}={value!r}; expected one of {options}.")
    return value


def nonempty(arr: np.ndarray, name: str, *, axes: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``arr`` after checking that it is not empty along ``axes`` (default: every axis).

    A formula on an empty array fails deep inside NumPy (``IndexError``, a reduction
    without identity, a division by zero); this names the argument instead.

    Raises
    ------
    ValueError
        ``arr`` has length 0 along one of ``axes``.
    """
    shape = np.shape(arr)
    axes = tuple(range(len(shape))) if axes is None else axes
    if any(shape[a] == 0 for a in axes):
        raise ValueError(
            f"{name} is empty (shape {tuple(shape)}); it needs at least one "
            f"entry along axis {[a for a in axes if shape[a] == 0][0]}."
        )
    return arr


def real_number(value, name: str, **interval) -> float:
    """Return ``value`` as a finite float; ``True``, ``"2"`` and arrays are refused.

    The one check for a real-valued hyper-parameter (``beta`` of
    :func:`ntkbook.tasks.refurbish_labels`, a learning rate, a ridge): ``float("2")``
    and ``float(True)`` succeed silently, so ``float(value)`` is no check.
    Keyword arguments ``low``, ``high``, ``low_open``, ``high_open`` restrict
    the interval as in :func:`real_scalar`.

    Raises
    ------
    TypeError
        ``value`` is a string, a bool, an array of more than one element, or not a number.
    ValueError
        NaN, inf, or outside the interval.
    """
    return real_scalar(value, name, **interval)
