"""The Gram engine on reader-built networks: block sizes, kill-resume, caches and bad inputs.

References: neural-tangents' ``kernel_fn`` of the same network (``layers.to_stax``;
1e-10 relative in float64 off the diagonal: both evaluate the same recursion, only the
summation order differs), a Gram computed with a fixed block size, and an uninterrupted
run for the resumed cache.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from ntkbook import archs, data, gram, layers
from ntkbook import closed_form as cf

REPO = Path(__file__).resolve().parents[1]


def rel_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


# reader-built networks (not zoo names), small so each reference takes seconds
READER_BUILT = {
    "conv-pool-conv-flatten-dense (2-D)": (lambda: archs.cnn([3, 3], [5], 1, pool_after=(0,)), (8, 8, 1)),
    "conv-conv-gap (2-D)": (lambda: archs.cnn([3, 3], [], 1, pool="gap"), (8, 8, 1)),
    "conv-pool-gap-dense (1-D)": (
        lambda: archs.cnn([3], [4], 1, pool="gap", pool_after=(0,), ndim=1),
        (12, 2),
    ),
    "5x5 conv, no bias, flatten": (
        lambda: archs.cnn([3], [4, 4], 1, kernel=5, W_std=1.3, b_std=None),
        (7, 7, 1),
    ),
    "standard parameterization, gap": (
        lambda: archs.cnn([3], [4], 1, pool="gap", parameterization="standard"),
        (8, 8, 1),
    ),
}


@pytest.mark.parametrize("case", list(READER_BUILT))
def test_reader_built_networks_match_neural_tangents(rng, case):
    build, shape = READER_BUILT[case]
    arch = build()
    x = data.normalize(rng.normal(size=(9,) + shape))
    H = gram.gram(arch, x, batch_size=4, progress=False)
    assert gram.last_run["kernel"].startswith("KernelFn(")
    Hk = gram.gram(arch, x, batch_size=4, kind="nngp", progress=False)
    kf_nt = layers.to_stax(arch)[2]
    ref = jax.jit(lambda a: kf_nt(a, None, ("ntk", "nngp")))(x)
    off = ~np.eye(len(x), dtype=bool)
    assert rel_err(H[off], np.asarray(ref[0])[off]) < 1e-10
    assert rel_err(Hk[off], np.asarray(ref[1])[off]) < 1e-10


def test_foreign_kernel_runs_as_given_in_blocks_of_the_nt_batch_baseline(rng):
    calls = []
    kf = archs.get("2-L").kernel_fn

    def foreign(a, c, get):  # any callable that is not a layers.KernelFn
        calls.append(len(a))
        return kf(a, c, get)

    x = data.normalize(rng.normal(size=(150, 8, 8, 1)))
    H = gram.gram(foreign, x, progress=False)
    assert gram.last_run["kernel"] == "foreign kernel_fn"
    assert gram.last_run["block_size"] == gram.FOREIGN_BLOCK == 100
    # jitted like nt.batch's blocks: traced once (no memory-estimate trace); 2 x 2 blocks
    # of 100, the upper triangle only
    assert calls == [100] and gram.last_run["computed"] == 3
    assert rel_err(H, gram.gram(archs.get("2-L"), x, progress=False)) < 1e-13


def test_automatic_block_size_is_reported_and_gives_the_same_matrix(rng):
    x = data.normalize(rng.normal(size=(50, 8, 8, 1)))
    arch = archs.get("CNN-1-GAP")
    H = gram.gram(arch, x, progress=False)
    b, info = gram.auto_batch_size(arch, x)
    assert gram.last_run["block_size"] == b and "budget" in gram.last_run["block_rule"]
    H10 = gram.gram(arch, x, batch_size=10, progress=False)
    assert rel_err(H, H10) < 1e-13  # blocks differ only in summation order


def test_the_record_travels_with_its_matrix(rng):
    """``return_record=True`` gives each call its own record; ``last_run`` mirrors the latest."""
    x = data.normalize(rng.normal(size=(25, 8, 8, 1)))
    H, run = gram.gram(archs.get("2-L"), x, batch_size=10, progress=False, return_record=True)
    assert isinstance(run, gram.GramRun) and run.blocks == 6 == run.computed  # 3 x 3 blocks
    assert rel_err(H, gram.gram(archs.get("2-L"), x, batch_size=25, progress=False)) < 1e-13
    # a later call leaves this record alone; the compatibility view shows the later one
    assert run.block_size == 10 and run["blocks"] == 6 and gram.last_run["block_size"] == 25
    assert dict(gram.last_run)["blocks"] == 1
    with pytest.raises(TypeError, match="return_record"):
        gram.gram(archs.get("2-L"), x, return_record="yes")


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 8, 8, 1)), "N >= 1"),
        (np.zeros((5,)), "shape \\(N, \\*feature_shape\\)"),
    ],
)
def test_gram_rejects_empty_and_flat_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        gram.gram(archs.get("2-L"), bad, progress=False)


# ---------------------------------------------------------------- kill and resume

# CNN-1's kernel, one object for both tests below, so they reuse one compiled 5 x 5 block
CNN1 = archs.get("CNN-1").kernel_fn


def test_gram_killed_with_sigkill_resumes_to_the_same_matrix(tmp_path):
    x = data.normalize(data.load("digits", n=30, seed=4).x.astype(np.float64))
    np.save(tmp_path / "x.npy", x)
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import time
        import numpy as np
        from ntkbook import archs, gram, gram_cache
        real_put = gram_cache.BlockCache.put
        def slow_put(self, i, j, block):          # slow enough to be killed mid-run
            real_put(self, i, j, block)
            time.sleep(0.3)
        gram_cache.BlockCache.put = slow_put
        x = np.load({str(tmp_path / "x.npy")!r})
        gram.gram(archs.get("CNN-1"), x, batch_size=5, progress=False,
                  cache_dir={str(cache)!r})
        print("finished")
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 240
    while len(list(cache.glob("block_*.npy"))) < 4 and time.time() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]  # killed, not finished
    done = len(list(cache.glob("block_*.npy")))
    assert 4 <= done < 21  # 21 upper blocks of 6 x 6
    arch = CNN1
    resumed = gram.gram(arch, x, batch_size=5, progress=False, cache_dir=cache)
    assert gram.last_run["from_cache"] == done  # every finished block reused
    single = gram.gram(arch, x, batch_size=5, progress=False)
    np.testing.assert_array_equal(resumed, single)  # same program and blocks: bitwise


def test_corrupt_block_is_detected_and_recomputed(tmp_path):
    x = data.normalize(data.load("digits", n=20, seed=5).x.astype(np.float64))
    arch = CNN1
    single = gram.gram(arch, x, batch_size=5, progress=False, cache_dir=tmp_path)
    target = sorted(tmp_path.glob("block_00001_00002.*.npy"))[0]
    raw = bytearray(target.read_bytes())
    raw[-8:] = np.float64(123.0).tobytes()  # last entry overwritten
    target.write_bytes(bytes(raw))
    again = gram.gram(arch, x, batch_size=5, progress=False, cache_dir=tmp_path)
    assert gram.last_run["corrupt_blocks"] == [(1, 2)]
    assert gram.last_run["computed"] == 1  # the corrupt one only
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
    (gram.gram, (archs.get("2-L"), np.zeros((0, 3))), dict(progress=False), ValueError, "N >= 1"),
    (gram.gram, (archs.get("2-L"), X, np.zeros((0, 3))), dict(progress=False), ValueError, "N2 >= 1"),
    (gram.gram, (archs.get("2-L"), X), dict(batch_size=0, progress=False), ValueError, "batch_size"),
    (gram.gram, (archs.get("2-L"), X), dict(kind="cov", progress=False), ValueError, "kind="),
    (gram.auto_batch_size, (42, X), {}, TypeError, "arch_or_kernel_fn"),
]


@pytest.mark.parametrize(
    "fn, args, kwargs, exc, match",
    BAD_INPUTS,
    ids=[f"{f.__name__}-{i}" for i, (f, *_rest) in enumerate(BAD_INPUTS)],
)
def test_bad_inputs_are_rejected(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_closed_forms_still_run_inside_jit():
    """The checks skip traced values, so the closed forms can be jitted."""
    out = jax.jit(lambda a: cf.mlp_ntk(a, depth=3)[0])(X)
    np.testing.assert_allclose(out, cf.mlp_ntk(X, depth=3)[0], rtol=1e-13)
