"""Tests of ntkbook.dynamics.training: determinism, one SGD step by hand, per-class bookkeeping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import archs, data
from ntkbook.dynamics import History, train


def _toy(rng, n=60, k=3, d=5, sep=3.0):
    """Well-separated Gaussian blobs on ~the unit sphere: a linearly separable toy set."""
    centres = sep * np.eye(k, d)
    y = np.arange(n) % k
    x = centres[y] + 0.3 * rng.standard_normal((n, d))
    return data.normalize(x), y


@pytest.fixture
def toy(rng):
    return _toy(rng)


def test_same_seed_same_history_other_seed_differs(toy):
    x, y = toy
    arch = archs.mlp(2, width=32, out_dim=3)
    kw = dict(num_classes=3, lr=0.5, epochs=4, batch_size=16, progress=False)
    a = train(arch, x, y, seed=3, **kw)
    b = train(arch, x, y, seed=3, **kw)
    c = train(arch, x, y, seed=4, **kw)
    # identical: same keys, same minibatch order, same compiled program -> bit-identical
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.class_prob, b.class_prob)
    for pa, pb in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_array_equal(np.asarray(pa), np.asarray(pb))
    # another seed: another initialisation, so the losses differ well above rounding
    assert np.max(np.abs(a.train_loss - c.train_loss)) > 1e-4


def test_reused_compiled_step_gives_the_same_history_as_a_fresh_one(toy):
    """Repeated fits of one network reuse one jitted step (compiled once per shape); the
    result must be bit-identical to a fit whose step is built and compiled afresh.  The step
    size is an argument of the compiled step (ntkbook.dynamics.loop), so another lr reuses the
    cached step too, and must still give other numbers."""
    from ntkbook.dynamics import loop

    x, y = toy
    arch = archs.mlp(2, width=32, out_dim=3)
    kw = dict(num_classes=3, epochs=3, batch_size=20, progress=False, seed=1, optimizer="adam")
    loop._cached_step.cache_clear()
    fresh = train(arch, x, y, lr=0.01, **kw)
    reused = train(arch, x, y, lr=0.01, **kw)
    assert loop._cached_step.cache_info().hits == 1
    np.testing.assert_array_equal(fresh.train_loss, reused.train_loss)
    for pa, pb in zip(jax.tree_util.tree_leaves(fresh.params), jax.tree_util.tree_leaves(reused.params)):
        np.testing.assert_array_equal(np.asarray(pa), np.asarray(pb))
    other = train(arch, x, y, lr=0.05, **kw)
    assert loop._cached_step.cache_info().misses == 1
    assert np.max(np.abs(other.train_loss - fresh.train_loss)) > 1e-6


def test_minibatch_order_depends_on_seed_only_through_shuffle(toy):
    """Same initial params, different seeds: only the minibatch order differs, and it matters."""
    x, y = toy
    arch = archs.mlp(2, width=16, out_dim=3)
    _, p0 = arch.init_fn(jax.random.PRNGKey(0), x.shape)
    kw = dict(num_classes=3, lr=0.5, epochs=2, batch_size=10, progress=False, params=p0)
    a = train(arch, x, y, seed=0, **kw)
    b = train(arch, x, y, seed=1, **kw)
    assert np.max(np.abs(a.train_loss - b.train_loss)) > 1e-6


def test_full_batch_sgd_step_equals_hand_gradient_step(toy):
    """One full-batch SGD epoch on MSE = p0 - lr * grad of 1/(2N) sum ||f - onehot||^2."""
    x, y = toy
    arch = archs.mlp(3, width=16, out_dim=3)
    lr = 0.3
    init_key, _ = jax.random.split(jax.random.PRNGKey(7))
    _, p0 = arch.init_fn(init_key, x.shape)
    hist = train(
        arch,
        x,
        y,
        num_classes=3,
        loss="mse",
        optimizer="sgd",
        lr=lr,
        epochs=1,
        seed=7,
        progress=False,
        dtype=np.float64,
    )
    targets = jnp.asarray(np.eye(3)[y])
    xj = jnp.asarray(x)

    def loss(p):
        return 0.5 * jnp.sum((arch.apply_fn(p, xj) - targets) ** 2) / len(y)

    expected = jax.tree_util.tree_map(lambda p, g: p - lr * g, p0, jax.grad(loss)(p0))
    # float64 on both sides, same formula up to summation order: agree to ~1e-14
    for pe, pt in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(hist.params)):
        np.testing.assert_allclose(np.asarray(pt), np.asarray(pe), rtol=1e-10, atol=1e-12)
    # the recorded loss is the loss of the updated parameters
    assert hist.train_loss[0] == pytest.approx(float(loss(expected)), rel=1e-10)


def test_centered_mse_targets(toy):
    """centered=True trains on e_k - 1/K: one step equals the hand step with those targets."""
    x, y = toy
    arch = archs.mlp(2, width=8, out_dim=3)
    _, p0 = arch.init_fn(jax.random.PRNGKey(1), x.shape)
    hist = train(
        arch,
        x,
        y,
        num_classes=3,
        loss="mse",
        lr=0.2,
        epochs=1,
        params=p0,
        centered=True,
        progress=False,
        dtype=np.float64,
    )
    targets = jnp.asarray(np.eye(3)[y] - 1.0 / 3)
    g = jax.grad(
        lambda p: 0.5 * jnp.mean(jnp.sum((arch.apply_fn(p, jnp.asarray(x)) - targets) ** 2, axis=-1))
    )(p0)
    expected = jax.tree_util.tree_map(lambda p, d: p - 0.2 * d, p0, g)
    for pe, pt in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(hist.params)):
        np.testing.assert_allclose(np.asarray(pt), np.asarray(pe), rtol=1e-10, atol=1e-12)


def _hand_optimizer_steps(optimizer, grad_fn, p0, lr, momentum, steps):
    """The three update rules written out by hand (no optax), ``steps`` full-batch steps.

    sgd: ``p -= lr g``.  momentum (heavy ball, optax's convention): ``v = g + m v``,
    ``p -= lr v``.  adam (b1 = 0.9, b2 = 0.999, eps = 1e-8, bias-corrected):
    ``p -= lr mhat / (sqrt(vhat) + eps)``.
    """
    leaves, tree = jax.tree_util.tree_flatten(p0)
    p = [np.asarray(a, dtype=np.float64) for a in leaves]
    v = [np.zeros_like(a) for a in p]
    m1 = [np.zeros_like(a) for a in p]
    m2 = [np.zeros_like(a) for a in p]
    for t in range(1, steps + 1):
        g = [np.asarray(a) for a in jax.tree_util.tree_leaves(grad_fn(tree.unflatten(p)))]
        for k in range(len(p)):
            if optimizer == "sgd":
                p[k] = p[k] - lr * g[k]
            elif optimizer == "momentum":
                v[k] = g[k] + momentum * v[k]
                p[k] = p[k] - lr * v[k]
            else:
                m1[k] = 0.9 * m1[k] + 0.1 * g[k]
                m2[k] = 0.999 * m2[k] + 0.001 * g[k] ** 2
                mhat, vhat = m1[k] / (1 - 0.9**t), m2[k] / (1 - 0.999**t)
                p[k] = p[k] - lr * mhat / (np.sqrt(vhat) + 1e-8)
    return p


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimizer_steps_equal_hand_written_rules(toy, optimizer):
    """Three full-batch epochs with each optimizer equal its update rule written out by hand.

    The three rules give different parameters after three steps (checked below), so the test
    fails if ``optimizer`` were ignored or mapped to the wrong rule.
    """
    x, y = toy
    arch = archs.mlp(2, width=8, out_dim=3)
    _, p0 = arch.init_fn(jax.random.PRNGKey(2), x.shape)
    lr, momentum = 0.05, 0.8
    hist = train(
        arch,
        x,
        y,
        num_classes=3,
        loss="xent",
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        epochs=3,
        params=p0,
        progress=False,
        dtype=np.float64,
    )
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def grad_fn(p):
        return jax.grad(
            lambda q: -jnp.mean(jax.nn.log_softmax(arch.apply_fn(q, xj))[jnp.arange(len(y)), yj])
        )(p)

    rules = {o: _hand_optimizer_steps(o, grad_fn, p0, lr, momentum, 3) for o in ("sgd", "momentum", "adam")}
    got = [np.asarray(a) for a in jax.tree_util.tree_leaves(hist.params)]
    # float64 on both sides, same formulas up to summation order: ~1e-14; 1e-10 leaves room
    for a, b in zip(got, rules[optimizer]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # and the other two rules are far from it (they differ at O(lr) after three steps)
    for other in set(rules) - {optimizer}:
        gap = max(np.max(np.abs(a - b)) for a, b in zip(got, rules[other]))
        assert gap > 1e-4, (optimizer, other, gap)


@pytest.mark.parametrize("loss,optimizer", [("xent", "sgd"), ("mse", "momentum"), ("xent", "adam")])
def test_loss_decreases_on_separable_toy(toy, loss, optimizer):
    x, y = toy
    lr = 0.01 if optimizer == "adam" else 0.5
    hist = train(
        archs.mlp(2, width=64, out_dim=3),
        x,
        y,
        num_classes=3,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        epochs=30,
        batch_size=20,
        progress=False,
        record_init=True,
        record_every=10,
    )
    np.testing.assert_array_equal(hist.epoch, [0, 10, 20, 30])
    # separable blobs: training must at least halve the loss and fit (almost) every point
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert hist.train_acc[-1] >= 0.95
    assert hist.wall_time > 0 and hist.steps == 30 * 3 and hist.epoch_time.shape == (30,)
    assert hist.wall_time == pytest.approx(hist.epoch_time.sum(), rel=1e-12)
    assert hist.cpu_time == pytest.approx(hist.epoch_cpu_time.sum(), rel=1e-12)


def test_record_at_records_those_epochs_with_the_values_of_every_epoch_recording(toy):
    """record_at skips the whole-set evaluations between checkpoints and changes nothing else."""
    x, y = toy
    kw = dict(num_classes=3, lr=0.5, epochs=6, batch_size=20, progress=False, seed=3)
    every = train(archs.mlp(2, width=16, out_dim=3), x, y, **kw)
    some = train(archs.mlp(2, width=16, out_dim=3), x, y, record_at=[4, 2], **kw)
    np.testing.assert_array_equal(some.epoch, [2, 4, 6])  # the last epoch is always recorded
    rows = np.isin(every.epoch, some.epoch)
    for field in ("train_loss", "train_acc", "class_acc", "class_prob"):
        np.testing.assert_array_equal(getattr(some, field), getattr(every, field)[rows])
    np.testing.assert_array_equal(some.predict(x), every.predict(x))


def test_per_class_accuracy_and_probabilities_are_consistent(rng):
    x, y = _toy(rng, n=50, k=4, sep=0.8)  # overlapping classes: accuracies strictly between 0 and 1
    y = y.copy()
    y[:7] = 0  # unequal class counts
    hist = train(
        archs.mlp(2, width=32, out_dim=4),
        x,
        y,
        num_classes=4,
        x_test=x[:20],
        y_test=y[:20],
        lr=0.3,
        epochs=3,
        progress=False,
        record_init=True,
    )
    counts = np.bincount(y, minlength=4)
    # count-weighted mean of per-class accuracy = overall accuracy (exact up to rounding)
    np.testing.assert_allclose(hist.class_acc @ counts / counts.sum(), hist.train_acc, atol=1e-12)
    # each class_prob row is a mean of probability vectors: sums to 1
    np.testing.assert_allclose(hist.class_prob.sum(axis=-1), 1.0, atol=1e-6)
    # the count-weighted class_prob rows give the mean softmax over all samples
    probs = jax.nn.softmax(hist.predict(x), axis=-1)
    np.testing.assert_allclose(
        np.einsum("k,kj->j", counts, hist.class_prob[-1]) / counts.sum(),
        np.asarray(probs).mean(axis=0),
        atol=1e-6,
    )
    # test accuracy recomputed by hand from the final logits
    assert hist.test_acc[-1] == pytest.approx(np.mean(hist.predict(x[:20]).argmax(1) == y[:20]))
    assert hist.class_acc.shape == (4, 4) and hist.class_prob.shape == (4, 4, 4)


def test_absent_class_gives_nan_rows_and_no_test_gives_empty(toy):
    x, y = toy
    y = np.where(y == 2, 0, y)  # class 2 absent
    hist = train(archs.mlp(2, width=8, out_dim=3), x, y, num_classes=3, lr=0.1, epochs=1, progress=False)
    assert np.all(np.isnan(hist.class_acc[:, 2])) and np.all(np.isnan(hist.class_prob[:, 2]))
    assert np.all(np.isfinite(hist.class_acc[:, :2]))
    assert hist.test_loss.shape == (0,) and hist.test_acc.shape == (0,)
    assert isinstance(hist, History)


def test_float32_cnn_trains_with_x64_on_and_matches_float64(rng):
    """x64 is on in the tests: float32 training of a CNN must still run (neural-tangents' conv
    mixes dtypes otherwise) and agree with float64 training to float32 rounding."""
    x = data.normalize(rng.standard_normal((12, 6, 1)))
    y = np.arange(12) % 2
    arch = archs.cnn([4], [8], out_dim=2, ndim=1)
    _, p0 = arch.init_fn(jax.random.PRNGKey(0), x.shape)  # one draw for both precisions
    kw = dict(num_classes=2, loss="mse", lr=0.1, epochs=2, seed=0, progress=False, params=p0)
    h32 = train(arch, x, y, dtype=np.float32, **kw)
    h64 = train(arch, x, y, dtype=np.float64, **kw)
    assert all(np.asarray(p).dtype == np.float32 for p in jax.tree_util.tree_leaves(h32.params))
    # same initial parameters (cast), two steps: relative differences of order 1e-6 (float32 eps ~1e-7)
    np.testing.assert_allclose(h32.train_loss, h64.train_loss, rtol=1e-4)
