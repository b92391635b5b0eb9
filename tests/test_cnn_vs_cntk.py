"""ntkbook.cnn_vs_cntk: the kernel side against gram.gram of each depth's network and a dense
solve; the table's kernel columns equal the kernel side; the network side is a trained accuracy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ntkbook import archs, cnn_vs_cntk, data, gram

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def tiny():
    ds = data.load("digits", n=16, seed=0, n_test=12)
    # a 4x4 crop keeps the GAP kernel cheap; float64 for the kernels
    return dataclasses.replace(
        ds, x=ds.x[:, 2:6, 2:6].astype(np.float64), x_test=ds.x_test[:, 2:6, 2:6].astype(np.float64)
    )


@pytest.mark.parametrize("pool", ["flatten", "gap"])
def test_kernel_accuracy_against_gram_and_dense_solve(tiny, pool):
    res = cnn_vs_cntk.cntk_accuracies(tiny, pool, 2, [1, 2], batch_size=8)
    Y = data.one_hot(tiny.y, tiny.num_classes, centered=True)
    for depth in (1, 2):
        arch = archs.cnn([4] * depth, [], tiny.num_classes, pool=pool)
        K = gram.gram(arch, tiny.x, progress=False)
        Kt = gram.gram(arch, tiny.x_test, tiny.x, progress=False)
        pred = Kt @ np.linalg.solve(K, Y)  # the reference: a dense LU solve
        ref_acc = float(np.mean(pred.argmax(1) == tiny.y_test))
        assert res[depth].accuracy == ref_acc  # 12 test points: exact agreement
        ev = np.linalg.eigvalsh(K)
        assert abs(res[depth].lambda_max - ev[-1]) < 1e-9 * ev[-1]
        assert res[depth].condition_number == pytest.approx(ev[-1] / ev[0], rel=1e-6)


def test_table_kernel_columns_and_network_accuracy(tiny):
    t = cnn_vs_cntk.cnn_table(tiny, 2, [1], channels=4, steps=3, batch_size=8)
    k = cnn_vs_cntk.cntk_accuracies(tiny, "gap", 2, [1], batch_size=8)
    assert t.loc[1, "CNTK-GAP"] == k[1].accuracy
    # an accuracy is a multiple of 1/12 in [0, 1]; the loss is finite and positive
    for col in ("CNN-V", "CNN-GAP"):
        assert 0 <= t.loc[1, col] <= 1 and abs(12 * t.loc[1, col] - round(12 * t.loc[1, col])) < 1e-9
    assert np.isfinite(t["CNN-V final train loss"]).all() and (t["CNN-V final train loss"] > 0).all()


def test_bad_pool(tiny):
    with pytest.raises(ValueError, match="pool"):
        cnn_vs_cntk.cntk_accuracies(tiny, "max", 2, [1])


def test_sgd_accuracy_is_the_momentum_trained_network_scored_here(tiny):
    # the same run made here with dynamics.train, scored by the network's own outputs
    from ntkbook.dynamics import train

    acc, loss = cnn_vs_cntk.cnn_sgd_accuracy(
        tiny, 2, "gap", 2, channels=4, lr=0.5, epochs=3, batch_size=8, seed=3
    )
    hist = train(
        archs.cnn([4, 4], [], tiny.num_classes, pool="gap"),
        tiny.x,
        tiny.y,
        num_classes=tiny.num_classes,
        optimizer="momentum",
        lr=0.5,
        epochs=3,
        batch_size=8,
        seed=3,
        progress=False,
    )
    logits = np.asarray(hist.apply_fn(hist.params, np.asarray(tiny.x_test, np.float32)))
    assert acc == np.mean(logits.argmax(1) == tiny.y_test)
    assert loss == pytest.approx(hist.train_loss[-1], rel=1e-6)
