"""Brute-force references shared by several test modules (plain NumPy, no package code)."""

from __future__ import annotations

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
