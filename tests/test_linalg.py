"""ntkbook.linalg, the linear-algebra floor, against references computed another way.

References: ``numpy.linalg.inv``/``solve`` on well-conditioned matrices (condition number
below 1e3, so the two routes agree to about 1e-13 relative; tolerances 1e-10 leave room),
``numpy.linalg.cond`` for the condition number, and the definition of the relative ridge.
"""

import importlib

import numpy as np
import pytest
import scipy.linalg

from ntkbook import linalg

pytestmark = pytest.mark.core


def _spd(rng, n):
    B = rng.normal(size=(n, n))
    return B @ B.T / n + np.eye(n)  # eigenvalues in [1, ~5]: well conditioned


def test_cholesky_solve_reports_ridge_and_exact_condition(rng):
    K = _spd(rng, 30)
    Y = rng.normal(size=(30, 3))
    sol = linalg.cholesky_solve(K, Y, 0.1)
    ridge = 0.1 * np.trace(K) / 30
    A = K + ridge * np.eye(30)
    assert sol.ridge == pytest.approx(ridge, rel=1e-15)
    np.testing.assert_allclose(sol.alpha, np.linalg.solve(A, Y), rtol=1e-10, atol=1e-12)
    assert sol.condition_number == pytest.approx(np.linalg.cond(A), rel=1e-10)
    # the stored factor solves again to the same numbers
    np.testing.assert_allclose(sol.solve(Y), sol.alpha, rtol=1e-14)


def test_estimated_condition_is_within_lapack_bounds(rng):
    K = _spd(rng, 40)
    est = linalg.cholesky_solve(K, np.ones(40), condition="estimate")
    one_norm = np.linalg.cond(K, 1)
    # pocon's estimate is a lower bound of the 1-norm condition number, usually within 3x
    assert one_norm / 3 <= est.condition_number <= one_norm * (1 + 1e-12)


def test_diag_of_inverse_matches_explicit_inverse(rng):
    A = _spd(rng, 25)
    ref = np.diag(np.linalg.inv(A))
    for lower in (True, False):
        factor = scipy.linalg.cho_factor(A, lower=lower)
        np.testing.assert_allclose(linalg.diag_of_inverse(factor), ref, rtol=1e-12)


def test_inverse_from_factor_matches_explicit_inverse(rng):
    A = _spd(rng, 25)
    ref = np.linalg.inv(A)
    for lower in (True, False):
        inv = linalg.inverse_from_factor(scipy.linalg.cho_factor(A, lower=lower))
        np.testing.assert_allclose(inv, ref, rtol=1e-11, atol=1e-13)
        np.testing.assert_array_equal(inv, inv.T)


def test_kernel_regression_is_the_representer_formula(rng):
    K = _spd(rng, 20)
    Kx = rng.normal(size=(7, 20))
    Y = rng.normal(size=20)
    ref = Kx @ np.linalg.solve(K + 0.5 * np.eye(20), Y)
    np.testing.assert_allclose(linalg.kernel_regression(K, Y, Kx, 0.5, relative=False), ref, rtol=1e-10)


def test_old_import_path_is_the_same_object():
    old_home = importlib.import_module("ntkbook.dynamics")
    for name in ("KernelSolve", "cholesky_solve", "kernel_regression"):
        assert getattr(old_home, name) is getattr(linalg, name)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: linalg.diag_of_inverse(np.eye(3)), TypeError, "factor must be a"),
        (lambda: linalg.inverse_from_factor((np.ones((2, 3)), True)), ValueError, "must be square"),
        (lambda: linalg.inverse_from_factor((np.zeros((3, 3)), True)), ValueError, "potri failed"),
        (lambda: linalg.cholesky_solve(np.eye(3), np.ones(3)).solve(np.ones(4)), ValueError, "B has 4 rows"),
        (
            lambda: linalg.cholesky_solve(np.diag([1.0, 0.0]), np.ones(2), condition="estimate"),
            ValueError,
            "too ill-conditioned",
        ),
    ],
)
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_relative_frobenius_against_an_explicit_sum():
    rng = np.random.default_rng(3)
    a, ref = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    want = np.sqrt(sum((x - r) ** 2 for x, r in zip(a.ravel(), ref.ravel()))) / np.sqrt(
        sum(r**2 for r in ref.ravel())
    )
    assert linalg.relative_frobenius(a, ref) == pytest.approx(want, rel=1e-14)
    # the reference is the denominator: swapping the arguments changes the value
    assert linalg.relative_frobenius(ref, a) != pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="x and y must have the same shape"):
        linalg.relative_frobenius(a, ref[:3], ("x", "y"))
    with pytest.raises(ValueError, match="y is all zeros"):
        linalg.relative_frobenius(a, 0 * ref, ("x", "y"))
