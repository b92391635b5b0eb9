"""The audit's result (:class:`AuditReport`) and the folder it writes: tables, figures, index page.

:meth:`AuditReport.save` writes, for every tool of :data:`ntkbook.audit.tools.TOOLS`,
its CSV tables and PNG figure, plus ``summary.csv`` (headline numbers),
``samples.csv`` (every audited sample: position, input row, file name, label --
the chosen subset under ``--n``) and ``index.html``, a page that explains per tool
what was computed, the result in one sentence, how to read it, its limits and
the book's chapter to read.  The folder is written whole or not at all.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import tools as _tools

__all__ = ["AuditReport", "check_out"]


class _Result:
    """A read-only attribute of :class:`AuditReport` that reads ``results[tool][entry]``.

    The historical names (``rep.ranking``, ``rep.Z``, ...) of the tools' results, one line each.
    """

    def __init__(self, tool: str, entry: str | None = None) -> None:
        self.tool, self.entry = tool, entry

    def __get__(self, rep: AuditReport | None, owner: type | None = None) -> Any:
        if rep is None:  # looked up on the class (documentation tools): the descriptor itself
            return self
        value = rep.results[self.tool]
        return value if self.entry is None else value[self.entry]


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`ntkbook.audit.audit`.

    Attributes
    ----------
    arch : str
        Architecture whose Gram matrix the label tools use.
    class_names : list
        Name of class ``k`` (the original label value or folder name), length K.
    y : ndarray, shape (N,)
        The given labels re-indexed to ``0..K-1``.
    results : dict
        Tool key (:data:`ntkbook.audit.tools.TOOLS`) -> what its ``run`` returned.
    sample_ids : list of str, length N
        Name of every sample (file name, the ``.npz``'s ``ids`` entry or ``row <i>``).
    rows : ndarray, shape (N,)
        Row of every sample in the input (``0..N-1`` unless a subset was audited).
    settings : dict
        The arguments of the run, plus ``gram`` (per architecture: the estimate
        printed beforehand and the measured seconds) and ``input`` (how the data
        were read).

    The attributes below read the tools' results: ``ranking`` (DataFrame, index
    ``architecture``, columns ``ratio``, ``ratio_std``, ``mean_inter``,
    ``mean_intra``, ``rank``, ``ratio_sd``, ``gap_to_best``, ``gap_sd``,
    ``tied_with_best``), ``L_given``, ``L_shuffled`` (shuffles,), ``Z`` (K, K),
    ``counts`` (K,), ``intra`` (K,), ``inter`` (K, K-1), ``cg_scores`` (N,),
    ``flagged`` (M,) (indices, highest score first), ``refurbishment``,
    ``cv_accuracy``, ``ridge`` and ``condition_number``.
    """

    arch: str
    class_names: list
    y: np.ndarray
    results: dict
    sample_ids: list = field(default_factory=list)
    rows: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    # ---- the tools' results under their historical names (class attributes, not fields)
    ranking: ClassVar[_Result] = _Result("ranking")
    L_given: ClassVar[_Result] = _Result("labels", "L_given")
    L_shuffled: ClassVar[_Result] = _Result("labels", "L_shuffled")
    Z: ClassVar[_Result] = _Result("bias", "Z")
    counts: ClassVar[_Result] = _Result("bias", "counts")
    intra: ClassVar[_Result] = _Result("bias", "intra")
    inter: ClassVar[_Result] = _Result("bias", "inter")
    ridge: ClassVar[_Result] = _Result("bias", "ridge")
    condition_number: ClassVar[_Result] = _Result("bias", "condition_number")
    cg_scores: ClassVar[_Result] = _Result("flags", "scores")
    flagged: ClassVar[_Result] = _Result("flags", "flagged")
    refurbishment: ClassVar[_Result] = _Result("relabel")
    cv_accuracy: ClassVar[_Result] = _Result("check")

    def sample_columns(self, index) -> pd.DataFrame:
        """``index`` (position in the audited data), ``row`` (input row) and ``sample`` (name)."""
        index = np.asarray(index, dtype=np.int64)
        n = len(self.y)
        rows = np.arange(n) if self.rows is None else np.asarray(self.rows)
        ids = np.asarray(self.sample_ids if self.sample_ids else [f"row {r}" for r in rows], dtype=object)
        return pd.DataFrame({"index": index, "row": rows[index], "sample": ids[index]})

    @property
    def samples(self) -> pd.DataFrame:
        """Every audited sample: ``index``, ``row``, ``sample`` and ``label`` (``samples.csv``)."""
        table = self.sample_columns(np.arange(len(self.y)))
        table["label"] = np.asarray(self.class_names, dtype=object)[self.y]
        return table

    @property
    def shuffle_z(self) -> float:
        """How many baseline standard deviations ``L_given`` lies below the shuffles' mean."""
        sd = float(np.std(self.L_shuffled, ddof=1)) if len(self.L_shuffled) > 1 else 0.0
        gap = float(np.mean(self.L_shuffled)) - self.L_given
        return gap / sd if sd > 0 else float("inf") if gap > 0 else float("nan")

    @property
    def labels_table(self) -> pd.DataFrame:
        """``L(Z)`` of the given labels and of each shuffle (column ``labels``, ``L``)."""
        names = ["given"] + [f"shuffle {i}" for i in range(len(self.L_shuffled))]
        return pd.DataFrame({"labels": names, "L": [self.L_given, *self.L_shuffled]})

    @property
    def z_normalized(self) -> np.ndarray:
        """``Z_ij / (n_i n_j)`` (K, K): the per-pair mean of ``H^{-1}`` between two classes."""
        return self.Z / np.outer(self.counts, self.counts)

    @property
    def bias_table(self) -> pd.DataFrame:
        """Per class: its place in the intra-class order and its most entangled classes.

        Columns ``class``, ``predicted_order`` (1 = learned first), ``z_diag``
        (``Z_kk / n_k``) and ``most_entangled_with`` (the other classes, most
        entangled first, separated by spaces).
        """
        names = self.class_names
        order = np.empty(len(names), dtype=np.int64)
        order[self.intra] = np.arange(1, len(names) + 1)
        return pd.DataFrame(
            {
                "class": names,
                "predicted_order": order,
                "z_diag": np.diag(self.Z) / self.counts,
                "most_entangled_with": [" ".join(str(names[d]) for d in row) for row in self.inter],
            }
        )

    @property
    def flags(self) -> pd.DataFrame:
        """Every sample: ``index``, ``row``, ``sample``, ``label``, ``kernel_label`` (the
        kernel's leave-one-out class), ``cg_score``, ``rank`` (1 = highest) and ``flagged``."""
        order = np.argsort(-self.cg_scores, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        flagged = np.zeros(len(order), dtype=bool)
        flagged[self.flagged] = True
        names = np.asarray(self.class_names, dtype=object)
        table = self.sample_columns(np.arange(len(order)))
        table["label"] = names[self.y]
        table["kernel_label"] = names[self.results["flags"]["kernel_y"]]
        table["cg_score"] = self.cg_scores
        table["rank"] = rank
        table["flagged"] = flagged
        return table

    @property
    def relabel(self) -> pd.DataFrame:
        """The relabellings refurbishment proposes, in the order it makes them.

        Columns ``step`` (1-based), ``index``, ``row``, ``sample`` (which sample),
        ``old`` and ``new`` (class names), ``gain`` (first-order decrease of ``L``)
        and ``L_after``.
        """
        r = self.refurbishment
        names = np.asarray(self.class_names, dtype=object)
        table = self.sample_columns(np.asarray(r.index, dtype=np.int64))
        table.insert(0, "step", np.arange(1, r.steps + 1))
        table["old"] = names[np.asarray(r.old, dtype=np.int64)]
        table["new"] = names[np.asarray(r.new, dtype=np.int64)]
        table["gain"] = r.gain
        table["L_after"] = r.L[1:]
        return table

    @property
    def summary(self) -> pd.DataFrame:
        """One row of headline numbers (what ``summary.csv`` holds): every tool's ``summary``."""
        row = {"n": len(self.y), "classes": len(self.class_names), "arch": self.arch}
        for t in _tools.TOOLS:
            if t.key in self.results:
                row.update(t.summary(self))
        row["input"] = self.settings.get("input", "")
        return pd.DataFrame([row])

    def verdicts(self) -> dict:
        """Tool key -> its result in one sentence."""
        return {t.key: t.verdict(self) for t in _tools.TOOLS if t.key in self.results}

    def figures(self) -> dict:
        """One matplotlib figure per tool that draws one (``ranking``, ``labels``, ``z``, ...).

        Returns
        -------
        dict
            Name -> ``matplotlib.figure.Figure`` (the caller shows, saves or closes them).
            The bias tool's heat map is called ``z``.
        """
        figs = {}
        for t in _tools.TOOLS:
            if t.key in self.results and t.figure is not None:
                figs[_figure_name(t)] = t.figure(self)
        return figs

    def tables(self) -> dict:
        """Name -> DataFrame of every CSV file :meth:`save` writes."""
        tables = {"summary": self.summary, "samples": self.samples}
        for t in _tools.TOOLS:
            if t.key in self.results:
                tables.update(t.tables(self))
        return tables

    def save(self, out: str | Path, *, replace: bool = False) -> list[Path]:
        """Write the tables, figures and ``index.html`` into folder ``out``, whole or not at all.

        Files: ``index.html`` (open it first), ``summary.csv``, ``samples.csv``,
        each tool's tables (``ranking.csv``, ``labels.csv``, ``z.csv``,
        ``bias.csv``, ``flags.csv``, ``relabel.csv``) and figures
        (``ranking.png``, ``labels.png``, ``z.png``, ``flags.png``, ``relabel.png``).

        Everything is written into a temporary sibling folder first
        (``.<name>.tmp-<pid>-<random>``), which then takes ``out``'s place by
        renames: an interrupted save leaves ``out`` as it was (plus, after a
        SIGKILL, that hidden temporary folder, which the next save next to it
        removes once its process is gone), never a mix of two runs.

        Parameters
        ----------
        out
            Folder to write; it may not exist yet or be empty.
        replace
            Allow ``out`` to be a non-empty folder: it is replaced as a whole
            (files in it that this report does not write are gone afterwards).

        Returns
        -------
        list of pathlib.Path
            The files written (under ``out``).

        Raises
        ------
        FileExistsError
            ``out`` is a file, or a non-empty folder without ``replace=True``.
        """
        import matplotlib.pyplot as plt

        out = Path(out)
        check_out(out, replace)
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
        try:
            written = []
            for name, table in self.tables().items():
                table.to_csv(tmp / f"{name}.csv", index=False)
                written.append(f"{name}.csv")
            for name, fig in self.figures().items():
                fig.savefig(tmp / f"{name}.png", dpi=120, bbox_inches="tight")
                plt.close(fig)
                written.append(f"{name}.png")
            (tmp / "index.html").write_text(index_html(self, written), encoding="utf-8")
            written.insert(0, "index.html")
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; a folder is 0777-umask
            check_out(out, replace)  # nothing appeared there meanwhile
            _swap_in(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return [out / name for name in written]


def _figure_name(t: _tools.Tool) -> str:
    return "z" if t.key == "bias" else t.key


# --------------------------------------------------------------------------- index.html

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;
     line-height:1.45;color:#222}
h1{font-size:1.6rem} h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #ccc}
.verdict{background:#eef5ff;border-left:4px solid #2a6fdb;padding:.5rem .8rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:.2rem .45rem;text-align:left}
img{max-width:100%;height:auto} dt{font-weight:600;margin-top:.4rem} dd{margin-left:1.2rem}
.small{color:#555;font-size:.85rem}
"""


def _table_html(table: pd.DataFrame, rows: int = 15) -> str:
    head = table.head(rows)
    body = head.to_html(index=False, border=0, float_format=lambda v: f"{v:.4g}", escape=True)
    more = f'<p class="small">First {rows} of {len(table)} rows.</p>' if len(table) > rows else ""
    return body + more


def _section_tables(rep: AuditReport, t: _tools.Tool) -> str:
    if t.key == "flags":
        f = rep.flags
        f = f[f["flagged"]].sort_values("rank")
        if not len(f):
            return "<p>No sample passes the threshold.</p>"
        return "<p>Flagged samples, highest score first:</p>" + _table_html(f, 25)
    if t.key == "relabel":
        r = rep.relabel
        return _table_html(r, 25) if len(r) else "<p>No relabelling proposed.</p>"
    if t.key == "ranking":
        cols = ["architecture", "ratio", "ratio_sd", "gap_to_best", "gap_sd", "tied_with_best"]
        return _table_html(rep.ranking.reset_index()[cols])
    if t.key == "bias":
        return _table_html(rep.bias_table.sort_values("predicted_order"))
    return ""


def index_html(rep: AuditReport, files: list[str]) -> str:
    """The report's front page: data and settings, then one section per tool."""
    e = html.escape
    s = rep.settings
    n, k = len(rep.y), len(rep.class_names)
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>NTK audit: {n} samples, {k} classes</title><style>{_CSS}</style>"
        "</head><body>",
        f"<h1>Training-free NTK audit: {n} samples, {k} classes</h1>",
        "<p>Every number below comes from the infinite-width neural tangent kernel's Gram "
        "matrix of your samples (unit-norm inputs); no network was trained.  The tools are "
        "those of Part III of the book <em>ntkbook</em>; each section names the chapter "
        "that explains it.</p>",
        "<h2>Data and settings</h2><dl>",
        f"<dt>Input</dt><dd>{e(str(s.get('input', '')) or 'arrays passed to audit()')}</dd>",
        f"<dt>Samples</dt><dd>{n} (listed in <a href='samples.csv'>samples.csv</a> with "
        "their position <code>index</code>, input <code>row</code> and name "
        "<code>sample</code>; every per-sample table carries the same three columns)"
        + (
            f"; a random subset of {n} of the {s['subset_of']} samples (--n {n}, --seed {s.get('seed')})"
            if s.get("subset_of")
            else ""
        )
        + "</dd>",
        "<dt>Classes</dt><dd>"
        + ", ".join(f"{e(str(c))} ({int(m)})" for c, m in zip(rep.class_names, rep.counts))
        + "</dd>",
        f"<dt>Label tools' architecture</dt><dd>{e(rep.arch)}</dd>",
        "<dt>Settings</dt><dd><code>"
        + e(", ".join(f"{key}={val}" for key, val in s.items() if key not in ("input", "gram", "subset_of")))
        + "</code></dd>",
    ]
    for a, g in s.get("gram", {}).items():
        parts.append(
            f"<dt>Gram matrix {e(a)}</dt><dd>{e(g.get('estimate', ''))}; took "
            f"{g.get('seconds', float('nan')):.1f} s</dd>"
        )
    parts.append("</dl>")
    verdicts = rep.verdicts()
    for i, t in enumerate([t for t in _tools.TOOLS if t.key in rep.results], start=1):
        num, stem, title = t.chapter
        parts.append(f"<h2 id='{e(t.key)}'>{i}. {e(t.title)}</h2>")
        parts.append(f"<p class='verdict'>{e(verdicts[t.key])}</p>")
        fig = f"{_figure_name(t)}.png"
        if fig in files:
            parts.append(f"<p><img src='{fig}' alt='{e(t.title)}'></p>")
        parts.append(_section_tables(rep, t))
        own = [f for f in files if f.endswith(".csv") and f[:-4] in t.tables(rep)]
        parts.append(
            "<dl>"
            f"<dt>What was computed</dt><dd>{e(t.computes)}</dd>"
            f"<dt>How to read it</dt><dd>{e(t.read)}</dd>"
            f"<dt>Limits</dt><dd>{e(t.limits)}</dd>"
            f"<dt>Read more</dt><dd>Chapter {num}, <em>{e(title)}</em> "
            f"(<code>notebooks/{e(stem)}.ipynb</code>; in the built book "
            f"<code>notebooks/{e(stem)}.html</code>)</dd>"
            + (
                ("<dt>Files</dt><dd>" + ", ".join(f"<a href='{f}'>{f}</a>" for f in own) + "</dd>")
                if own
                else ""
            )
            + "</dl>"
        )
    parts.append(
        "<h2>All files</h2><ul>"
        + "".join(f"<li><a href='{f}'>{f}</a></li>" for f in files)
        + "</ul></body></html>"
    )
    return "\n".join(parts)


# --------------------------------------------------------------------------- the folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_out(out: str | Path, replace: bool = False) -> Path:
    """Refuse an output folder that a save would damage, before any computation.

    Raises
    ------
    FileExistsError
        ``out`` is an existing file (or other non-folder), or a non-empty
        folder and ``replace`` is false.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise FileExistsError(
                f"--out {out} is an existing file, not a folder; choose "
                "another output folder (the report is a folder of files)."
            )
        if not replace and any(out.iterdir()):
            raise FileExistsError(
                f"--out {out} is a folder that already holds files; choose "
                "an empty or new folder, or pass --replace (replace=True) to "
                "replace it as a whole."
            )
    return out


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out`` by renames (same file system)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)  # between these two renames `out` is absent, never mixed
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temporaries(out: Path) -> None:
    """Remove ``.<name>.tmp-<pid>-*`` / ``.old-`` folders left by saves whose process is gone."""
    for p in out.parent.glob(f".{out.name}.*-*-*"):
        parts = p.name[len(out.name) + 2 :].split("-")
        if len(parts) < 3 or parts[0] not in ("tmp", "old") or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        try:
            os.kill(pid, 0)
            alive = pid != os.getpid()
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
