"""Closed-form infinite-width kernels of ReLU networks, written by hand in JAX.

These are the references the book checks neural-tangents against (and the
formulas chapter 3 derives).  All follow neural-tangents' NTK
parameterization: a dense layer computes ``W_std / sqrt(fan_in) * W h + b_std * b``
with ``W, b ~ N(0, 1)``.

ReLU Gaussian expectations (Cho and Saul's arc-cosine kernels): for
``(u, v) ~ N(0, [[k11, k12], [k12, k22]])`` and ``cos t = k12 / sqrt(k11 k22)``

    E[relu(u) relu(v)]   = sqrt(k11 k22) (sin t + (pi - t) cos t) / (2 pi)
    E[relu'(u) relu'(v)] = (pi - t) / (2 pi)

The angle is computed as ``t = atan2(sqrt(det), k12)`` with
``det = k11 k22 - k12^2`` the determinant of the 2x2 covariance (and
``sqrt(k11 k22) sin t = sqrt(det)``), not as ``arccos(cos t)``: arccos has an
infinite slope at 1, so a cosine that rounding leaves one ulp below 1 gave an
angle of ``sqrt(2 eps) ~ 2e-8`` for two *equal* inputs, and the Gram diagonal
moved by ~1e-8 between JAX versions.  A determinant at rounding level
(``det <= 64 eps k11 k22``) is set to 0, so equal inputs get ``t = 0`` exactly
and the diagonal equals the closed form ``E[relu(u)^2] = k/2``.  Angles below
``sqrt(64 eps)`` (1.2e-7 rad in float64) cannot be resolved from a covariance
anyway: the rounding of ``k12`` alone moves them by ``sqrt(2 eps)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

__all__ = ["arccos_relu", "relu_ntk_eq4", "relu_ntk_2layer", "mlp_ntk"]


def _concrete(value, name: str, ndim: int) -> tuple[object, bool]:
    """``(value checked finite with ndim dimensions, False)``, or ``(value, True)`` for a tracer.

    Inside ``jit`` (the hand-written kernels call these functions on traced
    blocks) the values are unknown; their caller (:func:`ntkbook.gram.gram`)
    has checked its inputs already.
    """
    try:
        arr = np.asarray(value)
    except jax.errors.TracerArrayConversionError:
        return value, True
    arr = _checks.finite_array(arr, name, ndim=ndim)
    # float32 inputs (what data.load returns) are computed in float64 when x64 is on: in
    # float32 the Complexity-Gap of these kernels differs from the authors' float64
    # algorithm by ~4e-6 relative, in float64 by ~1e-14 (issue 25).  Integer and bool
    # inputs are promoted to the default float type as JAX would.
    if jax.config.jax_enable_x64 and (np.issubdtype(arr.dtype, np.floating) or arr.dtype.kind in "iub"):
        arr = arr.astype(np.float64)
    return jnp.asarray(arr), False


def _inputs(x1, x2, b_std: float) -> tuple:
    """Checked ``(N, D)`` inputs; zero rows only allowed where a bias keeps the variance > 0."""
    x1, traced1 = _concrete(x1, "x1", 2)
    x2, traced2 = (x1, traced1) if x2 is None else _concrete(x2, "x2", 2)
    if traced1 or traced2:
        return x1, x2
    for arr, name in ((x1, "x1"), (x2, "x2")):
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(
                f"{name} must hold at least one sample with at least one "
                f"feature, shape (N >= 1, D >= 1); got shape {tuple(arr.shape)}."
            )
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(
            f"x1 and x2 must have the same number of features; got {x1.shape[1]} and {x2.shape[1]}."
        )
    if b_std == 0:
        for arr, name in ((x1, "x1"), (x2, "x2")):
            zero = np.flatnonzero(~np.any(np.asarray(arr) != 0, axis=1))
            if zero.size:
                raise ValueError(
                    f"{name} has all-zero rows (first: {int(zero[0])}) whose "
                    "variance is 0 without a bias: the ReLU kernel is "
                    "undefined there; drop them or use b_std > 0."
                )
    return x1, x2


# Determinants below this many ulps of k11 k22 are rounding: treated as parallel inputs.
_DET_SNAP_ULPS = 64


def _angle(k12, k11, k22):
    """``(sqrt(det), t)`` of the 2x2 covariance ``[[k11, k12], [k12, k22]]``, elementwise.

    ``det = k11 k22 - k12^2`` (snapped to 0 at rounding level) and
    ``t = atan2(sqrt(det), k12)``, the angle whose cosine is ``k12 / sqrt(k11 k22)``.
    """
    k12, k11, k22 = jnp.asarray(k12), jnp.asarray(k11), jnp.asarray(k22)
    prod = k11 * k22
    det = prod - k12 * k12
    eps = jnp.finfo(jnp.result_type(det, float)).eps
    det = jnp.where(det <= _DET_SNAP_ULPS * eps * prod, 0.0, det)
    root = jnp.sqrt(det)
    return root, jnp.arctan2(root, k12)


def _check_covariance(k12, k11, k22) -> None:
    """Refuse shapes that would broadcast silently, non-positive variances and |k12| > sqrt(k11 k22).

    ``k12`` of shape (N1, N2) needs ``k11`` (N1, 1) and ``k22`` (1, N2); any
    other ``k12`` needs ``k11`` and ``k22`` of its own shape (elementwise use).
    A covariance whose determinant ``k11 k22 - k12^2`` is negative beyond
    rounding (more than ``_DET_SNAP_ULPS`` ulps of ``k11 k22``) is no covariance:
    the expectations would be computed for an angle that does not exist.
    """
    s12, s11, s22 = np.shape(k12), np.shape(k11), np.shape(k22)
    want11: tuple[int, ...]
    want22: tuple[int, ...]
    if len(s12) == 2:
        want11, want22 = (s12[0], 1), (1, s12[1])
    else:
        want11 = want22 = s12
    for shape, want, name in ((s11, want11, "k11"), (s22, want22, "k22")):
        if shape != want and shape != s12:
            raise ValueError(
                f"{name} must have shape {want} (or k12's shape {s12}) for k12 of "
                f"shape {s12}; got {shape}. It is not broadcast."
            )
    for k, name in ((k11, "k11"), (k22, "k22")):
        if np.any(np.asarray(k) <= 0):
            raise ValueError(
                f"{name} holds variances and must be > 0; got minimum {float(np.min(np.asarray(k)))}."
            )
    a12, a11, a22 = (np.asarray(k, dtype=np.float64) for k in (k12, k11, k22))
    prod = a11 * a22
    dtype = np.result_type(np.asarray(k12).dtype, np.float32)
    eps = float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 2.0**-52
    excess = a12 * a12 - prod
    bad = excess > _DET_SNAP_ULPS * eps * prod
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"k12 is not a covariance of k11 and k22: |k12| > sqrt(k11 k22) beyond rounding at "
            f"{int(bad.sum())} entr(ies), first at index {list(i)} "
            f"(|k12| = {abs(float(np.broadcast_to(a12, bad.shape)[i])):.6g}, sqrt(k11 k22) = "
            f"{float(np.sqrt(np.broadcast_to(prod, bad.shape)[i])):.6g})."
        )


def arccos_relu(k12, k11, k22):
    """ReLU Gaussian expectations of a 2x2 covariance, elementwise.

    Parameters
    ----------
    k12 : array, shape (N1, N2)
        Cross covariance.
    k11 : array, shape (N1, 1)
        Variances of the first inputs.
    k22 : array, shape (1, N2)
        Variances of the second inputs.

    Returns
    -------
    e_relu : array, shape (N1, N2)
        ``E[relu(u) relu(v)] = (sqrt(det) + (pi - t) k12) / (2 pi)``.
    e_step : array, shape (N1, N2)
        ``E[relu'(u) relu'(v)] = (pi - t) / (2 pi)``.

    Raises
    ------
    ValueError
        (Concrete inputs only; traced blocks inside ``jit`` are the caller's to
        check.) NaN/inf; ``k11``/``k22`` of a shape other than (N1, 1)/(1, N2)
        or ``k12``'s own; a variance <= 0; ``|k12| > sqrt(k11 k22)`` beyond
        rounding.
    """
    checked = [_concrete(k, n, np.ndim(k)) for k, n in ((k12, "k12"), (k11, "k11"), (k22, "k22"))]
    (k12, _), (k11, _), (k22, _) = checked
    if not any(traced for _, traced in checked):
        _check_covariance(k12, k11, k22)
    root, t = _angle(k12, k11, k22)
    e_step = (jnp.pi - t) / (2 * jnp.pi)
    e_relu = root / (2 * jnp.pi) + e_step * k12
    return e_relu, e_step


def relu_ntk_eq4(x1, x2=None):
    """DeOliveira et al.'s eq. 4 (Arora et al. 2019): the two-layer ReLU NTK, first layer trained.

    ``Theta(x, x') = x.x' (pi - arccos(cos(x, x'))) / (2 pi)``.  The paper states it
    for unit-norm inputs, where ``cos(x, x') = x.x'``; here the angle is always
    the angle between the inputs, so the formula also holds for other norms.

    Parameters
    ----------
    x1 : array, shape (N1, D)
    x2 : array, shape (N2, D), optional (default ``x1``)

    Returns
    -------
    array, shape (N1, N2)
    """
    x1, x2 = _inputs(x1, x2, 0.0)
    dot = x1 @ x2.T
    n1 = jnp.sum(x1**2, axis=1)[:, None]
    n2 = jnp.sum(x2**2, axis=1)[None, :]
    _, t = _angle(dot, n1, n2)
    return dot * (jnp.pi - t) / (2 * jnp.pi)


def relu_ntk_2layer(
    x1, x2=None, W_std: float = 1.0, b_std: float = 0.0, W_std_out: float = 1.0, b_std_out: float = 0.0
):
    """NTK and NNGP of ``Dense(W_std, b_std) -> ReLU -> Dense(1, W_std_out, b_std_out)``, both layers trained.

    With ``K1 = W_std^2 x.x'/D + b_std^2`` the first layer's covariance,

    * NNGP: ``K = W_std_out^2 E[relu relu](K1) + b_std_out^2``
    * NTK:  ``Theta = W_std_out^2 E[relu' relu'](K1) * K1 + K``

    The first term is the first layer's contribution (eq. 4 when
    ``W_std=1, b_std=0`` and inputs are scaled by ``1/sqrt(D)``), the second the
    readout's.

    Returns
    -------
    ntk, nngp : arrays, shape (N1, N2)
    """
    W_std, W_std_out = (_checks.real_scalar(w, n) for w, n in ((W_std, "W_std"), (W_std_out, "W_std_out")))
    b_std, b_std_out = (_checks.real_scalar(b, n) for b, n in ((b_std, "b_std"), (b_std_out, "b_std_out")))
    x1, x2 = _inputs(x1, x2, b_std)
    d = x1.shape[1]
    k12 = W_std**2 * (x1 @ x2.T) / d + b_std**2
    k11 = W_std**2 * jnp.sum(x1**2, axis=1)[:, None] / d + b_std**2
    k22 = W_std**2 * jnp.sum(x2**2, axis=1)[None, :] / d + b_std**2
    e_relu, e_step = arccos_relu(k12, k11, k22)
    nngp = W_std_out**2 * e_relu + b_std_out**2
    ntk = W_std_out**2 * e_step * k12 + nngp
    return ntk, nngp


def mlp_ntk(
    x1,
    x2=None,
    depth: int = 3,
    W_std: float = 2**0.5,
    b_std: float = 0.0,
    W_std_out: float = 1.0,
    return_layers: bool = False,
):
    """NTK of a ReLU MLP with ``depth`` layers of weights, by the Sigma / Sigma-dot recursion.

    For layers ``l = 1 .. depth`` (hidden layers use ``W_std``, the readout
    ``W_std_out``; every layer adds ``b_std^2``):

    * ``Sigma_1 = W_std^2 x.x'/D + b_std^2`` and ``Theta_1 = Sigma_1``
    * ``Sigma_l = W_l^2 E[relu relu](Sigma_{l-1}) + b_std^2``
    * ``Sigmadot_l = W_l^2 E[relu' relu'](Sigma_{l-1})``
    * ``Theta_l = Theta_{l-1} * Sigmadot_l + Sigma_l``

    and the network's NNGP and NTK are ``Sigma_depth`` and ``Theta_depth``.
    The diagonal variances needed by the expectations follow the same
    recursion on ``x.x`` and ``x'.x'``.

    Parameters
    ----------
    x1 : array, shape (N1, D)
    x2 : array, shape (N2, D), optional (default ``x1``)
    depth
        Layers of weights (>= 1).
    return_layers
        Also return the lists ``Sigma_l``, ``Sigmadot_l`` (``Sigmadot_1`` is
        undefined and omitted) and ``Theta_l``.

    Returns
    -------
    ntk, nngp : arrays, shape (N1, N2)
    layers : dict, only with ``return_layers=True``
    """
    depth = _checks.positive_int(depth, "depth")
    W_std, W_std_out, b_std = (
        _checks.real_scalar(v, n) for v, n in ((W_std, "W_std"), (W_std_out, "W_std_out"), (b_std, "b_std"))
    )
    x1, x2 = _inputs(x1, x2, b_std)
    d = x1.shape[1]
    w1 = W_std if depth > 1 else W_std_out
    s12 = w1**2 * (x1 @ x2.T) / d + b_std**2
    s11 = w1**2 * jnp.sum(x1**2, axis=1)[:, None] / d + b_std**2
    s22 = w1**2 * jnp.sum(x2**2, axis=1)[None, :] / d + b_std**2
    theta = s12
    sigmas, sigma_dots, thetas = [s12], [], [theta]
    for layer in range(2, depth + 1):
        w = W_std_out if layer == depth else W_std
        e_relu, e_step = arccos_relu(s12, s11, s22)
        # on the diagonal t = 0: E[relu(u)^2] = k/2
        s11, s22 = w**2 * s11 / 2 + b_std**2, w**2 * s22 / 2 + b_std**2
        s12 = w**2 * e_relu + b_std**2
        s_dot = w**2 * e_step
        theta = theta * s_dot + s12
        sigmas.append(s12)
        sigma_dots.append(s_dot)
        thetas.append(theta)
    if return_layers:
        return theta, s12, dict(sigma=sigmas, sigma_dot=sigma_dots, theta=thetas)
    return theta, s12
