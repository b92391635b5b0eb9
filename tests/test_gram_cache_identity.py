"""A Gram cache is refused to a kernel that differs from its own by 1e-6 (issue 25's planted
bug "the probe tolerance at 1e-1").

A ``kernel_fn`` that is not a :class:`ntkbook.layers.KernelFn` is identified by its values on
the first two inputs, written to 10 significant digits (``gram_cache.kernel_identity``).  Two
kernels that differ by a relative 1e-6 give different Gram matrices, so a cache folder filled
by one must be refused to the other; at a coarser probe (1 significant digit, a relative
tolerance of about 1e-1) the second kernel would silently read the first one's blocks and
return the wrong matrix.

The kernels here are linear, ``scale * <a, c>``, so the reference Gram is ``scale * X X^T`` in
NumPy (independent of the engine and of the cache).
"""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import gram, gram_cache

pytestmark = pytest.mark.core

SCALES = (1.0, 1.0 + 1e-6)  # 1e-6 is 1e4 times the 10-digit probe's resolution


def _linear(scale: float):
    def kernel_fn(a, c, kind):
        return scale * (a.reshape(a.shape[0], -1) @ c.reshape(c.shape[0], -1).T)

    return kernel_fn


def _close(g: np.ndarray, ref: np.ndarray) -> None:
    # measured: at most 2.5e-16 of the largest entry (float64 dot products of 3 terms, another
    # summation order); 2e-15 is within 10x of it
    np.testing.assert_allclose(g, ref, rtol=0, atol=2e-15 * np.abs(ref).max())


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(9, 3))


def test_identity_separates_kernels_that_differ_by_1e_6(x):
    ids = [gram_cache.kernel_identity(_linear(s), x, "ntk") for s in SCALES]
    assert ids[0] != ids[1]
    # the same kernel (a new function object) has the same identity: a cache is reusable
    assert gram_cache.kernel_identity(_linear(SCALES[0]), x, "ntk") == ids[0]


def test_cache_of_a_nearby_kernel_is_refused_not_reused(x, tmp_path):
    k0, k1 = (_linear(s) for s in SCALES)
    g0 = gram.gram(k0, x, batch_size=3, progress=False, check_memory=False, cache_dir=tmp_path)
    _close(g0, SCALES[0] * x @ x.T)
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(k1, x, batch_size=3, progress=False, check_memory=False, cache_dir=tmp_path)
    # in a folder of its own it gets its own matrix, 1e-6 away from the first
    g1 = gram.gram(k1, x, batch_size=3, progress=False, check_memory=False, cache_dir=tmp_path / "k1")
    _close(g1, SCALES[1] * x @ x.T)
    assert not np.allclose(g1, g0, rtol=1e-7, atol=0)
