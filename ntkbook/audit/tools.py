"""The audit's tools, registered in one table (:data:`TOOLS`).

Each :class:`Tool` says what it computes from the Gram matrices (``run``), what it
contributes to the report (``tables``, ``figure``, ``summary``, a one-sentence
``verdict``) and the text of its section of ``index.html`` (``computes``,
``read``, ``limits`` and the ``chapter`` to read).  :func:`ntkbook.audit.audit`
runs the tools in table order and :class:`~ntkbook.audit.AuditReport` writes
whatever they return, so a new tool is one new entry of :data:`TOOLS`::

    from ntkbook.audit import tools
    tools.TOOLS.append(tools.Tool(key="trace", title="Trace of H", chapter=(10, ...),
                                  run=lambda ctx: float(np.trace(ctx.H)), ...))

Every per-sample table starts with the columns of
:meth:`~ntkbook.audit.AuditReport.sample_columns`: ``index`` (position in the audited
data), ``row`` (row of the input file, differs from ``index`` under ``--n``) and
``sample`` (the file name, or the ``.npz``'s ``ids`` entry, or ``row <i>``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # only for annotations: report imports this module
    from .report import AuditReport

__all__ = [
    "Context",
    "Tool",
    "TOOLS",
    "tool",
    "ranking_spread",
    "kernel_consistent_labels",
    "flag_threshold",
    "TIE_SDS",
    "TRUST_ACCURACY",
]

TIE_SDS = 2.0
"""Architectures whose ratio lies within this many SDs (of the paired difference) of the best tie."""

TRUST_ACCURACY = 0.7
"""Held-out kernel accuracy below which the label tools are reported as unreliable (chapter 15)."""


@dataclass
class Context:
    """What every tool's ``run`` receives.

    Attributes
    ----------
    grams : dict
        Architecture name -> Gram matrix, shape (N, N), of the unit-norm inputs;
        ``arch``'s first.
    arch : str
        The architecture of the label tools.
    y : ndarray, shape (N,)
        Labels in ``0..K-1``.
    k : int
        Number of classes K.
    settings : dict
        The audit's arguments (``shuffles``, ``seed``, ``reg``, ...).
    results : dict
        Results of the tools run so far (key -> result), for tools that build on others.
    """

    grams: dict
    arch: str
    y: np.ndarray
    k: int
    settings: dict
    results: dict = field(default_factory=dict)

    @property
    def H(self) -> np.ndarray:
        """The Gram matrix of :attr:`arch`, shape (N, N)."""
        return self.grams[self.arch]


@dataclass(frozen=True)
class Tool:
    """One entry of the audit's tool table.

    Attributes
    ----------
    key : str
        Short name; the result is ``report.results[key]``, the figure ``<key>.png``.
    title : str
        Section heading of the report.
    chapter : tuple
        ``(number, notebook stem, title)`` of the book's chapter that explains the tool.
    computes, read, limits : str
        What was computed, how to read the result, and what it cannot tell
        (sentences of the report's ``index.html``; plain text).
    run : callable
        ``run(ctx: Context) -> result`` (anything the other callables understand).
    tables : callable
        ``tables(report) -> {name: DataFrame}``, written as ``<name>.csv``.
    figure : callable or None
        ``figure(report) -> matplotlib Figure``.
    summary : callable
        ``summary(report) -> dict`` of headline numbers (columns of ``summary.csv``).
    verdict : callable
        ``verdict(report) -> str``: the result in one sentence.
    """

    key: str
    title: str
    chapter: tuple
    computes: str
    read: str
    limits: str
    run: Callable[[Context], Any]
    tables: Callable[[AuditReport], dict] = lambda rep: {}
    figure: Callable[[AuditReport], Any] | None = None
    summary: Callable[[AuditReport], dict] = lambda rep: {}
    verdict: Callable[[AuditReport], str] = lambda rep: ""


def tool(key: str) -> Tool:
    """The registered tool called ``key``."""
    for t in TOOLS:
        if t.key == key:
            return t
    raise KeyError(f"no audit tool {key!r}; registered: {[t.key for t in TOOLS]}.")


# --------------------------------------------------------------------------- 1. ranking


def _halves(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A random half of every class (at least 2 samples each), sorted indices."""
    keep = []
    for c in range(k):
        idx = np.flatnonzero(y == c)
        keep.append(rng.choice(idx, size=max(2, (len(idx) + 1) // 2), replace=False))
    return np.sort(np.concatenate(keep))


def ranking_spread(
    grams: dict, y: np.ndarray, k: int, n_components: int, draws: int, seed: int
) -> np.ndarray:
    """Separation ratios of every architecture on ``draws`` random stratified halves.

    The spread of an estimate over random halves of the data approximates the
    spread of the full-data estimate over new samples (the delete-half
    jackknife), and the same halves are used for every architecture, so
    differences between architectures are paired.

    Returns
    -------
    ndarray, shape (draws, len(grams))
        Column j: the ratio of the j-th architecture of ``grams`` on each half.
    """
    from .. import tasks

    rng = np.random.default_rng(seed)
    out = np.empty((draws, len(grams)))
    for d in range(draws):
        idx = _halves(y, k, rng)
        sub = {a: H[np.ix_(idx, idx)] for a, H in grams.items()}
        table = tasks.rank_architectures(sub, y[idx], n_components, num_classes=k)
        out[d] = table.loc[list(grams), "ratio"].to_numpy()
    return out


def _run_ranking(ctx: Context) -> pd.DataFrame:
    from .. import tasks

    s = ctx.settings
    table = tasks.rank_architectures(ctx.grams, ctx.y, s["n_components"], num_classes=ctx.k)
    names = list(ctx.grams)
    halves = ranking_spread(ctx.grams, ctx.y, ctx.k, s["n_components"], s["spread_draws"], s["seed"])
    best = table.index[0]
    b = names.index(best)
    sd = dict(zip(names, halves.std(axis=0, ddof=1)))
    diff_sd = {a: float(np.std(halves[:, b] - halves[:, names.index(a)], ddof=1)) for a in names}
    table["ratio_sd"] = [sd[a] for a in table.index]
    table["gap_to_best"] = float(table.loc[best, "ratio"]) - table["ratio"]
    table["gap_sd"] = [diff_sd[a] for a in table.index]
    # ties: the best's lead is within TIE_SDS paired SDs (the best ties with itself)
    table["tied_with_best"] = table["gap_to_best"] <= TIE_SDS * table["gap_sd"]
    return table


def _ranking_verdict(rep: AuditReport) -> str:
    t = rep.ranking
    tied = list(t.index[t["tied_with_best"]])
    vals = " / ".join(f"{a} {t.loc[a, 'ratio']:.3f} (SD {t.loc[a, 'ratio_sd']:.3f})" for a in t.index)
    if len(tied) > 1:
        return (
            f"A tie: {', '.join(tied[1:])} within {TIE_SDS:g} SDs of the best, {tied[0]} "
            f"(ratios {vals}); the data do not pick one of them."
        )
    return f"{tied[0]} separates the classes best (ratios {vals}), by more than {TIE_SDS:g} SDs."


def _ranking_figure(rep: AuditReport):
    import matplotlib.pyplot as plt

    t = rep.ranking
    fig, ax = plt.subplots(figsize=(5.5, 0.9 + 0.45 * len(t)))
    names = list(t.index)[::-1]
    vals = t["ratio"].to_numpy()[::-1]
    sds = t["ratio_sd"].to_numpy()[::-1]
    tied = t["tied_with_best"].to_numpy()[::-1]
    colors = ["C1" if tie else "C0" for tie in tied]
    ax.errorbar(vals, names, xerr=TIE_SDS * sds, fmt="none", ecolor="k", capsize=3, lw=1)
    ax.scatter(vals, names, c=colors, s=40, zorder=3)
    # zoom to the estimates and their bars: a bar chart from 0 hides differences of 1 %
    lo, hi = np.min(vals - 3 * sds), np.max(vals + 3 * sds)
    pad = 0.05 * (hi - lo) if hi > lo else 0.01 * abs(hi) + 1e-3
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"kernel-PCA ratio, bars: \u00b1{TIE_SDS:g} SD over random halves")
    ax.set_title("Architecture ranking (orange: tied with the best)")
    return fig


# --------------------------------------------------------------------------- 2. labels


def _run_labels(ctx: Context) -> dict:
    from .. import tasks

    s = ctx.settings
    rng = np.random.default_rng(s["seed"])
    perms = {f"shuffle {i}": rng.permutation(ctx.y) for i in range(s["shuffles"])}
    scores = tasks.rank_labelings(ctx.H, {"given": ctx.y, **perms}, reg=s["reg"])
    return dict(
        L_given=float(scores.loc["given", "L"]),
        L_shuffled=scores.loc[list(perms), "L"].to_numpy(dtype=np.float64),
    )


def _labels_verdict(rep: AuditReport) -> str:
    below = int(np.sum(rep.L_shuffled > rep.L_given))
    where = (
        "below every shuffle"
        if below == len(rep.L_shuffled)
        else f"below {below} of {len(rep.L_shuffled)} shuffles"
    )
    return (
        f"L(Z) of the given labels is {rep.L_given:.4g}, {where} (shuffles: mean "
        f"{np.mean(rep.L_shuffled):.4g}; the given labels lie {rep.shuffle_z:.1f} shuffle "
        "SDs below it)."
    )


def _labels_figure(rep: AuditReport):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.hist(
        rep.L_shuffled,
        bins=min(20, max(5, len(rep.L_shuffled))),
        color="C0",
        label=f"{len(rep.L_shuffled)} label shuffles",
    )
    ax.axvline(rep.L_given, color="C3", lw=2, label="given labels")
    ax.set_xlabel(r"block-diagonalization error $\mathcal{L}(\mathbf{Z})$")
    ax.set_ylabel("count")
    ax.set_title("Given labels against shuffled ones (lower = cleaner)")
    ax.legend()
    return fig


# --------------------------------------------------------------------------- 3. bias


def _run_bias(ctx: Context) -> dict:
    from .. import tasks

    gl = tasks.gram_label_matrix(ctx.H, ctx.y, ctx.settings["reg"], num_classes=ctx.k)
    intra, inter = tasks.bias_rankings(gl.Z, gl.counts)
    return dict(
        Z=gl.Z,
        counts=gl.counts,
        intra=intra,
        inter=inter,
        ridge=gl.ridge,
        condition_number=gl.condition_number,
    )


def _bias_tables(rep: AuditReport) -> dict:
    names = [str(c) for c in rep.class_names]
    return {
        "z": pd.DataFrame(rep.Z, index=pd.Index(names, name="class"), columns=names).reset_index(),
        "bias": rep.bias_table,
    }


def _bias_verdict(rep: AuditReport) -> str:
    names = rep.class_names
    first, last = names[rep.intra[0]], names[rep.intra[-1]]
    k = int(rep.intra[0])
    return (
        f"Predicted learned first: class {first}; last: class {last}; the class most "
        f"entangled with {first} is {names[rep.inter[k][0]]}."
    )


def _bias_figure(rep: AuditReport):
    import matplotlib.pyplot as plt
    import seaborn as sns

    k = len(rep.class_names)
    side = min(8.0, 2.5 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    W = rep.z_normalized
    lim = float(np.max(np.abs(W - np.diag(np.diag(W))))) or 1.0
    sns.heatmap(
        W,
        ax=ax,
        cmap="RdBu_r",
        center=0.0,
        vmin=-lim,
        vmax=lim,
        square=True,
        annot=k <= 12,
        fmt=".2g",
        annot_kws={"fontsize": 7},
        xticklabels=rep.class_names,
        yticklabels=rep.class_names,
        cbar_kws={"label": r"$Z_{ij}/(n_i n_j)$"},
    )
    ax.set_title(r"Gram-label matrix $\mathbf{Z}$ (colour scale: off-diagonal)")
    return fig


# --------------------------------------------------------------------------- 4. flags


def kernel_consistent_labels(H: np.ndarray, y: np.ndarray, k: int, reg: float = 0.0) -> np.ndarray:
    """The class the kernel predicts for every sample from all the others (leave-one-out).

    Kernel regression on one-hot targets ``Y`` with ``A = (H + ridge I)^{-1}``
    predicts sample i, fitted without it, as ``Y_i - (A Y)_i / A_ii`` (the
    closed-form leave-one-out residual); the label is that row's argmax.

    Returns
    -------
    ndarray, shape (N,), int64 in ``[0, k)``
    """
    from .. import linalg

    Y = np.eye(k)[y]
    sol = linalg.cholesky_solve(H, Y, reg)
    loo = Y - sol.alpha / linalg.diag_of_inverse(sol.factor)[:, None]
    return np.argmax(loo, axis=1).astype(np.int64)


def flag_threshold(null_scores: np.ndarray, alpha: float) -> float:
    """The ``1 - alpha`` quantile of the null scores (the higher order statistic)."""
    return float(np.quantile(null_scores, 1.0 - alpha, method="higher"))


def _run_flags(ctx: Context) -> dict:
    from .. import tasks

    s = ctx.settings
    kw = dict(num_classes=ctx.k, repeats=s["cg_repeats"], seed=s["seed"], reg=s["reg"])
    scores = tasks.complexity_gap(ctx.H, ctx.y, **kw)
    kernel_y = kernel_consistent_labels(ctx.H, ctx.y, ctx.k, s["reg"])
    if s["flag_frac"] is not None:  # the fixed share of earlier versions, if asked
        m = max(1, int(np.floor(s["flag_frac"] * len(scores) + 0.5)))
        flagged = np.argsort(-scores, kind="stable")[:m]
        return dict(
            scores=scores,
            kernel_y=kernel_y,
            null=None,
            threshold=float(scores[flagged].min()),
            flagged=flagged,
            rule=f"the {100 * s['flag_frac']:g} % highest scores (--flag-frac)",
        )
    # the null: the same scores for labels the kernel itself finds consistent
    null = tasks.complexity_gap(ctx.H, kernel_y, **kw)
    thr = flag_threshold(null, s["flag_alpha"])
    above = np.flatnonzero(scores > thr)
    flagged = above[np.argsort(-scores[above], kind="stable")]
    return dict(
        scores=scores,
        kernel_y=kernel_y,
        null=null,
        threshold=thr,
        flagged=flagged,
        rule=(
            f"score above the {100 * (1 - s['flag_alpha']):g} % quantile "
            f"({thr:.4g}) of the scores of kernel-consistent labels (--flag-alpha "
            f"{s['flag_alpha']:g})"
        ),
    )


def _flags_tables(rep: AuditReport) -> dict:
    return {"flags": rep.flags}


def _flags_verdict(rep: AuditReport) -> str:
    f = rep.results["flags"]
    n = len(f["flagged"])
    disagree = int(np.sum(f["kernel_y"][f["flagged"]] != rep.y[f["flagged"]]))
    return (
        f"{n} of {len(rep.y)} samples flagged ({100 * n / len(rep.y):.1f} %) by the rule: "
        f"{f['rule']}; for {disagree} of them the kernel, fitted to all other samples, "
        "predicts another class."
    )


def _flags_figure(rep: AuditReport):
    import matplotlib.pyplot as plt

    f = rep.results["flags"]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    pos = rep.cg_scores[rep.cg_scores > 0]
    lo = max(pos.min() if len(pos) else 1e-12, 1e-12)
    # a list: matplotlib's stubs type ``bins`` as a sequence, which an ndarray is not to mypy
    bins = np.geomspace(lo, max(rep.cg_scores.max(), lo * 10), 40).tolist()
    ax.hist(np.maximum(rep.cg_scores, lo), bins=bins, color="C0", alpha=0.7, label="given labels")
    if f["null"] is not None:
        ax.hist(
            np.maximum(f["null"], lo),
            bins=bins,
            histtype="step",
            color="k",
            label="kernel-consistent labels (null)",
        )
    ax.axvline(f["threshold"], color="C3", lw=2, label=f"flag threshold ({len(f['flagged'])} samples above)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Complexity-Gap score")
    ax.set_ylabel("samples")
    ax.set_title("Complexity-Gap scores (high = suspicious)")
    ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------- 5. relabel


def _run_relabel(ctx: Context):
    from .. import tasks

    return tasks.refurbish_labels(ctx.H, ctx.y, stop="auto", reg=ctx.settings["reg"], num_classes=ctx.k)


def _relabel_verdict(rep: AuditReport) -> str:
    r = rep.refurbishment
    return (
        f"{r.steps} relabelling(s) proposed, L(Z) {r.L[0]:.4g} -> {r.L[-1]:.4g}; "
        f"stopped because: {r.stop_reason}."
    )


def _relabel_figure(rep: AuditReport):
    import matplotlib.pyplot as plt

    r = rep.refurbishment
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(np.arange(len(r.L)), r.L, marker=".")
    ax.set_xlabel("relabellings applied")
    ax.set_ylabel(r"$\mathcal{L}(\mathbf{Z})$")
    ax.set_title(f"Refurbishment path (stop: {r.stop_reason})")
    return fig


# --------------------------------------------------------------------------- 6. check


def _run_check(ctx: Context) -> float:
    from .. import linalg

    s = ctx.settings
    n, y, k, H = len(ctx.y), ctx.y, ctx.k, ctx.H
    order = np.random.default_rng(s["seed"]).permutation(n)
    hits = 0
    for test in np.array_split(order, s["folds"]):
        train = np.setdiff1d(order, test)
        f = linalg.kernel_regression(
            H[np.ix_(train, train)], np.eye(k)[y[train]], H[np.ix_(test, train)], s["reg"]
        )
        hits += int(np.sum(np.argmax(f, axis=1) == y[test]))
    return hits / n


def _check_verdict(rep: AuditReport) -> str:
    chance = float(np.max(rep.counts) / len(rep.y))
    ok = rep.cv_accuracy >= TRUST_ACCURACY
    return (
        f"Held-out accuracy of kernel regression: {rep.cv_accuracy:.3f} (always guessing the "
        f"largest class: {chance:.3f}); "
        + (
            "the kernel classifies these data well enough for its flags and relabellings to "
            "be worth checking."
            if ok
            else f"below {TRUST_ACCURACY:g}: treat the flags and relabellings as unreliable."
        )
    )


TOOLS: list[Tool] = [
    Tool(
        key="ranking",
        title="Which architecture separates the classes?",
        chapter=(11, "11_architecture_selection", "Choosing an architecture before training it"),
        computes="For each architecture, the infinite-width NTK Gram matrix of all samples, its "
        "kernel PCA on the lowest components, and the ratio of the mean distance "
        "between classes to the mean distance within a class.  The spread is the SD "
        "of the same ratio over random stratified halves of the data.",
        read="Higher ratio = classes better separated by that kernel, which chapter 11 relates "
        "to the trained network's accuracy.  Architectures whose ratio lies within "
        f"{TIE_SDS:g} SDs of the best are a tie: the data do not distinguish them.",
        limits="A proxy measured before training: it ranks kernels, not trained networks, and "
        "chapter 11 found its agreement with trained accuracy to vary by dataset.  "
        "Differences smaller than the spread mean nothing.",
        run=_run_ranking,
        tables=lambda rep: {"ranking": rep.ranking.reset_index()},
        figure=_ranking_figure,
        summary=lambda rep: {
            "best_arch": rep.ranking.index[0],
            "best_ratio": float(rep.ranking["ratio"].iloc[0]),
            "tied_archs": " ".join(rep.ranking.index[rep.ranking["tied_with_best"]]),
        },
        verdict=_ranking_verdict,
    ),
    Tool(
        key="labels",
        title="Are the labels better than random?",
        chapter=(
            12,
            "12_pseudo_label_verification",
            "Pseudo-label verification: ranking labellings before training",
        ),
        computes="The block-diagonalization error L(Z) of the given labels, from Z = Y^T H^-1 Y, "
        "and of random permutations of them (same class sizes).",
        read="Lower L = labels that line up with the kernel's structure.  Given labels far below "
        "every shuffle carry signal the kernel sees; labels among the shuffles look random "
        "to this kernel.",
        limits="One number for the whole labelling: it says nothing about which samples are "
        "wrong (see the flags), and a kernel blind to the classes makes good labels look "
        "random too (check the kernel-regression accuracy).",
        run=_run_labels,
        tables=lambda rep: {"labels": rep.labels_table},
        figure=_labels_figure,
        summary=lambda rep: {
            "L_given": rep.L_given,
            "L_shuffled_mean": float(np.mean(rep.L_shuffled)),
            "L_shuffled_sd": float(np.std(rep.L_shuffled, ddof=1))
            if len(rep.L_shuffled) > 1
            else float("nan"),
            "shuffle_z": rep.shuffle_z,
        },
        verdict=_labels_verdict,
    ),
    Tool(
        key="bias",
        title="Which classes are learned first, and which are entangled?",
        chapter=(
            13,
            "13_bias_identification",
            "Bias identification: reading class dynamics off the Gram-label matrix",
        ),
        computes="The Gram-label matrix Z = Y^T H^-1 Y (class by class), its diagonal per sample "
        "(intra-class order) and each row's off-diagonal order (inter-class).",
        read="A small Z_kk / n_k: class k is predicted to be learned early.  In the heat map "
        "(Z_ij / n_i n_j), a large off-diagonal entry marks two classes the kernel "
        "entangles.",
        limits="Predictions of gradient flow in the infinite-width limit; chapter 13 measures "
        "how well they match finite networks.",
        run=_run_bias,
        tables=_bias_tables,
        figure=_bias_figure,
        summary=lambda rep: {"ridge": rep.ridge, "condition_number": rep.condition_number},
        verdict=_bias_verdict,
    ),
    Tool(
        key="flags",
        title="Which labels look wrong?",
        chapter=(11, "11_architecture_selection", "Choosing an architecture before training it"),
        computes="The Complexity-Gap score of every sample (how much the kernel's complexity of "
        "its one-vs-rest problem drops without it).  The flag threshold is calibrated "
        "on a null: the same scores recomputed with every label replaced by the class "
        "the kernel predicts for it from all other samples (labels the kernel finds "
        "consistent, as clean labels would be); a sample is flagged when its score "
        "exceeds the chosen quantile of that null.",
        read="flags.csv lists every sample with its file name, score, rank and the kernel's "
        "leave-one-out class (kernel_label).  Look at the flagged samples first, highest "
        "score first; a flagged sample whose kernel_label differs from its label is the "
        "likeliest mislabel.  On clean labels few samples pass the threshold.",
        limits="A flag is a reason to look, not a verdict: hard but correct samples (rare "
        "styles, ambiguous images) score high too, and where the kernel classifies "
        "poorly the scores are weak.",
        run=_run_flags,
        tables=_flags_tables,
        figure=_flags_figure,
        summary=lambda rep: {
            "n_flagged": len(rep.flagged),
            "flag_threshold": rep.results["flags"]["threshold"],
            "flag_rule": rep.results["flags"]["rule"],
        },
        verdict=_flags_verdict,
    ),
    Tool(
        key="relabel",
        title="Which labels would refurbishment change?",
        chapter=(
            14,
            "14_label_refurbishment",
            "Label refurbishment: walking the labels down the block-diagonalization error",
        ),
        computes="Algorithm 1 of DeOliveira et al.: one relabelling per step along -dL/dY, "
        "stopped automatically when the next step would no longer lower L(Z).",
        read="relabel.csv lists the proposed changes in order (file name, old and new class, "
        "gain in L).  The first steps are the most confident.",
        limits="Proposals, not corrections: chapter 14 found them reliable only where the kernel "
        "classifies the data well (see the last section).",
        run=_run_relabel,
        tables=lambda rep: {"relabel": rep.relabel},
        figure=_relabel_figure,
        summary=lambda rep: {
            "n_relabel": rep.refurbishment.steps,
            "stop_reason": rep.refurbishment.stop_reason,
        },
        verdict=_relabel_verdict,
    ),
    Tool(
        key="check",
        title="Can the kernel classify these data at all?",
        chapter=(
            14,
            "14_label_refurbishment",
            "Label refurbishment: walking the labels down the block-diagonalization error",
        ),
        computes="Cross-validated accuracy of kernel regression with the same Gram matrix on "
        "the given labels (one-hot targets).",
        read=f"The check behind the label tools: at or above {TRUST_ACCURACY:g} the flags and "
        "relabellings are worth a look; near the share of the largest class the kernel "
        "sees no structure and they are noise.",
        limits="Measured against the given labels, themselves possibly noisy.",
        run=_run_check,
        summary=lambda rep: {"cv_accuracy": rep.cv_accuracy},
        verdict=_check_verdict,
    ),
]
"""The registered tools, in the order they run and appear in the report."""
