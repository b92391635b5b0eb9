"""``cntk_depths.gram_by_depth``: every depth of one pass equals the single-depth kernel.

References: each depth's own network, ``archs.cnn([1] * depth, [], 1, pool=pool)``, run
through ``gram.gram`` (its kernel is checked against neural-tangents in
``tests/test_layers.py`` and against stored neural-tangents values in the core suite,
``tests/test_layers_core.py``).  Tolerance 1e-12 relative: both evaluate the same float64
recursion; only XLA's fusion and the block order differ, which moves the last few bits.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import archs, cntk_depths, data, gram

# core suite: no neural-tangents needed (the references are the zoo builder's networks)
pytestmark = pytest.mark.core


def rel_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def single_depth_kernel(depth: int, pool: str, ndim: int):
    """``archs.cnn([c] * depth, [], K, pool=pool, ndim=ndim)``'s network."""
    return archs.cnn([1] * depth, [], 1, pool=pool, ndim=ndim)


@pytest.mark.parametrize("ndim,shape", [(2, (6, 6, 1)), (1, (9, 2))])
@pytest.mark.parametrize("pool", ["gap", "flatten"])
def test_every_depth_matches_the_single_depth_kernel(rng, ndim, shape, pool):
    x = data.normalize(rng.normal(size=(7,) + shape))
    x2 = data.normalize(rng.normal(size=(5,) + shape))
    depths = [2, 1]  # any order
    sym = cntk_depths.gram_by_depth(x, depths=depths, pool=pool, ndim=ndim, batch_size=3)
    cross = cntk_depths.gram_by_depth(x2, x, depths=depths, pool=pool, ndim=ndim, batch_size=3)
    assert sorted(sym) == [1, 2]
    for d in depths:
        kfn = single_depth_kernel(d, pool, ndim)
        ref = gram.gram(kfn, x, batch_size=3, progress=False)
        ref_cross = gram.gram(kfn, x2, x, batch_size=3, progress=False)
        assert rel_err(sym[d].gram, ref) < 1e-12
        assert rel_err(cross[d].gram, ref_cross) < 1e-12
        assert np.array_equal(sym[d].gram, sym[d].gram.T)  # exactly symmetric
    # cumulative stage times: a deeper network never costs less than a shallower one
    assert sym[1].cpu_seconds <= sym[2].cpu_seconds


def test_a_network_compiles_each_stage_once_across_calls(rng, monkeypatch, request):
    """The train Gram and the test Gram of one network (two calls, fresh kernel objects of equal
    layers) trace and compile each stage once: the second call runs the compiled stages."""
    traced = []
    stage = cntk_depths._stage

    def counted(*args, **kwargs):
        traced.append(kwargs["hi"])  # runs only while JAX traces a stage
        return stage(*args, **kwargs)

    monkeypatch.setattr(cntk_depths, "_stage", counted)
    cntk_depths._compiled_stage.cache_clear()
    # pass or fail, later tests trace the real _stage again
    request.addfinalizer(cntk_depths._compiled_stage.cache_clear)
    x = data.normalize(rng.normal(size=(6, 5, 5, 1)))
    first = cntk_depths.gram_by_depth(x, depths=[1, 2], pool="gap", batch_size=3)
    again = cntk_depths.gram_by_depth(x, depths=[1, 2], pool="gap", batch_size=3)
    assert sorted(traced) == [2, 4]  # one trace per stage (layers 0:2 and 2:4), not per call
    for d in (1, 2):
        assert np.array_equal(first[d].gram, again[d].gram)


def test_bad_inputs():
    x = np.ones((4, 5, 5, 1))
    with pytest.raises(ValueError, match="pool"):
        cntk_depths.gram_by_depth(x, depths=[1], pool="max")
    with pytest.raises(ValueError, match="depths"):
        cntk_depths.gram_by_depth(x, depths=[2, 2])
    with pytest.raises(ValueError, match="depths"):
        cntk_depths.gram_by_depth(x, depths=[0])
    with pytest.raises(ValueError, match="kernel must be odd"):
        cntk_depths.gram_by_depth(x, depths=[1], kernel=2)
    with pytest.raises(ValueError, match="dimensions"):
        cntk_depths.gram_by_depth(x, depths=[1], ndim=1)
    with pytest.raises(ValueError, match="feature shape"):
        cntk_depths.gram_by_depth(x, np.ones((3, 4, 4, 1)), depths=[1])
    with pytest.raises(ValueError, match="NaN|finite"):
        cntk_depths.gram_by_depth(np.full((2, 3, 3, 1), np.nan), depths=[1])
