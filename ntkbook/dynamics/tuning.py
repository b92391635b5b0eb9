"""Choosing a training run's learning rate on a held-out part of the training set.

A comparison "kernel method vs a trained network" is only fair to the network if its step size
was chosen, not guessed.  :func:`select_lr` trains one run per candidate step on a random
``1 - val_frac`` of the training set, scores each on the held-out rest (never on the test set)
and returns the best candidate; the caller then trains on the whole training set with it.

Examples
--------
>>> from ntkbook import archs, data
>>> from ntkbook.dynamics import select_lr
>>> ds = data.load("digits", n=300, n_test=10)
>>> choice = select_lr(archs.get("2-L", width=128), data.normalize(ds.x), ds.y, lrs=[0.01, 1.0],
...                    num_classes=10, optimizer="momentum", epochs=5, batch_size=50)
>>> choice.lr in (0.01, 1.0) and set(choice.val_acc) == {0.01, 1.0}
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _checks
from .training import TrainingDiverged, train

__all__ = ["LrChoice", "select_lr", "validation_split"]


@dataclass(frozen=True)
class LrChoice:
    """The chosen learning rate and every candidate's validation accuracy.

    Attributes
    ----------
    lr
        The candidate with the highest validation accuracy (the smallest of tied ones).
    val_acc
        ``{candidate: accuracy on the held-out rows}``, in the order given; NaN for a candidate
        whose training loss became non-finite.
    n_val
        Number of held-out rows.
    diverged
        The candidates whose training diverged, in the order given.
    """

    lr: float
    val_acc: dict[float, float]
    n_val: int
    diverged: tuple[float, ...] = ()

    @property
    def ranked(self) -> list[float]:
        """The candidates that trained, best validation accuracy first (ties: smaller step first)."""
        return sorted(
            (lr for lr in self.val_acc if np.isfinite(self.val_acc[lr])),
            key=lambda lr: (-self.val_acc[lr], lr),
        )


def validation_split(n: int, val_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(fit rows, held-out rows)`` of ``n`` rows, the held-out part ``round(val_frac n)``.

    Returns
    -------
    fit, held_out : int arrays, shapes (n - m,) and (m,)
        Disjoint, together ``0 .. n-1``; drawn with ``numpy.random.default_rng(seed)``.
    """
    n = _checks.positive_int(n, "n", minimum=2)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    val_frac = _checks.real_scalar(val_frac, "val_frac", low=0.0, high=1.0, low_open=True, high_open=True)
    m = int(round(val_frac * n))
    if not 1 <= m <= n - 1:
        raise ValueError(
            f"val_frac={val_frac} holds out {m} of n={n} rows; it must leave at least one on each side."
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[m:]), np.sort(order[:m])


def select_lr(
    arch,
    x,
    y,
    *,
    lrs: Sequence[float],
    num_classes: int,
    val_frac: float = 0.2,
    seed: int = 0,
    **train_kw,
) -> LrChoice:
    """Pick the learning rate of :func:`ntkbook.dynamics.train` by held-out accuracy.

    Parameters
    ----------
    arch
        The network (as for :func:`ntkbook.dynamics.train`).
    x : array, shape ``(N, *feature_shape)``
    y : array, shape (N,)
        The training set; the test set is never seen here.
    lrs
        Candidate learning rates (each > 0, at least one, no repeats).
    num_classes
        Number of classes.
    val_frac
        Share of the training rows held out (:func:`validation_split` with ``seed``).
    seed
        Seed of the split and of every candidate's run (its initialisation and minibatch order).
    **train_kw
        The other keywords of :func:`ntkbook.dynamics.train` (``optimizer``, ``epochs``,
        ``batch_size``, ``loss`` ...), the same for every candidate.

    Returns
    -------
    LrChoice
        The best candidate (ties go to the smallest step) and every candidate's accuracy.  A
        candidate whose training diverges (:class:`ntkbook.dynamics.TrainingDiverged`) scores
        NaN and is never chosen.

    Raises
    ------
    TrainingDiverged
        Every candidate diverged (the grid is too coarse or too large).
    """
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or len(lrs) == 0:
        raise ValueError(f"lrs must be a non-empty sequence of learning rates; got {lrs!r}.")
    grid = [_checks.real_scalar(v, "lrs", low=0.0, low_open=True) for v in lrs]
    if len(set(grid)) != len(grid):
        raise ValueError(f"lrs must not repeat a value; got {list(lrs)}.")
    for key in ("lr", "x_test", "y_test", "seed"):
        if key in train_kw:
            raise TypeError(f"select_lr sets {key!r} itself; do not pass it.")
    x = np.asarray(x)
    y = _checks.labels(y, "y", num_classes=num_classes, n=len(x))
    fit, held = validation_split(len(x), val_frac, seed)
    # only the last epoch is scored: record it alone unless the caller asks for more
    kw = {"progress": False, "record_every": train_kw.get("epochs", 10), **train_kw}
    val_acc = {}
    for lr in grid:
        try:
            hist = train(
                arch,
                x[fit],
                y[fit],
                num_classes=num_classes,
                x_test=x[held],
                y_test=y[held],
                lr=lr,
                seed=seed,
                **kw,
            )
        except TrainingDiverged:
            val_acc[lr] = float("nan")  # a step that blows up is a failed candidate, not an error
            continue
        val_acc[lr] = float(hist.test_acc[-1])
    diverged = tuple(lr for lr in grid if not np.isfinite(val_acc[lr]))
    if len(diverged) == len(grid):
        raise TrainingDiverged(
            f"training diverged at every learning rate of lrs={list(lrs)}; try smaller steps."
        )
    choice = LrChoice(lr=float("nan"), val_acc=val_acc, n_val=len(held), diverged=diverged)
    return dataclasses.replace(choice, lr=choice.ranked[0])
