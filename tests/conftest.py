"""Test configuration: strict, double-precision JAX and explicit random keys.

* ``jax_numpy_rank_promotion='raise'`` makes silent broadcasting between arrays
  of different rank an error, so shape bugs fail loudly in the tests.
* float64 is on: reference values are compared at 1e-10 and tighter.
* Randomness comes from ``jax.random`` keys and ``np.random.default_rng`` seeds
  passed explicitly (fixtures below); never from Python's ``random``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# ntkbook first: importing it defers neural-tangents' TensorFlow interop (unused by the
# tests but for one that asks for it), which saves every test process about 5 s of CPU
import jax
import numpy as np
import pytest

import ntkbook  # noqa: F401

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def key():
    """A fixed JAX PRNG key."""
    return jax.random.PRNGKey(0)


@pytest.fixture
def rng():
    """A fixed NumPy generator."""
    return np.random.default_rng(0)


# Relative tolerances keyed by dtype, as neural-tangents' own tests do.
RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
