"""Label refurbishment by descending the block-diagonalization error (DeOliveira et al., Algorithm 1).

Relax the one-hot label matrix ``Y`` (N, K) to real values; eq. 13 is then a
smooth function ``L(Y)`` of it (:func:`ntkbook.tasks.labels.block_error_from_z`
with ``Z = Y^T A Y``, ``A = H^{-1}``, ``n = Y^T 1``).  Each step of Algorithm 1

1. computes the gradient ``G = dL/dY`` in closed form (``_eq10.gradient``, O(N K)),
2. scores every row i by how much moving its 1 from the current class ``a_i``
   to the best class lowers ``L`` to first order:
   ``d_i = max_j(-G_ij) - (-G_{i, a_i})``,
3. relabels the single row with the largest ``d_i`` to its best class.

Which class ``a_i`` is scored against (``score_against``)
---------------------------------------------------------
Algorithm 1 as printed takes ``a`` as the *initial* positions of the 1's and
never updates it (line 3 reads ``-G_{i, a_i}`` with ``a`` from the Require
line).  ``score_against="initial"`` (the default) follows the printed
algorithm: once row i has been moved from ``a_i`` to ``b``, its score
``max_j(-G_ij) - (-G_{i, a_i})`` stays large, so the same row can be chosen
again and "moved" to the class it already holds -- a step that changes
nothing.  Such no-op steps are recorded (``old == new``); with ``stop="auto"``
the first one ends the run (it cannot lower ``L``).
``score_against="current"`` scores against the row's current label instead,
which is what "its current label" in the paper's prose says.

Why the printed reading is the default: chapter 14 measures both readings on
the same noisy labels and budgets, and the printed one corrects far more of the
injected noise on MNIST and Fashion-MNIST (at the paper's budget, L = number of
corrupted labels, and with the automatic stop); the current-label reading keeps
re-flipping the same rows.  ``tests/test_refurbish_variants.py`` pins the
default to that comparison.  The prose reading stays available as
``score_against="current"``.

Stopping (``steps=None``, ``stop="auto"``): before applying the chosen flip we
evaluate the *exact* change of ``L`` it causes -- a flip of row i from class a
to b with ``e = e_b - e_a`` changes ``Z`` to
``Z + m_i e^T + e m_i^T + A_ii e e^T`` (``m_i`` the i-th row of ``A Y``) and ``n``
to ``n + e``, an O(K^2) computation -- and stop as soon as the best
first-order flip does not lower ``L``.  This needs no knowledge of how many
labels are wrong.  Rows whose class has only 2 members are never moved, since
eq. 10 needs ``n_k >= 2``.

Direct and incremental updates
------------------------------
Both versions factor ``H + ridge I`` once by Cholesky
(:func:`ntkbook.linalg.cholesky_solve`).  The direct version
(``incremental=False``) then re-solves ``M = A Y`` with that factor at every step
(O(N^2 K)) and rebuilds ``Z`` and ``n`` from ``Y``.  The incremental version
keeps ``M``, ``Z`` and ``n`` up to date: a flip i: a -> b changes column a of
``M`` by ``-A[:, i]`` and column b by ``+A[:, i]`` (O(N)), ``Z`` and ``n`` by the
rank-two formula above (O(K^2)), so a step costs O(N K), dominated by the
gradient.  Every flip may need any column of ``A``, so we form ``A`` once from the
Cholesky factor (LAPACK ``potri``, about the cost of the factorisation itself)
rather than paying an O(N^2) triangular-solve pair per flip; this is the one
place the package keeps an explicit inverse, and it costs N^2 floats of memory
(the same as H).

Several runs on one H (other noise draws, both readings, other budgets) can share
that setup: :func:`refurbish_setup` factorises and inverts once, and
``refurbish_labels(H, y, setup=...)`` then skips both; the flips are the same as
without it (same factor, same ``A``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .. import _checks
from ..linalg import cholesky_solve, inverse_from_factor
from ._eq10 import block_error, check_counts, gradient
from .labels import as_one_hot, block_error_from_z

__all__ = [
    "Refurbishment",
    "RefurbishSetup",
    "refurbish_labels",
    "refurbish_setup",
    "refurbish_scores",
    "STOP_RULES",
    "SCORE_AGAINST",
]

STOP_RULES = ("auto", "never")
"""Accepted values of ``stop`` in :func:`refurbish_labels`."""
SCORE_AGAINST = ("current", "initial")
"""Accepted values of ``score_against`` in :func:`refurbish_labels`."""


@dataclass(frozen=True)
class Refurbishment:
    """Result of :func:`refurbish_labels`.

    Attributes
    ----------
    labels : ndarray, shape (N,)
        Labels after the last applied flip.
    index, old, new : ndarray, shape (S,)
        Row relabelled at each applied step, its class before and after
        (``old == new`` marks a no-op step, possible only with
        ``score_against="initial"``).
    gain : ndarray, shape (S,)
        First-order score ``d_I`` of each applied flip.
    L : ndarray, shape (S + 1,)
        ``L(Z)`` before the first step and after each applied step.
    next_dL : float
        Exact change of ``L`` the next (rejected or not attempted) best flip would
        have caused; NaN if no candidate was left.
    stop_reason : str
        ``"no decrease"`` (auto rule), ``"steps"`` (budget used), or
        ``"stationary"`` (no row prefers another class).
    ridge, condition_number : float
        From the Cholesky solve of ``H + ridge I``.
    incremental : bool
        Which update was used.
    score_against : str
        ``"current"`` or ``"initial"`` (see the module docstring).
    seconds : dict
        Wall-clock seconds of the ``"setup"`` (checks, factorisation, condition
        number, and for the incremental version forming ``A``) and of the
        ``"loop"`` of flips, so the per-flip cost of the two versions can be
        compared apart from the setup they share.
    """

    labels: np.ndarray
    index: np.ndarray
    old: np.ndarray
    new: np.ndarray
    gain: np.ndarray
    L: np.ndarray
    next_dL: float
    stop_reason: str
    ridge: float
    condition_number: float
    incremental: bool
    seconds: dict | None = None
    score_against: str = "initial"

    @property
    def steps(self) -> int:
        """Number of applied steps (no-op steps included)."""
        return int(self.index.shape[0])

    @property
    def changed_rows(self) -> int:
        """Number of distinct rows whose label differs from the start after all steps."""
        if self.steps == 0:
            return 0
        start: dict[int, int] = {}
        for i, a in zip(self.index, self.old):  # first class each touched row held
            start.setdefault(int(i), int(a))
        y = self.labels[np.fromiter(start, dtype=np.int64)]
        return int(np.sum(y != np.fromiter(start.values(), dtype=np.int64)))

    def labels_after(self, y_start, step: int) -> np.ndarray:
        """Labels after the first ``step`` flips, replayed from the starting labels (N,)."""
        y = _checks.labels(y_start, "y_start", n=len(self.labels)).copy()
        step = _checks.positive_int(step, "step", minimum=0)
        if step > self.steps:
            raise ValueError(f"step={step} but only {self.steps} steps were applied.")
        for t in range(step):  # in order: a row may be flipped twice
            y[self.index[t]] = self.new[t]
        return y

    def accuracy_path(self, y_start, y_true) -> np.ndarray:
        """Share of labels equal to ``y_true`` after 0, 1, ..., S flips, shape (S + 1,)."""
        y = _checks.labels(y_start, "y_start", n=len(self.labels)).copy()
        y_true = _checks.labels(y_true, "y_true", n=len(self.labels))
        correct = int(np.sum(y == y_true))
        out = [correct]
        for i, b in zip(self.index, self.new):
            correct += int(b == y_true[i]) - int(y[i] == y_true[i])
            y[i] = b
            out.append(correct)
        return np.asarray(out, dtype=np.float64) / len(y)


@dataclass(frozen=True)
class RefurbishSetup:
    """The per-H work of :func:`refurbish_labels`, shareable among runs on the same H.

    Attributes
    ----------
    H : ndarray, shape (N, N)
        The checked Gram matrix the setup belongs to.
    reg : float
        Relative ridge it was built with.
    factor : tuple
        ``scipy.linalg.cho_factor`` factor of ``H + ridge I``.
    ridge, condition_number : float
        From :func:`ntkbook.linalg.cholesky_solve` (LAPACK's 1-norm estimate).
    A : ndarray, shape (N, N)
        ``(H + ridge I)^{-1}`` formed from the factor (LAPACK ``potri``), read by the
        incremental updates.
    seconds : float
        Wall-clock seconds the setup took.
    """

    H: np.ndarray = field(repr=False)
    reg: float
    factor: tuple = field(repr=False)
    ridge: float
    condition_number: float
    A: np.ndarray = field(repr=False)
    seconds: float = 0.0


def refurbish_setup(H, reg: float = 0.0) -> RefurbishSetup:
    """Factorise and invert ``H + ridge I`` once for several :func:`refurbish_labels` runs.

    Parameters
    ----------
    H : array, shape (N, N)
        Infinite-width Gram matrix, symmetric positive definite.
    reg
        Relative ridge (``reg * trace(H)/N``), as in :func:`refurbish_labels`.

    Returns
    -------
    RefurbishSetup

    Raises
    ------
    ValueError
        Non-symmetric or non-finite H, a negative ``reg``, a system too
        ill-conditioned to solve, or a failed inversion.
    """
    t0 = time.perf_counter()
    H = _checks.symmetric_matrix(H, "H")
    # The loop is the work; an O(N^3) exact condition number would cost more than
    # the whole incremental loop, so the guard uses LAPACK's O(N^2) estimate.
    sol = cholesky_solve(H, np.zeros((H.shape[0], 1)), reg, condition="estimate")
    A = inverse_from_factor(sol.factor)
    A.flags.writeable = False  # shared by every run that gets this setup
    return RefurbishSetup(
        H=H,
        reg=float(reg),
        factor=sol.factor,
        ridge=sol.ridge,
        condition_number=sol.condition_number,
        A=A,
        seconds=time.perf_counter() - t0,
    )


def _flip_update(
    Z: np.ndarray, n: np.ndarray, m_i: np.ndarray, a_ii: float, a: int, b: int
) -> tuple[np.ndarray, np.ndarray]:
    """``Z`` (K, K) and ``n`` (K,) after moving one row from class a to b (rank-two update)."""
    e = np.zeros_like(n)
    e[a] -= 1.0
    e[b] += 1.0  # a == b (a no-op step) leaves e = 0
    Z_new = Z + np.outer(m_i, e) + np.outer(e, m_i) + a_ii * np.outer(e, e)
    return Z_new, n + e


def refurbish_labels(
    H,
    y_noisy,
    steps: int | None = None,
    stop: str = "auto",
    beta: float = 1.0,
    incremental: bool = True,
    *,
    reg: float = 0.0,
    num_classes: int | None = None,
    score_against: str = "initial",
    setup: RefurbishSetup | None = None,
) -> Refurbishment:
    """Relabel one sample per step along ``-dL/dY`` (Algorithm 1 of DeOliveira et al.).

    Parameters
    ----------
    H : array, shape (N, N)
        Infinite-width Gram matrix, symmetric positive definite.
    y_noisy : array, shape (N,)
        Integer labels to refurbish, in ``[0, K)``.
    steps
        Most flips to make; ``None`` means up to N and requires ``stop="auto"``.
    stop
        ``"auto"``: stop when the best first-order flip would not lower ``L``
        (exact change, see the module docstring).  ``"never"``: make exactly
        ``steps`` flips (the paper's fixed iteration count), unless no row
        prefers another class.
    beta
        Off-diagonal weight of eq. 10.
    incremental
        Keep ``A Y``, ``Z`` and the counts up to date in O(N K) per flip
        (default) instead of re-solving ``A Y`` every step; both make the same
        flips.
    reg
        Relative ridge on H (``reg * trace(H)/N``).
    num_classes
        K (default ``max(y_noisy) + 1``).
    score_against
        ``"initial"`` (default): score each row against its label in
        ``y_noisy``, as Algorithm 1 is printed (the vector ``a`` is never
        updated); the reading chapter 14 measures as correcting more labels.
        ``"current"``: against its current label, as the paper's prose says.
        See the module docstring.
    setup
        :func:`refurbish_setup` of this ``H`` and ``reg``, to share the
        factorisation and inverse among runs; ``None`` computes them here.  The
        flips are the same either way.

    Returns
    -------
    Refurbishment

    Raises
    ------
    ValueError
        Non-symmetric or non-finite H, ``y_noisy`` of the wrong length or out of
        range, a class with fewer than 2 members, an unknown ``stop`` or
        ``score_against``, ``steps=None`` with ``stop="never"``, or a ``setup``
        made from another H or ``reg``.
    """
    t_start = time.perf_counter()
    if stop not in STOP_RULES:
        raise ValueError(f"stop={stop!r}; expected one of {STOP_RULES}.")
    if score_against not in SCORE_AGAINST:
        raise ValueError(f"score_against={score_against!r}; expected one of {SCORE_AGAINST}.")
    if steps is None and stop == "never":
        raise ValueError("steps=None needs stop='auto' (otherwise nothing says when to stop).")
    beta = float(beta)
    if not np.isfinite(beta):
        raise ValueError(f"beta must be finite; got {beta}.")
    if setup is None:
        H = _checks.symmetric_matrix(H, "H")
    elif not isinstance(setup, RefurbishSetup):
        raise TypeError(f"setup must be a RefurbishSetup from refurbish_setup; got {type(setup).__name__}.")
    elif not (H is setup.H or np.array_equal(np.asarray(H), setup.H)) or float(reg) != setup.reg:
        raise ValueError(
            "setup was made from another H or reg; build it with refurbish_setup(H, reg) for this H."
        )
    else:
        H = setup.H
    N = H.shape[0]
    Y = as_one_hot(y_noisy, N, num_classes, name="y_noisy")
    K = Y.shape[1]
    if K < 2:
        raise ValueError("y_noisy has a single class; there is nothing to relabel to.")
    n = Y.sum(0)
    check_counts(n, "y_noisy")
    max_steps = N if steps is None else _checks.positive_int(steps, "steps")
    labels = np.argmax(Y, axis=1).astype(np.int64)
    # the class each row is scored against: the printed algorithm's fixed a, or the live labels
    ref = labels.copy() if score_against == "initial" else labels

    if setup is None:
        # The loop is the work; an O(N^3) exact condition number would cost more than
        # the whole incremental loop, so the guard uses LAPACK's O(N^2) estimate.
        sol = cholesky_solve(H, Y, reg, condition="estimate")
        c_factor, lower = sol.factor
        M, ridge, cond = sol.alpha, sol.ridge, sol.condition_number
    else:
        c_factor, lower = setup.factor
        # the solve cholesky_solve would do with the same factor: same M
        M = scipy.linalg.cho_solve(setup.factor, Y)
        ridge, cond = setup.ridge, setup.condition_number
    Z = Y.T @ M
    Z = 0.5 * (Z + Z.T)
    L_now = block_error_from_z(Z, n, beta)
    if incremental and setup is not None:
        A = setup.A
    elif incremental:
        A = inverse_from_factor((c_factor, lower))
    rows = np.arange(N)
    t_loop = time.perf_counter()
    hist_i, hist_a, hist_b, hist_g, hist_L = [], [], [], [], [L_now]
    reason, next_dL = "steps", float("nan")
    for t in range(max_steps):
        if not incremental and t > 0:
            M = scipy.linalg.cho_solve((c_factor, lower), Y)
            Z = Y.T @ M
            Z = 0.5 * (Z + Z.T)
            n = Y.sum(0)
        neg = -gradient(M, Z, n, beta)
        d = neg.max(axis=1) - neg[rows, ref]
        d[n[labels] <= 2] = -np.inf  # never empty a class below 2 members
        I = int(np.argmax(d))
        if not d[I] > 0:
            reason = "stationary"
            break
        J = int(np.argmax(neg[I]))
        a = int(labels[I])
        if incremental:
            a_ii = float(A[I, I])
        else:
            x = scipy.linalg.solve_triangular(
                c_factor, np.eye(1, N, I)[0], lower=lower, trans=0 if lower else 1
            )
            a_ii = float(x @ x)  # A_II = ||L^{-1} e_I||^2 from the factor
        Z_new, n_new = _flip_update(Z, n, M[I], a_ii, a, J)  # a == J: Z, n unchanged
        # Z_new is symmetric and no class drops below 2 members (guard above): no checks
        L_new = block_error(Z_new, n_new, beta)
        if stop == "auto" and not L_new < L_now:
            reason, next_dL = "no decrease", L_new - L_now
            break
        labels[I] = J
        Y[I, a], Y[I, J] = 0.0, 1.0
        if incremental:
            M[:, a] -= A[:, I]
            M[:, J] += A[:, I]
            Z, n = Z_new, n_new
        L_now = L_new
        hist_i.append(I)
        hist_a.append(a)
        hist_b.append(J)
        hist_g.append(float(d[I]))
        hist_L.append(L_now)
    return Refurbishment(
        labels=labels,
        index=np.asarray(hist_i, np.int64),
        old=np.asarray(hist_a, np.int64),
        new=np.asarray(hist_b, np.int64),
        gain=np.asarray(hist_g),
        L=np.asarray(hist_L),
        next_dL=next_dL,
        stop_reason=reason,
        ridge=ridge,
        condition_number=cond,
        incremental=bool(incremental),
        seconds={"setup": t_loop - t_start, "loop": time.perf_counter() - t_loop},
        score_against=score_against,
    )


def refurbish_scores(y_true, y_noisy, y_new, *, num_classes: int | None = None) -> dict[str, float]:
    """How well a relabelling repaired noisy labels.

    Parameters
    ----------
    y_true, y_noisy, y_new : array, shape (N,)
        Ground truth, the labels given to the method, and its output.
    num_classes
        K; every label must lie in ``[0, K)``.  Default ``max(y_true, y_noisy) + 1``:
        a relabelling only moves samples between classes that exist, so ``y_new``
        may not introduce a new one.

    Returns
    -------
    dict
        ``corrected``: share of the noisy labels (``y_noisy != y_true``) whose new
        label is the true one; ``clean_changed``: share of the clean labels the
        method changed; ``accuracy_before`` and ``accuracy_after``; ``n_noisy``.
    """
    if num_classes is not None:
        num_classes = _checks.positive_int(num_classes, "num_classes")
    y_true = _checks.labels(y_true, "y_true", num_classes)
    if y_true.size == 0:
        raise ValueError("y_true is empty; there is nothing to score.")
    y_noisy = _checks.labels(y_noisy, "y_noisy", num_classes, n=len(y_true))
    k = num_classes if num_classes is not None else int(max(y_true.max(), y_noisy.max())) + 1
    y_new = _checks.labels(y_new, "y_new", k, n=len(y_true))
    noisy = y_noisy != y_true
    return dict(
        corrected=float(np.mean(y_new[noisy] == y_true[noisy])) if noisy.any() else float("nan"),
        clean_changed=float(np.mean(y_new[~noisy] != y_true[~noisy])) if (~noisy).any() else float("nan"),
        accuracy_before=float(np.mean(y_noisy == y_true)),
        accuracy_after=float(np.mean(y_new == y_true)),
        n_noisy=int(noisy.sum()),
    )
