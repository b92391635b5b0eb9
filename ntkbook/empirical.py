"""The empirical NTK of a finite network and its pseudo-NTK approximation.

For a network ``f(x; w)`` with ``O`` outputs and ``P`` parameters the empirical
NTK (eNTK) of two inputs is the ``O x O`` matrix

    eNTK_w(x1, x2) = J_w f(x1) J_w f(x2)^T,      J_w f(x) in R^{O x P}.

On ``N`` inputs it is an ``N O x N O`` matrix: quadratic in the number of
classes in memory and up to cubic in the solves built on it.  The pseudo-NTK
(pNTK) of Mohamadi, Bae and Sutherland (ICML 2023) keeps one ``N x N`` kernel
and uses ``pNTK (x) I_O`` in place of the full eNTK:

``mode="sum"``
    the eNTK of the *scalar* function ``g = (1/sqrt(O)) sum_j f_j`` ("sum of
    logits") -- one Jacobian per input, not ``O``;
``mode="first"``
    the eNTK of the first output ``f_1``;
``mode="trace"``
    neural-tangents' ``trace_axes=(-1,)`` kernel, ``(1/O) sum_j eNTK_jj``.  It is
    *not* a pNTK: it still needs all ``O`` Jacobians (it is here so the book
    can show the difference in value and in cost).

The module also holds the comparisons chapter 7 makes between the two
(relative Frobenius error, extreme eigenvalues, kernel regression with either
kernel under one consistently scaled ridge) and a cost model (wall-clock time
and a peak-memory estimate from the traced program) used to compare the three
neural-tangents implementations and the eNTK against the pNTK.

Examples
--------
>>> import jax
>>> from ntkbook import archs, data, empirical
>>> x = data.normalize(data.load("digits", n=8).x)      # (8, 8, 8, 1)
>>> init_fn, apply_fn, _ = archs.mlp(3, width=256, out_dim=10)
>>> _, params = init_fn(jax.random.PRNGKey(0), x.shape)
>>> K = empirical.entk(apply_fn, params, x)            # (N, N, 10, 10)
>>> Kp = empirical.pntk(apply_fn, params, x)           # (N, N)
>>> K.shape, Kp.shape
((8, 8, 10, 10), (8, 8))
>>> empirical.relative_frobenius_error(K, Kp) < 0.5    # -> 0 as width grows
True
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks, engine
from .gram_memory import GramMemoryError, host_available_bytes
from .linalg import kernel_regression, relative_frobenius

__all__ = [
    "jacobian_contraction_fn",
    "IMPLEMENTATIONS",
    "PNTK_MODES",
    "entk",
    "entk_fn",
    "pntk",
    "pntk_fn",
    "flatten_entk",
    "output_dim",
    "relative_frobenius_error",
    "EigenStats",
    "eigen_stats",
    "compare_spectra",
    "entk_regression",
    "pntk_regression",
    "relative_prediction_difference",
    "peak_memory_bytes",
    "Cost",
    "measure_cost",
]

# neural-tangents' structured-derivatives code calls deprecated JAX helpers at
# trace time; silence those warnings for that package only (DESIGN.md).
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"neural_tangents(\.|$)")

ApplyFn = Callable[..., jnp.ndarray]

IMPLEMENTATIONS: tuple[str, ...] = ("jacobian_contraction", "ntk_vector_products", "structured_derivatives")
"""Names of neural-tangents' three eNTK implementations (``NtkImplementation`` 1, 2, 3)."""

PNTK_MODES: tuple[str, ...] = ("sum", "first", "trace")
"""Accepted ``mode`` values of :func:`pntk`."""

# Share of the free host memory one kernel may take before we refuse to allocate it.
_MEMORY_SHARE = 0.8


def _implementation(name: str):
    """Map an implementation name to neural-tangents' enum (clear error otherwise); the name
    itself where neural-tangents is not installed (the plain-JAX kernel serves every name)."""
    if not isinstance(name, str) or name not in IMPLEMENTATIONS:
        raise ValueError(f"implementation={name!r} is not known; expected one of {IMPLEMENTATIONS}.")
    nt = _neural_tangents()
    if nt is None:
        return name
    return {
        "jacobian_contraction": nt.NtkImplementation.JACOBIAN_CONTRACTION,
        "ntk_vector_products": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
        "structured_derivatives": nt.NtkImplementation.STRUCTURED_DERIVATIVES,
    }[name]


def _check_apply_fn(apply_fn) -> None:
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable as apply_fn(params, x); got {type(apply_fn).__name__}.")


def _check_params(params) -> None:
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params has no array leaves; pass the network's parameter pytree.")
    for leaf in leaves:
        if not bool(jnp.all(jnp.isfinite(leaf))):
            raise ValueError("params contains NaN or inf; the network's weights must be finite.")


def _inputs(x1, x2) -> tuple[jnp.ndarray, jnp.ndarray | None]:
    """Check the inputs: finite, a batch axis, equal feature shapes."""
    x1 = _checks.finite_array(x1, "x1")
    if x1.ndim < 2 or x1.shape[0] == 0:
        raise ValueError(f"x1 must have shape (N1, ...) with N1 >= 1 and a feature axis; got {x1.shape}.")
    if x2 is None:
        return jnp.asarray(x1), None
    x2 = _checks.finite_array(x2, "x2")
    if x2.ndim < 2 or x2.shape[0] == 0:
        raise ValueError(f"x2 must have shape (N2, ...) with N2 >= 1; got {x2.shape}.")
    if x2.shape[1:] != x1.shape[1:]:
        raise ValueError(
            f"x1 and x2 must have the same per-sample shape; got {x1.shape[1:]} and {x2.shape[1:]}."
        )
    return jnp.asarray(x1), jnp.asarray(x2)


def output_dim(apply_fn: ApplyFn, params, x) -> int:
    """Number of outputs O of ``apply_fn`` on inputs shaped like ``x`` (traced, not run).

    Raises
    ------
    ValueError
        If the network does not return a 2-D ``(N, O)`` array.
    """
    _check_apply_fn(apply_fn)
    x = _checks.finite_array(x, "x")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (N, ...) with N >= 1 and a feature axis; got {x.shape}.")
    out = jax.eval_shape(apply_fn, params, jnp.asarray(x[:1]))
    if len(out.shape) != 2:
        raise ValueError(
            f"apply_fn must return outputs of shape (N, O); got {tuple(out.shape)} for one input."
        )
    return int(out.shape[1])


@functools.lru_cache(maxsize=64)
def entk_fn(apply_fn: ApplyFn, implementation: str = "structured_derivatives") -> Callable:
    """Jitted full-eNTK function ``fn(x1, x2, params) -> (N1, N2, O, O)``.

    Cached per ``(apply_fn, implementation)`` so that repeated calls (one per
    width or per training checkpoint) compile once per input shape.

    Parameters
    ----------
    apply_fn
        ``apply_fn(params, x) -> (N, O)``, e.g. a stax ``apply_fn``.
    implementation
        One of :data:`IMPLEMENTATIONS`.  All three give the same kernel up to
        rounding; they differ in time and memory (chapter 6).
    """
    _check_apply_fn(apply_fn)
    impl = _implementation(implementation)
    nt = _neural_tangents()
    if nt is None:
        return jax.jit(jacobian_contraction_fn(apply_fn))
    # trace_axes=(): keep both output axes (the full O x O block per pair);
    # vmap_axes=0: samples are independent, so Jacobians are vmapped per input.
    fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(), vmap_axes=0, implementation=impl)
    return jax.jit(fn)


def _neural_tangents():
    """neural-tangents if installed, else ``None`` (the core environment on a current JAX)."""
    try:
        import neural_tangents as nt
    except ImportError:
        return None
    return nt


def jacobian_contraction_fn(apply_fn: ApplyFn) -> Callable:
    """The full eNTK in plain JAX: per-input Jacobians contracted over every parameter.

    ``fn(x1, x2, params) -> (N1, N2, O, O)``, the kernel neural-tangents'
    ``empirical_ntk_fn(..., trace_axes=(), vmap_axes=0)`` computes (its
    ``"jacobian_contraction"`` implementation), written with ``jax.jacrev`` so that the
    eNTK and pNTK run where neural-tangents cannot be installed; ``entk_fn`` and
    ``pntk_fn`` use it there, whatever ``implementation`` asks (the kernels agree to
    rounding, ``tests/test_empirical_core.py``; only time and memory differ).
    """
    _check_apply_fn(apply_fn)

    def jacobians(x, params):
        one = jax.jacrev(lambda p, xi: apply_fn(p, xi[None])[0])
        return jax.vmap(one, in_axes=(None, 0))(params, x)  # leaves (N, O, *leaf)

    def fn(x1, x2, params):
        j1 = jacobians(x1, params)
        j2 = j1 if x2 is None else jacobians(x2, params)
        total = 0.0
        for a, b in zip(jax.tree_util.tree_leaves(j1), jax.tree_util.tree_leaves(j2)):
            total = total + jnp.einsum(
                "aip,bjp->abij", a.reshape(a.shape[:2] + (-1,)), b.reshape(b.shape[:2] + (-1,))
            )
        return total

    return fn


def _scalar_fn(apply_fn: ApplyFn, mode: str) -> ApplyFn:
    """The single-output function whose eNTK is the pNTK of ``mode``."""
    if mode == "sum":

        def g(params, x):
            out = apply_fn(params, x)
            # 1/sqrt(O) keeps the variance of g equal to that of one logit at
            # init, so E[pNTK] = E[eNTK_jj] (the pNTK motivation).
            return jnp.sum(out, axis=-1, keepdims=True) / math.sqrt(out.shape[-1])
    else:  # "first"

        def g(params, x):
            return apply_fn(params, x)[:, :1]

    return g


@functools.lru_cache(maxsize=64)
def pntk_fn(apply_fn: ApplyFn, mode: str = "sum", implementation: str = "structured_derivatives") -> Callable:
    """Jitted pNTK function ``fn(x1, x2, params) -> (N1, N2)``.

    ``"sum"`` and ``"first"`` differentiate one scalar output per input (one
    Jacobian row); ``"trace"`` is neural-tangents' ``trace_axes=(-1,)`` kernel,
    which differentiates all O outputs and averages the diagonal blocks.
    """
    _check_apply_fn(apply_fn)
    _checks.one_of(mode, "mode", PNTK_MODES)
    impl = _implementation(implementation)
    nt = _neural_tangents()
    if nt is None:
        if mode == "trace":
            full = jacobian_contraction_fn(apply_fn)
            return jax.jit(
                lambda x1, x2, params: jnp.mean(jnp.diagonal(full(x1, x2, params), axis1=2, axis2=3), axis=-1)
            )
        scalar = jacobian_contraction_fn(_scalar_fn(apply_fn, mode))
        return jax.jit(lambda x1, x2, params: scalar(x1, x2, params)[:, :, 0, 0])
    if mode == "trace":
        base = nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=impl)

        def fn(x1, x2, params):
            return base(x1, x2, params)
    else:
        base = nt.empirical_ntk_fn(
            _scalar_fn(apply_fn, mode), trace_axes=(), vmap_axes=0, implementation=impl
        )

        def fn(x1, x2, params):
            return base(x1, x2, params)[:, :, 0, 0]

    return jax.jit(fn)


def _memory_guard(n1: int, n2: int, per_pair: int, itemsize: int, what: str, hint: str) -> None:
    need = n1 * n2 * per_pair * itemsize
    free = host_available_bytes()
    if need > _MEMORY_SHARE * free:
        gib = 2.0**30
        raise GramMemoryError(
            f"the {what} on {n1} x {n2} inputs needs {need / gib:.2f} GiB but "
            f"only {free / gib:.2f} GiB are free; {hint}"
        )


def _blocked(fn: Callable, x1, x2, params, batch_size: int | None) -> np.ndarray:
    """``fn(x1, x2, params)``, in blocks of ``batch_size`` inputs per side through the engine.

    With ``x2=None`` only the blocks on and above the diagonal are computed
    (:func:`ntkbook.engine.run_blocks`).
    """
    n1 = x1.shape[0]
    n2 = n1 if x2 is None else x2.shape[0]
    if batch_size is None or (batch_size >= n1 and batch_size >= n2):
        return np.asarray(fn(x1, x2, params))
    (out,), _ = engine.run_blocks(
        lambda a, c: (fn(a, c, params),), np.asarray(x1), None if x2 is None else np.asarray(x2), batch_size
    )
    return out


def entk(
    apply_fn: ApplyFn,
    params,
    x1,
    x2=None,
    implementation: str = "structured_derivatives",
    *,
    batch_size: int | None = None,
) -> np.ndarray:
    """The full empirical NTK.

    Parameters
    ----------
    apply_fn
        ``apply_fn(params, x) -> (N, O)``.
    params
        Parameters (pytree) at which the kernel is taken.
    x1 : array, shape (N1, ...)
    x2 : array, shape (N2, ...), optional
        ``None`` means ``x2 = x1``.
    implementation
        ``"jacobian_contraction"``, ``"ntk_vector_products"`` or ``"structured_derivatives"``.
    batch_size
        If given, compute the kernel in blocks of at most this many inputs per side.

    Returns
    -------
    ndarray, shape (N1, N2, O, O)
        ``K[a, b, i, j] = <grad_w f_i(x1[a]), grad_w f_j(x2[b])>``.

    Raises
    ------
    ValueError
        Non-finite inputs or parameters, mismatched feature shapes, unknown implementation.
    GramMemoryError
        The (N1 O) x (N2 O) result would not fit in free memory.
    """
    _check_apply_fn(apply_fn)
    fn = entk_fn(apply_fn, implementation)
    if batch_size is not None:
        batch_size = _checks.positive_int(batch_size, "batch_size")
    x1, x2 = _inputs(x1, x2)
    _check_params(params)
    o = output_dim(apply_fn, params, x1)
    n2 = x1.shape[0] if x2 is None else x2.shape[0]
    itemsize = jax.tree_util.tree_leaves(params)[0].dtype.itemsize
    _memory_guard(
        x1.shape[0],
        n2,
        o * o,
        itemsize,
        f"full eNTK (O = {o})",
        "use pntk() (an N x N kernel) or pass row slices of x1.",
    )
    return _blocked(fn, x1, x2, params, batch_size)


def pntk(
    apply_fn: ApplyFn,
    params,
    x1,
    x2=None,
    mode: str = "sum",
    implementation: str = "structured_derivatives",
    *,
    batch_size: int | None = None,
) -> np.ndarray:
    """The pseudo-NTK, an N1 x N2 stand-in for the full eNTK (use it as ``pNTK (x) I_O``).

    Parameters
    ----------
    apply_fn, params, x1, x2, implementation, batch_size
        As in :func:`entk`.
    mode
        ``"sum"`` (eNTK of ``(1/sqrt(O)) sum_j f_j``; default), ``"first"`` (eNTK
        of ``f_1``) or ``"trace"`` (neural-tangents' ``(1/O) sum_j eNTK_jj``; costs
        O Jacobians, not a pNTK -- for comparison only).

    Returns
    -------
    ndarray, shape (N1, N2)

    Raises
    ------
    ValueError
        Non-finite inputs or parameters, mismatched shapes, unknown mode or implementation.
    """
    _check_apply_fn(apply_fn)
    fn = pntk_fn(apply_fn, mode, implementation)
    if batch_size is not None:
        batch_size = _checks.positive_int(batch_size, "batch_size")
    x1, x2 = _inputs(x1, x2)
    _check_params(params)
    output_dim(apply_fn, params, x1)  # checks the (N, O) output contract
    n2 = x1.shape[0] if x2 is None else x2.shape[0]
    itemsize = jax.tree_util.tree_leaves(params)[0].dtype.itemsize
    _memory_guard(x1.shape[0], n2, 1, itemsize, "pNTK", "pass row slices of x1.")
    return _blocked(fn, x1, x2, params, batch_size)


# ---------------------------------------------------------------------------
# comparisons


def _entk4(K, name: str) -> np.ndarray:
    K = _checks.finite_array(K, name, ndim=4, dtype=np.float64)
    if K.shape[2] != K.shape[3]:
        raise ValueError(f"{name} must have shape (N1, N2, O, O); got {K.shape}.")
    return K


def flatten_entk(K) -> np.ndarray:
    """Reshape an eNTK ``(N1, N2, O, O)`` into the ``(N1 O, N2 O)`` matrix.

    Row ``a * O + i`` is output ``i`` of input ``a`` (sample-major order), the
    order in which :func:`entk_regression` flattens targets.

    Returns
    -------
    ndarray, shape (N1 * O, N2 * O)
    """
    K = _entk4(K, "K")
    n1, n2, o, _ = K.shape
    return K.transpose(0, 2, 1, 3).reshape(n1 * o, n2 * o)


def relative_frobenius_error(entk_k, pntk_k) -> float:
    """``||eNTK - pNTK (x) I_O||_F / ||eNTK||_F`` (the pNTK paper's Frobenius criterion).

    Parameters
    ----------
    entk_k : array, shape (N1, N2, O, O)
    pntk_k : array, shape (N1, N2)

    Raises
    ------
    ValueError
        Shapes that disagree, non-finite entries, or an all-zero eNTK.
    """
    K = _entk4(entk_k, "entk_k")
    P = _checks.finite_array(pntk_k, "pntk_k", ndim=2, dtype=np.float64)
    if P.shape != K.shape[:2]:
        raise ValueError(f"pntk_k has shape {P.shape} but entk_k pairs {K.shape[:2]} inputs.")
    norm = float(np.linalg.norm(K))
    if norm == 0:
        raise ValueError("entk_k is all zeros; the relative error is undefined.")
    # pNTK (x) I_O in the (N1, N2, O, O) layout puts pNTK[a, b] on each O x O block's diagonal.
    diff = K - P[:, :, None, None] * np.eye(K.shape[2])
    return float(np.linalg.norm(diff)) / norm


class EigenStats(NamedTuple):
    """Extreme eigenvalues of a symmetric kernel matrix.

    Attributes
    ----------
    lambda_max, lambda_min : float
        Largest and smallest eigenvalue.
    condition_number : float
        ``lambda_max / lambda_min`` (``inf`` when ``lambda_min <= 0``).
    """

    lambda_max: float
    lambda_min: float
    condition_number: float


def eigen_stats(K) -> EigenStats:
    """:class:`EigenStats` of a square kernel: an eNTK ``(N, N, O, O)`` (flattened to N O x N O) or an N x N matrix."""
    arr = _checks.finite_array(K, "K", ndim=(2, 4), dtype=np.float64)
    if arr.ndim == 4:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"K must pair a set of inputs with itself; got shape {arr.shape}.")
        arr = flatten_entk(arr)
    M = _checks.symmetric_matrix(arr, "K")
    ev = np.linalg.eigvalsh(M)
    lo, hi = float(ev[0]), float(ev[-1])
    return EigenStats(hi, lo, hi / lo if lo > 0 else np.inf)


def compare_spectra(entk_k, pntk_k) -> dict:
    """Eigen-statistics of the eNTK (N O x N O) and of the pNTK (N x N) side by side.

    ``pNTK (x) I_O`` has the same eigenvalues as the pNTK (each O times), so the
    pNTK's extreme eigenvalues are compared directly with the eNTK's.

    Returns
    -------
    dict
        ``entk`` and ``pntk`` (:class:`EigenStats`), and ``rel_lambda_max``,
        ``rel_lambda_min``, ``rel_condition_number``: ``|pNTK - eNTK| / |eNTK|`` of each.
    """
    K = _entk4(entk_k, "entk_k")
    P = _checks.finite_array(pntk_k, "pntk_k", ndim=2, dtype=np.float64)
    if P.shape != K.shape[:2]:
        raise ValueError(f"pntk_k has shape {P.shape} but entk_k pairs {K.shape[:2]} inputs.")
    e, p = eigen_stats(K), eigen_stats(P)

    def rel(a: float, b: float) -> float:
        return abs(b - a) / abs(a) if a != 0 and np.isfinite(a) else np.nan

    return dict(
        entk=e,
        pntk=p,
        rel_lambda_max=rel(e.lambda_max, p.lambda_max),
        rel_lambda_min=rel(e.lambda_min, p.lambda_min),
        rel_condition_number=rel(e.condition_number, p.condition_number),
    )


# ---------------------------------------------------------------------------
# kernel regression with either kernel


def _targets(Y, n: int, o: int | None, name: str = "Y") -> np.ndarray:
    Y = _checks.finite_array(Y, name, ndim=2, dtype=np.float64)
    if Y.shape[0] != n:
        raise ValueError(f"{name} has {Y.shape[0]} rows but the kernel has {n} training inputs.")
    if o is not None and Y.shape[1] != o:
        raise ValueError(f"{name} has {Y.shape[1]} columns but the eNTK has O = {o} outputs.")
    return Y


def _offsets(f0_train, f0_test, Y: np.ndarray, m: int):
    """Initial outputs f_0 on train and test (zeros when not given)."""
    if (f0_train is None) != (f0_test is None):
        raise ValueError(
            "pass both f0_train and f0_test (the network's outputs at the weights of the kernel), or neither."
        )
    if f0_train is None:
        return np.zeros_like(Y), np.zeros((m, Y.shape[1]))
    f0_train = _targets(f0_train, Y.shape[0], Y.shape[1], "f0_train")
    f0_test = _targets(f0_test, m, Y.shape[1], "f0_test")
    return f0_train, f0_test


def entk_regression(
    K_train, Y, K_test_train=None, reg: float = 0.0, *, f0_train=None, f0_test=None
) -> np.ndarray:
    """Kernel regression with the full eNTK: one (N O) x (N O) system.

    ``f(x*) = f_0(x*) + eNTK(x*, X) [eNTK(X, X) + ridge I]^{-1} (Y - f_0(X))``,
    with all arrays flattened sample-major (:func:`flatten_entk`).  The ridge is
    relative, ``ridge = reg * trace / (N O)``, the same rule as
    :func:`pntk_regression` uses with ``trace / N``; since the diagonal blocks of
    the eNTK are close to the pNTK, one ``reg`` means the same for both.

    Parameters
    ----------
    K_train : array, shape (N, N, O, O)
    Y : array, shape (N, O)
        Targets (e.g. one-hot labels).
    K_test_train : array, shape (M, N, O, O), optional
        ``None`` predicts on the training inputs.
    reg : float
        Relative ridge (>= 0).
    f0_train, f0_test : arrays, shapes (N, O) and (M, O), optional
        The network's outputs at the kernel's weights (the linearised model's
        offset); zeros when omitted.

    Returns
    -------
    ndarray, shape (M, O)
    """
    K = _entk4(K_train, "K_train")
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    n, n2, o, _ = K.shape
    if n != n2:
        raise ValueError(f"K_train must be the eNTK of the training set with itself; got {K.shape}.")
    Y = _targets(Y, n, o)
    if K_test_train is None:
        Kt = K
    else:
        Kt = _entk4(K_test_train, "K_test_train")
        if Kt.shape[1:] != (n, o, o):
            raise ValueError(f"K_test_train must have shape (M, {n}, {o}, {o}); got {Kt.shape}.")
    m = Kt.shape[0]
    f0_tr, f0_te = _offsets(f0_train, f0_test, Y, m)
    pred = kernel_regression(
        flatten_entk(K), (Y - f0_tr).reshape(n * o), None if K_test_train is None else flatten_entk(Kt), reg
    )
    return f0_te + pred.reshape(m, o)


def pntk_regression(
    K_train, Y, K_test_train=None, reg: float = 0.0, *, f0_train=None, f0_test=None
) -> np.ndarray:
    """Kernel regression with the pNTK: one N x N system with O right-hand sides.

    ``f(x*) = f_0(x*) + pNTK(x*, X) [pNTK(X, X) + ridge I]^{-1} (Y - f_0(X))``,
    ``ridge = reg * trace(pNTK) / N`` (see :func:`entk_regression`).

    Parameters
    ----------
    K_train : array, shape (N, N)
    Y : array, shape (N, O)
    K_test_train : array, shape (M, N), optional
    reg, f0_train, f0_test
        As in :func:`entk_regression`.

    Returns
    -------
    ndarray, shape (M, O)
    """
    K = _checks.finite_array(K_train, "K_train", ndim=2, dtype=np.float64)
    reg = _checks.real_scalar(reg, "reg", low=0.0)
    n = K.shape[0]
    Y = _targets(Y, n, None)
    if K_test_train is None:
        m = n
    else:
        K_test_train = _checks.finite_array(K_test_train, "K_test_train", ndim=2, dtype=np.float64)
        if K_test_train.shape[1] != n:
            raise ValueError(
                f"K_test_train has {K_test_train.shape[1]} columns but there are {n} training inputs."
            )
        m = K_test_train.shape[0]
    f0_tr, f0_te = _offsets(f0_train, f0_test, Y, m)
    return f0_te + kernel_regression(K, Y - f0_tr, K_test_train, reg)


def relative_prediction_difference(f_entk, f_pntk) -> float:
    """``||f_eNTK - f_pNTK||_F / ||f_eNTK||_F`` over all test inputs and outputs."""
    return relative_frobenius(f_pntk, f_entk, ("f_pntk", "f_entk"))


# ---------------------------------------------------------------------------
# cost: time and memory


def _nbytes(aval) -> int:
    shape = getattr(aval, "shape", None)
    dtype = getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:  # key types and other extended dtypes
        return 0
    return int(np.prod(shape, dtype=np.int64)) * itemsize


def _sub_jaxprs(eqn) -> list:
    subs = []
    for param in eqn.params.values():
        for sub in param if isinstance(param, (list, tuple)) else [param]:
            inner = getattr(sub, "jaxpr", sub)
            if hasattr(inner, "eqns"):
                subs.append(inner)
    return subs


def _peak_extra(jaxpr) -> int:
    """Peak bytes a jaxpr allocates beyond its inputs, by liveness in program order.

    A value is live from the equation that creates it to its last use (outputs
    stay live to the end); a nested jaxpr (jit, custom derivatives, loops) adds
    its own peak on top of what is live around it.
    """
    from jax import core

    def is_var(v) -> bool:
        return isinstance(v, core.Var) and not isinstance(v, core.DropVar)

    last_use: dict = {}
    for k, eqn in enumerate(jaxpr.eqns):
        for v in eqn.invars:
            if is_var(v):
                last_use[v] = k
    end = len(jaxpr.eqns)
    for v in jaxpr.outvars:
        if is_var(v):
            last_use[v] = end
    live = 0
    peak = 0
    dying: dict[int, int] = {}
    for k, eqn in enumerate(jaxpr.eqns):
        inner = max((_peak_extra(s) for s in _sub_jaxprs(eqn)), default=0)
        out = sum(_nbytes(v.aval) for v in eqn.outvars if is_var(v))
        # during the equation: what is live, its workspace, and its results
        peak = max(peak, live + inner + out)
        for v in eqn.outvars:
            if is_var(v):
                live += _nbytes(v.aval)
                k_last = last_use.get(v, k)  # never used: freed right away
                dying[k_last] = dying.get(k_last, 0) + _nbytes(v.aval)
        # free values (not inputs, which the caller owns) whose last use was this equation
        live -= dying.pop(k, 0)
    return peak


def peak_memory_bytes(fn: Callable, *args) -> int:
    """Peak memory of ``fn(*args)`` estimated from its traced program (``jax.make_jaxpr``).

    The estimate is the largest total size of arrays alive at once when the
    program's equations run one after another, each value freed after its last
    use, plus the arguments (held by the caller throughout).  It runs nothing
    and allocates nothing.  XLA fuses element-wise work and reuses buffers, so
    the real peak is usually lower; the estimate tracks how memory *scales*
    (e.g. the O x P Jacobian per input that the full eNTK needs and the pNTK
    does not).  On CPU, XLA reports no allocator statistics, which is why this
    estimate is used.

    Parameters
    ----------
    fn
        A JAX-traceable function.
    *args
        Its arguments (arrays, pytrees, or ``jax.ShapeDtypeStruct`` specs).

    Returns
    -------
    int
        Bytes.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}.")
    closed = jax.make_jaxpr(fn)(*args)
    arg_bytes = sum(_nbytes(leaf) for leaf in jax.tree_util.tree_leaves(args))
    const_bytes = sum(_nbytes(getattr(v, "aval", None)) for v in closed.jaxpr.constvars)
    return int(arg_bytes + const_bytes + _peak_extra(closed.jaxpr))


class Cost(NamedTuple):
    """Time and memory of one kernel evaluation (from :func:`measure_cost`).

    Attributes
    ----------
    seconds : float
        Fastest wall-clock time of the compiled calls (compilation excluded).  The
        minimum, not the mean, because on a shared machine other processes only
        ever add time; the fastest call is the best estimate of the cost itself.
    compile_seconds : float
        Time of the first call (tracing, compilation and one run).
    peak_bytes : int
        :func:`peak_memory_bytes` of the call.
    """

    seconds: float
    compile_seconds: float
    peak_bytes: int


def measure_cost(fn: Callable, *args, repeats: int = 3) -> Cost:
    """Time ``fn(*args)`` (after one warm-up call) and estimate its peak memory.

    Parameters
    ----------
    fn
        A (jitted) JAX function, e.g. from :func:`entk_fn` or :func:`pntk_fn`.
    *args
        Its arguments; ``None`` is allowed (``x2=None``).
    repeats
        Number of timed calls; the fastest is reported.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {type(fn).__name__}.")
    repeats = _checks.positive_int(repeats, "repeats")
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return Cost(float(np.min(times)), compile_s, peak_memory_bytes(fn, *args))
