"""Execute the book's notebooks on every core, into the cache that ``jupyter-book`` then renders.

Usage (``make book`` runs it)::

    python env/execute_notebooks.py [--book book] [--workers N] [--slowest K]

Why it exists: the notebooks are close to single-threaded (their user time equals their wall
time), so myst-nb's one-at-a-time execution leaves every core but one idle.  This script runs
``--workers`` notebooks at once (default: the number of cores), longest first, each in its
own kernel with the notebook's folder as working directory, exactly as myst-nb would.  Each
executed notebook is written to the build's jupyter-cache (``<book>/_build/.jupyter_cache``),
and the book's ``execute_notebooks: cache`` mode then renders those outputs without executing
anything again, so every notebook still runs exactly once per build.

Order: every notebook named in :data:`RUN_LAST` runs after all the others have finished (the
claims-ledger appendix reads the records the chapters write).  Everything else is scheduled
longest first from :data:`EXPECTED_SECONDS` (a measured build on 2 cores; a notebook missing
from it is started first), which keeps the last notebook to finish from running alone for long.

With several workers each kernel's thread pools are sized to its share of the cores
(:func:`kernel_thread_env`), not to the whole machine.

A notebook that raises is reported with its name and the cell's traceback, is not cached, and
makes the script exit with status 1 after the others have run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

RUN_LAST: tuple[str, ...] = ("A3_claims_ledger.ipynb", "A4_evidence.ipynb")
"""Notebooks that read what the other notebooks write, so they start after all of them end."""

EXPECTED_SECONDS_FILE = Path(__file__).with_name("notebook_seconds.json")
"""Seconds per notebook in a fresh-clone `make test` (two at a time beside the test suites, 2 cores):
used only to order the work, longest first."""

TIMEOUT_S = 900
"""Per-cell timeout, the same as ``execute.timeout`` in ``book/_config.yml``."""

KERNEL_ENV_FILE = "kernel_env.json"
"""Written into the cache folder: the thread settings the kernels ran with, so that
``tests/test_determinism.py`` re-executes chapters with the same ones (a reduction split over
another number of threads may round differently in the last digit)."""


def kernel_thread_env(workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment variables that size each kernel's thread pools to its share of the cores.

    Every kernel would otherwise size XLA's CPU thread pool and BLAS/OpenMP to the whole
    machine; with ``workers`` notebooks side by side (and, under ``make test``, the unit tests
    beside them) those pools oversubscribe the cores and their threads wait for each other.
    Each kernel gets ``max(1, cores // workers)`` threads (BLAS, XLA, and the Gram engine's
    block threads, ``NTKBOOK_BLOCK_THREADS``); measured on 2 cores, two chapters
    side by side took 51 s instead of 58 s.  One worker: nothing changes.  Thread counts the
    user (or ``make test``) has set are kept, and XLA flags are appended to any the user has set.
    """
    cores = cores or os.cpu_count() or 1
    if workers <= 1:
        return {}
    threads = max(1, cores // workers)
    env = {
        var: os.environ.get(var, str(threads))
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NTKBOOK_BLOCK_THREADS")
    }
    user_flags = os.environ.get("XLA_FLAGS", "")
    flags = (
        ""
        if "intra_op_parallelism_threads" in user_flags
        else f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={threads}"
    )
    env["XLA_FLAGS"] = f"{user_flags} {flags}".strip()
    return env


def _execute(path: str) -> tuple[str, nbformat.NotebookNode, float, str | None, list[tuple[float, int]]]:
    """Run one notebook in a fresh kernel; return it executed, its seconds, any traceback, cell times."""
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(
        nb, cwd=str(Path(path).parent), timeout=TIMEOUT_S, allow_errors=False, record_timing=True
    )
    cell_seconds = []
    for index, cell in enumerate(result.nb.cells):
        stamps = cell.get("metadata", {}).pop("execution", None)
        if stamps and "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            start = _parse_stamp(stamps["iopub.execute_input"])
            end = _parse_stamp(stamps["shell.execute_reply"])
            cell_seconds.append((end - start, index))
    return path, result.nb, result.time, result.exc_string, sorted(cell_seconds, reverse=True)


def _parse_stamp(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _expected_seconds() -> dict[str, float]:
    if not EXPECTED_SECONDS_FILE.is_file():
        return {}
    return json.loads(EXPECTED_SECONDS_FILE.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--book", default="book", help="the book's folder (default: book)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="notebooks run at once (default: the number of cores)",
    )
    parser.add_argument(
        "--slowest", type=int, default=0, help="also print each notebook's K slowest cells (default: 0)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="execute only these notebooks (file names, e.g. 04_cntk.ipynb)",
    )
    parser.add_argument(
        "--cache",
        help="jupyter-cache folder to write "
        "(default: <book>/_build/.jupyter_cache, which the book build renders)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be a positive integer; got {args.workers}")

    book = Path(args.book).resolve()
    notebooks = sorted((book / "notebooks").glob("*.ipynb"))
    if not notebooks:
        print(f"execute_notebooks: no notebook under {book / 'notebooks'}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {p.name for p in notebooks})
        if unknown:
            parser.error(f"--only names no notebook under {book / 'notebooks'}: {unknown}")
        notebooks = [p for p in notebooks if p.name in args.only]
    expected = _expected_seconds()
    first = [p for p in notebooks if p.name not in RUN_LAST]
    # longest first; one without a measured time (a new chapter) is started before all of them
    first.sort(key=lambda p: -expected.get(p.name, float("inf")))
    last = [p for p in notebooks if p.name in RUN_LAST]

    cache_dir = Path(args.cache or book / "_build" / ".jupyter_cache")
    cache = get_cache(str(cache_dir))
    # the kernels inherit this process's environment (through the pool's worker processes)
    kernel_env = kernel_thread_env(args.workers)
    os.environ.update(kernel_env)
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / KERNEL_ENV_FILE).write_text(json.dumps(kernel_env, indent=2) + "\n")
    failures: list[tuple[str, str]] = []
    started = time.perf_counter()
    done = 0

    def record(future) -> None:
        nonlocal done
        path, nb, seconds, traceback, cell_seconds = future.result()
        done += 1
        name = Path(path).name
        elapsed = time.perf_counter() - started
        if traceback is not None:
            failures.append((name, traceback))
            print(
                f"[{done:2d}/{len(notebooks)}] {name}: FAILED after {seconds:.0f} s "
                f"({elapsed:.0f} s elapsed)",
                flush=True,
            )
            return
        stage = cache.add_nb_to_project(path)
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, stage.uri, data={"execution_seconds": seconds}),
            check_validity=False,
            overwrite=True,
        )
        print(f"[{done:2d}/{len(notebooks)}] {name}: {seconds:.0f} s ({elapsed:.0f} s elapsed)", flush=True)
        for cell_time, index in cell_seconds[: args.slowest]:
            print(f"        cell {index:3d}: {cell_time:6.1f} s", flush=True)

    after = f" ({', '.join(p.name for p in last)} after the rest)" if last else ""
    threads = kernel_env.get("OMP_NUM_THREADS", "default")
    print(
        f"execute_notebooks: {len(notebooks)} notebooks, {args.workers} at a time{after}, "
        f"threads per kernel: {threads}",
        flush=True,
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for group in (first, last):
            pending = {pool.submit(_execute, str(p)) for p in group}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    record(future)

    total = time.perf_counter() - started
    print(f"execute_notebooks: {len(notebooks)} notebooks in {total:.0f} s wall-clock", flush=True)
    for name, traceback in failures:
        print(f"\n=== {name} raised ===\n{traceback}", file=sys.stderr)
    if failures:
        print(
            f"execute_notebooks: {len(failures)} notebook(s) failed: "
            f"{', '.join(name for name, _ in failures)}.  Rerun one alone with "
            f"make notebook NB=notebooks/<name>.ipynb",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
