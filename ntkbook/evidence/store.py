"""The committed evidence store: ``evidence/<claim>.json``, written atomically, seed by seed.

Layout of one file::

    {"claim": id, "chapter": ..., "source": ..., "statement": ..., "size_name": "N",
     "note": ..., "targets": [{"key", "paper", "rule", "tol", "threshold", "label"}],
     "rungs": [{"size": 150, "device": "cpu",
                "records": {"0": {"values": {...}, "seconds": 1.2, "run": 0}, ...},
                "wall_s": 6.1, "summary": {"targets": {...}, "verdict": ...}}],
     "trend": {key: "closes" | "widens" | "no measurable change"},
     "runs": [provenance of each run that added records]}

Every finished ``(claim, rung, seed)`` is written at once (temporary file, then ``os.replace``),
so an interrupted run loses at most the seed in progress and a re-run never recomputes a record.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from .ladders import LADDERS, Ladder, gap_trend, get, judge_rung

__all__ = [
    "default_dir",
    "provenance",
    "load_note",
    "read",
    "write",
    "record_seed",
    "summarize",
    "check_stale",
    "StaleEvidenceError",
]

_REPO = Path(__file__).resolve().parents[2]


class StaleEvidenceError(RuntimeError):
    """The stored rung-0 values differ from the live chapter's (re-run ``make evidence``)."""


def default_dir() -> Path:
    """``NTKBOOK_EVIDENCE_DIR`` if set, else ``evidence/`` in the source checkout."""
    env = os.environ.get("NTKBOOK_EVIDENCE_DIR")
    return Path(env).expanduser() if env else _REPO / "evidence"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _cpuinfo(field: str) -> str:
    # the first value of a /proc/cpuinfo field ("" where there is no such file or field)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _cpu_model() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def _cpu_vector_isa() -> str:
    # the instruction sets XLA's CPU code generation picks from (/proc/cpuinfo's flags)
    flags = _cpuinfo("flags").split()
    return " ".join(sorted(f for f in flags if f.startswith(("avx", "fma", "sse4", "amx", "f16c"))))


def _xla_threads() -> str:
    # XLA's CPU kernels split their sums over its thread pool: the thread count is part of how a
    # float32 training run rounds (the book runs each notebook on one, make evidence on all cores)
    if "--xla_cpu_multi_thread_eigen=false" in os.environ.get("XLA_FLAGS", ""):
        return "1"
    return f"{os.cpu_count()} (XLA's default pool)"


def host() -> dict:
    """This process's CPU as the provenance records it: ``cpu`` (model), ``cpu_isa`` (vector
    instruction sets) and ``xla_threads`` (XLA's CPU thread pool, from ``XLA_FLAGS``)."""
    return dict(cpu=_cpu_model(), cpu_isa=_cpu_vector_isa(), xla_threads=_xla_threads())


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(device: str = "cpu") -> dict:
    """Who, where and what computed a run: commit, lock hashes, machine, load, date.

    Returns
    -------
    dict
        ``commit`` (and ``dirty``: uncommitted changes to tracked files), ``sha256`` of
        ``env/requirements.txt`` and ``env/core-requirements.txt``, :func:`host` (``cpu``,
        ``cpu_isa``, ``xla_threads``), ``cores``, ``gpu`` (JAX GPU devices, or ``"none"``),
        ``load_avg`` (1/5/15 min at the start: this machine is shared), ``niceness`` (the run's
        scheduling priority), ``python``, ``jax``, ``date`` (UTC, ISO 8601).
    """
    import jax

    gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    return dict(
        load_note=load_note(load, cores),
        commit=_git("rev-parse", "HEAD") or "unknown",
        dirty=bool(_git("status", "--porcelain", "--untracked-files=no")),
        sha256={
            name: _sha256(_REPO / "env" / name) for name in ("requirements.txt", "core-requirements.txt")
        },
        **host(),
        cores=os.cpu_count(),
        gpu=", ".join(gpus) or "none",
        device=device,
        load_avg=[round(v, 2) for v in os.getloadavg()],
        niceness=os.nice(0),
        python=platform.python_version(),
        jax=jax.__version__,
        date=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )


def _cpu_words(cpu: dict) -> str:
    if not cpu.get("cpu"):
        return "an unrecorded CPU"
    isa = set((cpu.get("cpu_isa") or "").split())
    if not isa:
        return f"{cpu['cpu']} (instruction sets not recorded)"
    widest = next(
        (w for f, w in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")) if f in isa), "SSE"
    )
    return f"{cpu['cpu']} ({widest}, XLA threads: {cpu.get('xla_threads') or 'unrecorded'})"


def load_note(load: float, cores: int) -> str:
    """The provenance's words on the machine's load at the start of a run."""
    if load > cores:
        return (
            f"loaded: load average {load:.1f} on {cores} cores (a shared machine, other jobs "
            "running); wall times overstate the cost on a quiet machine"
        )
    return f"quiet: load average {load:.1f} on {cores} cores"


def _path(claim_id: str, root: str | os.PathLike | None) -> Path:
    return Path(root or default_dir()) / f"{claim_id}.json"


def _skeleton(ladder: Ladder) -> dict:
    return dict(
        claim=ladder.id,
        chapter=ladder.chapter,
        ledger_ids=list(ladder.ledger_ids),
        source=ladder.source,
        statement=ladder.statement,
        size_name=ladder.size_name,
        note=ladder.note,
        rung0_call=ladder.rung0_call,
        targets=[
            dict(
                key=t.key,
                paper=t.paper,
                rule=t.rule,
                tol=t.tol,
                threshold=t.threshold,
                label=t.label,
                criterion=t.criterion(),
            )
            for t in ladder.targets
        ],
        rungs=[],
        trend={},
        runs=[],
    )


def read(claim_id: str, root: str | os.PathLike | None = None) -> dict:
    """The stored evidence of one claim (an empty skeleton when nothing is stored yet)."""
    path = _path(claim_id, root)
    if not path.is_file():
        return _skeleton(get(claim_id))
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and re-run `make evidence`.") from None


def write(doc: dict, root: str | os.PathLike | None = None) -> Path:
    """Write one claim's evidence atomically (temporary file, then ``os.replace``)."""
    path = _path(doc["claim"], root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def _rung(doc: dict, size: int, device: str) -> dict:
    for r in doc["rungs"]:
        if r["size"] == size:
            return r
    rung = dict(size=int(size), device=device, records={}, wall_s=0.0, summary=None)
    doc["rungs"].append(rung)
    doc["rungs"].sort(key=lambda r: r["size"])
    return rung


_DESCRIPTION = ("chapter", "ledger_ids", "source", "statement", "size_name", "note", "rung0_call", "targets")
"""The fields of a stored claim that describe it: copied from the registry (:data:`LADDERS`) at
every write, so an edited note or label never lingers in the store beside the records."""


def summarize(doc: dict) -> dict:
    """Recompute every rung's summary (>= 2 seeds) and the gap trend of each target, in place,
    and take the claim's description (:data:`_DESCRIPTION`) from the registry."""
    ladder = get(doc["claim"])
    doc.update({k: v for k, v in _skeleton(ladder).items() if k in _DESCRIPTION})
    judged = []
    for rung in doc["rungs"]:
        recs = {int(s): r["values"] for s, r in rung["records"].items()}
        rung["wall_s"] = round(sum(r["seconds"] for r in rung["records"].values()), 2)
        rung["summary"] = judge_rung(recs, ladder.targets) if len(recs) >= 2 else None
        if rung["summary"] is not None:
            judged.append(rung["summary"])
    doc["trend"] = {t.key: gap_trend(judged, t.key) for t in ladder.targets} if len(judged) >= 2 else {}
    return doc


def record_seed(
    doc: dict,
    size: int,
    seed: int,
    values: dict,
    seconds: float,
    run: int,
    device: str = "cpu",
    root: str | os.PathLike | None = None,
    *,
    cpu_s: float | None = None,
) -> Path:
    """Add one finished ``(rung, seed)`` record, re-judge, and write the file atomically.

    ``seconds`` is the record's wall time; ``cpu_s`` the process CPU time it took (all threads),
    which on a loaded machine says more about the cost on a quiet one.
    """
    clean = {k: float(v) for k, v in values.items()}
    bad = [k for k, v in clean.items() if not np.isfinite(v)]
    if bad:
        raise ValueError(
            f"claim {doc['claim']!r}, size {size}, seed {seed}: non-finite values for {bad}; nothing stored."
        )
    rec = dict(values=clean, seconds=round(seconds, 3), run=run)
    if cpu_s is not None:
        rec["cpu_s"] = round(float(cpu_s), 3)
    _rung(doc, size, device)["records"][str(int(seed))] = rec
    return write(summarize(doc), root)


def _ledger_evidence(ledger_root: Path) -> dict[str, tuple[str, dict]]:
    """``{ledger claim id: (chapter file, its "evidence" field)}`` over every ledger file."""
    found = {}
    for path in sorted(Path(ledger_root).glob("*.json")):
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if payload.get("seed", 0) != 0:
            continue  # the store's rung 0, seed 0 is NTKBOOK_SEED=0's value
        for rec in payload.get("claims", []):
            ev = rec.get("evidence") if isinstance(rec, dict) else None
            if isinstance(ev, dict) and ev.get("values"):
                found[rec.get("id", "")] = (path.name, ev)
    return found


def check_stale(
    ledger_root: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    verbose: bool = True,
) -> dict[str, str]:
    """Compare the stored rung-0, seed-0 values with the live ones the chapters recorded.

    A chapter wired to the evidence records, in its ledger entry (``build/claims/<ch>.json``,
    :func:`ntkbook.claims.ledger_dir`), a field ``"evidence": {"claim": id, "size": n,
    "values": {key: value}}`` computed by the ladder's own measure at its ``ci`` size.  Claims
    whose ledger records carry no such field yet are skipped with a printed note.

    Parameters
    ----------
    ledger_root
        Folder of the chapters' ledger files (default :func:`ntkbook.claims.ledger_dir`).
    root
        The evidence store (default :func:`default_dir`).
    rtol, atol
        Tolerance of the comparison (the same computation; only summation order may differ).
    verbose
        Print one line per claim.

    Returns
    -------
    dict
        ``{claim id: "fresh" | "fresh (...)" | "skipped: <why>"}``.  Keys a ladder lists as
        ``host_dependent`` (float32 training) are compared only when this process's :func:`host`
        (CPU model, instruction sets, XLA threads) is the stored seed-0 record's; otherwise the
        status names them.

    Raises
    ------
    StaleEvidenceError
        Naming every claim whose stored value or ``ci`` size differs from the live one.
    """
    from .. import claims

    live = _ledger_evidence(Path(ledger_root) if ledger_root else claims.ledger_dir())
    here = host()
    status, stale = {}, []
    for ladder in LADDERS:
        doc = read(ladder.id, root)
        rung0 = doc["rungs"][0] if doc["rungs"] else None
        stored = rung0["records"].get("0") if rung0 else None
        hits = [(lid, live[lid]) for lid in ladder.ledger_ids if lid in live]
        if rung0 is None or stored is None:
            status[ladder.id] = "skipped: nothing stored yet (run `make evidence`)"
        elif not hits:
            status[ladder.id] = "skipped: the chapter's ledger records carry no rung-0 evidence values yet"
        else:
            runs = doc.get("runs", [])
            run = runs[stored["run"]] if 0 <= stored.get("run", -1) < len(runs) else {}
            there = {k: run.get(k) for k in here}
            # float32 training compiles for the host CPU: its numbers only match on the same CPU
            # with the same XLA threads (a record made before these were recorded never does);
            # the chapters' host is this process's (A4 checks in the book's own kernel environment)
            unmatched = set(ladder.host_dependent) if there != here else set()
            problems, compared, uncompared = [], set(), set()
            for lid, (fname, ev) in hits:
                if int(ev.get("size", -1)) != rung0["size"]:
                    problems.append(
                        f"{lid} ({fname}) ran size {ev.get('size')}, the store's rung 0 is {rung0['size']}"
                    )
                for key, value in ev["values"].items():
                    if key in unmatched:
                        uncompared.add(key)
                        continue
                    compared.add(key)
                    ref = stored["values"].get(key)
                    if ref is None or not np.isclose(float(value), ref, rtol=rtol, atol=atol):
                        problems.append(f"{lid} ({fname}): {key} live {value!r} vs stored {ref!r}")
            why = (
                f"{', '.join(sorted(uncompared))} not compared: float32 training, stored on "
                f"{_cpu_words(there)}, run here on {_cpu_words(here)}"
            )
            if problems:
                stale.append(f"{ladder.id}: " + "; ".join(problems))
                status[ladder.id] = "stale"
            elif not uncompared:
                status[ladder.id] = "fresh"
            elif compared:
                status[ladder.id] = f"fresh ({', '.join(sorted(compared))}); {why}"
            else:
                status[ladder.id] = f"skipped: {why}"
        if verbose:
            print(f"evidence {ladder.id}: {status[ladder.id]}")
    if stale:
        raise StaleEvidenceError(
            f"stale evidence (re-run `make evidence`) for {len(stale)} claim(s):\n  " + "\n  ".join(stale)
        )
    return status
