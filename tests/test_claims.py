"""Tests of ntkbook.claims: verdicts, kinds, seed statistics, the ledger's file round trip and its HTML."""

from __future__ import annotations

import json

import pytest

from ntkbook import claims, config

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


@pytest.fixture
def ledger_dir(tmp_path, monkeypatch):
    """Every ledger in a test writes under a fresh temporary folder."""
    monkeypatch.setenv("NTKBOOK_CLAIMS_DIR", str(tmp_path))
    return tmp_path


def _fields(**over):
    base = dict(
        id="003-x",
        source_doc="003",
        kind="empirical",
        source="slide 1",
        claim="a claim",
        paper="0.5",
        ours="0.49",
        criterion="within 0.02",
        verdict="reproduced",
    )
    base.update(over)
    return base


def test_judge_all_some_none():
    # the three outcomes of the rule "all pass / some pass / none pass", mapping and sequence forms
    assert claims.judge({"a": True, "b": True}) == "reproduced"
    assert claims.judge([True, False, True]) == "partly"
    assert claims.judge([False]) == "not reproduced"
    with pytest.raises(ValueError, match="at least one"):
        claims.judge({})


def test_within_tolerances():
    assert claims.within(0.95, 0.96, abs_tol=0.02)
    assert not claims.within(0.90, 0.96, abs_tol=0.02)
    # rel_tol is relative to the paper's value: |1.09 - 1.0| = 0.09 <= 0.1 * 1.0
    assert claims.within(1.09, 1.0, rel_tol=0.1)
    assert not claims.within(1.11, 1.0, rel_tol=0.1)
    # either tolerance suffices
    assert claims.within(1.11, 1.0, rel_tol=0.1, abs_tol=0.2)
    assert not claims.within(float("nan"), 1.0, abs_tol=10.0)
    with pytest.raises(ValueError, match="rel_tol or abs_tol"):
        claims.within(1.0, 1.0)


def test_claim_validation():
    with pytest.raises(ValueError, match="source_doc must be one of"):
        claims.Claim(**_fields(source_doc="999"))
    with pytest.raises(ValueError, match="kind must be one of"):
        claims.Claim(**_fields(kind="theorem"))
    with pytest.raises(TypeError, match="kind"):  # kind is required, no default
        base = _fields()
        del base["kind"]
        claims.Claim(**base)
    with pytest.raises(ValueError, match="n_seeds must be"):
        claims.Claim(**_fields(n_seeds=-1))
    with pytest.raises(ValueError, match="verdict must be one of"):
        claims.Claim(**_fields(verdict="sort of"))
    with pytest.raises(ValueError, match="criterion must be a non-empty"):
        claims.Claim(**_fields(criterion="  "))
    with pytest.raises(ValueError, match="gives no reason"):
        claims.Claim(**_fields(verdict="not testable here"))


def test_ledger_round_trip(ledger_dir):
    led = claims.Ledger("ch98")
    led.record(**_fields())
    led.record(**_fields(id="004-y", source_doc="004", verdict="not testable here", why="no GPU"))
    led.record(**_fields(id="003-z", kind="identity", n_seeds=0))
    with pytest.raises(ValueError, match="recorded twice"):
        led.record(**_fields())
    back = claims.load(["ch98"])
    assert back == led.claims  # dataclass equality: every field survives JSON
    assert all(c.chapter == "ch98" for c in back)
    frame = claims.to_frame(back)
    assert list(frame["id"]) == ["003-x", "003-z", "004-y"]
    # the default count is of empirical claims only; the identity is counted apart
    counts = claims.counts(back)
    assert counts.to_dict() == {
        "reproduced": 1,
        "partly": 0,
        "inconclusive": 0,
        "not reproduced": 0,
        "not testable here": 1,
    }
    assert claims.counts(back, kind=None)["reproduced"] == 2
    by_kind = claims.counts_by_kind(back)
    assert by_kind.loc["identity", "reproduced"] == 1 and by_kind.loc["textual"].sum() == 0
    # re-opening the chapter's ledger discards the old rows (a re-run never mixes old and new)
    claims.Ledger("ch98")
    with pytest.raises(claims.MissingClaimsError, match="holds no claims"):
        claims.load(["ch98"])


def test_load_missing_and_stale(ledger_dir):
    claims.Ledger("ch97").record(**_fields())
    with pytest.raises(claims.MissingClaimsError, match="ch96: no records"):
        claims.load(["ch97", "ch96"])
    path = ledger_dir / "ch97.json"
    payload = json.loads(path.read_text())
    payload["seed"] = config.SEED + 1  # as if recorded in a run with another seed
    path.write_text(json.dumps(payload))
    with pytest.raises(claims.MissingClaimsError, match="ch97: recorded at"):
        claims.load(["ch97"])


def test_ledger_needs_chapter(ledger_dir):
    with pytest.raises(ValueError, match="chapter must be a non-empty"):
        claims.Ledger(" ")


def test_load_rejects_records_without_kind(ledger_dir):
    # a file written before claims had kinds is stale: the appendix must refuse it, by name
    claims.Ledger("ch95").record(**_fields())
    path = ledger_dir / "ch95.json"
    payload = json.loads(path.read_text())
    del payload["claims"][0]["kind"]
    path.write_text(json.dumps(payload))
    with pytest.raises(claims.MissingClaimsError, match="ch95: records do not match"):
        claims.load(["ch95"])


def test_interval_against_t_table():
    # reference: mean and sd by hand; t_{0.975}(4) = 2.7764451051977987 (printed t tables),
    # so the 95 % half-width is 2.776445 * sd / sqrt(5); agreement to rounding (1e-12)
    vals = [1.0, 2.0, 3.0, 4.0, 6.0]
    mean = 16.0 / 5
    sd = (sum((v - mean) ** 2 for v in vals) / 4) ** 0.5
    half = 2.7764451051977987 * sd / 5**0.5
    iv = claims.interval(vals)
    assert iv.n == 5 and abs(iv.mean - mean) < 1e-12 and abs(iv.sd - sd) < 1e-12
    assert abs(iv.lo - (mean - half)) < 1e-12 and abs(iv.hi - (mean + half)) < 1e-12
    # 90 %: t_{0.95}(4) = 2.1318468 (a 7-digit table value, so agreement to 1e-7 * sd)
    iv90 = claims.interval(vals, level=0.90)
    assert abs(iv90.hi - mean - 2.1318468 * sd / 5**0.5) < 1e-7
    assert "5 seeds" in iv.text() and "95 % CI" in iv.text()
    assert iv.text("+.2f").startswith("+3.20 (sd 1.92; 95 % CI [+0.81, +5.59]")  # no sign on the spread
    with pytest.raises(ValueError, match="at least 2"):
        claims.interval([1.0])
    with pytest.raises(ValueError, match="finite"):
        claims.interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="level must"):
        claims.interval([1.0, 2.0], level=1.5)


def test_decide_straddle_and_ties():
    clear = claims.interval([0.03, 0.04, 0.05, 0.04, 0.035])
    assert claims.decide(clear, 0.0) == "reproduced"
    assert claims.decide(clear, 0.0, side="below") == "not reproduced"
    noisy = claims.interval([0.01, -0.01, 0.02, -0.005, 0.0])
    assert claims.decide(noisy, 0.0) == "inconclusive"
    assert claims.decide(noisy, 0.0, side="below") == "inconclusive"
    # every seed ties: the interval is the point 0, and a tie is not an improvement
    tie = claims.interval([0.0, 0.0, 0.0])
    assert (tie.lo, tie.hi) == (0.0, 0.0)
    assert claims.decide(tie, 0.0) == "not reproduced"
    # a threshold other than 0: a slope claimed below -0.25
    slope = claims.interval([-0.5, -0.45, -0.55, -0.5])
    assert claims.decide(slope, -0.25, side="below") == "reproduced"
    with pytest.raises(ValueError, match="side must"):
        claims.decide(slope, 0.0, side="left")


def test_count_strict_ties_are_not_improvements():
    assert claims.count_strict([0.9, 0.8, 0.7], [0.9, 0.7, 0.8]) == 1
    assert claims.count_strict([0.9, 0.8, 0.7], [0.9, 0.7, 0.8], higher_is_better=False) == 1
    with pytest.raises(ValueError, match="same shape"):
        claims.count_strict([1.0], [1.0, 2.0])


def test_render_full_text_badges_and_escaping():
    long_claim = "word " * 80 + "<end & tail>"
    cs = [
        claims.Claim(**_fields(claim=long_claim, chapter="ch01", n_seeds=5)),
        claims.Claim(
            **_fields(id="004-q", source_doc="004", kind="textual", verdict="inconclusive", chapter="ch02")
        ),
    ]
    html = claims.render(cs, summary=True, links={"ch01": "01_lazy_regime.html"})
    # the whole claim text, escaped, never cut with "..."
    assert ("word " * 80 + "&lt;end &amp; tail&gt;") in html and "..." not in html
    # one badge per claim, word and colour
    assert html.count('class="ntk-verdict"') == 2
    assert f"background:{claims.BADGE_COLOURS['inconclusive']}" in html and ">inconclusive</span>" in html
    # the source document by name, the seed count, the link to the chapter's entry
    assert claims.SOURCES["004"] in html and "[5 seeds]" in html
    assert "01_lazy_regime.html#claim-003-x" in html and "id='claim-004-q'" in html
    # the summary counts the kinds apart
    assert "<strong>empirical</strong> (1): 1 reproduced" in html
    assert "<strong>textual</strong> (1): 1 inconclusive" in html
    with pytest.raises(ValueError, match="verdict must be one of"):
        claims.badge("maybe")


def test_accuracy_gap_interval_against_hand_computation():
    # reference by hand: se = sqrt((0.9*0.1 + 0.88*0.12)/450), z_{0.975} = 1.959963984540054
    se = ((0.9 * 0.1 + 0.88 * 0.12) / 450) ** 0.5
    iv = claims.accuracy_gap_interval(0.9, 0.88, 450)
    assert abs(iv.mean - 0.02) < 1e-12
    assert abs(iv.hi - (0.02 + 1.959963984540054 * se)) < 1e-12
    assert claims.decide(iv, 0.0) == "inconclusive"  # 9 of 450 images: within noise
    assert claims.decide(claims.accuracy_gap_interval(0.95, 0.80, 450), 0.0) == "reproduced"
    assert "450 test points (unpaired)" in iv.text()
    with pytest.raises(ValueError, match="must lie in"):
        claims.accuracy_gap_interval(1.2, 0.5, 10)
    with pytest.raises(ValueError, match="n must be"):
        claims.accuracy_gap_interval(0.5, 0.5, 1)


def test_paired_interval_over_test_images():
    # 3 of 450 images better, none worse: mean 3/450, and the t-interval includes 0
    d = [1] * 3 + [0] * 447
    iv = claims.interval(d, over="test images")
    assert abs(iv.mean - 3 / 450) < 1e-15 and iv.lo < 0 < iv.hi
    assert claims.decide(iv, 0.0) == "inconclusive" and "450 test images" in iv.text()


def test_combine():
    assert claims.combine(["reproduced", "reproduced"]) == "reproduced"
    assert claims.combine(["reproduced", "inconclusive"]) == "partly"
    assert claims.combine(["reproduced", "not reproduced"]) == "partly"
    assert claims.combine(["inconclusive", "not reproduced"]) == "inconclusive"
    assert claims.combine([claims.check(False)]) == "not reproduced"
    with pytest.raises(ValueError, match="non-empty"):
        claims.combine(["partly"])


def test_summary_text_lists_every_verdict_with_ids():
    cs = [
        claims.Claim(**_fields(id="003-a")),
        claims.Claim(**_fields(id="003-b", verdict="inconclusive")),
        claims.Claim(**_fields(id="003-c", verdict="not reproduced")),
        claims.Claim(**_fields(id="003-d", kind="identity")),
    ]
    assert claims.summary_text(cs) == (
        "Of 3 empirical claims, 1 reproduced (003-a), 1 inconclusive (003-b) and 1 not reproduced (003-c)."
    )
    assert claims.summary_text(cs, kind="identity") == "Of 1 identity claims, 1 reproduced (003-d)."
    assert claims.summary_text(cs, kind="textual") == "This chapter records no textual claims."


def test_ledger_chapters_finds_the_notebooks_that_open_a_ledger(tmp_path):
    def notebook(name, *code):
        cells = [{"cell_type": "markdown", "source": ['claims.Ledger("ch99") in prose only']}]
        cells += [{"cell_type": "code", "source": [line]} for line in code]
        (tmp_path / name).write_text(json.dumps({"cells": cells}))

    notebook("02_b.ipynb", "from ntkbook import claims\n", "ledger = claims.Ledger('ch02')\n")
    notebook("01_a.ipynb", 'ledger = claims.Ledger("ch01")   # comment\n')
    notebook("A3_ledger.ipynb", "records = claims.load(chapters)\n")  # reads, records none
    notebook("A4_more.ipynb", 'claims.Ledger( "a4" )\n')
    found = claims.ledger_chapters(tmp_path)
    assert found == {
        "a4": tmp_path / "A4_more.ipynb",
        "ch01": tmp_path / "01_a.ipynb",
        "ch02": tmp_path / "02_b.ipynb",
    }
    notebook("03_c.ipynb", 'claims.Ledger("ch01")\n')
    with pytest.raises(ValueError, match="'ch01' opens a ledger in both 01_a.ipynb and 03_c.ipynb"):
        claims.ledger_chapters(tmp_path)
    with pytest.raises(ValueError, match="holds no notebook"):
        claims.ledger_chapters(tmp_path / "missing")


def test_ledger_chapters_of_the_book_are_its_numbered_chapters():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "notebooks"
    found = claims.ledger_chapters(folder)
    numbered = {f"ch{p.name[:2]}" for p in folder.glob("[0-9][0-9]_*.ipynb") if "Ledger(" in p.read_text()}
    assert set(found) >= numbered and len(numbered) >= 14
