"""Bad inputs for every public function of ``ntkbook.dynamics`` (modules ``kernel_regression``,
``flow``, ``linearize``, ``training``): one parametrised test per module, each error naming the
argument, each table checked against the module's ``__all__``."""

from __future__ import annotations

import importlib

import jax
import numpy as np
import pytest

from ntkbook import archs, pntk

# the package re-exports functions named like two of its modules, so import the modules by path
kr = importlib.import_module("ntkbook.linalg")  # the solves dynamics re-exports
flow = importlib.import_module("ntkbook.dynamics.flow")
lin = importlib.import_module("ntkbook.dynamics.linearize")
training = importlib.import_module("ntkbook.dynamics.training")
tuning = importlib.import_module("ntkbook.dynamics.tuning")

NAN = float("nan")
_rng = np.random.default_rng(0)
_A = _rng.normal(size=(6, 4))
THETA = _A @ _A.T + 0.1 * np.eye(6)  # SPD kernel on 6 training points
K_TEST = _rng.normal(size=(3, 6))
Y2 = np.eye(2)[[0, 1, 0, 1, 0, 1]]  # one-hot, (6, 2)
F0 = np.zeros((6, 2))
_init, APPLY, _ = archs.mlp(2, 8, 1)
_, PARAMS = _init(jax.random.PRNGKey(0), (-1, 5))
X = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (6, 5)))
Y1 = np.ones(6)
ARCH3 = archs.mlp(2, width=8, out_dim=3)
XT = np.eye(6, 5) + 0.1
YT = np.arange(6) % 3


def _decay(s, t):
    return -s


KR_CASES = [
    (
        "cholesky_solve",
        lambda: kr.cholesky_solve(np.triu(np.ones((4, 4))), np.ones(4)),
        ValueError,
        "K must be symmetric",
    ),
    ("cholesky_solve", lambda: kr.cholesky_solve(np.eye(4), np.ones(3)), ValueError, "Y has 3 rows"),
    (
        "cholesky_solve",
        lambda: kr.cholesky_solve(np.diag([1.0, 1e-17, 1.0, 1.0]), np.ones(4)),
        ValueError,
        "reg",
    ),
    ("cholesky_solve", lambda: kr.cholesky_solve(np.eye(4), [1.0, NAN, 0, 0]), ValueError, "Y contains"),
    # issue 16: reg=NaN raised numpy's LinAlgError instead of the documented ValueError
    (
        "cholesky_solve",
        lambda: kr.cholesky_solve(np.eye(4), np.ones(4), NAN),
        ValueError,
        "reg must be a finite",
    ),
    ("cholesky_solve", lambda: kr.cholesky_solve(np.eye(4), np.ones(4), -1.0), ValueError, "reg must be in"),
    (
        "cholesky_solve",
        lambda: kr.cholesky_solve(np.eye(4), np.ones(4), "0"),
        TypeError,
        "reg must be a real",
    ),
    (
        "cholesky_solve",
        lambda: kr.cholesky_solve(np.eye(4), np.ones(4), condition="fast"),
        ValueError,
        "condition=",
    ),
    (
        "cholesky_solve",
        lambda: kr.cholesky_solve(np.eye(4), np.ones(4), max_condition=NAN),
        ValueError,
        "max_condition",
    ),
    ("cholesky_solve", lambda: kr.cholesky_solve(np.zeros((0, 0)), np.ones(0)), ValueError, "K is empty"),
    (
        "relative_frobenius",
        lambda: kr.relative_frobenius(np.ones(3), [1.0, NAN, 1.0], ("f", "g")),
        ValueError,
        "g contains",
    ),
    (
        "kernel_regression",
        lambda: kr.kernel_regression(np.eye(4), np.ones(4), np.ones((2, 3))),
        ValueError,
        "K_test_train has 3 columns",
    ),
    (
        "kernel_regression",
        lambda: kr.kernel_regression(np.eye(4), np.ones(4), np.full((2, 4), NAN)),
        ValueError,
        "K_test_train contains",
    ),
    ("kernel_regression", lambda: kr.kernel_regression(np.eye(4), np.ones(4), reg=NAN), ValueError, "reg"),
    ("diag_of_inverse", lambda: kr.diag_of_inverse(np.eye(3)), TypeError, "factor must be a"),
    (
        "inverse_from_factor",
        lambda: kr.inverse_from_factor((np.ones((2, 3)), True)),
        ValueError,
        "must be square",
    ),
    ("relative_ridge", lambda: kr.relative_ridge(np.eye(3), NAN), ValueError, "reg"),
    ("relative_ridge", lambda: kr.relative_ridge(np.eye(3), -0.5), ValueError, "reg"),
    ("relative_ridge", lambda: kr.relative_ridge(np.ones((2, 3)), 0.1), ValueError, "K must be square"),
]

FLOW_CASES = [
    (
        "mse_flow",
        lambda: flow.mse_flow(THETA + np.triu(np.ones_like(THETA)), F0, Y2, 1.0),
        ValueError,
        "theta must be symmetric",
    ),
    (
        "mse_flow",
        lambda: flow.mse_flow(-THETA, F0, Y2, 1.0),
        ValueError,
        "theta must be positive semi-definite",
    ),
    ("mse_flow", lambda: flow.mse_flow(THETA, F0, Y2, [-1.0]), ValueError, "t must be >= 0"),
    ("mse_flow", lambda: flow.mse_flow(THETA, F0, Y2, [NAN]), ValueError, "t contains"),
    ("mse_flow", lambda: flow.mse_flow(THETA, F0[:, :1], Y2, 1.0), ValueError, "f0 has shape"),
    ("mse_flow", lambda: flow.mse_flow(THETA, None, Y2[:5], 1.0), ValueError, "y has 5 rows"),
    (
        "mse_flow",
        lambda: flow.mse_flow(THETA, F0, Y2, 1.0, theta_test_train=K_TEST[:, :5]),
        ValueError,
        "theta_test_train has 5 columns",
    ),
    (
        "mse_flow",
        lambda: flow.mse_flow(THETA, F0, Y2, 1.0, theta_test_train=K_TEST, f0_test=np.zeros((2, 2))),
        ValueError,
        "f0_test has shape",
    ),
    ("mse_flow", lambda: flow.mse_flow(THETA, F0, np.where(Y2 > 0, NAN, Y2), 1.0), ValueError, "y contains"),
    ("mse_flow", lambda: flow.mse_flow(THETA, F0, Y2, []), ValueError, "t must hold at least one"),
    (
        "xent_flow",
        lambda: flow.xent_flow(THETA, F0, 2 * Y2, [0.0, 1.0]),
        ValueError,
        "y_onehot must hold probability",
    ),
    ("xent_flow", lambda: flow.xent_flow(THETA, None, Y2, [1.0, 2.0]), ValueError, "t must start at 0"),
    ("xent_flow", lambda: flow.xent_flow(THETA, None, Y2, [0.0, 1.0], rtol=NAN), ValueError, "rtol"),
    ("xent_flow", lambda: flow.xent_flow(THETA, None, Y2, [0.0, 1.0], atol=-1.0), ValueError, "atol"),
    (
        "solve_ode",
        lambda: flow.solve_ode(_decay, np.ones(2), [0.0, 1.0, 1.0]),
        ValueError,
        "t must be a non-empty, strictly increasing",
    ),
    ("solve_ode", lambda: flow.solve_ode(_decay, np.ones(2), [0.0, 1.0], rtol=0.0), ValueError, "rtol"),
    ("solve_ode", lambda: flow.solve_ode(_decay, np.ones(2), [0.0, 1.0], atol=NAN), ValueError, "atol"),
    ("solve_ode", lambda: flow.solve_ode(_decay, np.ones(2), [0.0, 1.0], mxstep=0), ValueError, "mxstep"),
    ("solve_ode", lambda: flow.solve_ode(_decay, [NAN, 1.0], [0.0, 1.0]), ValueError, "y0 contains"),
    ("solve_ode", lambda: flow.solve_ode("rhs", np.ones(2), [0.0, 1.0]), TypeError, "rhs must be callable"),
    (
        "linear_regression_flow",
        lambda: flow.linear_regression_flow(_A, np.ones(6), 1.0, np.ones(6)),
        ValueError,
        "w0 has shape",
    ),
    (
        "linear_regression_flow",
        lambda: flow.linear_regression_flow(_A, np.ones(5), 1.0),
        ValueError,
        "y has 5 rows",
    ),
    (
        "linear_regression_flow",
        lambda: flow.linear_regression_flow(_A[0], np.ones(6), 1.0),
        ValueError,
        "X must have 2",
    ),
    (
        "residual_spectrum",
        lambda: flow.residual_spectrum(THETA, np.ones((2, 5))),
        ValueError,
        "residuals have 5",
    ),
    (
        "residual_spectrum",
        lambda: flow.residual_spectrum(THETA, np.ones(6)),
        ValueError,
        "residuals must have 2 or 3",
    ),
    # empty arrays and wrong dtypes (issue 25)
    (
        "mse_flow",
        lambda: flow.mse_flow(np.zeros((0, 0)), None, np.zeros((0, 1)), 1.0),
        ValueError,
        r"theta is empty \(shape \(0, 0\)\)",
    ),
    (
        "mse_flow",
        lambda: flow.mse_flow(THETA, None, np.zeros((6, 0)), 1.0),
        ValueError,
        r"y is empty \(shape \(6, 0\)\)",
    ),
    ("mse_flow", lambda: flow.mse_flow(THETA.astype(str), F0, Y2, 1.0), TypeError, "theta must be a numeric"),
    (
        "xent_flow",
        lambda: flow.xent_flow(np.zeros((0, 0)), None, np.zeros((0, 2)), [0.0, 1.0]),
        ValueError,
        "theta is empty",
    ),
    ("solve_ode", lambda: flow.solve_ode(_decay, np.zeros(0), [0.0, 1.0]), ValueError, r"y0 is empty"),
    ("solve_ode", lambda: flow.solve_ode(_decay, np.ones(2), ["0", "1"]), TypeError, "t must be a numeric"),
    (
        "linear_regression_flow",
        lambda: flow.linear_regression_flow(np.zeros((0, 2)), np.zeros(0), 1.0),
        ValueError,
        r"X is empty \(shape \(0, 2\)\)",
    ),
    (
        "linear_regression_flow",
        lambda: flow.linear_regression_flow(np.zeros((3, 0)), np.zeros(3), 1.0),
        ValueError,
        r"X is empty .* axis 1",
    ),
    (
        "residual_spectrum",
        lambda: flow.residual_spectrum(np.zeros((0, 0)), np.zeros((2, 0))),
        ValueError,
        "theta is empty",
    ),
    (
        "residual_spectrum",
        lambda: flow.residual_spectrum(THETA, np.zeros((0, 6))),
        ValueError,
        r"residuals is empty",
    ),
]


def _params_with_nan():
    return jax.tree_util.tree_map(lambda p: p * np.nan, PARAMS)


LIN_CASES = [
    ("linearize", lambda: lin.linearize("not a function", PARAMS), TypeError, "apply_fn must be callable"),
    ("linearize", lambda: lin.linearize(APPLY, _params_with_nan()), ValueError, "params0 contains"),
    ("tree_norm", lambda: lin.tree_norm({}), ValueError, "tree has no array leaves"),
    ("tree_norm", lambda: lin.tree_norm([np.array([1.0, NAN])]), ValueError, "tree contains"),
    (
        "relative_weight_change",
        lambda: lin.relative_weight_change(PARAMS, PARAMS[:-1]),
        ValueError,
        "params and params0 must have the same tree",
    ),
    (
        "relative_weight_change",
        lambda: lin.relative_weight_change([np.ones(2)], [np.ones(3)]),
        ValueError,
        "params and params0 hold leaves of different shapes",
    ),
    (
        "relative_weight_change",
        lambda: lin.relative_weight_change([np.ones(2)], [np.zeros(2)]),
        ValueError,
        "params0 is all zeros",
    ),
    (
        "relative_weight_change",
        lambda: lin.relative_weight_change(_params_with_nan(), PARAMS),
        ValueError,
        "params contains",
    ),
    (
        "relative_kernel_change",
        lambda: lin.relative_kernel_change(np.eye(3), np.eye(4)),
        ValueError,
        "theta and theta0 must have the same shape",
    ),
    (
        "relative_kernel_change",
        lambda: lin.relative_kernel_change(np.eye(3), np.zeros((3, 3))),
        ValueError,
        "theta0 is all zeros",
    ),
    (
        "relative_kernel_change",
        lambda: lin.relative_kernel_change(np.eye(3) * NAN, np.eye(3)),
        ValueError,
        "theta contains",
    ),
    ("gd_trajectory", lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, 0.0, 5), ValueError, "lr must be in"),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, NAN, 5),
        ValueError,
        "lr must be a finite",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, "0.1", 5),
        TypeError,
        "lr must be a real",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1[:5], 0.1, 5),
        ValueError,
        "y has 5 rows",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, 0.1, 0),
        ValueError,
        "steps must be >= 1",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, 0.1, 5, record_every=0),
        ValueError,
        "record_every",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, 0.1, 5, x_eval=np.ones((2, 4))),
        ValueError,
        "x_eval has feature shape",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, np.where(X > 1, NAN, X), Y1, 0.1, 5),
        ValueError,
        "x contains",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, 0.1, 5, loss="hinge"),
        ValueError,
        "loss=",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, 2 * Y1, 0.1, 5, loss="xent"),
        ValueError,
        "y must hold probability",
    ),
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, _params_with_nan(), X, Y1, 0.1, 5),
        ValueError,
        "params contains",
    ),
    ("gd_trajectory", lambda: lin.gd_trajectory(None, PARAMS, X, Y1, 0.1, 5), TypeError, "apply_fn"),
    # a step far beyond 2/lambda_max diverges: the message names lr and the step
    (
        "gd_trajectory",
        lambda: lin.gd_trajectory(APPLY, PARAMS, X, Y1, 1e6, 50, record_every=50),
        ValueError,
        "non-finite",
    ),
    (
        "lazy_training",
        lambda: lin.lazy_training(APPLY, PARAMS, X, Y1, steps=5, lr_scale=2.5),
        ValueError,
        "lr_scale",
    ),
    (
        "lazy_training",
        lambda: lin.lazy_training(APPLY, PARAMS, X, Y1, steps=5, lr_scale=NAN),
        ValueError,
        "lr_scale",
    ),
    (
        "lazy_training",
        lambda: lin.lazy_training(APPLY, _params_with_nan(), X, Y1, steps=5),
        ValueError,
        "params0 contains",
    ),
    (
        "lazy_training",
        lambda: lin.lazy_training(APPLY, PARAMS, X[:, 0], Y1, steps=5),
        ValueError,
        "x must have shape",
    ),
    ("lazy_training", lambda: lin.lazy_training(3, PARAMS, X, Y1, steps=5), TypeError, "apply_fn"),
]


def _train(**kw):
    args = dict(num_classes=3, epochs=1, progress=False)
    args.update(kw)
    return training.train(args.pop("arch", ARCH3), args.pop("x", XT), args.pop("y", YT), **args)


_HIST = _train()

TRAIN_CASES = [
    ("train", lambda: _train(y=np.where(YT == 0, 3, YT)), ValueError, "y holds label 3 but num_classes=3"),
    ("train", lambda: _train(y=YT - 1), ValueError, "y holds negative label"),
    ("train", lambda: _train(y=YT[:-1]), ValueError, "x has 6 samples but y has 5"),
    ("train", lambda: _train(loss="hinge"), ValueError, "loss='hinge'"),
    ("train", lambda: _train(optimizer="rmsprop"), ValueError, "optimizer='rmsprop'"),
    ("train", lambda: _train(lr=-1.0), ValueError, "lr must be in"),
    ("train", lambda: _train(lr=NAN), ValueError, "lr must be a finite"),
    ("train", lambda: _train(momentum=1.0), ValueError, "momentum"),
    ("train", lambda: _train(momentum=NAN), ValueError, "momentum"),
    ("train", lambda: _train(seed=-1), ValueError, "seed"),
    ("train", lambda: _train(batch_size=100), ValueError, "batch_size=100 exceeds"),
    ("train", lambda: _train(x_test=XT), ValueError, "both x_test and y_test"),
    ("train", lambda: _train(x_test=XT[:, :4], y_test=YT), ValueError, "x_test has feature shape"),
    ("train", lambda: _train(x_test=XT, y_test=YT[:4]), ValueError, "x_test has 6 samples but y_test has 4"),
    ("train", lambda: _train(x=np.where(XT > 1, NAN, XT)), ValueError, "x contains"),
    ("train", lambda: _train(x=XT[:, 0]), ValueError, "x must have shape"),
    (
        "train",
        lambda: _train(arch=archs.mlp(2, width=8, out_dim=4)),
        ValueError,
        "4 outputs but num_classes=3",
    ),
    ("train", lambda: _train(arch=3), TypeError, "arch must be"),
    ("train", lambda: _train(num_classes=1), ValueError, "num_classes"),
    ("train", lambda: _train(epochs=0), ValueError, "epochs"),
    ("train", lambda: _train(dtype=np.float16), ValueError, "dtype"),
    (
        "train",
        lambda: _train(epochs=3, record_at=[2, 4]),
        ValueError,
        r"record_at must be epochs in \[1, 3\]; got 4",
    ),
    ("train", lambda: _train(epochs=3, record_at=[]), ValueError, "record_at must be epochs"),
    ("train", lambda: _train(epochs=3, record_at=[1.5]), ValueError, "record_at must be epochs"),
    ("train", lambda: _train(x=1e6 * XT, loss="mse", lr=1e3, epochs=3), ValueError, "non-finite by epoch"),
    ("History.predict", lambda: _HIST.predict(XT, batch_size=0), ValueError, "batch_size"),
    ("History.predict", lambda: _HIST.predict(np.full((2, 5), NAN)), ValueError, "x contains"),
    ("History.predict", lambda: _HIST.predict(XT[0]), ValueError, "x must have shape"),
]


def _ids(cases):
    return [f"{c[0]}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("name,call,exc,match", KR_CASES, ids=_ids(KR_CASES))
def test_bad_input_kernel_regression(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", FLOW_CASES, ids=_ids(FLOW_CASES))
def test_bad_input_flow(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", LIN_CASES, ids=_ids(LIN_CASES))
def test_bad_input_linearize(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _select(**kw):
    x, y = np.zeros((10, 3)), np.arange(10) % 2
    return tuning.select_lr(None, x, y, **({"lrs": [0.1], "num_classes": 2} | kw))


def _baseline(**kw):
    x, y = np.zeros((10, 3)), np.arange(10) % 2
    return pntk.sgd_baseline(None, x, y, x, y, 0, num_classes=2, **kw)


TUNING_CASES = [
    ("select_lr", lambda: _select(lrs=[]), ValueError, "lrs must be a non-empty"),
    ("select_lr", lambda: _select(lrs="0.1"), ValueError, "lrs must be a non-empty"),
    ("select_lr", lambda: _select(lrs=[0.1, -1.0]), ValueError, r"lrs must be in \(0"),
    ("select_lr", lambda: _select(lrs=[0.1, NAN]), ValueError, "lrs must be a finite"),
    ("select_lr", lambda: _select(lrs=[0.1, 0.1]), ValueError, "must not repeat"),
    ("select_lr", lambda: _select(val_frac=1.0), ValueError, "val_frac"),
    ("select_lr", lambda: _select(lr=0.2), TypeError, "sets 'lr' itself"),
    ("select_lr", lambda: _select(x_test=np.zeros((2, 3))), TypeError, "sets 'x_test' itself"),
    ("select_lr", lambda: _select(num_classes=1), ValueError, "y holds label 1"),
    ("validation_split", lambda: tuning.validation_split(1, 0.5, 0), ValueError, "n must be >= 2"),
    ("validation_split", lambda: tuning.validation_split(10, 0.0, 0), ValueError, "val_frac must be in"),
    (
        "validation_split",
        lambda: tuning.validation_split(10, NAN, 0),
        ValueError,
        "val_frac must be a finite",
    ),
    ("validation_split", lambda: tuning.validation_split(10, 0.01, 0), ValueError, "holds out 0 of n=10"),
    ("validation_split", lambda: tuning.validation_split(10, 0.2, -1), ValueError, "seed must be"),
    ("validation_split", lambda: tuning.validation_split(10, 0.2, 1.5), TypeError, "seed must be an integer"),
    # the tuned baseline of ntkbook.pntk: a step and a grid at once, or a held-out share without a grid
    ("sgd_baseline", lambda: _baseline(lr=0.1, lrs=[0.1, 1.0]), TypeError, "sets 'lr' itself"),
    ("sgd_baseline", lambda: _baseline(lr=0.1, val_frac=0.2), TypeError, "val_frac only applies with a grid"),
]


@pytest.mark.parametrize("name,call,exc,match", TUNING_CASES, ids=_ids(TUNING_CASES))
def test_bad_input_tuning(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", TRAIN_CASES, ids=_ids(TRAIN_CASES))
def test_bad_input_training(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "module,cases,extra",
    [
        (kr, KR_CASES, set()),
        (flow, FLOW_CASES, set()),
        (lin, LIN_CASES, set()),
        (training, TRAIN_CASES, {"History.predict"}),
        (tuning, TUNING_CASES, {"sgd_baseline"}),
    ],
)
def test_tables_cover_every_public_function(module, cases, extra):
    records = {"KernelSolve", "MSEFlow", "LazyStats", "Trajectory", "History", "LrChoice", "TrainingDiverged"}
    public = {n for n in module.__all__ if callable(getattr(module, n)) and n not in records}
    assert public | extra == {c[0] for c in cases}
