"""The version is written once (pyproject.toml's ``[project] version``); everything else must agree.

``ntkbook.__version__`` reads the installed metadata, which setuptools takes from
pyproject.toml; CITATION.cff's ``version`` is typed by hand (the Citation File Format has no
include), so this test is what keeps it from drifting.  The references are the two files read
as text, not the package's own reading of them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import ntkbook

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # a static version: were it declared dynamic, its source would have to be checked instead
    assert "version" not in project.get("dynamic", []), "pyproject.toml declares the version dynamic"
    return str(project["version"])


def _citation_version() -> str:
    # the top-level key only (``cff-version`` is the format's version, not ours; references'
    # keys are indented)
    found = re.findall(r"^version:\s*(.+?)\s*$", (ROOT / "CITATION.cff").read_text(encoding="utf-8"), re.M)
    assert len(found) == 1, f"CITATION.cff must have exactly one top-level 'version:' line; found {found}"
    return found[0].strip("'\"")


def test_version_is_written_once():
    want = _pyproject_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+([a-z0-9.+-]*)?", want), want
    assert _citation_version() == want, (
        f"CITATION.cff has version {_citation_version()!r} but pyproject.toml has {want!r}: "
        "update CITATION.cff (and date-released, if set) when the version changes"
    )
    assert ntkbook.__version__ == want, (
        f"ntkbook.__version__ is {ntkbook.__version__!r} but pyproject.toml has {want!r}: "
        "the installed metadata is stale; reinstall with `pip install --no-deps -e .`"
    )
