"""The Gram engine's machinery: symmetry, one compilation, devices, memory guard, cache, fast kernels.

Each test compares the engine's result with a reference computed another way
(neural-tangents' unbatched ``kernel_fn``, a plain matrix product, a single
uninterrupted run) or counts what the engine did.  No timings are asserted:
speed is measured by ``python -m ntkbook.bench``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import archs, data, fast_kernels, gram

REPO = Path(__file__).resolve().parents[1]


def rel_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


@pytest.fixture(scope="module")
def digits():
    return data.normalize(data.load("digits", n=23, seed=2).x.astype(np.float64))


@pytest.fixture(scope="module")
def nt_ntk(digits):
    """``nt_ntk(name)``: neural-tangents' unbatched NTK of ``digits`` under a zoo network.

    Computed once per module and shared by the tests that check a Gram against it (a
    test on the first rows of ``digits`` compares with the matching corner: the kernel
    of a pair does not depend on the other inputs).
    """
    refs = {}

    def get(name):
        if name not in refs:
            refs[name] = np.asarray(archs.get(name).kernel_fn(digits, None, "ntk"))
        return refs[name]

    return get


def linear_kernel(a, c, kind="ntk"):
    """A cheap kernel whose Gram matrix is x x^T, computable without the engine."""
    return a.reshape(a.shape[0], -1) @ c.reshape(c.shape[0], -1).T


# ---------------------------------------------------------------- symmetry, compilation


def test_symmetric_mode_computes_only_upper_blocks(rng):
    """Count executed blocks with a host callback: only (i, j) with j >= i run."""
    n, b = 10, 3                       # 4 row blocks, the last one ragged (1 row + 2 pads)
    x = np.zeros((n, 2))
    x[:, 0] = np.arange(n)             # column 0 tags each row with its index
    x[:, 1] = rng.normal(size=n)
    seen = []

    def tagged(a, c, kind):
        # the first row of each block names the block: row index // b
        jax.debug.callback(lambda i, j: seen.append((int(i) // b, int(j) // b)), a[0, 0], c[0, 0])
        return linear_kernel(a, c)

    H = gram.gram(tagged, x, batch_size=b, progress=False, check_memory=False, fast=False)
    upper = {(i, j) for i in range(4) for j in range(4) if j >= i}
    assert sorted(seen) == sorted(upper)            # 10 of the 16 blocks, each once
    np.testing.assert_allclose(H, x @ x.T, rtol=1e-14)   # transposed fill is exact
    assert gram.last_run["computed"] == 10 and gram.last_run["blocks"] == 10


def test_ragged_last_block_compiles_once(digits, nt_ntk):
    """A Python counter inside the kernel runs only while tracing: one trace for all blocks."""
    traces = []

    def counted(a, c, kind):
        traces.append(a.shape)         # side effect at trace time only
        return archs.get("2-L").kernel_fn(a, c, kind)

    # 23 = 2 * 10 + 3: the last block holds 3 real rows; check_memory=False so
    # that the memory estimate's own tracing does not count
    H = gram.gram(counted, digits, batch_size=10, progress=False, check_memory=False, fast=False)
    assert len(traces) == 1 and traces[0][0] == 10
    ref = nt_ntk("2-L")
    # float64; blocks round the diagonal's cosine differently from the full
    # matrix, and arccos' infinite slope at 1 turns 1e-16 into ~1e-8
    assert rel_err(H, ref) < 1e-7


# ---------------------------------------------------------------- several devices

# The child runs CNN-1's hand-written kernel (what gram derives for archs.get("CNN-1")),
# so it imports neither neural-tangents nor scikit-learn: the digits come from the
# parent in a .npy file and the neural-tangents reference is the parent's nt_ntk.
_MULTI = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from ntkbook import fast_kernels, gram
    used = []
    real_put = jax.device_put
    def put(value, device=None, *a, **k):   # record where each block's inputs go
        if device is not None:               # other libraries' uncommitted puts
            used.append(str(device))
        return real_put(value, device, *a, **k)
    jax.device_put = put
    x = np.load(sys.argv[1])
    kernel = fast_kernels.get("CNN-1")
    H2 = gram.gram(kernel, x, batch_size=6, progress=False)
    per_device = dict(gram.last_run["devices"])
    H1 = gram.gram(kernel, x, batch_size=6, progress=False, devices=jax.local_devices()[:1])
    np.save(sys.argv[2], H2)
    print(json.dumps(dict(n_devices=len(jax.local_devices()), put=sorted(set(used)),
                          per_device=per_device, diff=float(np.abs(H2 - H1).max()))))
""")


def test_blocks_spread_over_two_host_devices(digits, nt_ntk, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    np.save(tmp_path / "x.npy", digits)
    out = subprocess.run([sys.executable, "-c", _MULTI, str(tmp_path / "x.npy"),
                          str(tmp_path / "H2.npy")], capture_output=True, text=True,
                         env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n_devices"] == 2
    assert len(res["put"]) == 2                            # inputs went to both devices
    # 23 rows in blocks of 6 (the last one ragged: 5 rows): 10 upper blocks of 4x4,
    # round robin
    assert sorted(res["per_device"].values()) == [5, 5]
    assert res["diff"] == 0.0          # the same XLA program on each device: bitwise equal
    assert rel_err(np.load(tmp_path / "H2.npy"), nt_ntk("CNN-1")) < 1e-6


# ---------------------------------------------------------------- memory guard


def test_memory_guard_names_a_batch_size_that_fits(digits, nt_ntk, monkeypatch):
    arch = archs.get("CNN-1-GAP")
    est = gram.estimate_memory(arch, digits, batch_size=23)
    # leave room for the result plus a third of one 23 x 23 block's working set
    free = (est["result_bytes"] + est["block_bytes"] / 3) / gram._MEMORY_SHARE
    monkeypatch.setattr(gram, "_host_available_bytes", lambda: int(free))
    with pytest.raises(gram.GramMemoryError, match=r"pass batch_size=\d+") as info:
        gram.gram(arch, digits, batch_size=23, progress=False, fast=False)
    suggested = int(re.search(r"batch_size=(\d+)", str(info.value)).group(1))
    assert 1 <= suggested < 23
    # the suggestion passes the same guard, and the Gram then computes correctly
    gram._memory_guard(gram.estimate_memory(arch, digits, batch_size=suggested), suggested)
    H = gram.gram(arch, digits, batch_size=suggested, progress=False, fast=False)
    assert rel_err(H, nt_ntk("CNN-1-GAP")) < 1e-6


def test_memory_guard_rejects_a_result_too_large(digits, monkeypatch):
    monkeypatch.setattr(gram, "_host_available_bytes", lambda: 1000)   # < 23*23*8 bytes
    with pytest.raises(gram.GramMemoryError, match="Gram matrix alone needs"):
        gram.gram(archs.get("2-L"), digits, progress=False)


# ---------------------------------------------------------------- resumable cache


class Crash(RuntimeError):
    pass


def test_interrupted_cached_gram_resumes_to_the_single_run_result(digits, tmp_path, monkeypatch):
    arch = archs.get("CNN-1")
    single = gram.gram(arch, digits, batch_size=5, progress=False)    # 5x5 blocks, 15 upper
    real_put = gram._BlockCache.put
    saved = []

    def put_then_crash(self, i, j, block):
        if len(saved) == 6:
            raise Crash("simulated interruption after 6 blocks")
        real_put(self, i, j, block)
        saved.append((i, j))

    monkeypatch.setattr(gram._BlockCache, "put", put_then_crash)
    with pytest.raises(Crash):
        gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    monkeypatch.setattr(gram._BlockCache, "put", real_put)
    assert len(list(tmp_path.glob("block_*.npy"))) == 6
    resumed = gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    # 9 missing blocks plus block (0, 0), recomputed to check the cache's kernel
    assert gram.last_run["from_cache"] == 5 and gram.last_run["computed"] == 10
    np.testing.assert_array_equal(resumed, single)     # same program, same blocks: bitwise
    # deleting blocks also resumes: only those are recomputed
    for f in sorted(tmp_path.glob("block_*.npy"))[3:7]:
        f.unlink()
    again = gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    assert gram.last_run["computed"] == 5              # 4 deleted + block (0, 0)
    np.testing.assert_array_equal(again, single)


def test_cache_folder_of_another_gram_is_refused(digits, tmp_path):
    arch = archs.get("2-L")
    gram.gram(arch, digits, batch_size=8, progress=False, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(arch, digits[:-1], batch_size=8, progress=False, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(arch, digits, batch_size=8, kind="nngp", progress=False, cache_dir=tmp_path)
    # same inputs but another kernel: caught by recomputing block (0, 0)
    with pytest.raises(ValueError, match="different kernel"):
        gram.gram(archs.get("10-L"), digits, batch_size=8, progress=False, cache_dir=tmp_path)


# ---------------------------------------------------------------- hand-written kernels


@pytest.mark.parametrize("name", fast_kernels.names())
def test_fast_kernel_equals_neural_tangents(digits, name, rng):
    arch = archs.get(name)
    fk = fast_kernels.get(name)
    if name in gram._AUTO_CANDIDATES:
        # the GAP kernels are the engine's probe candidates: take the probe's own jitted
        # values (the same jax.jit(lambda a, c: fk(a, c, ("ntk", "nngp"))) as below) on
        # its five random unit-norm 8x8 images (3 x 2 pairs), compiled once per process
        # and reused by the probe in test_gram_uses_fast_kernel_only_when_it_matches
        x1, x2 = gram._probe_images(digits.shape[1:])
        cand, vals = gram._probe_candidate(digits.shape[1:], name)
        assert repr(cand) == repr(fk)
        shape = (3, 2)
    else:
        x1, x2 = digits[:4], data.normalize(rng.normal(size=(3, 8, 8, 1)))
        vals = jax.jit(lambda a, c: fk(a, c, ("ntk", "nngp")))(x1, x2)
        shape = (4, 3)
    refs = arch.kernel_fn(x1, x2, ("ntk", "nngp"))
    for v, r in zip(vals, refs):
        assert v.shape == shape
        # the bar is 1e-6; float64 recursions agree to ~1e-13
        assert rel_err(v, r) < 1e-10


def test_gram_uses_fast_kernel_only_when_it_matches(digits, nt_ntk, monkeypatch):
    monkeypatch.setattr(gram, "_AUTO_MIN_ENTRIES", 1)    # probe even these small matrices
    x = digits[:8]
    arch = archs.get("CNN-1-GAP")
    asked = []                     # (feature shape, candidate) of every candidate evaluation
    real_candidate = gram._probe_candidate
    monkeypatch.setattr(gram, "_probe_candidate",
                        lambda shape, name: asked.append((shape, name)) or real_candidate(shape, name))
    # a bare kernel_fn (no recorded layers) is recognised by the probe
    H = gram.gram(lambda a, c, get: arch.kernel_fn(a, c, get), x, batch_size=4, progress=False)
    assert gram.last_run["kernel"].startswith("CNNKernel(n_conv=2, n_dense=2, pool='gap'")
    assert gram.last_run["kernel_choice"] == "probe"
    # tiny images first; at the real shape only the candidate that matched there
    assert asked[0][0] == (gram._TINY_SIDE, gram._TINY_SIDE, 1)
    assert [name for shape, name in asked if shape == x.shape[1:]] == ["CNN-1-GAP"]
    assert rel_err(H, nt_ntk("CNN-1-GAP")[:8, :8]) < 1e-6
    # a bare MLP kernel on the same images matches no hand-written GAP kernel
    mlp = archs.get("2-L")
    H2 = gram.gram(lambda a, c, get: mlp.kernel_fn(a, c, get), x, progress=False)
    assert gram.last_run["kernel"] == "neural-tangents"
    assert rel_err(H2, nt_ntk("2-L")[:8, :8]) < 1e-6
    # (no memory estimate: tracing neural-tangents' GAP kernel for it is not what this checks)
    gram.gram(arch, x, batch_size=4, progress=False, fast=False, check_memory=False)
    assert gram.last_run["kernel"] == "neural-tangents"
    # passed explicitly, a hand-written kernel runs through the engine as given
    Hf = gram.gram(fast_kernels.get("CNN-1"), digits, batch_size=10, progress=False)
    assert gram.last_run["kernel_choice"] == "given"
    assert rel_err(Hf, nt_ntk("CNN-1")) < 1e-6


def test_fast_kernel_bad_input(digits):
    with pytest.raises(ValueError, match="pool="):
        fast_kernels.CNNKernel(2, 1, pool="max")
    with pytest.raises(ValueError, match="kernel must be odd"):
        fast_kernels.CNNKernel(2, 1, kernel=4)
    with pytest.raises(ValueError, match="n_dense"):
        fast_kernels.CNNKernel(2, -1)
    with pytest.raises(ValueError, match="no hand-written kernel"):
        fast_kernels.get("CNN-3")
    with pytest.raises(ValueError, match="get="):
        fast_kernels.get("CNN-1")(digits[:2], None, "cov")
    with pytest.raises(ValueError, match="images of one shape"):
        fast_kernels.get("CNN-1")(digits[:2].reshape(2, -1))
