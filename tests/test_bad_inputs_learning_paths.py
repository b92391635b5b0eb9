"""Bad inputs for every public function of ``ntkbook.learning_paths``, each error naming the
argument; the table is checked against ``__all__``."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ntkbook import archs
from ntkbook import learning_paths as lp

NAN = float("nan")
K4 = np.zeros((2, 3, 4, 4))  # eNTK of 2 probes x 3 batch samples, O = 4
G = np.zeros((3, 4))
Q3 = np.full((3, 4), 0.25)
Q2 = np.full((2, 4), 0.25)
_init, APPLY, _ = archs.mlp(2, 8, 3)
_, PARAMS = _init(jax.random.PRNGKey(0), (-1, 5))
X = np.zeros((4, 5))
T = np.eye(3)[[0, 1, 2, 0]]


def _rec(**kw):
    args = dict(lr=0.1, epochs=1)
    args.update(kw)
    return lp.train_recording(
        args.pop("apply_fn", APPLY), PARAMS, args.pop("x", X), args.pop("targets", T), **args
    )


CASES = [
    # empty arrays (issue 25)
    (
        "sgd_prediction_change",
        lambda: lp.sgd_prediction_change(np.zeros((2, 0, 3, 3)), np.zeros((0, 3)), 0.1),
        ValueError,
        r"grad_out is empty \(shape \(0, 3\)\)",
    ),
    (
        "softmax_prediction_change",
        lambda: lp.softmax_prediction_change(
            np.zeros((2, 0, 3, 3)), np.full((2, 3), 1 / 3), np.zeros((0, 3)), np.zeros((0, 3)), 0.1
        ),
        ValueError,
        "q_batch is empty",
    ),
    (
        "loss_output_grad",
        lambda: lp.loss_output_grad(np.zeros((2, 0)), np.zeros((2, 0))),
        ValueError,
        r"f is empty \(shape \(2, 0\)\)",
    ),
    (
        "categorical_covariance",
        lambda: lp.categorical_covariance(np.zeros((2, 0))),
        ValueError,
        "q is empty along its last axis",
    ),
    (
        "feature_change",
        lambda: lp.feature_change(np.zeros((0, 0)), np.zeros((0, 3)), np.zeros(0), 0.1),
        ValueError,
        "K_backbone must have 4 dimensions",
    ),
    (
        "ema_targets",
        lambda: lp.ema_targets(np.zeros((0, 3, 2))),
        ValueError,
        r"q_path is empty \(shape \(0, 3, 2\)\)",
    ),
    ("ema_targets", lambda: lp.ema_targets(np.full((2, 3, 2), "a")), TypeError, "q_path must be a numeric"),
    (
        "sgd_prediction_change",
        lambda: lp.sgd_prediction_change(K4, np.zeros((2, 4)), 0.1),
        ValueError,
        "grad_out has shape",
    ),
    ("sgd_prediction_change", lambda: lp.sgd_prediction_change(K4, G, NAN), ValueError, "lr"),
    ("sgd_prediction_change", lambda: lp.sgd_prediction_change(K4, G, -0.1), ValueError, "lr"),
    ("sgd_prediction_change", lambda: lp.sgd_prediction_change(K4, G, "0.1"), TypeError, "lr"),
    (
        "sgd_prediction_change",
        lambda: lp.sgd_prediction_change(np.zeros((2, 3, 4, 5)), G, 0.1),
        ValueError,
        "K must have shape",
    ),
    ("sgd_prediction_change", lambda: lp.sgd_prediction_change(K4 * NAN, G, 0.1), ValueError, "K contains"),
    (
        "loss_output_grad",
        lambda: lp.loss_output_grad(np.zeros((2, 3)), np.zeros((2, 3)), "hinge"),
        ValueError,
        "loss=",
    ),
    (
        "loss_output_grad",
        lambda: lp.loss_output_grad(np.full((2, 3), NAN), np.zeros((2, 3))),
        ValueError,
        "f contains",
    ),
    (
        "loss_output_grad",
        lambda: lp.loss_output_grad(np.zeros((2, 3)), np.zeros((2, 2))),
        ValueError,
        "targets has shape",
    ),
    (
        "categorical_covariance",
        lambda: lp.categorical_covariance([0.5, 0.6]),
        ValueError,
        "q must hold probability",
    ),
    (
        "categorical_covariance",
        lambda: lp.categorical_covariance([1.5, -0.5]),
        ValueError,
        "q must hold probability",
    ),
    ("categorical_covariance", lambda: lp.categorical_covariance([NAN, 1.0]), ValueError, "q contains"),
    (
        "softmax_prediction_change",
        lambda: lp.softmax_prediction_change(K4, Q2, Q3, Q3, NAN),
        ValueError,
        "lr",
    ),
    (
        "softmax_prediction_change",
        lambda: lp.softmax_prediction_change(K4, Q2, Q3, Q3, -1.0),
        ValueError,
        "lr",
    ),
    (
        "softmax_prediction_change",
        lambda: lp.softmax_prediction_change(K4, Q3, Q3, Q3, 0.1),
        ValueError,
        "q_probe has shape",
    ),
    (
        "softmax_prediction_change",
        lambda: lp.softmax_prediction_change(K4, Q2, Q3, Q3[:2], 0.1),
        ValueError,
        "targets has shape",
    ),
    (
        "softmax_prediction_change",
        lambda: lp.softmax_prediction_change(K4, Q2 * 2, Q3, Q3, 0.1),
        ValueError,
        "q must hold probability",
    ),
    (
        "feature_change",
        lambda: lp.feature_change(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 5)), np.zeros((2, 3)), 0.1),
        ValueError,
        "K_backbone",
    ),
    (
        "feature_change",
        lambda: lp.feature_change(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 4)), np.zeros((2, 3)), NAN),
        ValueError,
        "lr",
    ),
    (
        "feature_change",
        lambda: lp.feature_change(np.zeros((1, 2, 4, 4)), np.zeros((2, 3, 4)), np.full((2, 3), np.inf), 0.1),
        ValueError,
        "energy contains",
    ),
    ("ema_targets", lambda: lp.ema_targets(np.ones((2, 1, 3)) / 3, 0.0), ValueError, "alpha must be in"),
    ("ema_targets", lambda: lp.ema_targets(np.ones((2, 1, 3)) / 3, 1.5), ValueError, "alpha must be in"),
    ("ema_targets", lambda: lp.ema_targets(np.ones((2, 1, 3)) / 3, NAN), ValueError, "alpha"),
    (
        "ema_targets",
        lambda: lp.ema_targets(np.ones((2, 1, 3)) / 3, init=np.ones((2, 3))),
        ValueError,
        "init has shape",
    ),
    ("ema_targets", lambda: lp.ema_targets(np.ones((1, 3)) / 3), ValueError, "q_path must have 3"),
    ("train_recording", lambda: _rec(batch_size=8), ValueError, "batch_size"),
    ("train_recording", lambda: _rec(targets=np.eye(3)), ValueError, "targets has 3 rows"),
    ("train_recording", lambda: _rec(lr=NAN), ValueError, "lr"),
    ("train_recording", lambda: _rec(lr=-0.1), ValueError, "lr"),
    ("train_recording", lambda: _rec(epochs=-1), ValueError, "epochs"),
    ("train_recording", lambda: _rec(loss="hinge"), ValueError, "loss="),
    ("train_recording", lambda: _rec(seed=-3), ValueError, "seed"),
    ("train_recording", lambda: _rec(apply_fn=None), TypeError, "apply_fn"),
    ("train_recording", lambda: _rec(trainable=3), TypeError, "trainable"),
    ("train_recording", lambda: _rec(keep_path="no"), TypeError, "keep_path"),
    ("train_recording", lambda: _rec(x_record=np.zeros((2, 4))), ValueError, "x_record"),
    ("train_recording", lambda: _rec(x_test=np.zeros((2, 5))), ValueError, "x_test and y_test"),
    (
        "train_recording",
        lambda: _rec(x_test=np.zeros((2, 5)), y_test=[0, 3]),
        ValueError,
        "y_test holds label 3",
    ),
    ("train_recording", lambda: _rec(x=np.full((4, 5), NAN)), ValueError, "x contains"),
    ("simplex_xy", lambda: lp.simplex_xy(np.ones((2, 4)) / 4), ValueError, "q must have 3 classes"),
    ("simplex_xy", lambda: lp.simplex_xy([[NAN, 0.5, 0.5]]), ValueError, "q contains"),
    ("gaussian_toy", lambda: lp.gaussian_toy(0), ValueError, "n must be"),
    ("gaussian_toy", lambda: lp.gaussian_toy(10, num_classes=1), ValueError, "num_classes"),
    ("gaussian_toy", lambda: lp.gaussian_toy(10, dim=1), ValueError, "dim"),
    ("gaussian_toy", lambda: lp.gaussian_toy(10, radius=NAN), ValueError, "radius"),
    ("gaussian_toy", lambda: lp.gaussian_toy(10, radius=0.0), ValueError, "radius"),
    ("gaussian_toy", lambda: lp.gaussian_toy(10, seed=-1), ValueError, "seed"),
]


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_table_covers_every_public_function():
    public = {n for n in lp.__all__ if callable(getattr(lp, n)) and n != "Recording"}
    assert public == {c[0] for c in CASES}
