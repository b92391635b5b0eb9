"""``ntkbook-audit --out`` is checked before any computation (issue 25).

An ``--out`` naming an existing file, or a folder that already holds files (without
``--replace``), must be refused with a message naming ``--out`` *before* the data are loaded or a
Gram matrix is computed -- not after minutes of work, when the save finds the folder taken.

"Before" is proven by replacing the two steps the CLI runs, the loader and the audit pipeline
(whose first heavy step is the Gram matrix), by recorders that count their calls and stop the run:
a refusal that comes late is seen as a recorded call.  A control run into a new folder shows that
the recorders sit where the CLI looks them up (a patch on a name the CLI does not use would make
the check vacuous).  No real computation happens, so each test takes milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ntkbook.audit import cli

pytestmark = pytest.mark.core  # needs neither neural-tangents nor a computation


class _Stopped(Exception):
    """Raised by the recorders: the CLI reached the computation."""


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Replace the CLI's loader and audit pipeline by recorders; return the list of calls."""
    seen: list[str] = []

    def recorder(step: str):
        def record(*args, **kwargs):
            seen.append(step)
            raise _Stopped(step)

        return record

    monkeypatch.setattr(cli, "load", recorder("load"))
    monkeypatch.setattr(cli, "audit", recorder("audit"))
    return seen


@pytest.fixture
def data(tmp_path) -> Path:
    """A small valid .npz (two classes); its contents never matter, it is never read."""
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(8, 3)), y=np.repeat([0, 1], 4))
    return path


def _run(data: Path, out: Path, *extra: str) -> int | None:
    """Exit status of the CLI, or None when it reached the computation."""
    try:
        return cli.main([str(data), "--out", str(out), "--no-progress", *extra])
    except _Stopped:
        return None


def test_control_a_new_out_reaches_the_computation(tmp_path, data, calls):
    # Without this the tests below could pass with recorders the CLI never calls.
    assert _run(data, tmp_path / "new") is None
    assert calls == ["load"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(data, empty) is None  # an empty folder is a valid --out
    assert calls == ["load", "load"]


def test_out_naming_an_existing_file_is_refused_before_loading(tmp_path, data, calls, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("mine")
    status = _run(data, taken)
    assert calls == [], f"--out was checked only after {calls}"
    assert status == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(taken) in err and "existing file" in err
    assert taken.read_text() == "mine"
    # --replace does not turn a file into a folder
    assert _run(data, taken, "--replace") == 2 and calls == []
    assert taken.read_text() == "mine"


def test_out_naming_a_full_folder_is_refused_before_loading(tmp_path, data, calls, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    status = _run(data, full)
    assert calls == [], f"--out was checked only after {calls}"
    assert status == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(full) in err and "--replace" in err
    assert [p.name for p in full.iterdir()] == ["notes.txt"]
    assert (full / "notes.txt").read_text() == "mine"
    # with --replace the same folder is accepted: the run goes on to the computation
    assert _run(data, full, "--replace") is None and calls == ["load"]
