"""The computations behind the evidence ladders: one function per claim, ``(size, seed) -> dict``.

Each function is the exact sequence of package calls its chapter makes for that claim at the
``ci`` profile, with the sample size (or the widest width) and the seed as arguments, so that
``measure(ci_size, config.SEED)`` *is* the chapter's live value.  The chapter calls the same
function (see ``/work/helpers/evidence-wiring.md`` for the calls), which is what lets
:func:`ntkbook.evidence.check_stale` compare the stored ladder with the live book.

Seeds: ``seed`` is used wherever the chapter uses ``config.SEED`` (data subsample, label noise,
initialisation); the chapter's offsets (``config.SEED + 1`` for Table 8's noise) are kept.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .. import _checks, archs, data, gram, metrics, tasks

__all__ = [
    "block_size",
    "real_gram",
    "t3_separation",
    "t4_complexity_gap",
    "table7_rbo",
    "t7_rankings",
    "t8_refurbish",
    "pntk_regression_rate",
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


def table7_rbo(hist, gl, checkpoints, p: float = 0.9) -> dict[str, float]:
    """Table 7's two scores: RBO of the predicted intra/inter-class rankings against one training run.

    Parameters
    ----------
    hist
        A :func:`ntkbook.dynamics.train` history with per-epoch ``class_acc`` (E, K) and
        ``class_prob`` (E, K, K).
    gl
        :func:`ntkbook.tasks.gram_label_matrix` of the same images and labels (``Z``, ``counts``).
    checkpoints
        Epochs averaged for the trained rankings.
    p
        RBO persistence (extrapolated RBO, :func:`ntkbook.metrics.rbo`).

    Returns
    -------
    dict
        ``intra`` (RBO of the class ranking predicted by Z's diagonal against per-class training
        accuracy) and ``inter`` (mean over classes of the RBO of the predicted confusion ranking
        against the trained class probabilities).
    """
    sel = np.isin(hist.epoch, list(checkpoints))
    if not sel.any():
        raise ValueError(
            f"checkpoints={list(checkpoints)} names no recorded epoch (recorded: {list(hist.epoch)[:5]}...)."
        )
    K = gl.Z.shape[0]
    intra_pred, inter_pred = tasks.bias_rankings(gl.Z, gl.counts)
    intra_true = np.argsort(-hist.class_acc[sel].mean(0), kind="stable")
    prob = hist.class_prob[sel].mean(0)
    inter_true = [np.array([d for d in np.argsort(-prob[k], kind="stable") if d != k]) for k in range(K)]
    inter = [metrics.rbo(list(inter_pred[k]), list(inter_true[k]), p) for k in range(K)]
    return {
        "intra": float(metrics.rbo(list(intra_pred), list(intra_true), p)),
        "inter": float(np.mean(inter)),
    }


@functools.lru_cache(maxsize=2)
def _mlp_2l(width: int):
    import jax

    net = archs.get("2-L", width=width)
    return net._replace(apply_fn=jax.jit(net.apply_fn))


def t7_rankings(
    name: str,
    n: int,
    seed: int,
    *,
    width: int = 256,
    epochs: int = 20,
    lr: float = 0.003,
    batch_size: int = 50,
    checkpoints=(2, 5, 10, 20),
    p: float = 0.9,
) -> dict[str, float]:
    """Table 7 on real images: Z's predicted learning rankings against a trained 2-L network.

    The chapter-13 calls: ``gram.gram(archs.get("2-L", ndim=...), x)``,
    ``tasks.gram_label_matrix(H, y)``, ``train(archs.get("2-L", width=width), x, y, adam, lr,
    epochs, batch_size, seed, dtype=float64)`` and :func:`table7_rbo`.

    Returns
    -------
    dict
        ``intra``, ``inter`` (:func:`table7_rbo`) and ``train_acc`` (final training accuracy).
    """
    from ..dynamics import train

    ds, x = _loaded(name, n, seed)
    H = gram.gram(archs.get("2-L", ndim=archs.ndim_of(ds.image_shape)), x, progress=False)
    gl = tasks.gram_label_matrix(H, ds.y)
    h = train(
        _mlp_2l(width),
        x,
        ds.y,
        num_classes=ds.num_classes,
        optimizer="adam",
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        dtype=np.float64,
    )
    return {**table7_rbo(h, gl, checkpoints, p), "train_acc": float(h.train_acc[-1])}


def t8_refurbish(name: str, n: int, seed: int, *, rates=(0.1, 0.2, 0.3, 0.7)) -> dict[str, float]:
    """Table 8: share of the injected noise the printed Algorithm 1 returns to the true class.

    The chapter-14 calls: the 2-L Gram of ``n`` images, ``refurbish_setup(H)``, and per noise
    rate ``data.add_label_noise(y, rate, 10, seed=seed + 1)`` then
    ``refurbish_labels(H, y_noisy, setup=setup, steps=#flipped, stop="never",
    score_against="initial")`` scored by ``refurbish_scores(...)["corrected"]``.

    Returns
    -------
    dict
        ``corrected_<pct>`` in per cent for each rate (``corrected_10`` for 10 % noise).
    """
    from ..tasks.refurbish import refurbish_labels, refurbish_scores, refurbish_setup

    ds, x = _loaded(name, n, seed)
    H = gram.gram(archs.get("2-L", ndim=archs.ndim_of(ds.image_shape)), x, progress=False)
    setup = refurbish_setup(H)
    out = {}
    for rate in rates:
        y_noisy, flipped = data.add_label_noise(ds.y, rate, 10, seed=seed + 1)
        res = refurbish_labels(
            H, y_noisy, setup=setup, steps=len(flipped), stop="never", score_against="initial"
        )
        out[f"corrected_{round(100 * rate)}"] = float(
            100 * refurbish_scores(ds.y, y_noisy, res.labels)["corrected"]
        )
    return out


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

    Widths ``max_width / 16, max_width / 4, max_width`` (chapter 7's ``[32, 128, 512]`` at
    ``max_width = 512``); per width the relative prediction difference at initialisation,
    averaged over ``n_inits`` initialisations ``PRNGKey(seed * n_inits + i)`` (seed 0: keys 0, 1,
    the chapter's), then the log-log slope against width (002's claim: -1/2).

    Returns
    -------
    dict
        ``slope`` and ``pred_diff_<width>`` for each width.
    """
    import jax

    from .. import (
        dynamics,  # noqa: F401 - first: `empirical` imported alone hits the
        empirical,  # dynamics <-> empirical import cycle (issue 27)
    )

    max_width = _checks.positive_int(max_width, "max_width", minimum=16)
    widths = [max_width // 16, max_width // 4, max_width]
    ds = data.load(dataset, n=n, n_test=n_test, seed=data_seed)
    x = data.normalize(ds.x_flat).astype(np.float64)
    x_test = data.normalize(ds.x_test_flat).astype(np.float64)
    x_both = np.concatenate([x, x_test])
    Y = data.one_hot(ds.y, ds.num_classes)
    diffs = {}
    for width in widths:
        init_w, apply_w, _ = archs.mlp(depth, width, ds.num_classes)
        per_init = []
        for i in range(n_inits):
            _, p0 = init_w(jax.random.PRNGKey(seed * n_inits + i), x.shape)
            K = empirical.entk(apply_w, p0, x_both, x)
            P = empirical.pntk(apply_w, p0, x_both, x)
            f0, f0t = np.asarray(apply_w(p0, x)), np.asarray(apply_w(p0, x_test))
            fe = empirical.entk_regression(K[:n], Y, K[n:], reg, f0_train=f0, f0_test=f0t)
            fp = empirical.pntk_regression(P[:n], Y, P[n:], reg, f0_train=f0, f0_test=f0t)
            per_init.append(empirical.relative_prediction_difference(fe, fp))
        diffs[width] = float(np.mean(per_init))
    slope = float(np.polyfit(np.log(widths), np.log([diffs[w] for w in widths]), 1)[0])
    return {"slope": slope, **{f"pred_diff_{w}": v for w, v in diffs.items()}}
