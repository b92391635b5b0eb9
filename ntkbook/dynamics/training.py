"""Finite-width training with optax: the ground truth the training-free tools are judged against.

:func:`train` fits the finite network of any zoo architecture (its ``init_fn`` and
``apply_fn``; the parameterization and width come from how the architecture was
built, e.g. ``archs.get("CNN-1", width=256, parameterization="standard")``) and
records, per epoch, what the chapters compare with the Gram-matrix scores:

* train/test loss and accuracy, evaluated on the *whole* set with the parameters
  at the end of the epoch (not a running average over minibatches);
* per-class train accuracy, ``class_acc[e, k]``;
* per-class mean softmax probability vectors, ``class_prob[e, k]`` = mean of
  ``softmax(f(x_i))`` over training samples ``i`` of true class ``k`` (chapter 13
  reads the bias of a network towards a class off these).

Losses are *means* over the samples of a batch (the usual convention of a
training loop; :func:`ntkbook.dynamics.gd_trajectory` uses sums to match the
gradient-flow time scale instead):

* ``"mse"``: ``L = 1/(2B) sum_i ||f(x_i) - e_{y_i}||^2`` with one-hot targets
  ``e_k`` (``centered=True`` subtracts ``1/K`` from every entry);
* ``"xent"``: ``L = -1/B sum_i log softmax(f(x_i))_{y_i}``.

Randomness is all ``jax.random``: ``init_key, shuffle_key = split(PRNGKey(seed))``;
the initial parameters come from ``init_fn(init_key, x.shape)`` and the
minibatch order of epoch ``e`` (1-based) from
``permutation(fold_in(shuffle_key, e), N)``.  Same seed, same history.

Examples
--------
>>> from ntkbook import archs, data
>>> from ntkbook.dynamics import train
>>> ds = data.load("digits", n=300, n_test=200)
>>> hist = train(archs.get("2-L", width=256), data.normalize(ds.x), ds.y, num_classes=10,
...              x_test=data.normalize(ds.x_test), y_test=ds.y_test, optimizer="adam",
...              lr=0.01, epochs=20, batch_size=50, progress=False)
>>> bool(hist.test_acc[-1] > 0.8)     # held-out accuracy after 20 epochs (about 0.9)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from .. import _checks, losses
from .._numerics import softmax
from .._prng import same_draws
from .._x64 import x64_scope
from .loop import OPTIMIZERS, compiled_step, make_optimizer, run_epochs

__all__ = ["History", "TrainingDiverged", "train", "TRAIN_LOSSES", "OPTIMIZERS"]

TRAIN_LOSSES: tuple[str, ...] = losses.LOSSES
"""Losses accepted by :func:`train` (:data:`ntkbook.losses.LOSSES`)."""


class TrainingDiverged(ValueError):
    """The training loss became non-finite: the step was too large for the network.

    A ``ValueError`` (the user's ``lr`` was unusable), kept apart so that a learning-rate
    search (:func:`ntkbook.dynamics.select_lr`) can score such a candidate as failed while
    every other bad input still stops it.
    """


@dataclass(frozen=True)
class History:
    """What :func:`train` recorded.

    Attributes
    ----------
    epoch : ndarray, shape (E,)
        Epochs at which the metrics were recorded (0 = at initialisation, when
        ``record_init=True``; epoch ``e`` = after ``e`` passes over the data).
    train_loss, train_acc : ndarray, shape (E,)
        Loss (the training loss, averaged over all N training samples) and
        accuracy on the training set.
    test_loss, test_acc : ndarray, shape (E,) or (0,)
        The same on the test set; empty when no test set was given.
    class_acc : ndarray, shape (E, K)
        Train accuracy restricted to the samples of each true class; NaN for a
        class with no training sample.  Averaging a row with weights
        ``n_k / N`` gives ``train_acc``.
    class_prob : ndarray, shape (E, K, K)
        ``class_prob[e, k]`` is the mean softmax probability vector over the
        training samples of true class ``k`` (NaN row for an absent class).
    wall_time : float
        Seconds spent in parameter updates (including the compilation of the
        update step, unless an earlier call with the same ``apply_fn``, loss,
        optimizer, lr, dtype and batch shape already compiled it), excluding the
        evaluations for the history.
    params
        Final parameters (pytree).
    apply_fn : callable
        ``apply_fn(params, x) -> (N, K)`` logits.
    num_classes, loss, optimizer, lr, batch_size, seed
        The settings of the run (``batch_size`` = N for full batch).
    steps : int
        Number of parameter updates performed.
    epoch_time : ndarray, shape (epochs,)
        Wall seconds of the updates of each epoch (the first includes any compilation).
    cpu_time : float
        Process CPU seconds (all threads) spent in the updates: on a shared
        machine a steadier measure of cost than ``wall_time``.
    epoch_cpu_time : ndarray, shape (epochs,)
        The same per epoch (the first includes any compilation).
    """

    epoch: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    class_acc: np.ndarray
    class_prob: np.ndarray
    wall_time: float
    params: Any = field(repr=False)
    apply_fn: Callable = field(repr=False)
    num_classes: int = 0
    loss: str = "xent"
    optimizer: str = "sgd"
    lr: float = 0.0
    batch_size: int = 0
    seed: int = 0
    steps: int = 0
    epoch_time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cpu_time: float = 0.0
    epoch_cpu_time: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def predict(self, x, batch_size: int = 1024) -> np.ndarray:
        """Logits of the final network, shape ``(M, K)``, evaluated in chunks of ``batch_size``."""
        x = _checks.finite_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must have shape (M, *feature_shape); got {x.shape}.")
        batch_size = _checks.positive_int(batch_size, "batch_size")
        return _logits(self.apply_fn, self.params, x, batch_size)


def _logits(apply_fn: Callable, params, x: np.ndarray, batch_size: int) -> np.ndarray:
    """``apply_fn`` on ``x`` in chunks (bounds the memory of the CNNs' activations).

    Run op by op, not jitted: a jitted forward is compiled per network and input shape (twice
    per set: the last chunk is ragged), and cost more than it saved, also once equal layer
    stacks shared it (chapter 11: 110 s of CPU against 102 s; the fresh-clone CI run with it,
    before that sharing, 1,056 s against 944 s).
    """
    outs = [
        np.asarray(apply_fn(params, jnp.asarray(x[i : i + batch_size]))) for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outs, axis=0).astype(np.float64)


def _targets(y: np.ndarray, num_classes: int, loss: str, centered: bool, dtype) -> np.ndarray:
    """Per-sample training targets: integer labels (xent) or one-hot rows (mse), shape (N,) or (N, K)."""
    if loss != "mse":
        return y.astype(np.int32)
    out = np.eye(num_classes, dtype=np.float64)[y]
    if centered:
        out = out - 1.0 / num_classes
    return out.astype(dtype)


def train(
    arch,
    x,
    y,
    *,
    num_classes: int,
    x_test=None,
    y_test=None,
    loss: str = "xent",
    optimizer: str = "sgd",
    lr: float = 0.1,
    epochs: int = 10,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool = True,
    record_every: int = 1,
    record_at=None,
    centered: bool = False,
    momentum: float = 0.9,
    params=None,
    record_init: bool = False,
    dtype=np.float32,
    eval_batch_size: int = 1024,
    drop_last: bool = False,
) -> History:
    """Train the finite-width network of ``arch`` and record per-epoch, per-class histories.

    Parameters
    ----------
    arch
        A network ``(init_fn, apply_fn, kernel_fn)`` of :mod:`ntkbook.layers` (e.g.
        :func:`ntkbook.archs.get`; runs on a current JAX with no neural-tangents) or a
        neural-tangents ``stax`` triple; only ``init_fn`` and ``apply_fn`` are used.  Its output dimension must be
        ``num_classes``.
    x : array, shape ``(N, *feature_shape)``
        Training inputs (e.g. ``data.normalize(ds.x)``).
    y : array, shape (N,)
        Integer labels in ``[0, num_classes)``.  A class may be absent (its rows of
        ``class_acc``/``class_prob`` are NaN).
    num_classes
        Number of classes K (>= 2).
    x_test : array, shape ``(M, *feature_shape)``, optional
    y_test : array, shape (M,), optional
        Held-out set; give both or neither.
    loss
        ``"xent"`` (softmax cross-entropy) or ``"mse"`` (one-hot targets).
    optimizer
        ``"sgd"``, ``"momentum"`` (SGD with heavy-ball ``momentum``) or ``"adam"``.
    lr
        Learning rate (> 0).
    epochs
        Passes over the training set (>= 1).
    batch_size
        Minibatch size; ``None`` = full batch (one step per epoch).
    seed
        Seed of the initialisation and of the minibatch order.
    progress
        Show a tqdm bar over epochs.
    record_every
        Record the metrics every this many epochs (and always after the last).
    record_at : sequence of int, optional
        Record after these epochs only (each in ``[1, epochs]``; and always after the last),
        in place of ``record_every``: a record evaluates the whole training set, which cost
        a quarter of Table 7's training time when only four checkpoints are read.
    centered
        With ``loss="mse"``, use zero-centred targets ``e_k - 1/K``.
    momentum
        Momentum coefficient of ``optimizer="momentum"``.
    params
        Initial parameters; ``None`` draws them with ``init_fn(init_key, x.shape)``.
    record_init
        Also record the metrics at initialisation (epoch 0).
    dtype
        Floating type of inputs and parameters during training (float32 by
        default: finite networks need no float64 and train about twice as fast).
    eval_batch_size
        Chunk size when evaluating the whole training/test set.
    drop_last
        Drop the last incomplete minibatch of each epoch (one compiled shape only).

    Returns
    -------
    History

    Raises
    ------
    ValueError
        NaN/inf in inputs, labels outside ``[0, num_classes)``, ``x``/``y`` (or
        ``x_test``/``y_test``) length mismatch, only one of ``x_test``/``y_test``,
        unknown ``loss``/``optimizer``, non-positive ``lr``/``epochs``/``batch_size``,
        or a network whose output dimension is not ``num_classes``.
    TrainingDiverged
        (a ``ValueError``) The loss became non-finite (the message names the epoch; lower ``lr``).
    """
    _checks.one_of(loss, "loss", TRAIN_LOSSES)
    _checks.one_of(optimizer, "optimizer", OPTIMIZERS)
    num_classes = _checks.positive_int(num_classes, "num_classes", minimum=2)
    lr = _checks.real_scalar(lr, "lr", low=0.0, low_open=True)
    # heavy-ball momentum diverges for a coefficient >= 1
    momentum = _checks.real_scalar(momentum, "momentum", low=0.0, high=1.0, high_open=True)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    epochs = _checks.positive_int(epochs, "epochs")
    record_every = _checks.positive_int(record_every, "record_every")
    if record_at is not None:
        record_at = _checks.epoch_list(record_at, "record_at", epochs)
    eval_batch_size = _checks.positive_int(eval_batch_size, "eval_batch_size")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype={dtype}; expected float32 or float64 (never float16 on this stack).")
    try:
        init_fn, apply_fn = arch[0], arch[1]
    except (TypeError, IndexError, KeyError) as err:
        raise TypeError(
            f"arch must be a stax triple (init_fn, apply_fn, kernel_fn) or an "
            f"archs.Arch; got {type(arch).__name__}."
        ) from err
    if not (callable(init_fn) and callable(apply_fn)):
        raise TypeError("arch[0] (init_fn) and arch[1] (apply_fn) must be callable.")

    x = _checks.finite_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (N, *feature_shape); got {x.shape}.")
    n = x.shape[0]
    y = _checks.labels(y, "y", num_classes)
    if len(y) != n:
        raise ValueError(f"x has {n} samples but y has {len(y)} labels; they must match.")
    x = x.astype(dtype)
    if (x_test is None) != (y_test is None):
        raise ValueError("give both x_test and y_test, or neither.")
    has_test = x_test is not None
    if has_test:
        x_test = _checks.finite_array(x_test, "x_test").astype(dtype)
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(f"x_test has feature shape {x_test.shape[1:]} but x has {x.shape[1:]}.")
        y_test = _checks.labels(y_test, "y_test", num_classes)
        if len(y_test) != len(x_test):
            raise ValueError(f"x_test has {len(x_test)} samples but y_test has {len(y_test)} labels.")
    if batch_size is None:
        batch_size = n
    batch_size = _checks.positive_int(batch_size, "batch_size")
    if batch_size > n:
        raise ValueError(
            f"batch_size={batch_size} exceeds the {n} training samples; use batch_size=None for full batch."
        )

    # Trace and run everything in the chosen precision: with float64 switched on globally,
    # some layers (neural-tangents' stax at least) create float64 constants that clash with
    # float32 parameters inside lax.conv, so float32 training runs with x64 off locally.
    with x64_scope(dtype == np.dtype(np.float64)):
        with same_draws():  # the original threefry on every JAX (ntkbook._prng)
            init_key, shuffle_key = jax.random.split(jax.random.PRNGKey(seed))
        if params is None:
            out_shape, params = init_fn(init_key, x.shape)
            if out_shape[-1] != num_classes:
                raise ValueError(
                    f"the network has {out_shape[-1]} outputs but num_classes="
                    f"{num_classes}; build it with out_dim={num_classes}."
                )
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)

        # Training targets per sample: one-hot rows (mse) or integer labels (xent).
        tgt = _targets(y, num_classes, loss, centered, dtype)
        step = compiled_step(apply_fn, loss=loss, optimizer=optimizer, momentum=momentum, dtype=dtype)
        opt_state = make_optimizer(optimizer, lr, momentum).init(params)
        tgt64 = tgt.astype(np.float64) if loss == "mse" else tgt
        counts = np.bincount(y, minlength=num_classes)
        records: dict[str, list] = {
            k: []
            for k in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "class_acc", "class_prob")
        }

        def record(epoch: int, p) -> None:
            logits = _logits(apply_fn, p, x, eval_batch_size)
            with np.errstate(all="ignore"):  # overflow here is reported just below, as divergence
                value = float(losses.total(logits, tgt64, loss))
            if not np.isfinite(value):
                raise TrainingDiverged(
                    f"the training loss became non-finite by epoch {epoch}: lr={lr} is "
                    "too large for this network (or the data are badly scaled)."
                )
            pred = logits.argmax(axis=1)
            correct = (pred == y).astype(np.float64)
            probs = softmax(logits)
            acc_k = np.full(num_classes, np.nan)
            prob_k = np.full((num_classes, num_classes), np.nan)
            for k in np.flatnonzero(counts):
                acc_k[k] = correct[y == k].mean()
                prob_k[k] = probs[y == k].mean(axis=0)
            records["epoch"].append(epoch)
            records["train_loss"].append(value)
            records["train_acc"].append(correct.mean())
            records["class_acc"].append(acc_k)
            records["class_prob"].append(prob_k)
            if has_test:
                lt = _logits(apply_fn, p, x_test, eval_batch_size)
                t_targets = _targets(y_test, num_classes, loss, centered, np.float64)
                records["test_loss"].append(float(losses.total(lt, t_targets, loss)))
                records["test_acc"].append(float((lt.argmax(axis=1) == y_test).mean()))

        if record_init:
            record(0, params)
        bar = tqdm(total=epochs, desc="train", unit="epoch", disable=not progress)

        def order(epoch: int) -> np.ndarray:
            with same_draws():
                return np.asarray(jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), n))

        def on_epoch(epoch: int, p) -> None:
            bar.update()
            due = epoch in record_at if record_at is not None else epoch % record_every == 0
            if due or epoch == epochs:
                record(epoch, p)
                if progress:
                    bar.set_postfix(
                        loss=f"{records['train_loss'][-1]:.4g}", acc=f"{records['train_acc'][-1]:.3f}"
                    )

        params, _, times = run_epochs(
            step,
            params,
            opt_state,
            x,
            tgt,
            lr,
            epochs=epochs,
            batch_size=batch_size,
            order=order,
            drop_last=drop_last,
            on_epoch=on_epoch,
        )
        bar.close()

    empty = np.zeros(0)
    return History(
        epoch=np.asarray(records["epoch"], np.int64),
        train_loss=np.asarray(records["train_loss"]),
        train_acc=np.asarray(records["train_acc"]),
        test_loss=np.asarray(records["test_loss"]) if has_test else empty,
        test_acc=np.asarray(records["test_acc"]) if has_test else empty,
        class_acc=np.stack(records["class_acc"]),
        class_prob=np.stack(records["class_prob"]),
        wall_time=float(times.wall.sum()),
        params=params,
        apply_fn=apply_fn,
        num_classes=num_classes,
        loss=loss,
        optimizer=optimizer,
        lr=float(lr),
        batch_size=int(batch_size),
        seed=int(seed),
        steps=times.steps,
        epoch_time=times.wall,
        cpu_time=float(times.cpu.sum()),
        epoch_cpu_time=times.cpu,
    )
