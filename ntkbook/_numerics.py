"""Small numerical helpers shared by several modules (one home each)."""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis (NumPy, shape preserved).

    Subtracting the row maximum first keeps ``exp`` from overflowing for large logits.
    """
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
