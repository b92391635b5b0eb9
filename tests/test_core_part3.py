"""Part III in the core environment (a current JAX, optax, no neural-tangents).

The finite networks of :mod:`ntkbook.layers` (the zoo's ``2-L`` and a small CNN) train on
real digits with :func:`ntkbook.dynamics.train` and
:func:`ntkbook.learning_paths.train_recording`, and ``python -m ntkbook.audit`` runs end to
end in this interpreter.  References, none of them the code under test:

* the 2-L network's forward pass and its loss gradient written out by hand in NumPy
  (backpropagation through ``Dense -> ReLU -> Dense`` in NTK parameterization), and the
  SGD / heavy-ball / Adam update rules written out in NumPy (not optax);
* the CNN's forward pass as explicit loops over filter taps and pooling windows (NumPy, not
  ``lax.conv``), and the gradient of that loop forward by ``jax.grad`` for the SGD step;
* the audit's Gram-label matrix ``Z = Y^T H^{-1} Y`` from the closed-form two-layer ReLU
  NTK (:func:`ntkbook.closed_form.relu_ntk_2layer`), and the labels planted wrong.

Every module imported at module level is in ``env/core-requirements.txt``.
"""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from ntkbook import archs, closed_form, data
from ntkbook import learning_paths as lp
from ntkbook.dynamics import train

pytestmark = pytest.mark.core

B_STD = archs.B_STD  # every layer's bias scale in the zoo
W_HID = archs.W_STD  # hidden layers' weight scale; the readout's is 1


@pytest.fixture(scope="module")
def digits():
    """40 real 8x8 digits (unit-norm rows, float64), shape (40, 8, 8, 1), labels 0..9."""
    ds = data.load("digits", n=40, n_test=10, seed=0)
    # float64 so that the NumPy references never round through float32 (NumPy 2 keeps a
    # float32 array float32 when scaled by a Python float)
    return data.normalize(ds.x).astype(np.float64), ds.y


def _params64(net, key, shape):
    """Initial parameters of ``net`` in float64 (NumPy leaves, so every reference sees them)."""
    _, params = net.init_fn(key, shape)
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)


# --------------------------------------------------------------------------- 2-L by hand


def _mlp_forward_backward(params, x, y, loss, k):
    """Loss of the zoo's 2-L network and its gradient, by hand (NumPy backpropagation).

    ``params`` = ``[(), (W1, b1), (), (W2, b2)]`` (Flatten, Dense, Relu, Dense); NTK
    parameterization: ``h = sqrt(2)/sqrt(D) X W1 + 0.1 b1``, ``f = 1/sqrt(M) relu(h) W2 + 0.1 b2``.
    Returns the mean loss and the gradient in the same nesting as ``params``.
    """
    (W1, b1), (W2, b2) = params[1], params[3]
    X = x.reshape(len(x), -1)
    s1, s2 = W_HID / math.sqrt(X.shape[1]), 1.0 / math.sqrt(W1.shape[1])
    h = s1 * X @ W1 + B_STD * b1
    a = np.maximum(h, 0.0)
    f = s2 * a @ W2 + B_STD * b2
    onehot = np.eye(k)[y]
    n = len(y)
    if loss == "xent":
        z = f - f.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -np.mean(logp[np.arange(n), y])
        G = (np.exp(logp) - onehot) / n  # dL/df
    else:
        value = 0.5 * np.mean(np.sum((f - onehot) ** 2, axis=1))
        G = (f - onehot) / n
    dW2, db2 = s2 * a.T @ G, B_STD * G.sum(axis=0, keepdims=True)
    dH = (s2 * G @ W2.T) * (h > 0)
    dW1, db1 = s1 * X.T @ dH, B_STD * dH.sum(axis=0, keepdims=True)
    return value, [(), (dW1, db1), (), (dW2, db2)]


def _leaves(tree):
    return [np.asarray(v, np.float64) for v in jax.tree_util.tree_leaves(tree)]


def _hand_optimizer(params, grad_fn, optimizer, lr, steps, momentum=0.9):
    """``steps`` full-batch updates by the textbook rules (optax's defaults for Adam)."""
    p = _leaves(params)
    vel = [np.zeros_like(v) for v in p]
    m = [np.zeros_like(v) for v in p]
    s = [np.zeros_like(v) for v in p]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        g = grad_fn(p)
        for i in range(len(p)):
            if optimizer == "sgd":
                p[i] = p[i] - lr * g[i]
            elif optimizer == "momentum":  # heavy ball: v <- g + mu v
                vel[i] = g[i] + momentum * vel[i]
                p[i] = p[i] - lr * vel[i]
            else:  # Adam with bias correction
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                s[i] = b2 * s[i] + (1 - b2) * g[i] ** 2
                mhat, shat = m[i] / (1 - b1**t), s[i] / (1 - b2**t)
                p[i] = p[i] - lr * mhat / (np.sqrt(shat) + eps)
    return p


def _mlp_grad_leaves(params_template, x, y, loss, k):
    treedef = jax.tree_util.tree_structure(params_template)

    def grad_fn(leaves):
        _, g = _mlp_forward_backward(jax.tree_util.tree_unflatten(treedef, leaves), x, y, loss, k)
        return _leaves(g)

    return grad_fn


@pytest.mark.parametrize(
    "loss,optimizer,lr",
    [("xent", "sgd", 0.5), ("mse", "sgd", 0.5), ("xent", "momentum", 0.2), ("xent", "adam", 0.01)],
)
def test_zoo_2L_trains_on_digits_like_numpy_backprop(digits, loss, optimizer, lr):
    """Two full-batch epochs of ``train`` on the zoo's 2-L equal the hand-written NumPy
    gradient and update rule; the initial loss equals the hand-written forward pass."""
    x, y = digits
    net = archs.get("2-L", width=16, out_dim=10)
    params = _params64(net, jax.random.PRNGKey(1), x.shape)
    hist = train(
        net,
        x,
        y,
        num_classes=10,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        epochs=2,
        batch_size=None,
        params=params,
        record_init=True,
        dtype=np.float64,
        progress=False,
    )
    loss0, _ = _mlp_forward_backward(params, x, y, loss, 10)
    # float64 throughout: the two loss formulas differ only by rounding (measured <= 1.6e-16)
    np.testing.assert_allclose(hist.train_loss[0], loss0, rtol=2e-15)
    want = _hand_optimizer(params, _mlp_grad_leaves(params, x, y, loss, 10), optimizer, lr, 2)
    got = _leaves(hist.params)
    assert [g.shape for g in got] == [w.shape for w in want]
    moved = max(np.max(np.abs(w - v)) for w, v in zip(want, _leaves(params)))
    assert moved > 1e-3  # the parameters really moved
    # summation orders differ between XLA and NumPy; measured max error 2.2e-16 (all four)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-15)
    final, _ = _mlp_forward_backward(
        jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), want), x, y, loss, 10
    )
    np.testing.assert_allclose(hist.train_loss[-1], final, rtol=2e-15)  # measured 0


def test_train_recording_step_equals_numpy_backprop(digits):
    """One full-batch epoch of ``learning_paths.train_recording`` (optax SGD on one-hot
    targets) equals a hand-written gradient step; its recorded probabilities are the
    softmax of the hand-written forward pass."""
    x, y = digits
    net = archs.get("2-L", width=16, out_dim=10)
    params = _params64(net, jax.random.PRNGKey(2), x.shape)
    rec = lp.train_recording(net.apply_fn, params, x, np.eye(10)[y], lr=0.5, epochs=1, loss="xent")
    want = _hand_optimizer(params, _mlp_grad_leaves(params, x, y, "xent", 10), "sgd", 0.5, 1)
    for g, w in zip(_leaves(rec.params), want):  # measured 1.4e-17
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-15)
    loss0, _ = _mlp_forward_backward(params, x, y, "xent", 10)
    np.testing.assert_allclose(rec.train_loss[0], loss0, rtol=2e-15)  # measured 0


# --------------------------------------------------------------------------- CNN by loops


def _small_cnn():
    """Conv(3) -> ReLU -> AvgPool 2x2 -> Conv(4) -> ReLU -> Flatten -> Dense(8) -> ReLU -> Dense."""
    return archs.cnn([3, 4], [8], out_dim=10, pool_after=(0,))


def _conv_loops(xp, x, W, b):
    """SAME 3x3 stride-1 convolution (cross-correlation, as lax.conv) by a loop over taps,
    NTK parameterization (``sqrt(2)/sqrt(9 C_in)``, bias scale 0.1)."""
    n, hgt, wid, c_in = x.shape
    pad = xp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = 0.0
    for di in range(3):
        for dj in range(3):
            out = out + xp.einsum("nhwc,co->nhwo", pad[:, di : di + hgt, dj : dj + wid, :], W[di, dj])
    return W_HID / math.sqrt(9 * c_in) * out + B_STD * b


def _pool_loops(xp, x):
    """2x2 average pooling with stride 2 (even sides: SAME adds no padding)."""
    return 0.25 * (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2])


def _cnn_loops(xp, params, x):
    """The forward pass of :func:`_small_cnn` written out (``xp`` = numpy or jax.numpy)."""
    relu = lambda t: xp.maximum(t, 0.0)
    (W1, b1), _, _, (W2, b2), _, _, (W3, b3), _, (W4, b4) = params
    h = _pool_loops(xp, relu(_conv_loops(xp, x, W1, b1)))
    h = relu(_conv_loops(xp, h, W2, b2)).reshape(len(x), -1)
    h = relu(W_HID / math.sqrt(h.shape[1]) * h @ W3 + B_STD * b3)
    return 1.0 / math.sqrt(h.shape[1]) * h @ W4 + B_STD * b4


def test_small_cnn_forward_and_sgd_step_on_digits(digits):
    """A small CNN from ``ntkbook.layers`` on real digits: ``apply_fn`` equals the loop forward
    pass, and one full-batch SGD epoch of ``train`` equals ``p - lr * jax.grad`` of the loop
    forward's cross-entropy."""
    x, y = digits
    net = _small_cnn()
    params = _params64(net, jax.random.PRNGKey(3), x.shape)
    assert [len(p) for p in params] == [2, 0, 0, 2, 0, 0, 2, 0, 2]  # the layout unpacked above
    f_loops = _cnn_loops(np, params, x)
    # float64 sums in another order (lax.conv vs the tap loop); measured 2.2e-16
    np.testing.assert_allclose(np.asarray(net.apply_fn(params, x)), f_loops, rtol=0, atol=2e-15)

    lr = 1.0
    hist = train(
        net,
        x,
        y,
        num_classes=10,
        loss="xent",
        optimizer="sgd",
        lr=lr,
        epochs=1,
        batch_size=None,
        params=params,
        dtype=np.float64,
        progress=False,
    )

    def xent(p):
        logp = jax.nn.log_softmax(_cnn_loops(jnp, p, jnp.asarray(x)), axis=-1)
        return -jnp.mean(logp[jnp.arange(len(y)), y])

    grads = jax.jit(jax.grad(xent))(jax.tree_util.tree_map(jnp.asarray, params))  # x64: conftest
    want = [p - lr * np.asarray(g) for p, g in zip(_leaves(params), _leaves(grads))]
    moved = max(np.max(np.abs(w - v)) for w, v in zip(want, _leaves(params)))
    assert moved > 1e-3
    for g, w in zip(_leaves(hist.params), want):
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-15)  # measured 2.2e-16


def test_small_cnn_float32_training_reduces_loss_and_stays_near_float64(digits):
    """The default float32 training of the CNN (x64 switched off inside ``train``) follows
    the float64 run from the same parameters: after 3 minibatch epochs (6 steps) the losses
    agree to float32 accuracy, and they decrease."""
    x, y = digits
    net = _small_cnn()
    kw = dict(
        num_classes=10,
        loss="xent",
        optimizer="sgd",
        lr=1.0,
        epochs=3,
        batch_size=20,
        seed=0,
        progress=False,
        record_init=True,
    )
    params = _params64(net, jax.random.PRNGKey(4), x.shape)  # one draw for both precisions
    h32 = train(net, x, y, dtype=np.float32, params=params, **kw)
    h64 = train(net, x, y, dtype=np.float64, params=params, **kw)
    assert h32.steps == h64.steps == 6
    # same parameters and minibatches; float32 rounding of logits of size ~0.1 (eps 6e-8)
    # against losses of ~2.3: measured 1.1e-9 relative
    np.testing.assert_allclose(h32.train_loss, h64.train_loss, rtol=1e-8)
    assert np.max(np.abs(h32.train_loss / h64.train_loss - 1)) > 0  # it did run in float32
    assert h64.train_loss[-1] < h64.train_loss[0]


# --------------------------------------------------------------------------- the audit


def _run(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ntkbook.audit", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_audit_help_in_the_core_interpreter(tmp_path):
    res = _run(["--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: python -m ntkbook.audit")
    assert "--arch" in res.stdout and "--replace" in res.stdout


def test_audit_cli_end_to_end_in_the_core_interpreter(tmp_path):
    """``python -m ntkbook.audit`` with this interpreter on a tiny .npz: the report folder holds
    every table and figure, Z equals ``Y^T H^{-1} Y`` with the closed-form two-layer NTK, and
    refurbishment puts back exactly the two labels planted wrong."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(12, 6)) + 5 * np.eye(6)[k] for k in range(3)])
    y = np.repeat([0, 1, 2], 12)
    y[[0, 12]] = [1, 2]  # two wrong labels
    np.savez(tmp_path / "tiny.npz", x=x, y=y)
    out = tmp_path / "report"
    res = _run(
        [
            "tiny.npz",
            "--out",
            str(out),
            "--compare",
            "10-L",
            "--shuffles",
            "5",
            "--flag-frac",
            "0.1",
            "--no-progress",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "wrote 14 files" in res.stdout
    tables = ["summary", "ranking", "labels", "z", "bias", "flags", "relabel"]
    figures = ["ranking", "labels", "z", "flags", "relabel"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{t}.csv" for t in tables + ["samples"]] + [f"{f}.png" for f in figures] + ["index.html"]
    )
    for f in figures:
        assert (out / f"{f}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert (summary["n"], summary["classes"], summary["arch"]) == (36, 3, "2-L")
    assert summary["ridge"] == 0.0
    # Z with the closed-form NTK of the zoo's 2-L (Dense(sqrt 2, 0.1) -> ReLU -> Dense(1, 0.1))
    H, _ = closed_form.relu_ntk_2layer(
        data.normalize(x), W_std=W_HID, b_std=B_STD, W_std_out=1.0, b_std_out=B_STD
    )
    H = np.asarray(H, np.float64)
    Y = np.eye(3)[y]
    Z_ref = Y.T @ np.linalg.solve(H, Y)
    Z = pd.read_csv(out / "z.csv").set_index("class").to_numpy(np.float64)
    # condition number 8.5e2; pandas writes the CSV with 17 significant digits: measured 2.3e-14
    np.testing.assert_allclose(Z, Z_ref, rtol=2e-13)
    # the same condition number from another Gram (kernel interpreter vs closed form): 4.6e-14
    np.testing.assert_allclose(summary["condition_number"], np.linalg.cond(H), rtol=5e-13)

    relabel = pd.read_csv(out / "relabel.csv")
    assert relabel[["index", "old", "new"]].values.tolist() == [[0, 1, 0], [12, 2, 1]]
    flags = pd.read_csv(out / "flags.csv")
    assert len(flags) == 36 and flags["flagged"].sum() == 4  # --flag-frac 0.1 of 36
    # the two planted labels have the two highest Complexity-Gap scores
    assert sorted(flags.loc[flags["rank"] <= 2, "index"]) == [0, 12]
    ranking = pd.read_csv(out / "ranking.csv")
    assert sorted(ranking["architecture"]) == ["10-L", "2-L"]
