"""The claims ledger: each chapter records the seeds' claims it tests, with a computed verdict.

A chapter opens a :class:`Ledger` for its id, records one :class:`Claim` per published
statement it checks (a table cell, a figure's trend, an equation, a headline sentence), and
the verdict of each claim is decided by a stated criterion *in code* (:func:`judge`), never
typed. The records are written to one JSON file per chapter under :func:`ledger_dir`; the
appendix page reads them all back with :func:`load` and fails loudly when a chapter's
records are missing or come from a different profile or seed, so it never shows stale rows.

Examples
--------
>>> from ntkbook import claims
>>> v = claims.judge({"ranking agrees": True, "within 0.05 of the paper": False})
>>> v
'partly'
>>> claims.within(0.95, 0.96, abs_tol=0.02)
True
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import config

VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not reproduced", "not testable here")
"""The allowed verdicts, strongest first."""

SEEDS: Mapping[str, str] = {
    "000": "DeOliveira, Gerych, Rundensteiner: infinite-width NTKs for characterizing training",
    "001": "Sutherland: a defense of (empirical) neural tangent kernels (talk)",
    "002": "Mohamadi, Bae, Sutherland: a fast approximation to the empirical NTK (ICML 2023)",
    "003": "Petiushko: neural tangent kernel (lecture slides, 2023)",
    "004": "Hu and Du: ultra-wide deep nets and neural tangent kernel (blog post, 2019)",
}
"""The five source documents, keyed by the number their file name starts with."""


class MissingClaimsError(RuntimeError):
    """A chapter's ledger records are missing or stale (run that chapter first)."""


@dataclass(frozen=True)
class Claim:
    """One published claim checked by one chapter.

    Attributes
    ----------
    id
        Short unique id, e.g. ``"000-T3-mnist-2L"`` (seed, source, detail).
    seed
        The source document's number, a key of :data:`SEEDS`.
    source
        Where in the seed: ``"Table 3"``, ``"eq. 4"``, ``"Fig. 2"``, ``"slide 14"``, ...
    claim
        What the seed states, in our own words.
    paper
        The seed's value, formatted from the chapter's ``PAPER_*`` data (``""`` if qualitative).
    ours
        Our measured value, formatted from the computation.
    criterion
        The rule that turns ``ours`` into the verdict, stated so a reader can re-apply it.
    verdict
        One of :data:`VERDICTS`, computed by the chapter (see :func:`judge`).
    chapter
        The recording chapter's id (``"ch11"``), filled in by :class:`Ledger`.
    why
        Required when the verdict is ``"not testable here"``; optional note otherwise.
    """

    id: str
    seed: str
    source: str
    claim: str
    paper: str
    ours: str
    criterion: str
    verdict: str
    chapter: str = ""
    why: str = ""

    def __post_init__(self) -> None:
        if self.seed not in SEEDS:
            raise ValueError(f"seed must be one of {sorted(SEEDS)}; got {self.seed!r}.")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}.")
        for name in ("id", "source", "claim", "criterion"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"{name} must be a non-empty string (claim {self.id!r}).")
        if self.verdict == "not testable here" and not self.why.strip():
            raise ValueError(f"claim {self.id!r} is 'not testable here' but gives no reason in why=.")


def judge(checks: Mapping[str, bool] | Sequence[bool]) -> str:
    """Verdict from named pass/fail checks: all pass → reproduced, some → partly, none → not.

    Parameters
    ----------
    checks
        Either a mapping ``{description: passed}`` or a sequence of booleans; at least one.
    """
    values = list(checks.values()) if isinstance(checks, Mapping) else list(checks)
    if not values:
        raise ValueError("checks must hold at least one boolean.")
    flags = [bool(v) for v in values]
    if all(flags):
        return "reproduced"
    return "partly" if any(flags) else "not reproduced"


def within(ours: float, paper: float, *, rel_tol: float | None = None,
           abs_tol: float | None = None) -> bool:
    """``True`` when ``|ours - paper|`` is within ``abs_tol`` or ``rel_tol * |paper|``.

    At least one tolerance must be given; a NaN on either side is never within.
    """
    if rel_tol is None and abs_tol is None:
        raise ValueError("give rel_tol or abs_tol (or both).")
    ours, paper = float(ours), float(paper)
    if ours != ours or paper != paper:
        return False
    gap = abs(ours - paper)
    ok_abs = abs_tol is not None and gap <= abs_tol
    ok_rel = rel_tol is not None and gap <= rel_tol * abs(paper)
    return bool(ok_abs or ok_rel)


def ledger_dir() -> Path:
    """Folder holding one ``<chapter>.json`` per chapter.

    ``NTKBOOK_CLAIMS_DIR`` if set, else ``build/claims`` in the source checkout (the folder
    holding ``pyproject.toml`` above this package), else ``~/.cache/ntkbook/claims``.
    """
    env = os.environ.get("NTKBOOK_CLAIMS_DIR")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file():
        return repo / "build" / "claims"
    return Path.home() / ".cache" / "ntkbook" / "claims"


@dataclass
class Ledger:
    """The claims one chapter records; every :meth:`record` rewrites the chapter's file.

    Opening a ledger for a chapter discards that chapter's earlier records, so a re-run never
    mixes old and new rows.

    Parameters
    ----------
    chapter
        The chapter id used by :func:`ntkbook.config.sizes` (``"ch11"``).
    """

    chapter: str
    claims: list[Claim] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.chapter or not str(self.chapter).strip():
            raise ValueError("chapter must be a non-empty chapter id such as 'ch11'.")
        self._write()

    @property
    def path(self) -> Path:
        """The JSON file this ledger writes."""
        return ledger_dir() / f"{self.chapter}.json"

    def record(self, **fields) -> Claim:
        """Record one claim (keyword arguments of :class:`Claim`, without ``chapter``)."""
        claim = Claim(chapter=self.chapter, **fields)
        if any(c.id == claim.id for c in self.claims):
            raise ValueError(f"claim id {claim.id!r} is recorded twice in {self.chapter}.")
        self.claims.append(claim)
        self._write()
        return claim

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"chapter": self.chapter, "scale": config.scale(), "seed": config.SEED,
                   "claims": [asdict(c) for c in self.claims]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(self.path)

    def table(self):
        """This chapter's claims as a pandas DataFrame (for the chapter's closing table)."""
        return to_frame(self.claims)


def load(chapters: Iterable[str]) -> list[Claim]:
    """Read back every listed chapter's claims; raise if any is missing, empty or stale.

    Parameters
    ----------
    chapters
        The chapter ids whose records must exist (the appendix passes every chapter that
        records claims).

    Raises
    ------
    MissingClaimsError
        A chapter has no file, no claims, or was recorded under another scale or seed than
        the current :mod:`ntkbook.config`.
    """
    out: list[Claim] = []
    problems: list[str] = []
    for chapter in chapters:
        path = ledger_dir() / f"{chapter}.json"
        if not path.is_file():
            problems.append(f"{chapter}: no records at {path}")
            continue
        payload = json.loads(path.read_text())
        if payload.get("scale") != config.scale() or payload.get("seed") != config.SEED:
            problems.append(f"{chapter}: recorded at scale={payload.get('scale')!r}, "
                            f"seed={payload.get('seed')!r}; now scale={config.scale()!r}, "
                            f"seed={config.SEED!r}")
            continue
        if not payload.get("claims"):
            problems.append(f"{chapter}: the file holds no claims")
            continue
        out.extend(Claim(**c) for c in payload["claims"])
    if problems:
        raise MissingClaimsError("the claims ledger is incomplete; execute these chapters first "
                                 "(make test or make book runs them all):\n  " + "\n  ".join(problems))
    return out


def to_frame(claims: Iterable[Claim]):
    """Claims as a DataFrame with one row per claim, ordered by seed, then chapter, then id."""
    import pandas as pd

    cols = ["seed", "source", "id", "claim", "paper", "ours", "criterion", "verdict", "why",
            "chapter"]
    frame = pd.DataFrame([asdict(c) for c in claims], columns=cols)
    return frame.sort_values(["seed", "chapter", "id"], kind="stable").reset_index(drop=True)


def counts(claims: Iterable[Claim]):
    """Number of claims per verdict (every verdict listed, zeros included), as a Series."""
    import pandas as pd

    verdicts = [c.verdict for c in claims]
    return pd.Series({v: verdicts.count(v) for v in VERDICTS}, name="claims")
