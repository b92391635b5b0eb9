"""env/api_reference.py, the generator of book/api.md: which modules it lists and which it skips.

The reference is the package on disk, walked here independently of the generator (every
``.py`` file under ``ntkbook/``), so a module added to the package must show up.
"""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.core

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("api_reference", REPO / "env" / "api_reference.py")
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)


def _listed(text: str) -> set[str]:
    return {
        line.split("automodule:: ")[1].strip()
        for line in text.splitlines()
        if line.startswith(".. automodule:: ")
    }


def test_every_public_module_is_listed_once_and_private_ones_are_not():
    text = api.render()
    listed = _listed(text)
    assert len(listed) == text.count(".. automodule:: ")  # each once
    files = sorted((REPO / "ntkbook").rglob("*.py"))
    names = set()
    for f in files:
        parts = list(f.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.add(".".join(parts))
    private = {n for n in names if any(p.startswith("_") for p in n.split(".")[1:])}
    assert listed == names - private - {"ntkbook"}
    for new in ("ntkbook.linalg", "ntkbook.losses", "ntkbook.cntk_depths", "ntkbook.dynamics.loop"):
        assert new in listed


def test_packages_show_their_docstring_only():
    # a package re-exports its submodules' names: documenting its members would describe
    # every object twice (an ambiguous cross-reference fails the book build)
    text = api.render()
    block = text.split(".. automodule:: ntkbook.dynamics\n")[1].split("```")[0]
    assert ":members:" not in block
    block = text.split(".. automodule:: ntkbook.linalg\n")[1].split("```")[0]
    assert ":members:" in block
