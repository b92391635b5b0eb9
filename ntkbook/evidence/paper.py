"""``python -m ntkbook.evidence.paper`` (``make paper``): the book at the papers' scale.

Prints an estimate first, then executes every notebook with ``NTKBOOK_SCALE=paper`` through
``env/execute_notebooks.py`` (records in ``build/claims-paper``, outputs in
``build/paper-cache``); Ctrl-C stops it with one line.

The estimate is rough and says so: each chapter's measured ``ci`` seconds
(``env/notebook_seconds.json``, a quiet 2-core build) times the growth of its largest sample
size from ``ci`` to ``paper`` raised to the power 2 (Gram matrices; the cubic solves and the
longer training make it an underestimate on a CPU, a GPU makes it an overestimate).  The
``paper`` sizes fit what ``make data`` installs (tests/test_config_sizes.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from .. import config

__all__ = ["size_growth", "estimate", "main"]

_REPO = Path(__file__).resolve().parents[2]
_SIZE_KEYS = (
    "n",
    "n_train",
    "n_real",
    "real_n",
    "full_n",
    "protocol_n",
    "n_pool",
    "n_toy",
    "reg_ns",
    "scaling_ns",
    "mnist_n",
    "eq5_n",
    "entk_n",
)


def size_growth(chapter: str) -> float:
    """Largest ``paper / ci`` ratio over the chapter's sample-size keys (1 when it has none)."""
    ci, paper = config.sizes(chapter, "ci"), config.sizes(chapter, "paper")
    ratios = []
    for key in _SIZE_KEYS:
        if key in ci and key in paper:
            a, b = ci[key], paper[key]
            a, b = (max(a), max(b)) if isinstance(a, list) else (a, b)
            if isinstance(a, (int, float)) and a > 0:
                ratios.append(b / a)
    return max(ratios, default=1.0)


def estimate(exponent: float = 2.0) -> dict[str, float]:
    """Estimated CPU seconds per notebook at the paper profile (see the module docstring)."""
    seconds = json.loads((_REPO / "env" / "notebook_seconds.json").read_text())
    if isinstance(seconds, dict) and "seconds" in seconds:
        seconds = seconds["seconds"]
    out = {}
    for name, sec in sorted(seconds.items()):
        chapter = "ch" + name[:2] if name[:2].isdigit() else name[:2].lower()
        growth = size_growth(chapter) if chapter in config.chapters("paper") else 1.0
        out[name] = float(sec) * growth**exponent
    return out


def _fmt(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def main(argv: list[str] | None = None) -> int:
    """Print the estimate, then (unless ``--estimate``) execute the book at the paper scale."""
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="python -m ntkbook.evidence.paper",
        description="Execute every notebook at NTKBOOK_SCALE=paper, after "
        "printing a rough time estimate; Ctrl-C stops cleanly.",
    )
    p.add_argument("--estimate", action="store_true", help="print the estimate and exit")
    p.add_argument("--workers", type=int, default=1, help="notebooks at a time (default 1)")
    p.add_argument("--version", action="version", version=f"ntkbook {__version__}")
    args = p.parse_args(argv)
    est = estimate()
    for name, sec in sorted(est.items(), key=lambda kv: -kv[1])[:5]:
        print(f"paper: {name}: about {_fmt(sec)}")
    print(
        f"paper: estimate about {_fmt(sum(est.values()))} of CPU time in all (rough: ci seconds x "
        f"size growth^2; a GPU is far faster for the Gram-heavy chapters 10-14)",
        flush=True,
    )
    if args.estimate:
        return 0
    env = dict(os.environ, NTKBOOK_SCALE="paper", NTKBOOK_CLAIMS_DIR=str(_REPO / "build" / "claims-paper"))
    cmd = [
        sys.executable,
        str(_REPO / "env" / "execute_notebooks.py"),
        "--book",
        str(_REPO / "book"),
        "--workers",
        str(args.workers),
        "--cache",
        str(_REPO / "build" / "paper-cache"),
    ]
    # its own session: a terminal's Ctrl-C reaches only this process, which then ends the whole
    # group (executor and kernels) itself and says so in one line
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        print(
            "\npaper: interrupted; executed notebooks are cached in build/paper-cache, records in "
            "build/claims-paper",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
