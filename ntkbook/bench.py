"""Benchmarks of the Gram engine and of the package's fast paths, as ratios in one process.

``python -m ntkbook.bench`` (what ``make bench`` runs) times each fast path
against its baseline **in the same process, on the same inputs**, so the
ratios survive a busy machine better than absolute seconds do:

* **issue 13's targets** (row ``target``): two reader-built CNNs (flatten and
  GAP, built with :func:`ntkbook.archs.cnn`, not zoo names) and the zoo's
  ``CNN-1-GAP``, ``gram(arch, x)`` at its defaults against
  ``neural_tangents.batch(kernel_fn, 100)``, both timed on their *first* call
  (compilation included), with the measured bound of each -- arc-cosines at
  :func:`arccos_rate` plus memory passes at :func:`pass_rate` -- and how far
  the kernel is from it, in the note;
* infinite-width Gram matrices of ``2-L``, ``10-L``, ``CNN-1``, ``CNN-2`` and
  ``CNN-1-GAP`` on digits: ``neural_tangents.batch(kernel_fn, batch_size)``
  against :func:`ntkbook.gram.gram` with the same block size, each timed on
  its second (warm) call; the first calls, which include compilation, are
  reported in the note (the baseline is the same network written in ``stax``,
  :func:`ntkbook.layers.to_stax`);
* the same GAP Gram in float32 against float64 (the dtype choice);
* the full eNTK against the pNTK (:mod:`ntkbook.empirical`);
* label refurbishment, direct re-solve against incremental updates
  (:func:`ntkbook.tasks.refurbish.refurbish_labels`);
* a ``2-L`` Gram of N = 10,000 in float64 against the ``X X^T`` product of the
  same size (the machine's matmul throughput), both compiled beforehand.

Every row is printed and written to a CSV (default ``bench-results/bench.csv``)
that the book's benchmark appendix reads.  ``--quick`` uses CI sizes (a minute
or two on 2 cores).

Columns: ``benchmark``, ``case``, ``n``, ``baseline`` and ``ntkbook`` (what
was compared), ``baseline_s``/``ntkbook_s`` (wall seconds),
``baseline_cpu_s``/``ntkbook_cpu_s`` (process CPU seconds), ``ratio``
(``baseline_s / ntkbook_s``; > 1 means ntkbook is faster), ``cpu_ratio``,
``max_rel_diff`` (``max|A - B| / max|B|`` of the two results, or the stated
error measure) and ``note``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from . import _checks, _malloc

__all__ = ["timed", "run", "main", "block_sweep", "memory_check", "arccos_rate", "pass_rate", "SIZES"]

# benchmark -> sizes at each profile; "full" are the targets
SIZES = {
    "quick": dict(
        n_gram=100,
        gram_batch=50,
        n_dtype=100,
        n_entk=64,
        entk_width=256,
        n_refurb=500,
        refurb_flips=50,
        n_big=2000,
        big_batch=1000,
        n_flat=200,
        n_gap=40,
    ),
    "full": dict(
        n_gram=400,
        gram_batch=100,
        n_dtype=200,
        n_entk=200,
        entk_width=512,
        n_refurb=2000,
        refurb_flips=200,
        n_big=10_000,
        big_batch=2500,
        n_flat=800,
        n_gap=100,
    ),
}
"""Benchmark sizes per profile (``"quick"``, ``"full"``); ``"full"`` holds the issue's targets."""
GRAM_ARCHS = ("2-L", "10-L", "CNN-1", "CNN-2", "CNN-1-GAP")
ZOO_KERNELS = ("2-L", "10-L", "CNN-1", "CNN-2", "CNN-1-GAP", "CNN-2-GAP")


def timed(fn: Callable, *args, **kwargs) -> tuple[Any, float, float]:
    """Run ``fn`` once; return its result (device arrays waited for), wall and CPU seconds.

    The result is whatever ``fn`` returns, hence typed ``Any``.
    """
    import jax

    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}.")
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    out = jax.block_until_ready(out)
    return out, time.perf_counter() - w0, time.process_time() - c0


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _row(benchmark, case, n, baseline, ntkbook, tb, cb, tn, cn, diff, note="") -> dict:
    return dict(
        benchmark=benchmark,
        case=case,
        n=int(n),
        baseline=baseline,
        ntkbook=ntkbook,
        baseline_s=tb,
        ntkbook_s=tn,
        baseline_cpu_s=cb,
        ntkbook_cpu_s=cn,
        ratio=tb / tn,
        cpu_ratio=cb / cn,
        max_rel_diff=diff,
        note=note,
    )


def _gram_rows(s: dict, log: Callable) -> list[dict]:
    import neural_tangents as nt

    from . import archs, data, gram, layers

    x = data.normalize(data.load("digits", n=s["n_gram"], seed=0).x.astype(np.float64))
    rows = []
    for name in GRAM_ARCHS:
        arch = archs.get(name)
        batched = nt.batch(layers.to_stax(arch)[2], batch_size=s["gram_batch"])
        ref, t_first, _ = timed(batched, x, None, "ntk")
        ref, tb, cb = timed(batched, x, None, "ntk")
        H, tn_first, _ = timed(gram.gram, arch, x, batch_size=s["gram_batch"], progress=False)
        (H, run), tn, cn = timed(
            gram.gram, arch, x, batch_size=s["gram_batch"], progress=False, return_record=True
        )
        rows.append(
            _row(
                "gram",
                name,
                len(x),
                f"nt.batch(bs={s['gram_batch']}), warm call",
                f"gram(bs={s['gram_batch']}), warm call",
                tb,
                cb,
                tn,
                cn,
                _rel(H, ref),
                f"first calls (compile included): nt.batch "
                f"{t_first:.2f} s, gram {tn_first:.2f} s; ntkbook kernel: "
                f"{run.kernel}",
            )
        )
        log(rows[-1])
    # the dtype choice, on the kernel where it matters most
    arch = archs.get("CNN-1-GAP")
    xd = x[: s["n_dtype"]]
    H64, t64, c64 = timed(gram.gram, arch, xd, batch_size=s["gram_batch"], progress=False)
    H32, t32, c32 = timed(gram.gram, arch, xd, batch_size=s["gram_batch"], progress=False, dtype=np.float32)
    rows.append(
        _row(
            "dtype",
            "CNN-1-GAP",
            len(xd),
            "gram float32",
            "gram float64",
            t32,
            c32,
            t64,
            c64,
            _rel(H32, H64),
            "ratio > 1: float64 is faster; diff is float32's error",
        )
    )
    log(rows[-1])
    return rows


def _entk_rows(s: dict, log: Callable) -> list[dict]:
    try:
        from . import empirical
    except ImportError as err:
        print(f"skipping eNTK vs pNTK: ntkbook.empirical is not importable ({err})")
        return []
    import jax

    from . import archs, data

    x = data.normalize(data.load("digits", n=s["n_entk"], seed=0).x.astype(np.float64))
    x = x.reshape(len(x), -1)
    init_fn, apply_fn, _ = archs.mlp(3, width=s["entk_width"], out_dim=10)
    _, params = init_fn(jax.random.PRNGKey(0), x.shape)
    empirical.entk(apply_fn, params, x[:4])  # compile both once at another size
    empirical.pntk(apply_fn, params, x[:4])
    K, tb, cb = timed(empirical.entk, apply_fn, params, x)
    Kp, tn, cn = timed(empirical.pntk, apply_fn, params, x)
    rel_err = empirical.relative_frobenius_error(K, Kp)
    row = _row(
        "entk",
        f"3-layer MLP, width {s['entk_width']}, O=10",
        len(x),
        "entk (N x N x O x O)",
        "pntk (N x N)",
        tb,
        cb,
        tn,
        cn,
        rel_err,
        "diff: relative Frobenius error of pNTK (x) I_O against the eNTK (an approximation, not rounding)",
    )
    log(row)
    return [row]


def _refurbish_rows(s: dict, log: Callable) -> list[dict]:
    try:
        from .tasks.refurbish import refurbish_labels
    except ImportError as err:
        print(f"skipping refurbishment: ntkbook.tasks.refurbish is not importable ({err})")
        return []
    from . import closed_form, data

    rng = np.random.default_rng(0)
    n, k = s["n_refurb"], 10
    z = data.normalize(rng.normal(size=(n, 32)))
    y = rng.integers(0, k, size=n)
    # class-dependent means so the labels carry signal the Gram matrix can see
    z = data.normalize(z + 0.8 * data.normalize(rng.normal(size=(k, 32)))[y])
    H = np.asarray(closed_form.relu_ntk_eq4(z))
    y_noisy, _ = data.add_label_noise(y, 0.2, k, seed=1)
    kw = dict(steps=s["refurb_flips"], stop="never", num_classes=k)
    direct, tb, cb = timed(refurbish_labels, H, y_noisy, incremental=False, **kw)
    inc, tn, cn = timed(refurbish_labels, H, y_noisy, incremental=True, **kw)
    same = np.array_equal(direct.index, inc.index) and np.array_equal(direct.new, inc.new)
    row = _row(
        "refurbish",
        f"K={k}, {len(inc.index)} flips",
        n,
        "direct (re-solve per flip)",
        "incremental (O(NK) per flip)",
        tb,
        cb,
        tn,
        cn,
        0.0 if same else 1.0,
        "diff: 0 when both make the identical flips",
    )
    log(row)
    return [row]


def _big_rows(s: dict, log: Callable) -> list[dict]:
    import jax

    from . import archs, data, gram

    n = s["n_big"]
    rng = np.random.default_rng(0)
    x = data.normalize(rng.normal(size=(n, 64)))
    mm = jax.jit(lambda a: a @ a.T)  # float64: run() switched x64 on
    xj = jax.numpy.asarray(x)
    mm(xj).block_until_ready()  # compile at this size
    _, tb, cb = timed(mm, xj)
    arch = archs.get("2-L")
    gram.gram(arch, x[: s["big_batch"] + 1], batch_size=s["big_batch"], progress=False)  # compile
    H, tn, cn = timed(gram.gram, arch, x, batch_size=s["big_batch"], progress=False)
    gflops = 2 * n * n * x.shape[1] / tb / 1e9
    # one Gram entry of the 2-L kernel costs the dot product (2 D flops) plus O(1)
    row = _row(
        "2-L at scale",
        f"float64, D={x.shape[1]}",
        n,
        "X X^T (jit, float64)",
        f"gram(bs={s['big_batch']})",
        tb,
        cb,
        tn,
        cn,
        float("nan"),
        f"matmul {gflops:.1f} GFLOP/s; gram = {tn / tb:.1f} x the X X^T time "
        f"({100 * tb / tn:.0f}% of matmul throughput)",
    )
    log(row)
    return [row]


def arccos_rate(n: int = 2**18) -> float:
    """Arc-cosine ReLU expectations per second on this machine, measured alone (float64).

    Times the ReLU update of :mod:`ntkbook.layers` (``_arccos_relu``: a square root,
    the rational angle and a few multiplies per entry) on ``n`` entries -- about the
    size of one block's covariance, so it runs from cache as the blocks do -- compiled
    beforehand, best of ten.  With :func:`pass_rate` it bounds a GAP kernel: every
    ReLU of the conv stack evaluates it once per pair of inputs and pair of pixels.
    """
    import jax
    import jax.numpy as jnp

    from . import config
    from .layers import _arccos_relu

    n = _checks.positive_int(n, "n")
    config.enable_x64()
    rng = np.random.default_rng(0)
    cov = jnp.asarray(rng.uniform(-0.9, 0.9, size=n))
    fn = jax.jit(lambda c, p: _arccos_relu(c, p))
    jax.block_until_ready(fn(cov, jnp.ones(n)))
    return n / min(timed(fn, cov, jnp.ones(n))[1] for _ in range(10))


def pass_rate(n: int = 2**18) -> float:
    """Entries per second of one pass over a block-sized float64 array (read one, write one)."""
    import jax
    import jax.numpy as jnp

    from . import config

    n = _checks.positive_int(n, "n")
    config.enable_x64()
    a = jnp.asarray(np.random.default_rng(0).normal(size=n))
    fn = jax.jit(lambda t: t * 1.5 + 0.25)
    jax.block_until_ready(fn(a))
    return n / min(timed(fn, a)[1] for _ in range(10))


def _work(arch, n: int, shape: tuple) -> tuple[float, float]:
    """Arc-cosines and memory passes over the covariance a Gram of ``n`` inputs needs at least.

    Counts, for the upper triangle of pairs, one arc-cosine per ReLU of the spatial part
    per entry (pairs of pixels when a GAP follows, the pixel diagonal otherwise) and, per
    convolution, ``2 r`` shifted adds per spatial axis (``r = k // 2``) over the NNGP and,
    after the first, the NTK.
    """
    from . import layers

    stack = arch.layers
    end = next(
        i for i, layer in enumerate(stack) if isinstance(layer, (layers._GlobalAvgPool, layers._Flatten))
    )
    gap = isinstance(stack[end], layers._GlobalAvgPool)
    pixels = int(np.prod(shape[:-1]))
    entries = (pixels**2 if gap else pixels) * n * (n + 1) / 2
    relus = sum(isinstance(layer, layers._Relu) for layer in stack[:end])
    passes = 0.0
    convs = [layer for layer in stack[:end] if isinstance(layer, layers._Conv)]
    for i, conv in enumerate(convs):
        per_tensor = sum(2 * (k // 2) for k in conv.filter_shape)
        passes += per_tensor * (1 if i == 0 else 2)
    return relus * entries, passes * entries


def _target_rows(s: dict, log: Callable, repeats: int = 2) -> list[dict]:
    """Issue 13's targets: reader-built and zoo kernels at defaults, first call included.

    Each case runs ``repeats`` times (fresh networks, caches emptied); the row holds the
    medians and the spread of the per-run ratios, with the load average while it ran.
    """
    import neural_tangents as nt

    from . import archs, data, gram, layers

    rate, prate = arccos_rate(), pass_rate()
    cases = [  # (case, builder, N, target); fresh triples so no compilation is shared
        (
            "reader-built Conv64-Relu-Conv64-Relu-Flatten-Dense512-Relu-Dense1",
            lambda: archs.cnn([64, 64], [512], 1),
            s["n_flat"],
            1.6,
        ),
        (
            "reader-built Conv64-Relu-Conv64-Relu-GAP-Dense1",
            lambda: archs.cnn([64, 64], [], 1, pool="gap"),
            s["n_gap"],
            3.0,
        ),
        ("zoo CNN-1-GAP", lambda: archs.get("CNN-1-GAP"), s["n_gap"], 5.0),
        # a reader's network left in stax: gram runs its kernel_fn as given
        (
            "bare stax Conv64-Relu-Conv64-Relu-Flatten-Dense512-Relu-Dense1",
            lambda: layers.to_stax(archs.cnn([64, 64], [512], 1)),
            s["n_flat"],
            1.0,
        ),
    ]
    rows = []
    for case, build, n, target in cases:
        x = data.normalize(data.load("digits", n=n, seed=0).x.astype(np.float64))
        stax_net = not isinstance(build(), layers.Network)
        # nt.batch needs N divisible by its batch size: 100, or one batch below 100 inputs
        nt_bs = 100 if n >= 100 else n
        runs = []
        for _ in range(repeats):
            # fresh networks and empty compilation caches: both sides pay their first call
            _cold()
            arch = build()
            baseline = arch[2] if stax_net else layers.to_stax(arch)[2]
            load = os.getloadavg()[0]
            ref, tb, cb = timed(nt.batch(baseline, batch_size=nt_bs), x, None, "ntk")
            (H, run), tn, cn = timed(gram.gram, build(), x, progress=False, return_record=True)
            runs.append((tb, cb, tn, cn, (load + os.getloadavg()[0]) / 2))
        tb, cb, tn, cn, load = (float(np.median(v)) for v in zip(*runs))
        ratios = [r[0] / r[2] for r in runs]
        cpu_ratios = [r[1] / r[3] for r in runs]
        arch = archs.cnn([64, 64], [512], 1) if stax_net else build()  # the network, for its bound
        # off the diagonal both evaluate the same recursion; on it neural-tangents' angle
        # of a cosine rounded below 1 is off by ~1e-8 while ours is exactly 0
        off = ~np.eye(n, dtype=bool)
        diag_diff = _rel(np.diag(H), np.diag(np.asarray(ref)))
        arccos, passes = _work(arch, n, x.shape[1:])
        floor_s = arccos / rate + passes / prate
        met = float(np.median(ratios)) >= target
        note = (
            f"target {target:g}x {'met' if met else 'NOT met'} (median of {repeats} runs; "
            f"wall ratios {min(ratios):.2f}-{max(ratios):.2f}, CPU ratios "
            f"{min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}, load average {load:.1f}); both "
            f"first calls (compilation included, caches emptied), defaults; ntkbook kernel "
            f"{run.kernel}, block {run.block_size}; bound: {arccos:.3g} arc-cosines at "
            f"{rate:.3g}/s + {passes:.3g} entry passes at {prate:.3g}/s = {floor_s:.3g} s "
            f"(ours is {tn / floor_s:.1f}x the bound); the target needs <= "
            f"{tb / target:.3g} s; max_rel_diff is off the diagonal, the diagonal differs "
            f"by {diag_diff:.1e} (neural-tangents' angle rounding)"
        )
        row = _row(
            "target",
            case,
            n,
            f"nt.batch(kernel_fn, {nt_bs}), first call",
            "gram(arch, x) at defaults, first call",
            tb,
            cb,
            tn,
            cn,
            _rel(H[off], np.asarray(ref)[off]),
            note,
        )
        row.update(
            ratio=float(np.median(ratios)),
            cpu_ratio=float(np.median(cpu_ratios)),
            ratio_min=min(ratios),
            ratio_max=max(ratios),
            cpu_ratio_min=min(cpu_ratios),
            cpu_ratio_max=max(cpu_ratios),
            repeats=repeats,
            load_avg=load,
            target=target,
            met=met,
            bound_s=floor_s,
            arccos_per_s=rate,
            passes_per_s=prate,
        )
        rows.append(row)
        log(rows[-1])
    return rows


def _cold() -> None:
    """Empty ntkbook's compilation caches (compiled kernel stages, block functions, traced
    working sets), so that the next ``gram`` call pays its whole first-call cost."""
    from . import gram, gram_memory, layers

    layers._compiled_stage.cache_clear()
    gram._BLOCK_FNS.clear()
    gram_memory._LARGEST.clear()


def block_sweep(
    n: int = 160,
    names: tuple[str, ...] = ZOO_KERNELS,
    sizes: tuple[int, ...] = (10, 16, 40, 80),
    repeats: int = 2,
    log: Callable | None = print,
):
    """Seconds per Gram at fixed block sizes against ``batch_size=None``, per zoo kernel.

    Each kernel is what :func:`ntkbook.gram.gram` runs for ``archs.get(name)``
    at defaults (its ``ntkbook.layers`` kernel), on ``n`` digits (8 x 8, float64);
    each cell is the best of ``repeats`` warm calls (compiled beforehand).

    Returns
    -------
    pandas.DataFrame
        One row per kernel: ``auto_batch``, ``auto_s``, one ``bs_<b>`` column per
        fixed size, ``best_fixed_s`` and ``auto_over_best`` (``auto_s /
        best_fixed_s``; the target is <= 1.1).
    """
    import pandas as pd

    from . import archs, config, data, gram

    config.enable_x64()
    x = data.normalize(data.load("digits", n=n, seed=0).x.astype(np.float64))
    rows = []
    for name in names:
        arch = archs.get(name)
        row: dict[str, Any] = dict(kernel=name, n=n)

        def best(bs, arch=arch):
            _, run = gram.gram(arch, x, batch_size=bs, progress=False, return_record=True)  # compile
            return min(
                timed(gram.gram, arch, x, batch_size=bs, progress=False)[1] for _ in range(repeats)
            ), run.block_size

        row["auto_s"], row["auto_batch"] = best(None)
        for bs in sizes:
            row[f"bs_{bs}"] = best(bs)[0]
        row["best_fixed_s"] = min(row[f"bs_{bs}"] for bs in sizes)
        row["auto_over_best"] = row["auto_s"] / row["best_fixed_s"]
        rows.append(row)
        if log:
            log(row)
    return pd.DataFrame(rows)


_MEMORY_SCRIPT = """
import json, sys
import numpy as np
from ntkbook import archs, config, data, gram
config.enable_x64()
name, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = data.normalize(data.load("digits", n=n, seed=0).x.astype(np.float64))
arch = archs.get(name)
kernel_fn = arch.kernel_fn
est = gram.estimate_memory(kernel_fn, x, batch_size=b)
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
gram.gram(arch, x, batch_size=b, progress=False, check_memory=False)      # compile
with open("/proc/self/clear_refs", "w") as f:                              # reset VmHWM
    f.write("5")
rss0 = status("VmRSS:")
_, run = gram.gram(arch, x, batch_size=b, progress=False, check_memory=False, return_record=True)
print(json.dumps(dict(kernel=name, n=n, block=b, ran=run.kernel[:40],
                      estimate_bytes=est["block_bytes"] * est["blocks_at_once"] + est["result_bytes"],
                      peak_bytes=status("VmHWM:") - rss0)))
"""


def memory_check(
    names: tuple[str, ...] = ZOO_KERNELS, n: int = 64, b: int = 32, log: Callable | None = print
):
    """The memory guard's estimate against the measured peak, one fresh process per zoo kernel.

    Each process computes the Gram of ``n`` digits with block size ``b`` twice
    (the first compiles), resets the kernel's peak-RSS counter (Linux
    ``/proc/self/clear_refs``) before the second, and reports the rise of the
    peak resident memory during it next to what the guard compares with the free memory,
    :func:`ntkbook.gram.estimate_memory`'s ``block_bytes`` times ``blocks_at_once`` (one
    block per engine thread) plus ``result_bytes``.  The peak counts freed memory glibc
    keeps for the next block (:mod:`ntkbook._malloc`): CNN-1-GAP's rose from 371 to 537 MB
    with the engine's malloc thresholds, above one block's estimate, within two.  Linux only.

    Returns
    -------
    pandas.DataFrame
        ``kernel``, ``n``, ``block``, ``ran``, ``estimate_bytes``, ``peak_bytes``, ``ratio``
        (estimate / peak; >= 1 means the estimate bounds the peak).
    """
    import json
    import subprocess

    import pandas as pd

    from . import archs

    # checked here, before any child process starts (a bad name would fail in each child)
    for name in names:
        archs.describe(name)
    n, b = _checks.positive_int(n, "n", minimum=2), _checks.positive_int(b, "b")
    rows = []
    for name in names:
        res = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, name, str(n), str(b)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["ratio"] = row["estimate_bytes"] / max(row["peak_bytes"], 1)
        rows.append(row)
        if log:
            log(row)
    return pd.DataFrame(rows)


def run(
    quick: bool = False,
    only: tuple[str, ...] | None = None,
    log: Callable | None = None,
    repeats: int | None = None,
):
    """Run the benchmarks; return a pandas DataFrame of rows (see the module docstring).

    Parameters
    ----------
    quick
        CI sizes (``SIZES["quick"]``) instead of the issue's (``SIZES["full"]``).
    only
        Subset of ``("target", "gram", "entk", "refurbish", "big")``; default all.
    log
        Called with each row as it is finished (default: print a line).
    repeats
        Runs of each target case (fresh networks, caches emptied); the row holds the medians
        and the spread.  Default: 1 at CI sizes, 3 at the issue's.
    """
    import jax
    import pandas as pd

    from . import config

    config.enable_x64()
    # the engine sets glibc's malloc thresholds on its first block; set them before any
    # timing, so that neural-tangents' baseline runs under the same allocator settings
    kept = _malloc.keep_block_memory()
    s = SIZES["quick" if quick else "full"]
    log = log or (
        lambda r: print(
            f"  {r['benchmark']:>13} {r['case']:<34} N={r['n']:<6} "
            f"ratio {r['ratio']:6.2f} (cpu {r['cpu_ratio']:6.2f}) "
            f"diff {r['max_rel_diff']:.1e}",
            flush=True,
        )
    )
    repeats = (1 if quick else 3) if repeats is None else _checks.positive_int(repeats, "repeats")
    parts = dict(
        target=lambda s_, log_: _target_rows(s_, log_, repeats),
        gram=_gram_rows,
        entk=_entk_rows,
        refurbish=_refurbish_rows,
        big=_big_rows,
    )
    only = tuple(parts) if only is None else only
    for p in only:
        if p not in parts:
            raise ValueError(f"unknown benchmark {p!r}; expected some of {tuple(parts)}.")
    print(
        f"ntkbook.bench ({'quick' if quick else 'full'}): {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, JAX devices {[str(d) for d in jax.devices()]}, malloc thresholds "
        f"{'kept for blocks (both sides)' if kept else 'as the environment sets them'}",
        flush=True,
    )
    rows = []
    for p in only:
        rows += parts[p](s, log)
    df = pd.DataFrame(rows)
    df["profile"] = "quick" if quick else "full"
    df["cpus"] = os.cpu_count()
    return df


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m ntkbook.bench [--quick] [--out PATH] [--only ...]``."""
    parser = argparse.ArgumentParser(prog="python -m ntkbook.bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (ntkbook {__import__('ntkbook').__version__})"
    )
    parser.add_argument("--quick", action="store_true", help="CI sizes (a minute or two)")
    parser.add_argument("--out", default="bench-results/bench.csv", help="CSV path")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["target", "gram", "entk", "refurbish", "big"],
        help="run only these benchmarks",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs of each target case (default 1 with --quick, else 3)"
    )
    parser.add_argument(
        "--sweep", action="store_true", help="instead: the block-size sweep of the zoo kernels (block_sweep)"
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="instead: the memory guard's estimate against the peak (memory_check)",
    )
    args = parser.parse_args(argv)
    if args.memory:
        mem = memory_check()
        out = Path(args.out).with_name("memory.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        mem.to_csv(out, index=False)
        print(f"wrote {out}")
        return 0
    if args.sweep:
        sweep = block_sweep(
            log=lambda r: print(
                {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True
            )
        )
        out = Path(args.out).with_name("sweep.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        sweep.to_csv(out, index=False)
        print(f"wrote {out}")
        return 0
    df = run(args.quick, tuple(args.only) if args.only else None, repeats=args.repeats)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 40):
        print(
            df[
                ["benchmark", "case", "n", "baseline_s", "ntkbook_s", "ratio", "cpu_ratio", "max_rel_diff"]
            ].to_string(index=False, float_format=lambda v: f"{v:.3g}")
        )
        for _, r in df.iterrows():
            print(f"{r['benchmark']} / {r['case']}: {r['baseline']} vs {r['ntkbook']}. {r['note']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
