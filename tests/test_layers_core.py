"""``ntkbook.layers`` on any JAX, against neural-tangents' values stored from the pinned run.

The core suite runs where neural-tangents cannot be installed (a current JAX, a GPU).  Its
reference is ``tests/data/layers_nt_reference.npz``: neural-tangents 0.6.5's NTK and NNGP of
the random stacks of ``tests/_stacks.py`` (depths, filter sizes 1-5, strides, SAME/VALID,
average pools inside the stack, GAP or flatten, ``b_std`` None/0/0.3, both
parameterizations, 1-D and 2-D, odd sides), written by ``python tests/_stacks.py`` in
``.venv``.  Tolerance 3e-14 relative, as in ``tests/test_layers.py`` (measured <= 3e-15:
the inputs of the two batches differ, so no angle-0 rounding enters).
"""

from __future__ import annotations

import numpy as np
import pytest
from _stacks import N_STORED, REFERENCE, inputs, ndim_of, random_stack

from ntkbook import layers

pytestmark = pytest.mark.core

RTOL = 3e-14


@pytest.fixture(scope="module")
def stored():
    return np.load(REFERENCE)


@pytest.mark.parametrize("seed", range(N_STORED))
def test_kernels_equal_stored_neural_tangents_values(stored, seed):
    import jax

    net, recipe = random_stack(layers, np.random.default_rng(seed), ndim_of(seed))
    assert recipe == str(stored[f"recipe_{seed}"])  # the same stack was stored
    x1, x2 = inputs(seed)
    ntk, nngp = jax.jit(lambda a, b: net.kernel_fn(a, b, ("ntk", "nngp")))(x1, x2)
    for ours, name in ((ntk, "ntk"), (nngp, "nngp")):
        ref = stored[f"{name}_{seed}"]
        assert np.max(np.abs(np.asarray(ours) - ref)) / np.max(np.abs(ref)) < RTOL, recipe


@pytest.mark.parametrize("seed", range(3))
def test_staged_kernel_equals_stored_values(stored, seed):
    """``KernelFn.staged`` (what gram runs: one program per full-covariance layer) gives the
    same kernel as the stack in one program, so the same stored neural-tangents values
    (three stacks: each stage compiles on its own, seconds per stack on 2 cores)."""
    net, _ = random_stack(layers, np.random.default_rng(seed), ndim_of(seed))
    x1, x2 = inputs(seed)
    both = net.kernel_fn.staged(("ntk", "nngp"))(x1, x2)
    for ours, get in zip(both, ("ntk", "nngp")):
        ref = stored[f"{get}_{seed}"]
        assert np.max(np.abs(np.asarray(ours) - ref)) / np.max(np.abs(ref)) < RTOL


def test_equal_layers_share_their_compiled_stage():
    """Two ReLUs on equal shapes (CNN-1-GAP's) and the same convolution in another network
    compile once: stages are cached by layer value, not by object."""
    from ntkbook import archs

    layers._compiled_stage.cache_clear()
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 1))
    gap = archs.cnn([4, 4], [5], 1, pool="gap").kernel_fn
    gap.staged("ntk")(x, x)
    # stages: conv+input, relu, conv, relu (equal to the first relu), GAP + head
    assert layers._compiled_stage.cache_info().misses == 4
    again = archs.cnn([4, 4], [7], 1, pool="gap").kernel_fn  # another head only
    assert again.layers[:4] == gap.layers[:4] and again != gap
    again.staged("ntk")(x, x)
    assert layers._compiled_stage.cache_info().misses == 5  # the new tail alone
