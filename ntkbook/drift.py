"""How far the empirical NTK moves while a network trains (chapter 6), one (width, seed) at a time.

:func:`kernel_drift` trains one MLP by full-batch gradient descent on the squared loss and
records the relative change ``||K_t - K_0||_F / ||K_0||_F`` of its full eNTK on held-out probe
inputs; :func:`drift_slope` fits the width exponent of the final change. A seed ladder (or the
chapter, over several initialisations) calls :func:`kernel_drift` once per ``(width, seed)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _checks

__all__ = ["kernel_drift", "drift_slope"]


def kernel_drift(
    x,
    Y,
    x_probe,
    width: int,
    seed: int,
    *,
    depth: int,
    steps: int,
    lr_scale: float,
    record_every: int | None = None,
) -> list[dict]:
    """Relative change of the eNTK on ``x_probe`` along gradient-descent training.

    Parameters
    ----------
    x : array, shape (N, D)
        Training inputs.
    Y : array, shape (N, O)
        One-hot targets (``O`` sets the network's outputs).
    x_probe : array, shape (M, D)
        Held-out inputs the kernel is measured on.
    width, seed
        Hidden width of :func:`ntkbook.archs.mlp` and its ``PRNGKey`` seed.
    depth
        Layers of weights.
    steps
        Full-batch gradient-descent steps on ``1/2 sum ||f - y||^2`` (>= 1).
    lr_scale
        Step size relative to ``lambda_max`` of the initial pNTK on ``x`` (a cheap stand-in for
        that of the ``NO x NO`` eNTK), so every width travels a comparable distance.
    record_every
        Measure the kernel every this many steps (and at the last); default: only the first
        and the last step.

    Returns
    -------
    list of dict
        One per record: ``width``, ``seed``, ``step``, ``loss`` and ``kernel_change``.
    """
    import jax

    from . import archs, empirical
    from .dynamics import gd_trajectory

    x = _checks.finite_array(x, "x", ndim=2)
    Y = _checks.finite_array(Y, "Y", ndim=2)
    x_probe = _checks.finite_array(x_probe, "x_probe", ndim=2)
    width = _checks.positive_int(width, "width")
    steps = _checks.positive_int(steps, "steps")
    every = steps if record_every is None else _checks.positive_int(record_every, "record_every")
    init_fn, apply_fn, _ = archs.mlp(depth, width, Y.shape[1])
    _, p0 = init_fn(jax.random.PRNGKey(_checks.positive_int(seed, "seed", minimum=0)), x.shape)
    lam = np.linalg.eigvalsh(empirical.pntk(apply_fn, p0, x))[-1]
    traj = gd_trajectory(apply_fn, p0, x, Y, lr=lr_scale / lam, steps=steps, record_every=every)
    K0 = empirical.flatten_entk(empirical.entk(apply_fn, p0, x_probe))
    rows = []
    for step, p_t, loss in zip(traj.step, traj.params, traj.loss):
        Kt = K0 if step == 0 else empirical.flatten_entk(empirical.entk(apply_fn, p_t, x_probe))
        rows.append(
            dict(
                width=width,
                seed=int(seed),
                step=int(step),
                loss=float(loss),
                kernel_change=float(np.linalg.norm(Kt - K0) / np.linalg.norm(K0)),
            )
        )
    return rows


def drift_slope(widths: Sequence[float], changes: Sequence[float]) -> float:
    """Least-squares slope of ``log(change)`` against ``log(width)`` (the width exponent).

    Parameters
    ----------
    widths, changes
        Same length >= 2, all positive.
    """
    w = _checks.finite_array(widths, "widths", ndim=1, dtype=float)
    c = _checks.finite_array(changes, "changes", ndim=1, dtype=float)
    if w.shape != c.shape or w.size < 2:
        raise ValueError(f"widths and changes must have the same length >= 2; got {w.shape} and {c.shape}.")
    if np.any(w <= 0) or np.any(c <= 0):
        raise ValueError("widths and changes must be positive (their logarithms are fitted).")
    return float(np.polyfit(np.log(w), np.log(c), 1)[0])
