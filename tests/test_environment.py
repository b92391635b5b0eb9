"""The environment: quiet imports and the reproducibility report."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from ntkbook import config

_IMPORTS = """
import sys
import ntkbook, ntkbook.gram, neural_tangents as nt
from neural_tangents import stax
assert "tensorflow" not in sys.modules, "TensorFlow imported with neural-tangents"
fn = nt.experimental.empirical_ntk_fn_tf       # first use: the real module loads now
from neural_tangents.experimental.empirical_tf.empirical import empirical_ntk_fn_tf
assert fn is empirical_ntk_fn_tf and "tensorflow" in sys.modules
"""


def test_tensorflow_waits_for_first_use_and_prints_no_noise():
    """`import ntkbook` then neural-tangents imports no TensorFlow; the TensorFlow interop
    still loads on first use, and nothing is written to stdout or stderr either way."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run(
        [sys.executable, "-c", _IMPORTS], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == "" and out.stderr == "", out.stderr[-2000:]


def _pins(lines) -> dict[str, str]:
    """name -> version of every `name==version` requirement (names normalised as pip does)."""
    import re

    pins = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^]]*\])?==([^\s;#]+).*", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(3)
    return pins


def test_lock_agrees_with_every_pin_of_pyproject():
    """env/requirements.txt (what `make env` installs, --no-deps) holds every package that
    pyproject.toml pins for the book's environment, at the same version."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = _pins(
        project["dependencies"]
        + [r for extra in ("test", "book", "lab") for r in project["optional-dependencies"][extra]]
    )
    lock = _pins((root / "env" / "requirements.txt").read_text().splitlines())
    assert len(wanted) > 20 and len(lock) > len(wanted)
    assert {name: lock.get(name) for name in wanted} == wanted


def test_notebook_stack_imports_without_the_iri_format_checker():
    """The lock leaves out rfc3987-syntax (and lark, its only user): jsonschema imports it when
    present, through nbformat in every kernel (myst_nb.glue), and it costs 2.9 s of CPU there."""
    from pathlib import Path

    lock = _pins((Path(__file__).resolve().parents[1] / "env" / "requirements.txt").read_text().splitlines())
    assert "rfc3987-syntax" not in lock and "lark" not in lock
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, nbformat, myst_nb.ext.glue; print('rfc3987_syntax' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_environment_report_matches_installed_versions():
    report = config.environment()
    assert report["packages"]["jax"] == metadata.version("jax") == "0.4.23"
    assert report["packages"]["neural-tangents"] == "0.6.5"
    assert report["scale"] == config.scale() and report["seed"] == config.SEED
    assert report["cpu_count"] >= 1 and report["devices"]


def test_make_test_executes_each_notebook_once():
    """`make test` (dry run): no nbmake pass, one from-scratch book build, claims emptied first,
    the core suite in .venv-core, the browser test after the build."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "test"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert not [l for l in lines if "nbmake" in l], "make test must not execute notebooks with nbmake"
    builds = [i for i, l in enumerate(lines) if "jupyter-book build book --all" in l]
    assert len(builds) == 1, lines
    claims = [i for i, l in enumerate(lines) if l.startswith("rm -f") and "claims" in l]
    browser = [i for i, l in enumerate(lines) if "tests/test_browser.py" in l]
    core = [i for i, l in enumerate(lines) if ".venv-core/bin/python -m pytest" in l]
    assert claims and claims[-1] < builds[0] < browser[0], lines
    assert core and core[0] < builds[0]
    # the notebooks run on every core, even though make test gives each job one thread
    # (nproc would read OMP_NUM_THREADS=1 as one core)
    executor = [l for l in lines if "env/execute_notebooks.py" in l]
    assert len(executor) == 1 and f"--workers {len(__import__('os').sched_getaffinity(0))}" in executor[0], (
        executor
    )


def test_make_notebook_keeps_its_ledger_away_from_the_full_build():
    """`make notebook` (dry run) writes its claims-ledger records to build/claims-single:
    an interrupted or single-chapter run must never replace the records the appendix reads."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "notebook", "NB=notebooks/03_mlp_ntk.ipynb"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.replace("\\\n", " ").splitlines()  # join continued lines
    run = [l for l in lines if "nbconvert --to notebook --execute" in l]
    # the ledger goes to build/claims-single, the executed copy to build/executed
    assert len(run) == 1 and "build/claims-single" in run[0] and "build/executed" in run[0], run


def test_claims_ledger_appendix_is_executed_after_every_chapter():
    """Sphinx reads (so myst-nb executes) documents in sorted docname order: the ledger page,
    which reads the chapters' records, must sort after every chapter in the table of contents."""
    import re
    from pathlib import Path

    toc = (Path(__file__).resolve().parents[1] / "book" / "_toc.yml").read_text()
    docs = re.findall(r"file:\s*(notebooks/\S+)", toc)
    ledger = [d for d in docs if "claims_ledger" in d]
    chapters = [d for d in docs if re.match(r"notebooks/\d\d_", d)]
    assert len(ledger) == 1 and chapters
    assert all(c < ledger[0] for c in chapters), (chapters, ledger)


def test_notebook_kernels_get_their_share_of_the_cores(monkeypatch):
    """env/execute_notebooks.py sizes each kernel's thread pools to cores // workers."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "env" / "execute_notebooks.py"
    spec = importlib.util.spec_from_file_location("execute_notebooks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NTKBOOK_BLOCK_THREADS",
        "XLA_FLAGS",
    ):
        monkeypatch.delenv(var, raising=False)
    assert module.kernel_thread_env(1, cores=2) == {}
    two = module.kernel_thread_env(2, cores=2)
    assert two["OMP_NUM_THREADS"] == two["OPENBLAS_NUM_THREADS"] == two["NTKBOOK_BLOCK_THREADS"] == "1"
    assert two["XLA_FLAGS"] == ("--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    assert module.kernel_thread_env(4, cores=16)["MKL_NUM_THREADS"] == "4"
    # the user's own settings are kept, their XLA flags extended
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    mine = module.kernel_thread_env(2, cores=2)
    assert mine["OPENBLAS_NUM_THREADS"] == "3"
    assert mine["XLA_FLAGS"].startswith("--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false")
    monkeypatch.setenv("XLA_FLAGS", "--intra_op_parallelism_threads=2")
    assert module.kernel_thread_env(2, cores=2)["XLA_FLAGS"] == "--intra_op_parallelism_threads=2"
