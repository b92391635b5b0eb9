"""Architecture selection judged against training: networks by name, Gram matrices, ground truth.

Chapter 11 scores architectures from their infinite-width Gram matrices
(:mod:`ntkbook.tasks.architecture`) and asks whether the score predicts which *finite*
network trains better (DeOliveira et al., Tables 3 and 5).  This module holds the pieces
both halves share, so that the chapter, chapter 10's cost tables and the evidence ladders
compute the same thing:

* :func:`network` -- one network object per (name, outputs, input dimensions, width): the
  zoo's names (:func:`ntkbook.archs.get`) and the paper's 2-L/10-L convention
  (:data:`ntkbook.tasks.PAPER_HIDDEN_LAYERS`).  The object is cached, so every Gram matrix and
  every training run of one architecture reuses the kernels and the training step XLA
  compiled for it (both caches key on the network's functions).
* :func:`make_gram` -- the Gram matrix of a named kernel, including ``"2-L eq. 4"`` (the
  closed form of the paper's eq. 4, Complexity-Gap's kernel), in equal blocks
  (:func:`equal_blocks`).
* :func:`finite_pair` and :func:`trained_accuracies` -- small finite versions of Table 3's
  two architectures and their train/test accuracies over several initialisation seeds with
  :func:`ntkbook.dynamics.train` (the package's one training loop).
* :func:`kpca_vs_training` -- one dataset's Table 3 cell both ways, with ``(n, seed)``
  arguments: the kernel-PCA ratios of 2-L and CNN-2 and the finite networks' accuracies.
* :func:`trained_ranking` -- Table 5's ground truth: architectures ordered by mean test
  accuracy over seeds, each adjacent pair with the interval of its gap, so that a ranking is
  only used where its order is resolved beyond the seed spread.
* :func:`beside_paper` and :func:`glue_key` -- the chapter's tables with the paper's row
  under ours, and glue keys from dataset/architecture names.

This module sits above :mod:`ntkbook.tasks` and :mod:`ntkbook.dynamics` (it imports both);
neither imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import _checks, archs, claims, closed_form, data, gram
from .dynamics import train
from .tasks import architecture as _arch

__all__ = [
    "EQ4_KERNEL",
    "network",
    "equal_blocks",
    "make_gram",
    "finite_pair",
    "trained_accuracies",
    "kpca_vs_training",
    "trained_ranking",
    "rank_candidates",
    "RANK_NAMES",
    "beside_paper",
    "glue_key",
]

EQ4_KERNEL = "2-L eq. 4"
"""Name of the paper's eq. 4 kernel (two-layer ReLU NTK, first layer trained, no bias)."""


@functools.lru_cache(maxsize=64)
def _network(name: str, out_dim: int, ndim: int, width: int | None):
    if name in _arch.PAPER_HIDDEN_LAYERS:  # the paper's 2 / 10 hidden layers
        return _arch.paper_convention_mlp(name, out_dim, width or 512)
    return archs.get(name, out_dim=out_dim, width=width, ndim=ndim)


def network(name: str, out_dim: int = 10, ndim: int = 2, width: int | None = None):
    """The network called ``name``, built once per ``(name, out_dim, ndim, width)``.

    Parameters
    ----------
    name
        A zoo name (:func:`ntkbook.archs.names`) or a paper-convention name
        (:data:`ntkbook.tasks.PAPER_HIDDEN_LAYERS`: ``"2-L (2 hidden)"``, ``"10-L (10 hidden)"``).
    out_dim
        Number of outputs (classes).
    ndim
        2 for images ``(N, H, W, C)``, 1 for signals ``(N, L, C)``; ignored by the MLPs.
    width
        Dense width of the finite network (``None``: the zoo's 512); the kernel ignores it.

    Returns
    -------
    archs.Arch
        The same object on every call with the same arguments, so that its compiled Gram
        blocks and training step are reused.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be an architecture name (str); got {type(name).__name__}.")
    if name not in archs.names() and name not in _arch.PAPER_HIDDEN_LAYERS:
        raise ValueError(
            f"name={name!r} is neither a zoo architecture {archs.names()} nor a "
            f"paper-convention one {sorted(_arch.PAPER_HIDDEN_LAYERS)}."
        )
    out_dim = _checks.positive_int(out_dim, "out_dim")
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 (signals) or 2 (images); got {ndim!r}.")
    width = None if width is None else _checks.positive_int(width, "width")
    return _network(name, out_dim, int(ndim), width)


def equal_blocks(n: int, max_block: int) -> int:
    """Block side for ``n`` rows in equal blocks of at most ``max_block`` (no mostly-padding block).

    ``ceil(n / ceil(n / max_block))``: e.g. ``n = 150, max_block = 16`` gives 10 blocks of 15.
    """
    n = _checks.positive_int(n, "n")
    max_block = _checks.positive_int(max_block, "max_block")
    return -(-n // -(-n // max_block))


def make_gram(x, name: str, out_dim: int = 10, ndim: int = 2, *, max_block: int | None = None) -> np.ndarray:
    """Infinite-width NTK Gram matrix of the kernel called ``name`` on inputs ``x``.

    Parameters
    ----------
    x : array, shape ``(N, *feature_shape)``
        Inputs (unit-normalised rows for the paper's setting, :func:`ntkbook.data.normalize`).
    name
        :data:`EQ4_KERNEL` (``relu_ntk_eq4`` on the flattened inputs) or any name
        :func:`network` accepts.
    out_dim, ndim
        As in :func:`network` (the kernel does not depend on ``out_dim``).
    max_block
        Largest block side for :func:`ntkbook.gram.gram`; the blocks are made equal
        (:func:`equal_blocks`).  ``None``: one block.

    Returns
    -------
    ndarray, shape (N, N)
        float64.
    """
    x = _checks.nonempty(_checks.finite_array(x, "x"), "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, *feature_shape); got {x.shape}.")
    if name == EQ4_KERNEL:
        return np.asarray(closed_form.relu_ntk_eq4(np.asarray(x, np.float64).reshape(len(x), -1)))
    block = len(x) if max_block is None else equal_blocks(len(x), max_block)
    return gram.gram(network(name, out_dim, ndim), x, batch_size=block, progress=False)


@functools.lru_cache(maxsize=16)
def _pair(out_dim: int, ndim: int, width: int, channels: int):
    return {
        "2-L": archs.mlp(2, width, out_dim),
        "CNN-2": archs.cnn([channels] * 4, [width] * 4, out_dim, ndim=ndim),
    }


def finite_pair(out_dim: int, ndim: int = 2, width: int = 64, channels: int = 8) -> dict:
    """Small finite versions of Table 3's two architectures, built once per argument tuple.

    ``"2-L"`` is the zoo's 2-L at dense width ``width``; ``"CNN-2"`` has CNN-2's layers (4
    convolutions, 4 hidden dense layers, flatten readout) with ``channels`` filters per
    convolution and dense width ``width`` -- the zoo's 256 channels cost too much to train on
    a CPU.  Their infinite-width kernels are those of ``archs.get("2-L")`` and
    ``archs.get("CNN-2")`` (channel counts and widths do not enter the limit).

    Returns
    -------
    dict
        ``{"2-L": Arch, "CNN-2": Arch}``.
    """
    out_dim = _checks.positive_int(out_dim, "out_dim")
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 (signals) or 2 (images); got {ndim!r}.")
    return _pair(
        out_dim, int(ndim), _checks.positive_int(width, "width"), _checks.positive_int(channels, "channels")
    )


def trained_accuracies(
    nets: Mapping[str, object],
    x,
    y,
    x_test,
    y_test,
    *,
    num_classes: int,
    seeds: Sequence[int],
    **train_kwargs,
) -> pd.DataFrame:
    """Final train and test accuracy of each finite network, once per initialisation seed.

    Parameters
    ----------
    nets
        ``{name: network}`` (e.g. :func:`finite_pair`).
    x : array, shape ``(N, *feature_shape)``
    y : array, shape (N,)
    x_test : array, shape ``(M, *feature_shape)``
    y_test : array, shape (M,)
        Training and held-out data, the same for every network and seed.
    num_classes
        K.
    seeds
        Initialisation (and minibatch-order) seeds, at least one, distinct.
    **train_kwargs
        Passed to :func:`ntkbook.dynamics.train` (``optimizer``, ``lr``, ``epochs``,
        ``batch_size``, ...); ``progress`` and ``record_every`` are set here.

    Returns
    -------
    pandas.DataFrame
        One row per (network, seed): ``arch``, ``seed``, ``train_acc``, ``test_acc``
        (the last recorded epoch of :class:`ntkbook.dynamics.History`).
    """
    if not isinstance(nets, Mapping) or not nets:
        raise ValueError("nets must be a non-empty mapping {name: network}.")
    seeds = [_checks.positive_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct seeds; got {seeds!r}.")
    for key in ("progress", "record_every", "x_test", "y_test", "seed"):
        if key in train_kwargs:
            raise ValueError(f"{key} is set by trained_accuracies; do not pass it.")
    epochs = _checks.positive_int(train_kwargs.get("epochs", 10), "epochs")
    rows = []
    for name, net in nets.items():
        for s in seeds:
            hist = train(
                net,
                x,
                y,
                num_classes=num_classes,
                x_test=x_test,
                y_test=y_test,
                seed=s,
                progress=False,
                record_every=epochs,
                **train_kwargs,
            )
            rows.append(
                dict(
                    arch=name, seed=s, train_acc=float(hist.train_acc[-1]), test_acc=float(hist.test_acc[-1])
                )
            )
    return pd.DataFrame(rows)


def kpca_vs_training(
    dataset: str,
    n: int,
    seed: int = 0,
    *,
    n_test: int = 400,
    train_seeds: Sequence[int] = (0, 1, 2, 3, 4),
    n_components: int = 4,
    max_block: int = 16,
    width: int = 64,
    channels: int = 8,
    optimizer: str = "adam",
    lr: float = 0.01,
    epochs: int = 20,
    batch_size: int | None = None,
    rescale: bool = True,
    grams: Mapping[str, np.ndarray] | None = None,
) -> dict:
    """One Table 3 cell both ways: kernel-PCA ratios of 2-L and CNN-2, and their finite networks.

    Parameters
    ----------
    dataset
        A name for :func:`ntkbook.data.load` (``"corners"``, ``"shapes"``, ``"mnist"``, ...).
    n, seed
        Training subsample size and its seed (``data.load(dataset, n, seed, n_test=n_test)``);
        the Gram matrices and the training use the same ``n`` normalised inputs.
    n_test
        Held-out images the trained networks are scored on.
    train_seeds
        Initialisation seeds of the finite networks (the Gram matrices do not depend on them).
    n_components, max_block
        Kernel PCA components (:func:`ntkbook.tasks.kpca_separation`, ``which="low"``) and
        the Gram block side (:func:`make_gram`).
    width, channels
        Sizes of :func:`finite_pair`.
    optimizer, lr, epochs, batch_size
        Training (:func:`ntkbook.dynamics.train`, cross-entropy; ``batch_size=None`` is full
        batch).
    rescale
        Train on the unit-norm inputs times ``sqrt(D)`` (D features: pixels of mean square
        1) rather than on the unit-norm rows, whose pixels are ``~1/sqrt(D)``: in NTK
        parameterization a dense layer on 784 pixels of size 0.04 barely moves in a few
        dozen steps, which would handicap 2-L against the CNN for a reason that has nothing
        to do with the architecture.  The direction of every input is unchanged.
    grams
        ``{"2-L": H, "CNN-2": H}`` already computed on these inputs (skips the kernels).

    Returns
    -------
    dict
        ``ratio`` ({arch: kernel-PCA ratio}), ``kernel_pick`` (the arch with the larger ratio),
        ``acc`` (the :func:`trained_accuracies` frame), ``gap`` (shape ``(len(train_seeds),)``:
        CNN-2 minus 2-L test accuracy per seed), ``n``, ``n_test``.
    """
    ds = data.load(dataset, n=n, seed=seed, n_test=n_test)
    x, x_test = data.normalize(ds.x), data.normalize(ds.x_test)
    nd = archs.ndim_of(ds.image_shape)
    if grams is None:
        grams = {a: make_gram(x, a, ds.num_classes, nd, max_block=max_block) for a in ("2-L", "CNN-2")}
    ratio = {
        a: float(_arch.kpca_separation(grams[a], ds.y, n_components, "low").ratio) for a in ("2-L", "CNN-2")
    }
    scale = float(np.sqrt(np.prod(x.shape[1:]))) if rescale else 1.0
    acc = trained_accuracies(
        finite_pair(ds.num_classes, nd, width, channels),
        scale * x,
        ds.y,
        scale * x_test,
        ds.y_test,
        num_classes=ds.num_classes,
        seeds=train_seeds,
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
    )
    wide = acc.pivot(index="seed", columns="arch", values="test_acc")
    return dict(
        ratio=ratio,
        kernel_pick=max(ratio, key=lambda a: ratio[a]),
        acc=acc,
        gap=(wide["CNN-2"] - wide["2-L"]).to_numpy(),
        n=len(ds.y),
        n_test=len(ds.y_test),
    )


def rank_candidates(image_shape: Sequence[int], num_classes: int, *, width: int, channels: int) -> dict:
    """The four architectures chapter 11 ranks in the form of the paper's Table 5.

    Two fully connected networks (2 and 8 layers of ``width``) and two CNNs (two 3-wide
    convolutions of ``channels``, with and without stride 2, then a dense layer of ``width``),
    for inputs of ``image_shape`` (1-D signals ``(L, C)`` or images ``(H, W, C)``).

    Returns
    -------
    dict
        ``{name: network}`` in the chapter's order (the names are :data:`RANK_NAMES`).
    """
    nd = archs.ndim_of(tuple(image_shape))
    w, c, k = width, channels, num_classes
    nets = (
        archs.mlp(2, w, k),
        archs.mlp(8, w, k),
        archs.cnn([c, c], [w], k, ndim=nd),
        archs.cnn([c, c], [w], k, stride=2, ndim=nd),
    )
    return dict(zip(RANK_NAMES, nets, strict=True))


RANK_NAMES: tuple[str, ...] = ("MLP depth 2", "MLP depth 8", "CNN 2 conv k3", "CNN 2 conv k3 stride 2")
"""The names of :func:`rank_candidates`' architectures, in its order."""


def trained_ranking(acc: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Architectures ordered by mean test accuracy over seeds, with the gap to the next one.

    The ground truth a training-free ranking is judged against is itself measured: with a
    few seeds per architecture, two neighbours of the trained order may differ by less than
    their seed spread, and then their order is noise.  Each adjacent pair ``(a, b)`` of the
    order gets the Student-t interval of ``test_acc[a, s] - test_acc[b, s]`` over the seeds
    ``s`` (:func:`ntkbook.claims.interval`; seeds of different networks are independent, so
    pairing them by seed number is only a convenient way to form the differences).

    Parameters
    ----------
    acc
        A :func:`trained_accuracies` frame: columns ``arch``, ``seed``, ``train_acc``,
        ``test_acc``; every architecture trained on the same seeds (at least 2).
    level
        Confidence level of the gap intervals.

    Returns
    -------
    pandas.DataFrame
        Index ``arch``, best first (ties keep first appearance); columns ``train_acc``,
        ``test_acc`` (means over seeds), ``test_sd`` (sample sd), ``trained_rank`` (1 = best),
        ``gap_next``, ``gap_lo``, ``gap_hi`` (the gap to the next architecture and its
        interval; NaN on the last row) and ``resolved`` (``gap_lo > 0``; ``False`` on the last
        row).
    """
    need = {"arch", "seed", "train_acc", "test_acc"}
    if not isinstance(acc, pd.DataFrame) or not need <= set(acc.columns):
        raise ValueError(f"acc must be a trained_accuracies frame with columns {sorted(need)}.")
    wide = acc.pivot(index="seed", columns="arch", values="test_acc")
    if wide.isna().any().any() or len(wide) < 2:
        raise ValueError(
            "every architecture needs the same seeds, at least 2 (the gaps are intervals over seeds); "
            f"got seeds {sorted(acc.seed.unique())} with missing runs: {bool(wide.isna().any().any())}."
        )
    names = list(dict.fromkeys(acc.arch))
    mean = wide.mean()[names]
    order = list(mean.sort_values(ascending=False, kind="stable").index)
    rows = []
    for k, a in enumerate(order):
        row = dict(
            arch=a,
            train_acc=float(acc.loc[acc.arch == a, "train_acc"].mean()),
            test_acc=float(mean[a]),
            test_sd=float(wide[a].std(ddof=1)),
            trained_rank=k + 1,
            gap_next=np.nan,
            gap_lo=np.nan,
            gap_hi=np.nan,
            resolved=False,
        )
        if k + 1 < len(order):
            iv = claims.interval((wide[a] - wide[order[k + 1]]).to_numpy(), level=level)
            row.update(gap_next=iv.mean, gap_lo=iv.lo, gap_hi=iv.hi, resolved=bool(iv.lo > 0))
        rows.append(row)
    return pd.DataFrame(rows).set_index("arch")


def beside_paper(
    long: pd.DataFrame,
    measure: str,
    paper: pd.DataFrame,
    datasets: Sequence[str],
    kernels: Sequence[str],
) -> pd.DataFrame:
    """One measure per (dataset, protocol) and kernel, with the paper's row under each dataset.

    Parameters
    ----------
    long
        One row per (dataset, arch, protocol) with a column ``measure`` (chapter 11's Table 4
        frame).
    measure
        The column to show (``"auc"``, ``"found"``).
    paper
        The paper's values: index datasets, columns kernels (missing kernels become NaN).
    datasets, kernels
        Row and column order.

    Returns
    -------
    pandas.DataFrame
        Index ``(dataset, protocol)`` in ``datasets`` order, ours first and ``(dataset,
        "paper")`` last for every dataset the paper reports; columns ``kernels``.
    """
    for col in ("dataset", "arch", "protocol", measure):
        if col not in long.columns:
            raise ValueError(f"long must have a column {col!r}; it has {list(long.columns)}.")
    table = long.pivot_table(index=["dataset", "protocol"], columns="arch", values=measure)
    table = table.loc[list(datasets), list(kernels)]
    blocks = []
    for d in datasets:
        block = table.loc[[d]]
        if d in paper.index:
            row = paper.loc[d].reindex(list(kernels)).to_frame().T
            row.index = pd.MultiIndex.from_tuples([(d, "paper")], names=table.index.names)
            block = pd.concat([block, row])
        blocks.append(block)
    out = pd.concat(blocks)
    out.columns.name = table.columns.name
    return out


def glue_key(name: str, prefix: str = "ch11_") -> str:
    """A glue key from free text: spaces become underscores, then only letters, digits and ``_``.

    >>> glue_key("t3_mnist_CNN-2")
    'ch11_t3_mnist_CNN2'
    >>> glue_key("2-L (2 hidden)", prefix="")
    '2L_2_hidden'
    """
    if not isinstance(name, str) or not isinstance(prefix, str):
        raise TypeError(
            f"name and prefix must be str; got {type(name).__name__} and {type(prefix).__name__}."
        )
    return prefix + "".join(ch for ch in name.replace(" ", "_") if ch.isalnum() or ch == "_")
