"""The blocked Gram engine against neural-tangents' unbatched kernel_fn."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import archs, data, gram
from ntkbook import closed_form as cf


def rel_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


@pytest.fixture(scope="module")
def digits():
    return data.normalize(data.load("digits", n=37, seed=1).x.astype(np.float64))


@pytest.mark.parametrize("name", ["2-L", "10-L", "CNN-1", "CNN-1-GAP"])
def test_symmetric_gram_equals_unbatched_kernel(digits, name):
    arch = archs.get(name)
    # neural-tangents' GAP reference tracks every pair of pixel positions of every pair of
    # inputs: 20 inputs instead of 37 cost a third as much and still leave a ragged block
    x = digits[:20] if name == "CNN-1-GAP" else digits
    n = len(x)
    # 37 and 20 are not multiples of 16: the last block is ragged
    H = gram.gram(arch, x, batch_size=16, progress=False)
    ref = np.asarray(arch.kernel_fn(x, None, "ntk"))
    assert H.shape == (n, n) and H.dtype == np.float64
    assert rel_err(H, ref) < 1e-6
    np.testing.assert_array_equal(H, H.T)


def test_symmetric_gram_is_positive_definite_on_sphere(digits):
    H = gram.gram(archs.get("2-L"), digits, batch_size=16, progress=False)
    assert np.linalg.eigvalsh(H).min() > 0


def test_cross_gram_and_nngp(digits, rng):
    arch = archs.get("CNN-1")
    x2 = data.normalize(rng.normal(size=(11, 8, 8, 1)))
    for kind in ("ntk", "nngp"):
        H = gram.gram(arch, digits, x2, kind=kind, batch_size=8, progress=False)
        ref = np.asarray(arch.kernel_fn(digits, x2, kind))
        assert H.shape == (37, 11)
        assert rel_err(H, ref) < 1e-6


def test_gram_accepts_kernel_fn_and_float32(digits):
    arch = archs.get("2-L")
    H64 = gram.gram(arch.kernel_fn, digits, batch_size=16, progress=False)
    H32 = gram.gram(arch, digits, batch_size=16, progress=False, dtype=np.float32)
    assert H32.dtype == np.float32
    # arccos has an infinite slope at cos = 1, so float32 rounding of the
    # diagonal's cosine (1e-7) shows up as ~sqrt(1e-7) in the angle; 1e-4 bounds it.
    assert rel_err(H32, H64) < 1e-4


def test_closed_form_kernel_through_gram(digits):
    """A hand-written kernel_fn runs through the same engine and matches its direct value."""
    x = digits.reshape(len(digits), -1)

    def eq4(a, b, kind):
        return cf.relu_ntk_eq4(a, b)

    H = gram.gram(eq4, x, batch_size=10, progress=False)
    # blocks and the full matrix round the diagonal cosine differently; through
    # arccos' infinite slope at 1 that is ~sqrt(1e-16) = 1e-8 in the angle.
    np.testing.assert_allclose(H, np.asarray(cf.relu_ntk_eq4(x)), rtol=1e-7)


def test_bad_input_is_rejected(digits):
    arch = archs.get("2-L")
    bad = digits.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        gram.gram(arch, bad, progress=False)
    with pytest.raises(ValueError, match="x's feature shape"):
        gram.gram(arch, digits, digits[:, :4], progress=False)
    with pytest.raises(ValueError, match="kind="):
        gram.gram(arch, digits, kind="ntkk", progress=False)
    with pytest.raises(ValueError, match="dtype="):
        gram.gram(arch, digits, dtype=np.float16, progress=False)
    with pytest.raises(TypeError, match="arch_or_kernel_fn"):
        gram.gram(42, digits, progress=False)
