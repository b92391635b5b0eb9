"""The Gram engine's machinery: symmetry, one compilation, devices, memory guard, cache.

Each test compares the engine's result with a reference computed another way
(neural-tangents' unbatched ``kernel_fn`` of the same network, ``layers.to_stax``; a plain
matrix product; a single uninterrupted run) or counts what the engine did.  No timings are asserted:
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
import numpy as np
import pytest

from ntkbook import archs, data, gram, gram_cache, gram_memory, layers

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
            kf = layers.to_stax(archs.get(name))[2]
            refs[name] = np.asarray(jax.jit(lambda a: kf(a, None, "ntk"))(digits))
        return refs[name]

    return get


def linear_kernel(a, c, kind="ntk"):
    """A cheap kernel whose Gram matrix is x x^T, computable without the engine."""
    return a.reshape(a.shape[0], -1) @ c.reshape(c.shape[0], -1).T


# ---------------------------------------------------------------- symmetry, compilation


def test_symmetric_mode_computes_only_upper_blocks(rng):
    """Count executed blocks with a host callback: only (i, j) with j >= i run."""
    n, b = 10, 3  # 4 row blocks, the last one ragged (1 row + 2 pads)
    x = np.zeros((n, 2))
    x[:, 0] = np.arange(n)  # column 0 tags each row with its index
    x[:, 1] = rng.normal(size=n)
    seen = []

    def tagged(a, c, kind):
        # the first row of each block names the block: row index // b
        jax.debug.callback(lambda i, j: seen.append((int(i) // b, int(j) // b)), a[0, 0], c[0, 0])
        return linear_kernel(a, c)

    H = gram.gram(tagged, x, batch_size=b, progress=False, check_memory=False)
    upper = {(i, j) for i in range(4) for j in range(4) if j >= i}
    assert sorted(seen) == sorted(upper)  # 10 of the 16 blocks, each once
    np.testing.assert_allclose(H, x @ x.T, rtol=1e-14)  # transposed fill is exact
    assert gram.last_run["computed"] == 10 and gram.last_run["blocks"] == 10


def test_diag_fn_computes_the_diagonal_blocks_of_a_symmetric_call_only(rng):
    """``run_blocks(..., diag_fn=)``: the diagonal blocks of ``x2=None`` come from ``diag_fn(a)``
    (one batch), the others from ``block_fn(a, c)``; a call with ``x2`` never uses it.
    Reference: ``x x^T``."""
    from ntkbook import engine

    x = rng.normal(size=(7, 3))  # blocks of 3: 3 row blocks, the last ragged
    calls = {"block": 0, "diag": 0}

    def block_fn(a, c):
        calls["block"] += 1
        return (a @ c.T,)

    def diag_fn(a):
        calls["diag"] += 1
        return (a @ a.T,)

    (out,), rec = engine.run_blocks(block_fn, x, None, 3, diag_fn=diag_fn)
    np.testing.assert_allclose(out, x @ x.T, rtol=1e-14)
    assert calls == {"block": 3, "diag": 3} and rec.computed == 6
    (out,), _ = engine.run_blocks(block_fn, x, x[:5], 3, diag_fn=diag_fn)
    np.testing.assert_allclose(out, x @ x[:5].T, rtol=1e-14)
    assert calls == {"block": 9, "diag": 3}  # 3 x 2 blocks, all through block_fn
    with pytest.raises(TypeError, match="diag_fn must be callable"):
        engine.run_blocks(block_fn, x, None, 3, diag_fn="f")


def test_one_block_symmetric_gram_runs_the_symmetric_state(digits, nt_ntk, monkeypatch):
    """A symmetric Gram of one block runs it as the symmetric state (pairs a <= b) and gives
    neural-tangents' NTK (1e-10 off the diagonal, 5e-8 on it: neural-tangents' angle
    residue, ``tests/test_layers.py``) and the all-pairs Grams ``gram(x, x)`` and in blocks
    of 4 (1e-13: measured 1.8e-14 when the symmetric block's 8^4 x 45 entries took XLA's
    atan2 and the all-pairs block's 8^4 x 81 the rational approximation, a few ulps apart,
    which the arc-cosine's slope near angle 0 amplifies; both are above
    ``layers._FAST_ANGLE_MIN`` now); with several blocks the diagonal ones run all pairs
    (one set of compiled programs, see ``gram``)."""
    from ntkbook import engine

    seen = []
    real = engine.run_blocks

    def spy(*args, **kwargs):
        seen.append(kwargs.get("diag_fn") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run_blocks", spy)
    x = digits[:9]
    arch = archs.get("CNN-1-GAP")
    H = gram.gram(arch, x, batch_size=9, progress=False)
    full = gram.gram(arch, x, x, batch_size=9, progress=False)
    several = gram.gram(arch, x, batch_size=4, progress=False)
    assert seen == [True, False, False]
    assert np.array_equal(H, H.T)
    ref = nt_ntk("CNN-1-GAP")[:9, :9]
    off = ~np.eye(9, dtype=bool)
    assert rel_err(H[off], ref[off]) < 1e-10 and rel_err(np.diag(H), np.diag(ref)) < 5e-8
    assert rel_err(H, full) < 1e-13 and rel_err(H, several) < 1e-13


def test_ragged_last_block_compiles_once(digits, nt_ntk, monkeypatch):
    """A Python counter inside the kernel runs only while tracing: one trace for all blocks."""
    traces = []
    input_state = layers._input_state

    def counted_input_state(first, mixing, a, c):  # runs inside the first jitted stage
        traces.append(a.shape)  # side effect at trace time only
        return input_state(first, mixing, a, c)

    monkeypatch.setattr(layers, "_input_state", counted_input_state)
    layers._compiled_stage.cache_clear()  # no stage compiled by an earlier test
    gram._BLOCK_FNS.clear()
    counted = archs.get("2-L")

    # 23 = 2 * 10 + 3: the last block holds 3 real rows; check_memory=False so
    # that the memory estimate's own tracing does not count
    H = gram.gram(counted, digits, batch_size=10, progress=False, check_memory=False)
    assert len(traces) == 1 and traces[0][0] == 10
    ref = nt_ntk("2-L")
    # float64; blocks round the diagonal's cosine differently from the full
    # matrix, and arccos' infinite slope at 1 turns 1e-16 into ~1e-8
    assert rel_err(H, ref) < 1e-7


# ---------------------------------------------------------------- several devices

# The child runs CNN-1 (ntkbook.layers), so it imports neither neural-tangents nor
# scikit-learn: the digits come from the parent in a .npy file and the neural-tangents
# reference is the parent's nt_ntk.
_MULTI = textwrap.dedent("""
    import json, os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from ntkbook import archs, gram
    used = []
    real_put = jax.device_put
    def put(value, device=None, *a, **k):   # record where each block's inputs go
        if device is not None:               # other libraries' uncommitted puts
            used.append(str(device))
        return real_put(value, device, *a, **k)
    jax.device_put = put
    x = np.load(sys.argv[1])
    kernel = archs.get("CNN-1")
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
    out = subprocess.run(
        [sys.executable, "-c", _MULTI, str(tmp_path / "x.npy"), str(tmp_path / "H2.npy")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["n_devices"] == 2
    assert len(res["put"]) == 2  # inputs went to both devices
    # 23 rows in blocks of 6 (the last one ragged: 5 rows): 10 upper blocks of 4x4,
    # round robin
    assert sorted(res["per_device"].values()) == [5, 5]
    assert res["diff"] == 0.0  # the same XLA program on each device: bitwise equal
    # against neural-tangents: off the diagonal the same float64 recursion; on it (angle 0)
    # neural-tangents takes arccos of a cosine rounded near 1 and keeps that rounding
    H2, ref = np.load(tmp_path / "H2.npy"), nt_ntk("CNN-1")
    off = ~np.eye(len(ref), dtype=bool)
    # measured: 1.5e-15 off the diagonal, 8.5e-9 on it; asserted within 10x of each
    assert np.abs(H2 - ref)[off].max() / np.abs(ref).max() < 1.5e-14
    assert np.abs(np.diag(H2) - np.diag(ref)).max() / np.abs(ref).max() < 8.5e-8


def test_threads_on_one_cpu_device_give_the_same_gram_bit_for_bit(digits, monkeypatch):
    """``NTKBOOK_BLOCK_THREADS=3``: blocks run on three threads (seen through the threads that
    called the block function), the first diagonal and the first off-diagonal block alone on
    the calling thread (they compile); the Gram equals the one-thread run bit for bit, and a
    real kernel (CNN-1 through ``gram``) too."""
    import threading
    import time

    from ntkbook import engine
    from ntkbook._x64 import x64_enabled

    x = np.random.default_rng(0).normal(size=(20, 3))
    calls: list = []

    def block_fn(a, c):
        calls.append(("block", threading.get_ident()))
        time.sleep(0.02)  # long enough that one thread cannot take every block
        return (np.asarray(a) @ np.asarray(c).T,)

    def diag_fn(a):
        calls.append(("diag", threading.get_ident()))
        time.sleep(0.02)
        return (np.asarray(a) @ np.asarray(a).T,)

    monkeypatch.setenv(engine.THREADS_ENV, "1")
    (one,), _ = engine.run_blocks(block_fn, x, None, 4, diag_fn=diag_fn)
    assert {t for _, t in calls} == {threading.get_ident()}
    calls.clear()
    monkeypatch.setenv(engine.THREADS_ENV, "3")
    (three,), rec = engine.run_blocks(block_fn, x, None, 4, diag_fn=diag_fn)
    assert np.array_equal(one, three) and rec.computed == 15  # 5 x 5 blocks, 15 on or above
    main = threading.get_ident()
    assert sorted(calls[:2]) == [("block", main), ("diag", main)]  # one of each kind, alone
    assert len({t for _, t in calls[2:]} - {main}) >= 2
    np.testing.assert_allclose(three, x @ x.T, rtol=1e-14)
    # a real kernel: the same matrix on one and on two threads, also where float64 is on only
    # in gram's own scope (JAX's switch is per thread there: the workers must enter it too)
    monkeypatch.setenv(engine.THREADS_ENV, "1")
    H1 = gram.gram(archs.get("CNN-1"), digits[:12], batch_size=4, progress=False)
    monkeypatch.setenv(engine.THREADS_ENV, "2")
    previous = x64_enabled()
    jax.config.update("jax_enable_x64", False)
    try:
        H2 = gram.gram(archs.get("CNN-1"), digits[:12], batch_size=4, progress=False)
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert H2.dtype == np.float64 and np.array_equal(H1, H2)


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_block_threads_setting_must_be_a_positive_integer(raw, monkeypatch):
    from ntkbook import engine

    monkeypatch.setenv(engine.THREADS_ENV, raw)
    with pytest.raises(ValueError, match="NTKBOOK_BLOCK_THREADS must be an integer >= 1"):
        engine.block_threads(jax.devices("cpu")[:1])
    monkeypatch.delenv(engine.THREADS_ENV)
    assert engine.block_threads(jax.devices("cpu")[:1]) == len(os.sched_getaffinity(0))


# ---------------------------------------------------------------- memory guard


def test_memory_guard_names_a_batch_size_that_fits(digits, nt_ntk, monkeypatch):
    arch = archs.get("CNN-1-GAP")
    est = gram.estimate_memory(arch, digits, batch_size=23)
    # leave room for the result plus a third of one 23 x 23 block's working set
    free = (est["result_bytes"] + est["block_bytes"] / 3) / gram_memory._MEMORY_SHARE
    monkeypatch.setattr(gram_memory, "host_available_bytes", lambda: int(free))
    with pytest.raises(gram.GramMemoryError, match=r"pass batch_size=\d+") as info:
        gram.gram(arch, digits, batch_size=23, progress=False)
    suggested = int(re.search(r"batch_size=(\d+)", str(info.value)).group(1))
    assert 1 <= suggested < 23
    # the suggestion passes the same guard, and the Gram then computes correctly
    gram_memory.check_fits(gram.estimate_memory(arch, digits, batch_size=suggested), suggested)
    H = gram.gram(arch, digits, batch_size=suggested, progress=False)
    assert rel_err(H, nt_ntk("CNN-1-GAP")) < 1e-6


def test_working_set_of_a_layers_kernel_needs_no_trace(digits, monkeypatch):
    """A layers kernel's working set comes from its shape rules, without a trace (the rule
    is checked against traced states in ``tests/test_layers_core.py``): CNN-1 on 8 x 8
    digits keeps 64 entries per pair, and a block of 8 carries 8 x 8 pairs and each of
    its 16 inputs with itself.  A foreign
    ``kernel_fn`` is traced once per feature shape and kept."""
    from ntkbook import layers

    traced = []
    real = gram_memory._largest_intermediate

    def spy(fn, *specs):
        traced.append(specs[0].shape)
        return real(fn, *specs)

    monkeypatch.setattr(gram_memory, "_largest_intermediate", spy)
    arch = archs.get("CNN-1")
    est = gram_memory.estimate_memory(arch, digits, batch_size=8)
    factor = gram_memory._working_set_factor(arch[2])
    assert traced == [] and est["block_bytes"] == factor * 64 * (8 * 8 + 16) * 8
    foreign = layers.to_stax(arch)[2]
    first = gram_memory.estimate_memory(foreign, digits, batch_size=8)
    again = gram_memory.estimate_memory(foreign, digits, batch_size=8)
    assert again["block_bytes"] == first["block_bytes"] > 0 and len(traced) == 1
    gram_memory.estimate_memory(foreign, digits[:, :4, :4], batch_size=8)
    assert len(traced) == 2


def test_memory_guard_rejects_a_result_too_large(digits, monkeypatch):
    monkeypatch.setattr(gram_memory, "host_available_bytes", lambda: 1000)  # < 23*23*8 bytes
    with pytest.raises(gram.GramMemoryError, match="Gram matrix alone needs"):
        gram.gram(archs.get("2-L"), digits, progress=False)


# ---------------------------------------------------------------- resumable cache


class Crash(RuntimeError):
    pass


def test_interrupted_cached_gram_resumes_to_the_single_run_result(digits, tmp_path, monkeypatch):
    arch = archs.get("CNN-1")
    single = gram.gram(arch, digits, batch_size=5, progress=False)  # 5x5 blocks, 15 upper
    real_put = gram_cache.BlockCache.put
    saved = []

    def put_then_crash(self, i, j, block):
        if len(saved) == 6:
            raise Crash("simulated interruption after 6 blocks")
        real_put(self, i, j, block)
        saved.append((i, j))

    monkeypatch.setattr(gram_cache.BlockCache, "put", put_then_crash)
    with pytest.raises(Crash):
        gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    monkeypatch.setattr(gram_cache.BlockCache, "put", real_put)
    assert len(list(tmp_path.glob("block_*.npy"))) == 6
    resumed = gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    # the 9 missing blocks only
    assert gram.last_run["from_cache"] == 6 and gram.last_run["computed"] == 9
    np.testing.assert_array_equal(resumed, single)  # same program, same blocks: bitwise
    # deleting blocks also resumes: only those are recomputed
    for f in sorted(tmp_path.glob("block_*.npy"))[3:7]:
        f.unlink()
    again = gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    assert gram.last_run["computed"] == 4  # the 4 deleted
    np.testing.assert_array_equal(again, single)


def test_cache_folder_of_another_gram_is_refused(digits, tmp_path):
    arch = archs.get("2-L")
    gram.gram(arch, digits, batch_size=8, progress=False, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(arch, digits[:-1], batch_size=8, progress=False, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(arch, digits, batch_size=8, kind="nngp", progress=False, cache_dir=tmp_path)
    # another block size lays out other blocks under the same names
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(arch, digits, batch_size=5, progress=False, cache_dir=tmp_path)
    # same inputs but another kernel: refused before any block is read (the fingerprint
    # names the layer stack), even with block (0, 0) gone -- which once let a 2-L cache
    # fill a 10-L Gram
    for f in tmp_path.glob("block_00000_00000.*.npy"):
        f.unlink()
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(archs.get("10-L"), digits, batch_size=8, progress=False, cache_dir=tmp_path)
    # a kernel_fn that is not a layers.KernelFn is named by its values on two inputs
    other = tmp_path / "foreign"
    kf2, kf10 = archs.get("2-L").kernel_fn, archs.get("10-L").kernel_fn
    gram.gram(lambda a, c, k: kf2(a, c, k), digits, batch_size=8, progress=False, cache_dir=other)
    with pytest.raises(ValueError, match="different Gram matrix"):
        gram.gram(lambda a, c, k: kf10(a, c, k), digits, batch_size=8, progress=False, cache_dir=other)


def test_automatic_block_pads_fewest_rows():
    """``_least_padding`` against a brute force over every block size: of the sizes that
    split ``n`` into equal blocks (``e == ceil(n / ceil(n / e))``) between 3/4 of the
    budget's block (not below 10) and the block itself, the one with the fewest padded
    rows, the larger on a tie; the fewest blocks, evened out, when none is in range."""

    def brute(n: int, b: int) -> int:
        lo = min(b, max(10, -(-3 * b // 4)))
        first = -(-n // -(-n // b))
        equal = [e for e in range(lo, b + 1) if e == -(-n // -(-n // e))] + [first]
        return min(equal, key=lambda e: (-(-n // e) * e, -e))

    for n in range(1, 400):
        for b in {min(n, b) for b in (10, 13, 16, 40, 134)}:
            assert gram_memory._least_padding(n, b) == brute(n, b), (n, b)
    # the case that set it: 100 digits in 10 blocks of 10, not 8 of 13 (104 rows)
    assert gram_memory._least_padding(100, 13) == 10
