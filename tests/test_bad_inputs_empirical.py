"""Bad inputs for every public function of ``ntkbook.empirical``, each error naming the
argument; the table is checked against ``__all__``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import archs, empirical
from ntkbook.gram import GramMemoryError

NAN = float("nan")
_init, APPLY, _ = archs.mlp(2, width=5, out_dim=3)
_, PARAMS = _init(jax.random.PRNGKey(0), (1, 4))
NAN_PARAMS = jax.tree_util.tree_map(lambda p: p * np.nan, PARAMS)
X1 = np.random.default_rng(0).normal(size=(5, 4))
X_NAN = X1.copy()
X_NAN[0, 0] = NAN
K4 = np.tile(np.eye(3), (5, 5, 1, 1)) + np.eye(5)[:, :, None, None]  # (5, 5, 3, 3), symmetric
P2 = np.eye(5)
Y = np.ones((5, 3))


def _vector_out(params, x):  # a network whose outputs are not (N, O)
    return jnp.sum(x, axis=1)


CASES = [
    (
        "entk",
        lambda: empirical.entk(APPLY, PARAMS, X1, implementation="fastest"),
        ValueError,
        "implementation",
    ),
    ("entk", lambda: empirical.entk(APPLY, PARAMS, X_NAN), ValueError, "x1 contains"),
    (
        "entk",
        lambda: empirical.entk(APPLY, PARAMS, X1, np.ones((3, 5))),
        ValueError,
        "x1 and x2 must have the same",
    ),
    ("entk", lambda: empirical.entk(APPLY, NAN_PARAMS, X1), ValueError, "params contains"),
    ("entk", lambda: empirical.entk("net", PARAMS, X1), TypeError, "apply_fn"),
    ("entk", lambda: empirical.entk(APPLY, PARAMS, X1, batch_size=0), ValueError, "batch_size"),
    ("entk", lambda: empirical.entk(APPLY, PARAMS, X1[0]), ValueError, "x1 must have shape"),
    ("entk", lambda: empirical.entk(APPLY, PARAMS, X1, np.zeros((0, 4))), ValueError, "x2 must have shape"),
    ("entk_fn", lambda: empirical.entk_fn(3), TypeError, "apply_fn"),
    ("jacobian_contraction_fn", lambda: empirical.jacobian_contraction_fn("f"), TypeError, "apply_fn"),
    ("entk_fn", lambda: empirical.entk_fn(APPLY, "fastest"), ValueError, "implementation"),
    ("pntk", lambda: empirical.pntk(APPLY, PARAMS, X1, mode="mean"), ValueError, "mode"),
    ("pntk", lambda: empirical.pntk(APPLY, NAN_PARAMS, X1), ValueError, "params contains"),
    ("pntk", lambda: empirical.pntk(APPLY, {}, X1), ValueError, "params has no array"),
    ("pntk", lambda: empirical.pntk(APPLY, PARAMS, X1, batch_size=-2), ValueError, "batch_size"),
    ("pntk", lambda: empirical.pntk(_vector_out, PARAMS, X1), ValueError, "apply_fn must return"),
    ("pntk_fn", lambda: empirical.pntk_fn(APPLY, "mean"), ValueError, "mode"),
    ("pntk_fn", lambda: empirical.pntk_fn(None), TypeError, "apply_fn"),
    ("flatten_entk", lambda: empirical.flatten_entk(np.ones((2, 2, 3, 4))), ValueError, "K must have shape"),
    ("flatten_entk", lambda: empirical.flatten_entk(np.ones((2, 2, 3))), ValueError, "K must have 4"),
    ("output_dim", lambda: empirical.output_dim(_vector_out, PARAMS, X1), ValueError, "apply_fn must return"),
    ("output_dim", lambda: empirical.output_dim(APPLY, PARAMS, X_NAN), ValueError, "x contains"),
    (
        "output_dim",
        lambda: empirical.output_dim(APPLY, PARAMS, np.zeros((0, 4))),
        ValueError,
        "x must have shape",
    ),
    ("output_dim", lambda: empirical.output_dim(1.0, PARAMS, X1), TypeError, "apply_fn"),
    (
        "relative_frobenius_error",
        lambda: empirical.relative_frobenius_error(K4, np.ones((4, 4))),
        ValueError,
        "pntk_k has shape",
    ),
    (
        "relative_frobenius_error",
        lambda: empirical.relative_frobenius_error(K4[..., 0], P2),
        ValueError,
        "entk_k must have 4",
    ),
    (
        "relative_frobenius_error",
        lambda: empirical.relative_frobenius_error(0 * K4, P2),
        ValueError,
        "entk_k is all zeros",
    ),
    (
        "relative_frobenius_error",
        lambda: empirical.relative_frobenius_error(K4, P2 * NAN),
        ValueError,
        "pntk_k contains",
    ),
    (
        "eigen_stats",
        lambda: empirical.eigen_stats(np.arange(9.0).reshape(3, 3)),
        ValueError,
        "K must be symmetric",
    ),
    ("eigen_stats", lambda: empirical.eigen_stats(K4[:, :4]), ValueError, "K must pair"),
    ("eigen_stats", lambda: empirical.eigen_stats(np.full((2, 2), NAN)), ValueError, "K contains"),
    ("eigen_stats", lambda: empirical.eigen_stats(np.ones(3)), ValueError, "K must have 2 or 4"),
    (
        "compare_spectra",
        lambda: empirical.compare_spectra(K4, np.ones((4, 4))),
        ValueError,
        "pntk_k has shape",
    ),
    ("compare_spectra", lambda: empirical.compare_spectra(K4 * NAN, P2), ValueError, "entk_k contains"),
    (
        "entk_regression",
        lambda: empirical.entk_regression(K4, np.ones((5, 2))),
        ValueError,
        "Y has 2 columns",
    ),
    ("entk_regression", lambda: empirical.entk_regression(K4, Y, reg=NAN), ValueError, "reg"),
    ("entk_regression", lambda: empirical.entk_regression(K4, Y, reg=-1.0), ValueError, "reg"),
    (
        "entk_regression",
        lambda: empirical.entk_regression(K4[:, :4], Y),
        ValueError,
        "K_train must be the eNTK",
    ),
    (
        "entk_regression",
        lambda: empirical.entk_regression(K4, Y, K4[:, :4]),
        ValueError,
        "K_test_train must have shape",
    ),
    (
        "entk_regression",
        lambda: empirical.entk_regression(K4, Y, f0_test=Y),
        ValueError,
        "both f0_train and f0_test",
    ),
    ("pntk_regression", lambda: empirical.pntk_regression(P2, np.ones((4, 3))), ValueError, "Y has 4 rows"),
    (
        "pntk_regression",
        lambda: empirical.pntk_regression(P2, Y, f0_train=Y),
        ValueError,
        "both f0_train and f0_test",
    ),
    ("pntk_regression", lambda: empirical.pntk_regression(P2, Y, reg=NAN), ValueError, "reg"),
    (
        "pntk_regression",
        lambda: empirical.pntk_regression(P2, Y, np.ones((2, 4))),
        ValueError,
        "K_test_train has 4 columns",
    ),
    (
        "pntk_regression",
        lambda: empirical.pntk_regression(P2, Y, f0_train=Y[:4], f0_test=Y),
        ValueError,
        "f0_train has 4 rows",
    ),
    (
        "relative_prediction_difference",
        lambda: empirical.relative_prediction_difference(np.ones((2, 3)), np.ones((3, 2))),
        ValueError,
        "f_pntk and f_entk must have the same",
    ),
    (
        "relative_prediction_difference",
        lambda: empirical.relative_prediction_difference(np.zeros(3), np.ones(3)),
        ValueError,
        "f_entk is all zeros",
    ),
    (
        "relative_prediction_difference",
        lambda: empirical.relative_prediction_difference(np.ones(3), [1, NAN, 1]),
        ValueError,
        "f_pntk contains",
    ),
    ("peak_memory_bytes", lambda: empirical.peak_memory_bytes("fn", X1), TypeError, "fn must be callable"),
    ("measure_cost", lambda: empirical.measure_cost(None), TypeError, "fn must be callable"),
    ("measure_cost", lambda: empirical.measure_cost(jnp.sin, X1, repeats=0), ValueError, "repeats"),
    # 10^6 x 10^6 inputs x 9 outputs^2 can never fit: refused before anything is allocated
    (
        "entk",
        lambda: empirical._memory_guard(10**6, 10**6, 9, 8, "full eNTK", "use pntk()"),
        GramMemoryError,
        "pntk",
    ),
]


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_table_covers_every_public_function():
    public = {
        n for n in empirical.__all__ if callable(getattr(empirical, n)) and n not in ("EigenStats", "Cost")
    }
    assert public == {c[0] for c in CASES}
