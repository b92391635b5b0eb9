"""Look-ahead active learning with kernel-regression retraining (Mohamadi, Bae, Sutherland 2022).

A network trained on the labelled set L gives outputs ``f0``; around its weights the
empirical NTK ``K`` (or the cheaper pNTK) turns "retrain on L plus one more labelled
point" into a kernel-regression update,

    f_{L+c}(x) = f0(x) + K(x, [L; c]) (K([L; c], [L; c]) + ridge I)^{-1} ([Y_L; y] - f0([L; c])).

Adding one point to L only borders the matrix ``A = K_LL + ridge I`` with one row and
column, so nothing has to be refactorised:

* the Cholesky factor of the bordered matrix is the old factor plus one row
  (:class:`GrowingCholesky`, cost O(N^2) instead of O(N^3));
* by the Schur complement ``s_c = k_cc + ridge - K_cL A^{-1} K_Lc`` the new predictions are
  the old ones plus a rank-one term (:func:`lookahead`):

      f_{L+c}(x) = f_L(x) + G[x, c] (y - f_L(c)),   G[x, c] = (K_xc - K_xL A^{-1} K_Lc) / s_c.

  One triangular solve with all candidates as right-hand sides gives ``G`` for every
  candidate and every hypothetical label at once.

The ridge is kept in absolute units while L grows (it is chosen once, relative to
``trace(K_LL)/N`` like ``neural_tangents.predict`` and the authors' code, and then frozen) so
that the update is *exactly* the direct solve on the enlarged set.

Acquisition scores (larger = acquire first): :func:`score_output_change` (expected squared
change of the pool's outputs), :func:`score_loss_change` (expected absolute change of the
pool's cross-entropy against its current pseudo-labels), :func:`score_entropy` (max-entropy)
and :func:`score_random`; :func:`top_k` picks the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.special

from . import _checks, _numerics
from .linalg import cholesky_solve, relative_ridge

__all__ = [
    "GrowingCholesky",
    "LookAhead",
    "lookahead",
    "retrain_direct",
    "output_change_direct",
    "softmax",
    "score_output_change",
    "score_loss_change",
    "score_entropy",
    "score_random",
    "top_k",
    "relative_ridge",
]


class GrowingCholesky:
    """Lower Cholesky factor of ``K + ridge I`` that grows by one row per added point.

    Parameters
    ----------
    K : array, shape (N, N)
        Symmetric positive semi-definite kernel on the current labelled set.
    ridge : float
        Absolute ridge added to the diagonal (kept fixed as points are added).

    Raises
    ------
    ValueError
        If ``K + ridge I`` is not numerically positive definite (the message gives the
        smallest eigenvalue and the ridge).
    """

    def __init__(self, K, ridge: float = 0.0):
        K = _checks.symmetric_matrix(K, "K")
        self.ridge = _checks.real_scalar(ridge, "ridge", low=0.0)
        A = K + self.ridge * np.eye(K.shape[0])
        try:
            self.L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError as err:
            lam = float(np.linalg.eigvalsh(A)[0])
            raise ValueError(
                f"K + ridge I is not positive definite (smallest eigenvalue {lam:.3g}, "
                f"ridge {self.ridge:.3g}); pass a larger ridge."
            ) from err

    @property
    def n(self) -> int:
        """Current number of points N."""
        return self.L.shape[0]

    def solve(self, B) -> np.ndarray:
        """Return ``(K + ridge I)^{-1} B`` for ``B`` of shape (N,) or (N, R)."""
        B = _checks.finite_array(B, "B", ndim=(1, 2), dtype=np.float64)
        if B.shape[0] != self.n:
            raise ValueError(f"B has {B.shape[0]} rows but the factor is {self.n}x{self.n}.")
        return scipy.linalg.cho_solve((self.L, True), B)

    def append(self, b, d: float) -> float:
        """Border ``K`` with column ``b`` and diagonal entry ``d``; update the factor in O(N^2).

        With ``l = L^{-1} b`` and Schur complement ``s = d + ridge - l.l``, the new factor is
        ``[[L, 0], [l^T, sqrt(s)]]``.

        Parameters
        ----------
        b : array, shape (N,)
            Kernel between the current points and the new one.
        d : float
            Kernel of the new point with itself.

        Returns
        -------
        float
            The Schur complement ``s`` (the new point's residual variance plus ridge).

        Raises
        ------
        ValueError
            If ``s <= 0``: the new point is (numerically) a copy of the span of the old ones.
        """
        b = _checks.finite_array(b, "b", ndim=1, dtype=np.float64)
        if b.shape[0] != self.n:
            raise ValueError(f"b has length {b.shape[0]} but there are {self.n} points.")
        d = float(_checks.finite_array(d, "d", ndim=0))
        l = scipy.linalg.solve_triangular(self.L, b, lower=True)
        s = d + self.ridge - float(l @ l)
        if not s > 1e-12 * max(d + self.ridge, float(np.finfo(float).tiny)):
            raise ValueError(
                f"the bordered matrix is not positive definite: Schur complement {s:.3g} "
                f"(d + ridge = {d + self.ridge:.3g}); the new point is numerically "
                f"dependent on the old ones, use a larger ridge."
            )
        n = self.n
        L = np.zeros((n + 1, n + 1))
        L[:n, :n] = self.L
        L[n, :n] = l
        L[n, n] = np.sqrt(s)
        self.L = L
        return s


@dataclass(frozen=True)
class LookAhead:
    """Every one-point retraining at once, as returned by :func:`lookahead`.

    Retraining on L plus candidate ``c`` with target row ``t`` changes the outputs at
    evaluation point ``e`` by ``G[e, c] * (t - f_cand[c])``.

    Attributes
    ----------
    G : ndarray, shape (E, C)
        Rank-one gains ``(K_ec - K_eL A^{-1} K_Lc) / s_c``.
    schur : ndarray, shape (C,)
        Schur complements ``s_c = k_cc + ridge - K_cL A^{-1} K_Lc``.
    f_eval : ndarray, shape (E, O)
        Current outputs f_L on the evaluation points.
    f_cand : ndarray, shape (C, O)
        Current outputs f_L on the candidates.
    """

    G: np.ndarray
    schur: np.ndarray
    f_eval: np.ndarray
    f_cand: np.ndarray

    def predictions(self, c: int, target) -> np.ndarray:
        """Outputs on the evaluation points after adding candidate ``c`` with ``target`` (O,)."""
        c = _checks.positive_int(c, "c", minimum=0)
        if c >= self.G.shape[1]:
            raise ValueError(
                f"c={c} but there are {self.G.shape[1]} candidates (c in [0, {self.G.shape[1]}))."
            )
        target = _checks.finite_array(target, "target", ndim=1, dtype=np.float64)
        if target.shape != self.f_cand.shape[1:]:
            raise ValueError(
                f"target has shape {target.shape}; expected {self.f_cand.shape[1:]} (one entry per output)."
            )
        return self.f_eval + np.outer(self.G[:, c], target - self.f_cand[c])


def lookahead(chol: GrowingCholesky, K_LC, K_EC, K_EL, k_CC, f_eval, f_cand) -> LookAhead:
    """Rank-one look-ahead of kernel-regression retraining for every candidate.

    Parameters
    ----------
    chol
        Factor of ``K_LL + ridge I`` on the labelled set (N points).
    K_LC : array, shape (N, C)
        Kernel between labelled points and candidates.
    K_EC : array, shape (E, C)
        Kernel between evaluation points and candidates.
    K_EL : array, shape (E, N)
        Kernel between evaluation points and labelled points.
    k_CC : array, shape (C,)
        Kernel of each candidate with itself.
    f_eval : array, shape (E, O)
        Current predictions (after kernel regression on L) at the evaluation points.
    f_cand : array, shape (C, O)
        Current predictions at the candidates.

    Returns
    -------
    LookAhead
    """
    if not isinstance(chol, GrowingCholesky):
        raise TypeError(f"chol must be a GrowingCholesky; got {type(chol).__name__}.")
    K_LC = _checks.finite_array(K_LC, "K_LC", ndim=2, dtype=np.float64)
    K_EC = _checks.finite_array(K_EC, "K_EC", ndim=2, dtype=np.float64)
    K_EL = _checks.finite_array(K_EL, "K_EL", ndim=2, dtype=np.float64)
    k_CC = _checks.finite_array(k_CC, "k_CC", ndim=1, dtype=np.float64)
    f_eval = _checks.finite_array(f_eval, "f_eval", ndim=2, dtype=np.float64)
    f_cand = _checks.finite_array(f_cand, "f_cand", ndim=2, dtype=np.float64)
    n, c = K_LC.shape
    e = K_EC.shape[0]
    if n != chol.n:
        raise ValueError(f"K_LC has {n} rows but the labelled set has {chol.n} points.")
    if K_EC.shape[1] != c or k_CC.shape[0] != c or f_cand.shape[0] != c:
        raise ValueError(
            f"candidate counts disagree: K_LC {K_LC.shape}, K_EC {K_EC.shape}, "
            f"k_CC {k_CC.shape}, f_cand {f_cand.shape}."
        )
    if K_EL.shape != (e, n) or f_eval.shape[0] != e:
        raise ValueError(
            f"evaluation shapes disagree: K_EC {K_EC.shape}, K_EL {K_EL.shape} "
            f"(expected ({e}, {n})), f_eval {f_eval.shape}."
        )
    if f_eval.shape[1] != f_cand.shape[1]:
        raise ValueError(f"f_eval has {f_eval.shape[1]} outputs but f_cand has {f_cand.shape[1]}.")
    # One triangular solve for all candidates: W = L^{-1} K_LC, so that
    # K_cL A^{-1} K_Lc = |W_c|^2 and K_eL A^{-1} K_Lc = (L^{-1} K_Le) . W_c.
    W = scipy.linalg.solve_triangular(chol.L, K_LC, lower=True)  # (N, C)
    V = scipy.linalg.solve_triangular(chol.L, K_EL.T, lower=True)  # (N, E)
    schur = k_CC + chol.ridge - np.einsum("nc,nc->c", W, W)
    if np.any(schur <= 0):
        bad = int(np.argmin(schur))
        raise ValueError(
            f"candidate {bad} has Schur complement {schur[bad]:.3g} <= 0; it is "
            f"numerically in the span of the labelled set, use a larger ridge."
        )
    G = (K_EC - V.T @ W) / schur[None, :]
    return LookAhead(G=G, schur=schur, f_eval=f_eval, f_cand=f_cand)


def retrain_direct(K, Y, f0, labelled, ridge: float) -> np.ndarray:
    """Reference: kernel-regression predictions on all points from a fresh Cholesky solve.

    Parameters
    ----------
    K : array, shape (P, P)
        Kernel on all points.
    Y : array, shape (N, O)
        Targets of the labelled points.
    f0 : array, shape (P, O)
        Network outputs on all points.
    labelled : array of int, shape (N,)
        Indices of the labelled points in ``K``.
    ridge : float
        Absolute ridge.

    Returns
    -------
    ndarray, shape (P, O)
        ``f0 + K[:, L] (K[L, L] + ridge I)^{-1} (Y - f0[L])``.
    """
    K = _checks.symmetric_matrix(K, "K")
    f0 = _checks.finite_array(f0, "f0", ndim=2, dtype=np.float64)
    if f0.shape[0] != K.shape[0]:
        raise ValueError(f"f0 has {f0.shape[0]} rows but K is {K.shape[0]}x{K.shape[0]}.")
    idx = _checks.indices(labelled, "labelled", K.shape[0], min_size=1)
    ridge = _checks.real_scalar(ridge, "ridge", low=0.0)
    Y = _checks.finite_array(Y, "Y", ndim=2, dtype=np.float64)
    if Y.shape != (len(idx), f0.shape[1]):
        raise ValueError(f"Y has shape {Y.shape}; expected ({len(idx)}, {f0.shape[1]}).")
    sol = cholesky_solve(K[np.ix_(idx, idx)], Y - f0[idx], ridge, relative=False)
    return f0 + K[:, idx] @ sol.alpha


def output_change_direct(K, f0, Y, labelled, candidates, q, ridge: float) -> np.ndarray:
    """:func:`score_output_change` without the rank-one update: one fresh solve per candidate.

    For each candidate the bordered matrix ``K[L+c, L+c] + ridge I`` is factorised anew
    (O((N+1)^3) each) and the O one-hot labels are solved for together.  This is the
    baseline of the timing comparison and a reference for the fast path.

    Parameters
    ----------
    K : array, shape (P, P)
        Kernel on all points; the evaluation set is all P points.
    f0 : array, shape (P, O)
        Network outputs on all points.
    Y : array, shape (N, O)
        Targets of the labelled points.
    labelled : array of int, shape (N,)
    candidates : array of int, shape (C,)
    q : array, shape (C, O)
        Label probabilities of the candidates.
    ridge : float
        Absolute ridge.

    Returns
    -------
    ndarray, shape (C,)
    """
    K = _checks.symmetric_matrix(K, "K")
    f0 = _checks.finite_array(f0, "f0", ndim=2, dtype=np.float64)
    lab = _checks.indices(labelled, "labelled", K.shape[0], min_size=1)
    cand = _checks.indices(candidates, "candidates", K.shape[0], min_size=1)
    both = np.intersect1d(lab, cand)
    if both.size:
        raise ValueError(
            f"candidates must not be labelled already; index {int(both[0])} is in "
            "both candidates and labelled."
        )
    o = f0.shape[1]
    q = _check_q(q, len(cand), o)
    f_now = retrain_direct(K, Y, f0, lab, ridge)
    scores = np.empty(len(cand))
    eye = np.eye(o)
    for j, c in enumerate(cand):
        idx = np.concatenate([lab, [c]])
        # right-hand sides for every hypothetical label y at once: (N + 1, O_labels, O)
        rhs = np.concatenate(
            [np.broadcast_to((Y - f0[lab])[:, None, :], (len(lab), o, o)), (eye - f0[c])[None]], axis=0
        )
        # a fresh factorisation per candidate is the point of this baseline; the O(N^2)
        # condition estimate keeps the guard without an O(N^3) eigendecomposition
        alpha = cholesky_solve(
            K[np.ix_(idx, idx)], rhs.reshape(len(idx), o * o), ridge, relative=False, condition="estimate"
        ).alpha
        new = f0[:, None, :] + (K[:, idx] @ alpha).reshape(-1, o, o)  # (P, y, O)
        change2 = np.mean(np.sum((new - f_now[:, None, :]) ** 2, axis=2), axis=0)  # (y,)
        scores[j] = q[j] @ change2
    return scores


def softmax(f, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``f / temperature``, shape preserved (last axis = classes)."""
    f = _checks.finite_array(f, "f", dtype=np.float64)
    if f.ndim < 1:
        raise ValueError(f"f must have a class axis (last axis); got shape {f.shape}.")
    temperature = _checks.real_scalar(temperature, "temperature", low=0.0, low_open=True)
    return _numerics.softmax(f / temperature)


def _check_lookahead(la) -> None:
    if not isinstance(la, LookAhead):
        raise TypeError(f"la must be a LookAhead (from lookahead()); got {type(la).__name__}.")


def _check_q(q, c: int, o: int) -> np.ndarray:
    q = _checks.finite_array(q, "q", ndim=2, dtype=np.float64)
    if q.shape != (c, o):
        raise ValueError(f"q must have shape ({c}, {o}) (candidates x classes); got {q.shape}.")
    if np.any(q < 0) or not np.allclose(q.sum(1), 1.0, atol=1e-8):
        raise ValueError("q must hold probability rows (non-negative, summing to 1).")
    return q


def score_output_change(la: LookAhead, q) -> np.ndarray:
    """Expected mean squared change of the evaluation outputs from acquiring each candidate.

    ``score[c] = sum_y q[c, y] * mean_e |G[e, c] (e_y - f_cand[c])|^2``, the label drawn from
    the model's own belief ``q`` (one-hot targets ``e_y``).

    Parameters
    ----------
    la : LookAhead
    q : array, shape (C, O)
        Predicted class probabilities of the candidates.

    Returns
    -------
    ndarray, shape (C,)
    """
    _check_lookahead(la)
    c, o = la.f_cand.shape
    q = _check_q(q, c, o)
    # |e_y - f|^2 = 1 - 2 f_y + |f|^2, for every y at once.
    resid2 = 1.0 - 2.0 * la.f_cand + np.sum(la.f_cand**2, axis=1, keepdims=True)  # (C, O)
    return np.mean(la.G**2, axis=0) * np.sum(q * resid2, axis=1)


def score_loss_change(la: LookAhead, q, temperature: float = 1.0) -> np.ndarray:
    """Expected mean absolute change of the evaluation points' cross-entropy loss.

    The loss of evaluation point ``e`` is the cross-entropy of ``softmax(f / temperature)``
    against its current pseudo-label ``argmax f_eval[e]`` (the pool has no labels);
    ``score[c] = sum_y q[c, y] * mean_e |loss_e(after c, y) - loss_e(now)|``.

    Parameters
    ----------
    la : LookAhead
    q : array, shape (C, O)
    temperature : float

    Returns
    -------
    ndarray, shape (C,)
    """
    _check_lookahead(la)
    temperature = _checks.real_scalar(temperature, "temperature", low=0.0, low_open=True)
    c, o = la.f_cand.shape
    q = _check_q(q, c, o)
    e = la.f_eval.shape[0]
    rows = np.arange(e)
    pseudo = np.argmax(la.f_eval, axis=1)  # (E,)
    logp_now = np.log(softmax(la.f_eval, temperature))[rows, pseudo]
    # After acquiring c with label y the logits of e are f_eval[e] + G[e, c] (e_y - f_cand[c]),
    # i.e. b[:, e, c] + g[e, c] * e_y with b and g independent of y.  So one exponential of b
    # serves all O labels: sum_o exp(logit_o) = rest_y + exp(b_y) exp(g), where rest_y, the sum
    # over o != y, comes from prefix and suffix sums (no cancellation).  Same value as the
    # direct log-softmax of every (E, C, O) tensor per label, with O times fewer exponentials.
    g = la.G / temperature  # (E, C)
    b = (la.f_eval.T[:, :, None] - la.G[None] * la.f_cand.T[:, None, :]) / temperature  # (O, E, C)
    m = b.max(axis=0)  # stabilising shift
    base = b[pseudo, rows, :]  # (E, C)
    # With |g| <= 300 every term that exp(b - m) flushes to zero (< e^-745) is negligible
    # against the kept part of the sum (>= e^-300); larger gains take the direct route.
    fast = bool(np.max(np.abs(g)) <= 300.0)
    if fast:
        w = np.exp(b - m)
        pre = np.cumsum(w, axis=0)
        suf = np.cumsum(w[::-1], axis=0)[::-1]
        eg = np.exp(g)
    scores = np.zeros(c)
    for y in range(o):
        if fast:
            rest = (pre[y - 1] if y > 0 else 0.0) + (suf[y + 1] if y < o - 1 else 0.0)
            lse = m + np.log(rest + w[y] * eg)
        else:
            z = b.copy()
            z[y] += g
            lse = scipy.special.logsumexp(z, axis=0)
        logp = base + g * (pseudo == y)[:, None] - lse  # (E, C)
        scores += q[:, y] * np.mean(np.abs(logp - logp_now[:, None]), axis=0)
    return scores


def score_entropy(q) -> np.ndarray:
    """Shannon entropy (nats) of each row of ``q`` (C, O): the max-entropy baseline."""
    q = _checks.finite_array(q, "q", ndim=2, dtype=np.float64)
    if np.any(q < 0) or not np.allclose(q.sum(1), 1.0, atol=1e-8):
        raise ValueError("q must hold probability rows (non-negative, summing to 1).")
    return -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0), axis=1)


def score_random(n: int, seed: int) -> np.ndarray:
    """Independent uniform scores for ``n`` candidates (random acquisition)."""
    n = _checks.positive_int(n, "n")
    seed = _checks.positive_int(seed, "seed", minimum=0)
    return np.random.default_rng(seed).random(n)


def top_k(scores, k: int, exclude=None) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first, skipping indices in ``exclude``.

    Raises
    ------
    ValueError
        If fewer than ``k`` candidates remain, or ``exclude`` holds an index outside
        ``[0, len(scores))`` (negative indices are not wrapped).
    """
    scores = _checks.finite_array(scores, "scores", ndim=1, dtype=np.float64).copy()
    k = _checks.positive_int(k, "k")
    if exclude is not None:
        # repeats are harmless here (excluding twice is excluding once)
        scores[_checks.indices(exclude, "exclude", len(scores), unique=False)] = -np.inf
    if np.sum(np.isfinite(scores)) < k:
        raise ValueError(f"k={k} but only {int(np.sum(np.isfinite(scores)))} candidates remain.")
    order = np.argsort(-scores, kind="stable")
    return order[:k]
