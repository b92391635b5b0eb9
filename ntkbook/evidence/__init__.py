"""Scale ladders for the book's scale-sensitive claims: measure, store, judge, check.

The ``ci`` profile tests each claim once, at a laptop's scale.  This package measures the same
claims on a *ladder* of sizes (the ``ci`` size, then larger ones, at least 5 seeds per rung)
with the chapters' own computations, stores every record with its provenance under
``evidence/``, and lets the book show whether the gap to the source closes with scale.

- :mod:`.measures` -- one function per claim, ``(size, seed) -> dict``: the chapter's calls.
- :mod:`.ladders` -- :data:`LADDERS`, the registry (sizes, source values, criteria).
- :mod:`.store` -- the atomic JSON store, provenance, and :func:`check_stale`.
- :mod:`.runner` -- ``python -m ntkbook.evidence`` (``make evidence``).

Examples
--------
>>> from ntkbook import evidence
>>> [x.id for x in evidence.LADDERS][:2]
['003-best-cnn-vs-best-cntk', '002-regression-rate']
"""

from . import measures
from .ladders import LADDERS, Ladder, Target, gap_trend, get, judge_rung, judge_target
from .report import ladder_figure, load_all, provenance_frame, summary_frame
from .store import StaleEvidenceError, check_stale, default_dir, provenance, read

__all__ = [
    "LADDERS",
    "Ladder",
    "Target",
    "get",
    "judge_target",
    "judge_rung",
    "gap_trend",
    "measures",
    "read",
    "default_dir",
    "provenance",
    "check_stale",
    "StaleEvidenceError",
    "trend_sentence",
    "claim_texts",
    "ladder_figure",
    "summary_frame",
    "provenance_frame",
    "load_all",
]


def trend_sentence(doc: dict) -> str:
    """One sentence, chosen from the stored numbers, saying whether the gap to the source closes.

    Parameters
    ----------
    doc
        One claim's stored evidence (:func:`read`).
    """
    judged = [r for r in doc["rungs"] if r.get("summary")]
    if len(judged) < 2:
        return f"{doc['claim']}: fewer than two rungs are stored, so the trend with scale is not known yet."
    parts = []
    for t in doc["targets"]:
        a, b = judged[0]["summary"]["targets"][t["key"]], judged[-1]["summary"]["targets"][t["key"]]
        trend = doc["trend"].get(t["key"], "no measurable change")
        verb = {"closes": "closes", "widens": "widens", "no measurable change": "does not change measurably"}[
            trend
        ]
        parts.append(
            f"{t['label'] or t['key']}: the gap to the source's {t['paper']:.4g} {verb} "
            f"from {doc['size_name']} = {judged[0]['size']} to {judged[-1]['size']} "
            f"(|mean - source| {a['gap']:.3g} -> {b['gap']:.3g})"
        )
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def claim_texts(doc: dict, prefix: str = "a4") -> dict[str, str]:
    """The four sentences a page glues for one claim's ladder, keyed by their glue names.

    Parameters
    ----------
    doc
        One claim's stored evidence (:func:`read`).
    prefix
        Start of every glue name.

    Returns
    -------
    dict
        ``{prefix}_{field}_{claim}`` (the claim id with ``-`` as ``_``) for the fields
        ``sizes`` (the rungs, e.g. "N = 512, N = 1024"), ``verdict`` (the largest judged
        rung's verdict and size), ``trend`` (:func:`trend_sentence`) and ``note`` (the
        ladder's note), each a string.
    """
    judged = [r for r in doc["rungs"] if r.get("summary")]
    size = doc["size_name"]
    texts = {
        "sizes": ", ".join(f"{size} = {r['size']}" for r in doc["rungs"]) or "not run yet",
        "verdict": f"{judged[-1]['summary']['verdict']} ({size} = {judged[-1]['size']})"
        if judged
        else "none yet",
        "trend": trend_sentence(doc),
        "note": doc["note"],
    }
    claim = doc["claim"].replace("-", "_")
    return {f"{prefix}_{field}_{claim}": text for field, text in texts.items()}
