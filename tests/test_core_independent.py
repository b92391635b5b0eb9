"""The core works without neural-tangents and on any JAX: imports, float64 context, closed forms.

References: neural-tangents' own kernels (skipped where it is not installed,
as in the ``make test-core`` environment), and the closed form of the
recursion for equal inputs (angle exactly 0), which needs no library at all.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import _x64, archs
from ntkbook import closed_form as cf

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core

REPO = Path(__file__).resolve().parents[1]

CORE_MODULES = (
    "ntkbook.gram",
    "ntkbook.layers",
    "ntkbook.closed_form",
    "ntkbook.tasks",
    "ntkbook.linalg",
    "ntkbook.metrics",
    "ntkbook.data",
    "ntkbook.archs",
)


def rel_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def test_core_imports_and_computes_without_neural_tangents():
    """With ``neural_tangents`` blocked, the core imports and a Gram of the 2-L kernel runs."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["neural_tangents"] = None          # any import of it now raises ImportError
        import importlib
        for name in {CORE_MODULES!r}:
            importlib.import_module(name)
        import numpy as np
        from ntkbook import archs, gram
        x = np.random.default_rng(0).normal(size=(7, 4, 4, 1))
        H = gram.gram(archs.get("2-L"), x, progress=False)
        G = gram.gram(archs.get("CNN-1-GAP"), x, progress=False)
        assert H.shape == G.shape == (7, 7) and np.isfinite(H).all() and np.isfinite(G).all()
        assert "neural_tangents" not in [m.split(".")[0] for m in sys.modules
                                         if sys.modules[m] is not None]
        print("OK")
    """)
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    # the stax triples are the one thing that still needs neural-tangents
    assert res.stdout.strip() == "OK"


@pytest.mark.parametrize("use_fallback", [False, True])
def test_x64_context_manager_sets_and_restores(monkeypatch, use_fallback):
    if use_fallback:  # the jax.config.update route, taken on a JAX with neither native API
        monkeypatch.setattr(_x64, "_NATIVE", None)
    outside = jnp.zeros(1).dtype
    with _x64.x64_scope(False):
        assert jnp.zeros(1).dtype == jnp.float32
        with _x64.x64_scope(True):
            assert jnp.zeros(1).dtype == jnp.float64
        assert jnp.zeros(1).dtype == jnp.float32
    assert jnp.zeros(1).dtype == outside
    with pytest.raises(RuntimeError):  # restored also when the block raises
        with _x64.x64_scope(not (outside == jnp.float64)):
            raise RuntimeError
    assert jnp.zeros(1).dtype == outside


def test_gram_on_engine_threads_is_float64_and_equals_one_thread(rng, monkeypatch):
    """On current JAX (``jax.enable_x64`` scopes), the engine's worker threads compute in
    gram's float64 scope even with the global flag off: two threads give the one-thread Gram
    bit for bit (tests/test_gram_engine.py checks the same on the pinned JAX)."""
    from ntkbook import engine, gram

    x = rng.normal(size=(12, 6, 6, 1))
    previous = _x64.x64_enabled()
    jax.config.update("jax_enable_x64", False)
    try:
        monkeypatch.setenv(engine.THREADS_ENV, "1")
        one = gram.gram(archs.get("CNN-1"), x, batch_size=4, progress=False)
        monkeypatch.setenv(engine.THREADS_ENV, "2")
        two = gram.gram(archs.get("CNN-1"), x, batch_size=4, progress=False)
    finally:
        jax.config.update("jax_enable_x64", previous)
    assert np.array_equal(one, two) and gram.last_run["blocks"] == 6


def _equal_input_recursion(sq_norm, d, depth, W_std, b_std, W_std_out=1.0):
    """NTK(x, x) of the ReLU MLP with the angle 0 at every layer: a scalar recursion."""
    w = W_std if depth > 1 else W_std_out
    s = w**2 * sq_norm / d + b_std**2
    theta = s
    for layer in range(2, depth + 1):
        w = W_std_out if layer == depth else W_std
        # E[relu(u)^2] = s/2 and E[relu'(u)^2] = 1/2 for u ~ N(0, s)
        s = w**2 * s / 2 + b_std**2
        theta = theta * w**2 / 2 + s
    return theta, s


@pytest.mark.parametrize("depth", [2, 10])
def test_mlp_diagonal_is_exact(rng, depth):
    """The Gram diagonal equals the equal-input closed form to rounding (was ~1e-8 with arccos)."""
    x = rng.normal(size=(40, 784))
    ntk, nngp = cf.mlp_ntk(x, depth=depth, W_std=archs.W_STD, b_std=archs.B_STD)
    ref_ntk, ref_nngp = _equal_input_recursion(np.sum(x**2, 1), 784, depth, archs.W_STD, archs.B_STD)
    # a dozen float64 operations per layer: 1e-14 relative is a few ulps each
    np.testing.assert_allclose(np.diag(ntk), ref_ntk, rtol=1e-14)
    np.testing.assert_allclose(np.diag(nngp), ref_nngp, rtol=1e-14)


def test_flatten_cnn_diagonal_is_exact(rng):
    """CNN-1's NTK(x, x): per pixel the angle is 0, so only the variance maps enter."""
    x = rng.normal(size=(6, 8, 8, 1))
    fk = archs.get("CNN-1").kernel_fn
    H = np.asarray(jax.jit(lambda a: fk(a, a, "ntk"))(x))
    W2, b2 = archs.W_STD**2, archs.B_STD**2
    v = x[..., 0] ** 2  # (N, H, W), one channel
    box = lambda t: sum(
        np.roll(np.pad(t, ((0, 0), (1, 1), (1, 1))), (dy, dx), (1, 2))
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )[:, 1:-1, 1:-1]
    ntk = None
    for _ in range(2):  # conv -> relu, twice
        v = W2 / 9 * box(v) + b2
        ntk = v if ntk is None else W2 / 9 * box(ntk) + v
        ntk, v = ntk / 2, v / 2
    k, theta = v.mean((1, 2)), ntk.mean((1, 2))
    for _ in range(2):  # dense -> relu, twice
        k = W2 * k + b2
        theta = (W2 * theta + k) / 2
        k = k / 2
    k = k + b2
    theta = theta + k
    np.testing.assert_allclose(np.diag(H), theta, rtol=1e-13)  # box sums in another order


def test_equal_inputs_give_angle_zero_off_the_diagonal_too(rng):
    """Two copies of one input in different rows: the pair is exactly a diagonal entry."""
    x = rng.normal(size=(5, 30))
    x = np.vstack([x, x[2:3]])
    ntk = np.asarray(cf.mlp_ntk(x, depth=4)[0])
    assert ntk[2, 5] == pytest.approx(ntk[2, 2], rel=1e-14)


@pytest.mark.pinned
@pytest.mark.parametrize("name", ["2-L", "10-L"])
def test_mlp_zoo_closed_forms_match_neural_tangents(rng, name):
    pytest.importorskip("neural_tangents")
    x1, x2 = rng.normal(size=(9, 6, 6, 1)), rng.normal(size=(7, 6, 6, 1))
    x2[0] = x1[0]  # an equal pair in the cross Gram too
    from ntkbook import layers

    ref = layers.to_stax(archs.get(name))[2](x1, x2, ("ntk", "nngp"))
    ntk, nngp = cf.mlp_ntk(
        x1.reshape(9, -1),
        x2.reshape(7, -1),
        depth=int(name.split("-")[0]),
        W_std=archs.W_STD,
        b_std=archs.B_STD,
    )
    # off the equal pair both compute the same recursion: agreement to 1e-10 (the
    # equal pair differs by neural-tangents' arccos rounding, ~1e-8: excluded)
    mask = np.ones((9, 7), bool)
    mask[0, 0] = False
    for ours, theirs in ((ntk, ref.ntk), (nngp, ref.nngp)):
        assert rel_err(np.asarray(ours)[mask], np.asarray(theirs)[mask]) < 1e-10
        assert rel_err(ours[0, 0], theirs[0, 0]) < 1e-7
