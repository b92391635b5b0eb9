"""ntkbook.losses and the training loop (ntkbook.dynamics.loop) against hand-written references.

References: the losses written out with Python loops and math.log/exp (float64, agreeing to
~1e-15; tolerance 1e-12); gradient descent on a linear model written by hand in NumPy
(``w <- w - lr X^T (X w - Y)`` for the summed squared loss; float64 throughout, agreement to
~1e-14 after 5 steps; tolerance 1e-11).
"""

import math

import jax
import numpy as np
import pytest

from ntkbook import losses
from ntkbook.dynamics import loop

pytestmark = pytest.mark.core


def _xent_ref(f, t):
    out = []
    for row, trow in zip(f, t, strict=True):
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        out.append(-sum(tk * (v - lse) for v, tk in zip(row, trow, strict=True)))
    return np.array(out)


def test_cross_entropy_matches_the_formula_for_labels_rows_numpy_and_jax(rng):
    f = rng.normal(size=(6, 4)) * 30  # large logits: the shifted formula must hold
    y = rng.integers(0, 4, size=6)
    soft = rng.dirichlet(np.ones(4), size=6)
    # small losses are differences of numbers of size |f| ~ 100: absolute error ~ 100 eps
    tol = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(losses.per_sample(f, y, "xent"), _xent_ref(f, np.eye(4)[y]), **tol)
    np.testing.assert_allclose(losses.per_sample(f, soft, "xent"), _xent_ref(f, soft), **tol)
    # float64 JAX (conftest turns x64 on): the jitted path's formula gives the same numbers
    jx = np.asarray(jax.jit(losses.per_sample, static_argnums=2)(f, soft, "xent"))
    np.testing.assert_allclose(jx, _xent_ref(f, soft), **tol)


def test_mse_and_reductions(rng):
    f, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    ref = np.array(
        [0.5 * sum((a - b) ** 2 for a, b in zip(r, s, strict=True)) for r, s in zip(f, t, strict=True)]
    )
    np.testing.assert_allclose(losses.per_sample(f, t, "mse"), ref, rtol=1e-12)
    assert losses.total(f, t, "mse") == pytest.approx(ref.mean(), rel=1e-12)
    assert losses.total(f, t, "mse", reduction="sum") == pytest.approx(ref.sum(), rel=1e-12)


def test_gradient_descent_matches_hand_written_linear_gd(rng):
    X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    w0 = rng.normal(size=(3, 2))

    def apply_fn(w, x):
        return x @ w

    step = loop.compiled_step(apply_fn, loss="mse", reduction="sum", dtype=np.float64)
    seen = []
    w, _, times = loop.run_epochs(
        step,
        w0,
        loop.make_optimizer("sgd", 0.01).init(w0),
        X,
        Y,
        0.01,
        epochs=5,
        on_epoch=lambda e, p: seen.append(e),
    )
    ref = w0.copy()
    for _ in range(5):
        ref = ref - 0.01 * X.T @ (X @ ref - Y)
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-11)
    assert seen == [1, 2, 3, 4, 5] and times.steps == 5


def test_minibatches_follow_the_given_order(rng):
    # mean loss, minibatches of 5 in a fixed order, against the same updates by hand
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    w0 = np.zeros((3, 1))
    perm = rng.permutation(10)

    def apply_fn(w, x):
        return x @ w

    step = loop.compiled_step(apply_fn, loss="mse", dtype=np.float64)
    w, _, times = loop.run_epochs(
        step,
        w0,
        loop.make_optimizer("sgd", 0.1).init(w0),
        X,
        Y,
        0.1,
        epochs=1,
        batch_size=5,
        order=lambda e: perm,
    )
    ref = w0.copy()
    for idx in (perm[:5], perm[5:]):
        ref = ref - 0.1 * X[idx].T @ (X[idx] @ ref - Y[idx]) / 5
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-12)
    assert times.steps == 2


def test_one_compiled_step_per_network():
    def apply_fn(w, x):
        return x @ w

    a = loop.compiled_step(apply_fn, loss="xent", optimizer="adam")
    assert loop.compiled_step(apply_fn, loss="xent", optimizer="adam") is a
    assert loop.compiled_step(apply_fn, loss="mse", optimizer="adam") is not a


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: losses.per_sample(np.zeros((2, 2)), np.zeros(2, int), "hinge"), "loss='hinge'"),
        (
            lambda: losses.total(np.zeros((2, 2)), np.zeros(2, int), "xent", reduction="max"),
            "reduction='max'",
        ),
        (lambda: loop.make_optimizer("rmsprop", 0.1), "optimizer='rmsprop'"),
        (lambda: loop.compiled_step(lambda w, x: x, loss="l1"), "loss='l1'"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
