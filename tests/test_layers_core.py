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
from ntkbook._x64 import x64_scope

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


def test_compiled_ahead_the_stages_give_the_stored_values(stored):
    """``staged.compile`` (what gram does before its first block: every stage traced and
    compiled on worker threads) leaves a chain that computes the stored neural-tangents
    values; it checks its thread count and the input shapes before compiling anything."""
    import jax

    net, _ = random_stack(layers, np.random.default_rng(3), ndim_of(3))
    x1, x2 = inputs(3)
    staged = net.kernel_fn.staged("ntk")
    spec = jax.ShapeDtypeStruct(x1.shape, np.float64)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        staged.compile(spec, threads=0)
    with pytest.raises(ValueError, match="one feature shape"):
        staged.compile(spec, jax.ShapeDtypeStruct((2, 3, 3, 2), np.float64))
    with x64_scope(True):
        staged.compile(spec, jax.ShapeDtypeStruct(x2.shape, np.float64), threads=2)
        ntk = np.asarray(staged(x1, x2))
    ref = stored["ntk_3"]
    assert np.max(np.abs(ntk - ref)) / np.max(np.abs(ref)) < RTOL


def test_pair_entries_is_the_largest_traced_covariance_per_pair():
    """``KernelFn.pair_entries`` (the automatic block size's working set, from the shape
    rules, which the memory guard reads too) against the largest state of a traced
    16 x 16 block after any number of layers, divided by the pairs on its state's axis
    (256 kernel pairs and 32 inputs with themselves, ``KernelFn.state_pairs``): equal for every
    zoo CNN on digits, MNIST and MNIST-1D shapes; 1 for the MLPs (their largest arrays
    are the inputs, one row per input, not per pair)."""
    import jax

    from ntkbook import archs

    for name in archs.names():
        for shape in ((8, 8, 1), (28, 28, 1), (40, 1)):
            kernel_fn = archs.get(name, ndim=len(shape) - 1).kernel_fn
            entries = kernel_fn.pair_entries(shape)
            if name in ("2-L", "10-L"):
                assert entries == 1
                continue
            with x64_scope(True):
                spec = jax.ShapeDtypeStruct((16,) + shape, np.float64)
                traced = max(
                    int(np.prod(leaf.shape)) * 8
                    for i in range(len(kernel_fn.layers) + 1)
                    for leaf in jax.tree_util.tree_leaves(
                        jax.eval_shape(
                            lambda a, b, k=kernel_fn, i=i: k.advance(k.start(a, b), 0, i), spec, spec
                        )
                    )
                )
            assert entries == traced / (8 * layers.KernelFn.state_pairs(16, 16)), (name, shape)
    # by hand: CNN-1-GAP carries the full 64 x 64 pixel-pair covariance, CNN-1 its diagonal
    assert archs.get("CNN-1-GAP").kernel_fn.pair_entries((8, 8, 1)) == 64**2
    assert archs.get("CNN-1").kernel_fn.pair_entries((8, 8, 1)) == 64


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


# -- the symmetric pair axis (a diagonal block: x2 is x1, only the pairs a <= b) --------------

# measured <= 4.3e-16 relative on the random stacks below (B = 1 and 3) and <= 2.6e-15 on the
# digits through the bias-free GAP CNN: both evaluate the same recursion on the same pairs,
# only XLA's fusion (so the rounding) differs; 4x margin on the larger
SYM_RTOL = 1e-14


def _sym_and_all_pairs(kernel_fn, x):
    """``(ntk, nngp)`` of ``x`` with itself, symmetric state (``x2=None``) and all pairs."""
    import jax

    sym = jax.jit(lambda a: kernel_fn(a, None, ("ntk", "nngp")))(x)
    full = jax.jit(lambda a, b: kernel_fn(a, b, ("ntk", "nngp")))(x, x)
    return [np.asarray(k) for k in sym], [np.asarray(k) for k in full]


@pytest.mark.parametrize("seed", range(N_STORED))
def test_symmetric_state_equals_all_pairs(seed):
    """The symmetric pair axis gives the all-pairs kernel (itself checked against
    neural-tangents above) on every random stack -- MLPs, 1-D and 2-D, flatten and GAP,
    pools inside, biases None/0/0.3, both parameterizations, NTK and NNGP -- for an odd
    batch (3), and a batch of one for the first four seeds (MLP, 1-D, 2-D GAP, 2-D flatten:
    compiling costs a second per stack), and the result is exactly symmetric."""
    net, recipe = random_stack(layers, np.random.default_rng(seed), ndim_of(seed))
    x = inputs(seed)[0]
    for b in (3, 1) if seed < 4 else (3,):
        sym, full = _sym_and_all_pairs(net.kernel_fn, x[:b])
        for s, f, get in zip(sym, full, ("ntk", "nngp")):
            assert s.shape == (b, b) and np.array_equal(s, s.T), (recipe, get, b)
            assert np.max(np.abs(s - f)) / np.max(np.abs(f)) < SYM_RTOL, (recipe, get, b)


def test_symmetric_state_holds_each_unordered_pair_once():
    """``start(x)`` carries ``B (B + 1) / 2`` pairs in ``np.triu_indices`` order: entry ``k``
    is the all-pairs entry ``rows[k] * B + cols[k]`` (here the input covariance, a plain
    product of the inputs, and the NNGP after a GAP network's last pooling)."""
    net, _ = random_stack(layers, np.random.default_rng(1), ndim_of(1))  # 1-D, pools, GAP
    x = inputs(1)[0][:3]
    kf = net.kernel_fn
    rows, cols = layers._pair_index(3)
    assert list(zip(rows, cols)) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    import jax

    sym = jax.jit(lambda a: kf.advance(kf.start(a)))(x)
    full = jax.jit(lambda a: kf.advance(kf.start(a, a)))(x)
    assert sym.symmetric and sym.nngp.shape[-1] == 6 and sym.pairs == 6
    want = np.asarray(full.nngp)[..., rows * 3 + cols]
    assert np.max(np.abs(np.asarray(sym.nngp) - want)) / np.max(np.abs(want)) < SYM_RTOL


@pytest.mark.parametrize("pool", ["flatten", "gap"])
def test_symmetric_state_on_real_digits_without_biases(pool):
    """Real digits through bias-free CNNs: their black patches have zero variance (the case
    that once gave NaN), and equal strokes give angle-0 pixel pairs.  The symmetric state
    stays finite and equals the all-pairs kernel (also through ``staged``, what gram runs, for
    the GAP network: its stages are the ones that carry the full pixel-pair covariance)."""
    from ntkbook import archs, data

    x = data.normalize(data.load("digits", n=7, seed=3).x.astype(np.float64))
    kf = archs.cnn([4, 4], [6], 1, b_std=None, pool=pool, pool_after=(0,)).kernel_fn
    sym, full = _sym_and_all_pairs(kf, x)
    staged = kf.staged(("ntk", "nngp"))(x) if pool == "gap" else sym
    for s, st, f in zip(sym, staged, full):
        assert np.all(np.isfinite(s))
        assert np.max(np.abs(s - f)) / np.max(np.abs(f)) < SYM_RTOL
        assert np.max(np.abs(np.asarray(st) - f)) / np.max(np.abs(f)) < SYM_RTOL


def test_networks_of_equal_layers_share_their_compiled_programs():
    from ntkbook.dynamics import loop

    def build(width):
        return layers.serial(layers.Dense(width, b_std=0.1), layers.Relu(), layers.Dense(2))

    a, b, other = build(8), build(8), build(16)
    assert a.apply_fn is not b.apply_fn
    assert a.apply_fn == b.apply_fn and hash(a.apply_fn) == hash(b.apply_fn)
    assert a.init_fn == b.init_fn and a.apply_fn != other.apply_fn and a.init_fn != a.apply_fn
    # so a fit of the second network reuses the first one's compiled step and forward pass
    assert loop.compiled_step(a.apply_fn, loss="mse") is loop.compiled_step(b.apply_fn, loss="mse")
    assert loop.compiled_step(a.apply_fn, loss="mse") is not loop.compiled_step(other.apply_fn, loss="mse")
    assert loop.compiled_forward(a.apply_fn) is loop.compiled_forward(b.apply_fn)
    # and the functions still compute: equal networks, equal outputs from equal keys
    import jax

    x = np.ones((3, 4))
    _, pa = a.init_fn(jax.random.PRNGKey(0), x.shape)
    _, pb = b.init_fn(jax.random.PRNGKey(0), x.shape)
    np.testing.assert_array_equal(a.apply_fn(pa, x), b.apply_fn(pb, x))


def test_state_pairs_counts_kernel_and_self_pairs_and_names_bad_sizes():
    """``KernelFn.state_pairs`` against the traced state: 3 x 4 inputs carry 12 kernel pairs
    and 7 self pairs, one batch of 4 with itself its 10 pairs ``a <= b``; bad sizes are
    refused by name."""
    import jax

    kf = layers.serial(layers.Dense(3), layers.Relu(), layers.Dense(1)).kernel_fn
    a, b = np.ones((3, 5)), np.ones((4, 5))
    assert jax.eval_shape(kf.start, a, b).nngp.shape == (layers.KernelFn.state_pairs(3, 4),) == (19,)
    assert jax.eval_shape(kf.start, b).nngp.shape == (layers.KernelFn.state_pairs(4, 4, True),) == (10,)
    with pytest.raises(ValueError, match="b1 must be >= 1"):
        layers.KernelFn.state_pairs(0, 4)
    with pytest.raises(TypeError, match="b2 must be an integer"):
        layers.KernelFn.state_pairs(3, 4.0)
    with pytest.raises(ValueError, match="b2 must equal b1"):
        layers.KernelFn.state_pairs(3, 4, symmetric=True)
