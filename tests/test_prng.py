"""ntkbook draws the same weights and minibatch orders on every JAX (ntkbook._prng).

The reference numbers are neural-tangents' ``stax`` draws on the book's pinned stack (JAX 0.4.23,
whose threefry is the original, non-partitionable one), printed there with float64 on:
``stax.serial(stax.Dense(3, b_std=0.5), stax.Relu(), stax.Dense(2))`` initialised with
``PRNGKey(0)`` on inputs ``(-1, 4)``, and ``stax.serial(stax.Conv(2, (3, 3), padding="SAME"),
stax.Relu(), stax.Flatten(), stax.Dense(1))`` with ``PRNGKey(1)`` on ``(-1, 5, 5, 1)``.  The
core suite runs this on a current JAX, whose default threefry draws other numbers.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook import layers
from ntkbook._x64 import x64_scope
from ntkbook.dynamics import train

pytestmark = pytest.mark.core


def test_layer_draws_equal_the_pinned_stacks_stax_draws():
    with x64_scope(True):
        _, p = layers.serial(layers.Dense(3, b_std=0.5), layers.Relu(), layers.Dense(2)).init_fn(
            jax.random.PRNGKey(0), (-1, 4)
        )
        np.testing.assert_allclose(p[0][0][0], [-0.29091826, 0.51095287, -0.22001765], rtol=1e-7)
        np.testing.assert_allclose(p[0][1].ravel(), [-0.20721572, -1.04552135, 1.27173643], rtol=1e-7)
        np.testing.assert_allclose(p[2][0][:, 0], [0.64596365, 0.05550423, -0.71085872], rtol=1e-7)
        net = layers.serial(
            layers.Conv(2, (3, 3), padding="SAME"), layers.Relu(), layers.Flatten(), layers.Dense(1)
        )
        _, p = net.init_fn(jax.random.PRNGKey(1), (-1, 5, 5, 1))
        np.testing.assert_allclose(p[0][0][0, 0, 0], [1.18615942, -1.05852412], rtol=1e-7)
        np.testing.assert_allclose(p[3][0][:3, 0], [-0.0140272, 0.52066833, -1.32598565], rtol=1e-7)
        # a single layer draws the same way
        _, w = layers.Dense(3, b_std=0.5).init_fn(jax.random.PRNGKey(0), (-1, 4))
        assert w[0].shape == (4, 3)


@pytest.mark.parametrize("setting", [True, False])
def test_the_readers_own_setting_is_left_as_it_was(setting):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    before = bool(jax.config.jax_threefry_partitionable)
    jax.config.update("jax_threefry_partitionable", setting)  # the reader's global choice
    try:
        layers.Dense(2).init_fn(jax.random.PRNGKey(0), (-1, 3))
        assert bool(jax.config.jax_threefry_partitionable) is setting
        train(
            layers.serial(layers.Dense(2)),
            x,
            np.arange(8) % 2,
            num_classes=2,
            epochs=1,
            batch_size=4,
            progress=False,
        )
        assert bool(jax.config.jax_threefry_partitionable) is setting
    finally:
        jax.config.update("jax_threefry_partitionable", before)
