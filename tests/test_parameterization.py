"""ntkbook.parameterization: the standard-parameterization draw recovered bit for bit from the
NTK draw of the same key (the reference is init_fn of the standard network itself)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook import archs, parameterization

pytestmark = pytest.mark.core


@pytest.mark.parametrize("depth,width,out_dim", [(1, 7, 2), (2, 16, 1), (4, 9, 3)])
def test_matches_standard_init_bit_for_bit(depth, width, out_dim):
    key = jax.random.PRNGKey(3)
    _, p_ntk = archs.mlp(depth, width, out_dim)[0](key, (4, 6))
    _, p_std = archs.mlp(depth, width, out_dim, parameterization="standard")[0](key, (4, 6))
    moved = parameterization.standard_from_ntk(p_ntk)
    a, b = jax.tree_util.tree_leaves(moved), jax.tree_util.tree_leaves(p_std)
    assert len(a) == len(b)
    # exact equality: the stack multiplies the same normals by the same float constants
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_same_function_as_standard_network():
    key = jax.random.PRNGKey(1)
    x = np.random.default_rng(0).normal(size=(5, 6))
    init_ntk, apply_ntk, _ = archs.mlp(3, 32, 2)
    _, apply_std, _ = archs.mlp(3, 32, 2, parameterization="standard")
    _, p = init_ntk(key, x.shape)
    # both parameterizations compute the same function at this initialisation
    np.testing.assert_allclose(
        apply_std(parameterization.standard_from_ntk(p), x), apply_ntk(p, x), rtol=1e-5, atol=1e-6
    )


def test_bad_inputs():
    _, p = archs.mlp(2, 8, 1)[0](jax.random.PRNGKey(0), (3, 5))
    with pytest.raises(ValueError, match="one scale per dense layer"):
        parameterization.standard_from_ntk(p, w_stds=[1.0])
    with pytest.raises(ValueError, match=r"params\[0\]"):
        parameterization.standard_from_ntk([(np.ones(3), np.ones(3))])
