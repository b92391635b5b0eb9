"""Kernels derived from recorded layer lists, the automatic block size, kill-resume and bad inputs.

References: neural-tangents' ``kernel_fn`` of the same network (1e-10
relative in float64: both evaluate the same recursion, only the summation
order differs), a Gram computed with a fixed block size, and an uninterrupted
run for the resumed cache.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from ntkbook import archs, closed_form as cf, data, fast_kernels, gram

REPO = Path(__file__).resolve().parents[1]


def rel_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


# reader-built networks (not zoo names), small so each reference takes seconds; the
# 2-D networks that track every pair of positions run on the same 9 x 8 x 8 x 1 inputs
# as the test below, so neural-tangents' eager operations on those shapes compile once
READER_BUILT = {
    "conv-pool-conv-flatten-dense (2-D)":
        (lambda: archs.cnn([3, 3], [5], 1, pool_after=(0,)), (8, 8, 1), "LayerKernel"),
    "conv-conv-gap (2-D)": (lambda: archs.cnn([3, 3], [], 1, pool="gap"), (8, 8, 1), "CNNKernel"),
    "conv-pool-gap-dense (1-D)":
        (lambda: archs.cnn([3], [4], 1, pool="gap", pool_after=(0,), ndim=1), (12, 2),
         "LayerKernel"),
    "5x5 conv, no bias, flatten": (lambda: archs.cnn([3], [4, 4], 1, kernel=5, W_std=1.3,
                                                     b_std=None), (7, 7, 1), "CNNKernel"),
}


@pytest.mark.parametrize("case", list(READER_BUILT))
def test_kernel_derived_from_layers_matches_neural_tangents(rng, case):
    build, shape, cls = READER_BUILT[case]
    arch = build()
    x = data.normalize(rng.normal(size=(9,) + shape))
    H = gram.gram(arch, x, batch_size=4, progress=False)
    assert gram.last_run["kernel_choice"] == "layers"
    assert gram.last_run["kernel"].startswith(cls)
    # both references from one neural-tangents evaluation (its NNGP is the same
    # recursion whether or not the NTK is tracked beside it)
    ref = arch.kernel_fn(x, None, ("ntk", "nngp"))
    assert rel_err(H, ref.ntk) < 1e-10
    Hk = gram.gram(arch, x, batch_size=4, kind="nngp", progress=False)
    assert rel_err(Hk, ref.nngp) < 1e-10


def test_layers_without_hand_written_kernel_run_neural_tangents_without_probe(rng, monkeypatch):
    def no_probe(*args):
        raise AssertionError("a kernel with recorded layers must not be probed")

    monkeypatch.setattr(gram, "_probe_match", no_probe)
    monkeypatch.setattr(gram, "_AUTO_MIN_ENTRIES", 1)
    # the shape of READER_BUILT's 2-D inputs: their eager operations are compiled already
    x = data.normalize(rng.normal(size=(9, 8, 8, 1)))
    arch = archs.cnn([3], [4], 1, pool="gap", parameterization="standard")
    H = gram.gram(arch, x, progress=False)
    assert gram.last_run["kernel"] == "neural-tangents"
    assert gram.last_run["kernel_choice"] == "no hand-written kernel"
    # neural-tangents on both sides; blocks round the diagonal's cosine differently and
    # its arccos turns that into ~sqrt(1e-16) = 1e-8
    assert rel_err(H, arch.kernel_fn(x, None, "ntk")) < 1e-7


def test_bare_flatten_kernel_is_probed_on_tiny_images_only(rng, monkeypatch):
    monkeypatch.setattr(gram, "_AUTO_MIN_ENTRIES", 1)
    shapes = []
    real = gram._probe_match
    monkeypatch.setattr(gram, "_probe_match",
                        lambda k, shape, **kw: shapes.append(shape) or real(k, shape, **kw))
    arch = archs.get("CNN-1")
    x = data.normalize(rng.normal(size=(6, 10, 10, 1)))
    gram.gram(lambda a, c, get: arch.kernel_fn(a, c, get), x, progress=False)
    assert shapes == [(gram._TINY_SIDE, gram._TINY_SIDE, 1)]   # no probe at 10 x 10
    assert gram.last_run["kernel"] == "neural-tangents"


def test_automatic_block_size_is_reported_and_gives_the_same_matrix(rng):
    x = data.normalize(rng.normal(size=(50, 8, 8, 1)))
    arch = archs.get("CNN-1-GAP")
    H = gram.gram(arch, x, progress=False)
    b, info = gram.auto_batch_size(fast_kernels.get("CNN-1-GAP"), x)
    assert gram.last_run["block_size"] == b and "budget" in gram.last_run["block_rule"]
    # the rule's own arithmetic: sqrt(budget / bytes per pair), evened out over 50 rows
    raw = min(max(int(np.sqrt(info["budget_bytes"] / info["bytes_per_pair"])), gram._MIN_BLOCK), 50)
    assert b == -(-50 // -(-50 // raw))
    H10 = gram.gram(arch, x, batch_size=10, progress=False)
    assert rel_err(H, H10) < 1e-13       # blocks differ only in summation order


@pytest.mark.parametrize("bad, match", [
    (np.zeros((0, 8, 8, 1)), "N >= 1"),
    (np.zeros((5,)), "shape \\(N, \\*feature_shape\\)"),
])
def test_gram_rejects_empty_and_flat_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        gram.gram(fast_kernels.get("2-L"), bad, progress=False)


# ---------------------------------------------------------------- kill and resume

# CNN-1's hand-written kernel (the one gram derives for archs.get("CNN-1")), given
# directly: the killed child then imports no neural-tangents, and both tests below reuse
# one compiled 5 x 5 block
CNN1 = fast_kernels.get("CNN-1")


def test_gram_killed_with_sigkill_resumes_to_the_same_matrix(tmp_path):
    x = data.normalize(data.load("digits", n=30, seed=4).x.astype(np.float64))
    np.save(tmp_path / "x.npy", x)
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import time
        import numpy as np
        from ntkbook import fast_kernels, gram
        real_put = gram._BlockCache.put
        def slow_put(self, i, j, block):          # slow enough to be killed mid-run
            real_put(self, i, j, block)
            time.sleep(0.3)
        gram._BlockCache.put = slow_put
        x = np.load({str(tmp_path / 'x.npy')!r})
        gram.gram(fast_kernels.get("CNN-1"), x, batch_size=5, progress=False,
                  cache_dir={str(cache)!r})
        print("finished")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while len(list(cache.glob("block_*.npy"))) < 4 and time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]   # killed, not finished
    done = len(list(cache.glob("block_*.npy")))
    assert 4 <= done < 21                                      # 21 upper blocks of 6 x 6
    arch = CNN1
    resumed = gram.gram(arch, x, batch_size=5, progress=False, cache_dir=cache)
    assert gram.last_run["from_cache"] == done - 1             # block (0, 0) is recomputed
    single = gram.gram(arch, x, batch_size=5, progress=False)
    np.testing.assert_array_equal(resumed, single)             # same program and blocks: bitwise


def test_corrupt_block_is_detected_and_recomputed(tmp_path):
    x = data.normalize(data.load("digits", n=20, seed=5).x.astype(np.float64))
    arch = CNN1
    single = gram.gram(arch, x, batch_size=5, progress=False, cache_dir=tmp_path)
    target = sorted(tmp_path.glob("block_00001_00002.*.npy"))[0]
    raw = bytearray(target.read_bytes())
    raw[-8:] = np.float64(123.0).tobytes()                    # last entry overwritten
    target.write_bytes(bytes(raw))
    again = gram.gram(arch, x, batch_size=5, progress=False, cache_dir=tmp_path)
    assert gram.last_run["corrupt_blocks"] == [(1, 2)]
    assert gram.last_run["computed"] == 2                      # block (0, 0) and the corrupt one
    np.testing.assert_array_equal(again, single)


# ---------------------------------------------------------------- bad inputs


X = np.random.default_rng(0).normal(size=(4, 3))
NAN = X.copy()
NAN[1, 2] = np.nan
ZERO_ROW = X.copy()
ZERO_ROW[2] = 0.0
K = np.array([[0.5]])

BAD_INPUTS = [
    (cf.relu_ntk_eq4, (NAN,), {}, ValueError, "x1 contains 1 NaN"),
    (cf.relu_ntk_eq4, (X, ZERO_ROW), {}, ValueError, "x2 has all-zero rows"),
    (cf.relu_ntk_eq4, (X, X[:, :2]), {}, ValueError, "same number of features"),
    (cf.relu_ntk_eq4, (X[0],), {}, ValueError, "x1 must have 2 dimensions"),
    (cf.relu_ntk_2layer, (NAN,), {}, ValueError, "x1 contains"),
    (cf.relu_ntk_2layer, (ZERO_ROW,), {}, ValueError, "all-zero rows"),
    (cf.relu_ntk_2layer, (X,), dict(W_std=np.nan), ValueError, "W_std must be a finite"),
    (cf.relu_ntk_2layer, (X,), dict(b_std="0.1"), TypeError, "b_std must be a real"),
    (cf.mlp_ntk, (NAN,), {}, ValueError, "x1 contains"),
    (cf.mlp_ntk, (ZERO_ROW,), dict(b_std=0.0), ValueError, "all-zero rows"),
    (cf.mlp_ntk, (X,), dict(depth=0), ValueError, "depth must be"),
    (cf.mlp_ntk, (X,), dict(W_std_out=np.inf), ValueError, "W_std_out must be a finite"),
    (cf.arccos_relu, (K, np.array([[-1.0]]), K), {}, ValueError, "k11 holds variances"),
    (cf.arccos_relu, (K, K, np.array([[0.0]])), {}, ValueError, "k22 holds variances"),
    (cf.arccos_relu, (np.array([[np.nan]]), K, K), {}, ValueError, "k12 contains"),
    (fast_kernels.get, ("CNN-3",), {}, ValueError, "no hand-written kernel"),
    (fast_kernels.MLPKernel, (0,), {}, ValueError, "depth must be"),
    (fast_kernels.LayerKernel, ([("conv", 3, 1, 1.0, 0.1), ("relu",)],), {}, ValueError,
     "exactly one 'gap' or 'flatten'"),
    (fast_kernels.LayerKernel, ([("conv", 4, 1, 1.0, 0.1), ("flatten",), ("dense", 1.0, 0.0)],),
     {}, ValueError, "odd kernel and stride 1"),
    (fast_kernels.LayerKernel, ([("maxpool", 2), ("flatten",)],), {}, ValueError,
     "non-empty list"),
    (fast_kernels.LayerKernel, ([("flatten",), ("conv", 3, 1, 1.0, 0.1)],), {}, ValueError,
     "only 'dense' and 'relu'"),
    (gram.gram, (fast_kernels.get("2-L"), np.zeros((0, 3))), dict(progress=False), ValueError,
     "N >= 1"),
    (gram.gram, (fast_kernels.get("2-L"), X, np.zeros((0, 3))), dict(progress=False), ValueError,
     "N2 >= 1"),
    (gram.gram, (fast_kernels.get("2-L"), X), dict(batch_size=0, progress=False), ValueError,
     "batch_size"),
    (gram.gram, (fast_kernels.get("2-L"), X), dict(kind="cov", progress=False), ValueError,
     "kind="),
    (gram.auto_batch_size, (42, X), {}, TypeError, "arch_or_kernel_fn"),
]


@pytest.mark.parametrize("fn, args, kwargs, exc, match", BAD_INPUTS,
                         ids=[f"{f.__name__}-{i}" for i, (f, *_rest) in enumerate(BAD_INPUTS)])
def test_bad_inputs_are_rejected(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_closed_forms_still_run_inside_jit():
    """The checks skip traced values: the hand-written kernels call these under jit."""
    out = jax.jit(lambda a: cf.mlp_ntk(a, depth=3)[0])(X)
    np.testing.assert_allclose(out, cf.mlp_ntk(X, depth=3)[0], rtol=1e-13)
