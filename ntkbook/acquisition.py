"""Pool-based active learning with eNTK look-ahead: chapter 9's acquisition loop.

The building blocks (the growing Cholesky factor, the rank-one look-ahead and the scores) live in
:mod:`ntkbook.active`; this module assembles them into the algorithm the chapter runs:

* :func:`acquire` -- one round: pick ``per_round`` points from the pool by one rule
  (``"look-ahead (output)"``, ``"look-ahead (loss)"``, ``"max-entropy"``, ``"random"``); the
  look-ahead rules pick greedily, adding each pick with its revealed label through
  :meth:`ntkbook.active.GrowingCholesky.append` and the rank-one update;
* :func:`network_state` -- the pNTK (float64) and outputs of a trained network on every point;
* :func:`learning_curve` -- retrain, acquire, repeat: test accuracy against the number of labels
  for one rule and one seed (the unit a seed ladder repeats).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from . import _checks, active

__all__ = ["STRATEGIES", "acquire", "network_state", "learning_curve"]

STRATEGIES: tuple[str, ...] = ("look-ahead (output)", "look-ahead (loss)", "max-entropy", "random")
"""The acquisition rules :func:`acquire` knows."""


def acquire(
    strategy: str,
    f0,
    Y,
    labelled,
    per_round: int,
    *,
    K=None,
    reg: float,
    temperature: float,
    seed: int,
    timings: list | None = None,
) -> np.ndarray:
    """Indices acquired in one round by one rule.

    Parameters
    ----------
    strategy
        One of :data:`STRATEGIES`.
    f0 : array, shape (P, O)
        The current network's outputs on every point of the training set (labelled + pool).
    Y : array, shape (P, O)
        One-hot labels of every point: rows of the labelled set are the training targets, a
        pool row is what the annotator reveals once that point is picked.
    labelled : array of int, shape (N,)
        Indices of the labelled points; the pool is every other index.
    per_round
        Points to acquire (>= 1, at most the pool's size).
    K : array, shape (P, P), optional
        The kernel (the network's pNTK) on every point; required by the look-ahead rules.
    reg
        Relative ridge: ``reg * trace(K_LL) / N``, chosen once per round and then held fixed in
        absolute units so that each rank-one update is the exact solve on the enlarged set.
    temperature
        Softmax temperature turning outputs into label beliefs ``q = softmax(f / T)``.
    seed
        Seed of the random rule.
    timings
        If a list, each greedy look-ahead step appends a dict with the rank-one step's seconds
        and those of the same scores by refactorising per candidate
        (:func:`ntkbook.active.output_change_direct`), and whether both pick the same point.

    Returns
    -------
    ndarray of int, shape (per_round,)
        The acquired indices, in the order picked.
    """
    strategy = _checks.one_of(strategy, "strategy", STRATEGIES)
    f0 = _checks.finite_array(f0, "f0", ndim=2, dtype=np.float64)
    Y = _checks.finite_array(Y, "Y", ndim=2, dtype=np.float64)
    if Y.shape != f0.shape:
        raise ValueError(f"Y must have the shape of f0 {f0.shape} (points x outputs); got {Y.shape}.")
    lab = _checks.indices(labelled, "labelled", len(f0), min_size=1)
    pool = np.setdiff1d(np.arange(len(f0)), lab)
    per_round = _checks.positive_int(per_round, "per_round")
    if per_round > len(pool):
        raise ValueError(f"per_round={per_round} exceeds the pool's {len(pool)} points.")
    if strategy == "random":
        return pool[active.top_k(active.score_random(len(pool), seed), per_round)]
    if strategy == "max-entropy":
        q = active.softmax(f0[pool], temperature)
        return pool[active.top_k(active.score_entropy(q), per_round)]
    if K is None:
        raise ValueError(f"strategy {strategy!r} needs the kernel K on every point; got K=None.")
    K = _checks.symmetric_matrix(K, "K")
    if K.shape[0] != len(f0):
        raise ValueError(f"K must be ({len(f0)}, {len(f0)}) like f0's points; got {K.shape}.")
    lab_rows = list(lab)  # grows by one point per acquisition
    ridge = active.relative_ridge(K[np.ix_(lab_rows, lab_rows)], reg)
    chol = active.GrowingCholesky(K[np.ix_(lab_rows, lab_rows)], ridge)
    f_now = f0 + K[:, lab_rows] @ chol.solve(Y[lab_rows] - f0[lab_rows])  # kernel regression from f0 on L
    picked: list[int] = []
    for _ in range(per_round):
        cand = np.setdiff1d(pool, picked)
        t0 = time.perf_counter()
        la = active.lookahead(
            chol, K[np.ix_(lab_rows, cand)], K[:, cand], K[:, lab_rows], np.diag(K)[cand], f_now, f_now[cand]
        )
        q = active.softmax(f_now[cand], temperature)
        score = (
            active.score_output_change(la, q)
            if strategy == "look-ahead (output)"
            else active.score_loss_change(la, q, temperature)
        )
        j = int(active.top_k(score, 1)[0])
        t_fast = time.perf_counter() - t0
        if timings is not None:
            t0 = time.perf_counter()
            slow = active.output_change_direct(K, f0, Y[lab_rows], lab_rows, cand, q, ridge)
            timings.append(
                dict(
                    labelled=len(lab_rows),
                    candidates=len(cand),
                    rank_one_s=t_fast,
                    direct_s=time.perf_counter() - t0,
                    same_pick=bool(int(np.argmax(slow)) == j)
                    if strategy == "look-ahead (output)"
                    else np.nan,
                )
            )
        c = int(cand[j])
        f_now = la.predictions(j, Y[c])  # the annotator reveals y_c
        chol.append(K[lab_rows, c], K[c, c])
        lab_rows.append(c)
        picked.append(c)
    return np.array(picked)


def network_state(apply_fn: Callable, params, x, *, kernel: bool = True):
    """Outputs (and the sum-of-logits pNTK) of a trained network on every point, in float64.

    Parameters
    ----------
    apply_fn, params
        The network (``History.apply_fn``, ``History.params``; float32 weights are cast).
    x : array, shape (P, D)
        Every point of the training set.
    kernel
        Also compute the pNTK (``False`` for the rules that need only outputs).

    Returns
    -------
    K : ndarray, shape (P, P) or None
    f0 : ndarray, shape (P, O)
    """
    import jax
    import jax.numpy as jnp

    from . import empirical

    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    f0 = np.asarray(apply_fn(params, x), dtype=np.float64)
    return (empirical.pntk(apply_fn, params, x) if kernel else None), f0


def learning_curve(
    arch,
    x,
    y,
    x_test,
    y_test,
    strategy: str,
    lab_init,
    seed: int,
    *,
    rounds: int,
    per_round: int,
    reg: float,
    temperature: float,
    train_kw: dict,
    timed_rounds: Sequence[int] = (),
    timings: list | None = None,
    fit_seconds: list | None = None,
) -> list[dict]:
    """Test accuracy against the number of labels for one rule and one seed.

    Each round retrains the network from the same initialisation (``seed``) on the labelled set
    with :func:`ntkbook.dynamics.train` (``train_kw``: loss, optimizer, lr, epochs) and acquires
    ``per_round`` points with :func:`acquire`; ``rounds`` acquisitions give ``rounds + 1``
    accuracies.

    Parameters
    ----------
    arch
        The network (:func:`ntkbook.archs.mlp` triple).
    x, y, x_test, y_test
        Training points (labelled + pool) with their labels, and the test set.
    strategy
        One of :data:`STRATEGIES`.
    lab_init : array of int
        The initially labelled indices.
    seed
        Initialisation seed of every retraining; the random rule's seed is ``1000 seed + round``.
    rounds, per_round, reg, temperature
        Acquisition rounds, points per round, relative ridge and softmax temperature.
    train_kw
        Keyword arguments of :func:`ntkbook.dynamics.train` besides the data and seed.
    timed_rounds, timings
        Rounds whose look-ahead steps append their timings to ``timings`` (see :func:`acquire`).
    fit_seconds
        If a list, each network fit appends its wall-clock seconds.

    Returns
    -------
    list of dict
        One per round: ``seed``, ``strategy``, ``labels`` and ``test_acc``.
    """
    from . import data
    from .dynamics import train

    y = _checks.labels(y, "y", n=len(x))
    o = int(max(y.max(), np.max(y_test))) + 1
    Y = data.one_hot(y, o)
    labelled = np.asarray(lab_init, dtype=int)
    rows = []
    for rnd in range(_checks.positive_int(rounds, "rounds", minimum=0) + 1):
        t0 = time.perf_counter()
        hist = train(
            arch,
            x[labelled],
            y[labelled],
            num_classes=o,
            x_test=x_test,
            y_test=y_test,
            seed=seed,
            progress=False,
            record_every=train_kw["epochs"],
            **train_kw,
        )
        if fit_seconds is not None:
            fit_seconds.append(time.perf_counter() - t0)
        rows.append(
            dict(seed=seed, strategy=strategy, labels=len(labelled), test_acc=float(hist.test_acc[-1]))
        )
        if rnd == rounds:
            break
        K, f0 = network_state(hist.apply_fn, hist.params, x, kernel=strategy.startswith("look-ahead"))
        new = acquire(
            strategy,
            f0,
            Y,
            labelled,
            per_round,
            K=K,
            reg=reg,
            temperature=temperature,
            seed=seed * 1000 + rnd,
            timings=timings if rnd in timed_rounds else None,
        )
        labelled = np.concatenate([labelled, new])
    return rows
