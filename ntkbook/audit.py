"""The four training-free tools of Part III on a labelled dataset of your own, in one pass.

:func:`audit` takes inputs ``x`` and integer labels ``y`` and, from the
infinite-width Gram matrix H of one or more zoo architectures
(:func:`ntkbook.gram.gram`), reports

1. **architecture ranking** by the kernel-PCA separation ratio of each
   candidate's H (:func:`ntkbook.tasks.rank_architectures`, chapter 11);
2. **L(Z) of the given labels** against a label-shuffle baseline: the
   block-diagonalization error of the labels and of ``shuffles`` random
   permutations of them, which keep the class sizes
   (:func:`ntkbook.tasks.rank_labelings`, chapter 12);
3. **bias rankings** and the Gram-label matrix ``Z`` behind them
   (:func:`ntkbook.tasks.gram_label_matrix`, :func:`ntkbook.tasks.bias_rankings`,
   chapter 13);
4. **Complexity-Gap flags**: the ``flag_frac`` share of samples with the
   highest scores (:func:`ntkbook.tasks.complexity_gap`, chapter 11);
5. **proposed relabellings** from label refurbishment with the automatic stop
   (:func:`ntkbook.tasks.refurbish_labels`, chapter 14);

plus the cross-validated accuracy of kernel regression with the same H on the
given labels (:func:`ntkbook.dynamics.kernel_regression`): chapter 14 found
that refurbishment and the flags are only trustworthy where the kernel is a
good classifier of the data, and this number is the check.

Tools 2-5 use the Gram matrix of ``arch``; tool 1 compares ``arch`` with
``compare``.  Nothing here trains a network.

Input conventions: ``x`` of shape ``(N, D)`` is a feature vector per sample
(only the MLPs ``2-L`` and ``10-L`` apply), ``(N, L, C)`` a 1-D signal and
``(N, H, W, C)`` an image (channels last), as in :mod:`ntkbook.data`.  Every
sample is scaled to unit norm (:func:`ntkbook.data.normalize`).  Labels may be
any integers (``3`` and ``7``, say): they are re-indexed to ``0..K-1`` and the
original values are kept as class names.

From the command line, ``DATA`` is an ``.npz`` file with arrays ``x`` and
``y``, or a folder with one sub-folder of PNG/JPEG images per class::

    python -m ntkbook.audit DATA --arch 2-L --out report/

writes ``summary.csv``, ``ranking.csv``, ``labels.csv``, ``z.csv``,
``bias.csv``, ``flags.csv`` and ``relabel.csv`` and one PNG figure per tool
under ``report/`` (see :meth:`AuditReport.save`).  ``report/`` must be new or empty unless
``--replace`` is given, and is written whole or not at all (a temporary sibling folder renamed
into place), so an interrupted run never leaves a user's files overwritten or two runs mixed.
A 3-D ``x`` is ambiguous -- greyscale images ``(N, H, W)`` or signals ``(N, L, C)`` -- and the
command says which reading it took (``--layout`` forces one; :func:`read_layout`); images of
more than 8 bits are divided by the largest value of their bit depth, never clipped.

Examples
--------
>>> import numpy as np
>>> from ntkbook import audit
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.normal(size=(12, 6)) + 5 * np.eye(6)[k] for k in range(3)])
>>> y = np.repeat([0, 1, 2], 12)             # three well separated blobs
>>> y[[0, 12]] = [1, 2]                      # two wrong labels
>>> rep = audit.audit(x, y, arch="2-L", compare=("10-L",), shuffles=5, progress=False)
>>> list(rep.ranking.index) == sorted(["2-L", "10-L"], key=lambda a: -rep.ranking.ratio[a])
True
>>> bool(rep.L_given < rep.L_shuffled.min())  # the labels are far from random
True
>>> rep.relabel[["index", "old", "new"]].values.tolist()   # both put back, nothing else
[[0, 1, 0], [12, 2, 1]]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from . import _checks

__all__ = ["AuditReport", "audit", "check_dataset", "check_out", "load", "load_npz",
           "load_image_folder", "read_layout", "default_compare", "main"]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
"""File endings read as images from a class folder (case-insensitive)."""

MLP_ARCHS: tuple[str, ...] = ("2-L", "10-L")
"""Zoo architectures that accept inputs of any shape (they flatten them)."""


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`audit`.

    Attributes
    ----------
    arch : str
        Architecture whose Gram matrix tools 2-5 use.
    class_names : list of str
        Name of class ``k`` (the original label value or folder name), length K.
    y : ndarray, shape (N,)
        The given labels re-indexed to ``0..K-1``.
    ranking : pandas.DataFrame
        :func:`ntkbook.tasks.rank_architectures` of ``arch`` and the compared
        architectures: index ``architecture``, columns ``ratio``, ``ratio_std``,
        ``mean_inter``, ``mean_intra``, ``rank`` (1 = best separated).
    L_given : float
        Block-diagonalization error ``L(Z)`` of the given labels.
    L_shuffled : ndarray, shape (shuffles,)
        ``L(Z)`` of random permutations of the given labels.
    Z : ndarray, shape (K, K)
        Gram-label matrix ``Y^T H^{-1} Y`` of the given labels.
    counts : ndarray, shape (K,)
        Class sizes.
    intra : ndarray, shape (K,)
        Classes predicted learned fastest first (:func:`ntkbook.tasks.bias_rankings`).
    inter : ndarray, shape (K, K - 1)
        Row k: the other classes, most entangled with class k first.
    cg_scores : ndarray, shape (N,)
        Complexity-Gap score of every sample (larger = harder to fit).
    flagged : ndarray, shape (M,)
        Indices of the ``flag_frac`` highest scores, highest first.
    refurbishment : ntkbook.tasks.Refurbishment
        The relabelling path of Algorithm 1 with the automatic stop.
    cv_accuracy : float
        Mean held-out accuracy of kernel regression on the given labels
        (``folds``-fold cross-validation, one-hot targets).
    ridge, condition_number : float
        Ridge and condition number of the solve behind ``Z``.
    settings : dict
        The arguments of the run (``n``, ``shuffles``, ``flag_frac``, ``folds``,
        ``seed``, ``reg``, ``compare``).
    """

    arch: str
    class_names: list
    y: np.ndarray
    ranking: pd.DataFrame
    L_given: float
    L_shuffled: np.ndarray
    Z: np.ndarray
    counts: np.ndarray
    intra: np.ndarray
    inter: np.ndarray
    cg_scores: np.ndarray
    flagged: np.ndarray
    refurbishment: object
    cv_accuracy: float
    ridge: float
    condition_number: float
    settings: dict = field(default_factory=dict)

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
        return pd.DataFrame({
            "class": names, "predicted_order": order,
            "z_diag": np.diag(self.Z) / self.counts,
            "most_entangled_with": [" ".join(str(names[d]) for d in row) for row in self.inter],
        })

    @property
    def flags(self) -> pd.DataFrame:
        """Every sample with its Complexity-Gap score, rank (1 = highest) and whether it is flagged."""
        order = np.argsort(-self.cg_scores, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        flagged = np.zeros(len(order), dtype=bool)
        flagged[self.flagged] = True
        names = np.asarray(self.class_names, dtype=object)
        return pd.DataFrame({"index": np.arange(len(order)), "label": names[self.y],
                             "cg_score": self.cg_scores, "rank": rank, "flagged": flagged})

    @property
    def relabel(self) -> pd.DataFrame:
        """The relabellings refurbishment proposes, in the order it makes them.

        Columns ``step`` (1-based), ``index`` (sample), ``old`` and ``new`` (class
        names), ``gain`` (first-order decrease of ``L``) and ``L_after``.
        """
        r = self.refurbishment
        names = np.asarray(self.class_names, dtype=object)
        return pd.DataFrame({"step": np.arange(1, r.steps + 1), "index": r.index,
                             "old": names[r.old], "new": names[r.new], "gain": r.gain,
                             "L_after": r.L[1:]})

    @property
    def summary(self) -> pd.DataFrame:
        """One row of headline numbers (what ``summary.csv`` holds)."""
        best = self.ranking.index[0]
        return pd.DataFrame([{
            "n": len(self.y), "classes": len(self.class_names), "arch": self.arch,
            "best_arch": best, "best_ratio": float(self.ranking["ratio"].iloc[0]),
            "L_given": self.L_given, "L_shuffled_mean": float(np.mean(self.L_shuffled)),
            "L_shuffled_sd": float(np.std(self.L_shuffled, ddof=1)) if len(self.L_shuffled) > 1
            else float("nan"),
            "shuffle_z": self.shuffle_z, "n_flagged": len(self.flagged),
            "n_relabel": self.refurbishment.steps, "stop_reason": self.refurbishment.stop_reason,
            "cv_accuracy": self.cv_accuracy, "ridge": self.ridge,
            "condition_number": self.condition_number,
            "input": self.settings.get("input", "")}])

    def figures(self) -> dict:
        """One matplotlib figure per tool: ``ranking``, ``labels``, ``z``, ``flags``, ``relabel``.

        Returns
        -------
        dict
            Name -> ``matplotlib.figure.Figure`` (the caller shows, saves or closes them).
        """
        import matplotlib.pyplot as plt
        import seaborn as sns

        figs = {}
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        colors = ["C1" if a == self.arch else "C0" for a in self.ranking.index]
        ax.barh(list(self.ranking.index)[::-1], self.ranking["ratio"].to_numpy()[::-1],
                color=colors[::-1])
        ax.axvline(1.0, color="grey", ls="--", lw=1)
        ax.set_xlabel("kernel-PCA ratio (inter / intra distance, low components)")
        ax.set_title("Architecture ranking (higher = better separated)")
        figs["ranking"] = fig

        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        ax.hist(self.L_shuffled, bins=min(20, max(5, len(self.L_shuffled))), color="C0",
                label=f"{len(self.L_shuffled)} label shuffles")
        ax.axvline(self.L_given, color="C3", lw=2, label="given labels")
        ax.set_xlabel(r"block-diagonalization error $\mathcal{L}(\mathbf{Z})$")
        ax.set_ylabel("count")
        ax.set_title("Given labels against shuffled ones (lower = cleaner)")
        ax.legend()
        figs["labels"] = fig

        k = len(self.class_names)
        side = min(8.0, 2.5 + 0.45 * k)
        fig, ax = plt.subplots(figsize=(side + 1.0, side))
        W = self.z_normalized
        lim = float(np.max(np.abs(W - np.diag(np.diag(W))))) or 1.0
        sns.heatmap(W, ax=ax, cmap="RdBu_r", center=0.0, vmin=-lim, vmax=lim, square=True,
                    annot=k <= 12, fmt=".2g", annot_kws={"fontsize": 7},
                    xticklabels=self.class_names, yticklabels=self.class_names,
                    cbar_kws={"label": r"$Z_{ij}/(n_i n_j)$"})
        ax.set_title(r"Gram-label matrix $\mathbf{Z}$ (colour scale: off-diagonal)")
        figs["z"] = fig

        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        ax.hist(self.cg_scores, bins=30, color="C0")
        if len(self.flagged):
            ax.axvline(self.cg_scores[self.flagged].min(), color="C3", lw=2,
                       label=f"flag threshold ({len(self.flagged)} samples)")
            ax.legend()
        ax.set_xlabel("Complexity-Gap score")
        ax.set_ylabel("samples")
        ax.set_yscale("log")
        ax.set_title("Complexity-Gap scores (high = suspicious)")
        figs["flags"] = fig

        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        ax.plot(np.arange(len(self.refurbishment.L)), self.refurbishment.L, marker=".")
        ax.set_xlabel("relabellings applied")
        ax.set_ylabel(r"$\mathcal{L}(\mathbf{Z})$")
        ax.set_title(f"Refurbishment path (stop: {self.refurbishment.stop_reason})")
        figs["relabel"] = fig
        return figs

    def save(self, out: str | Path, *, replace: bool = False) -> list[Path]:
        """Write the CSV tables and PNG figures into folder ``out``, whole or not at all.

        Files: ``summary.csv``, ``ranking.csv``, ``labels.csv`` (given and
        shuffled ``L``), ``z.csv`` (Z with class names), ``bias.csv``
        (:attr:`bias_table`), ``flags.csv`` (every sample, :attr:`flags`),
        ``relabel.csv`` (:attr:`relabel`) and ``ranking.png``, ``labels.png``,
        ``z.png``, ``flags.png``, ``relabel.png``.

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
            names = [str(c) for c in self.class_names]
            tables = {"summary": self.summary, "ranking": self.ranking.reset_index(),
                      "labels": self.labels_table,
                      "z": pd.DataFrame(self.Z, index=pd.Index(names, name="class"),
                                        columns=names).reset_index(),
                      "bias": self.bias_table, "flags": self.flags, "relabel": self.relabel}
            written = []
            for name, table in tables.items():
                table.to_csv(tmp / f"{name}.csv", index=False)
                written.append(f"{name}.csv")
            for name, fig in self.figures().items():
                fig.savefig(tmp / f"{name}.png", dpi=120, bbox_inches="tight")
                plt.close(fig)
                written.append(f"{name}.png")
            os.chmod(tmp, 0o777 & ~_umask())      # mkdtemp makes it 0700; a folder is 0777-umask
            check_out(out, replace)                # nothing appeared there meanwhile
            _swap_in(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return [out / name for name in written]


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
            raise FileExistsError(f"--out {out} is an existing file, not a folder; choose "
                                  "another output folder (the report is a folder of files).")
        if not replace and any(out.iterdir()):
            raise FileExistsError(f"--out {out} is a folder that already holds files; choose "
                                  "an empty or new folder, or pass --replace (replace=True) to "
                                  "replace it as a whole.")
    return out


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out`` by renames (same file system)."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)          # between these two renames `out` is absent, never mixed
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temporaries(out: Path) -> None:
    """Remove ``.<name>.tmp-<pid>-*`` / ``.old-`` folders left by saves whose process is gone."""
    for p in out.parent.glob(f".{out.name}.*-*-*"):
        parts = p.name[len(out.name) + 2:].split("-")
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


# ---------------------------------------------------------------------------
# input

def check_dataset(x, y, *, min_per_class: int = 2) -> tuple[np.ndarray, np.ndarray, list]:
    """Check inputs and labels and re-index the labels to ``0..K-1``.

    Parameters
    ----------
    x : array, shape (N, D), (N, L, C) or (N, H, W, C)
        Inputs; finite numbers.
    y : array, shape (N,)
        Integer labels (integer-valued floats are accepted); any values.
    min_per_class
        Fewest samples a class may have (2: the block-diagonalization error
        divides by ``n_k (n_k - 1)``).

    Returns
    -------
    x : ndarray, float64, same shape
    y : ndarray, shape (N,), int64 in ``[0, K)``
    class_names : list
        Original label value of each class, sorted.

    Raises
    ------
    TypeError
        ``x`` or ``y`` not numeric (string labels, say).
    ValueError
        ``x`` without a feature axis or with more than 3, NaN/inf, ``y`` not
        1-D, of another length than ``x``, not integer-valued, fewer than 2
        classes, or a class with fewer than ``min_per_class`` samples.
    """
    yy = np.asarray(y)
    if yy.dtype.kind not in "iuf":
        raise TypeError(f"y must hold integer class labels; got dtype {yy.dtype} (map class "
                        "names to integers first).")
    if np.asarray(x).dtype.kind not in "biuf":      # a float64 cast would parse strings "1.5"
        raise TypeError(f"x must be a numeric array; got dtype {np.asarray(x).dtype}.")
    x = _checks.finite_array(x, "x", ndim=(2, 3, 4), dtype=np.float64)
    if 0 in x.shape:
        raise ValueError(f"x is empty (shape {x.shape}); the audit needs samples with at least "
                         "one feature each.")
    if yy.ndim != 1:
        raise ValueError(f"y must be 1-D, one label per sample; got shape {yy.shape}.")
    if yy.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {yy.shape[0]} labels; they must "
                         "match (x of shape (N, ...), y of shape (N,)).")
    if yy.dtype.kind == "f":
        yy = _checks.finite_array(yy, "y")
        if not np.all(np.equal(np.mod(yy, 1), 0)):
            raise ValueError("y must hold integer class labels; got non-integer values.")
    yy = yy.astype(np.int64)
    values, y_idx, counts = np.unique(yy, return_inverse=True, return_counts=True)
    if len(values) < 2:
        raise ValueError(f"y has a single class ({values.tolist()}); the tools compare classes, "
                         "at least 2 are needed.")
    small = counts < min_per_class
    if small.any():
        bad = {int(v): int(c) for v, c in zip(values[small], counts[small])}
        raise ValueError(f"every class needs at least {min_per_class} samples; class(es) "
                         f"{list(bad)} have {list(bad.values())} (label: count {bad}).")
    return x, y_idx.astype(np.int64).reshape(-1), [v.item() for v in values]


LAYOUTS: tuple[str, ...] = ("auto", "images", "signals")
"""How a 3-D ``x`` of an ``.npz`` is read (:func:`read_layout`)."""


def read_layout(shape: Sequence[int], layout: str = "auto", source: str = "x"
                ) -> tuple[tuple[int, ...], str]:
    """How an input array of ``shape`` is read: the shape the audit uses and a sentence saying so.

    ``(N, D)`` are feature vectors and ``(N, H, W, C)`` channels-last images.
    ``(N, A, B)`` is ambiguous: greyscale images ``H x W`` (the usual way they
    are stored, read as ``(N, H, W, 1)``) or 1-D signals of length ``L`` with
    ``C`` channels (how :mod:`ntkbook.data` stores them).  ``layout="auto"``
    reads it as images unless the last axis is 1 or 3 (a channel axis), and the
    sentence always says which reading was taken and how to force the other.

    Parameters
    ----------
    shape
        Shape of ``x``.
    layout
        ``"auto"``, ``"images"`` or ``"signals"`` (used only for 3-D ``x``).
    source
        What to call the array in the sentence (e.g. the file name).

    Returns
    -------
    shape : tuple of int
        The shape ``x`` is reshaped to (no data is moved).
    note : str
        How ``x`` was read.
    """
    _checks.one_of(layout, "layout", LAYOUTS)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape, f"{source}: shape {shape} read as {shape[0]} feature vectors of length {shape[1]}."
    if len(shape) == 4:
        return shape, (f"{source}: shape {shape} read as {shape[0]} images {shape[1]}x{shape[2]} "
                       f"with {shape[3]} channel(s) (channels last).")
    if len(shape) != 3:
        return shape, f"{source}: shape {shape}."
    n, a, b = shape
    if layout == "auto":
        layout = "signals" if b in (1, 3) else "images"
        why = (f"its last axis ({b}) looks like a channel axis; pass layout='images' "
               f"(--layout images) to read it as {a}x{b} greyscale images" if layout == "signals"
               else f"the usual layout of greyscale images; pass layout='signals' "
                    f"(--layout signals) to read it as 1-D signals of length {a} with {b} channels")
    else:
        why = f"as asked (layout={layout!r})"
    if layout == "images":
        return (n, a, b, 1), (f"{source}: shape {shape} is ambiguous; read as {n} greyscale "
                              f"images {a}x{b}, shape {(n, a, b, 1)} ({why}).")
    return shape, (f"{source}: shape {shape} is ambiguous; read as {n} 1-D signals of length "
                   f"{a} with {b} channel(s) ({why}).")


def load_npz(path: str | Path, layout: str = "auto", notes: list | None = None
             ) -> tuple[np.ndarray, np.ndarray, list]:
    """Read an ``.npz`` file with arrays ``x`` and ``y`` and check it (:func:`check_dataset`).

    Parameters
    ----------
    path
        The ``.npz`` file.
    layout
        How a 3-D ``x`` is read (:func:`read_layout`): ``"auto"`` (greyscale
        images ``(N, H, W)`` -> ``(N, H, W, 1)`` unless the last axis is 1 or 3),
        ``"images"`` or ``"signals"``.
    notes
        If given, a sentence saying how ``x`` was read is appended to it.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an ``.npz`` archive, a corrupt or truncated one (the message names
        the file), keys ``x`` or ``y`` missing, or any error of
        :func:`check_dataset`.
    """
    import zipfile
    import zlib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DATA file {path} does not exist.")
    _checks.one_of(layout, "layout", LAYOUTS)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable .npz archive of numeric arrays ({err}).") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array; expected an .npz archive with arrays "
                         "'x' (inputs) and 'y' (labels), as written by np.savez(path, x=x, y=y).")
    with archive:
        missing = [k for k in ("x", "y") if k not in archive.files]
        if missing:
            raise ValueError(f"{path} has keys {sorted(archive.files)} but lacks {missing}; "
                             "expected arrays 'x' (inputs) and 'y' (labels).")
        try:
            x, y = archive["x"], archive["y"]
        except ValueError as err:          # object arrays need pickle, which we refuse
            raise ValueError(f"{path}: 'x' and 'y' must be numeric arrays ({err}).") from err
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as err:
            raise ValueError(f"{path} is a corrupt or truncated .npz archive ({type(err).__name__}: "
                             f"{err}).") from err
    shape, note = read_layout(np.shape(x), layout, source=path.name)
    if notes is not None:
        notes.append(note)
    return check_dataset(np.reshape(x, shape), y)


# Greyscale PIL modes and the largest value of their real bit depth.  PNG stores at most
# 16 bits per sample, so a 32-bit "I" image read from a PNG holds 16-bit values.
_GREY_DEPTH: dict[str, int] = {"L": 255, "LA": 255, "I;16": 65535, "I;16B": 65535,
                               "I;16L": 65535, "I;16N": 65535}


def _image_array(f: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as float64 in [0, 1], (H, W) greyscale or (H, W, 3) RGB, scaled by its bit depth."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(f) as im:
            im.load()
            mode = im.mode
            if mode == "1":
                arr = np.asarray(im, dtype=np.float64)
            elif mode in _GREY_DEPTH or (mode == "I" and im.format == "PNG"):
                band = im.getchannel(0) if mode == "LA" else im
                raw = np.asarray(band)
                top = _GREY_DEPTH.get(mode, 65535)     # a PNG holds at most 16 bits
                if raw.size and (raw.min() < 0 or raw.max() > top):
                    raise ValueError(f"image {f} (mode {mode}) holds values in "
                                     f"[{raw.min()}, {raw.max()}], outside the [0, {top}] of its "
                                     "bit depth; convert it to an 8- or 16-bit PNG.")
                arr = raw.astype(np.float64) / top
            elif mode == "F" or mode.startswith(("I", "F;")):
                raise ValueError(f"image {f} ({im.format} data, mode {mode!r}: a float or 32-bit "
                                 "image) has no known value range to scale by, and clipping at "
                                 "255 would be wrong; convert it to an 8- or 16-bit PNG, or "
                                 "save the arrays in an .npz.")
            else:   # palette, RGB(A), CMYK, ...: 8 bits per channel after conversion
                arr = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {f} ({err}).") from err
    if size is not None:
        # resize each channel in float32 (never through 8 bits, which would quantise 16-bit data)
        h, w = int(size[0]), int(size[1])
        chans = arr[..., None] if arr.ndim == 2 else arr
        chans = np.stack([np.asarray(Image.fromarray(chans[..., c].astype(np.float32), "F")
                                     .resize((w, h)), dtype=np.float64)
                          for c in range(chans.shape[-1])], axis=-1)
        arr = chans[..., 0] if arr.ndim == 2 else chans
    return arr


def _visible_files(folder: Path) -> list[Path]:
    """Image files of a class folder, sorted; hidden files (``.x``, macOS ``._x.png``) skipped."""
    return sorted(f for f in folder.iterdir()
                  if not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
                  and f.is_file())


def load_image_folder(path: str | Path, size: tuple[int, int] | None = None,
                      notes: list | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """Read a folder with one sub-folder of images per class.

    Parameters
    ----------
    path
        Folder whose sub-folders (sorted by name) are the classes; each holds
        PNG or JPEG files (:data:`IMAGE_SUFFIXES`).  Hidden files and folders
        (names starting with ``.``, such as macOS's ``._photo.png``) are skipped.
    size
        ``(height, width)`` to resize every image to; ``None`` requires all
        images to have the same size.
    notes
        If given, a sentence saying how the images were read is appended to it.

    Returns
    -------
    x : ndarray, shape (N, H, W, C), float64 in [0, 1]
        Each image divided by the largest value of its bit depth (255 for 8-bit,
        65535 for 16-bit greyscale; never clipped).  ``C = 1`` when every image
        is greyscale, else 3 (RGB; alpha dropped).
    y : ndarray, shape (N,)
    class_names : list of str
        The sub-folder names.

    Raises
    ------
    ValueError
        No class sub-folders, a sub-folder without images, images of different
        sizes (without ``size``), an unreadable image, a float image or values
        outside the image's bit depth (naming the file), or any error of
        :func:`check_dataset`.
    """
    path = Path(path)
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{path} has no sub-folders; expected one folder of images per class.")
    images, labels, shapes, grey, depths = [], [], {}, True, set()
    for k, folder in enumerate(classes):
        files = _visible_files(folder)
        if not files:
            raise ValueError(f"class folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images.")
        for f in files:
            arr = _image_array(f, size)
            grey &= arr.ndim == 2
            shapes.setdefault(arr.shape[:2], f)
            images.append(arr)
            labels.append(k)
    if len(shapes) > 1:
        seen = ", ".join(f"{h}x{w} ({f.name})" for (h, w), f in shapes.items())
        raise ValueError(f"images in {path} have different sizes: {seen}; resize them or pass "
                         "size=(height, width) (--size H W).")
    if not grey:       # mixed or colour: RGB everywhere
        images = [np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a for a in images]
    x = np.stack([a[..., None] if a.ndim == 2 else a for a in images])
    x, y, _ = check_dataset(x, np.asarray(labels))
    if notes is not None:
        notes.append(f"{path.name}/: {len(y)} images in {len(classes)} class folders read as "
                     f"shape {x.shape} ({'greyscale' if grey else 'RGB'}), each divided by the "
                     "largest value of its bit depth.")
    return x, y, [c.name for c in classes]


def load(path: str | Path, size: tuple[int, int] | None = None, layout: str = "auto",
         notes: list | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """:func:`load_npz` for a file (with ``layout``), :func:`load_image_folder` for a folder (with ``size``)."""
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path, size, notes=notes)
    return load_npz(path, layout=layout, notes=notes)


def default_compare(x_shape: Sequence[int]) -> tuple[str, ...]:
    """Architectures compared by default: the MLPs, plus CNN-1 for signals and images.

    ``x_shape`` is the shape of the inputs, ``(N, D)``, ``(N, L, C)`` or ``(N, H, W, C)``.
    """
    if isinstance(x_shape, (str, bytes)) or not hasattr(x_shape, "__len__") \
            or len(x_shape) not in (2, 3, 4):
        raise ValueError(f"x_shape must be the shape of x, (N, D), (N, L, C) or (N, H, W, C); "
                         f"got {x_shape!r}.")
    return MLP_ARCHS if len(x_shape) == 2 else MLP_ARCHS + ("CNN-1",)


def _arch(name: str, k: int, x_shape: Sequence[int]):
    from . import archs

    if name not in archs.names():
        raise ValueError(f"arch={name!r} is not in the zoo; known architectures: {archs.names()}.")
    if name not in MLP_ARCHS and len(x_shape) == 2:
        raise ValueError(f"arch={name!r} is convolutional and needs signals (N, L, C) or images "
                         f"(N, H, W, C); x has shape {tuple(x_shape)}. Use one of {MLP_ARCHS}.")
    return archs.get(name, out_dim=k, ndim=len(x_shape) - 2)


def _cv_accuracy(H: np.ndarray, y: np.ndarray, k: int, folds: int, seed: int,
                 reg: float) -> float:
    """Held-out accuracy of kernel regression on one-hot labels, ``folds``-fold."""
    from .dynamics import kernel_regression

    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    hits = 0
    for test in np.array_split(order, folds):
        train = np.setdiff1d(order, test)
        f = kernel_regression(H[np.ix_(train, train)], np.eye(k)[y[train]],
                              H[np.ix_(test, train)], reg)
        hits += int(np.sum(np.argmax(f, axis=1) == y[test]))
    return hits / n


def audit(x, y, arch: str = "2-L", *, compare: Sequence[str] | None = None,
          n_components: int = 4, shuffles: int = 20, flag_frac: float = 0.1,
          cg_repeats: int = 1, folds: int = 5, reg: float = 0.0, seed: int = 0,
          batch_size: int = 256, class_names: Sequence | None = None,
          progress: bool = True) -> AuditReport:
    """Run the four tools of Part III (and a kernel-regression check) on ``x`` and ``y``.

    Parameters
    ----------
    x : array, shape (N, D), (N, L, C) or (N, H, W, C)
        Inputs (scaled to unit norm here).
    y : array, shape (N,)
        Integer labels, any values; each class needs at least 2 samples.
    arch
        Zoo architecture (:func:`ntkbook.archs.names`) whose Gram matrix the
        label tools use.
    compare
        Further architectures for the kernel-PCA ranking; default
        :func:`default_compare` (``arch`` is always included).
    n_components
        Low kernel principal components of the separation ratio (chapter 11: 4).
    shuffles
        Label permutations of the L(Z) baseline (>= 2).
    flag_frac
        Share of samples flagged by Complexity-Gap, highest scores (in (0, 1]).
    cg_repeats
        Draws of the one-vs-rest negatives averaged by Complexity-Gap.
    folds
        Folds of the kernel-regression check (2 <= folds <= N).
    reg
        Relative ridge of every solve; raise it if H is too ill-conditioned
        (duplicate inputs make it singular).
    seed
        Seed of the shuffles, the Complexity-Gap draws and the folds.
    batch_size
        Block size of :func:`ntkbook.gram.gram`.
    class_names
        Names of the K classes in label order (default: the label values).
    progress
        Show a tqdm bar over the steps.

    Returns
    -------
    AuditReport

    Raises
    ------
    TypeError, ValueError
        Bad ``x``/``y`` (see :func:`check_dataset`), an unknown or
        convolutional architecture for flat inputs, bad settings, or a Gram
        matrix too ill-conditioned for ``reg``.
    """
    from tqdm.auto import tqdm

    from . import data, gram, tasks

    x, y, names = check_dataset(x, y)
    seed = _checks.positive_int(seed, "seed", minimum=0)
    n, k = len(y), len(names)
    if class_names is not None:
        if len(class_names) != k:
            raise ValueError(f"class_names has {len(class_names)} names but y has {k} classes.")
        names = list(class_names)
    shuffles = _checks.positive_int(shuffles, "shuffles", minimum=2)
    folds = _checks.positive_int(folds, "folds", minimum=2)
    if folds > n:
        raise ValueError(f"folds={folds} exceeds the {n} samples.")
    flag_frac = _checks.fraction(flag_frac, "flag_frac")
    if flag_frac == 0:
        raise ValueError("flag_frac must be in (0, 1]; got 0.")
    n_components = _checks.positive_int(n_components, "n_components")
    compare = default_compare(x.shape) if compare is None else tuple(compare)
    names_archs = [arch] + [a for a in compare if a != arch]
    builds = {a: _arch(a, k, x.shape) for a in names_archs}     # fail before any work
    xn = data.normalize(x)

    steps = [f"Gram {a}" for a in names_archs] + ["kernel PCA", "L(Z) and shuffles",
                                                   "Complexity-Gap", "refurbishment",
                                                   "kernel regression"]
    bar = tqdm(total=len(steps), desc="audit", disable=not progress)

    def step(i: int) -> None:
        bar.set_postfix_str(steps[i])

    grams = {}
    for i, a in enumerate(names_archs):
        step(i)
        grams[a] = gram.gram(builds[a], xn, batch_size=batch_size, progress=False)
        bar.update()
    H = grams[arch]
    step(len(names_archs))
    ranking = tasks.rank_architectures(grams, y, n_components, num_classes=k)
    bar.update()

    step(len(names_archs) + 1)
    rng = np.random.default_rng(seed)
    perms = {f"shuffle {i}": rng.permutation(y) for i in range(shuffles)}
    scores = tasks.rank_labelings(H, {"given": y, **perms}, reg=reg)
    gl = tasks.gram_label_matrix(H, y, reg, num_classes=k)
    intra, inter = tasks.bias_rankings(gl.Z, gl.counts)
    bar.update()

    step(len(names_archs) + 2)
    cg = tasks.complexity_gap(H, y, num_classes=k, repeats=cg_repeats, seed=seed, reg=reg)
    m = max(1, int(np.floor(flag_frac * n + 0.5)))
    flagged = np.argsort(-cg, kind="stable")[:m]
    bar.update()

    step(len(names_archs) + 3)
    ref = tasks.refurbish_labels(H, y, stop="auto", reg=reg, num_classes=k)
    bar.update()

    step(len(names_archs) + 4)
    acc = _cv_accuracy(H, y, k, folds, seed, reg)
    bar.update()
    bar.close()

    return AuditReport(
        arch=arch, class_names=names, y=y, ranking=ranking,
        L_given=float(scores.loc["given", "L"]),
        L_shuffled=scores.loc[list(perms), "L"].to_numpy(dtype=np.float64),
        Z=gl.Z, counts=gl.counts, intra=intra, inter=inter, cg_scores=cg, flagged=flagged,
        refurbishment=ref, cv_accuracy=acc, ridge=gl.ridge,
        condition_number=gl.condition_number,
        settings=dict(n=n, shuffles=shuffles, flag_frac=flag_frac, folds=folds, seed=seed,
                      reg=reg, compare=tuple(names_archs[1:]), n_components=n_components,
                      cg_repeats=cg_repeats))


# ---------------------------------------------------------------------------
# command line

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ntkbook.audit",
        description="Training-free NTK audit of a labelled dataset: architecture ranking by "
                    "kernel PCA, L(Z) of the labels against shuffled labels, bias rankings and "
                    "the Z heat map, Complexity-Gap flags and refurbishment's relabellings.")
    p.add_argument("data", help=".npz file with arrays x and y, or a folder with one "
                                "sub-folder of PNG/JPEG images per class")
    p.add_argument("--arch", default="2-L", help="zoo architecture of the label tools "
                                                 "(default 2-L)")
    p.add_argument("--compare", nargs="*", default=None, metavar="NAME",
                   help="further architectures to rank (default: 2-L 10-L, plus CNN-1 for "
                        "signals and images)")
    p.add_argument("--out", default="report", help="output folder, new or empty (default "
                                                   "report/)")
    p.add_argument("--replace", action="store_true",
                   help="replace --out as a whole if it already holds files")
    p.add_argument("--n", type=int, default=None,
                   help="use a random subset of this many samples (the Gram matrix costs N^2)")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="resize images of a folder to H x W")
    p.add_argument("--layout", choices=LAYOUTS, default="auto",
                   help="how a 3-D x of an .npz is read: greyscale images (N, H, W) or 1-D "
                        "signals (N, L, C); auto says which it took")
    p.add_argument("--shuffles", type=int, default=20)
    p.add_argument("--flag-frac", type=float, default=0.1)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--reg", type=float, default=0.0, help="relative ridge of every solve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _check_options(args: argparse.Namespace) -> None:
    """Refuse bad numeric options by their command-line names, before any work."""
    def at_least(value, option: str, minimum: int) -> None:
        if value is not None and value < minimum:
            raise ValueError(f"{option} must be an integer >= {minimum}; got {value}.")

    at_least(args.n, "--n", 1)
    at_least(args.seed, "--seed", 0)
    at_least(args.shuffles, "--shuffles", 2)
    at_least(args.folds, "--folds", 2)
    at_least(args.batch_size, "--batch-size", 1)
    if args.size is not None:
        for v in args.size:
            at_least(v, "--size", 1)
    if not (0 < args.flag_frac <= 1):          # also refuses nan
        raise ValueError(f"--flag-frac must be in (0, 1]; got {args.flag_frac}.")
    if not (np.isfinite(args.reg) and args.reg >= 0):
        raise ValueError(f"--reg must be a finite number >= 0; got {args.reg}.")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for bad input or an unsafe --out)."""
    args = _parser().parse_args(argv)
    try:
        _check_options(args)
        check_out(args.out, args.replace)      # fail before the computation, not after it
        notes: list[str] = []
        x, y, names = load(args.data, tuple(args.size) if args.size else None,
                           layout=args.layout, notes=notes)
        for note in notes:
            print(f"ntkbook.audit: {note}", file=sys.stderr)
        if args.n is not None and args.n < len(y):
            keep = np.sort(np.random.default_rng(args.seed).choice(len(y), args.n,
                                                                   replace=False))
            x, y = x[keep], y[keep]
        rep = audit(x, y, args.arch, compare=args.compare, shuffles=args.shuffles,
                    flag_frac=args.flag_frac, folds=args.folds, reg=args.reg, seed=args.seed,
                    batch_size=args.batch_size, progress=not args.no_progress,
                    class_names=[names[c] for c in np.unique(y)])
        rep.settings["input"] = " ".join(notes)
        written = rep.save(args.out, replace=args.replace)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        print(f"ntkbook.audit: error: {err}", file=sys.stderr)
        return 2
    print(rep.summary.T.to_string(header=False))
    print(f"wrote {len(written)} files to {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
