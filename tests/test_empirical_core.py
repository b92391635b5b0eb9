"""The eNTK and pNTK without neural-tangents (the core environment): ``entk_fn``/``pntk_fn``
fall back to :func:`ntkbook.empirical.jacobian_contraction_fn`, plain ``jax.jacrev``.

Reference: the Jacobian of the outputs with respect to the flattened parameters
(``jax.flatten_util.ravel_pytree`` + ``jax.jacobian``, another route through autodiff) and its
products, as in ``tests/test_empirical.py``.  Tolerance 1e-12 relative: the same sums of
products in another order (measured ~1e-16).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkbook import archs, empirical

pytestmark = pytest.mark.core

RTOL = 1e-12


@pytest.fixture(scope="module")
def case():
    init_fn, apply_fn, _ = archs.cnn([3], [5], 3, pool="gap")
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    _, params = init_fn(k1, (1, 5, 5, 1))
    x1, x2 = jax.random.normal(k2, (4, 5, 5, 1)), jax.random.normal(k3, (3, 5, 5, 1))
    flat, unravel = ravel_pytree(params)
    jac = jax.jit(lambda x: jax.jacobian(lambda w: apply_fn(unravel(w), x))(flat))
    return apply_fn, params, x1, x2, np.asarray(jac(x1)), np.asarray(jac(x2))


@pytest.fixture
def no_neural_tangents(monkeypatch):
    monkeypatch.setattr(empirical, "_neural_tangents", lambda: None)
    empirical.entk_fn.cache_clear()
    empirical.pntk_fn.cache_clear()
    yield
    empirical.entk_fn.cache_clear()
    empirical.pntk_fn.cache_clear()


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(b).max())


def test_entk_and_pntks_without_neural_tangents(case, no_neural_tangents):
    apply_fn, params, x1, x2, J1, J2 = case
    _close(empirical.entk(apply_fn, params, x1, x2), np.einsum("aip,bjp->abij", J1, J2))
    _close(empirical.entk(apply_fn, params, x1), np.einsum("aip,bjp->abij", J1, J1))
    o = J1.shape[1]
    g1, g2 = J1.sum(axis=1) / np.sqrt(o), J2.sum(axis=1) / np.sqrt(o)
    _close(empirical.pntk(apply_fn, params, x1, x2, mode="sum"), g1 @ g2.T)
    _close(empirical.pntk(apply_fn, params, x1, x2, mode="first"), J1[:, 0] @ J2[:, 0].T)
    K = np.einsum("aip,bjp->abij", J1, J2)
    _close(empirical.pntk(apply_fn, params, x1, x2, mode="trace"), np.trace(K, axis1=2, axis2=3) / o)
    # blocked through the engine, upper triangle only
    _close(empirical.pntk(apply_fn, params, x1, mode="sum", batch_size=3), g1 @ g1.T)
