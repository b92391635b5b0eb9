"""ntkbook.evidence: verdicts against hand-computed intervals, the resumable atomic store, the
runner's clean interrupt, and the stale check on synthetic ledger records."""

from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pytest
from scipy import stats

from ntkbook import archs, evidence
from ntkbook.evidence import ladders, measures, runner, store
from ntkbook.evidence.ladders import Ladder, Target

pytestmark = pytest.mark.core


# --- verdicts ---------------------------------------------------------------------------------


def _t_interval(values):
    v = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return v.mean() - half, v.mean() + half


@pytest.mark.parametrize(
    "values,paper,tol,expected",
    [
        ([1.0, 2.0, 3.0], 2.0, 3.0, "reproduced"),  # [-0.48, 4.48] inside [-1, 5]
        ([1.0, 2.0, 3.0], 2.0, 2.0, "inconclusive"),  # sticks out of [0, 4] on both sides
        ([10.0, 11.0, 12.0], 2.0, 1.0, "not reproduced"),  # wholly above 3
        ([2.9, 3.0, 3.1], 2.0, 1.0, "inconclusive"),  # straddles the upper edge 3
    ],
)
def test_within_rule_against_hand_interval(values, paper, tol, expected):
    verdict, iv = ladders.judge_target(values, Target("x", paper, "within", tol=tol))
    lo, hi = _t_interval(values)
    assert (iv.lo, iv.hi) == pytest.approx((lo, hi), rel=1e-12)
    assert verdict == expected


def test_above_rule_is_claims_decide():
    t = Target("gain", 0.002, "above", threshold=0.0)
    assert ladders.judge_target([0.010, 0.011, 0.012], t)[0] == "reproduced"  # [.0085, .0135]
    assert ladders.judge_target([-0.010, -0.011, -0.012], t)[0] == "not reproduced"
    assert ladders.judge_target([-0.01, 0.0, 0.02], t)[0] == "inconclusive"


def _summary(mean, half, paper):
    return {"targets": {"x": dict(mean=mean, lo=mean - half, hi=mean + half, gap=abs(mean - paper))}}


def test_gap_trend_uses_both_interval_widths():
    # gaps 1.0 -> 0.2, half-widths 0.1 and 0.1: the change 0.8 exceeds hypot(0.1, 0.1) = 0.14
    assert ladders.gap_trend([_summary(1.0, 0.1, 2.0), _summary(1.8, 0.1, 2.0)], "x") == "closes"
    assert ladders.gap_trend([_summary(1.8, 0.1, 2.0), _summary(1.0, 0.1, 2.0)], "x") == "widens"
    # the same means with half-widths 0.6: hypot = 0.85 > 0.8, so no measurable change
    assert (
        ladders.gap_trend([_summary(1.0, 0.6, 2.0), _summary(1.8, 0.6, 2.0)], "x") == "no measurable change"
    )


# --- a cheap fake ladder for the store and the runner ------------------------------------------

CALLS: list[tuple[int, int]] = []


def _fake_measure(size: int, seed: int) -> dict:
    CALLS.append((size, seed))
    return {"value": 1.0 / size + 0.01 * seed}  # closed form: the test knows every record


FAKE = Ladder(
    id="999-fake",
    chapter="ch99",
    ledger_ids=("999-fake-a",),
    source="test",
    statement="a value that approaches 0 with size",
    size_name="N",
    measure=_fake_measure,
    cpu_sizes=(10, 20, 80),
    gpu_sizes=(10, 80, 160),
    targets=(Target("value", 0.0, "within", tol=0.05, label="value"),),
    cost_exponent=1.0,
)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    for mod in (ladders, runner, store):
        monkeypatch.setattr(mod, "LADDERS", (FAKE,))
    CALLS.clear()
    return tmp_path / "evidence"


def test_run_stores_every_record_and_resumes_without_recomputing(fake):
    assert runner.run(device="cpu", seeds=5, root=fake) == 15
    assert sorted(CALLS) == [(s, k) for s in (10, 20, 80) for k in range(5)]
    doc = json.loads((fake / "999-fake.json").read_text())
    for rung in doc["rungs"]:
        for seed, rec in rung["records"].items():
            assert rec["values"]["value"] == pytest.approx(1 / rung["size"] + 0.01 * int(seed))
        vals = [1 / rung["size"] + 0.01 * k for k in range(5)]
        assert rung["summary"]["targets"]["value"]["mean"] == pytest.approx(np.mean(vals))
    assert doc["trend"]["value"] == "closes"  # gap 0.12 -> 0.0325, intervals tiny
    run0 = doc["runs"][0]
    assert run0["cores"] >= 1 and len(run0["sha256"]) == 2
    assert run0["load_note"].startswith("loaded" if run0["load_avg"][0] > run0["cores"] else "quiet")
    CALLS.clear()
    assert runner.run(device="cpu", seeds=5, root=fake) == 0 and CALLS == []
    # one record lost: exactly that one is recomputed
    del doc["rungs"][1]["records"]["3"]
    store.write(doc, fake)
    assert runner.run(device="cpu", seeds=5, root=fake) == 1 and CALLS == [(20, 3)]


def test_a_write_takes_the_description_from_the_registry(fake):
    assert runner.run(device="cpu", seeds=2, root=fake, max_rung=0) == 2
    doc = store.read("999-fake", fake)
    doc["note"], doc["targets"][0]["label"] = "an outdated note", "an outdated label"
    store.write(store.summarize(doc), fake)
    doc = store.read("999-fake", fake)
    assert doc["note"] == FAKE.note and doc["targets"][0]["label"] == "value"
    assert doc["rungs"][0]["records"]  # the records are kept


def test_claim_texts_name_sizes_verdict_trend_and_note(fake):
    assert runner.run(device="cpu", seeds=5, root=fake, max_rung=1) == 10
    doc = store.read("999-fake", fake)
    texts = evidence.claim_texts(doc)
    assert list(texts) == [f"a4_{f}_999_fake" for f in ("sizes", "verdict", "trend", "note")]
    assert texts["a4_sizes_999_fake"] == "N = 10, N = 20"
    # the largest judged rung, N = 20: its mean, 1/20 + 0.02 = 0.07, is not within 0.05 of 0
    assert texts["a4_verdict_999_fake"] == f"{doc['rungs'][1]['summary']['verdict']} (N = 20)"
    assert texts["a4_verdict_999_fake"].startswith("not reproduced")
    assert texts["a4_trend_999_fake"] == evidence.trend_sentence(doc)
    assert texts["a4_note_999_fake"] == doc["note"]


def test_profile_estimate_sums_every_rung_by_hand(fake, capsys):
    assert runner.profile_seconds([FAKE], "cpu", 5, fake) == (0.0, 1)  # nothing timed yet
    runner.run(max_rung=0, device="cpu", seeds=3, root=fake)
    doc = store.read("999-fake", fake)
    for rec in doc["rungs"][0]["records"].values():  # planted timings: wall 4 s, CPU 2 s
        rec["seconds"], rec["cpu_s"] = 4.0, 2.0
    store.write(doc, fake)
    # 2 s per seed at N = 10 (CPU beats wall), cost linear in N: 5 seeds x 2 x (10 + 20 + 80) / 10
    whole, unknown = runner.profile_seconds([FAKE], "cpu", 5, fake)
    assert unknown == 0 and whole == pytest.approx(5 * 2.0 * (10 + 20 + 80) / 10)
    runner.run(device="cpu", seeds=5, root=fake, estimate_only=True)
    assert "whole profile on cpu" in capsys.readouterr().out


def test_max_rung_and_only(fake):
    runner.run(only=["999"], max_rung=0, device="cpu", seeds=2, root=fake)
    assert sorted(CALLS) == [(10, 0), (10, 1)]
    with pytest.raises(SystemExit, match="match no claim"):
        runner.select(["nope"])


def test_interrupt_exits_with_one_line_and_keeps_records(fake, monkeypatch, capsys):
    def boom(size, seed):
        if len(CALLS) == 3:
            raise KeyboardInterrupt
        return _fake_measure(size, seed)

    interrupted = (dataclasses.replace(FAKE, measure=boom),)
    for mod in (ladders, runner, store):
        monkeypatch.setattr(mod, "LADDERS", interrupted)
    monkeypatch.setenv("NTKBOOK_EVIDENCE_GRAM_CACHE", str(fake / "cache"))
    status = runner.main(["--store", str(fake), "--device", "cpu", "--seeds", "2"])
    err = capsys.readouterr().err
    assert status == 130
    assert [line for line in err.splitlines() if line.startswith("evidence: interrupted")] != []
    assert "Traceback" not in err
    stored = json.loads((fake / "999-fake.json").read_text())
    assert sum(len(r["records"]) for r in stored["rungs"]) == 3


def test_store_write_is_atomic_and_rejects_nan(fake):
    doc = store.read("999-fake", fake)
    with pytest.raises(ValueError, match="non-finite"):
        store.record_seed(doc, 10, 0, {"value": float("nan")}, 0.1, 0, root=fake)
    assert not (fake / "999-fake.json").exists()
    store.record_seed(doc, 10, 0, {"value": 0.1}, 0.1, 0, root=fake)
    assert [p.name for p in fake.iterdir()] == ["999-fake.json"]  # no temporary left


# --- the stale check -----------------------------------------------------------------------------


def _ledger(tmp_path, values, size=10, seed=0, with_evidence=True):
    rec = {"id": "999-fake-a", "verdict": "reproduced"}
    if with_evidence:
        rec["evidence"] = {"claim": "999-fake", "size": size, "values": values}
    folder = tmp_path / "claims"
    folder.mkdir(exist_ok=True)
    (folder / "ch99.json").write_text(json.dumps({"chapter": "ch99", "seed": seed, "claims": [rec]}))
    return folder


def test_check_stale_fresh_changed_and_skipped(fake, tmp_path, capsys):
    runner.run(max_rung=1, device="cpu", seeds=2, root=fake)
    live = _fake_measure(10, 0)
    assert evidence.check_stale(_ledger(tmp_path, live), fake) == {"999-fake": "fresh"}
    with pytest.raises(evidence.StaleEvidenceError, match="999-fake") as err:
        evidence.check_stale(_ledger(tmp_path, {"value": live["value"] * (1 + 1e-4)}), fake)
    assert "value live" in str(err.value)
    with pytest.raises(evidence.StaleEvidenceError, match="ran size 20"):
        evidence.check_stale(_ledger(tmp_path, live, size=20), fake)
    status = evidence.check_stale(_ledger(tmp_path, live, with_evidence=False), fake)
    assert status["999-fake"].startswith("skipped")
    assert "999-fake: skipped" in capsys.readouterr().out


def test_check_stale_compares_float32_training_only_on_the_cpu_that_stored_it(monkeypatch, tmp_path):
    two = dataclasses.replace(
        FAKE, measure=lambda size, seed: {"value": 1.0 / size, "trained": 0.5}, host_dependent=("trained",)
    )
    for mod in (ladders, runner, store):
        monkeypatch.setattr(mod, "LADDERS", (two,))
    root = tmp_path / "evidence"
    runner.run(max_rung=0, device="cpu", seeds=2, root=root)
    moved = {"value": 0.1, "trained": 0.6}  # another CPU ended training elsewhere
    with pytest.raises(evidence.StaleEvidenceError, match="trained live 0.6"):
        evidence.check_stale(_ledger(tmp_path, moved), root)  # same CPU: compared
    here = store.host()
    monkeypatch.setattr(store, "host", lambda: here | {"cpu": "Other CPU", "cpu_isa": "avx avx2"})
    status = evidence.check_stale(_ledger(tmp_path, moved), root)["999-fake"]
    assert (
        status.startswith("fresh (value); trained not compared") and "Other CPU (AVX2, XLA threads" in status
    )
    monkeypatch.setattr(store, "host", lambda: here | {"xla_threads": "7"})  # same CPU, other threads
    assert "trained not compared" in evidence.check_stale(_ledger(tmp_path, moved), root)["999-fake"]
    with pytest.raises(evidence.StaleEvidenceError, match="value live"):  # the rest still is
        evidence.check_stale(_ledger(tmp_path, moved | {"value": 0.2}), root)
    doc = json.loads((root / "999-fake.json").read_text())
    del doc["runs"][0]["cpu_isa"]  # a record from before the instruction sets were recorded
    (root / "999-fake.json").write_text(json.dumps(doc))
    monkeypatch.setattr(store, "host", lambda: here | {"cpu_isa": "avx"})
    assert "instruction sets not recorded" in evidence.check_stale(_ledger(tmp_path, moved), root)["999-fake"]


def test_host_dependent_keys_are_stored_keys():
    for ladder in evidence.LADDERS:
        doc = store.read(ladder.id)
        if doc["rungs"] and doc["rungs"][0]["records"]:
            assert set(ladder.host_dependent) <= set(doc["rungs"][0]["records"]["0"]["values"]), ladder.id


# --- measures ------------------------------------------------------------------------------------


def test_block_size_matches_brute_force():
    for n in range(1, 400, 7):
        for b in (1, 16, 50, 300):
            blocks = -(-n // b)
            assert measures.block_size(n, b) == min(s for s in range(1, n + 1) if s * blocks >= n)


def test_regression_rate_is_the_least_squares_slope():
    # diffs = c * w^-1/2 exactly: slope -1/2; then a noisy set against the normal equations
    exact = measures.regression_rate(
        {32: 3.0 / np.sqrt(32), 128: 3.0 / np.sqrt(128), 512: 3.0 / np.sqrt(512)}
    )
    assert exact["slope"] == pytest.approx(-0.5, abs=1e-12)
    assert exact["pred_diff_128"] == pytest.approx(3.0 / np.sqrt(128), rel=1e-15)
    w, d = np.array([10.0, 40.0, 90.0]), np.array([0.3, 0.2, 0.04])
    X = np.column_stack([np.ones(3), np.log(w)])
    beta = np.linalg.solve(X.T @ X, X.T @ np.log(d))
    out = measures.regression_rate(dict(zip(w.astype(int), d)))
    assert out["slope"] == pytest.approx(beta[1], rel=1e-12)
    with pytest.raises(ValueError, match="two widths"):
        measures.regression_rate({32: 0.1})


def test_t7_measure_is_chapter_13s_seed(monkeypatch):
    # the ladder's measure is chapter 13's call with the ci profile's settings (the lr of the
    # real-data loop, not the digits network's): the keywords it passes to tables.table7_seed
    # are the chapter's, and it stores t7_values of the result.  (That the two give the same
    # numbers at the ci size is what CI's stale-store check compares: chapter 13's live seed 0
    # against the stored rung 0.)
    from ntkbook import config
    from ntkbook.tasks import tables

    S = config.sizes("ch13", "ci")
    chapter = dict(
        p=S["rbo_p"],
        arch=S["real_arch"],
        width=S["width"],
        epochs=S["epochs"],
        lr=S["real_lr"],
        batch_size=S["batch_size"],
        checkpoints=tuple(S["checkpoints"]),
    )
    seen = []
    result = {k: 0.1 * i for i, k in enumerate(measures.T7_KEYS)} | {"ranking": [3, 1, 2]}

    def spy(name, n, seed, *, net, **kw):
        seen.append((name, n, seed, kw))
        # the network it reuses is the chapter's architecture at the chapter's width
        assert S["real_arch"] == "2-L" and net.layers == archs.get("2-L", width=S["width"]).layers
        return result

    monkeypatch.setattr(tables, "table7_seed", spy)
    assert measures.t7_rankings("digits", 120, 3) == measures.t7_values(result)
    assert seen == [("digits", 120, 3, chapter)]
    with pytest.raises(ValueError, match="table7_seed"):
        measures.t7_values({"intra": 1.0})


def test_t7_measure_ridges_only_a_singular_draw(monkeypatch):
    # the chapter's ridge (0) first; the T7_RIDGE retry only when Z's solve reports a singular H
    from ntkbook.tasks import tables

    calls = []

    def fake(name, n, seed, *, reg=0.0, **kw):
        calls.append(reg)
        if n == 2 and reg == 0.0:
            raise ValueError("K + ridge I is too ill-conditioned to solve: condition number inf")
        if n == 3:
            raise ValueError("checkpoints must be epochs in [1, 20]")
        return dict.fromkeys(measures.T7_KEYS, 0.5)

    monkeypatch.setattr(tables, "table7_seed", fake)
    assert measures.t7_rankings("mnist", 1, 0)["intra"] == 0.5 and calls == [0.0]
    calls.clear()
    assert measures.t7_rankings("mnist", 2, 0)["inter"] == 0.5 and calls == [0.0, measures.T7_RIDGE]
    with pytest.raises(ValueError, match="checkpoints"):  # any other error is not retried
        measures.t7_rankings("mnist", 3, 0)


def test_t8_measure_is_chapter_14s_printed_reading():
    # the chapter's cell: refurbish_labels as printed, L = #noisy, noise seed = image seed + 1
    from ntkbook import data
    from ntkbook.tasks import refurbish_labels, refurbish_scores, refurbish_setup, tables

    ds = data.load("digits", n=200, seed=4)
    H = tables.kernel_gram("2-L", data.normalize(ds.x).astype(np.float64))
    setup = refurbish_setup(H)
    expected = {}
    for rate in (0.1, 0.3):
        y_noisy, flipped = data.add_label_noise(ds.y, rate, 10, seed=5)
        res = refurbish_labels(
            H, y_noisy, setup=setup, steps=len(flipped), stop="never", score_against="initial"
        )
        expected[f"corrected_{round(100 * rate)}"] = (
            100 * refurbish_scores(ds.y, y_noisy, res.labels)["corrected"]
        )
    assert measures.t8_refurbish("digits", 200, 4, rates=(0.1, 0.3)) == pytest.approx(expected, abs=0)


def test_ladders_start_at_the_chapters_ci_sizes():
    # rung 0 is the chapter's ci computation: the sizes come from the chapters' own profile
    from ntkbook import config

    assert evidence.get("000-T8-mnist").cpu_sizes[0] == config.sizes("ch14", "ci")["real_n"]
    for d in ("mnist", "fashion_mnist"):
        assert evidence.get(f"000-T7-{d}").cpu_sizes[0] == config.sizes("ch13", "ci")["real_n"]
    assert evidence.get("002-regression-rate").cpu_sizes[0] == max(config.sizes("ch07", "ci")["widths"])
    assert evidence.get("001-pntk-vs-sgd").cpu_sizes[0] == config.sizes("ch07", "ci")["sgd_epochs"]
    assert evidence.get("003-best-cnn-vs-best-cntk").cpu_sizes[0] == config.sizes("ch04", "ci")["n_1d"]
    ch11 = config.sizes("ch11", "ci")
    assert evidence.get("000-T5-ranking").cpu_sizes[0] == ch11["n"]
    for d in ("mnist", "fashion_mnist", "cifar10"):
        assert evidence.get(f"000-T3-{d}").cpu_sizes[0] == ch11["n_real"]
    for d in ("mnist", "fashion_mnist"):
        assert evidence.get(f"000-T4-{d}").cpu_sizes[0] == ch11["n_real"]


def test_pntk_sgd_measure_is_chapter_7s_first_seed(monkeypatch):
    # the pNTK side is chapter 7's full_split_seed of the widest MLP with its ci settings,
    # computed once per seed for every rung; the SGD side gets the rung's epochs and the
    # chapter's grid; the stored numbers are pntk_sgd_values of the two correctness vectors
    from ntkbook import config, pntk

    S = config.sizes("ch07", "ci")
    seen = {"pntk": [], "sgd": []}
    m = S["full_n_test"]
    p_ok, s_ok = np.arange(m) % 4 != 0, np.arange(m) % 5 != 0
    acc_p, acc_s = 1 - len(range(0, m, 4)) / m, 1 - len(range(0, m, 5)) / m  # counted by hand

    def fake_split(x, y, xt, yt, widths, seed, **kw):
        seen["pntk"].append((x.shape, xt.shape, list(widths), seed, kw))
        return pntk.FullSplit(correct={(widths[0], "trained"): p_ok}, network_acc={})

    def fake_sgd(net, x, y, xt, yt, seed, *, num_classes, **kw):
        seen["sgd"].append((net.layers, seed, num_classes, kw))
        return s_ok, dynamics.LrChoice(lr=kw["lrs"][1], val_acc={}, n_val=1)

    from ntkbook import dynamics

    monkeypatch.setattr(pntk, "full_split_seed", fake_split)
    monkeypatch.setattr(pntk, "sgd_baseline", fake_sgd)
    measures._pntk_side.cache_clear()
    try:
        first = measures.pntk_vs_sgd(10, 3)
        assert measures.pntk_vs_sgd(80, 3) == first  # the fakes ignore epochs
    finally:
        measures._pntk_side.cache_clear()
    assert first == pytest.approx(
        {"sgd_minus_pntk": acc_s - acc_p, "acc_sgd": acc_s, "acc_pntk": acc_p, "lr": S["sgd_lrs"][1]},
        abs=1e-12,
    )
    w = max(S["full_widths"])
    assert seen["pntk"] == [
        (
            (S["full_n"], 64),
            (m, 64),
            [w],
            3,
            dict(
                depth=S["depth"], steps=S["full_steps"], lr_scale=S["lr_scale"], reg=S["reg"], infinite=False
            ),
        )
    ]
    grid = dict(
        optimizer="momentum", lrs=tuple(S["sgd_lrs"]), val_frac=S["sgd_val_frac"], batch_size=S["sgd_batch"]
    )
    layers = archs.mlp(S["depth"], w, 10).layers
    assert seen["sgd"] == [(layers, 3, 10, grid | {"epochs": 10}), (layers, 3, 10, grid | {"epochs": 80})]
    with pytest.raises(ValueError, match="1-D of one length"):
        measures.pntk_sgd_values(p_ok, s_ok[:-1], 1.0)


def test_registry_ladders_meet_the_brief():
    assert len(evidence.LADDERS) >= 8
    for x in evidence.LADDERS:
        cpu = x.sizes("cpu")
        assert len(cpu) >= 3 and list(cpu) == sorted(set(cpu)), x.id
        assert x.gpu_sizes[0] == cpu[0], x.id  # both ladders start at the ci size
        assert x.rung0_call and x.targets, x.id
        assert cpu[-1] >= 8 * cpu[0], x.id


# --- the paper profile's wrapper -----------------------------------------------------------------


def test_paper_size_growth_by_hand():
    from ntkbook.evidence import paper

    # ch11: n 150 -> 5000, n_real 150 -> 8000, protocol_n 1000 -> 8000: the largest is 8000/150
    assert paper.size_growth("ch11") == pytest.approx(8000 / 150)
    # ch03: reg_ns' largest 1024 -> 8000 beats n 64 -> 500
    assert paper.size_growth("ch03") == pytest.approx(8000 / 1024)


def test_paper_interrupt_ends_the_child_group_with_one_line(monkeypatch, capsys):
    import subprocess

    from ntkbook.evidence import paper

    real_popen = subprocess.Popen
    started = []

    def fake_popen(cmd, env=None, start_new_session=False):
        proc = real_popen(["sleep", "60"], start_new_session=start_new_session)
        started.append(proc)
        real_wait = proc.wait
        calls = []

        def wait(timeout=None):
            calls.append(timeout)
            if len(calls) == 1:
                raise KeyboardInterrupt
            return real_wait(timeout=timeout)

        proc.wait = wait
        return proc

    monkeypatch.setattr(paper.subprocess, "Popen", fake_popen)
    assert paper.main([]) == 130
    assert started[0].poll() is not None  # the child was ended, not left behind
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("paper: interrupted")


def test_best_cnn_measure_is_chapter_4s_mnist1d(monkeypatch):
    # chapter 4's MNIST-1D calls with its ci settings: the table (GD networks and the CNTK of
    # every depth) and the two SGD networks; the stored numbers are best_cnn_values of them
    import pandas as pd

    from ntkbook import cnn_vs_cntk, config

    S = config.sizes("ch04", "ci")
    table = pd.DataFrame(
        {"CNN-V": [0.50, 0.55], "CNN-GAP": [0.40, 0.45], "CNTK-V": [0.60, 0.62], "CNTK-GAP": [0.70, 0.65]},
        index=pd.Index(S["depths"], name="depth"),
    )
    seen = []

    def fake_table(ds, ndim, depths, **kw):
        seen.append(("table", ds.x.shape, ds.x_test.shape, ndim, list(depths), kw))
        return table

    def fake_sgd(ds, depth, pool, ndim, **kw):
        seen.append(("sgd", ds.x.shape, depth, pool, ndim, kw))
        return {"flatten": 0.66, "gap": 0.74}[pool], 0.1

    def fake_load(name, *, n, seed, n_test):  # MNIST-1D's shapes (the core has no mnist1d)
        seen.append(("load", name, n, seed, n_test))
        return types.SimpleNamespace(x=np.zeros((n, 40, 1)), x_test=np.zeros((n_test, 40, 1)))

    monkeypatch.setattr(cnn_vs_cntk, "cnn_table", fake_table)
    monkeypatch.setattr(cnn_vs_cntk, "cnn_sgd_accuracy", fake_sgd)
    monkeypatch.setattr(measures.data, "load", fake_load)
    # the best network is the SGD GAP one (0.74), the best kernel CNTK-GAP at the first depth (0.70)
    assert measures.best_cnn_vs_cntk(S["n_1d"], 2) == pytest.approx(
        {"gap": 0.74 - 0.70, "best_net": 0.74, "best_kernel": 0.70}, abs=1e-15
    )
    n = S["n_1d"]
    sgd_kw = dict(
        channels=S["sgd_channels"], lr=S["sgd_lr"], epochs=S["sgd_epochs"], batch_size=S["sgd_batch"], seed=2
    )
    assert seen == [
        ("load", "mnist1d", n, 2, n),
        (
            "table",
            (n, 40, 1),
            (n, 40, 1),
            1,
            S["depths"],
            dict(channels=S["channels"], steps=S["steps"], batch_size=S["gram_batch"], seed=2),
        ),
        ("sgd", (n, 40, 1), S["sgd_depth"], "flatten", 1, sgd_kw),
        ("sgd", (n, 40, 1), S["sgd_depth"], "gap", 1, sgd_kw),
    ]
    seen.clear()
    measures.best_cnn_vs_cntk(1200, 2)  # above the ci size: larger Gram blocks, test split capped
    assert seen[0] == ("load", "mnist1d", 1200, 2, measures.MNIST1D_TEST) and seen[1][5]["batch_size"] == 80


def test_rbo_chance_by_hand_for_two_items():
    # the two orders of two items: identical (RBO 1) and swapped; the extrapolated RBO of the
    # swapped pair is (1-p)/p * (p * 0 + p^2 * 1) + p^2 * 1 = p
    for p in (0.5, 0.9):
        assert measures.rbo_chance(2, p) == pytest.approx((1 + p) / 2, abs=1e-12)
    with pytest.raises(ValueError, match="k must be <= 8"):
        measures.rbo_chance(9, 0.9)


def test_t5_values_and_their_checks():
    assert measures.t5_values(["b", "a", "c"], ["a", "b", "c"], 2, 0.9) == pytest.approx(
        {
            # by hand: agreements A_d = 0, 1, 1 at depths 1-3; extrapolated RBO
            # (1 - p) / p * sum_d A_d p^d + A_3 p^3 = (0.81 + 0.729) / 9 + 0.729 = 0.9
            "rbo": 0.9,
            "top_pick": 0.0,
            "resolved": 2.0,
        }
    )
    with pytest.raises(ValueError, match="same architectures"):
        measures.t5_values(["a", "b"], ["a", "c"], 0, 0.9)


def test_t5_measure_is_chapter_11s_ranking(monkeypatch):
    # chapter 11's calls: the draw holds max(n, rank_n_train) signals, the kernels see the first
    # n, the networks train once per seed (shared by the rungs) on the chapter's settings
    import pandas as pd

    from ntkbook import config, gram, metrics, selection

    S = config.sizes("ch11", "ci")
    rng = np.random.default_rng(0)
    seen = {"load": [], "gram": [], "train": []}

    def fake_load(name, *, n, n_test, seed):
        seen["load"].append((name, n, n_test, seed))
        return types.SimpleNamespace(
            x=rng.standard_normal((n, 40, 1)),
            y=np.arange(n) % 10,
            x_test=rng.standard_normal((n_test, 40, 1)),
            y_test=np.arange(n_test) % 10,
            image_shape=(40, 1),
            num_classes=10,
        )

    def fake_gram(net, x, *, batch_size, progress):
        seen["gram"].append((x.shape, batch_size))
        return x.reshape(len(x), -1) @ x.reshape(len(x), -1).T + np.eye(len(x))

    def fake_train(nets, x, y, x_test, y_test, *, num_classes, seeds, **kw):
        seen["train"].append((x.shape, list(seeds), kw))
        return pd.DataFrame(
            [
                dict(arch=a, seed=s, train_acc=1.0, test_acc=0.9 - 0.1 * i + 0.01 * s)
                for i, a in enumerate(nets)
                for s in seeds
            ]
        )

    monkeypatch.setattr(measures.data, "load", fake_load)
    monkeypatch.setattr(gram, "gram", fake_gram)
    monkeypatch.setattr(selection, "trained_accuracies", fake_train)
    ranked = []
    real_rank = measures.tasks.rank_architectures

    def spy_rank(*a, **k):
        ranked.append(list(real_rank(*a, **k).index))
        return real_rank(*a, **k)

    monkeypatch.setattr(measures.tasks, "rank_architectures", spy_rank)
    measures._t5_truth.cache_clear()
    try:
        small = measures.t5_ranking(S["n"], 1)
        big = measures.t5_ranking(1200, 1)
    finally:
        measures._t5_truth.cache_clear()
    r = S["rank_seeds"]
    assert seen["train"] == [
        (
            (S["rank_n_train"], 40, 1),
            list(range(config.SEED + r, config.SEED + 2 * r)),  # seed 1's own block of inits
            dict(optimizer="adam", lr=S["rank_lr"], epochs=S["rank_epochs"], batch_size=S["rank_batch_size"]),
        )
    ]  # once for both rungs
    assert seen["load"][0] == (S["rank_dataset"], S["rank_n_train"], S["rank_n_test"], 1)
    assert seen["load"][-1] == (S["rank_dataset"], 1200, S["rank_n_test"], 1)
    n_blocks = selection.equal_blocks(S["n"], S["gram_batch"])
    assert seen["gram"][:4] == [((S["n"], 40, 1), n_blocks)] * 4
    assert seen["gram"][-1] == ((1200, 40, 1), selection.equal_blocks(1200, 200))
    # the fake trained order is the candidates' order, every pair resolved by the 0.1 gaps
    assert small["resolved"] == big["resolved"] == 3.0
    # each rung scores its own predicted order against that one trained order
    names = list(selection.rank_candidates((40, 1), 10, width=S["rank_width"], channels=S["rank_channels"]))
    for got, pred in zip((small, big), ranked):
        assert got["top_pick"] == float(pred[0] == names[0])
        assert got["rbo"] == pytest.approx(metrics.rbo(pred, names, p=S["rbo_p"]), abs=1e-12)
