"""The audit's one pass: check the data, compute each Gram matrix once, run every registered tool.

:func:`audit` prints (through ``log``) a time and memory estimate before each Gram
matrix -- memory from :func:`ntkbook.gram_memory.estimate_memory`, time from a
small timed pilot Gram scaled by the number of input pairs -- and shows
:func:`ntkbook.gram.gram`'s progress bar over blocks while it runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _checks
from . import tools as _tools
from .loaders import check_dataset
from .report import AuditReport

__all__ = ["audit", "default_compare", "estimate_gram", "MLP_ARCHS"]

MLP_ARCHS: tuple[str, ...] = ("2-L", "10-L")
"""Zoo architectures that accept inputs of any shape (they flatten them)."""

PILOT = 32
"""Samples of the timed pilot Gram behind the time estimate."""


def default_compare(x_shape: Sequence[int]) -> tuple[str, ...]:
    """Architectures compared by default: the MLPs, plus CNN-1 for signals and images.

    ``x_shape`` is the shape of the inputs, ``(N, D)``, ``(N, L, C)`` or ``(N, H, W, C)``.
    """
    if isinstance(x_shape, (str, bytes)) or not hasattr(x_shape, "__len__") or len(x_shape) not in (2, 3, 4):
        raise ValueError(
            f"x_shape must be the shape of x, (N, D), (N, L, C) or (N, H, W, C); got {x_shape!r}."
        )
    return MLP_ARCHS if len(x_shape) == 2 else MLP_ARCHS + ("CNN-1",)


def _arch(name: str, k: int, x_shape: Sequence[int]):
    from .. import archs

    if name not in archs.names():
        raise ValueError(f"arch={name!r} is not in the zoo; known architectures: {archs.names()}.")
    if name not in MLP_ARCHS and len(x_shape) == 2:
        raise ValueError(
            f"arch={name!r} is convolutional and needs signals (N, L, C) or images "
            f"(N, H, W, C); x has shape {tuple(x_shape)}. Use one of {MLP_ARCHS}."
        )
    return archs.get(name, out_dim=k, ndim=len(x_shape) - 2)


def _bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.3g} {unit}"
        b /= 1000
    return f"{b:.3g} TB"


def estimate_gram(net, xn: np.ndarray, batch_size: int | None) -> dict:
    """Time and memory the Gram matrix of ``xn`` will take, before computing it.

    Memory: the N x N result plus one block's working set
    (:func:`ntkbook.gram_memory.estimate_memory`).  Time: a pilot Gram of the
    first :data:`PILOT` samples is computed twice (the first call compiles); the
    warm seconds per pair of inputs times the ``N (N + 1) / 2`` pairs of the
    symmetric Gram, plus the compile time.  A rough figure: the real run's
    blocks are larger than the pilot's.

    Returns
    -------
    dict
        ``seconds``, ``bytes`` (result + one block), ``result_bytes``,
        ``block_bytes`` and ``text`` (a sentence for the user).
    """
    from .. import gram, gram_memory

    n = len(xn)
    m = min(n, PILOT)
    b = batch_size if batch_size is not None else gram_memory.auto_batch_size(net, xn)[0]
    est = gram_memory.estimate_memory(net, xn, batch_size=min(b, n))
    t0 = time.perf_counter()
    gram.gram(net, xn[:m], batch_size=m, progress=False, check_memory=False)
    t1 = time.perf_counter()
    gram.gram(net, xn[:m], batch_size=m, progress=False, check_memory=False)
    t2 = time.perf_counter()
    warm = t2 - t1
    seconds = max(0.0, (t1 - t0) - warm) + warm * (n * (n + 1) / 2) / (m * (m + 1) / 2)
    total = est["result_bytes"] + est["block_bytes"]
    text = (
        (
            f"{n} x {n}, about {seconds:.0f} s and {_bytes(total)} (result "
            f"{_bytes(est['result_bytes'])}, one block {_bytes(est['block_bytes'])}; free "
            f"{_bytes(est['device_available_bytes'])})"
        )
        if seconds >= 1
        else (
            f"{n} x {n}, under a second, {_bytes(total)} (result {_bytes(est['result_bytes'])}, "
            f"one block {_bytes(est['block_bytes'])})"
        )
    )
    return dict(
        seconds=seconds,
        bytes=total,
        result_bytes=est["result_bytes"],
        block_bytes=est["block_bytes"],
        text=text,
    )


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def audit(
    x,
    y,
    arch: str = "2-L",
    *,
    compare: Sequence[str] | None = None,
    n_components: int = 4,
    shuffles: int = 20,
    flag_alpha: float = 0.01,
    flag_frac: float | None = None,
    cg_repeats: int = 1,
    folds: int = 5,
    reg: float = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    class_names: Sequence | None = None,
    sample_ids: Sequence | None = None,
    rows: Sequence[int] | np.ndarray | None = None,
    spread_draws: int = 10,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> AuditReport:
    """Run every registered tool (:data:`ntkbook.audit.tools.TOOLS`) on ``x`` and ``y``.

    Parameters
    ----------
    x : array, shape (N, D), (N, L, C) or (N, H, W, C)
        Inputs (scaled to unit norm here).
    y : array, shape (N,)
        Integer labels, any values; each class needs at least 2 samples.
    arch
        Zoo architecture (:func:`ntkbook.archs.names`) whose Gram matrix the
        label tools use.
    compare
        Further architectures for the kernel-PCA ranking; default
        :func:`default_compare` (``arch`` is always included).
    n_components
        Low kernel principal components of the separation ratio (chapter 11: 4).
    shuffles
        Label permutations of the L(Z) baseline (>= 2).
    flag_alpha
        Complexity-Gap flags: a sample is flagged when its score exceeds the
        ``1 - flag_alpha`` quantile of the scores of kernel-consistent labels
        (every label replaced by the kernel's leave-one-out class), so on
        labels the kernel agrees with about ``flag_alpha`` of the samples are
        flagged.  In (0, 1).
    flag_frac
        If given, flag this share of samples, highest scores first, instead
        (the fixed rule of earlier versions; in (0, 1]).
    cg_repeats
        Draws of the one-vs-rest negatives averaged by Complexity-Gap.
    folds
        Folds of the kernel-regression check (2 <= folds <= N).
    reg
        Relative ridge of every solve; raise it if H is too ill-conditioned
        (duplicate inputs make it singular).
    seed
        Seed of the shuffles, the Complexity-Gap draws, the halves and the folds.
    batch_size
        Block size of :func:`ntkbook.gram.gram` (``None``: its automatic choice).
    class_names
        Names of the K classes in label order (default: the label values).
    sample_ids
        Name of every sample (file names, say), length N; default ``row <i>``.
    rows
        Row of every sample in the input it came from (a subset's rows), length N.
    spread_draws
        Random halves behind the ranking's spread and its tie rule (>= 2).
    progress
        Show progress bars (the steps, and the blocks of every Gram matrix).
    log
        Where the estimates before each Gram matrix go (default: stderr when
        ``progress``; with neither ``progress`` nor ``log`` no estimate is made).

    Returns
    -------
    AuditReport

    Raises
    ------
    TypeError, ValueError
        Bad ``x``/``y`` (see :func:`check_dataset`), an unknown or
        convolutional architecture for flat inputs, bad settings, or a Gram
        matrix too ill-conditioned for ``reg``.
    """
    from tqdm.auto import tqdm

    from .. import data, gram

    x, y, names = check_dataset(x, y)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    n, k = len(y), len(names)
    if class_names is not None:
        if len(class_names) != k:
            raise ValueError(f"class_names has {len(class_names)} names but y has {k} classes.")
        names = list(class_names)
    for what, seq in (("sample_ids", sample_ids), ("rows", rows)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{what} has {len(seq)} entries but there are {n} samples.")
    shuffles = _checks.positive_int(shuffles, "shuffles", minimum=2)
    spread_draws = _checks.positive_int(spread_draws, "spread_draws", minimum=2)
    folds = _checks.positive_int(folds, "folds", minimum=2)
    if folds > n:
        raise ValueError(f"folds={folds} exceeds the {n} samples.")
    if flag_frac is not None:
        flag_frac = _checks.fraction(flag_frac, "flag_frac")
        if flag_frac == 0:
            raise ValueError("flag_frac must be in (0, 1]; got 0.")
    flag_alpha = _checks.fraction(flag_alpha, "flag_alpha")
    if not 0 < flag_alpha < 1:
        raise ValueError(f"flag_alpha must be in (0, 1); got {flag_alpha}.")
    n_components = _checks.positive_int(n_components, "n_components")
    compare = default_compare(x.shape) if compare is None else tuple(compare)
    names_archs = [arch] + [a for a in compare if a != arch]
    builds = {a: _arch(a, k, x.shape) for a in names_archs}  # fail before any work
    xn = data.normalize(x)
    say = log if log is not None else (_stderr if progress else (lambda msg: None))

    settings: dict[str, Any] = dict(
        n=n,
        shuffles=shuffles,
        flag_alpha=flag_alpha,
        flag_frac=flag_frac,
        folds=folds,
        seed=seed,
        reg=reg,
        compare=tuple(names_archs[1:]),
        n_components=n_components,
        cg_repeats=cg_repeats,
        spread_draws=spread_draws,
        batch_size=batch_size,
    )
    steps = [f"Gram {a}" for a in names_archs] + [t.key for t in _tools.TOOLS]
    bar = tqdm(total=len(steps), desc="audit", disable=not progress, position=0)
    grams, gram_info = {}, {}
    for a in names_archs:
        bar.set_postfix_str(f"Gram {a}")
        # the estimate costs a small timed pilot Gram: only when someone will read it
        est = estimate_gram(builds[a], xn, batch_size) if (progress or log is not None) else None
        if est is not None:
            say(f"ntkbook.audit: Gram matrix {a}: {est['text']}")
        t0 = time.perf_counter()
        grams[a] = gram.gram(builds[a], xn, batch_size=batch_size, progress=progress)
        gram_info[a] = dict(
            estimate=est["text"] if est is not None else f"{n} x {n}", seconds=time.perf_counter() - t0
        )
        bar.update()
    ctx = _tools.Context(grams=grams, arch=arch, y=y, k=k, settings=settings)
    for t in _tools.TOOLS:
        bar.set_postfix_str(t.key)
        ctx.results[t.key] = t.run(ctx)
        bar.update()
    bar.close()
    settings["gram"] = gram_info
    return AuditReport(
        arch=arch,
        class_names=names,
        y=y,
        results=ctx.results,
        sample_ids=[str(s) for s in sample_ids] if sample_ids is not None else [],
        rows=None if rows is None else np.asarray(rows, dtype=np.int64),
        settings=settings,
    )
