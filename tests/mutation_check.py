"""Plant a fixed list of bugs in the input-checking and scoring modules (and the kernel layers,
the Gram cache and acquisition's tie order), one at a time, and report which ones the tests
miss (issue 25).  Run by hand, from the repository root:

    .venv/bin/python tests/mutation_check.py [--only ID ...] [--list] [--timeout S] [--rev HEAD]

Each mutant is a text substitution (it must match exactly once) applied to a *temporary copy*
of ``ntkbook/`` and ``tests/`` -- the working tree is never modified.  The relevant test files
then run in that copy (``python -m pytest -x``, so the copy's package is the one imported).  A
mutant is *killed* when a test fails, *survived* when all pass.  The unmutated copy runs first:
if it fails, the check stops (a broken baseline would make every mutant look killed).  Exit
status: 0 when every mutant is killed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

AUDIT_T = ["tests/test_bad_inputs_audit.py", "tests/test_audit_out.py"]
METRICS_T = ["tests/test_metrics.py", "tests/test_bad_inputs_metrics.py"]
CF_T = ["tests/test_bad_inputs_closed_form.py", "tests/test_closed_form.py"]
DATA_T = ["tests/test_bad_inputs_data.py", "tests/test_data.py"]
TASKS_T = [
    "tests/test_bad_inputs_tasks.py",
    "tests/test_architecture_tasks.py",
    "tests/test_complexity_gap_multiclass.py",
]
FLOW_T = ["tests/test_bad_inputs_dynamics.py", "tests/test_flow.py"]
LP_T = ["tests/test_bad_inputs_learning_paths.py", "tests/test_learning_paths.py"]
CHECKS_T = ["tests/test_bad_inputs_checks.py"]

# (id, file, [(old, new), ...], test files)
MUTANTS: list[tuple[str, str, list[tuple[str, str]], list[str]]] = [
    ("rbo-p-to-1-p", "ntkbook/metrics.py", [("rbo_ext(p=p)", "rbo_ext(p=1 - p)")], METRICS_T),
    (
        "noise-found-ceil-to-floor",
        "ntkbook/metrics.py",
        [("np.ceil(frac * len(score) - 1e-9)", "np.floor(frac * len(score) + 1e-9)")],
        METRICS_T,
    ),
    (
        "noise-found-tie-order",
        "ntkbook/metrics.py",
        [('top = np.argsort(-score, kind="stable")[:k]', 'top = np.argsort(score, kind="stable")[::-1][:k]')],
        METRICS_T,
    ),
    (
        "roc-auc-rank-offset",
        "ntkbook/metrics.py",
        [("n_pos * (n_pos + 1) / 2", "n_pos * (n_pos - 1) / 2")],
        METRICS_T,
    ),
    (
        "closed-form-float32-kept",
        "ntkbook/closed_form.py",
        [("if jax.config.jax_enable_x64 and (", "if False and (")],
        CF_T,
    ),
    (
        "closed-form-impossible-covariance-accepted",
        "ntkbook/closed_form.py",
        [("bad = excess > _DET_SNAP_ULPS * eps * prod", "bad = excess > 1e6 * prod")],
        CF_T,
    ),
    (
        "closed-form-k11-shape-broadcasts",
        "ntkbook/closed_form.py",
        [("if shape != want and shape != s12:", "if len(shape) != len(s12):")],
        CF_T,
    ),
    (
        "closed-form-zero-features",
        "ntkbook/closed_form.py",
        [("if arr.shape[0] == 0 or arr.shape[1] == 0:", "if arr.shape[0] == 0:")],
        CF_T,
    ),
    (
        "closed-form-obtuse-folded-to-acute",
        "ntkbook/closed_form.py",
        [("return root, jnp.arctan2(root, k12)", "return root, jnp.arctan2(root, jnp.abs(k12))")],
        CF_T,
    ),
    (
        "audit-16-bit-clipped-at-255",
        "ntkbook/audit/loaders.py",
        [("arr = raw.astype(np.float64) / top", "arr = np.minimum(raw, 255).astype(np.float64) / 255.0")],
        AUDIT_T,
    ),
    (
        "audit-hidden-files-read",
        "ntkbook/audit/loaders.py",
        [('if not f.name.startswith(".") and f.suffix', "if f.suffix")],
        AUDIT_T,
    ),
    (
        "audit-3d-npz-as-signals",
        "ntkbook/audit/loaders.py",
        [('layout = "signals" if b in (1, 3) else "images"', 'layout = "signals"')],
        AUDIT_T,
    ),
    (
        "audit-out-overwritten",
        "ntkbook/audit/report.py",
        [("if not replace and any(out.iterdir()):", "if False:")],
        AUDIT_T,
    ),
    (
        "audit-out-checked-after-computation",
        "ntkbook/audit/cli.py",
        [("check_out(args.out, args.replace)  # fail before", "pass  # fail before")],
        AUDIT_T,
    ),
    (
        "audit-save-not-atomic",
        "ntkbook/audit/report.py",
        [
            (
                'tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))',
                "out.mkdir(exist_ok=True)\n        tmp = out",
            ),
            ("            _swap_in(tmp, out)\n", "            pass\n"),
            ("            check_out(out, replace)  # nothing appeared there meanwhile\n", ""),
            ("            if tmp.exists():\n", "            if tmp != out and tmp.exists():\n"),
        ],
        AUDIT_T,
    ),
    (
        "audit-seed-option-unnamed",
        "ntkbook/audit/cli.py",
        [('at_least(args.seed, "--seed", 0)', "pass")],
        AUDIT_T,
    ),
    (
        "data-count-mismatch-accepted",
        "ntkbook/data.py",
        [("_check_split(x, y, 10, str(paths[0]), str(paths[1]))", "pass")],
        DATA_T,
    ),
    ("data-label-above-k-accepted", "ntkbook/data.py", [("bad = (y < 0) | (y >= k)", "bad = y < 0")], DATA_T),
    (
        "data-bad-gzip-unnamed",
        "ntkbook/data.py",
        [("except (OSError, EOFError, zlib.error) as err:", "except zlib.error as err:")],
        DATA_T,
    ),
    (
        "data-truncated-pickle-unnamed",
        "ntkbook/data.py",
        [("        pickle.UnpicklingError,\n        EOFError,\n", "        pickle.UnpicklingError,\n")],
        DATA_T,
    ),
    (
        "cg-binary-formula",
        "ntkbook/tasks/complexity_gap.py",
        [
            (
                "    sol = _solve(H, y_pm, reg)\n    return sol.alpha**2 / diag_of_inverse(sol.factor)",
                "    sol = _solve(H, y_pm, reg)\n    return sol.alpha**2 * diag_of_inverse(sol.factor)",
            )
        ],
        TASKS_T,
    ),
    (
        # issue 25: a stop rule that demands a 1e-3 relative decrease of L stops too early
        "refurbish-stop-demands-relative-decrease",
        "ntkbook/tasks/refurbish.py",
        [
            (
                'if stop == "auto" and not L_new < L_now:',
                'if stop == "auto" and not L_new < L_now - 1e-3 * abs(L_now):',
            )
        ],
        ["tests/test_refurbish_stop.py"],
    ),
    (
        "cg-multiclass-square-of-sum",
        "ntkbook/tasks/complexity_gap.py",
        [("np.sum(sol.alpha**2, axis=1)", "np.sum(sol.alpha, axis=1) ** 2")],
        TASKS_T,
    ),
    (
        "cg-errors-name-solver-variables",
        "ntkbook/tasks/complexity_gap.py",
        [('raise ValueError("H" + msg[1:]) from err', "raise")],
        TASKS_T,
    ),
    (
        "kpca-ratio-inverted",
        "ntkbook/tasks/architecture.py",
        [
            (
                "ratio, ratio_std = _ratio(mi, ma), _ratio(si, sa)",
                "ratio, ratio_std = _ratio(ma, mi), _ratio(si, sa)",
            )
        ],
        TASKS_T,
    ),
    (
        "kpca-empty-unchecked",
        "ntkbook/tasks/architecture.py",
        [
            (
                '    H = _checks.nonempty(_checks.symmetric_matrix(H, "H"), "H")\n    n = H.shape[0]\n'
                "    n_components",
                '    H = _checks.symmetric_matrix(H, "H")\n    n = H.shape[0]\n    n_components',
            )
        ],
        TASKS_T,
    ),
    (
        "flow-phi-zero-eigenvalue-limit",
        "ntkbook/dynamics/flow.py",
        [
            (
                "return np.where(lam[None, :] > 0, out, t[:, None])",
                "return np.where(lam[None, :] > 0, out, 0.0 * t[:, None])",
            )
        ],
        FLOW_T,
    ),
    (
        "flow-empty-unchecked",
        "ntkbook/dynamics/flow.py",
        [
            (
                'theta = _checks.nonempty(_checks.symmetric_matrix(theta, "theta"), "theta")\n    n = ',
                'theta = _checks.symmetric_matrix(theta, "theta")\n    n = ',
            )
        ],
        FLOW_T,
    ),
    (
        "ema-weights-swapped",
        "ntkbook/learning_paths.py",
        [("p = (1.0 - alpha) * p + alpha * q[t]", "p = (1.0 - alpha) * q[t] + alpha * p")],
        LP_T,
    ),
    # the planted bugs issue 25 lists beyond the input checks: the core suite's kernel tests
    # (stored neural-tangents values), the Gram cache's fingerprint, acquisition tie order
    (
        "gap-conv-offset-loop-one-short",
        "ntkbook/layers.py",
        [("    for d in range(1, r + 1):\n        hi = ", "    for d in range(1, r):\n        hi = ")],
        ["tests/test_layers_core.py", "tests/test_core_independent.py"],
    ),
    (
        "gram-cache-fingerprint-without-batch-size",
        "ntkbook/gram_cache.py",
        [
            (
                'h.update(f"{kind}|{batch_size}|{kernel}|format{_FORMAT}".encode())',
                'h.update(f"{kind}|{kernel}|format{_FORMAT}".encode())',
            )
        ],
        ["tests/test_gram_engine.py", "tests/test_gram_cache_identity.py"],
    ),
    (
        "gram-cache-probe-at-1e-1",
        "ntkbook/gram_cache.py",
        [('",".join(f"{v:.10g}" for v in probe.ravel())', '",".join(f"{v:.1g}" for v in probe.ravel())')],
        ["tests/test_gram_engine.py", "tests/test_gram_cache_identity.py"],
    ),
    (
        "top-k-tie-order",
        "ntkbook/active.py",
        [('order = np.argsort(-scores, kind="stable")', 'order = np.argsort(scores, kind="stable")[::-1]')],
        ["tests/test_active.py", "tests/test_bad_inputs_active.py", "tests/test_active_ties.py"],
    ),
    ("checks-strings-parsed", "ntkbook/_checks.py", [('if raw.dtype.kind in "USV":', "if False:")], CHECKS_T),
    (
        "checks-nan-is-a-number",
        "ntkbook/_checks.py",
        [("    if not np.isfinite(v):\n", "    if False:\n")],
        CHECKS_T,
    ),
]


def _copy_tree(dest: Path, rev: str | None) -> None:
    """``ntkbook/``, ``tests/`` and the pytest settings, from the working tree or commit ``rev``."""
    names = ["ntkbook", "tests"] + [
        n for n in ("pyproject.toml", "setup.cfg", "pytest.ini") if (ROOT / n).exists()
    ]
    if rev is not None:  # a commit: what others half-edit in the tree cannot interfere
        dest.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", rev, *names], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in names:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, dest / name)


def _run(copy: Path, tests: list[str], timeout: float) -> tuple[str, float, str]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-W", "ignore", *tests],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    outcome = {0: "passed", 1: "failed"}.get(proc.returncode, f"error (rc {proc.returncode})")
    return outcome, time.perf_counter() - start, lines[0] if lines else proc.stdout[-300:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="mutant ids to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per test run")
    parser.add_argument(
        "--rev",
        default=None,
        help="mutate the package of this commit (e.g. HEAD) instead of the working tree",
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only]
    if args.list:
        for mid, path, _, tests in chosen:
            print(f"{mid:45s} {path:32s} {' '.join(tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="ntkbook-mutants-") as tmp:
        base = Path(tmp) / "base"
        _copy_tree(base, args.rev)
        for mid, path, subs, _ in chosen:  # the list must match the code before any run
            text = (base / path).read_text()
            for old, _new in subs:
                if text.count(old) != 1:
                    raise SystemExit(
                        f"mutant {mid}: {old!r} occurs {text.count(old)} times in "
                        f"{path}; the mutant list is out of date."
                    )
        all_tests = sorted({t for m in chosen for t in m[3]})
        outcome, secs, detail = _run(base, all_tests, args.timeout * 3)
        print(f"baseline (no mutant): {outcome} in {secs:.0f} s")
        if outcome != "passed":
            print(f"the unmutated copy fails; fix it first: {detail}")
            return 2
        survivors = []
        for mid, path, subs, tests in chosen:
            copy = Path(tmp) / mid
            shutil.copytree(base, copy)
            target = copy / path
            text = target.read_text()
            for old, new in subs:
                if text.count(old) != 1:
                    raise SystemExit(
                        f"mutant {mid}: {old!r} occurs {text.count(old)} times in "
                        f"{path}; the mutant list is out of date."
                    )
                text = text.replace(old, new)
            target.write_text(text)
            outcome, secs, detail = _run(copy, tests, args.timeout)
            verdict = "survived" if outcome == "passed" else "killed"
            if verdict == "survived":
                survivors.append(mid)
            print(
                f"{verdict:8s} {mid:45s} {secs:5.0f} s  {detail if verdict == 'killed' else ''}"[:200],
                flush=True,
            )
            shutil.rmtree(copy, ignore_errors=True)
    print(
        f"\n{len(chosen) - len(survivors)} of {len(chosen)} mutants killed; survivors: {survivors or 'none'}"
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
