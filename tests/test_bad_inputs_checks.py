"""The shared input checks of ``ntkbook._checks`` (issue 25): strings are never parsed as
numbers, ``True`` and ``"2"`` are not real numbers, empty arrays are named."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import _checks

pytestmark = pytest.mark.core

NAN = float("nan")
CASES = [
    (
        "finite_array",
        lambda: _checks.finite_array(["1.5", "2"], "x", dtype=np.float64),
        TypeError,
        "x must be a numeric array; got dtype <U3",
    ),
    (
        "finite_array",
        lambda: _checks.finite_array(np.array([b"1"]), "x", dtype=np.float64),
        TypeError,
        "x must be a numeric",
    ),
    (
        "finite_array",
        lambda: _checks.finite_array([[1.0], [1.0, 2.0]], "x"),
        TypeError,
        "x must be a numeric",
    ),
    ("finite_array", lambda: _checks.finite_array([1.0, NAN], "x"), ValueError, r"x contains 1 NaN"),
    (
        "finite_array",
        lambda: _checks.finite_array([1.0], "x", ndim=2),
        ValueError,
        "x must have 2 dimensions",
    ),
    (
        "real_number",
        lambda: _checks.real_number("2", "beta"),
        TypeError,
        "beta must be a real number; got str",
    ),
    (
        "real_number",
        lambda: _checks.real_number(True, "beta"),
        TypeError,
        "beta must be a real number; got bool",
    ),
    (
        "real_number",
        lambda: _checks.real_number(np.bool_(True), "beta"),
        TypeError,
        "beta must be a real number",
    ),
    (
        "real_number",
        lambda: _checks.real_number([2.0], "beta"),
        TypeError,
        "beta must be a real number; got list",
    ),
    ("real_number", lambda: _checks.real_number(NAN, "beta"), ValueError, "beta must be a finite number"),
    (
        "real_number",
        lambda: _checks.real_number(-1.0, "beta", low=0.0),
        ValueError,
        r"beta must be in \[0, inf\)",
    ),
    ("real_scalar", lambda: _checks.real_scalar(b"2", "reg"), TypeError, "reg must be a real number"),
    ("fraction", lambda: _checks.fraction(1.5, "rate"), ValueError, r"rate must be in \[0, 1\]"),
    (
        "nonempty",
        lambda: _checks.nonempty(np.zeros((3, 0)), "X"),
        ValueError,
        r"X is empty \(shape \(3, 0\)\); .* axis 1",
    ),
    (
        "nonempty",
        lambda: _checks.nonempty(np.zeros((0, 3)), "X", axes=(0,)),
        ValueError,
        r"X is empty .* axis 0",
    ),
    ("labels", lambda: _checks.labels([0, 3], "y", 3), ValueError, r"y holds label 3 but num_classes=3"),
    ("labels", lambda: _checks.labels(["0"], "y"), TypeError, "y must be a numeric"),
    (
        "symmetric_matrix",
        lambda: _checks.symmetric_matrix(np.ones((2, 3)), "H"),
        ValueError,
        "H must be square",
    ),
    ("positive_int", lambda: _checks.positive_int(True, "n"), TypeError, "n must be an integer; got bool"),
    (
        "indices",
        lambda: _checks.indices([True, False], "idx", 2),
        TypeError,
        "idx must hold integer indices; got a boolean",
    ),
    ("one_of", lambda: _checks.one_of("x", "mode", ("a", "b")), ValueError, r"mode='x'; expected one of"),
    (
        "epoch_list",
        lambda: _checks.epoch_list([0, 2], "at", 3),
        ValueError,
        r"at must be epochs in \[1, 3\]; got 0",
    ),
    ("epoch_list", lambda: _checks.epoch_list([2.5], "at", 3), ValueError, r"at must be epochs in \[1, 3\]"),
    ("epoch_list", lambda: _checks.epoch_list([True], "at", 3), ValueError, r"at must be epochs in \[1, 3\]"),
    ("epoch_list", lambda: _checks.epoch_list([], "at", 3), ValueError, r"at must be epochs in \[1, 3\]"),
    ("epoch_list", lambda: _checks.epoch_list([1, np.nan], "at", 3), ValueError, "at contains"),
]


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_table_covers_every_check():
    public = {
        n
        for n, v in vars(_checks).items()
        if callable(v) and not n.startswith("_") and getattr(v, "__module__", "") == _checks.__name__
    }
    assert public == {c[0] for c in CASES}


def test_valid_values_pass_unchanged():
    assert _checks.epoch_list([3, 1, 3], "at", 3) == frozenset({1, 3})
    assert _checks.real_number(np.float32(0.5), "beta") == 0.5
    assert _checks.real_number(2, "beta", low=0.0) == 2.0
    assert _checks.nonempty(np.zeros((0, 3)), "X", axes=(1,)).shape == (0, 3)
    np.testing.assert_array_equal(_checks.finite_array([1, 2], "x", dtype=np.float64), [1.0, 2.0])
