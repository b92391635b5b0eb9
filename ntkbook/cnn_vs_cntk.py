"""The CNN / CNTK comparison of chapter 4: kernel regression with the CNTK of every depth, and the
finite CNN of the same architecture trained by full-batch gradient descent, side by side.

Arora et al.'s table compares, for each depth and readout (flatten = "V", global average pooling
= "GAP"), the test accuracy of kernel regression with the CNTK and that of the trained network.
:func:`cntk_accuracies` computes the kernel side for every depth at the cost of the deepest one
(:func:`ntkbook.cntk_depths.gram_by_depth`); :func:`cnn_gd_accuracy` trains one network with the
step size its own kernel allows (``1 / lambda_max`` of the CNTK on the training inputs, the same
rule for every network); :func:`cnn_table` assembles the table.  :func:`cnn_sgd_accuracy` trains
the same networks by minibatch SGD with momentum instead, the way such networks are usually
trained (the chapter's second look at the networks, and the ladder of
``003-best-cnn-vs-best-cntk``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from . import _checks, archs, cntk_depths, data
from ._x64 import x64_scope
from .dynamics import gd_trajectory, train
from .linalg import cholesky_solve

__all__ = ["KernelResult", "cntk_accuracies", "cnn_gd_accuracy", "cnn_sgd_accuracy", "cnn_table"]


class KernelResult(NamedTuple):
    """Kernel regression with one depth's CNTK.

    Attributes
    ----------
    accuracy : float
        Test accuracy of the unregularised solve with zero-centred one-hot targets.
    cpu_seconds : float
        CPU time of the Gram stages up to this depth (training and test Grams; the
        stages' one compilation is in the training Gram's time).
    condition_number : float
        Of the training Gram matrix.
    lambda_max : float
        Largest eigenvalue of the training Gram matrix.
    """

    accuracy: float
    cpu_seconds: float
    condition_number: float
    lambda_max: float


def cntk_accuracies(
    ds: data.Dataset, pool: str, ndim: int, depths: Sequence[int], *, batch_size: int = 20
) -> dict[int, KernelResult]:
    """Kernel regression with the CNTK of every depth in ``depths`` (no ridge).

    Targets are zero-centred one-hot rows (``0.9`` / ``-0.1`` for ten classes, as Arora et al.).

    Parameters
    ----------
    ds
        A dataset with image (``ndim=2``, ``(N, H, W, C)``) or signal (``ndim=1``, ``(N, L, C)``)
        inputs ``x``/``x_test`` and labels ``y``/``y_test``.
    pool
        ``"flatten"`` or ``"gap"``.
    ndim
        2 or 1.
    depths
        Numbers of convolutional layers.
    batch_size
        Gram block size.

    Returns
    -------
    dict
        ``depth -> KernelResult``.
    """
    _checks.one_of(pool, "pool", ("flatten", "gap"))
    x = _checks.finite_array(ds.x, "ds.x", dtype=np.float64)
    xt = _checks.finite_array(ds.x_test, "ds.x_test", dtype=np.float64)
    kw: dict[str, Any] = dict(depths=list(depths), pool=pool, ndim=ndim, batch_size=batch_size)
    K_by, Kt_by = cntk_depths.gram_by_depth(x, **kw), cntk_depths.gram_by_depth(xt, x, **kw)
    Y = data.one_hot(ds.y, ds.num_classes, centered=True)
    out = {}
    for depth in depths:
        K, Kt = K_by[depth].gram, Kt_by[depth].gram
        sol = cholesky_solve(K, Y, reg=0.0)
        acc = float(np.mean((Kt @ sol.alpha).argmax(1) == ds.y_test))
        out[depth] = KernelResult(
            acc,
            K_by[depth].cpu_seconds + Kt_by[depth].cpu_seconds,
            sol.condition_number,
            float(np.linalg.eigvalsh(K)[-1]),
        )
    return out


def cnn_gd_accuracy(
    ds: data.Dataset,
    depth: int,
    pool: str,
    ndim: int,
    lam_max: float,
    *,
    channels: int,
    steps: int,
    seed: int = 0,
) -> tuple[float, float]:
    """Train the finite CNN by full-batch gradient descent on the summed cross-entropy.

    The step is ``1 / lam_max`` (pass the CNTK's largest eigenvalue on the training inputs).
    Training runs in float32 (several times faster on CPU); accuracy is read after the last step.

    Returns
    -------
    accuracy, mean_train_loss : float
        Test accuracy and the final summed training loss divided by the number of samples.
    """
    depth = _checks.positive_int(depth, "depth")
    lam_max = _checks.real_scalar(lam_max, "lam_max", low=0.0, low_open=True)
    with x64_scope(False):
        init_fn, apply_fn, _ = archs.cnn([channels] * depth, [], ds.num_classes, pool=pool, ndim=ndim)
        x, xt = np.asarray(ds.x, np.float32), np.asarray(ds.x_test, np.float32)
        _, params = init_fn(jax.random.PRNGKey(seed), x.shape)
        traj = gd_trajectory(
            apply_fn,
            params,
            x,
            np.eye(ds.num_classes, dtype=np.float32)[ds.y],
            1.0 / lam_max,
            steps,
            record_every=steps,
            x_eval=xt,
            keep_params=False,
            loss="xent",
        )
    assert traj.f_eval is not None  # x_eval was given
    return float(np.mean(traj.f_eval[-1].argmax(1) == ds.y_test)), float(traj.loss[-1] / len(x))


def cnn_sgd_accuracy(
    ds: data.Dataset,
    depth: int,
    pool: str,
    ndim: int,
    *,
    channels: int,
    lr: float,
    epochs: int,
    batch_size: int,
    seed: int = 0,
) -> tuple[float, float]:
    """Train the finite CNN by minibatch SGD with momentum on the cross-entropy.

    :func:`ntkbook.dynamics.train` with ``optimizer="momentum"``; only the last epoch is
    recorded.

    Parameters
    ----------
    ds
        Training and test split (``ds.x`` of shape ``(N, H, W, C)`` or ``(N, L, C)``).
    depth, pool, ndim, channels
        The network: ``archs.cnn([channels] * depth, [], ds.num_classes, pool=pool, ndim=ndim)``.
    lr, epochs, batch_size, seed
        The training run (``seed``: initialisation and minibatch order).

    Returns
    -------
    accuracy, train_loss : float
        Test accuracy and the mean training loss after the last epoch.
    """
    depth = _checks.positive_int(depth, "depth")
    net = archs.cnn([channels] * depth, [], ds.num_classes, pool=pool, ndim=ndim)
    hist = train(
        net,
        ds.x,
        ds.y,
        num_classes=ds.num_classes,
        x_test=ds.x_test,
        y_test=ds.y_test,
        loss="xent",
        optimizer="momentum",
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=False,
        record_every=epochs,
    )
    return float(hist.test_acc[-1]), float(hist.train_loss[-1])


def cnn_table(
    ds: data.Dataset,
    ndim: int,
    depths: Sequence[int],
    *,
    channels: int,
    steps: int,
    batch_size: int = 20,
    seed: int = 0,
):
    """The table in the form of Arora et al.'s: one row per depth, CNN / CNTK x V / GAP.

    Returns
    -------
    pandas.DataFrame
        Indexed by depth, with columns ``CNN-V, CNTK-V, CNN-GAP, CNTK-GAP`` (test accuracies) and
        per readout the network's final training loss, the Gram CPU seconds and condition number.
    """
    import pandas as pd

    kernels = {
        pool: cntk_accuracies(ds, pool, ndim, depths, batch_size=batch_size) for pool in ("flatten", "gap")
    }
    rows = []
    for depth in depths:
        row: dict[str, float] = {"depth": depth}
        for pool, tag in (("flatten", "V"), ("gap", "GAP")):
            k = kernels[pool][depth]
            net_acc, net_loss = cnn_gd_accuracy(
                ds, depth, pool, ndim, k.lambda_max, channels=channels, steps=steps, seed=seed
            )
            row.update(
                {
                    f"CNN-{tag}": net_acc,
                    f"CNTK-{tag}": k.accuracy,
                    f"CNN-{tag} final train loss": net_loss,
                    f"CNTK-{tag} Gram CPU s": k.cpu_seconds,
                    f"CNTK-{tag} cond": k.condition_number,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("depth")
