"""The registry of scale ladders: which claim, which sizes, which numbers, judged how.

A :class:`Ladder` names one published claim that the ``ci`` profile can only test at a small
scale, the function measuring it (:mod:`ntkbook.evidence.measures`, the chapter's own calls),
the sizes to run (the ``ci`` size first), and the :class:`Target` numbers compared with the
source.  :data:`LADDERS` holds them all, in chapter order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .. import claims, config, selection
from . import measures

__all__ = ["Target", "Ladder", "LADDERS", "get", "judge_target", "judge_rung", "gap_trend"]


@dataclass(frozen=True)
class Target:
    """One number of a claim compared with the source.

    Attributes
    ----------
    key
        Key of the measure's dict.
    paper
        The source's value (drawn as a line on the ladder plot).
    rule
        ``"within"``: the claim holds when the whole interval lies within ``tol`` of ``paper``
        (not reproduced when it lies wholly outside); ``"above"``/``"below"``: when the whole
        interval lies strictly above/below ``threshold`` (:func:`ntkbook.claims.decide`).
    tol, threshold
        The rule's tolerance or threshold, written from the source's sentence before measuring.
    label
        What the number is, for plots and tables.
    """

    key: str
    paper: float
    rule: Literal["within", "above", "below"] = "within"
    tol: float = 0.0
    threshold: float = 0.0
    label: str = ""

    def criterion(self) -> str:
        """The rule in words."""
        if self.rule == "within":
            return (
                f"95 % interval of {self.key} over seeds within {self.tol:g} of the source's {self.paper:g}"
            )
        return f"95 % interval of {self.key} over seeds strictly {self.rule} {self.threshold:g}"


@dataclass(frozen=True)
class Ladder:
    """One claim's scale ladder.

    Attributes
    ----------
    id
        Evidence id; the store's file is ``evidence/<id>.json``.
    chapter
        The chapter that checks the claim at ``ci``.
    ledger_ids
        The chapter's ledger claim ids whose records carry this ladder's rung-0 values.
    source, statement
        Where in the source, and what it says.
    size_name
        What the size is (``"N"``: training images; ``"max width"``).
    measure
        ``measure(size, seed) -> dict of floats``.
    cpu_sizes, gpu_sizes
        The rungs on a CPU and on a GPU; the first is the ``ci`` size.
    targets
        The numbers judged against the source.
    cost_exponent
        Seconds per seed grow about as ``size ** cost_exponent`` (for the up-front estimate).
    note
        Why the ladder is what it is (caps by the installed data, kernels left out on a CPU).
    host_dependent
        Keys whose values come from training a network in float32.  XLA compiles the training
        step for the host CPU and splits its sums over its thread pool, so the same code and seed
        can end a few test predictions apart on another CPU model or thread count (seen for
        chapter 4's networks and chapter 7's SGD run between an AMD EPYC and an Intel Xeon, and
        for chapter 4's between one thread and two); :func:`ntkbook.evidence.check_stale` compares
        these keys only on the host that stored them (:func:`ntkbook.evidence.store.host`).
    """

    id: str
    chapter: str
    ledger_ids: tuple[str, ...]
    source: str
    statement: str
    size_name: str
    measure: Callable[[int, int], dict]
    cpu_sizes: tuple[int, ...]
    gpu_sizes: tuple[int, ...]
    targets: tuple[Target, ...]
    cost_exponent: float = 2.0
    note: str = ""
    rung0_call: str = ""
    host_dependent: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)

    def sizes(self, device: str = "cpu") -> tuple[int, ...]:
        """The rung sizes on ``device`` (``"cpu"`` or ``"gpu"``)."""
        if device not in ("cpu", "gpu"):
            raise ValueError(f"device must be 'cpu' or 'gpu'; got {device!r}.")
        return self.cpu_sizes if device == "cpu" else self.gpu_sizes


def judge_target(values, target: Target, level: float = 0.95) -> tuple[str, claims.Interval]:
    """Verdict and interval of one target over per-seed values (at least 2 seeds).

    Returns
    -------
    verdict, interval
        ``"reproduced"``, ``"not reproduced"`` or ``"inconclusive"`` and the Student-t interval
        (:func:`ntkbook.claims.interval`).
    """
    iv = claims.interval(np.asarray(values, dtype=float), level=level)
    if target.rule in ("above", "below"):
        return claims.decide(iv, target.threshold, target.rule), iv
    if target.rule != "within":
        raise ValueError(
            f"target {target.key!r}: rule must be 'within', 'above' or 'below'; got {target.rule!r}."
        )
    lo = claims.decide(iv, target.paper - target.tol, "above")
    hi = claims.decide(iv, target.paper + target.tol, "below")
    if lo == hi == "reproduced":
        return "reproduced", iv
    if "not reproduced" in (lo, hi):
        return "not reproduced", iv
    return "inconclusive", iv


def judge_rung(records: dict[int, dict], targets: tuple[Target, ...]) -> dict:
    """Summary of one rung: per target mean, sd, interval and verdict, and the combined verdict.

    Parameters
    ----------
    records
        ``{seed: {key: value}}`` with at least two seeds.
    """
    out, verdicts = {}, []
    for t in targets:
        values = [r[t.key] for _, r in sorted(records.items())]
        verdict, iv = judge_target(values, t)
        verdicts.append(verdict)
        out[t.key] = dict(
            mean=iv.mean,
            sd=iv.sd,
            lo=iv.lo,
            hi=iv.hi,
            n=iv.n,
            level=iv.level,
            verdict=verdict,
            paper=t.paper,
            gap=abs(iv.mean - t.paper),
        )
    return {"targets": out, "verdict": claims.combine(verdicts)}


def gap_trend(summaries: list[dict], key: str) -> str:
    """Whether the gap to the source's value closes with scale, from the first and last rung.

    ``"closes"`` when the last rung's ``|mean - paper|`` is smaller than the first's by more
    than the two intervals' half-widths combined (root sum of squares), ``"widens"`` when it is
    larger by that much, ``"no measurable change"`` otherwise.
    """
    if len(summaries) < 2:
        raise ValueError("gap_trend needs at least two judged rungs.")
    a, b = summaries[0]["targets"][key], summaries[-1]["targets"][key]
    noise = float(np.hypot((a["hi"] - a["lo"]) / 2, (b["hi"] - b["lo"]) / 2))
    if b["gap"] < a["gap"] - noise:
        return "closes"
    if b["gap"] > a["gap"] + noise:
        return "widens"
    return "no measurable change"


def _blocks(n: int) -> int:
    return 16 if n <= 150 else 300


def _t3(name: str):
    # rung 0 keeps chapter 11's 16-row Gram blocks (the smallest kernel-PCA components are
    # sensitive to rounding); larger rungs use larger blocks, which only change rounding
    return lambda n, seed: measures.t3_separation(name, n, seed, gram_batch=_blocks(n))


def _t4(name: str):
    return lambda n, seed: measures.t4_complexity_gap(name, n, seed, gram_batch=_blocks(n))


def _t7(name: str):
    # chapter 13's own seed (tables.table7_seed) with its ci settings (measures.t7_settings)
    return lambda n, seed: measures.t7_rankings(name, n, seed)


def _t8(name: str):
    return lambda n, seed: measures.t8_refurbish(name, n, seed)


# the sources' numbers (DeOliveira et al., seed 000; Mohamadi et al., seed 002)
PAPER_T3_2L = {"mnist": 2.728, "fashion_mnist": 3.488, "cifar10": 1.179}
PAPER_T4 = {"mnist": (0.9955, 0.9973), "fashion_mnist": (0.9823, 0.9902)}  # 2-L, 10-L AUC
PAPER_T7 = {"mnist": (0.962, 0.904), "fashion_mnist": (0.963, 0.915)}  # intra, inter
PAPER_T8_MNIST = {10: 83.50, 20: 85.00, 30: 85.66, 70: 25.21}
PAPER_T5_RBO = 0.829  # Table 5's RBO of the predicted and trained rankings (7 CIFAR-10 architectures)
WAY_WORSE = 0.05  # our reading of 001's "way worse" (the slide gives no number): 5 points of accuracy
_SGD_VAL = float(config.sizes("ch07", "ci")["sgd_val_frac"])  # chapter 7's held-out share
_T5 = config.sizes("ch11", "ci")  # chapter 11's ranking settings
_T5_P = float(_T5["rbo_p"])  # the RBO persistence chapter 11 scores with
_T5_K = len(selection.RANK_NAMES)  # the architectures chapter 11 ranks
# Petiushko's CNTK table (seed 003): best CNN (CNN-GAP, depth 6) minus best CNTK (CNTK-GAP, depth 11)
PAPER_BEST_CNN_GAP = (83.75 - 77.43) / 100

_T3_NOTE = (
    "2-L kernel only on a CPU: CNN-2's Gram on 28x28 images costs about 0.3 ms per entry "
    "here (N = 1,200: about 8 minutes per seed); the GPU ladder is the one to add it to."
)

LADDERS: tuple[Ladder, ...] = (
    Ladder(
        id="003-best-cnn-vs-best-cntk",
        chapter="ch04",
        ledger_ids=("003-best-cnn-vs-best-cntk",),
        source="Petiushko, 'CNTK: results' slide",
        statement="the best CNN is still 5-6 points more accurate than the best CNTK",
        size_name="N",
        measure=measures.best_cnn_vs_cntk,
        cpu_sizes=(80, 160, 640),
        gpu_sizes=(80, 640, 4000),
        targets=(
            Target(
                "gap",
                PAPER_BEST_CNN_GAP,
                "above",
                threshold=0.0,
                label="best network minus best CNTK, test accuracy on MNIST-1D",
            ),
        ),
        cost_exponent=1.5,
        note="MNIST-1D only (the registry's digits stop at 1,797 images); chapter 4's depths, "
        "channels and training: networks by full-batch GD at each depth and by momentum SGD at "
        "the SGD depth, the best of them against the better CNTK (vanilla or GAP) of every "
        "depth; the test split grows with N up to MNIST-1D's 1,000 signals; each seed draws "
        "its own MNIST-1D and initialisations",
        rung0_call="evidence.measures.best_cnn_values(table_1d, {'CNN-V': sg['mnist1d', 'CNN-V'], "
        "'CNN-GAP': sg['mnist1d', 'CNN-GAP']}) of chapter 4 (cnn_vs_cntk.cnn_table and "
        "cnn_vs_cntk.cnn_sgd_accuracy on S['n_1d'] signals drawn with config.SEED) == "
        "evidence.measures.best_cnn_vs_cntk(S['n_1d'], config.SEED)",
        host_dependent=("gap", "best_net"),
    ),
    Ladder(
        id="002-regression-rate",
        chapter="ch07",
        ledger_ids=("002-regression-rate",),
        source="Mohamadi et al., Introduction; Fig. 7",
        statement="kernel-regression predictions with the pNTK converge to the eNTK's at rate "
        "O(n^-1/2) in the width n",
        size_name="max width",
        measure=measures.pntk_regression_rate,
        cpu_sizes=(512, 1024, 4096),
        gpu_sizes=(512, 2048, 8192, 16384),
        targets=(
            Target(
                "slope", -0.5, "within", tol=0.25, label="fitted log-log slope of the prediction difference"
            ),
        ),
        cost_exponent=1.0,
        note="widths max/16, max/4, max on 60 digits (chapter 7's 32, 128, 512 at rung 0); "
        "each seed averages two initialisations, as the chapter does",
        rung0_call="evidence.measures.regression_rate(init_mean.pred_diff) of chapter 7's "
        "widths S['widths'] (pntk.kernel_pair + compare_pair per width and init) == "
        "evidence.measures.pntk_regression_rate(max(S['widths']), config.SEED, n=S['n'], "
        "n_test=S['n_test'], depth=S['depth'], n_inits=S['n_inits'], reg=S['reg'], "
        "data_seed=config.SEED)",
    ),
    Ladder(
        id="001-pntk-vs-sgd",
        chapter="ch07",
        ledger_ids=("001-pntk-vs-sgd",),
        source="Sutherland, slide 'pNTK for full CIFAR-10 regression'",
        statement="kernel regression with the pNTK is way worse than training the network by SGD",
        size_name="SGD epochs",
        measure=measures.pntk_vs_sgd,
        cpu_sizes=(10, 20, 80),
        gpu_sizes=(10, 80, 320),
        targets=(
            Target(
                "sgd_minus_pntk",
                WAY_WORSE,
                "above",
                threshold=WAY_WORSE,
                label=f"SGD minus pNTK test accuracy (the slide gives no number; {100 * WAY_WORSE:g} points "
                "reads 'way worse')",
            ),
        ),
        cost_exponent=1.0,
        note="the widest MLP of chapter 7's whole digits split (the registry's digits hold no more "
        "images, so the ladder grows the SGD run's training, the side the claim is about); each "
        f"rung chooses the learning rate from the profile's grid on a held-out {_SGD_VAL:.0%} of the "
        "training rows; each seed draws its own initialisation, minibatch order and split, and "
        "its pNTK side is shared by the rungs",
        rung0_call="evidence.measures.pntk_sgd_values(runs[0].correct[w_hi, 'trained'], "
        "runs[0].correct['sgd'], runs[0].sgd_lr.lr) of chapter 7's first seed "
        "(pntk.full_split_seed with sgd=dict(optimizer='momentum', lrs=S['sgd_lrs'], "
        "val_frac=S['sgd_val_frac'], epochs=S['sgd_epochs'], batch_size=S['sgd_batch'])) == "
        "evidence.measures.pntk_vs_sgd(S['sgd_epochs'], config.SEED)",
        host_dependent=("sgd_minus_pntk", "acc_sgd", "lr"),
    ),
    *(
        Ladder(
            id=f"000-T3-{d}",
            chapter="ch11",
            ledger_ids=(f"000-T3-{d}",),
            source="DeOliveira et al., Table 3",
            statement=f"kernel-PCA separation ratio of the 2-L kernel on {d} (last 4 components)",
            size_name="N",
            measure=_t3(d),
            cpu_sizes=(150, 300, 1200, 2400),  # 2,400: 10 s of CPU per seed on CIFAR-10
            gpu_sizes=(150, 1200, 4800, 8000 if d == "mnist" else 10000),
            targets=(
                Target(
                    "ratio", PAPER_T3_2L[d], "within", tol=0.1 * PAPER_T3_2L[d], label="separation ratio, 2-L"
                ),
            ),
            cost_exponent=2.5,
            note=_T3_NOTE,
            rung0_call=f"evidence.measures.t3_separation({d!r}, S['n_real'], config.SEED, "
            "arch='2-L', n_components=S['n_components'], gram_batch=S['gram_batch'])",
        )
        for d in ("mnist", "fashion_mnist", "cifar10")
    ),
    *(
        Ladder(
            id=f"000-T4-{d}",
            chapter="ch11",
            ledger_ids=(f"000-T4-{d}",),
            source="DeOliveira et al., Table 4",
            statement=f"on {d}, Complexity-Gap with the deeper 10-L kernel finds 20 % label "
            "noise better (higher AUC) than with 2-L",
            size_name="N",
            measure=_t4(d),
            cpu_sizes=(150, 300, 1200),
            gpu_sizes=(150, 1200, 4800, 8000 if d == "mnist" else 10000),
            targets=(
                Target(
                    "auc_gain",
                    PAPER_T4[d][1] - PAPER_T4[d][0],
                    "above",
                    threshold=0.0,
                    label="AUC(10-L) - AUC(2-L)",
                ),
                Target("auc_2L", PAPER_T4[d][0], "within", tol=0.01, label="AUC, 2-L"),
            ),
            cost_exponent=2.5,
            note="2-L and 10-L kernels on a CPU (the CNN kernels are the GPU ladder's); sampled "
            "binary protocol, 20 % symmetric noise drawn with the seed",
            rung0_call=f"evidence.measures.t4_complexity_gap({d!r}, S['n_real'], config.SEED, "
            "deep='10-L', noise_rate=S['noise_rate'], check_frac=S['check_frac'], "
            "gram_batch=S['gram_batch'])",
        )
        for d in ("mnist", "fashion_mnist")
    ),
    Ladder(
        id="000-T5-ranking",
        chapter="ch11",
        ledger_ids=("000-T5-rbo-ours",),
        source="DeOliveira et al., Table 5",
        statement=f"the kernel-PCA score ranks architectures as training does (RBO {PAPER_T5_RBO}) and "
        "picks the best one",
        size_name="N",
        measure=measures.t5_ranking,
        cpu_sizes=(150, 300, 1200),
        gpu_sizes=(150, 1200, 4000),
        targets=(
            Target(
                "rbo",
                PAPER_T5_RBO,
                "above",
                threshold=round(measures.rbo_chance(_T5_K, _T5_P), 4),
                label=f"RBO (p = {_T5_P:g}) of the kernel's ranking with the trained one; threshold: "
                f"a random order's mean for {_T5_K} architectures",
            ),
            Target(
                "top_pick",
                1.0,
                "above",
                threshold=1 / _T5_K,
                label=f"share of seeds whose top pick is the trained best; threshold: chance for {_T5_K}",
            ),
        ),
        cost_exponent=1.5,
        note=f"chapter 11's {_T5_K} architectures on MNIST-1D: the kernel-PCA score on the first N "
        f"signals, against the networks trained as in the chapter (its {_T5['rank_n_train']:,} signals, "
        f"{_T5['rank_seeds']} initialisations, Adam, {_T5['rank_epochs']} epochs; shared by the rungs of "
        "a seed); each seed draws its own MNIST-1D and initialisations; the stored 'resolved' counts "
        f"the neighbouring pairs of the trained order that its seeds separate (of {_T5_K - 1}). The "
        "source's RBO ranks seven CIFAR-10 architectures, and a random order's mean RBO depends on "
        "how many items are ranked, so the criterion is chance for our architectures and the "
        "source's value is drawn for reference only. A seed's top pick is right or wrong (1 or 0), "
        "so its Student-t interval over a few seeds is a rough guide, not an exact binomial one",
        rung0_call="evidence.measures.t5_values(list(predicted.index), list(truth.index), "
        "int(truth.resolved.sum()), S['rbo_p']) of chapter 11 == "
        "evidence.measures.t5_ranking(S['n'], config.SEED)",
        host_dependent=("rbo", "top_pick", "resolved"),
    ),
    *(
        Ladder(
            id=f"000-T7-{d}",
            chapter="ch13",
            ledger_ids=(f"000-T7-{d}-intra", f"000-T7-{d}-inter"),
            source="DeOliveira et al., Table 7",
            statement=f"Z predicts the intra- and inter-class learning rankings on {d} (RBO near 1)",
            size_name="N",
            measure=_t7(d),
            cpu_sizes=(800, 1600, 6400),
            gpu_sizes=(800, 6400, 8000) if d == "mnist" else (800, 6400, 20000),
            targets=(
                Target("intra", PAPER_T7[d][0], "within", tol=0.05, label="intra-class RBO"),
                Target("inter", PAPER_T7[d][1], "within", tol=0.05, label="inter-class RBO"),
            ),
            cost_exponent=1.5,
            note="chapter 13's real-data seed (ntkbook.tasks.tables.table7_seed with the ci "
            "profile's settings: 2-L kernel, a 2-L network of width 256 trained with Adam at "
            "real_lr for 20 epochs, float32); each seed draws its own images and initialisation",
            rung0_call=f"evidence.measures.t7_values(tables.table7_seed({d!r}, S['real_n'], "
            "config.SEED, p=S['rbo_p'], arch=S['real_arch'], width=S['width'], "
            "epochs=S['epochs'], lr=S['real_lr'], batch_size=S['batch_size'], "
            "checkpoints=S['checkpoints'])) -- seed 0 of chapter 13's loop",
            host_dependent=("intra", "inter", "train_acc", "test_acc"),
        )
        for d in ("mnist", "fashion_mnist")
    ),
    Ladder(
        id="000-T8-mnist",
        chapter="ch14",
        ledger_ids=("000-T8-mnist",),
        source="DeOliveira et al., Table 8",
        statement="the printed Algorithm 1 (L = number of corrupted labels) returns most of the "
        "injected noise on MNIST to the true class",
        size_name="N",
        measure=_t8("mnist"),
        cpu_sizes=(1000, 2000, 8000),
        gpu_sizes=(1000, 2000, 8000),
        targets=tuple(
            Target(f"corrected_{r}", v, "within", tol=10.0, label=f"share of the {r} % noise corrected (%)")
            for r, v in PAPER_T8_MNIST.items()
        ),
        cost_exponent=2.0,  # measured: CPU 19 s per seed at N = 2,000, 66 s at 4,000
        note="capped at 8,000, 8x the ci size: the MNIST that `make data` installs has 8,000 "
        "training images (the registry copy), and the paper's N is larger than that; the rungs "
        "N = 1,500 and 3,000 are from the ladder's first version (ci size 1,500)",
        rung0_call="evidence.measures.t8_values(draw 0 of chapter 14: the printed reading, "
        "L = #noisy, on S['real_n'] MNIST images drawn with config.SEED, noise seed "
        "config.SEED + 1) == evidence.measures.t8_refurbish('mnist', S['real_n'], config.SEED, "
        "rates=S['noise_rates'])",
    ),
)
"""Every ladder, in chapter order."""


def get(claim_id: str) -> Ladder:
    """The ladder with id ``claim_id``; the error lists the known ids."""
    for ladder in LADDERS:
        if ladder.id == claim_id:
            return ladder
    raise ValueError(f"claim_id={claim_id!r} has no evidence ladder; known: {[x.id for x in LADDERS]}.")
