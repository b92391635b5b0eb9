"""losses.output_grad against automatic differentiation of losses.per_sample.

Reference: ``jax.grad`` of each sample's loss (per_sample summed over samples: each row's
gradient is its own sample's), float64; agreement ~1e-16, tolerance 1e-12.  NumPy and JAX
inputs, target rows and integer labels.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import losses

pytestmark = pytest.mark.core


# integer labels are a cross-entropy form only (as in per_sample)
@pytest.mark.parametrize("loss, kind", [("xent", "rows"), ("xent", "labels"), ("mse", "rows")])
def test_output_grad_is_the_gradient_of_per_sample(rng, loss, kind):
    f = rng.normal(size=(7, 4)) * 10  # large logits: the softmax must be the shifted one
    targets = rng.dirichlet(np.ones(4), size=7) if kind == "rows" else rng.integers(0, 4, size=7)
    ref = np.asarray(
        jax.grad(lambda g: jnp.sum(losses.per_sample(g, jnp.asarray(targets), loss)))(jnp.asarray(f))
    )
    got_np = losses.output_grad(f, targets, loss)
    assert isinstance(got_np, np.ndarray) and got_np.shape == f.shape
    np.testing.assert_allclose(got_np, ref, rtol=1e-12, atol=1e-12)
    got_jax = jax.jit(losses.output_grad, static_argnums=2)(jnp.asarray(f), jnp.asarray(targets), loss)
    np.testing.assert_allclose(np.asarray(got_jax), ref, rtol=1e-12, atol=1e-12)


def test_output_grad_refuses_an_unknown_loss():
    with pytest.raises(ValueError, match="loss='hinge'"):
        losses.output_grad(np.zeros((2, 3)), np.zeros((2, 3)), "hinge")
