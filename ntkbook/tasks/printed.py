"""DeOliveira et al.'s eqs. 12 and 13 written as printed, for chapter 14's checks.

* :func:`eq13` -- the block-diagonalization error of a *real-valued* label matrix in
  ``jax.numpy``, so ``jax.grad`` gives an independent reference for the closed-form gradient
  (:func:`ntkbook.tasks.label_gradient`);
* :func:`eq12_as_printed` -- eq. 12 read literally with NumPy broadcasting (the column
  ``2 (A Y)_{:,k}`` broadcast over all columns, ``M e_d^T`` as M with only column d kept,
  ``e_k^T n_d`` as a row broadcast over all rows). It is *not* the gradient; chapter 14
  measures how far it is from it (the notation issue of the record ``000-eq12``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["eq13", "eq12_as_printed"]


def eq13(Y, A, beta: float = 1.0):
    """Eq. 13: ``L`` of ``Z = Y^T A Y`` with counts ``n = Y^T 1``, in ``jax.numpy``.

    Parameters
    ----------
    Y : array, shape (N, K)
        Real-valued label matrix (column sums > 1).
    A : array, shape (N, N)
        ``(H^inf)^{-1}``, symmetric.
    beta
        Off-diagonal weight.

    Returns
    -------
    jax scalar
    """
    import jax.numpy as jnp

    K = Y.shape[1]
    Z = Y.T @ A @ Y
    n = Y.sum(0)
    W = Z / jnp.outer(n, n)
    return jnp.sum(jnp.diag(Z) / (n * (n - 1))) / K - beta * (W.sum() - jnp.trace(W)) / (K * K - K)


def eq12_as_printed(M, Z, n, beta: float = 1.0) -> np.ndarray:
    """Eq. 12 read literally with broadcasting (not the gradient; see the module docstring).

    Parameters
    ----------
    M : array, shape (N, K)
        ``A Y``.
    Z : array, shape (K, K)
        ``Y^T A Y``.
    n : array, shape (K,)
        Column sums of Y.
    beta
        Off-diagonal weight.

    Returns
    -------
    ndarray, shape (N, K)
    """
    M, Z, n = (np.asarray(v, dtype=np.float64) for v in (M, Z, n))
    N, K = M.shape
    E = np.eye(K)
    G = np.zeros((N, K))
    for k in range(K):
        D = n[k] * (n[k] - 1)
        G += (
            (
                (2 * M[:, k])[:, None] * (n[k] ** 2 - n[k])
                - Z[k, k] * (E[k] * (n[k] - 1) + E[k] * n[k])[None, :]
            )
            / D**2
            / K
        )
    for k in range(K):
        for d in range(K):
            if d != k:
                P = n[k] * n[d]
                G -= (
                    beta
                    / (K * K - K)
                    * ((M * E[d] + M * E[k]) * P - Z[k, d] * (E[k] * n[d] + E[d] * n[k])[None, :])
                    / P**2
                )
    return G
