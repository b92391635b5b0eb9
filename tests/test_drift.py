"""ntkbook.drift against an independent route.

Reference: the eNTK from explicit Jacobians (``ravel_pytree`` + ``jax.jacobian``, another path
through autodiff than :mod:`ntkbook.empirical`) at the initial and final weights of the same
gradient-descent run, re-run here by hand with ``jax.grad`` on the flattened parameters. Float64
throughout; the two routes agree to ~1e-12, tolerance 1e-8 (the kernel change is a difference of
two nearby matrices, which loses a few digits). :func:`drift_slope` against an exact power law.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from ntkbook import archs, drift, empirical

pytestmark = pytest.mark.core


def test_kernel_drift_matches_explicit_jacobians():
    rng = np.random.default_rng(0)
    x, xp = rng.standard_normal((6, 4)), rng.standard_normal((3, 4))
    Y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    rows = drift.kernel_drift(x, Y, xp, width=16, seed=2, depth=2, steps=5, lr_scale=0.5)
    assert [r["step"] for r in rows] == [0, 5]
    init_fn, apply_fn, _ = archs.mlp(2, 16, 3)
    _, p0 = init_fn(jax.random.PRNGKey(2), x.shape)
    flat, unravel = ravel_pytree(p0)
    lam = np.linalg.eigvalsh(empirical.pntk(apply_fn, p0, x))[-1]
    loss = lambda w: 0.5 * jnp.sum((apply_fn(unravel(w), x) - Y) ** 2)
    w = flat
    for _ in range(5):
        w = w - 0.5 / lam * jax.grad(loss)(w)

    def entk(wv):
        J = np.asarray(jax.jacobian(lambda v: apply_fn(unravel(v), xp))(wv)).reshape(-1, flat.size)
        return J @ J.T

    K0, K5 = entk(flat), entk(w)
    want = np.linalg.norm(K5 - K0) / np.linalg.norm(K0)
    assert rows[-1]["kernel_change"] == pytest.approx(want, rel=1e-8)
    assert rows[0]["kernel_change"] == 0.0


def test_drift_slope_power_law():
    w = np.array([32.0, 256.0, 2048.0])
    assert drift.drift_slope(w, 3.0 * w**-0.5) == pytest.approx(-0.5, abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        drift.drift_slope(w, [1.0, 0.0, 1.0])
