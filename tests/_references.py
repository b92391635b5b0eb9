"""Brute-force references shared by several test modules (plain NumPy or jax.numpy, no package
code)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def brute_force_gap(H: np.ndarray, y_pm: np.ndarray) -> np.ndarray:
    """Complexity-Gap by its definition: ``y^T H^-1 y - y_-i^T H_-i^-1 y_-i``, one solve per
    removed sample i.  ``H`` (N, N), ``y_pm`` (N,) in {-1, +1}; returns (N,)."""
    full = y_pm @ np.linalg.solve(H, y_pm)
    out = np.empty(len(y_pm))
    for i in range(len(y_pm)):
        keep = np.arange(len(y_pm)) != i
        out[i] = full - y_pm[keep] @ np.linalg.solve(H[np.ix_(keep, keep)], y_pm[keep])
    return out


def eq13(Y, A):
    """Eq. 13 of DeOliveira et al. (beta = 1) in jax.numpy, written from the paper:
    ``Y`` (N, K) one-hot labels, ``A`` (N, N) the inverse Gram matrix; returns L."""
    K = Y.shape[1]
    Z = Y.T @ A @ Y
    n = Y.sum(0)
    W = Z / jnp.outer(n, n)
    return jnp.sum(jnp.diag(Z) / (n * (n - 1.0))) / K - (jnp.sum(W) - jnp.trace(W)) / (K * K - K)


grad_eq13 = jax.jit(jax.grad(eq13))
"""The gradient of :func:`eq13` in ``Y`` by autodiff (the refurbishment's flip scores)."""
