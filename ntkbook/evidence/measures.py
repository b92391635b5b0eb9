"""The computations behind the evidence ladders: one function per claim, ``(size, seed) -> dict``.

Each function is the exact sequence of package calls its chapter makes for that claim at the
``ci`` profile, with the sample size (or the widest width) and the seed as arguments, so that
``measure(ci_size, config.SEED)`` *is* the chapter's live value.  The chapter calls the same
functions (each ladder's ``rung0_call`` names them), which is what lets
:func:`ntkbook.evidence.check_stale` compare the stored ladder with the live book.

Seeds: ``seed`` is used wherever the chapter uses ``config.SEED`` (data subsample, label noise,
initialisation); the chapter's offsets (``config.SEED + 1`` for Table 8's noise) are kept.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .. import _checks, archs, config, data, gram, metrics, selection, tasks
from ..tasks import tables

__all__ = [
    "block_size",
    "real_gram",
    "t3_separation",
    "t4_complexity_gap",
    "t7_settings",
    "t7_values",
    "t7_rankings",
    "t8_values",
    "t8_refurbish",
    "regression_rate",
    "pntk_regression_rate",
    "pntk_sgd_settings",
    "pntk_sgd_values",
    "pntk_vs_sgd",
    "best_cnn_values",
    "best_cnn_vs_cntk",
    "rbo_chance",
    "t5_values",
    "t5_ranking",
]


def block_size(n: int, gram_batch: int) -> int:
    """Equal Gram blocks of at most ``gram_batch`` rows, so that no block is mostly padding.

    Parameters
    ----------
    n
        Number of rows of the Gram matrix.
    gram_batch
        Largest block (the profile's ``gram_batch``).

    Returns
    -------
    int
        ``ceil(n / ceil(n / gram_batch))``.

    Examples
    --------
    >>> block_size(150, 16)
    15
    """
    n = _checks.positive_int(n, "n")
    gram_batch = _checks.positive_int(gram_batch, "gram_batch")
    return -(-n // -(-n // gram_batch))


@functools.lru_cache(maxsize=4)
def _loaded(name: str, n: int, seed: int):
    ds = data.load(name, n=n, seed=seed)
    return ds, data.normalize(ds.x).astype(np.float64)


@functools.lru_cache(maxsize=6)
def real_gram(name: str, arch: str, n: int, seed: int, gram_batch: int = 16) -> np.ndarray:
    """Infinite-width Gram matrix of ``n`` images of ``name`` drawn with ``seed`` (cached).

    The chapter-11 call: ``data.load(name, n, seed)``, ``data.normalize``, then
    ``gram.gram(archs.get(arch, out_dim=K, ndim=...), x, batch_size=block_size(n, gram_batch))``.
    Tables 3 and 4 of one dataset and seed share it.

    Returns
    -------
    ndarray, shape (n, n)
        Read-only float64 Gram matrix.
    """
    ds, x = _loaded(name, n, seed)
    net = archs.get(arch, out_dim=ds.num_classes, ndim=archs.ndim_of(ds.image_shape))
    # NTKBOOK_EVIDENCE_GRAM_CACHE (set by the evidence runner, never by a chapter): a disk cache
    # so that Tables 3 and 4 of one dataset, size and seed compute their Gram matrix once
    base = os.environ.get("NTKBOOK_EVIDENCE_GRAM_CACHE")
    cache = os.path.join(base, f"{name}-{arch}-{n}-{seed}-{gram_batch}") if base else None
    H = np.asarray(gram.gram(net, x, batch_size=block_size(n, gram_batch), progress=False, cache_dir=cache))
    H.setflags(write=False)
    return H


def t3_separation(
    name: str, n: int, seed: int, *, arch: str = "2-L", n_components: int = 4, gram_batch: int = 16
) -> dict[str, float]:
    """Table 3's kernel-PCA separation ratio of one kernel on ``n`` images of ``name``.

    Parameters
    ----------
    name
        Dataset name (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``).
    n
        Training images drawn (``data.load(name, n=n, seed=seed)``).
    seed
        Subsample seed (the chapter's ``config.SEED``).
    arch
        Kernel (chapter 11's ``kpca_archs``); the CPU ladders use ``"2-L"``.
    n_components, gram_batch
        Chapter 11's ``n_components`` and ``gram_batch``.

    Returns
    -------
    dict
        ``ratio`` (mean inter- over mean intra-class distance in the last ``n_components``
        kernel principal components, Table 3's number) and ``ratio_std``.
    """
    ds, _ = _loaded(name, n, seed)
    s = tasks.kpca_separation(real_gram(name, arch, n, seed, gram_batch), ds.y, n_components, "low")
    return {"ratio": float(s.ratio), "ratio_std": float(s.ratio_std)}


def t4_complexity_gap(
    name: str,
    n: int,
    seed: int,
    *,
    deep: str = "10-L",
    noise_rate: float = 0.2,
    check_frac: float = 0.2,
    gram_batch: int = 16,
) -> dict[str, float]:
    """Table 4: Complexity-Gap noise detection with 2-L and a deeper kernel, same noisy labels.

    The chapter-11 calls: ``data.add_label_noise(y, noise_rate, K, seed=seed)``, then per kernel
    ``tasks.complexity_gap(H, y_noisy, seed=seed)`` (the sampled binary protocol) scored with
    ``metrics.roc_auc`` and ``metrics.noise_found_at(score, flipped, check_frac)``.

    Returns
    -------
    dict
        ``auc_2L``, ``auc_deep``, ``found_2L``, ``found_deep`` (per cent of the flipped labels
        among the ``check_frac`` highest scores) and ``auc_gain = auc_deep - auc_2L`` (the
        paper: every deeper kernel improves on 2-L).
    """
    ds, _ = _loaded(name, n, seed)
    y_noisy, flipped = data.add_label_noise(ds.y, noise_rate, ds.num_classes, seed=seed)
    out = {}
    for tag, arch in (("2L", "2-L"), ("deep", deep)):
        score = tasks.complexity_gap(real_gram(name, arch, n, seed, gram_batch), y_noisy, seed=seed)
        out[f"auc_{tag}"] = float(metrics.roc_auc(score, flipped))
        out[f"found_{tag}"] = float(100 * metrics.noise_found_at(score, flipped, check_frac))
    out["auc_gain"] = out["auc_deep"] - out["auc_2L"]
    return out


def t7_settings(profile: str = "ci") -> dict:
    """Chapter 13's Table 7 settings (``config.sizes("ch13", profile)``) as keywords of
    :func:`ntkbook.tasks.tables.table7_seed`, so the ladder runs the chapter's real-data setting.

    Examples
    --------
    >>> t7_settings()["lr"] == config.sizes("ch13", "ci")["real_lr"]
    True
    """
    S = config.sizes("ch13", profile)
    return dict(
        p=float(S["rbo_p"]),
        arch=S["real_arch"],
        width=int(S["width"]),
        epochs=int(S["epochs"]),
        lr=float(S["real_lr"]),
        batch_size=int(S["batch_size"]),
        checkpoints=tuple(S["checkpoints"]),
    )


T7_RIDGE = 1e-10
"""Relative ridge of Z's solve for a Table 7 draw whose Gram matrix is singular (duplicates)."""

T7_KEYS = ("intra", "inter", "rand_intra", "rand_inter", "train_acc", "test_acc")
"""The numbers of one Table 7 seed that the store keeps (and a chapter records)."""


def t7_values(result: dict) -> dict[str, float]:
    """The stored numbers of one :func:`ntkbook.tasks.tables.table7_seed` result.

    Chapter 13 records this dict of its seed-0 result; the ladder stores it per seed.

    Returns
    -------
    dict
        ``intra``, ``inter`` (RBO of Z's predicted rankings against the trained network's),
        ``rand_intra``, ``rand_inter`` (random floors), ``train_acc``, ``test_acc``.
    """
    missing = [k for k in T7_KEYS if k not in result]
    if missing:
        raise ValueError(f"result lacks {missing}; expected a tables.table7_seed result.")
    return {k: float(result[k]) for k in T7_KEYS}


@functools.lru_cache(maxsize=2)
def _net_2l(width: int):
    # one network per width, as chapter 13 keeps one per dataset: its update step compiles once
    return archs.get("2-L", width=width)


def t7_rankings(name: str, n: int, seed: int, *, profile: str = "ci") -> dict[str, float]:
    """Table 7 on real images: chapter 13's own seed, :func:`ntkbook.tasks.tables.table7_seed`.

    Parameters
    ----------
    name
        Dataset (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``).
    n
        Training images drawn with ``seed`` (chapter 13's ``real_n`` at rung 0).
    seed
        ``config.SEED + s`` of the chapter's ``s``-th seed.
    profile
        Whose settings (:func:`t7_settings`): the network, its step and epochs, the RBO's ``p``.

    Returns
    -------
    dict
        :func:`t7_values` of the seed.  A draw whose Gram matrix is singular (exact duplicate
        images) is solved with the relative ridge :data:`T7_RIDGE` instead of none.
    """
    kw = t7_settings(profile)
    try:
        return t7_values(tables.table7_seed(name, n, seed, net=_net_2l(kw["width"]), **kw))
    except ValueError as err:
        if "ill-conditioned" not in str(err):
            raise
    # a draw with exact duplicate images (Fashion-MNIST has some; at N = 6,400 a draw holds a
    # pair) makes H singular and Z = Y^T H^-1 Y undefined: the smallest ridge that solves it,
    # T7_RIDGE of the mean diagonal (the chapter's draws never need one)
    return t7_values(tables.table7_seed(name, n, seed, net=_net_2l(kw["width"]), reg=T7_RIDGE, **kw))


def t8_values(draw: dict) -> dict[str, float]:
    """Per cent corrected per noise rate of one :func:`ntkbook.tasks.tables.table8_seed` draw.

    Returns
    -------
    dict
        ``corrected_<pct>`` (``corrected_10`` for 10 % noise), in per cent.
    """
    return {f"corrected_{round(100 * float(r))}": float(100 * v["corrected"]) for r, v in draw.items()}


def t8_refurbish(name: str, n: int, seed: int, *, rates=(0.1, 0.2, 0.3, 0.7)) -> dict[str, float]:
    """Table 8: share of the injected noise the printed Algorithm 1 returns to the true class.

    The chapter-14 calls: ``tables.kernel_gram("2-L", x)`` of ``n`` images drawn with ``seed``,
    ``refurbish_setup(H)``, then :func:`ntkbook.tasks.tables.table8_seed` with noise seed
    ``seed + 1`` (Algorithm 1 as printed, L = number of corrupted labels).

    Returns
    -------
    dict
        :func:`t8_values` of the draw.
    """
    from ..tasks.refurbish import refurbish_setup

    ds, x = _loaded(name, n, seed)
    H = tables.kernel_gram("2-L", x)
    return t8_values(tables.table8_seed(H, ds.y, seed + 1, tuple(rates), setup=refurbish_setup(H)))


def regression_rate(pred_diff: dict) -> dict[str, float]:
    """The fitted log-log slope of the prediction difference against width, and the differences.

    Parameters
    ----------
    pred_diff
        ``{width: relative eNTK-vs-pNTK prediction difference}`` (at least two widths), each the
        mean over initialisations (chapter 7's ``init_mean.pred_diff``).

    Returns
    -------
    dict
        ``slope`` (least-squares slope of ``log pred_diff`` on ``log width``; 002's claim: -1/2)
        and ``pred_diff_<width>`` for each width.

    Examples
    --------
    >>> round(regression_rate({100: 0.1, 400: 0.05})["slope"], 12)
    -0.5
    """
    widths = sorted(int(w) for w in pred_diff)
    if len(widths) < 2:
        raise ValueError(f"pred_diff needs at least two widths; got {widths}.")
    diffs = [float(pred_diff[w]) for w in widths]
    slope = float(np.polyfit(np.log(widths), np.log(diffs), 1)[0])
    return {"slope": slope, **{f"pred_diff_{w}": d for w, d in zip(widths, diffs)}}


def pntk_regression_rate(
    max_width: int,
    seed: int,
    *,
    dataset: str = "digits",
    n: int = 60,
    n_test: int = 100,
    depth: int = 3,
    n_inits: int = 2,
    reg: float = 1e-4,
    data_seed: int = 0,
) -> dict[str, float]:
    """Fitted rate at which pNTK kernel-regression predictions approach the eNTK's with width.

    Chapter 7's calls: widths ``max_width / 16, max_width / 4, max_width`` (its ``[32, 128,
    512]`` at ``max_width = 512``), per width and initialisation ``PRNGKey(seed * n_inits + i)``
    (seed 0: keys 0, 1, the chapter's) :func:`ntkbook.pntk.kernel_pair` and
    :func:`ntkbook.pntk.compare_pair`'s ``pred_diff``, averaged over the initialisations, then
    :func:`regression_rate`.

    Returns
    -------
    dict
        :func:`regression_rate` of the widths.
    """
    import jax

    from .. import (
        dynamics,  # noqa: F401 - first: `empirical` (which pntk uses) imported alone hits the
        pntk,  # dynamics <-> empirical import cycle (issue 27)
    )

    max_width = _checks.positive_int(max_width, "max_width", minimum=16)
    widths = [max_width // 16, max_width // 4, max_width]
    ds = data.load(dataset, n=n, n_test=n_test, seed=data_seed)
    x = data.normalize(ds.x_flat).astype(np.float64)
    x_test = data.normalize(ds.x_test_flat).astype(np.float64)
    Y = data.one_hot(ds.y, ds.num_classes)
    diffs = {}
    for width in widths:
        init_w, apply_w, _ = archs.mlp(depth, width, ds.num_classes)
        per_init = []
        for i in range(n_inits):
            _, p0 = init_w(jax.random.PRNGKey(seed * n_inits + i), x.shape)
            k0 = pntk.kernel_pair(apply_w, p0, x, x_test)
            per_init.append(pntk.compare_pair(k0, Y, ds.y_test, reg)["pred_diff"])
        diffs[width] = float(np.mean(per_init))
    return regression_rate(diffs)


def pntk_sgd_settings(profile: str = "ci") -> dict:
    """Chapter 7's whole-split settings (``config.sizes("ch07", profile)``) for :func:`pntk_vs_sgd`.

    Returns
    -------
    dict
        ``dataset``, ``n``, ``n_test``, ``width`` (the widest), ``depth``, ``steps``,
        ``lr_scale``, ``reg`` of the pNTK side and ``sgd`` (keywords of
        :func:`ntkbook.pntk.sgd_baseline` but ``epochs``: momentum SGD, the learning-rate grid
        ``lrs``, the minibatch size).

    Examples
    --------
    >>> pntk_sgd_settings()["width"] == max(config.sizes("ch07", "ci")["full_widths"])
    True
    """
    S = config.sizes("ch07", profile)
    return dict(
        dataset=S["dataset"],
        n=int(S["full_n"]),
        n_test=int(S["full_n_test"]),
        width=int(max(S["full_widths"])),
        depth=int(S["depth"]),
        steps=int(S["full_steps"]),
        lr_scale=float(S["lr_scale"]),
        reg=float(S["reg"]),
        sgd=dict(
            optimizer="momentum",
            lrs=tuple(S["sgd_lrs"]),
            val_frac=float(S["sgd_val_frac"]),
            batch_size=int(S["sgd_batch"]),
        ),
    )


def pntk_sgd_values(pntk_correct, sgd_correct, lr: float) -> dict[str, float]:
    """The stored numbers of one seed of ``001-pntk-vs-sgd``.

    Parameters
    ----------
    pntk_correct, sgd_correct : bool arrays, shape (M,)
        Which test images the widest pNTK regression (trained weights) and the SGD-trained
        network classify correctly (:class:`ntkbook.pntk.FullSplit`'s ``correct``).
    lr
        The SGD run's chosen learning rate.

    Returns
    -------
    dict
        ``sgd_minus_pntk`` (test-accuracy difference), ``acc_sgd``, ``acc_pntk``, ``lr``.

    Examples
    --------
    >>> pntk_sgd_values(np.array([1, 1, 0, 0], bool), np.array([1, 1, 1, 0], bool), 2.0)["sgd_minus_pntk"]
    0.25
    """
    a = np.asarray(pntk_correct, dtype=bool)
    b = np.asarray(sgd_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"pntk_correct and sgd_correct must be 1-D of one length; got {a.shape} and {b.shape}."
        )
    acc_p, acc_s = float(a.mean()), float(b.mean())
    return {"sgd_minus_pntk": acc_s - acc_p, "acc_sgd": acc_s, "acc_pntk": acc_p, "lr": float(lr)}


@functools.lru_cache(maxsize=8)
def _pntk_side(seed: int, profile: str):
    # one seed's pNTK regression does not depend on the SGD epochs: every rung reuses it
    from .. import dynamics, pntk  # noqa: F401 - dynamics first: the import cycle of issue 27

    kw = pntk_sgd_settings(profile)
    ds = data.load(kw["dataset"], n=kw["n"], n_test=kw["n_test"], seed=seed)
    x = data.normalize(ds.x_flat).astype(np.float64)
    x_test = data.normalize(ds.x_test_flat).astype(np.float64)
    split = pntk.full_split_seed(
        x,
        ds.y,
        x_test,
        ds.y_test,
        [kw["width"]],
        seed,
        depth=kw["depth"],
        steps=kw["steps"],
        lr_scale=kw["lr_scale"],
        reg=kw["reg"],
        infinite=False,
    )
    correct = split.correct[kw["width"], "trained"]
    for a in (x, x_test, correct):
        a.setflags(write=False)  # cached and shared by every rung of the seed: read-only
    return ds, x, x_test, correct


def pntk_vs_sgd(epochs: int, seed: int, *, profile: str = "ci") -> dict[str, float]:
    """001's "pNTK regression is way worse than SGD", against an SGD run with a chosen step.

    Chapter 7's calls for its first seed: the digits split drawn with ``seed``, the widest MLP's
    pNTK regression with weights trained by full-batch gradient descent
    (:func:`ntkbook.pntk.full_split_seed`), and the same MLP trained by momentum SGD for
    ``epochs`` epochs, its learning rate chosen from the profile's grid on the profile's held-out
    share of the training rows (:func:`ntkbook.pntk.sgd_baseline`).

    Parameters
    ----------
    epochs
        SGD epochs (the ladder's size; chapter 7's ``sgd_epochs`` at rung 0).
    seed
        Data draw, initialisation, minibatch order and validation split.
    profile
        Whose settings (:func:`pntk_sgd_settings`).

    Returns
    -------
    dict
        :func:`pntk_sgd_values`.
    """
    from .. import pntk

    epochs = _checks.positive_int(epochs, "epochs")
    kw = pntk_sgd_settings(profile)
    ds, x, x_test, pntk_correct = _pntk_side(int(seed), profile)
    net = archs.mlp(kw["depth"], kw["width"], ds.num_classes)
    sgd_correct, choice = pntk.sgd_baseline(
        net, x, ds.y, x_test, ds.y_test, seed, num_classes=ds.num_classes, epochs=epochs, **kw["sgd"]
    )
    if choice is None:  # the settings pass a grid (lrs), so a rate is always chosen
        raise RuntimeError("pntk_sgd_settings() passed no learning-rate grid (lrs) to sgd_baseline.")
    return pntk_sgd_values(pntk_correct, sgd_correct, choice.lr)


def best_cnn_values(table, sgd_acc: dict[str, float]) -> dict[str, float]:
    """The stored numbers of one seed of ``003-best-cnn-vs-best-cntk``.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`ntkbook.cnn_vs_cntk.cnn_table` (columns ``CNN-V``, ``CNN-GAP``, ``CNTK-V``,
        ``CNTK-GAP``: test accuracies per depth; the networks trained by full-batch GD).
    sgd_acc
        Test accuracy of the networks trained by momentum SGD (``{"CNN-V": .., "CNN-GAP": ..}``).

    Returns
    -------
    dict
        ``best_net`` (the most accurate trained network, GD or SGD), ``best_kernel`` (the most
        accurate CNTK regression) and ``gap = best_net - best_kernel``.
    """
    nets = [float(table[c].max()) for c in ("CNN-V", "CNN-GAP")] + [float(v) for v in sgd_acc.values()]
    best_net = max(nets)
    best_kernel = max(float(table[c].max()) for c in ("CNTK-V", "CNTK-GAP"))
    return {"gap": best_net - best_kernel, "best_net": best_net, "best_kernel": best_kernel}


MNIST1D_TEST = 1000
"""Test signals in MNIST-1D's generated split (mnist1d's defaults: 4,000 train, 1,000 test)."""


def best_cnn_vs_cntk(n: int, seed: int, *, profile: str = "ci") -> dict[str, float]:
    """003's "the best CNN is still 5-6 points more accurate than the best CNTK", on MNIST-1D.

    Chapter 4's MNIST-1D calls: ``n`` training and ``min(n, 1000)`` test signals drawn with
    ``seed`` (the chapter's ``n_1d`` of each), :func:`ntkbook.cnn_vs_cntk.cnn_table` (the CNTK
    of every depth and the networks trained by full-batch GD) and
    :func:`ntkbook.cnn_vs_cntk.cnn_sgd_accuracy` for the vanilla and GAP networks of the SGD
    depth.  Gram blocks: the chapter's ``gram_batch`` at its size, 80 rows above it (rounding
    only).

    Returns
    -------
    dict
        :func:`best_cnn_values`.
    """
    from .. import cnn_vs_cntk

    S = config.sizes("ch04", profile)
    n = _checks.positive_int(n, "n")
    ds = data.load("mnist1d", n=n, seed=seed, n_test=min(n, MNIST1D_TEST))
    batch = S["gram_batch"] if n <= S["n_1d"] else 80
    table = cnn_vs_cntk.cnn_table(
        ds, 1, S["depths"], channels=S["channels"], steps=S["steps"], batch_size=batch, seed=seed
    )
    sgd = {
        tag: cnn_vs_cntk.cnn_sgd_accuracy(
            ds,
            S["sgd_depth"],
            pool,
            1,
            channels=S["sgd_channels"],
            lr=S["sgd_lr"],
            epochs=S["sgd_epochs"],
            batch_size=S["sgd_batch"],
            seed=seed,
        )[0]
        for pool, tag in (("flatten", "CNN-V"), ("gap", "CNN-GAP"))
    }
    return best_cnn_values(table, sgd)


@functools.lru_cache(maxsize=8)
def rbo_chance(k: int, p: float) -> float:
    """Mean RBO at persistence ``p`` of a uniformly random order of ``k`` items with a fixed one.

    Exact: the average over all ``k!`` orders (``k <= 8``).

    Examples
    --------
    >>> rbo_chance(1, 0.9)
    1.0
    """
    import itertools

    k = _checks.positive_int(k, "k")
    if k > 8:
        raise ValueError(f"k must be <= 8 (k! orders are enumerated); got {k}.")
    ref = list(range(k))
    return float(np.mean([metrics.rbo(list(perm), ref, p=p) for perm in itertools.permutations(ref)]))


def t5_values(predicted: list, trained: list, n_resolved: int, p: float) -> dict[str, float]:
    """The stored numbers of one seed of ``000-T5-ranking``.

    Parameters
    ----------
    predicted, trained
        Architecture names, best first: the kernel-PCA score's order
        (:func:`ntkbook.tasks.rank_architectures`) and the trained one
        (:func:`ntkbook.selection.trained_ranking`).
    n_resolved
        Neighbouring pairs of the trained order whose gap interval excludes 0.
    p
        RBO persistence.

    Returns
    -------
    dict
        ``rbo``, ``top_pick`` (1.0 when both orders start with the same architecture, else 0.0)
        and ``resolved`` (``n_resolved``).

    Examples
    --------
    >>> t5_values(["a", "b"], ["a", "b"], 1, 0.9) == {"rbo": 1.0, "top_pick": 1.0, "resolved": 1.0}
    True
    """
    if sorted(predicted) != sorted(trained):
        raise ValueError(
            f"predicted and trained must order the same architectures; got {predicted} and {trained}."
        )
    return {
        "rbo": metrics.rbo(list(predicted), list(trained), p=p),
        "top_pick": float(predicted[0] == trained[0]),
        "resolved": float(n_resolved),
    }


@functools.lru_cache(maxsize=8)
def _t5_truth(seed: int, profile: str):
    # one seed's trained ranking does not depend on the kernel's N: every rung reuses it
    S = config.sizes("ch11", profile)
    rk = data.load(S["rank_dataset"], n=S["rank_n_train"], n_test=S["rank_n_test"], seed=seed)
    x, x_test = data.normalize(rk.x), data.normalize(rk.x_test)
    nets = selection.rank_candidates(
        rk.image_shape, rk.num_classes, width=S["rank_width"], channels=S["rank_channels"]
    )
    scale = float(np.sqrt(x[0].size))  # signals of mean square 1 per entry, as in the chapter
    acc = selection.trained_accuracies(
        nets,
        scale * x,
        rk.y,
        scale * x_test,
        rk.y_test,
        num_classes=rk.num_classes,
        # the chapter's initialisations config.SEED + s at seed config.SEED; disjoint blocks for the others
        seeds=[config.SEED + (seed - config.SEED) * S["rank_seeds"] + s for s in range(S["rank_seeds"])],
        optimizer="adam",
        lr=S["rank_lr"],
        epochs=S["rank_epochs"],
        batch_size=S["rank_batch_size"],
    )
    return selection.trained_ranking(acc)


def t5_ranking(n: int, seed: int, *, profile: str = "ci") -> dict[str, float]:
    """Table 5's claim, chapter 11's form: does the kernel-PCA score rank architectures as training does?

    Chapter 11's calls: MNIST-1D drawn with ``seed`` (``max(n, rank_n_train)`` training
    signals; :func:`ntkbook.data.load` draws a prefix-stable subset, so the first
    ``rank_n_train`` are the chapter's whatever ``n``), the four
    :func:`ntkbook.selection.rank_candidates`, their Gram matrices on the first ``n`` signals
    ranked by :func:`ntkbook.tasks.rank_architectures`, against
    :func:`ntkbook.selection.trained_ranking` of the networks trained on the first
    ``rank_n_train`` signals from ``rank_seeds`` initialisations (``config.SEED + (seed -
    config.SEED) * rank_seeds + s``: the chapter's ``config.SEED + s`` at ``seed = config.SEED``,
    a block of its own at every other seed).  Gram blocks: the chapter's ``gram_batch``
    at its size, 200 rows above it (rounding only).

    Returns
    -------
    dict
        :func:`t5_values`.
    """
    S = config.sizes("ch11", profile)
    n = _checks.positive_int(n, "n")
    rk = data.load(S["rank_dataset"], n=max(n, S["rank_n_train"]), n_test=S["rank_n_test"], seed=seed)
    x_k, y_k = data.normalize(rk.x)[:n], rk.y[:n]
    nets = selection.rank_candidates(
        rk.image_shape, rk.num_classes, width=S["rank_width"], channels=S["rank_channels"]
    )
    block = selection.equal_blocks(n, S["gram_batch"] if n <= S["n"] else 200)
    grams = {name: gram.gram(net, x_k, batch_size=block, progress=False) for name, net in nets.items()}
    predicted = tasks.rank_architectures(grams, y_k, S["n_components"], "low")
    truth = _t5_truth(int(seed), profile)
    return t5_values(list(predicted.index), list(truth.index), int(truth.resolved.sum()), S["rbo_p"])
