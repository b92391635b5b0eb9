"""ntkbook.tasks.printed (chapter 14): eq. 13 in JAX and the literal reading of eq. 12."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import closed_form
from ntkbook.tasks import block_diagonalization_error, label_gradient, printed

pytestmark = pytest.mark.core


@pytest.fixture
def problem(rng):
    X = rng.standard_normal((40, 6))
    H = np.asarray(closed_form.relu_ntk_eq4(X / np.linalg.norm(X, axis=1, keepdims=True))) + 1e-2 * np.eye(40)
    y = np.arange(40) % 4
    return H, y


def test_eq13_is_eq10_on_one_hot_and_its_grad_the_closed_form(problem, rng):
    # references: the package's eq. 10 (Cholesky, NumPy) and closed-form gradient (theorem)
    H, y = problem
    A = jnp.asarray(np.linalg.inv(H))
    Y1 = np.eye(4)[y]
    assert float(printed.eq13(jnp.asarray(Y1), A)) == pytest.approx(
        block_diagonalization_error(H, y), rel=1e-9
    )
    Ys = 0.7 * Y1 + 0.3 * rng.dirichlet(np.ones(4), size=40)
    g = np.asarray(jax.grad(printed.eq13)(jnp.asarray(Ys), A))
    np.testing.assert_allclose(g, label_gradient(H, Ys), rtol=1e-8, atol=1e-10 * np.abs(g).max())


def test_eq12_as_printed_entrywise(rng):
    # reference: the same literal reading written entry by entry (delta symbols as ifs)
    N, K, beta = 5, 3, 0.7
    M = rng.standard_normal((N, K))
    Z = rng.standard_normal((K, K))
    Z = Z + Z.T
    n = np.array([4.0, 5.0, 6.0])
    ref = np.zeros((N, K))
    for i in range(N):
        for j in range(K):
            for k in range(K):
                D = n[k] * (n[k] - 1)
                ref[i, j] += (
                    (2 * M[i, k] * (n[k] ** 2 - n[k]) - Z[k, k] * ((j == k) * (n[k] - 1) + (j == k) * n[k]))
                    / D**2
                    / K
                )
                for d in range(K):
                    if d != k:
                        P = n[k] * n[d]
                        ref[i, j] -= (
                            beta
                            / (K * K - K)
                            * (
                                (M[i, d] * (j == d) + M[i, k] * (j == k)) * P
                                - Z[k, d] * ((j == k) * n[d] + (j == d) * n[k])
                            )
                            / P**2
                        )
    np.testing.assert_allclose(printed.eq12_as_printed(M, Z, n, beta), ref, rtol=1e-12, atol=1e-15)
