"""Chapter 15's caveats, written from the run's own results instead of typed.

The audit (:mod:`ntkbook.audit`) gives a user each tool's answer; chapter 15 plays a user whose
true labels it secretly knows, so it can say how each answer fared *in this run*. These functions
turn those checks into the sentences of the chapter's caveat boxes, so that a caveat never states
a direction the run did not measure:

* :func:`flag_check` / :func:`flags_sentence` -- precision and recall of the Complexity-Gap flags
  against the injected label noise, against random flags and against a second kernel;
* :func:`relabel_sentence` -- whether refurbishment repaired more labels than it broke;
* :func:`ranking_sentence` -- whether the kernel-PCA ranking separates the architectures or ties.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import _checks

__all__ = ["flag_check", "flags_sentence", "relabel_sentence", "ranking_sentence"]


def flag_check(flagged, flipped, n: int) -> dict:
    """Precision and recall of flagged samples against the truly flipped ones.

    Parameters
    ----------
    flagged : array of int, shape (M,)
        Indices flagged by a tool.
    flipped : array of int, shape (F,)
        Indices whose label was really changed.
    n
        Number of samples (the base rate of random flags is ``F / n``).

    Returns
    -------
    dict
        ``precision`` (share of flags that are flipped; NaN without flags), ``recall`` (share of
        flipped samples flagged), ``base_rate`` (``F / n``) and ``n_flagged``.
    """
    n = _checks.positive_int(n, "n")
    flagged = _checks.indices(flagged, "flagged", n)
    flipped = _checks.indices(flipped, "flipped", n)
    hit = np.isin(flagged, flipped)
    return dict(
        precision=float(hit.mean()) if len(flagged) else float("nan"),
        recall=float(hit.sum() / len(flipped)) if len(flipped) else float("nan"),
        base_rate=len(flipped) / n,
        n_flagged=int(len(flagged)),
    )


def flags_sentence(check: Mapping, other: Mapping | None = None, arch: str = "", other_arch: str = "") -> str:
    """What the flags did in this run, from :func:`flag_check` (and optionally a second kernel's).

    Parameters
    ----------
    check
        :func:`flag_check` of the audit's flags.
    other
        :func:`flag_check` of another kernel's flags of the same number of samples.
    arch, other_arch
        The two kernels' names.
    """
    if check["n_flagged"] == 0:
        return "In this run nothing was flagged, so the flags' precision cannot be judged."
    p, base = check["precision"], check["base_rate"]
    word = "above" if p > base else "no better than"
    out = (
        f"In this run {100 * p:.0f} % of the {check['n_flagged']} flags were truly flipped labels, "
        f"{word} the {100 * base:.0f} % that random flags would hit, and they found "
        f"{100 * check['recall']:.0f} % of the flipped labels."
    )
    if other is not None:
        q = other["precision"]
        cmp = "more" if q > p else "fewer" if q < p else "as many"
        out += (
            f" The {other_arch} kernel's flags of the same number of samples held {cmp} flipped "
            f"labels ({100 * q:.0f} % against {100 * p:.0f} % for {arch}): which kernel flags "
            "best depends on the data, so try more than one."
        )
    return out


def relabel_sentence(scores: Mapping) -> str:
    """Whether refurbishment helped in this run, from :func:`ntkbook.tasks.refurbish_scores`.

    Parameters
    ----------
    scores
        ``corrected`` (share of flipped labels restored), ``clean_changed`` (share of correct
        labels changed), ``accuracy_before`` and ``accuracy_after`` (label accuracy).
    """
    before, after = scores["accuracy_before"], scores["accuracy_after"]
    verb = "raised" if after > before else "lowered" if after < before else "left unchanged"
    return (
        f"In this run refurbishment repaired {100 * scores['corrected']:.0f} % of the flipped "
        f"labels and changed {100 * scores['clean_changed']:.1f} % of the correct ones, which "
        f"{verb} label accuracy ({100 * before:.1f} % -> {100 * after:.1f} %)."
    )


def ranking_sentence(ranking) -> str:
    """Whether the kernel-PCA ranking separates the architectures, from the audit's table.

    Parameters
    ----------
    ranking : pandas.DataFrame
        The audit's ranking (index: architectures, best first; columns ``ratio`` and, when the
        audit measured the spread, ``tied_with_best``).
    """
    ratios = ranking["ratio"]
    if "tied_with_best" in ranking:
        tied = [str(a) for a in ranking.index[ranking["tied_with_best"].astype(bool)]]
    else:
        tied = [str(ranking.index[0])]
    spread = float(ratios.max() - ratios.min())
    if len(tied) > 1:
        return (
            f"In this run {', '.join(tied)} are tied within the ratios' own spread (all ratios "
            f"within {spread:.3f} of each other): the ranking does not choose between them."
        )
    return (
        f"In this run {tied[0]} is ahead beyond the ratios' spread (ratios within {spread:.3f} "
        "of each other); only training tells whether the trained networks agree."
    )
