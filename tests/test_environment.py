"""The environment: quiet imports and the reproducibility report."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from ntkbook import config


def test_import_prints_no_tensorflow_noise():
    """`import ntkbook` (and neural-tangents after it) writes nothing to stdout or stderr."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", "import ntkbook, ntkbook.gram, neural_tangents"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == "", out.stderr[-2000:]


def test_environment_report_matches_installed_versions():
    report = config.environment()
    assert report["packages"]["jax"] == metadata.version("jax") == "0.4.23"
    assert report["packages"]["neural-tangents"] == "0.6.5"
    assert report["scale"] == config.scale() and report["seed"] == config.SEED
    assert report["cpu_count"] >= 1 and report["devices"]
