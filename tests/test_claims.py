"""Tests of ntkbook.claims: verdicts from checks, tolerances, and the ledger's file round trip."""

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
    base = dict(id="003-x", seed="003", source="slide 1", claim="a claim", paper="0.5",
                ours="0.49", criterion="within 0.02", verdict="reproduced")
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
    with pytest.raises(ValueError, match="seed must be one of"):
        claims.Claim(**_fields(seed="999"))
    with pytest.raises(ValueError, match="verdict must be one of"):
        claims.Claim(**_fields(verdict="sort of"))
    with pytest.raises(ValueError, match="criterion must be a non-empty"):
        claims.Claim(**_fields(criterion="  "))
    with pytest.raises(ValueError, match="gives no reason"):
        claims.Claim(**_fields(verdict="not testable here"))


def test_ledger_round_trip(ledger_dir):
    led = claims.Ledger("ch98")
    led.record(**_fields())
    led.record(**_fields(id="004-y", seed="004", verdict="not testable here", why="no GPU"))
    with pytest.raises(ValueError, match="recorded twice"):
        led.record(**_fields())
    back = claims.load(["ch98"])
    assert back == led.claims                      # dataclass equality: every field survives JSON
    assert all(c.chapter == "ch98" for c in back)
    frame = claims.to_frame(back)
    assert list(frame["id"]) == ["003-x", "004-y"]
    counts = claims.counts(back)
    assert counts.to_dict() == {"reproduced": 1, "partly": 0, "not reproduced": 0,
                                "not testable here": 1}
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
    payload["seed"] = config.SEED + 1              # as if recorded in a run with another seed
    path.write_text(json.dumps(payload))
    with pytest.raises(claims.MissingClaimsError, match="ch97: recorded at"):
        claims.load(["ch97"])


def test_ledger_needs_chapter(ledger_dir):
    with pytest.raises(ValueError, match="chapter must be a non-empty"):
        claims.Ledger(" ")
