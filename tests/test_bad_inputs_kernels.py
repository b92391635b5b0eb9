"""Bad inputs for every public function of the kernel modules (issue 25): ``layers``, ``archs``,
``gram``, ``gram_memory``, ``engine`` and ``cntk_depths``.  Each error names the argument and
what was expected; empty arrays and wrong types included.  Each table is checked against its
module's ``__all__``, so a new public function without a row fails."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from ntkbook import archs, cntk_depths, engine, gram, gram_memory, layers

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core

X = np.random.default_rng(0).normal(size=(4, 3))
IMG = np.random.default_rng(1).normal(size=(3, 5, 5, 1))
NAN = X.copy()
NAN[1, 1] = np.nan
MLP = archs.get("2-L")


def lin(a, c):
    return (a @ c.T,)


CASES = [
    # layers
    (layers, "serial", lambda: layers.serial(), ValueError, "at least one"),
    (layers, "serial", lambda: layers.serial((1, 2, 3)), TypeError, "ntkbook.layers networks"),
    (layers, "Dense", lambda: layers.Dense(0), ValueError, "out_dim"),
    (layers, "Dense", lambda: layers.Dense(3, W_std=np.nan), ValueError, "W_std"),
    (layers, "Dense", lambda: layers.Dense(3, b_std="0.1"), ValueError, "b_std"),
    (layers, "Dense", lambda: layers.Dense(3, parameterization="mup"), ValueError, "parameterization"),
    (layers, "Conv", lambda: layers.Conv(2, (3, 3), padding="CIRCULAR"), NotImplementedError, "CIRCULAR"),
    (layers, "Conv", lambda: layers.Conv(2, (0, 3)), ValueError, "filter_shape"),
    (layers, "Conv", lambda: layers.Conv(2, (3, 3), strides=(1,)), ValueError, "strides"),
    (layers, "AvgPool", lambda: layers.AvgPool((2, 2), padding="FULL"), ValueError, "padding"),
    (layers, "AvgPool", lambda: layers.AvgPool((2, 2), (True, 1)), ValueError, "strides"),
    (layers, "to_stax", lambda: layers.to_stax((1, 2, 3)), TypeError, "Network"),
    # archs
    (archs, "get", lambda: archs.get("CNN-9"), ValueError, "not in the zoo"),
    (archs, "get", lambda: archs.get("2-L", out_dim=0), ValueError, "out_dim"),
    (archs, "describe", lambda: archs.describe("VGG"), ValueError, "not in the zoo"),
    (archs, "mlp", lambda: archs.mlp(0), ValueError, "depth"),
    (archs, "mlp", lambda: archs.mlp(2, width=2.5), TypeError, "width"),
    (archs, "mlp", lambda: archs.mlp(2, parameterization="x"), ValueError, "parameterization"),
    (archs, "cnn", lambda: archs.cnn([]), ValueError, "channels"),
    (archs, "cnn", lambda: archs.cnn([4], pool_after=(5,)), ValueError, "pool_after"),
    (archs, "cnn", lambda: archs.cnn([4], pool_after=(-1,)), ValueError, "pool_after"),
    (archs, "cnn", lambda: archs.cnn([4], pool="max"), ValueError, "pool="),
    (archs, "cnn", lambda: archs.cnn([4], ndim=3), ValueError, "ndim"),
    (archs, "ndim_of", lambda: archs.ndim_of(()), ValueError, "image_shape"),
    # gram
    (gram, "gram", lambda: gram.gram(MLP, np.zeros((0, 3)), progress=False), ValueError, "N >= 1"),
    (gram, "gram", lambda: gram.gram(MLP, NAN, progress=False), ValueError, "x contains"),
    (gram, "gram", lambda: gram.gram(MLP, X, X[:, :2], progress=False), ValueError, "x2 must"),
    (gram, "gram", lambda: gram.gram(MLP, X, kind="cov", progress=False), ValueError, "kind="),
    (gram, "gram", lambda: gram.gram(MLP, X, batch_size=0, progress=False), ValueError, "batch_size"),
    (gram, "gram", lambda: gram.gram(MLP, X, dtype=np.float16, progress=False), ValueError, "dtype"),
    # gram_memory
    (
        gram_memory,
        "estimate_memory",
        lambda: gram_memory.estimate_memory(MLP, np.zeros((0, 3))),
        ValueError,
        "N >= 1",
    ),
    (
        gram_memory,
        "estimate_memory",
        lambda: gram_memory.estimate_memory(MLP, X, devices=[]),
        ValueError,
        "devices is empty",
    ),
    (
        gram_memory,
        "check_fits",
        lambda: gram_memory.check_fits({"result_bytes": 1}, 4),
        TypeError,
        "est must be a dict from estimate_memory",
    ),
    (
        gram_memory,
        "check_fits",
        lambda: gram_memory.check_fits(gram_memory.estimate_memory(MLP, X), 0),
        ValueError,
        "batch_size",
    ),
    (
        gram_memory,
        "estimate_memory",
        lambda: gram_memory.estimate_memory(MLP, X, batch_size=0),
        ValueError,
        "batch_size",
    ),
    (
        gram_memory,
        "auto_batch_size",
        lambda: gram_memory.auto_batch_size(MLP, np.zeros((0, 3))),
        ValueError,
        "N >= 1",
    ),
    (
        gram_memory,
        "auto_batch_size",
        lambda: gram_memory.auto_batch_size("2-L", X),
        TypeError,
        "arch_or_kernel_fn",
    ),
    (gram_memory, "kernel_fn_of", lambda: gram_memory.kernel_fn_of(None), TypeError, "arch_or_kernel_fn"),
    # engine
    (engine, "run_blocks", lambda: engine.run_blocks(lin, X, None, 0), ValueError, "block"),
    (engine, "run_blocks", lambda: engine.run_blocks(lin, X, None, 2.5), TypeError, "block"),
    (engine, "run_blocks", lambda: engine.run_blocks(lin, X[:0], None, 2), ValueError, "at least one input"),
    (engine, "run_blocks", lambda: engine.run_blocks(lin, X, X[:, :2], 2), ValueError, "feature shape"),
    (
        engine,
        "run_blocks",
        lambda: engine.run_blocks(lin, X, None, 2, devices=[]),
        ValueError,
        "devices is empty",
    ),
    (engine, "run_blocks", lambda: engine.run_blocks("f", X, None, 2), TypeError, "block_fn"),
    (engine, "pad_rows", lambda: engine.pad_rows(X, 0), ValueError, "multiple"),
    (engine, "block_threads", lambda: engine.block_threads([]), ValueError, "devices is empty"),
    # cntk_depths
    (cntk_depths, "gram_by_depth", lambda: cntk_depths.gram_by_depth(IMG, depths=[]), ValueError, "depths"),
    (
        cntk_depths,
        "gram_by_depth",
        lambda: cntk_depths.gram_by_depth(IMG[:0], depths=[1]),
        ValueError,
        "non-empty",
    ),
    (
        cntk_depths,
        "gram_by_depth",
        lambda: cntk_depths.gram_by_depth(IMG, depths=[1], kernel=2),
        ValueError,
        "kernel must be odd",
    ),
]

# functions that take no input, so have no bad input
NO_ARGUMENTS = {
    ("layers", "Relu"),
    ("layers", "GlobalAvgPool"),
    ("layers", "Flatten"),
    ("archs", "names"),
    ("gram_memory", "host_available_bytes"),
}


@pytest.mark.parametrize(
    "module,name,call,exc,match",
    CASES,
    ids=[f"{c[0].__name__.split('.')[-1]}.{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_input(module, name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "module", [layers, archs, gram, gram_memory, engine, cntk_depths], ids=lambda m: m.__name__
)
def test_table_covers_every_public_function(module):
    short = module.__name__.split(".")[-1]
    public = {
        n
        for n in module.__all__
        if inspect.isfunction(getattr(module, n))
        and getattr(module, n).__module__ == module.__name__  # not re-exports
        and (short, n) not in NO_ARGUMENTS
    }
    assert public == {name for mod, name, *_ in CASES if mod is module}
