"""What the evidence appendix (A4) shows: ladder plots and a summary table, read from the store."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["ladder_figure", "summary_frame", "provenance_frame", "load_all"]


def load_all(root=None) -> dict[str, dict]:
    """Every ladder's stored evidence, keyed by claim id, in registry (chapter) order."""
    from .ladders import LADDERS
    from .store import read

    return {x.id: read(x.id, root) for x in LADDERS}


def ladder_figure(doc: dict):
    """One claim's ladder: per target, value vs size with 95 % intervals and the source's value.

    Parameters
    ----------
    doc
        One claim's stored evidence (:func:`ntkbook.evidence.read`).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per target: each seed as a dot, each judged rung as its mean with the
        interval, the source's value as a dashed line (with the ``within`` tolerance shaded,
        or the ``above``/``below`` threshold dotted).
    """
    import matplotlib.pyplot as plt

    targets = doc["targets"]
    fig, axes = plt.subplots(1, len(targets), figsize=(min(4.2 * len(targets), 12), 3.4), squeeze=False)
    for ax, t in zip(axes[0], targets):
        for rung in doc["rungs"]:
            seeds = [r["values"][t["key"]] for r in rung["records"].values()]
            ax.plot([rung["size"]] * len(seeds), seeds, ".", color="0.6", ms=4)
            s = (rung.get("summary") or {}).get("targets", {}).get(t["key"])
            if s:
                ax.errorbar(
                    rung["size"],
                    s["mean"],
                    yerr=[[s["mean"] - s["lo"]], [s["hi"] - s["mean"]]],
                    fmt="o",
                    color="C0",
                    capsize=4,
                )
        ax.axhline(t["paper"], color="C3", ls="--", lw=1.2, label="source")
        if t["rule"] == "within" and t["tol"] > 0:
            ax.axhspan(t["paper"] - t["tol"], t["paper"] + t["tol"], color="C3", alpha=0.08)
        elif t["rule"] in ("above", "below"):
            ax.axhline(t["threshold"], color="k", ls=":", lw=1, label="criterion")
        sizes = [r["size"] for r in doc["rungs"]]
        if len(sizes) > 1 and max(sizes) / min(sizes) >= 4:
            ax.set_xscale("log")
            # a tick at every rung, a label only where it cannot touch its left neighbour's
            # (T8's 1,000 / 1,500 / 2,000 / 3,000 overlapped on a panel a third of a page wide)
            labels, last = [], 0.0
            for s in sizes:
                labels.append(str(s) if s >= 1.8 * last else "")
                last = s if labels[-1] else last
            ax.set_xticks(sizes, labels)
            ax.minorticks_off()
        ax.set(xlabel=doc["size_name"], ylabel=t["label"] or t["key"])
        ax.legend(fontsize=8)
    fig.suptitle(doc["claim"], fontsize=10)
    fig.tight_layout()
    return fig


def summary_frame(docs: Iterable[dict]):
    """One row per (claim, target): the ``ci`` value, every rung's verdict, the source, the trend.

    Returns
    -------
    pandas.DataFrame
        Columns ``claim``, ``number``, ``ci (seed 0)``, ``ladder`` (size: mean [lo, hi] verdict,
        per judged rung), ``source``, ``gap to source with scale``.
    """
    import pandas as pd

    rows = []
    for doc in docs:
        for t in doc["targets"]:
            first = doc["rungs"][0]["records"].get("0") if doc["rungs"] else None
            ladder = []
            for rung in doc["rungs"]:
                s = (rung.get("summary") or {}).get("targets", {}).get(t["key"])
                if s:
                    ladder.append(
                        f"{rung['size']} ({s['n']} seeds): {s['mean']:.4g} "
                        f"[{s['lo']:.4g}, {s['hi']:.4g}] {s['verdict']}"
                    )
                elif rung["records"]:
                    ladder.append(f"{rung['size']}: {len(rung['records'])} seed(s), not judged")
            rows.append(
                {
                    "claim": doc["claim"],
                    "number": t["label"] or t["key"],
                    "ci (seed 0)": first["values"][t["key"]] if first else np.nan,
                    "ladder": "; ".join(ladder) or "not run",
                    "source": t["paper"],
                    "gap to source with scale": doc.get("trend", {}).get(t["key"], "not known"),
                }
            )
    return pd.DataFrame(rows)


def provenance_frame(docs: Iterable[dict]):
    """One row per claim: where and when its records were computed, and the wall time per rung.

    Returns
    -------
    pandas.DataFrame
        ``claim``, ``runs`` (count), ``dates``, ``commits`` (short), ``machine`` (CPU, cores,
        GPU), ``load average at start`` (this CPU is shared), ``niceness``, ``wall s per rung``.
    """
    import pandas as pd

    rows = []
    for doc in docs:
        runs = doc.get("runs", [])
        rows.append(
            {
                "claim": doc["claim"],
                "runs": len(runs),
                "dates": ", ".join(sorted({r["date"][:16] for r in runs})),
                "commits": ", ".join(
                    sorted({r["commit"][:8] + ("+" if r.get("dirty") else "") for r in runs})
                ),
                "machine": "; ".join(
                    sorted({f"{r['cpu']}, {r['cores']} cores, GPU {r['gpu']}" for r in runs})
                ),
                "load average at start": ", ".join(f"{r['load_avg'][0]:.1f}" for r in runs),
                "niceness": ", ".join(sorted({str(r.get("niceness", "?")) for r in runs})),
                "wall s per rung": ", ".join(f"{r['size']}: {r['wall_s']:.0f}" for r in doc["rungs"]),
            }
        )
    return pd.DataFrame(rows)
