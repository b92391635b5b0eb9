"""ntkbook.dynamics.tuning: the held-out split, the learning-rate choice against runs made here
by hand (train on the fit rows, score the held-out rows with the network's own outputs), ties,
diverging candidates, and pntk.sgd_baseline's tuned run against a plain run at the chosen rate
(and at the runner-up when the choice diverges on the whole split).  Bad input: the table
in test_bad_inputs_dynamics.py."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import archs, dynamics, pntk
from ntkbook.dynamics import TrainingDiverged, select_lr, train, tuning, validation_split

pytestmark = pytest.mark.core

LRS = [0.003, 0.3, 3.0]
KW = dict(optimizer="momentum", epochs=2, batch_size=20)  # the cross-entropy: train's default


@pytest.fixture(scope="module")
def small():
    # three Gaussian clusters in 16 dimensions, close enough that the step size matters
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((3, 16))
    y, y_test = np.arange(80) % 3, np.arange(30) % 3
    x = (centres[y] + 1.5 * rng.standard_normal((80, 16))).astype(np.float32)
    x_test = (centres[y_test] + 1.5 * rng.standard_normal((30, 16))).astype(np.float32)
    return y, y_test, x, x_test


def test_validation_split_partitions_the_rows():
    fit, held = validation_split(50, 0.2, seed=3)
    assert len(held) == 10 and len(fit) == 40
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, held])), np.arange(50))
    np.testing.assert_array_equal(held, validation_split(50, 0.2, seed=3)[1])  # deterministic
    assert not np.array_equal(held, validation_split(50, 0.2, seed=4)[1])


def test_select_lr_is_the_argmax_of_held_out_accuracy(small):
    y, _, x, _ = small
    net = archs.mlp(2, 32, 3)
    choice = select_lr(net, x, y, lrs=LRS, num_classes=3, seed=1, **KW)
    fit, held = validation_split(len(x), 0.2, seed=1)
    by_hand = {}
    for lr in LRS:
        hist = train(net, x[fit], y[fit], num_classes=3, lr=lr, seed=1, progress=False, **KW)
        logits = np.asarray(hist.apply_fn(hist.params, x[held]))
        by_hand[lr] = float(np.mean(logits.argmax(1) == y[held]))
    assert choice.val_acc == pytest.approx(by_hand, abs=0)
    assert len(set(by_hand.values())) > 1  # the candidates differ, so the choice means something
    assert choice.lr == max(LRS, key=lambda lr: (by_hand[lr], -lr))
    assert choice.n_val == len(held) == 16


def test_ties_go_to_the_smallest_rate(monkeypatch):
    class Hist:
        test_acc = np.array([0.5])

    monkeypatch.setattr(tuning, "train", lambda *a, **k: Hist())
    x, y = np.zeros((10, 3)), np.arange(10) % 2
    assert select_lr(None, x, y, lrs=[4.0, 1.0, 2.0], num_classes=2).lr == 1.0


def test_sgd_baseline_trains_the_whole_split_at_the_chosen_rate(small):
    y, y_test, x, xt = small
    net = archs.mlp(2, 32, 3)
    correct, choice = pntk.sgd_baseline(net, x, y, xt, y_test, 1, num_classes=3, lrs=LRS, **KW)
    assert choice == select_lr(net, x, y, lrs=LRS, num_classes=3, seed=1, **KW)
    hist = train(net, x, y, num_classes=3, lr=choice.lr, seed=1, progress=False, **KW)
    np.testing.assert_array_equal(correct, np.asarray(hist.apply_fn(hist.params, xt)).argmax(1) == y_test)
    plain, none = pntk.sgd_baseline(net, x, y, xt, y_test, 1, num_classes=3, lr=choice.lr, **KW)
    assert none is None and np.array_equal(plain, correct)


def test_a_diverging_candidate_fails_and_is_never_chosen(small):
    y, _, x, _ = small
    net = archs.mlp(2, 32, 3)
    # a step of 1e6 sends the loss to inf within the first epoch; 0.3 trains
    choice = select_lr(net, x, y, lrs=[1e6, 0.3], num_classes=3, seed=1, **KW)
    assert choice.lr == 0.3 and choice.diverged == (1e6,)
    assert (
        np.isnan(choice.val_acc[1e6])
        and choice.val_acc[0.3] == select_lr(net, x, y, lrs=[0.3], num_classes=3, seed=1, **KW).val_acc[0.3]
    )
    with pytest.raises(TrainingDiverged, match="every learning rate"):
        select_lr(net, x, y, lrs=[1e6, 1e7], num_classes=3, seed=1, **KW)


def test_sgd_baseline_falls_back_when_the_chosen_rate_diverges_on_the_whole_split(small, monkeypatch):
    y, y_test, x, xt = small
    net = archs.mlp(2, 32, 3)
    tuned = select_lr(net, x, y, lrs=LRS, num_classes=3, seed=1, **KW)
    runner_up = max((lr for lr in LRS if lr != tuned.lr), key=lambda lr: (tuned.val_acc[lr], -lr))

    def whole_split_diverges_at_the_choice(net_, x_, *a, lr, **k):
        # the fit rows train at every rate; the whole split blows up at the chosen one
        if len(x_) == len(x) and lr == tuned.lr:
            raise TrainingDiverged("planted")
        return train(net_, x_, *a, lr=lr, **k)

    monkeypatch.setattr(dynamics, "train", whole_split_diverges_at_the_choice)
    correct, choice = pntk.sgd_baseline(net, x, y, xt, y_test, 1, num_classes=3, lrs=LRS, **KW)
    assert choice.lr == runner_up and choice.diverged == (tuned.lr,)
    assert choice.val_acc == tuned.val_acc
    hist = train(net, x, y, num_classes=3, lr=runner_up, seed=1, progress=False, **KW)
    np.testing.assert_array_equal(correct, np.asarray(hist.apply_fn(hist.params, xt)).argmax(1) == y_test)


def test_sgd_baseline_holds_out_val_frac(small):
    y, y_test, x, xt = small
    _, choice = pntk.sgd_baseline(
        archs.mlp(2, 32, 3), x, y, xt, y_test, 1, num_classes=3, lrs=[0.3], val_frac=0.5, **KW
    )
    assert choice.n_val == len(x) // 2
