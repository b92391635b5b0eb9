"""The pseudo-NTK against the full eNTK: chapter 7's computations, one seed at a time.

Chapter 7 compares the sum-of-logits pNTK (:func:`ntkbook.empirical.pntk`) with the full
empirical NTK (:func:`ntkbook.empirical.entk`) of MLPs on digits. Its measurements live here as
functions of ``(width, seed)`` so that the chapter and an evidence ladder run the same code and
record the same numbers:

* :func:`kernel_pair` / :func:`compare_pair` -- both kernels on train x train and test x train,
  and every eNTK-vs-pNTK statistic of one set of kernels (Frobenius error, spectra, kernel
  regression with either kernel);
* :func:`width_seed` -- one width and initialisation: those statistics at initialisation
  (the ladder of ``002-pntk-rate`` and ``002-regression-rate``);
* :func:`full_split_seed` -- pNTK regression on a whole training split with initial and trained
  weights for several widths, the infinite-width NTK and an SGD-trained network of one seed,
  returning per-test-image correctness for paired intervals (``001-fig9-full``,
  ``001-pntk-vs-infinite``, ``001-pntk-vs-sgd``);
* :func:`sgd_baseline` -- the SGD side of that comparison alone, its step optionally chosen on
  held-out training rows (the ladder of ``001-pntk-vs-sgd`` reuses one seed's pNTK across its
  rungs of SGD epochs);
* :func:`gap_second_moment` / :func:`gap_bound` -- the exact second moment of
  ``eNTK - pNTK I_O`` over a Gaussian readout and the Chebyshev bound it gives (the precise form
  of the chapter's pNTK approximation proposition);
* :func:`describe_path` -- a sentence for how one width's error moved during training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import _checks

if TYPE_CHECKING:  # imported in the functions at run time: the dynamics <-> empirical cycle (issue 27)
    from .dynamics import LrChoice

__all__ = [
    "KernelPair",
    "kernel_pair",
    "compare_pair",
    "pntk_predict",
    "width_seed",
    "FullSplit",
    "full_split_seed",
    "sgd_baseline",
    "gap_second_moment",
    "gap_bound",
    "readout_gap_draws",
    "describe_path",
]


@dataclass(frozen=True)
class KernelPair:
    """Both kernels of one network on a training set and a test set, and its outputs.

    Attributes
    ----------
    K, Kt : ndarray, shapes (N, N, O, O) and (M, N, O, O)
        Full eNTK, train x train and test x train.
    P, Pt : ndarray, shapes (N, N) and (M, N)
        Sum-of-logits pNTK, train x train and test x train.
    f0, f0t : ndarray, shapes (N, O) and (M, O)
        The network's outputs at the kernels' weights.
    """

    K: np.ndarray
    Kt: np.ndarray
    P: np.ndarray
    Pt: np.ndarray
    f0: np.ndarray
    f0t: np.ndarray


def kernel_pair(apply_fn: Callable, params, x, x_test) -> KernelPair:
    """Both kernels on ``(train + test) x train`` (one compiled call each) and the outputs.

    Parameters
    ----------
    apply_fn
        ``apply_fn(params, x) -> (N, O)``.
    params
        The network's weights (pytree).
    x : array, shape (N, D)
        Training inputs.
    x_test : array, shape (M, D)
        Test inputs.
    """
    from . import empirical

    x = _checks.finite_array(x, "x", ndim=2)
    x_test = _checks.finite_array(x_test, "x_test", ndim=2)
    if x.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"x and x_test must have the same number of features; got {x.shape[1]} and {x_test.shape[1]}."
        )
    both = np.concatenate([x, x_test])
    K = empirical.entk(apply_fn, params, both, x)
    P = empirical.pntk(apply_fn, params, both, x)
    n = len(x)
    return KernelPair(
        K=K[:n],
        Kt=K[n:],
        P=P[:n],
        Pt=P[n:],
        f0=np.asarray(apply_fn(params, x)),
        f0t=np.asarray(apply_fn(params, x_test)),
    )


def compare_pair(k: KernelPair, Y, y_test, reg: float) -> dict:
    """Every eNTK-vs-pNTK statistic of one :class:`KernelPair`.

    Parameters
    ----------
    k
        The kernels and outputs (:func:`kernel_pair`).
    Y : array, shape (N, O)
        Training targets (one-hot).
    y_test : array, shape (M,)
        Integer test labels.
    reg
        Relative ridge (``reg * trace(K) / dim K``), the same factor for both kernels.

    Returns
    -------
    dict
        ``frob`` (relative Frobenius error), ``rel_lmax``, ``rel_lmin``, ``rel_cond`` (relative
        differences of the extreme eigenvalues and the condition number), ``entk_cond``,
        ``pntk_cond``, ``pred_diff`` (relative difference of the two kernel-regression
        predictors on the test set), ``acc_entk``, ``acc_pntk`` (their test accuracies).
    """
    from . import empirical

    y_test = _checks.labels(y_test, "y_test", n=len(k.Pt))
    spec = empirical.compare_spectra(k.K, k.P)
    fe = empirical.entk_regression(k.K, Y, k.Kt, reg, f0_train=k.f0, f0_test=k.f0t)
    fp = empirical.pntk_regression(k.P, Y, k.Pt, reg, f0_train=k.f0, f0_test=k.f0t)
    return dict(
        frob=empirical.relative_frobenius_error(k.K, k.P),
        rel_lmax=spec["rel_lambda_max"],
        rel_lmin=spec["rel_lambda_min"],
        rel_cond=spec["rel_condition_number"],
        entk_cond=spec["entk"].condition_number,
        pntk_cond=spec["pntk"].condition_number,
        pred_diff=empirical.relative_prediction_difference(fe, fp),
        acc_entk=float(np.mean(fe.argmax(1) == y_test)),
        acc_pntk=float(np.mean(fp.argmax(1) == y_test)),
    )


def width_seed(x, Y, x_test, y_test, width: int, seed: int, *, depth: int, reg: float) -> dict:
    """:func:`compare_pair` at initialisation for one MLP width and initialisation seed.

    Parameters
    ----------
    x, x_test : arrays, shapes (N, D) and (M, D)
        Training and test inputs (unit-norm rows in the chapter).
    Y : array, shape (N, O)
        One-hot training targets; ``O`` sets the network's outputs.
    y_test : array, shape (M,)
        Integer test labels.
    width, seed
        Hidden width of :func:`ntkbook.archs.mlp` and its ``PRNGKey`` seed.
    depth
        Layers of weights.
    reg
        Relative ridge of both regressions.

    Returns
    -------
    dict
        ``width``, ``seed`` and the statistics of :func:`compare_pair`.
    """
    import jax

    from . import archs

    width = _checks.positive_int(width, "width")
    seed = _checks.positive_int(seed, "seed", minimum=0)
    Y = _checks.finite_array(Y, "Y", ndim=2)
    init_fn, apply_fn, _ = archs.mlp(depth, width, Y.shape[1])
    _, params = init_fn(jax.random.PRNGKey(seed), np.shape(x))
    return dict(
        width=width, seed=seed, **compare_pair(kernel_pair(apply_fn, params, x, x_test), Y, y_test, reg)
    )


def pntk_predict(P, Y, P_test, f0, f0_test, reg: float) -> np.ndarray:
    """Linearised pNTK predictor ``f0_test + P_test (P + lambda I)^{-1} (Y - f0)``.

    The same Cholesky solve as :func:`ntkbook.empirical.pntk_regression`, with the ``O(N^2)``
    condition estimate instead of the exact ``N x N`` eigendecomposition, which at a whole
    training split costs more than the solve (the predictions are identical).

    Parameters
    ----------
    P : array, shape (N, N)
        pNTK on the training inputs.
    Y : array, shape (N, O)
        Targets.
    P_test : array, shape (M, N)
        pNTK between test and training inputs.
    f0, f0_test : arrays, shapes (N, O) and (M, O)
        Outputs at the kernel's weights (zeros for an infinite-width kernel).
    reg
        Relative ridge ``reg * trace(P) / N``.

    Returns
    -------
    ndarray, shape (M, O)
    """
    from .dynamics import cholesky_solve

    f0 = _checks.finite_array(f0, "f0", ndim=2)
    sol = cholesky_solve(P, np.asarray(Y, dtype=float) - f0, reg, condition="estimate")
    return np.asarray(f0_test) + np.asarray(P_test) @ sol.alpha


@dataclass(frozen=True)
class FullSplit:
    """One seed of the whole-split comparison (:func:`full_split_seed`).

    Attributes
    ----------
    correct : dict
        ``(width, "init" | "trained") -> bool array (M,)``: which test images the pNTK
        predictor classifies correctly; ``"infinite"`` and ``"sgd"`` (when run) likewise for the
        infinite-width NTK predictor and the SGD-trained widest network.
    network_acc : dict
        ``(width, stage) -> float``: test accuracy of the network itself at those weights.
    sgd_lr : LrChoice or None
        The SGD run's learning rate when it was chosen on held-out training rows
        (:func:`ntkbook.dynamics.select_lr`), else ``None``.
    """

    correct: dict
    network_acc: dict
    sgd_lr: LrChoice | None = None

    def accuracy(self, key) -> float:
        """Test accuracy of one predictor (a key of :attr:`correct`)."""
        return float(np.mean(self.correct[key]))


def full_split_seed(
    x,
    y,
    x_test,
    y_test,
    widths: Sequence[int],
    seed: int,
    *,
    depth: int,
    steps: int,
    lr_scale: float,
    reg: float,
    train_widths: Sequence[int] | None = None,
    infinite: bool = True,
    sgd: dict | None = None,
) -> FullSplit:
    """pNTK regression on a whole training split at initial and trained weights, one seed.

    For each width an MLP is initialised with ``PRNGKey(seed)``, its pNTK computed on
    ``(train + test) x train``, the network trained by ``steps`` full-batch gradient-descent
    steps on the squared loss (step ``lr_scale / lambda_max`` of the initial pNTK; in float32,
    which halves the dominant cost, the kernels stay float64) and its pNTK recomputed; both
    linearised predictors are scored per test image.

    Parameters
    ----------
    x, x_test : arrays, shapes (N, D) and (M, D)
        Training and test inputs.
    y, y_test : arrays, shapes (N,) and (M,)
        Integer labels.
    widths
        Hidden widths of :func:`ntkbook.archs.mlp`.
    seed
        Initialisation seed (and the SGD run's seed).
    depth, steps, lr_scale, reg
        Layers of weights, gradient-descent steps, step size relative to ``lambda_max`` and
        relative ridge.
    train_widths
        The widths that are also trained (default: all); the others are scored at
        initialisation only.
    infinite
        Also score the infinite-width NTK predictor of the widest MLP (closed form; it does not
        depend on the seed, so pass ``False`` for all seeds but one and reuse it).
    sgd
        Keyword arguments of :func:`ntkbook.dynamics.train` (``lr``, ``epochs``, ``batch_size``,
        ``optimizer``) to also train the widest MLP by SGD on the cross-entropy; ``None`` skips it.
        With ``lrs`` (a grid) instead of ``lr`` (and optionally ``val_frac``), the step is chosen
        by :func:`ntkbook.dynamics.select_lr` on a held-out share of the training split (same
        seed), then the network is trained on the whole split (:func:`sgd_baseline`).
    """
    import jax
    import scipy.linalg

    from . import archs, data, empirical
    from .dynamics import gd_trajectory

    x = _checks.finite_array(x, "x", ndim=2)
    x_test = _checks.finite_array(x_test, "x_test", ndim=2)
    y_test = _checks.labels(y_test, "y_test", n=len(x_test))
    o = int(max(np.max(y), np.max(y_test))) + 1
    y = _checks.labels(y, "y", num_classes=o, n=len(x))
    widths = [_checks.positive_int(w, "widths") for w in widths]
    if not widths:
        raise ValueError("widths must name at least one width.")
    Y = data.one_hot(y, o)
    n = len(x)
    both = np.concatenate([x, x_test])
    # keys: (width, stage) pairs, and "infinite" / "sgd" for the width-free predictors
    correct: dict[tuple[int, str] | str, np.ndarray] = {}
    net_acc: dict[tuple[int, str], float] = {}
    trained = set(
        widths if train_widths is None else [_checks.positive_int(w, "train_widths") for w in train_widths]
    )
    if not trained <= set(widths):
        raise ValueError(f"train_widths must be a subset of widths {widths}; got {sorted(trained)}.")
    as32 = lambda t: jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), t)  # noqa: E731
    as64 = lambda t: jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), t)  # noqa: E731
    for width in widths:
        init_fn, apply_fn, _ = archs.mlp(depth, width, o)
        _, p0 = init_fn(jax.random.PRNGKey(seed), x.shape)
        P0 = empirical.pntk(apply_fn, p0, both, x)
        stages = [("init", p0)]
        if width in trained:
            # lambda_max only: a one-eigenvalue LAPACK call instead of the whole spectrum
            lam = scipy.linalg.eigh(P0[:n], eigvals_only=True, subset_by_index=[n - 1, n - 1])[0]
            traj = gd_trajectory(
                apply_fn,
                as32(p0),
                x.astype(np.float32),
                Y.astype(np.float32),
                lr=lr_scale / lam,
                steps=steps,
                record_every=steps,
                keep_params=False,
            )
            stages.append(("trained", as64(traj.params[-1])))
        for stage, p in stages:
            P = P0 if stage == "init" else empirical.pntk(apply_fn, p, both, x)
            f_test = np.asarray(apply_fn(p, x_test))
            f = pntk_predict(P[:n], Y, P[n:], np.asarray(apply_fn(p, x)), f_test, reg)
            correct[width, stage] = f.argmax(1) == y_test
            net_acc[width, stage] = float(np.mean(f_test.argmax(1) == y_test))
    widest = archs.mlp(depth, max(widths), o)
    if infinite:
        K_inf = np.asarray(widest.kernel_fn(both, x, "ntk"), dtype=np.float64)
        correct["infinite"] = (
            pntk_predict(K_inf[:n], Y, K_inf[n:], np.zeros_like(Y), np.zeros((len(x_test), o)), reg).argmax(1)
            == y_test
        )
    choice = None
    if sgd is not None:
        correct["sgd"], choice = sgd_baseline(widest, x, y, x_test, y_test, seed, num_classes=o, **sgd)
    return FullSplit(correct=correct, network_acc=net_acc, sgd_lr=choice)


def sgd_baseline(
    net, x, y, x_test, y_test, seed: int, *, num_classes: int, **sgd
) -> tuple[np.ndarray, LrChoice | None]:
    """Which test images a network trained by SGD on the cross-entropy classifies correctly.

    The trained-network side of :func:`full_split_seed`'s comparison.

    Parameters
    ----------
    net
        The network (``archs.mlp(depth, width, num_classes)``).
    x, y, x_test, y_test
        Training and test split, shapes ``(N, D)``, ``(N,)``, ``(M, D)``, ``(M,)``.
    seed
        Initialisation, minibatch order and validation split.
    num_classes
        Number of classes.
    **sgd
        Keywords of :func:`ntkbook.dynamics.train` (``optimizer``, ``lr``, ``epochs``,
        ``batch_size``).  ``lrs`` (a grid) instead of ``lr`` chooses the step with
        :func:`ntkbook.dynamics.select_lr` first, on a held-out share ``val_frac`` of the
        training rows (default 0.2).

    Returns
    -------
    correct : bool array, shape (M,)
    choice : LrChoice or None
        The tuning's result when ``lrs`` was given; its ``lr`` is the step the returned run used.
        Should the chosen step diverge on the whole training split (it was chosen on a smaller
        one), the next candidate by validation accuracy is trained instead and the failed step
        joins ``choice.diverged``.
    """
    from .dynamics import TrainingDiverged, select_lr, train

    def run(**step) -> np.ndarray:
        hist = train(
            net,
            x,
            y,
            num_classes=num_classes,
            x_test=x_test,
            y_test=y_test,
            loss="xent",
            seed=seed,
            progress=False,
            record_every=sgd.get("epochs", 10),
            **step,
            **sgd,
        )
        f_sgd = np.asarray(hist.apply_fn(hist.params, np.asarray(x_test, np.float32)))
        return f_sgd.argmax(1) == np.asarray(y_test)

    if "lrs" not in sgd:
        if "val_frac" in sgd:
            raise TypeError("val_frac only applies with a grid lrs; pass lrs instead of lr.")
        return run(), None
    lrs, val_frac = sgd.pop("lrs"), sgd.pop("val_frac", 0.2)
    choice = select_lr(
        net, x, y, lrs=lrs, num_classes=num_classes, val_frac=val_frac, seed=seed, loss="xent", **sgd
    )
    failed: list[float] = []
    for lr in choice.ranked:
        try:
            correct = run(lr=lr)
        except TrainingDiverged:
            failed.append(lr)
            continue
        return correct, dataclasses.replace(choice, lr=lr, diverged=choice.diverged + tuple(failed))
    raise TrainingDiverged(
        f"SGD diverged on the whole training split at every candidate that trained on its fit rows ({choice.ranked})."
    )


def _forms(A) -> tuple[np.ndarray, float, float]:
    A = _checks.finite_array(A, "A", ndim=2, dtype=float)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square (h, h) matrix; got shape {A.shape}.")
    B = (A + A.T) / 2  # a quadratic form only sees the symmetric part
    return A, float(np.sum(A * A)), float(np.sum(B * B))


def gap_second_moment(A, n_out: int, sigma2: float = 1.0) -> float:
    """Exact ``E ||eNTK(x1, x2) - pNTK(x1, x2) I_O||_F^2`` over a Gaussian readout.

    For ``f(x) = V phi(x)`` with the rows ``v_j`` of ``V`` independent ``N(0, sigma2 I_h)`` and
    independent of ``A`` (the ``h x h`` kernel of the features' Jacobians at ``x1, x2``), the
    difference has entries ``v_j' A v_j - u' A u`` on the diagonal (``u`` the scaled sum of the
    rows) and ``v_j' A v_k`` off it; the feature term cancels. Gaussian quadratic-form moments
    give

    ``E ||D||_F^2 = sigma2^2 (O - 1) (4 ||sym(A)||_F^2 + O ||A||_F^2)``.

    Parameters
    ----------
    A : array, shape (h, h)
        The features' Jacobian kernel (symmetric positive semi-definite when ``x1 = x2``).
    n_out
        Number of outputs ``O`` (>= 1).
    sigma2
        Variance of the readout entries (> 0).
    """
    _, fa2, fb2 = _forms(A)
    o = _checks.positive_int(n_out, "n_out")
    s2 = _checks.real_scalar(sigma2, "sigma2", low=0.0, low_open=True)
    return s2**2 * (o - 1) * (4 * fb2 + o * fa2)


def gap_bound(A, feature_dot: float, n_out: int, delta: float, sigma2: float = 1.0) -> float:
    """Chebyshev bound on ``||eNTK - pNTK I_O||_F / ||E eNTK||_F``, probability ``1 - delta``.

    ``E eNTK = (sigma2 tr A + phi(x1).phi(x2)) I_O`` has Frobenius norm
    ``sqrt(O) |sigma2 tr A + phi(x1).phi(x2)|``, and Markov's inequality on
    :func:`gap_second_moment` gives ``||D||_F <= sqrt(E||D||_F^2 / delta)`` with probability at
    least ``1 - delta`` over the readout.

    Parameters
    ----------
    A : array, shape (h, h)
        The features' Jacobian kernel.
    feature_dot
        ``phi(x1) . phi(x2)``, the readout's own contribution to each diagonal entry.
    n_out
        Number of outputs ``O``.
    delta
        Failure probability in (0, 1).
    sigma2
        Variance of the readout entries.
    """
    delta = _checks.real_scalar(delta, "delta", low=0.0, high=1.0, low_open=True, high_open=True)
    A = _checks.finite_array(A, "A", ndim=2, dtype=float)
    mean = sigma2 * float(np.trace(A)) + _checks.real_scalar(feature_dot, "feature_dot")
    if mean == 0:
        raise ValueError(
            "the expected eNTK is zero (sigma2 tr A + feature_dot = 0): the relative error is undefined."
        )
    o = _checks.positive_int(n_out, "n_out")
    return float(np.sqrt(gap_second_moment(A, o, sigma2) / delta) / (np.sqrt(o) * abs(mean)))


def readout_gap_draws(
    A, feature_dot: float, n_out: int, draws: int, seed: int, sigma2: float = 1.0
) -> np.ndarray:
    """Monte Carlo ``||eNTK - pNTK I_O||_F`` over Gaussian readouts, for a fixed ``A``.

    Builds ``eNTK_jk = v_j' A v_k + [j = k] feature_dot`` and ``pNTK = mean of all O^2 entries``
    from ``draws`` independent readouts ``V`` (rows ``N(0, sigma2 I_h)``) -- the decomposition the
    chapter derives, computed directly rather than from the closed form.

    Returns
    -------
    ndarray, shape (draws,)
    """
    A = _checks.finite_array(A, "A", ndim=2, dtype=float)
    o = _checks.positive_int(n_out, "n_out")
    draws = _checks.positive_int(draws, "draws")
    rng = np.random.default_rng(seed)
    V = np.sqrt(sigma2) * rng.standard_normal((draws, o, A.shape[0]))
    E = (V @ A) @ np.swapaxes(V, 1, 2) + feature_dot * np.eye(o)  # (draws, O, O), BLAS
    P = E.sum(axis=(1, 2)) / o
    return np.linalg.norm(E - P[:, None, None] * np.eye(o), axis=(1, 2))


def describe_path(frob: Sequence[float]) -> str:
    """How one width's Frobenius error moved during training, as a verb phrase.

    Parameters
    ----------
    frob
        The relative Frobenius errors at the recorded steps, first to last (>= 2 values).

    Returns
    -------
    str
        ``"first drops and then climbs back"`` (the minimum is below 0.8 x the smaller end and the
        last value 1.25 x above it), ``"rises markedly"`` (last > 1.5 x first), ``"falls
        markedly"`` (last < first / 1.5) or ``"changes little"``.
    """
    f = _checks.finite_array(frob, "frob", ndim=1, dtype=float)
    if f.size < 2:
        raise ValueError(f"frob must hold at least 2 recorded errors; got {f.size}.")
    first, last, low = f[0], f[-1], f.min()
    if low < 0.8 * min(first, last) and last > 1.25 * low:
        return "first drops and then climbs back"
    if last > 1.5 * first:
        return "rises markedly"
    if last < first / 1.5:
        return "falls markedly"
    return "changes little"
