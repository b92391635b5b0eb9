"""``ntkbook-audit`` / ``python -m ntkbook.audit``: the audit of a file or folder, written to a folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .. import __version__
from . import tools as _tools
from .loaders import LAYOUTS, load
from .pipeline import audit
from .report import check_out

__all__ = ["main"]


def _parser(prog: str = "python -m ntkbook.audit") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Training-free NTK audit of a labelled dataset: "
        + "; ".join(t.title.rstrip("?").lower() for t in _tools.TOOLS)
        + ".  Writes a folder whose index.html explains every result.",
        epilog="Cost: the Gram matrix of N samples takes N^2 memory and time; its estimate is "
        "printed before it is computed (600 28x28 images with CNN-1: about a minute on "
        "two cores).  Chapter 15 of the book walks through a report.",
    )
    p.add_argument(
        "data",
        help=".npz file with arrays x and y (and optionally ids: a name or "
        "original index per sample), or a folder with one sub-folder "
        "of PNG/JPEG images per class",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s (ntkbook {__version__})")
    p.add_argument("--arch", default="2-L", help="zoo architecture of the label tools (default 2-L)")
    p.add_argument(
        "--compare",
        nargs="*",
        default=None,
        metavar="NAME",
        help="further architectures to rank (default: 2-L 10-L, plus CNN-1 for signals and images)",
    )
    p.add_argument(
        "--out", default="report", help="output folder, new or empty (default report/); open its index.html"
    )
    p.add_argument(
        "--replace", action="store_true", help="replace --out as a whole if it already holds files"
    )
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="use a random subset of this many samples (the Gram matrix costs N^2); "
        "the subset is listed in samples.csv",
    )
    p.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="resize images of a folder to H x W",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="how a 3-D x of an .npz is read: greyscale images (N, H, W) or 1-D "
        "signals (N, L, C); auto says which it took",
    )
    p.add_argument(
        "--shuffles", type=int, default=20, help="label shuffles of the L(Z) baseline (default 20)"
    )
    p.add_argument(
        "--flag-alpha",
        type=float,
        default=0.01,
        help="flag a sample when its Complexity-Gap score exceeds the 1 - ALPHA "
        "quantile of the scores of kernel-consistent labels (default 0.01)",
    )
    p.add_argument(
        "--flag-frac",
        type=float,
        default=None,
        help="instead, flag this share of samples, highest scores first",
    )
    p.add_argument("--folds", type=int, default=5, help="folds of the kernel-regression check (default 5)")
    p.add_argument("--reg", type=float, default=0.0, help="relative ridge of every solve")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="block size of the Gram matrix (default: chosen from the memory model)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars and the estimates")
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
    if args.flag_frac is not None and not (0 < args.flag_frac <= 1):  # also refuses nan
        raise ValueError(f"--flag-frac must be in (0, 1]; got {args.flag_frac}.")
    if not (0 < args.flag_alpha < 1):
        raise ValueError(f"--flag-alpha must be in (0, 1); got {args.flag_alpha}.")
    if not (np.isfinite(args.reg) and args.reg >= 0):
        raise ValueError(f"--reg must be a finite number >= 0; got {args.reg}.")


def main(argv: list[str] | None = None, prog: str = "python -m ntkbook.audit") -> int:
    """Command-line entry point; returns the exit status (2 for bad input or an unsafe --out)."""
    args = _parser(prog).parse_args(argv)
    try:
        _check_options(args)
        check_out(args.out, args.replace)  # fail before the computation, not after it
        notes: list[str] = []
        ids: list[str] = []
        x, y, names = load(
            args.data, tuple(args.size) if args.size else None, layout=args.layout, notes=notes, ids=ids
        )
        for note in notes:
            print(f"ntkbook.audit: {note}", file=sys.stderr)
        rows = np.arange(len(y))
        total = len(y)
        if args.n is not None and args.n < len(y):
            rows = np.sort(np.random.default_rng(args.seed).choice(len(y), args.n, replace=False))
            x, y = x[rows], y[rows]
            notes.append(
                f"A random subset of {args.n} of the {total} samples (--n, --seed "
                f"{args.seed}), listed in samples.csv."
            )
        rep = audit(
            x,
            y,
            args.arch,
            compare=args.compare,
            shuffles=args.shuffles,
            flag_alpha=args.flag_alpha,
            flag_frac=args.flag_frac,
            folds=args.folds,
            reg=args.reg,
            seed=args.seed,
            batch_size=args.batch_size,
            progress=not args.no_progress,
            class_names=[names[c] for c in np.unique(y)],
            sample_ids=[ids[r] for r in rows],
            rows=rows,
        )
        rep.settings["input"] = " ".join(notes)
        if len(rows) < total:
            rep.settings["subset_of"] = total
        written = rep.save(args.out, replace=args.replace)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        print(f"ntkbook.audit: error: {err}", file=sys.stderr)
        return 2
    print(rep.summary.T.to_string(header=False))
    out = Path(args.out).resolve()
    print(f"wrote {len(written)} files to {out}; open {out / 'index.html'}")
    return 0


def console_main() -> int:
    """The ``ntkbook-audit`` console script."""
    return main(prog="ntkbook-audit")
