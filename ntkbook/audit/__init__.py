"""The training-free tools of Part III on a labelled dataset of your own, in one pass.

:func:`audit` takes inputs ``x`` and integer labels ``y`` and, from the
infinite-width Gram matrix H of one or more zoo architectures
(:func:`ntkbook.gram.gram`), runs every tool registered in
:data:`ntkbook.audit.tools.TOOLS`:

1. **architecture ranking** by the kernel-PCA separation ratio of each
   candidate's H, with its spread over random halves and ties reported as ties
   (:func:`ntkbook.tasks.rank_architectures`, chapter 11);
2. **L(Z) of the given labels** against a label-shuffle baseline
   (:func:`ntkbook.tasks.rank_labelings`, chapter 12);
3. **bias rankings** and the Gram-label matrix ``Z`` behind them
   (:func:`ntkbook.tasks.bias_rankings`, chapter 13);
4. **Complexity-Gap flags**: samples whose score exceeds a threshold calibrated
   on kernel-consistent labels (:func:`ntkbook.tasks.complexity_gap`, chapter 11);
5. **proposed relabellings** from label refurbishment with the automatic stop
   (:func:`ntkbook.tasks.refurbish_labels`, chapter 14);
6. the cross-validated accuracy of kernel regression with the same H on the
   given labels: chapter 14 found that refurbishment and the flags are only
   trustworthy where the kernel is a good classifier of the data.

Tools 2-6 use the Gram matrix of ``arch``; tool 1 compares ``arch`` with
``compare``.  Nothing here trains a network.  The package is split by job:
:mod:`~ntkbook.audit.loaders` (files to arrays and sample names),
:mod:`~ntkbook.audit.tools` (the tool table), :mod:`~ntkbook.audit.pipeline`
(:func:`audit`), :mod:`~ntkbook.audit.report` (:class:`AuditReport`, the output
folder) and :mod:`~ntkbook.audit.cli`.  A new tool is one entry of
:data:`~ntkbook.audit.tools.TOOLS`.

Input conventions: ``x`` of shape ``(N, D)`` is a feature vector per sample
(only the MLPs ``2-L`` and ``10-L`` apply), ``(N, L, C)`` a 1-D signal and
``(N, H, W, C)`` an image (channels last), as in :mod:`ntkbook.data`.  Every
sample is scaled to unit norm (:func:`ntkbook.data.normalize`).  Labels may be
any integers (``3`` and ``7``, say): they are re-indexed to ``0..K-1`` and the
original values are kept as class names.

From the command line, ``DATA`` is an ``.npz`` file with arrays ``x`` and
``y`` (and optionally ``ids``, a name per sample), or a folder with one
sub-folder of PNG/JPEG images per class::

    ntkbook-audit DATA --arch 2-L --out report/     # or python -m ntkbook.audit

writes ``index.html`` (what each tool computed, its result, how to read it, its
limits and the chapter to read), ``summary.csv``, ``samples.csv``, each tool's
tables and one PNG figure per tool under ``report/`` (see
:meth:`AuditReport.save`); every per-sample table names the sample (file name).
``report/`` must be new or empty unless ``--replace`` is given, and is written
whole or not at all.  A 3-D ``x`` is ambiguous -- greyscale images
``(N, H, W)`` or signals ``(N, L, C)`` -- and the command says which reading it
took (``--layout`` forces one; :func:`read_layout`); images of more than 8 bits
are divided by the largest value of their bit depth, never clipped.

Examples
--------
>>> import numpy as np
>>> from ntkbook import audit
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.normal(size=(12, 6)) + 5 * np.eye(6)[k] for k in range(3)])
>>> y = np.repeat([0, 1, 2], 12)             # three well separated blobs
>>> y[[0, 12]] = [1, 2]                      # two wrong labels
>>> rep = audit.audit(x, y, arch="2-L", compare=("10-L",), shuffles=5, progress=False)
>>> bool(rep.L_given < rep.L_shuffled.min())  # the labels are far from random
True
>>> rep.flagged.tolist()    # above the null's 99 % quantile: one of the two, nothing else
[0]
>>> rep.relabel[["index", "old", "new"]].values.tolist()   # both put back, nothing else
[[0, 1, 0], [12, 2, 1]]
"""

from __future__ import annotations

from . import tools
from .cli import main
from .loaders import IMAGE_SUFFIXES, LAYOUTS, check_dataset, load, load_image_folder, load_npz, read_layout
from .pipeline import MLP_ARCHS, audit, default_compare, estimate_gram
from .report import AuditReport, check_out
from .tools import TOOLS, Tool

# The names this package re-exports from its modules, each documented where it is defined.
# __all__ stays empty on purpose: Sphinx's automodule documents every name of a module's
# __all__, so listing them here would describe each twice (an ambiguous cross-reference fails
# the book build).
PUBLIC: tuple[str, ...] = (
    "AuditReport",
    "audit",
    "check_dataset",
    "check_out",
    "load",
    "load_npz",
    "load_image_folder",
    "read_layout",
    "default_compare",
    "estimate_gram",
    "main",
    "TOOLS",
    "Tool",
    "tools",
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "MLP_ARCHS",
)
__all__: list[str] = []
