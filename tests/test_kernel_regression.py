"""Kernel regression against neural-tangents' predictor and a dense solve."""

from __future__ import annotations

import neural_tangents as nt
import numpy as np
import pytest

from ntkbook import archs
from ntkbook.dynamics import cholesky_solve, kernel_regression


def test_matches_neural_tangents_predict(rng):
    x, xt = rng.normal(size=(30, 6)), rng.normal(size=(7, 6))
    y = rng.normal(size=(30, 3))
    kernel_fn = archs.mlp(3).kernel_fn
    k_train = np.asarray(kernel_fn(x, None, "ntk"))
    k_test = np.asarray(kernel_fn(xt, x, "ntk"))
    reg = 1e-3
    predict = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x, y, diag_reg=reg)
    ref = np.asarray(predict(x_test=xt, get="ntk", compute_cov=False))
    ours = kernel_regression(k_train, y, k_test, reg=reg)
    # neural-tangents also scales diag_reg by trace/N; both solve the same system
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-10)


def test_absolute_ridge_and_dense_solve(rng):
    A = rng.normal(size=(20, 20))
    K = A @ A.T
    Y = rng.normal(size=20)
    sol = cholesky_solve(K, Y, 0.5, relative=False)
    np.testing.assert_allclose(sol.alpha, np.linalg.solve(K + 0.5 * np.eye(20), Y), rtol=1e-10)
    assert sol.ridge == 0.5
    np.testing.assert_allclose(sol.condition_number, np.linalg.cond(K + 0.5 * np.eye(20)), rtol=1e-8)


def test_condition_estimate_tracks_the_1_norm_condition_number(rng):
    A = rng.normal(size=(40, 40))
    K = A @ A.T + 1e-3 * np.eye(40)
    exact_1norm = np.linalg.cond(K, 1)
    est = cholesky_solve(K, np.ones(40), condition="estimate")
    # LAPACK's estimator is a lower bound that is exact or within a small factor in practice
    assert exact_1norm / 3 <= est.condition_number <= exact_1norm * (1 + 1e-8)
    np.testing.assert_allclose(est.alpha, cholesky_solve(K, np.ones(40)).alpha, rtol=1e-8)
    with pytest.raises(ValueError, match="not positive definite"):
        cholesky_solve(-np.eye(3), np.ones(3), condition="estimate")
    with pytest.raises(ValueError, match="condition="):
        cholesky_solve(K, np.ones(40), condition="fast")


def test_interpolates_training_targets_without_ridge(rng):
    x = rng.normal(size=(15, 4))
    K = np.asarray(archs.mlp(2).kernel_fn(x, None, "ntk"))
    y = rng.normal(size=(15, 2))
    np.testing.assert_allclose(kernel_regression(K, y), y, atol=1e-8)
