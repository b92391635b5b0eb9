"""Scale profiles and the architecture zoo."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from ntkbook import archs, config


def test_scale_profiles(monkeypatch):
    monkeypatch.delenv("NTKBOOK_SCALE", raising=False)
    assert config.scale() == "ci"
    monkeypatch.setenv("NTKBOOK_SCALE", "paper")
    assert config.scale() == "paper"
    monkeypatch.setenv("NTKBOOK_SCALE", "huge")
    with pytest.raises(ValueError, match="NTKBOOK_SCALE='huge'.*'ci', 'paper'"):
        config.scale()


def test_every_chapter_has_sizes_in_every_profile():
    chapters = set(config.chapters("ci"))
    assert chapters == set(config.chapters("paper")) and "ch03" in chapters
    for ch in chapters:
        assert set(config.sizes(ch, "ci")) == set(config.sizes(ch, "paper")), ch
    with pytest.raises(ValueError, match="known chapters"):
        config.sizes("ch99")


def test_sizes_are_read_only():
    with pytest.raises(TypeError):
        config.sizes("ch03", "ci")["n"] = 1


def test_data_root(monkeypatch, tmp_path):
    """Expected folders written out by hand: argument, else NTKBOOK_DATA, else ~/ntkbook-data,
    with ``~`` meaning $HOME (set here, so the expectation does not come from the code)."""
    from pathlib import Path

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NTKBOOK_DATA", str(tmp_path / "env"))
    assert config.data_root() == tmp_path / "env"
    assert config.data_root("/elsewhere") == Path("/elsewhere")  # argument wins
    assert config.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert config.data_root("~/mine") == home / "mine"
    monkeypatch.setenv("NTKBOOK_DATA", "~/from-env")
    assert config.data_root() == home / "from-env"
    monkeypatch.delenv("NTKBOOK_DATA")
    assert config.data_root() == home / "ntkbook-data"


def test_zoo_names_and_descriptions():
    assert {"2-L", "10-L", "CNN-1", "CNN-2", "CNN-3", "CNN-1-GAP"} <= set(archs.names())
    for name in archs.names():
        assert archs.describe(name)
    with pytest.raises(ValueError, match="known architectures"):
        archs.get("ResNet-50")
    with pytest.raises(ValueError, match="parameterization="):
        archs.get("2-L", parameterization="mup")


@pytest.mark.parametrize("name", ["2-L", "CNN-1", "CNN-1-GAP"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_finite_network_shapes(key, name, ndim):
    shape = (3, 8, 8, 1) if ndim == 2 else (3, 40, 1)
    init_fn, apply_fn, kernel_fn = archs.get(name, out_dim=4, width=16, ndim=ndim)
    _, params = init_fn(key, shape)
    x = np.ones(shape)
    assert apply_fn(params, x).shape == (3, 4)
    assert kernel_fn(x, None, "ntk").shape == (3, 3)


def test_width_counts_parameters(key):
    init_fn, _, _ = archs.get("2-L", width=32)
    _, params = init_fn(key, (1, 8, 8, 1))
    n = sum(p.size for p in jax.tree_util.tree_leaves(params))
    assert n == 64 * 32 + 32 + 32 * 10 + 10


def test_ndim_of():
    assert archs.ndim_of((8, 8, 1)) == 2 and archs.ndim_of((40, 1)) == 1


@pytest.mark.parametrize("raw,expected", [("", 0), ("7", 7), (" 3 ", 3)])
def test_seed_comes_from_the_environment(raw, expected):
    # a fresh interpreter: SEED is read once, when ntkbook.config is imported
    out = subprocess.run(
        [sys.executable, "-c", "from ntkbook import config; print(config.SEED)"],
        env={**os.environ, "NTKBOOK_SEED": raw},
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout.strip()) == expected


@pytest.mark.parametrize("raw", ["-1", "1.5", "abc"])
def test_bad_seed_in_the_environment_is_refused(raw):
    out = subprocess.run(
        [sys.executable, "-c", "import ntkbook.config"],
        env={**os.environ, "NTKBOOK_SEED": raw},
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "NTKBOOK_SEED must be a non-negative integer" in out.stderr
