"""``python -m ntkbook.evidence``: run the scale ladders, resumably, with an estimate and a bar.

Every finished ``(claim, rung, seed)`` is stored at once and never recomputed; Ctrl-C stops
with one line, and the next run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

import numpy as np

from . import store
from .ladders import LADDERS, Ladder

__all__ = ["select", "plan", "estimate_seconds", "profile_seconds", "run", "main"]


def detect_device() -> str:
    """``"gpu"`` when JAX sees a GPU, else ``"cpu"``."""
    import jax

    return "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"


def select(only: list[str] | None) -> list[Ladder]:
    """The ladders named by ``only`` (exact ids or id prefixes), all when ``only`` is empty."""
    if not only:
        return list(LADDERS)
    chosen = [x for x in LADDERS if any(x.id == o or x.id.startswith(o) for o in only)]
    unknown = [o for o in only if not any(x.id == o or x.id.startswith(o) for x in LADDERS)]
    if unknown:
        raise SystemExit(f"--only: {unknown} match no claim; known: {[x.id for x in LADDERS]}")
    return chosen


def plan(
    ladders: list[Ladder], device: str, max_rung: int | None, seeds: int, root=None
) -> list[tuple[Ladder, int, int]]:
    """The ``(ladder, size, seed)`` tasks not yet stored, in run order (claim, rung, seed)."""
    tasks = []
    for ladder in ladders:
        doc = store.read(ladder.id, root)
        done = {(r["size"], int(s)) for r in doc["rungs"] for s in r["records"]}
        sizes = ladder.sizes(device)
        if max_rung is not None:
            sizes = sizes[: max_rung + 1]
        tasks += [(ladder, size, seed) for size in sizes for seed in range(seeds) if (size, seed) not in done]
    return tasks


def _seconds_per_seed(ladder: Ladder, root=None) -> tuple[int, float] | None:
    """(size, median seconds per seed) at the largest stored rung, or ``None``.

    Per record the smaller of its wall and CPU seconds: the estimate is for a quiet machine.
    """
    doc = store.read(ladder.id, root)
    # a record's CPU seconds where stored (all threads): on this shared machine the wall time of
    # a nice'd run mostly measures the other jobs, the CPU time what a quiet machine would spend
    timed = [
        (r["size"], [min(x["seconds"], x.get("cpu_s") or x["seconds"]) for x in r["records"].values()])
        for r in doc["rungs"]
        if r["records"]
    ]
    if not timed:
        return None
    size, secs = max(timed)
    # the first seed of a process also compiles: prefer the later seeds' time when there are some
    return size, float(np.median(secs[1:] if len(secs) > 2 else secs))


def estimate_seconds(ladder: Ladder, size: int, root=None) -> float | None:
    """Estimated seconds for one seed at ``size``, from stored timings and ``cost_exponent``."""
    known = _seconds_per_seed(ladder, root)
    if known is None:
        return None
    s0, t0 = known
    return t0 * (size / s0) ** ladder.cost_exponent


def profile_seconds(ladders: list[Ladder], device: str, seeds: int, root=None) -> tuple[float, int]:
    """Estimated seconds of the whole profile from an empty store (every rung, every seed).

    Returns
    -------
    seconds, unknown
        The sum of :func:`estimate_seconds` over every ``(ladder, size, seed)``, and how many
        ladders have no stored timing to estimate from (left out of the sum).
    """
    total, unknown = 0.0, 0
    for ladder in ladders:
        per_seed = [estimate_seconds(ladder, size, root) for size in ladder.sizes(device)]
        known = [c for c in per_seed if c is not None]
        if len(known) < len(per_seed):
            unknown += 1
            continue
        total += seeds * float(sum(known))
    return total, unknown


def _fmt(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _do(ladder: Ladder, size: int, seed: int, device: str, run_ids: dict, root) -> float:
    doc = store.read(ladder.id, root)
    if ladder.id not in run_ids:
        doc["runs"].append(store.provenance(device))
        run_ids[ladder.id] = len(doc["runs"]) - 1
    t0, c0 = time.perf_counter(), time.process_time()
    values = ladder.measure(size, seed)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    store.record_seed(doc, size, seed, values, seconds, run_ids[ladder.id], device, root, cpu_s=cpu)
    return seconds


def run(
    only: list[str] | None = None,
    max_rung: int | None = None,
    seeds: int = 5,
    device: str = "auto",
    root=None,
    estimate_only: bool = False,
) -> int:
    """Run (or, with ``estimate_only``, only estimate) the selected ladders; returns records added."""
    from tqdm.auto import tqdm

    device = detect_device() if device == "auto" else device
    ladders = select(only)
    tasks = plan(ladders, device, max_rung, seeds, root)
    if estimate_only:
        whole, unknown = profile_seconds(ladders, device, seeds, root)
        print(
            f"evidence: the whole profile on {device} from an empty store ({len(ladders)} claims, "
            f"{seeds} seeds per rung) would take about {_fmt(whole)} on a quiet machine"
            + (f" plus {unknown} claims without a timing" if unknown else ""),
            flush=True,
        )
    if not tasks:
        print(
            f"evidence: every selected record is stored ({store.default_dir() if root is None else root}); "
            "nothing to run"
        )
        return 0
    run_ids: dict[str, int] = {}
    added = 0
    if not estimate_only:
        print(
            f"evidence: machine {store._cpu_model()}, {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}, device {device}",
            flush=True,
        )
    # the up-front estimate: stored per-seed times, else a probe (the ladder's first task,
    # which is stored like any other and so never recomputed)
    if not estimate_only:
        for ladder in ladders:
            first = next((t for t in tasks if t[0] is ladder), None)
            if first is not None and estimate_seconds(ladder, first[1], root) is None:
                print(
                    f"evidence: probing {ladder.id} ({ladder.size_name} = {first[1]}, seed "
                    f"{first[2]}) for the estimate",
                    flush=True,
                )
                _do(*first, device, run_ids, root)
                tasks.remove(first)
                added += 1
    costs = [estimate_seconds(lad, size, root) for lad, size, _ in tasks]
    unknown = sum(c is None for c in costs)
    total = float(sum(c for c in costs if c is not None))
    print(
        f"evidence: {len(tasks)} records to compute on {device} "
        f"({len(ladders)} claims, {seeds} seeds per rung); estimate about {_fmt(total)}"
        + (f" plus {unknown} records without a timing" if unknown else ""),
        flush=True,
    )
    if estimate_only:
        return 0
    # the bar counts seconds: those spent plus the estimate of those left, re-estimated after
    # every record from the newest stored timings (so its ETA sharpens as the rungs grow)
    bar = tqdm(
        total=round(total),
        unit="s",
        desc="evidence",
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}] {postfix}",
    )
    spent = 0.0
    try:
        for i, (ladder, size, seed) in enumerate(tasks):
            bar.set_postfix_str(f"{ladder.id} {ladder.size_name}={size} seed {seed}")
            seconds = _do(ladder, size, seed, device, run_ids, root)
            spent += seconds
            added += 1
            left = sum(estimate_seconds(lad, sz, root) or 0.0 for lad, sz, _ in tasks[i + 1 :])
            bar.total = max(round(spent + left), round(spent))
            bar.update(round(spent) - bar.n)
    finally:
        bar.close()
    for ladder in ladders:
        doc = store.read(ladder.id, root)
        rungs = ", ".join(f"{r['size']}: {r['summary']['verdict']}" for r in doc["rungs"] if r["summary"])
        print(f"evidence {ladder.id}: {rungs}; gap to the source: {doc['trend'] or 'n/a'}")
    return added


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="python -m ntkbook.evidence",
        description="Run the scale ladders of the book's scale-sensitive claims (the ci size, "
        "then larger sizes; 5 seeds per rung) and store every finished record under "
        "evidence/ with provenance. Resumable: stored records are never recomputed; "
        "Ctrl-C stops cleanly.",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="ID",
        help="claim id or id prefix (repeatable, or comma-separated); default: all",
    )
    p.add_argument(
        "--max-rung", type=int, default=None, metavar="R", help="run rungs 0..R only (0 is the ci size)"
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds per rung (default 5)")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="which rung list (a GPU's goes further); default: what JAX sees",
    )
    p.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help="evidence folder (default: NTKBOOK_EVIDENCE_DIR or evidence/)",
    )
    p.add_argument(
        "--estimate", action="store_true", help="print the time estimate from stored timings and exit"
    )
    p.add_argument("--list", action="store_true", help="list the claims and their rungs and exit")
    p.add_argument("--version", action="version", version=f"ntkbook {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (130 after Ctrl-C)."""
    args = _parser().parse_args(argv)
    only = [o for item in (args.only or []) for o in item.split(",") if o]
    if args.seeds < 2:
        raise SystemExit(f"--seeds must be at least 2 (an interval needs two); got {args.seeds}")
    if args.max_rung is not None and args.max_rung < 0:
        raise SystemExit(f"--max-rung must be >= 0; got {args.max_rung}")
    if args.list:
        for x in select(only):
            print(f"{x.id:24s} {x.chapter}  {x.size_name}: cpu {x.cpu_sizes}, gpu {x.gpu_sizes}")
        return 0
    # SIGTERM ends like Ctrl-C: one line, records kept
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        from .. import config

        config.enable_x64()
        os.environ.setdefault(
            "NTKBOOK_EVIDENCE_GRAM_CACHE", str(store._REPO / "build" / "evidence-gram-cache")
        )
        run(only, args.max_rung, args.seeds, args.device, args.store, args.estimate)
    except KeyboardInterrupt:
        print(
            f"\nevidence: interrupted; every finished record is stored in "
            f"{args.store or store.default_dir()} -- run again to resume",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
