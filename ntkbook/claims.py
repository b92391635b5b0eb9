"""The claims ledger: each chapter records the source documents' claims it tests, with a verdict.

A chapter opens a :class:`Ledger` for its id, records one :class:`Claim` per published
statement it checks (a table cell, a figure's trend, an equation, a headline sentence), and
the verdict of each claim is decided by a stated criterion *in code* (:func:`judge`,
:func:`decide`), never typed. The records are written to one JSON file per chapter under
:func:`ledger_dir`; the appendix page reads them all back with :func:`load` and fails loudly
when a chapter's records are missing or come from a different profile or random seed, so it
never shows stale rows. :func:`render` turns records into the entries a reader sees at the end
of each chapter ("What this chapter checked") and in the appendix.

Kinds of claim
--------------
Every record has a ``kind`` (:data:`KINDS`), and verdict counts keep them apart:

* ``empirical``: a measured result of a source (an accuracy, a rate, a ranking); it can fail
  because the world differs from the source's report;
* ``identity``: a derivation or implementation fact checked numerically (a closed form, a
  recursion, an array shape, an arithmetic of sizes); it cannot fail short of a bug, so a
  "reproduced" identity is a self-test, not evidence about the source's experiments;
* ``textual``: a statement about the source's text (a typo, an inconsistency between its text
  and its tables, a parameter it does not state).

Statistics over seeds
---------------------
A noisy effect (a difference of accuracies, a fitted slope) is measured once per random seed
``s = 0, ..., n-1``. :func:`interval` summarises the ``n`` values by their mean, their sample
standard deviation ``sd`` (``ddof=1``) and the two-sided Student-t confidence interval
``mean +- t_{(1+level)/2, n-1} sd / sqrt(n)`` (``level = 0.95`` unless stated). The seeds are
treated as independent draws of the whole experiment (data subsample, initialisation, label
noise), so the interval is about the *mean effect of the protocol*, not about one run.
:func:`decide` turns an interval into a verdict against the criterion's threshold: the claim's
direction holds ("reproduced") only when the whole interval lies strictly on the claimed side,
it fails ("not reproduced") when the whole interval lies on the other side *or touches the
threshold from it*, and it is ``"inconclusive"`` when the interval straddles the threshold.
An effect that is exactly zero is a tie, and a tie is never an improvement
(:func:`count_strict`).

Examples
--------
>>> from ntkbook import claims
>>> v = claims.judge({"ranking agrees": True, "within 0.05 of the paper": False})
>>> v
'partly'
>>> claims.within(0.95, 0.96, abs_tol=0.02)
True
>>> iv = claims.interval([0.010, 0.004, 0.012, -0.002, 0.008])
>>> claims.decide(iv, 0.0, side="above")
'inconclusive'
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Literal

import numpy as np

from . import config

VERDICTS: tuple[str, ...] = ("reproduced", "partly", "inconclusive", "not reproduced", "not testable here")
"""The allowed verdicts, strongest first. ``inconclusive``: the measured effect's confidence
interval over seeds straddles the criterion's threshold (see :func:`decide`)."""

KINDS: tuple[str, ...] = ("empirical", "identity", "textual")
"""The kinds of claim (see the module docstring); counts keep ``empirical`` apart."""

BADGE_COLOURS: Mapping[str, str] = {
    "reproduced": "#1b7a3a",
    "partly": "#9a6700",
    "inconclusive": "#4f5b93",
    "not reproduced": "#b3261e",
    "not testable here": "#5f6368",
}
"""Background colour of each verdict's badge (white text; each has contrast >= 4.5:1)."""

SOURCES: Mapping[str, str] = {
    "000": "DeOliveira, Gerych, Rundensteiner: infinite-width NTKs for characterizing training",
    "001": "Sutherland: a defense of (empirical) neural tangent kernels (talk)",
    "002": "Mohamadi, Bae, Sutherland: a fast approximation to the empirical NTK (ICML 2023)",
    "003": "Petiushko: neural tangent kernel (lecture slides, 2023)",
    "004": "Hu and Du: ultra-wide deep nets and neural tangent kernel (blog post, 2019)",
}
"""The five source documents, keyed by the number their file name starts with (the key is
``Claim.source_doc``; not to be confused with a random seed)."""


class MissingClaimsError(RuntimeError):
    """A chapter's ledger records are missing or stale (run that chapter first)."""


@dataclass(frozen=True)
class Claim:
    """One published claim checked by one chapter.

    Attributes
    ----------
    id
        Short unique id, e.g. ``"000-T3-mnist-2L"`` (source document, place, detail).
    source_doc
        The source document's number, a key of :data:`SOURCES`.
    kind
        One of :data:`KINDS`: ``"empirical"``, ``"identity"`` or ``"textual"``.
    source
        Where in the source document: ``"Table 3"``, ``"eq. 4"``, ``"Fig. 2"``, ``"slide 14"``.
    claim
        What the source states, in our own words.
    paper
        The source's value, formatted from the chapter's ``PAPER_*`` data (``""`` if qualitative).
    ours
        Our measured value, formatted from the computation (with its interval where seeded).
    criterion
        The rule that turns ``ours`` into the verdict, stated so a reader can re-apply it.
    verdict
        One of :data:`VERDICTS`, computed by the chapter (see :func:`judge`, :func:`decide`).
    chapter
        The recording chapter's id (``"ch11"``), filled in by :class:`Ledger`.
    why
        Required when the verdict is ``"not testable here"``; optional note otherwise.
    n_seeds
        Number of random seeds the measurement averages (0: not a seeded measurement, e.g.
        an identity, or not stated).
    evidence
        The rung-0 values of an evidence ladder this record's measurement is
        (``{"claim": evidence id, "size": ci size, "values": {key: float}}``), which
        :func:`ntkbook.evidence.check_stale` compares with the stored ladder; empty when none.
    """

    id: str
    source_doc: str
    kind: str
    source: str
    claim: str
    paper: str
    ours: str
    criterion: str
    verdict: str
    chapter: str = ""
    why: str = ""
    n_seeds: int = 0
    evidence: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source_doc not in SOURCES:
            raise ValueError(
                f"source_doc must be one of {sorted(SOURCES)}; got {self.source_doc!r} (claim {self.id!r})."
            )
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r} (claim {self.id!r}).")
        if not isinstance(self.n_seeds, (int, np.integer)) or self.n_seeds < 0:
            raise ValueError(f"n_seeds must be a non-negative int; got {self.n_seeds!r} (claim {self.id!r}).")
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


def within(ours: float, paper: float, *, rel_tol: float | None = None, abs_tol: float | None = None) -> bool:
    """``True`` when ``|ours - paper|`` is within ``abs_tol`` or ``rel_tol * |paper|``.

    At least one tolerance must be given; a NaN on either side is never within.
    """
    if rel_tol is None and abs_tol is None:
        raise ValueError("give rel_tol or abs_tol (or both).")
    for name, tol in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
        if tol is not None and not float(tol) >= 0:
            raise ValueError(f"{name} must be >= 0; got {tol!r}.")
    ours, paper = float(ours), float(paper)
    if ours != ours or paper != paper:
        return False
    gap = abs(ours - paper)
    ok_abs = abs_tol is not None and gap <= abs_tol
    ok_rel = rel_tol is not None and gap <= rel_tol * abs(paper)
    return bool(ok_abs or ok_rel)


@dataclass(frozen=True)
class Interval:
    """Mean, spread and Student-t confidence interval of one effect measured over seeds.

    Attributes
    ----------
    mean, sd
        Sample mean and sample standard deviation (``ddof=1``) of the ``n`` values.
    n
        Number of seeds (independent repetitions), at least 2.
    lo, hi
        The two-sided ``level`` confidence interval ``mean -+ t sd / sqrt(n)``.
    level
        Confidence level, e.g. 0.95.
    over
        What the ``n`` repetitions are (``"seeds"``, ``"test images"``), for :meth:`text`.
    """

    mean: float
    sd: float
    n: int
    lo: float
    hi: float
    level: float
    over: str = "seeds"

    def __post_init__(self) -> None:
        if not (self.n >= 1 and 0 < self.level < 1 and self.sd >= 0 and self.lo <= self.mean <= self.hi):
            raise ValueError(
                "an Interval needs n >= 1, 0 < level < 1, sd >= 0 and lo <= mean <= hi; got "
                f"n={self.n}, level={self.level}, sd={self.sd}, [{self.lo}, {self.mean}, "
                f"{self.hi}] (build it with claims.interval)."
            )

    def text(self, fmt: str = ".3g", unit: str = "") -> str:
        """``'0.012 (sd 0.004; 95 % CI [0.007, 0.017], 5 seeds)'`` for a claim's ``ours``.

        The sd is the spread of one value (one seed, one test image), named as such: written
        ``mean +- sd`` it read as the uncertainty of the mean, which the interval states.
        """
        f = lambda v: format(v, fmt) + unit  # noqa: E731 - one format for the mean and bounds
        sd = format(self.sd, fmt.lstrip("+")) + unit  # a spread has no sign
        return (
            f"{f(self.mean)} (sd {sd}; {round(100 * self.level)} % CI "
            f"[{f(self.lo)}, {f(self.hi)}], {self.n} {self.over})"
        )


def interval(values: Sequence[float] | np.ndarray, level: float = 0.95, over: str = "seeds") -> Interval:
    """Mean, sample standard deviation and Student-t interval of per-seed values.

    Parameters
    ----------
    values
        Shape ``(n,)``: one value of the effect per seed, ``n >= 2``, all finite.
    level
        Two-sided confidence level in (0, 1).
    over
        What the values are repetitions over: ``"seeds"``, or ``"test images"`` for the
        paired per-image differences of two classifiers scored on the same test set (values
        in {-1, 0, 1}; the interval is then about the draw of the test set, for one seed).

    Notes
    -----
    ``mean +- t_{(1+level)/2}(n-1) * sd / sqrt(n)``: exact for normally distributed values and
    a fair approximation for the few-seed averages of accuracies and slopes the book measures.
    With ``sd = 0`` (every seed gives the same value) the interval is the single point ``mean``.
    """
    from scipy import stats

    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            f"values must be a 1-D sequence of at least 2 per-seed values; got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must all be finite (a NaN seed is a failed run: fix or drop it explicitly).")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level!r}.")
    n = arr.size
    mean, sd = float(arr.mean()), float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
    return Interval(mean=mean, sd=sd, n=n, lo=mean - half, hi=mean + half, level=level, over=over)


def accuracy_gap_interval(acc_a: float, acc_b: float, n: int, level: float = 0.95) -> Interval:
    """Interval of ``acc_a - acc_b``, two accuracies on the same ``n`` test points, unpaired.

    Used where the per-point predictions are not kept: the normal interval with standard
    error ``sqrt((a (1-a) + b (1-b)) / n)``, which treats the two classifiers' errors as
    independent. Their errors are usually positively correlated (same hard points), which
    makes the true standard error *smaller*, so this interval is conservative: it may call
    "inconclusive" what a paired interval (:func:`interval` of per-point differences,
    ``over="test images"``) would decide, never the reverse.

    Parameters
    ----------
    acc_a, acc_b
        Accuracies in [0, 1].
    n
        Number of test points both were scored on (>= 2).
    level
        Two-sided confidence level in (0, 1).
    """
    from scipy import stats

    a, b = float(acc_a), float(acc_b)
    if not (0.0 <= a <= 1.0 and 0.0 <= b <= 1.0):
        raise ValueError(f"acc_a and acc_b must lie in [0, 1]; got {a!r} and {b!r}.")
    if int(n) < 2:
        raise ValueError(f"n must be at least 2 test points; got {n!r}.")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level!r}.")
    se = float(np.sqrt((a * (1 - a) + b * (1 - b)) / int(n)))
    half = float(stats.norm.ppf(0.5 + level / 2)) * se
    gap = a - b
    return Interval(
        mean=gap,
        sd=se * np.sqrt(int(n)),
        n=int(n),
        lo=gap - half,
        hi=gap + half,
        level=level,
        over="test points (unpaired)",
    )


def combine(verdicts: Sequence[str]) -> str:
    """One verdict from several checks' verdicts (each from :func:`decide` or a boolean check).

    All reproduced -> ``"reproduced"``; some reproduced -> ``"partly"``; none reproduced but
    some inconclusive -> ``"inconclusive"``; otherwise ``"not reproduced"``.
    """
    vs = list(verdicts)
    bad = [v for v in vs if v not in ("reproduced", "inconclusive", "not reproduced")]
    if not vs or bad:
        raise ValueError(
            f"verdicts must be a non-empty list of 'reproduced', 'inconclusive' or "
            f"'not reproduced'; got {vs!r}."
        )
    if all(v == "reproduced" for v in vs):
        return "reproduced"
    if "reproduced" in vs:
        return "partly"
    return "inconclusive" if "inconclusive" in vs else "not reproduced"


def check(flag: bool) -> str:
    """A boolean check as a verdict for :func:`combine` (``True`` -> reproduced)."""
    if not isinstance(flag, (bool, np.bool_)):
        raise TypeError(f"flag must be a bool (the outcome of a check); got {flag!r}.")
    return "reproduced" if bool(flag) else "not reproduced"


def decide(iv: Interval, threshold: float, side: Literal["above", "below"] = "above") -> str:
    """Verdict of a one-directional claim from the confidence interval of its effect.

    Parameters
    ----------
    iv
        The effect's interval over seeds (:func:`interval`).
    threshold
        The criterion's threshold, written from the source's sentence *before* the measurement
        (0 for "A improves on B" with effect ``A - B``).
    side
        ``"above"``: the claim holds when the effect exceeds ``threshold``; ``"below"``: when
        it is under it.

    Returns
    -------
    str
        ``"reproduced"`` when the whole interval lies strictly on the claimed side,
        ``"not reproduced"`` when it lies on the other side (the threshold itself included:
        a tie is not an improvement), ``"inconclusive"`` when it straddles the threshold.
    """
    if side not in ("above", "below"):
        raise ValueError(f"side must be 'above' or 'below'; got {side!r}.")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}.")
    lo, hi = (iv.lo - threshold, iv.hi - threshold)
    if side == "below":
        lo, hi = -hi, -lo
    if lo > 0:
        return "reproduced"
    if hi <= 0:
        return "not reproduced"
    return "inconclusive"


def count_strict(
    new: Sequence[float] | np.ndarray, old: Sequence[float] | np.ndarray, higher_is_better: bool = True
) -> int:
    """How many entries of ``new`` are strictly better than ``old`` (ties are not improvements).

    Parameters
    ----------
    new, old
        Same shape ``(m,)``: paired values (e.g. one AUC per kernel and its baseline).
    higher_is_better
        Direction of "better".
    """
    a, b = np.asarray(new, dtype=float), np.asarray(old, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"new and old must have the same shape; got {a.shape} and {b.shape}.")
    if a.size == 0 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("new and old must hold at least one pair of finite values.")
    return int(np.sum(a > b) if higher_is_better else np.sum(a < b))


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
        payload = {
            "chapter": self.chapter,
            "scale": config.scale(),
            "seed": config.SEED,
            "claims": [asdict(c) for c in self.claims],
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(self.path)

    def table(self):
        """This chapter's claims as a pandas DataFrame (for analysis; readers get :meth:`show`)."""
        return to_frame(self.claims)

    def show(self):
        """The chapter's closing "What this chapter checked" entries, for display in Jupyter.

        Returns an ``IPython.display.HTML`` object holding :func:`render` of this chapter's
        claims (counts by kind first, then one entry per claim).
        """
        from IPython.display import HTML

        return HTML(render(self.claims, summary=True))


_LEDGER_CALL = re.compile(r"""\bLedger\(\s*["']([^"']+)["']""")


def ledger_chapters(folder: str | os.PathLike) -> dict[str, Path]:
    """The chapters that record claims, found in their notebooks: chapter id -> notebook.

    A chapter is a notebook in ``folder`` whose code opens ``claims.Ledger("<id>")``; the
    ledger appendix reads back exactly these, so a new chapter (or appendix) that records
    claims is picked up without an edit there.

    Parameters
    ----------
    folder
        The folder of the book's notebooks (``*.ipynb``).

    Returns
    -------
    dict
        ``{"ch01": Path(".../01_lazy_regime.ipynb"), ...}``, sorted by chapter id.

    Raises
    ------
    ValueError
        If ``folder`` holds no notebook, or two notebooks open a ledger of the same chapter.
    """
    folder = Path(folder)
    notebooks = sorted(folder.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"folder {str(folder)!r} holds no notebook (*.ipynb).")
    found: dict[str, Path] = {}
    for nb in notebooks:
        cells = json.loads(nb.read_text()).get("cells", [])
        code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
        for chapter in dict.fromkeys(_LEDGER_CALL.findall(code)):
            if chapter in found:
                raise ValueError(
                    f"chapter {chapter!r} opens a ledger in both {found[chapter].name} "
                    f"and {nb.name}; each chapter id belongs to one notebook."
                )
            found[chapter] = nb
    return dict(sorted(found.items()))


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
            problems.append(
                f"{chapter}: recorded at scale={payload.get('scale')!r}, "
                f"seed={payload.get('seed')!r}; now scale={config.scale()!r}, "
                f"seed={config.SEED!r}"
            )
            continue
        if not payload.get("claims"):
            problems.append(f"{chapter}: the file holds no claims")
            continue
        try:
            out.extend(Claim(**c) for c in payload["claims"])
        except (TypeError, ValueError) as err:  # written by an older ntkbook (no kind, ...)
            problems.append(f"{chapter}: records do not match this ntkbook's Claim ({err})")
    if problems:
        raise MissingClaimsError(
            "the claims ledger is incomplete; execute these chapters first "
            "(make test or make book runs them all):\n  " + "\n  ".join(problems)
        )
    return out


def _claim_list(claims: Iterable[Claim]) -> list[Claim]:
    """``claims`` as a list, or a TypeError naming the first entry that is not a Claim."""
    out = list(claims)
    for i, c in enumerate(out):
        if not isinstance(c, Claim):
            raise TypeError(f"claims must hold Claim records; entry {i} is {type(c).__name__} {c!r}.")
    return out


def to_frame(claims: Iterable[Claim]):
    """Claims as a DataFrame, one row per claim, ordered by source document, chapter, id."""
    import pandas as pd

    cols = [
        "source_doc",
        "source",
        "id",
        "kind",
        "claim",
        "paper",
        "ours",
        "criterion",
        "verdict",
        "why",
        "n_seeds",
        "chapter",
    ]
    frame = pd.DataFrame([asdict(c) for c in _claim_list(claims)], columns=cols)
    return frame.sort_values(["source_doc", "chapter", "id"], kind="stable").reset_index(drop=True)


def counts(claims: Iterable[Claim], kind: str | None = "empirical"):
    """Number of claims per verdict (every verdict listed, zeros included), as a Series.

    Parameters
    ----------
    claims
        The records.
    kind
        Count only claims of this kind (default ``"empirical"``: the evidence about the
        sources' experiments); ``None`` counts every kind together.
    """
    import pandas as pd

    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None; got {kind!r}.")
    verdicts = [c.verdict for c in _claim_list(claims) if kind is None or c.kind == kind]
    return pd.Series({v: verdicts.count(v) for v in VERDICTS}, name="claims")


def counts_by_kind(claims: Iterable[Claim]):
    """Claims per kind (rows, :data:`KINDS` order) and verdict (columns), zeros included."""
    import pandas as pd

    claims = _claim_list(claims)
    return pd.DataFrame({k: counts(claims, k) for k in KINDS}).T.rename_axis("kind")


def summary_text(claims: Iterable[Claim], kind: str = "empirical") -> str:
    """One sentence saying what held, from the records (for a chapter's glued summary).

    ``'Of 7 empirical claims, 3 reproduced (a, b, c), 1 partly (d), 1 inconclusive (e) and
    2 not reproduced (f, g).'``: every verdict with at least one claim, in :data:`VERDICTS`
    order, each with the claims' ids, so a summary never states a direction the run did not
    measure.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
    mine = [c for c in _claim_list(claims) if c.kind == kind]
    if not mine:
        return f"This chapter records no {kind} claims."
    parts = [
        f"{sum(c.verdict == v for c in mine)} {v} (" + ", ".join(c.id for c in mine if c.verdict == v) + ")"
        for v in VERDICTS
        if any(c.verdict == v for c in mine)
    ]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Of {len(mine)} {kind} claims, {listed}."


def badge(verdict: str) -> str:
    """HTML badge of one verdict: its word on its colour (:data:`BADGE_COLOURS`)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}; got {verdict!r}.")
    return (
        f'<span class="ntk-verdict" style="display:inline-block;padding:0.1em 0.6em;'
        f"border-radius:0.8em;background:{BADGE_COLOURS[verdict]};color:#fff;"
        f'font-weight:600;font-size:0.9em;white-space:nowrap">{escape(verdict)}</span>'
    )


def anchor(claim_id: str) -> str:
    """HTML id of a claim's entry (``claim-000-T3-mnist``), for links from the appendix."""
    if not isinstance(claim_id, str) or not claim_id:
        raise ValueError(f"claim_id must be a non-empty string; got {claim_id!r}.")
    return "claim-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in claim_id)


def _entry(c: Claim, link: str | None) -> str:
    rows = [
        ("Source", f"{c.source_doc}: {SOURCES[c.source_doc]}, {c.source}"),
        ("Source's value", c.paper or "(qualitative)"),
        (
            "Ours",
            (c.ours or "(not measured)")
            + (f" [{c.n_seeds} seed{'s' if c.n_seeds != 1 else ''}]" if c.n_seeds else ""),
        ),
        ("Criterion", c.criterion),
    ]
    if c.why:
        rows.append(("Why" if c.verdict == "not testable here" else "Note", c.why))
    body = "".join(
        f"<dt style='font-weight:600'>{escape(k)}</dt>"
        f"<dd style='margin:0 0 0.3em 1em;overflow-wrap:anywhere'>{escape(v)}</dd>"
        for k, v in rows
    )
    where = (
        f" &middot; <a href='{escape(link)}#{anchor(c.id)}'>chapter {escape(c.chapter)}</a>" if link else ""
    )
    return (
        f"<div class='ntk-claim' id='{anchor(c.id)}' style='border-left:4px solid "
        f"{BADGE_COLOURS[c.verdict]};padding:0.3em 0.8em;margin:0.8em 0;max-width:100%;"
        f"box-sizing:border-box'>"
        f"<p style='margin:0 0 0.3em 0'>{badge(c.verdict)} <code>{escape(c.id)}</code> "
        f"<em>({escape(c.kind)})</em>{where}</p>"
        f"<p style='margin:0 0 0.3em 0;overflow-wrap:anywhere'>{escape(c.claim)}</p>"
        f"<dl style='margin:0'>{body}</dl></div>"
    )


def _summary(claims: list[Claim]) -> str:
    parts = []
    for k in KINDS:
        cs = counts(claims, k)
        if cs.sum() == 0:
            continue
        listed = ", ".join(f"{n} {v}" for v, n in cs.items() if n)
        parts.append(f"<li><strong>{escape(k)}</strong> ({int(cs.sum())}): {escape(listed)}</li>")
    return f"<ul class='ntk-claim-counts'>{''.join(parts)}</ul>"


def render(claims: Iterable[Claim], *, summary: bool = False, links: Mapping[str, str] | None = None) -> str:
    """HTML entries for claims: full text, source, values, criterion and a verdict badge.

    One block per claim (no table, nothing truncated, text wraps at any page width), in the
    order given.

    Parameters
    ----------
    claims
        The records to show.
    summary
        Prefix a list of verdict counts per kind (empirical counted apart).
    links
        ``{chapter id: page url}``: when given, each entry links to the claim's entry on its
        chapter's page (the appendix uses it).
    """
    claims = _claim_list(claims)
    head = _summary(claims) if summary else ""
    return head + "".join(_entry(c, (links or {}).get(c.chapter)) for c in claims)
