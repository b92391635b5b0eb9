"""One seed of DeOliveira et al.'s Tables 6-8 at a given size: (dataset, n, seed) in, ledger numbers out.

Chapters 12-14 loop these over seeds; :mod:`ntkbook.evidence` can run them up a scale ladder.

* :func:`kernel_gram` -- the infinite-width Gram matrix of a zoo architecture on images,
  flattening the inputs first for the fully connected ones (the same kernel: their first
  layer is ``Flatten``; on 28x28 images about 10x cheaper than letting the layer
  interpreter carry 784 pixel covariances) with one large block;
* :func:`kernel_accuracy` -- test accuracy of kernel regression on clean labels;
* :func:`table6_seed` -- ``L(Z)`` of the paper's five label schemes and a trained 2-L
  network's final training loss on each;
* :func:`table7_seed` -- Z's bias predictions against a trained 2-L ground truth (RBO),
  with its train and test accuracy;
* :func:`table8_seed` -- Algorithm 1 (printed reading, L = number of corrupted labels) on
  one noise draw per rate, sharing one factorisation;
* :func:`close_to` -- the verdict "our interval lies within ``tol`` of the paper's value".
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from .bias import bias_scores, trained_rankings
from .labels import gram_label_matrix, rank_labelings
from .refurbish import refurbish_labels, refurbish_scores, refurbish_setup

__all__ = [
    "kernel_gram",
    "kernel_accuracy",
    "table6_seed",
    "table7_seed",
    "table8_seed",
    "close_to",
    "FLAT_ARCHS",
]

FLAT_ARCHS = ("2-L", "10-L")
"""Zoo architectures whose first layer flattens the input (their kernel sees flat vectors)."""


def kernel_gram(arch: str, x, x2=None) -> np.ndarray:
    """Gram matrix (float64) of zoo architecture ``arch`` on images ``x`` (N, H, W, C).

    Parameters
    ----------
    arch
        A name of :func:`ntkbook.archs.get`.
    x : array, shape ``(N, *image_shape)``
    x2 : array, shape ``(M, *image_shape)``, optional
        Second batch (columns of the result, as in :func:`ntkbook.gram.gram`).

    Returns
    -------
    ndarray, shape (N, N) or (N, M)
    """
    from .. import archs, gram

    x = np.asarray(x, dtype=np.float64)
    if arch in FLAT_ARCHS:
        # the MLPs flatten first: their state is one number per pair of inputs
        # (ntkbook.layers), so large blocks are cheap
        x2 = None if x2 is None else np.asarray(x2, dtype=np.float64)
        return gram.gram(archs.get(arch), x, x2, batch_size=1000, progress=False)
    kfn = archs.get(arch, ndim=archs.ndim_of(x.shape[1:]))
    return gram.gram(kfn, x, x2, progress=False)


def kernel_accuracy(arch: str, H, x, y, x_test, y_test) -> float:
    """Test accuracy of kernel regression on one-hot clean labels, no ridge.

    Parameters
    ----------
    arch
        Zoo architecture of ``H``.
    H : array, shape (N, N)
        ``kernel_gram(arch, x)``.
    x, y : arrays, shapes (N, ...), (N,)
    x_test, y_test : arrays, shapes (M, ...), (M,)

    Returns
    -------
    float
        Share of test points whose largest predicted output is their label.
    """
    from .. import data
    from ..linalg import kernel_regression

    y = _checks.labels(y, "y", n=len(H))
    y_test = _checks.labels(y_test, "y_test")
    K_te = kernel_gram(arch, x_test, x)  # (M, N): test rows
    pred = kernel_regression(H, data.one_hot(y, int(y.max()) + 1), K_te).argmax(1)
    return float(np.mean(pred == y_test))


def _load(dataset: str, n: int, seed: int):
    from .. import data

    ds = data.load(dataset, n=_checks.positive_int(n, "n", minimum=20), seed=seed)
    return ds, data.normalize(ds.x).astype(np.float64)


def table6_seed(
    dataset: str,
    n: int,
    seed: int,
    *,
    noise_rates=(0.1, 0.3, 0.7),
    arch: str = "2-L",
    width: int = 256,
    epochs: int = 15,
    lr: float = 0.03,
    batch_size: int = 50,
    net=None,
    dtype=np.float32,
) -> dict:
    """One seed of Table 6: ``L(Z)`` and a trained 2-L's final training loss per label scheme.

    The seed sets the images drawn, the noise draw (``seed + 1``) and the initialisation.

    Returns
    -------
    dict
        ``L`` and ``train_loss``: scheme -> value for ``"1 Class"``, ``"clean"`` and
        ``"{rate:.0%} noise"``; ``train_acc_clean``: the network's final training accuracy on
        the clean labels; ``H``, ``ds``, ``labels``.
    """
    from .. import archs, data
    from ..dynamics import train

    ds, x = _load(dataset, n, seed)
    H = kernel_gram(arch, x)
    labs = {"1 Class": np.zeros_like(ds.y), "clean": ds.y}
    for rate in noise_rates:
        labs[f"{rate:.0%} noise"] = data.add_label_noise(ds.y, rate, 10, seed=seed + 1)[0]
    ranked = rank_labelings(H, labs)
    net = archs.get("2-L", width=width) if net is None else net
    hist = {
        lab: train(
            net,
            x,
            y,
            num_classes=10,
            optimizer="adam",
            lr=lr,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            record_every=epochs,
            progress=False,
            dtype=dtype,
        )
        for lab, y in labs.items()
    }
    return dict(
        L={lab: float(ranked.loc[lab, "L"]) for lab in labs},
        train_loss={lab: float(h.train_loss[-1]) for lab, h in hist.items()},
        train_acc_clean=float(hist["clean"].train_acc[-1]),
        H=H,
        ds=ds,
        labels=labs,
    )


def table7_seed(
    dataset: str,
    n: int,
    seed: int,
    *,
    p: float = 0.9,
    arch: str = "2-L",
    width: int = 256,
    epochs: int = 20,
    lr: float = 0.03,
    batch_size: int = 50,
    checkpoints=(2, 5, 10, 20),
    n_test: int = 1000,
    dtype=np.float32,
    net=None,
    reg: float = 0.0,
) -> dict:
    """One seed of Table 7: Z of the infinite-width kernel, a trained 2-L ground truth, the RBOs.

    The seed sets the draw of the ``n`` training images (``data.load(dataset, n, seed)``),
    the network's initialisation and minibatch order, and the random floors.

    Parameters
    ----------
    dataset
        A name :func:`ntkbook.data.load` knows (``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``).
    n, seed
        Training images and seed.
    p
        RBO persistence.
    arch
        Zoo architecture of the kernel (:func:`kernel_gram`).
    width, epochs, lr, batch_size
        The finite 2-L network (Adam, cross-entropy) that gives the ground truth.  Adam's
        step acts on NTK-parameterised weights, so 0.03 (not the usual 0.003, which leaves the
        network near 80 % training accuracy on MNIST after 20 epochs) trains it to fit.
    checkpoints
        Epochs whose per-class accuracies and probabilities are averaged (all <= ``epochs``).
    n_test
        Held-out images scored for the network's test accuracy (reported, not used).
    dtype
        Training precision (float32: the ground truth needs no float64, and trains faster).
    net
        A prebuilt network to reuse (same compiled step across seeds); default
        ``archs.get("2-L", width=width)``.
    reg
        Relative ridge of Z's solve (:func:`ntkbook.tasks.gram_label_matrix`); 0, the
        chapter's, unless the Gram matrix is singular (exact duplicate images).

    Returns
    -------
    dict
        ``intra``, ``inter``, ``rand_intra``, ``rand_inter`` (see
        :func:`ntkbook.tasks.bias.bias_scores`), ``train_acc`` and ``test_acc`` of the trained
        network after the last epoch, ``intra_true`` (K,) and ``inter_true`` (K, K - 1) (its
        rankings, for the seed-to-seed agreement of the ground truth), ``H`` (n, n), ``gl``,
        ``ds``.
    """
    from .. import archs, data
    from ..dynamics import train

    seed = _checks.positive_int(seed, "seed", minimum=0)
    epochs = _checks.positive_int(epochs, "epochs")
    cps = sorted(_checks.epoch_list(checkpoints, "checkpoints", epochs))
    ds, x = _load(dataset, n, seed)
    H = kernel_gram(arch, x)
    gl = gram_label_matrix(H, ds.y, reg)
    net = archs.get("2-L", width=width) if net is None else net
    h = train(
        net,
        x,
        ds.y,
        num_classes=gl.Z.shape[0],
        optimizer="adam",
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        dtype=dtype,
        record_at=cps,  # only the checkpoints are read (and the last epoch, always recorded)
    )
    # the test set is scored once, after training (not at every recorded epoch)
    xt = data.normalize(ds.x_test[:n_test]).astype(dtype)
    test_acc = float(np.mean(np.asarray(h.predict(xt)).argmax(1) == ds.y_test[:n_test]))
    sel = np.isin(h.epoch, cps)
    intra_true, inter_true = trained_rankings(h.class_acc[sel], h.class_prob[sel])
    sc = bias_scores(gl.Z, gl.counts, intra_true, inter_true, p, seed=seed)
    sc.update(
        train_acc=float(h.train_acc[-1]),
        test_acc=test_acc,
        intra_true=intra_true,
        inter_true=inter_true,
        H=H,
        gl=gl,
        ds=ds,
    )
    return sc


def table8_seed(
    H, y_true, seed: int, noise_rates=(0.1, 0.2, 0.3, 0.7), *, score_against: str = "initial", setup=None
) -> dict:
    """One noise draw per rate of Table 8: Algorithm 1 for L = number of corrupted labels.

    The Gram matrix depends on the images only, so several seeds (noise draws) share it and
    its factorisation (``setup``, :func:`ntkbook.tasks.refurbish_setup`).

    Parameters
    ----------
    H : array, shape (N, N)
    y_true : array, shape (N,)
        Clean labels (10 classes).
    seed
        Seed of the noise draws (``data.add_label_noise(..., seed=seed)``).
    noise_rates
        Shares of labels to corrupt.
    score_against
        Reading of Algorithm 1 (``"initial"``: as printed).
    setup
        Shared factorisation of ``H``; built here when ``None``.

    Returns
    -------
    dict
        rate -> {``corrected``, ``clean_changed``, ``n_noisy``} (shares in [0, 1]).
    """
    from .. import data

    setup = refurbish_setup(H) if setup is None else setup
    out = {}
    for rate in noise_rates:
        y_noisy, flipped = data.add_label_noise(y_true, rate, 10, seed=seed)
        res = refurbish_labels(
            H, y_noisy, steps=max(len(flipped), 1), stop="never", score_against=score_against, setup=setup
        )
        sc = refurbish_scores(y_true, y_noisy, res.labels)
        out[rate] = dict(
            corrected=sc["corrected"], clean_changed=sc["clean_changed"], n_noisy=int(len(flipped))
        )
    return out


def close_to(lo: float, hi: float, target: float, tol: float) -> str:
    """Verdict of "our value is within ``tol`` of ``target``" from our interval ``[lo, hi]``.

    ``"reproduced"`` when the whole interval lies inside ``[target - tol, target + tol]``,
    ``"not reproduced"`` when it lies wholly outside, ``"inconclusive"`` when it straddles an
    edge of the band.
    """
    lo, hi, target, tol = (float(v) for v in (lo, hi, target, tol))
    if not lo <= hi or tol < 0:
        raise ValueError(f"need lo <= hi and tol >= 0; got lo={lo}, hi={hi}, tol={tol}.")
    if target - tol <= lo and hi <= target + tol:
        return "reproduced"
    if hi < target - tol or lo > target + tol:
        return "not reproduced"
    return "inconclusive"
