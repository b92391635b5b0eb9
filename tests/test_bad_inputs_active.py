"""Bad inputs for every public function of ``ntkbook.active``: each raises a clear error naming
the offending argument (``pytest.raises(..., match=<argument name>)``).

The table is checked against the module's ``__all__`` so a new public function
without a bad-input case fails :func:`test_table_covers_every_public_function`.
"""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import active

_rng = np.random.default_rng(0)
_X = _rng.normal(size=(6, 3))
K = _X @ _X.T + 0.1 * np.eye(6)  # SPD kernel on 6 points
F0 = np.zeros((6, 2))
Y = np.eye(2)[[0, 1, 0]]  # targets of labelled points 0, 1, 2
CHOL = active.GrowingCholesky(K[:4, :4], 1e-3)
LA = active.lookahead(CHOL, K[:4, 4:], K[:, 4:], K[:, :4], np.diag(K)[4:], F0, np.zeros((2, 2)))
Q = np.full((2, 2), 0.5)
NAN = float("nan")

# (public name, call, expected exception, regex that must name the argument)
CASES = [
    (
        "GrowingCholesky",
        lambda: active.GrowingCholesky(K + np.triu(np.ones((6, 6)), 1)),
        ValueError,
        "K must be symmetric",
    ),
    ("GrowingCholesky", lambda: active.GrowingCholesky(K, NAN), ValueError, "ridge"),
    ("GrowingCholesky", lambda: active.GrowingCholesky(K, -1.0), ValueError, "ridge"),
    ("GrowingCholesky", lambda: active.GrowingCholesky(K, "0.1"), TypeError, "ridge"),
    ("GrowingCholesky", lambda: active.GrowingCholesky(-np.eye(3)), ValueError, "ridge"),
    ("GrowingCholesky.solve", lambda: CHOL.solve(np.full(4, NAN)), ValueError, "B contains"),
    ("GrowingCholesky.solve", lambda: CHOL.solve(np.ones(3)), ValueError, "B has 3 rows"),
    ("GrowingCholesky.append", lambda: CHOL.append(K[:3, 4], K[4, 4]), ValueError, "b has length 3"),
    ("GrowingCholesky.append", lambda: CHOL.append(K[:4, 4], NAN), ValueError, "d contains"),
    (
        "GrowingCholesky.append",
        lambda: active.GrowingCholesky(np.ones((2, 2)) + 1e-3 * np.eye(2)).append(np.ones(2), 0.5),
        ValueError,
        "ridge",
    ),
    ("LookAhead.predictions", lambda: LA.predictions(2, np.zeros(2)), ValueError, "c=2"),
    ("LookAhead.predictions", lambda: LA.predictions(-1, np.zeros(2)), ValueError, "c must be >= 0"),
    ("LookAhead.predictions", lambda: LA.predictions(0, np.zeros(3)), ValueError, "target has shape"),
    ("LookAhead.predictions", lambda: LA.predictions(0, [NAN, 0.0]), ValueError, "target contains"),
    (
        "lookahead",
        lambda: active.lookahead("chol", K[:4, 4:], K[:, 4:], K[:, :4], np.diag(K)[4:], F0, np.zeros((2, 2))),
        TypeError,
        "chol",
    ),
    (
        "lookahead",
        lambda: active.lookahead(CHOL, K[:3, 4:], K[:, 4:], K[:, :4], np.diag(K)[4:], F0, np.zeros((2, 2))),
        ValueError,
        "K_LC has 3 rows",
    ),
    (
        "lookahead",
        lambda: active.lookahead(CHOL, K[:4, 4:], K[:, 4:], K[:, :3], np.diag(K)[4:], F0, np.zeros((2, 2))),
        ValueError,
        "K_EL",
    ),
    (
        "lookahead",
        lambda: active.lookahead(CHOL, K[:4, 4:], K[:, 4:], K[:, :4], np.diag(K)[4:], F0, np.zeros((2, 3))),
        ValueError,
        "f_cand",
    ),
    (
        "lookahead",
        lambda: active.lookahead(CHOL, K[:4, 4:], K[:, 4:], K[:, :4], [NAN, 1.0], F0, np.zeros((2, 2))),
        ValueError,
        "k_CC contains",
    ),
    (
        "retrain_direct",
        lambda: active.retrain_direct(K, Y, F0, [0, 1, -1], 0.1),
        ValueError,
        "labelled holds index -1",
    ),
    (
        "retrain_direct",
        lambda: active.retrain_direct(K, Y, F0, [0, 1, 1], 0.1),
        ValueError,
        "labelled repeats",
    ),
    (
        "retrain_direct",
        lambda: active.retrain_direct(K, Y, F0, [0, 1, 6], 0.1),
        ValueError,
        "labelled holds index 6",
    ),
    (
        "retrain_direct",
        lambda: active.retrain_direct(K, Y, F0, [0, 1, 2.5], 0.1),
        ValueError,
        "labelled must hold integer",
    ),
    ("retrain_direct", lambda: active.retrain_direct(K, Y, F0, [0, 1, 2], NAN), ValueError, "ridge"),
    (
        "retrain_direct",
        lambda: active.retrain_direct(K, Y[:2], F0, [0, 1, 2], 0.1),
        ValueError,
        "Y has shape",
    ),
    (
        "retrain_direct",
        lambda: active.retrain_direct(K, Y, F0[:5], [0, 1, 2], 0.1),
        ValueError,
        "f0 has 5 rows",
    ),
    (
        "output_change_direct",
        lambda: active.output_change_direct(K, F0, Y, [0, 1, 2], [3, 2], Q, 0.1),
        ValueError,
        "candidates must not be labelled",
    ),
    (
        "output_change_direct",
        lambda: active.output_change_direct(K, F0, Y, [0, 1, 2], [3, -2], Q, 0.1),
        ValueError,
        "candidates holds index -2",
    ),
    (
        "output_change_direct",
        lambda: active.output_change_direct(K, F0, Y, [0, 1, 2], [3, 4], Q, -1.0),
        ValueError,
        "ridge",
    ),
    (
        "output_change_direct",
        lambda: active.output_change_direct(K, F0, Y, [0, 1, 2], [3, 4], Q[:1], 0.1),
        ValueError,
        "q must have shape",
    ),
    ("softmax", lambda: active.softmax(np.zeros((2, 2)), 0.0), ValueError, "temperature"),
    ("softmax", lambda: active.softmax(np.zeros((2, 2)), NAN), ValueError, "temperature"),
    ("softmax", lambda: active.softmax([[NAN, 0.0]]), ValueError, "f contains"),
    ("softmax", lambda: active.softmax(1.0), ValueError, "f must have a class axis"),
    (
        "score_output_change",
        lambda: active.score_output_change(LA, np.ones((2, 2))),
        ValueError,
        "q must hold probability",
    ),
    (
        "score_output_change",
        lambda: active.score_output_change(LA, np.ones((3, 2)) / 2),
        ValueError,
        "q must have shape",
    ),
    ("score_output_change", lambda: active.score_output_change("la", Q), TypeError, "la must be a LookAhead"),
    (
        "score_loss_change",
        lambda: active.score_loss_change(LA, Q, temperature=-1.0),
        ValueError,
        "temperature",
    ),
    ("score_loss_change", lambda: active.score_loss_change(LA, -Q), ValueError, "q must hold probability"),
    ("score_loss_change", lambda: active.score_loss_change(None, Q), TypeError, "la must be a LookAhead"),
    ("score_entropy", lambda: active.score_entropy([[0.5, 0.6]]), ValueError, "q must hold probability"),
    ("score_entropy", lambda: active.score_entropy([0.5, 0.5]), ValueError, "q must have 2 dimensions"),
    ("score_entropy", lambda: active.score_entropy([[NAN, 1.0]]), ValueError, "q contains"),
    ("score_random", lambda: active.score_random(0, 0), ValueError, "n must be >= 1"),
    ("score_random", lambda: active.score_random(3.0, 0), TypeError, "n must be an integer"),
    ("score_random", lambda: active.score_random(3, -1), ValueError, "seed"),
    ("top_k", lambda: active.top_k(np.arange(3.0), 1, exclude=[-1]), ValueError, "exclude holds index -1"),
    ("top_k", lambda: active.top_k(np.arange(3.0), 1, exclude=[3]), ValueError, "exclude holds index 3"),
    ("top_k", lambda: active.top_k(np.zeros(3), 3, exclude=[0]), ValueError, "k=3 but only 2"),
    ("top_k", lambda: active.top_k(np.zeros(3), 0), ValueError, "k must be >= 1"),
    ("top_k", lambda: active.top_k([1.0, NAN], 1), ValueError, "scores contains"),
    ("relative_ridge", lambda: active.relative_ridge(K, -1.0), ValueError, "reg"),
    ("relative_ridge", lambda: active.relative_ridge(K, NAN), ValueError, "reg"),
    ("relative_ridge", lambda: active.relative_ridge(np.ones((2, 3)), 0.1), ValueError, "K must be square"),
]


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_table_covers_every_public_function():
    public = {n for n in active.__all__ if callable(getattr(active, n)) and n != "LookAhead"}
    public |= {"GrowingCholesky.solve", "GrowingCholesky.append", "LookAhead.predictions"}
    assert public == {c[0] for c in CASES}


def test_top_k_exclude_drops_exactly_the_excluded():
    # the old behaviour wrapped -1 to the last index; a valid exclude must drop only what it names
    assert active.top_k(np.array([3.0, 1.0, 2.0]), 2, exclude=[0]).tolist() == [2, 1]
