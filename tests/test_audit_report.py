"""The audit report explains itself (issue 26 d4) and its tools sit in one table (issue 27).

Checked against independent computations: the kernel's leave-one-out class by refitting
without each sample (explicit solves), the flag threshold by sorting, ties on two identical
kernels; the output folder as a user opens it (index.html, file names in every per-sample
table, the subset of ``--n``); a new tool registered by one entry reaches every output.
Runs in .venv-core too (current JAX, no neural-tangents, no TensorFlow).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntkbook import __version__, archs, audit, gram
from ntkbook.audit import tools

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parents[1]


def blobs(n_per: int = 20, k: int = 3, seed: int = 0, sep: float = 5.0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(n_per, 6)) + sep * np.eye(6)[c] for c in range(k)])
    return x, np.repeat(np.arange(k), n_per)


def unit_gram(x, name="2-L"):
    return gram.gram(archs.get(name), x / np.linalg.norm(x, axis=1, keepdims=True), progress=False)


# --------------------------------------------------------------------------- the flag rule


def test_kernel_labels_are_the_leave_one_out_refits():
    x, y = blobs(12)
    y[[0, 12]] = [1, 2]
    H = unit_gram(x)
    got = tools.kernel_consistent_labels(H, y, 3)
    Y = np.eye(3)[y]
    want = []
    for i in range(len(y)):  # refit without sample i, predict it
        keep = np.arange(len(y)) != i
        alpha = np.linalg.solve(H[np.ix_(keep, keep)], Y[keep])
        want.append(int(np.argmax(H[i, keep] @ alpha)))
    np.testing.assert_array_equal(got, want)
    # the planted labels are predicted as their true classes
    assert got[0] == 0 and got[12] == 1


def test_flags_few_on_clean_labels_and_the_planted_ones_when_planted():
    x, y = blobs(40, sep=6.0)
    clean = audit.audit(x, y, compare=(), shuffles=3, folds=2, progress=False)
    f = clean.results["flags"]
    # the threshold is the null's 99 % quantile, by sorting (the higher order statistic)
    null = np.sort(f["null"])
    assert f["threshold"] == null[int(np.ceil(0.99 * (len(null) - 1)))]
    np.testing.assert_array_equal(np.sort(clean.flagged), np.flatnonzero(clean.cg_scores > f["threshold"]))
    assert len(clean.flagged) <= 3  # 120 clean samples: few flags
    noisy_y = y.copy()
    planted = np.array([3, 50, 97, 110])
    noisy_y[planted] = (y[planted] + 1) % 3
    noisy = audit.audit(x, noisy_y, compare=(), shuffles=3, folds=2, progress=False)
    # the planted labels come first; the flips also raise a few neighbours' scores
    assert sorted(noisy.flagged[:4]) == sorted(planted) and len(noisy.flagged) <= 10
    # the fixed share of earlier versions stays available
    frac = audit.audit(x, noisy_y, compare=(), shuffles=3, folds=2, flag_frac=0.1, progress=False)
    assert len(frac.flagged) == 12


# --------------------------------------------------------------------------- ties


def test_identical_kernels_tie_and_a_separating_kernel_does_not():
    y = np.repeat(np.arange(3), 15)
    Y = np.eye(3)[y]
    A = np.random.default_rng(1).normal(size=(45, 45))
    blind = A @ A.T / 45 + np.eye(45)  # knows nothing of the classes
    # the class indicators are its lowest-eigenvalue directions: the low components separate
    good = 2 * np.eye(45) - Y @ Y.T / 15 + 0.05 * (blind - np.eye(45))
    settings = dict(n_components=4, spread_draws=6, seed=0)
    same = tools.Context(grams={"a": blind, "b": blind.copy()}, arch="a", y=y, k=3, settings=settings)
    table = tools._run_ranking(same)
    assert table["tied_with_best"].all() and np.allclose(table["gap_sd"], 0)
    assert "A tie" in tools._ranking_verdict(type("R", (), {"ranking": table})())
    grams = {"blind": blind, "good": good}
    table = tools._run_ranking(tools.Context(grams=grams, arch="blind", y=y, k=3, settings=settings))
    assert list(table.index) == ["good", "blind"]
    assert list(table["tied_with_best"]) == [True, False]
    assert "separates the classes best" in tools._ranking_verdict(type("R", (), {"ranking": table})())
    # the spread and the paired SD of the gap, recomputed from the same halves
    halves = tools.ranking_spread(grams, y, 3, 4, 6, 0)
    assert table.loc["good", "ratio_sd"] == pytest.approx(np.std(halves[:, 1], ddof=1), rel=1e-12)
    gap_sd = np.std(halves[:, 1] - halves[:, 0], ddof=1)
    assert table.loc["blind", "gap_sd"] == pytest.approx(gap_sd, rel=1e-12)
    assert table.loc["blind", "gap_to_best"] > 2 * gap_sd


# --------------------------------------------------------------------------- the folder


@pytest.fixture(scope="module")
def image_report(tmp_path_factory):
    """A folder of 3 x 14 tiny images, one planted wrong, audited through the CLI with --n."""
    from PIL import Image

    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    protos = rng.integers(0, 256, size=(3, 6, 6))
    for c, name in enumerate(["cat", "dog", "owl"]):
        (root / "data" / name).mkdir(parents=True)
        for i in range(14):
            img = np.clip(protos[c] + rng.normal(0, 20, (6, 6)), 0, 255).astype(np.uint8)
            if (c, i) == (1, 3):  # a cat image in the dog folder
                img = np.clip(protos[0] + rng.normal(0, 20, (6, 6)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / "data" / name / f"img_{i:02d}.png")
    out = root / "report"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntkbook.audit",
            "data",
            "--out",
            str(out),
            "--compare",
            "10-L",
            "--arch",
            "2-L",
            "--n",
            "40",
            "--shuffles",
            "4",
            "--folds",
            "3",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    return root, out, res


def test_estimate_printed_before_the_gram_and_bar_moves(image_report):
    _, _, res = image_report
    err = res.stderr
    est = err.index("Gram matrix 2-L: 40 x 40")
    assert est < err.index("ntk Gram 40x40")  # the estimate precedes the bar
    assert "Gram matrix 10-L" in err and "block" in err


def test_every_per_sample_table_names_the_files_and_the_subset(image_report):
    root, out, _ = image_report
    files = sorted(f"{p.parent.name}/{p.name}" for p in (root / "data").glob("*/*.png"))
    samples = pd.read_csv(out / "samples.csv")
    assert len(samples) == 40 and samples["row"].is_monotonic_increasing
    # the subset: rows of the 42 files in reading order (class folder, then file name)
    assert list(samples["sample"]) == [files[r] for r in samples["row"]]
    assert list(samples["label"]) == [files[r].split("/")[0] for r in samples["row"]]
    for name in ("flags", "relabel"):
        t = pd.read_csv(out / f"{name}.csv")
        assert list(t.columns[:3]) == ["index", "row", "sample"] or (
            name == "relabel" and list(t.columns[:4]) == ["step", "index", "row", "sample"]
        )
        assert all(t["sample"] == [files[r] for r in t["row"]])
    flags = pd.read_csv(out / "flags.csv").sort_values("rank")
    if (samples["sample"] == "dog/img_03.png").any():  # the planted image, if drawn
        assert flags["sample"].iloc[0] == "dog/img_03.png"
        assert flags["kernel_label"].iloc[0] == "cat"


def test_index_page_explains_every_tool(image_report):
    _, out, res = image_report
    page = (out / "index.html").read_text()
    assert "index.html" in res.stdout
    for t in tools.TOOLS:
        assert t.title in page and f"Chapter {t.chapter[0]}" in page
        assert t.limits[:40] in page
    for f in out.iterdir():
        if f.name != "index.html":
            assert f"href='{f.name}'" in page, f.name
    assert "a random subset of 40 of the 42 samples" in page and "40 x 40, " in page
    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert summary["n"] == 40 and "quantile" in summary["flag_rule"]


# --------------------------------------------------------------------------- the registry


def test_a_new_tool_is_one_entry(tmp_path, monkeypatch):
    entry = tools.Tool(
        key="trace",
        title="Mean diagonal of H",
        chapter=(10, "10_gram_signal_cost", "Cost"),
        computes="trace(H)/N.",
        read="Scale of the kernel.",
        limits="None worth naming.",
        run=lambda ctx: float(np.trace(ctx.H) / len(ctx.y)),
        tables=lambda rep: {"trace": pd.DataFrame({"mean_diag": [rep.results["trace"]]})},
        summary=lambda rep: {"mean_diag": rep.results["trace"]},
        verdict=lambda rep: f"mean diagonal {rep.results['trace']:.6f}",
    )
    monkeypatch.setattr(tools, "TOOLS", [*tools.TOOLS, entry])
    x, y = blobs(6)
    rep = audit.audit(x, y, compare=(), shuffles=2, folds=2, progress=False)
    H = unit_gram(x)
    assert rep.results["trace"] == pytest.approx(np.trace(H) / len(y), rel=1e-12)
    rep.save(tmp_path / "r")
    assert pd.read_csv(tmp_path / "r" / "trace.csv")["mean_diag"][0] == pytest.approx(
        np.trace(H) / len(y), rel=1e-12
    )
    assert "mean_diag" in pd.read_csv(tmp_path / "r" / "summary.csv").columns
    page = (tmp_path / "r" / "index.html").read_text()
    assert "Mean diagonal of H" in page and "Chapter 10" in page and "trace.csv" in page


# --------------------------------------------------------------------------- package basics


def test_version_and_console_script():
    res = subprocess.run(
        [sys.executable, "-m", "ntkbook.audit", "--version"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and res.stdout.strip().endswith(f"(ntkbook {__version__})")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["ntkbook-audit"].split(":")
    assert (module, func) == ("ntkbook.audit.cli", "console_main")
    from ntkbook.audit import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["--help"], prog="ntkbook-audit")
    assert stop.value.code == 0


def test_base_dependencies_need_no_tensorflow():
    """``pip install -e .`` alone must run the audit on a current JAX: no TensorFlow, no
    neural-tangents and no pinned JAX among the base dependencies."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower() for d in deps}
    assert not names & {"tensorflow", "neural-tangents", "tf2jax", "keras"}
    assert not any(d.startswith(("jax==", "jaxlib==")) for d in deps)


@pytest.mark.parametrize("module", ["audit", "registry_data", "doctor", "bench"])
def test_every_cli_has_version_and_help(module):
    for flag in ("--version", "--help"):
        res = subprocess.run(
            [sys.executable, "-m", f"ntkbook.{module}", flag], capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, (module, flag, res.stderr[-1000:])
        if flag == "--version":
            assert f"ntkbook {__version__}" in res.stdout
        else:
            assert res.stdout.startswith("usage:") and "--version" in res.stdout
