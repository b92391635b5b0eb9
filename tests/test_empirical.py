"""Tests of ntkbook.empirical: eNTK and pNTK against hand-built Jacobian products.

References are computed another way: ``jax.jacobian`` of the network with
respect to its flattened parameters (``ravel_pytree``), so the kernel is the
explicit product J1 J2^T; closed forms for a linear readout on fixed features;
``numpy.linalg`` solves of the flattened kernel-regression systems.  Everything
runs in float64 (conftest), so agreement is asked to 1e-10 relative: the
kernels are sums of a few thousand products of O(1) numbers, whose rounding
error is ~1e-13.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from neural_tangents import stax

from ntkbook import archs, empirical

RTOL = 1e-10


@pytest.fixture(scope="module")
def tiny():
    """A 3-layer ReLU MLP, width 7, 3 outputs, on 5 + 4 random inputs of dimension 4.

    Module-scoped (built from PRNGKey(0), the ``key`` fixture's value): one ``apply_fn``
    for the whole module, so :func:`ntkbook.empirical.entk_fn`/``pntk_fn``, cached per
    ``apply_fn``, compile each implementation once instead of once per test.
    """
    init_fn, apply_fn, _ = archs.mlp(3, width=7, out_dim=3)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    _, params = init_fn(k1, (1, 4))
    x1 = jax.random.normal(k2, (5, 4))
    x2 = jax.random.normal(k3, (4, 4))
    return apply_fn, params, x1, x2


def jacobian(apply_fn, params, x):
    """(N, O, P) Jacobian of the outputs w.r.t. the flattened parameters.

    Jitted: one compilation instead of one per primitive of the eager evaluation (the
    same derivatives; a product-and-sum chain without cancellation, so rounding stays
    ~1e-16, far below RTOL).
    """
    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.jacobian(lambda w: apply_fn(unravel(w), x)))(flat)


@pytest.fixture(scope="module")
def jacobians(tiny):
    """The reference Jacobians J1, J2 of ``tiny`` on x1, x2, computed once for the module."""
    apply_fn, params, x1, x2 = tiny
    return np.asarray(jacobian(apply_fn, params, x1)), np.asarray(jacobian(apply_fn, params, x2))


@pytest.mark.parametrize("implementation", empirical.IMPLEMENTATIONS)
def test_entk_equals_jacobian_product(tiny, jacobians, implementation):
    apply_fn, params, x1, x2 = tiny
    J1, J2 = jacobians
    ref = np.einsum("aip,bjp->abij", J1, J2)
    K = empirical.entk(apply_fn, params, x1, x2, implementation=implementation)
    assert K.shape == (5, 4, 3, 3)
    np.testing.assert_allclose(K, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())
    # x2=None is the kernel of x1 with itself
    K11 = empirical.entk(apply_fn, params, x1, implementation=implementation)
    ref11 = np.einsum("aip,bjp->abij", J1, J1)
    np.testing.assert_allclose(K11, ref11, rtol=RTOL, atol=RTOL * np.abs(ref11).max())


def test_entk_blocked_equals_unblocked(tiny):
    apply_fn, params, x1, x2 = tiny
    full = empirical.entk(apply_fn, params, x1, x2)
    blocked = empirical.entk(apply_fn, params, x1, x2, batch_size=2)
    # same arithmetic on sub-blocks: identical up to rounding
    np.testing.assert_allclose(blocked, full, rtol=RTOL, atol=RTOL * np.abs(full).max())


def test_pntk_sum_and_first_equal_direct_jacobians(tiny, jacobians):
    apply_fn, params, x1, x2 = tiny
    J1, J2 = jacobians
    o = J1.shape[1]
    # gradient of (1/sqrt O) sum_j f_j is (1/sqrt O) sum_j grad f_j
    g1, g2 = J1.sum(axis=1) / np.sqrt(o), J2.sum(axis=1) / np.sqrt(o)
    ref_sum = g1 @ g2.T
    P = empirical.pntk(apply_fn, params, x1, x2, mode="sum")
    assert P.shape == (5, 4)
    np.testing.assert_allclose(P, ref_sum, rtol=RTOL, atol=RTOL * np.abs(ref_sum).max())
    ref_first = J1[:, 0] @ J2[:, 0].T
    P1 = empirical.pntk(apply_fn, params, x1, x2, mode="first")
    np.testing.assert_allclose(P1, ref_first, rtol=RTOL, atol=RTOL * np.abs(ref_first).max())
    # the sum-of-logits pNTK is the mean of all O x O blocks' entries (times O / O)
    K = empirical.entk(apply_fn, params, x1, x2)
    np.testing.assert_allclose(P, K.sum(axis=(2, 3)) / o, rtol=RTOL, atol=RTOL * np.abs(ref_sum).max())


@pytest.mark.parametrize("implementation", empirical.IMPLEMENTATIONS)
def test_pntk_implementations_agree(tiny, implementation):
    apply_fn, params, x1, x2 = tiny
    ref = empirical.pntk(apply_fn, params, x1, x2, implementation="jacobian_contraction")
    P = empirical.pntk(apply_fn, params, x1, x2, implementation=implementation)
    np.testing.assert_allclose(P, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())


def test_trace_mode_is_mean_of_diagonal_blocks(tiny):
    apply_fn, params, x1, x2 = tiny
    K = empirical.entk(apply_fn, params, x1, x2)
    ref = np.trace(K, axis1=2, axis2=3) / K.shape[2]
    T = empirical.pntk(apply_fn, params, x1, x2, mode="trace")
    np.testing.assert_allclose(T, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())
    # and it is a different kernel from the sum-of-logits pNTK at finite width
    P = empirical.pntk(apply_fn, params, x1, x2, mode="sum")
    assert np.linalg.norm(T - P) > 1e-3 * np.linalg.norm(T)


@pytest.fixture(scope="module")
def readout():
    """Linear readout f(x) = (W_std/sqrt(h)) V phi(x) + b_std b on fixed features phi (NTK param.).

    Module-scoped (PRNGKey(0) and default_rng(0), the ``key`` and ``rng`` fixtures' values):
    one ``apply_fn``, so its eNTK function compiles once for the module.
    """
    rng = np.random.default_rng(0)
    h, o, n = 6, 4, 7
    phi = np.maximum(rng.standard_normal((n, 5)) @ rng.standard_normal((5, h)), 0.0)
    init_fn, apply_fn, _ = stax.Dense(o, W_std=1.3, b_std=0.4)
    _, params = init_fn(jax.random.PRNGKey(0), (1, h))
    # eNTK = (W_std^2/h phi phi^T + b_std^2) (x) I_O, exactly
    k = 1.3**2 / h * phi @ phi.T + 0.4**2
    return apply_fn, params, phi, k, o


def test_linear_readout_entk_is_block_diagonal(readout):
    apply_fn, params, phi, k, o = readout
    K = empirical.entk(apply_fn, params, phi)
    ref = k[:, :, None, None] * np.eye(o)
    np.testing.assert_allclose(K, ref, rtol=RTOL, atol=RTOL * np.abs(k).max())
    # the flattened matrix is the Kronecker product k (x) I_O (sample-major order)
    np.testing.assert_allclose(
        empirical.flatten_entk(K), np.kron(k, np.eye(o)), rtol=RTOL, atol=RTOL * np.abs(k).max()
    )
    # pNTK (sum of logits and first logit) equals k, so the Frobenius error is 0
    for mode in ("sum", "first"):
        P = empirical.pntk(apply_fn, params, phi, mode=mode)
        np.testing.assert_allclose(P, k, rtol=RTOL, atol=RTOL * np.abs(k).max())
        assert empirical.relative_frobenius_error(K, P) < RTOL


def test_relative_frobenius_error_against_explicit_kronecker(rng):
    n, o = 4, 3
    K = rng.standard_normal((n, n, o, o))
    P = rng.standard_normal((n, n))
    flat = empirical.flatten_entk(K)
    ref = np.linalg.norm(flat - np.kron(P, np.eye(o))) / np.linalg.norm(flat)
    assert empirical.relative_frobenius_error(K, P) == pytest.approx(ref, rel=1e-12)


def test_eigen_stats_and_spectra(readout, rng):
    apply_fn, params, phi, k, o = readout
    K = empirical.entk(apply_fn, params, phi)
    ev = np.linalg.eigvalsh(k)
    st = empirical.eigen_stats(K)
    # eigenvalues of k (x) I_O are those of k, repeated O times
    assert st.lambda_max == pytest.approx(ev[-1], rel=1e-10)
    assert st.lambda_min == pytest.approx(ev[0], rel=1e-8, abs=1e-10 * ev[-1])
    assert st.condition_number == pytest.approx(ev[-1] / ev[0], rel=1e-6)
    cmp = empirical.compare_spectra(K, k)
    assert cmp["rel_lambda_max"] < 1e-10 and cmp["rel_lambda_min"] < 1e-6
    # a generic symmetric matrix, against numpy directly
    A = rng.standard_normal((6, 6))
    A = A @ A.T + np.eye(6)
    e = np.linalg.eigvalsh(A)
    st2 = empirical.eigen_stats(A)
    assert (st2.lambda_max, st2.lambda_min) == pytest.approx((e[-1], e[0]), rel=1e-12)


def test_entk_regression_matches_flattened_solve(rng):
    n, m, o, reg = 6, 3, 2, 0.1
    Jtr = rng.standard_normal((n * o, 40))
    Jte = rng.standard_normal((m * o, 40))
    flat_tr, flat_te = Jtr @ Jtr.T, Jte @ Jtr.T
    K_tr = flat_tr.reshape(n, o, n, o).transpose(0, 2, 1, 3)
    K_te = flat_te.reshape(m, o, n, o).transpose(0, 2, 1, 3)
    Y = rng.standard_normal((n, o))
    f0_tr, f0_te = rng.standard_normal((n, o)), rng.standard_normal((m, o))
    ridge = reg * np.trace(flat_tr) / (n * o)
    alpha = np.linalg.solve(flat_tr + ridge * np.eye(n * o), (Y - f0_tr).reshape(-1))
    ref = f0_te + (flat_te @ alpha).reshape(m, o)
    got = empirical.entk_regression(K_tr, Y, K_te, reg, f0_train=f0_tr, f0_test=f0_te)
    # a 12 x 12 well-conditioned solve: Cholesky and LU agree to ~1e-13
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_regressions_agree_on_block_diagonal_kernel(rng):
    # For eNTK = k (x) I_O the two systems are the same problem, and the
    # relative ridges coincide: trace(k (x) I)/(N O) = trace(k)/N.
    n, m, o, reg = 8, 5, 3, 0.05
    X = rng.standard_normal((n + m, 5))
    k_all = np.exp(-0.5 * ((X[:, None] - X[None]) ** 2).sum(-1))
    k, kt = k_all[:n, :n], k_all[n:, :n]
    Y = rng.standard_normal((n, o))
    eye = np.eye(o)
    fe = empirical.entk_regression(k[:, :, None, None] * eye, Y, kt[:, :, None, None] * eye, reg)
    fp = empirical.pntk_regression(k, Y, kt, reg)
    ref = kt @ np.linalg.solve(k + reg * np.trace(k) / n * np.eye(n), Y)
    np.testing.assert_allclose(fp, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fe, fp, rtol=1e-10, atol=1e-12)
    assert empirical.relative_prediction_difference(fe, fp) < 1e-10
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert empirical.relative_prediction_difference(a, b) == pytest.approx(
        np.sqrt(((a - b) ** 2).sum() / (a**2).sum()), rel=1e-12
    )


def test_peak_memory_of_a_matrix_product():
    # c = a @ b then s = sum(c): arguments a, b stay held; c is the only
    # intermediate; the peak is a + b + c (the scalar adds 8 bytes while c lives).
    a = jax.ShapeDtypeStruct((30, 40), jnp.float64)
    b = jax.ShapeDtypeStruct((40, 50), jnp.float64)
    got = empirical.peak_memory_bytes(lambda a, b: jnp.sum(a @ b), a, b)
    assert got == 8 * (30 * 40 + 40 * 50 + 30 * 50 + 1)
    # two products whose results are not needed together: c1 is freed before c2 exists
    got2 = empirical.peak_memory_bytes(lambda a, b: jnp.sum(a @ b) + jnp.sum(2.0 * (a @ b)), a, b)
    assert got2 == 8 * (30 * 40 + 40 * 50 + 2 * 30 * 50 + 1)


def test_full_entk_needs_more_memory_than_pntk(tiny):
    apply_fn, params, x1, _ = tiny
    fe = empirical.entk_fn(apply_fn, "jacobian_contraction")
    fp = empirical.pntk_fn(apply_fn, "sum", "jacobian_contraction")
    me = empirical.peak_memory_bytes(fe, x1, None, params)
    mp = empirical.peak_memory_bytes(fp, x1, None, params)
    # the eNTK's output alone is O^2 = 9 times the pNTK's, and it holds O Jacobians per input
    assert me > mp + 5 * 5 * (9 - 1) * 8
    cost = empirical.measure_cost(fp, x1, None, params, repeats=1)
    assert cost.seconds > 0 and cost.peak_bytes == mp
