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

from ntkbook import _prng, layers
from ntkbook._prng import normal, same_draws
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


# sizes odd and even, one element (also as a scalar), a power of two and one past it, conv and
# bias shapes
_SHAPES = [(), (1,), (7,), (2, 8), (17, 5), (3, 3, 1, 8), (1, 1, 1, 33), (64, 32), (65, 31)]


@pytest.mark.pinned  # also in .venv: the same numbers on the book's JAX 0.4.23
@pytest.mark.parametrize("x64", [False, True])
def test_normal_is_jax_random_normal_bit_for_bit(x64):
    keys = jax.random.split(jax.random.PRNGKey(3), len(_SHAPES))
    with x64_scope(x64), same_draws():
        for i, (key, shape) in enumerate(zip(keys, _SHAPES)):
            ref = np.asarray(jax.random.normal(key, shape))
            # a NumPy copy of the key draws the same numbers
            ours = np.asarray(normal(np.asarray(key) if i % 2 else key, shape))
            assert ours.dtype == ref.dtype == (np.float64 if x64 else np.float32)
            assert ours.shape == shape
            np.testing.assert_array_equal(
                ours.reshape(-1).view(np.uint8), ref.reshape(-1).view(np.uint8), err_msg=str(shape)
            )


def test_draws_it_cannot_cipher_go_to_jax_random(monkeypatch):
    def no_cipher(*args):
        raise AssertionError("ciphered in NumPy")

    with same_draws():
        typed = jax.random.key(5)
        keys = jax.random.split(jax.random.PRNGKey(5), 3)
        monkeypatch.setattr(_prng, "_random_words", no_cipher)
        np.testing.assert_array_equal(normal(typed, (3, 2)), jax.random.normal(typed, (3, 2)))
        traced = jax.vmap(lambda k: normal(k, (4,)))(keys)
        np.testing.assert_array_equal(traced, jax.vmap(lambda k: jax.random.normal(k, (4,)))(keys))
        assert normal(keys[0], (0, 3)).shape == (0, 3)
        monkeypatch.setattr(_prng, "_NUMPY_CIPHER_MAX", 8)  # a "large" draw
        np.testing.assert_array_equal(normal(keys[0], (3, 3)), jax.random.normal(keys[0], (3, 3)))


def test_raw_keys_of_another_default_prng_go_to_jax_random(monkeypatch):
    try:  # philox keys are (2,) uint32 too (current JAX); the pinned JAX has no philox
        jax.random.key(0, impl="philox4x32")
    except ValueError:
        pytest.skip(f"JAX {jax.__version__} has no philox4x32 PRNG")
    before = jax.config.jax_default_prng_impl
    jax.config.update("jax_default_prng_impl", "philox4x32")
    try:
        key = jax.random.PRNGKey(7)
        assert key.shape == (2,)
        monkeypatch.setattr(_prng, "_random_words", lambda *a: pytest.fail("ciphered as threefry"))
        np.testing.assert_array_equal(normal(key, (5,)), jax.random.normal(key, (5,)))
    finally:
        jax.config.update("jax_default_prng_impl", before)
