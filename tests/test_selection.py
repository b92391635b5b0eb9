"""Tests of ntkbook.selection: named networks, Gram matrices, trained ground truth (chapter 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntkbook import archs, closed_form, data, selection
from ntkbook.dynamics import train
from ntkbook.tasks import kpca_separation

# core suite: no neural-tangents needed (the references are closed forms and brute force)
pytestmark = pytest.mark.core


def _unit_rows(n: int, shape: tuple, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, *shape))
    return data.normalize(x)


def test_network_is_cached_and_resolves_both_conventions():
    a = selection.network("2-L", out_dim=3)
    assert selection.network("2-L", out_dim=3) is a  # one object: compiled once
    assert selection.network("2-L", out_dim=4) is not a
    # the paper's 2-L has 2 hidden layers = 3 layers of weights: its kernel is mlp_ntk(depth=3)
    x = _unit_rows(6, (5,))
    H = selection.make_gram(x, "2-L (2 hidden)", 3)
    ref, _ = closed_form.mlp_ntk(x, depth=3, W_std=archs.W_STD, b_std=archs.B_STD)
    # float64 recursion both ways: agreement to rounding
    np.testing.assert_allclose(H, np.asarray(ref), rtol=1e-10)


def test_make_gram_zoo_and_eq4_against_closed_forms():
    x = _unit_rows(9, (4, 4, 1))
    H = selection.make_gram(x, "2-L", 10, 2, max_block=4)  # 3 equal blocks of 3
    ref, _ = closed_form.mlp_ntk(x.reshape(9, -1), depth=2, W_std=archs.W_STD, b_std=archs.B_STD)
    np.testing.assert_allclose(H, np.asarray(ref), rtol=1e-10)
    H4 = selection.make_gram(x, selection.EQ4_KERNEL)
    np.testing.assert_allclose(H4, np.asarray(closed_form.relu_ntk_eq4(x.reshape(9, -1))), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 16, 17, 150, 151])
@pytest.mark.parametrize("m", [1, 5, 16, 50])
def test_equal_blocks_against_brute_force(n, m):
    b = selection.equal_blocks(n, m)
    blocks = -(-n // m)  # as few blocks as max size allows
    # brute force: the smallest side that still needs only `blocks` blocks
    best = min(s for s in range(1, n + 1) if -(-n // s) == blocks)
    assert b == best and b <= m


def test_trained_accuracies_match_direct_training_and_fit_separable_data():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    x = rng.standard_normal((40, 6)) * 0.3 + 2.0 * (2 * y[:, None] - 1)  # separable blobs
    nets = {"mlp": archs.mlp(2, 16, 2)}
    kw = dict(optimizer="adam", lr=0.05, epochs=30, batch_size=None)
    acc = selection.trained_accuracies(
        nets, x[:30], y[:30], x[30:], y[30:], num_classes=2, seeds=[0, 1], **kw
    )
    assert list(acc.seed) == [0, 1] and set(acc.arch) == {"mlp"}
    assert np.all(acc.train_acc == 1.0) and np.all(acc.test_acc == 1.0)
    # the same run through dynamics.train directly, then its predictions scored by hand
    hist = train(nets["mlp"], x[:30], y[:30], num_classes=2, seed=1, progress=False, **kw)
    hand = float(np.mean(hist.predict(x[30:]).argmax(-1) == y[30:]))
    assert acc.test_acc.iloc[1] == pytest.approx(hand, abs=0)


def test_kpca_vs_training_ratios_and_gap():
    r = selection.kpca_vs_training(
        "corners", 16, 0, n_test=12, train_seeds=(0, 1), epochs=1, width=8, channels=2, max_block=8
    )
    ds = data.load("corners", n=16, seed=0, n_test=12)
    x = data.normalize(ds.x)
    for a in ("2-L", "CNN-2"):  # recomputed from a Gram matrix built here
        ref = kpca_separation(selection.make_gram(x, a, 4, 2), ds.y, 4, "low").ratio
        assert r["ratio"][a] == pytest.approx(ref, rel=1e-12)
    wide = r["acc"].pivot(index="seed", columns="arch", values="test_acc")
    np.testing.assert_array_equal(r["gap"], (wide["CNN-2"] - wide["2-L"]).to_numpy())
    assert r["kernel_pick"] == max(r["ratio"], key=r["ratio"].get) and r["n_test"] == 12


def test_bad_inputs():
    with pytest.raises(ValueError, match="name='nope'"):
        selection.network("nope")
    with pytest.raises(ValueError, match="ndim"):
        selection.network("CNN-1", ndim=3)
    nets = {"mlp": archs.mlp(2, 4, 2)}
    x, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="distinct seeds"):
        selection.trained_accuracies(nets, x, y, x, y, num_classes=2, seeds=[0, 0])
    with pytest.raises(ValueError, match="seed is set by"):
        selection.trained_accuracies(nets, x, y, x, y, num_classes=2, seeds=[0], seed=3)
    with pytest.raises(ValueError, match="max_block"):
        selection.equal_blocks(10, 0)


def test_trained_ranking_orders_by_mean_and_gap_intervals_match_scipy():
    from scipy import stats

    # three architectures, three seeds: C best, then A, then B (A and B close)
    test = {"A": [0.50, 0.52, 0.54], "B": [0.49, 0.53, 0.50], "C": [0.70, 0.72, 0.71]}
    acc = pd.DataFrame(
        [
            dict(arch=a, seed=s, train_acc=1.0 - 0.1 * k, test_acc=v[s])
            for k, (a, v) in enumerate(test.items())
            for s in range(3)
        ]
    )
    r = selection.trained_ranking(acc)
    assert list(r.index) == ["C", "A", "B"] and list(r.trained_rank) == [1, 2, 3]
    assert r.loc["B", "train_acc"] == pytest.approx(0.9) and r.loc["C", "test_acc"] == pytest.approx(0.71)
    for a, b in (("C", "A"), ("A", "B")):  # brute-force Student-t interval of the per-seed gaps
        d = np.subtract(test[a], test[b])
        half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
        assert r.loc[a, "gap_lo"] == pytest.approx(d.mean() - half, rel=1e-12)
        assert r.loc[a, "gap_hi"] == pytest.approx(d.mean() + half, rel=1e-12)
    # C's lead is far beyond the seed spread, A over B is not; the last row has no gap
    assert list(r.resolved) == [True, False, False] and np.isnan(r.loc["B", "gap_next"])
    with pytest.raises(ValueError, match="same seeds"):
        selection.trained_ranking(acc[~((acc.arch == "B") & (acc.seed == 2))])


def test_beside_paper_puts_the_paper_row_under_each_reported_dataset():
    long = pd.DataFrame(
        [
            dict(dataset=d, arch=a, protocol=p, auc=10 * i + j + 0.5 * k)
            for i, d in enumerate(["x", "y"])
            for j, a in enumerate(["k1", "k2"])
            for k, p in enumerate(["p", "q"])
        ]
    )
    paper = pd.DataFrame({"k1": {"y": 0.9}, "k3": {"y": 0.1}})
    t = selection.beside_paper(long, "auc", paper, ["y", "x"], ["k2", "k1"])
    assert list(t.index) == [("y", "p"), ("y", "q"), ("y", "paper"), ("x", "p"), ("x", "q")]
    assert t.loc[("y", "q"), "k2"] == 10 + 1 + 0.5 and t.loc[("x", "p"), "k1"] == 0
    assert t.loc[("y", "paper"), "k1"] == 0.9 and np.isnan(t.loc[("y", "paper"), "k2"])


def test_glue_key_keeps_letters_digits_underscores():
    assert selection.glue_key("t4_auc_fashion_mnist_2-L (2 hidden)_binary") == (
        "ch11_t4_auc_fashion_mnist_2L_2_hidden_binary"
    )
    assert selection.glue_key("CNN-2", prefix="") == "CNN2"


def test_rank_candidates_are_the_documented_networks():
    # parameter counts by hand for 40-step, 1-channel signals (width 16, 4 channels, 10 classes;
    # SAME padding: stride 2 halves 40 -> 20 -> 10 positions before the flatten)
    import jax

    hidden, readout = 40 * 16 + 16, 16 * 10 + 10
    conv = (3 * 1 * 4 + 4) + (3 * 4 * 4 + 4)
    expected = {
        "MLP depth 2": hidden + readout,
        "MLP depth 8": hidden + 6 * (16 * 16 + 16) + readout,
        "CNN 2 conv k3": conv + (40 * 4 * 16 + 16) + readout,
        "CNN 2 conv k3 stride 2": conv + (10 * 4 * 16 + 16) + readout,
    }
    nets = selection.rank_candidates((40, 1), 10, width=16, channels=4)
    assert tuple(nets) == selection.RANK_NAMES
    for name, net in nets.items():
        shape, params = net[0](jax.random.PRNGKey(0), (2, 40, 1))
        assert shape == (2, 10)
        assert sum(p.size for p in jax.tree_util.tree_leaves(params)) == expected[name], name
