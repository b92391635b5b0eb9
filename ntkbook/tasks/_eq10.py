"""Eq. 10 of DeOliveira et al. (2025) and its gradient, without input checks.

The block-diagonalization error ``L(Z)`` and its closed-form gradient ``dL/dY`` are
evaluated once per label flip by the refurbishment loop (:mod:`.refurbish`) and behind
the checked public functions of :mod:`.labels`; both modules import them from here (a
package-internal module: its names are public to ``ntkbook``, not to users).  Callers pass
``Z`` (K, K) symmetric and counts ``n`` (K,) with every count >= 2 (see :func:`check_counts`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_counts", "block_error", "gradient"]


def check_counts(counts: np.ndarray, name: str = "y") -> None:
    """Every class needs >= 2 members: eq. 10 divides by n_k (n_k - 1)."""
    small = np.flatnonzero(counts < 2)
    if small.size:
        k = int(small[0])
        raise ValueError(
            f"class {k} of {name} has {int(counts[k])} member(s) (classes with fewer than 2: "
            f"{small.tolist()}); the block-diagonalization error divides by n_k (n_k - 1). "
            "Drop or merge such classes, or relabel them."
        )


def block_error(Z: np.ndarray, n: np.ndarray, beta: float) -> float:
    """Eq. 10 without the input checks of :func:`ntkbook.tasks.labels.block_error_from_z`.

    For callers that build ``Z`` (K, K) symmetric and ``n`` (K,) with every count >= 2
    themselves, e.g. the refurbishment loop, which evaluates it once per flip.
    """
    k = n.shape[0]
    diag = np.sum(np.diag(Z) / (n * (n - 1.0))) / k
    if k == 1:
        return float(diag)
    W = Z / np.outer(n, n)
    off = (np.sum(W) - np.trace(W)) * beta / (k * k - k)
    return float(diag - off)


def gradient(M: np.ndarray, Z: np.ndarray, n: np.ndarray, beta: float) -> np.ndarray:
    """Closed-form ``dL/dY`` of eq. 13 (our corrected eq. 12) from ``M = A Y``, ``Z``, ``n``.

    With ``A = H^{-1}`` symmetric, ``dZ_kd/dY_ij = delta_jk M_id + delta_jd M_ik`` and
    ``dn_k/dY_ij = delta_jk``, so with ``D_j = n_j (n_j - 1)`` and ``u = 1/n``

        dL/dY_ij = 1/K [2 M_ij / D_j - Z_jj (2 n_j - 1) / D_j^2]
                   - 2 beta/(K^2 - K) u_j [sum_{d != j} M_id u_d - u_j sum_{d != j} Z_jd u_d].

    Cost O(N K).  Shapes: M (N, K), Z (K, K), n (K,) -> (N, K).
    """
    k = n.shape[0]
    D = n * (n - 1.0)
    G = (2.0 * M / D[None, :] - (np.diag(Z) * (2.0 * n - 1.0) / D**2)[None, :]) / k
    if k > 1:
        u = 1.0 / n
        cross_m = (M @ u)[:, None] - M * u[None, :]  # sum_{d != j} M_id u_d
        cross_z = Z @ u - np.diag(Z) * u  # sum_{d != j} Z_jd u_d
        G = G - (2.0 * beta / (k * k - k)) * u[None, :] * (cross_m - (u * cross_z)[None, :])
    return G
