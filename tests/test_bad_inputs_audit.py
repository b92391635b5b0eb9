"""ntkbook.audit against careless or unlucky input (issue 25): images of more than 8 bits are
scaled by their bit depth, never clipped; hidden and macOS ``._*`` files are skipped; a 3-D ``x``
is read the way the log says; ``--out`` never overwrites or mixes a user's files (tested with a
real SIGKILL in the middle of a save); bad options are named; and a bad-input table covers every
public function in ``audit.PUBLIC``."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from ntkbook import audit

NAN = float("nan")
ROW16 = np.array([[42, 602, 4000, 65535], [0, 1, 255, 256]], np.uint16)


def blobs():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(6, 4)) + 5 * np.eye(4)[k] for k in range(2)])
    return x, np.repeat([0, 1], 6)


def _tiny_figures(self):
    """Two small figures in place of the five real ones: these tests are about files, not plots
    (the real figures cost seconds per save on the 2-core CI machine)."""
    import matplotlib.pyplot as plt

    figs = {}
    for name in ("ranking", "z"):
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.plot(self.cg_scores)
        figs[name] = fig
    return figs


@pytest.fixture
def fast_figures(monkeypatch):
    monkeypatch.setattr(audit.AuditReport, "figures", _tiny_figures)


@pytest.fixture(scope="module")
def report():
    x, y = blobs()
    return audit.audit(x, y, arch="2-L", compare=(), shuffles=2, folds=2, progress=False)


def _png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG")


def _tiff_named_png(path: Path, arr: np.ndarray) -> None:
    """A TIFF (which can hold 32-bit and float images) under a .png name; PIL reads it by content."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="TIFF")


# ---------------------------------------------------------------------------
# images: bit depth, hidden files


def test_16_bit_png_is_scaled_by_its_depth_not_clipped(tmp_path):
    # the old loader converted to 8-bit "L": 42, 602, 4000 loaded as 42, 255, 255 (/255)
    _png(tmp_path / "a" / "0.png", ROW16)
    _png(tmp_path / "a" / "1.png", ROW16[::-1])
    _png(tmp_path / "b" / "0.png", np.full((2, 4), 7, np.uint8))  # 8-bit beside it
    _png(tmp_path / "b" / "1.png", np.full((2, 4), 255, np.uint8))
    notes = []
    x, y, names = audit.load_image_folder(tmp_path, notes=notes)
    assert x.shape == (4, 2, 4, 1) and names == ["a", "b"]
    # exact: k / 65535 and k / 255 are each one rounded division in float64
    np.testing.assert_array_equal(x[0, ..., 0], ROW16 / 65535.0)
    np.testing.assert_array_equal(x[1, ..., 0], ROW16[::-1] / 65535.0)
    np.testing.assert_array_equal(x[2, ..., 0], np.full((2, 4), 7 / 255.0))
    assert x[3].max() == 1.0 and "bit depth" in notes[0]


def test_16_bit_resize_keeps_the_16_bits(tmp_path):
    # a constant 16-bit image resized stays exactly that constant (no trip through 8 bits)
    for c in ("a", "b"):
        for i in range(2):
            _png(tmp_path / c / f"{i}.png", np.full((4, 6), 1234 + i, np.uint16))
    x, _, _ = audit.load_image_folder(tmp_path, size=(2, 3))
    assert x.shape == (4, 2, 3, 1)
    np.testing.assert_allclose(x[1, ..., 0], 1235 / 65535.0, rtol=1e-7)  # float32 resize: 3.7e-8


@pytest.mark.parametrize(
    "arr, match",
    [
        (np.array([[42, 602, 4000, 70000]], np.int32), r"mode 'I'.*32-bit"),
        (np.array([[0.1, 0.5, 2.0, 0.0]], np.float32), r"mode 'F'.*float"),
    ],
)
def test_32_bit_and_float_images_are_refused_naming_the_file(tmp_path, arr, match):
    _png(tmp_path / "a" / "0.png", np.zeros((1, 4), np.uint8))
    _tiff_named_png(tmp_path / "a" / "deep.png", arr)
    _png(tmp_path / "b" / "0.png", np.zeros((1, 4), np.uint8))
    with pytest.raises(ValueError, match=r"deep\.png.*" + match):
        audit.load_image_folder(tmp_path)


def test_hidden_and_macos_resource_files_are_skipped(tmp_path):
    for c in ("a", "b"):
        for i in range(2):
            _png(tmp_path / c / f"{i}.png", np.full((3, 3), 10 * i + 1, np.uint8))
        (tmp_path / c / f"._{c}0.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS
        (tmp_path / c / ".hidden.png").write_bytes(b"junk")
    (tmp_path / ".Trashes").mkdir()
    x, y, names = audit.load(tmp_path)
    assert names == ["a", "b"] and x.shape == (4, 3, 3, 1)
    np.testing.assert_array_equal(x[:, 0, 0, 0], np.array([1, 11, 1, 11]) / 255.0)


# ---------------------------------------------------------------------------
# .npz layouts


def _npz(tmp_path, x, y, name="d.npz"):
    path = tmp_path / name
    np.savez(path, x=x, y=y)
    return path


def test_3d_npz_is_read_as_greyscale_images_and_says_so(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((6, 5, 7))
    notes = []
    xx, _, _ = audit.load_npz(_npz(tmp_path, x, np.repeat([0, 1], 3)), notes=notes)
    assert xx.shape == (6, 5, 7, 1)
    np.testing.assert_array_equal(xx[..., 0], x)
    assert "greyscale images 5x7" in notes[0] and "--layout signals" in notes[0]
    # a channel-like last axis is a 1-D signal (ntkbook.data's mnist1d layout), said too
    notes = []
    xx, _, _ = audit.load_npz(_npz(tmp_path, x[..., :1], np.repeat([0, 1], 3)), notes=notes)
    assert xx.shape == (6, 5, 1) and "1-D signals of length 5" in notes[0]
    xx, _, _ = audit.load_npz(_npz(tmp_path, x[..., :1], np.repeat([0, 1], 3)), layout="images")
    assert xx.shape == (6, 5, 1, 1)
    xx, _, _ = audit.load_npz(_npz(tmp_path, x, np.repeat([0, 1], 3)), layout="signals")
    assert xx.shape == (6, 5, 7)


def test_cli_logs_how_x_was_read_and_records_it(tmp_path, capsys, fast_figures, report, monkeypatch):
    x, y = blobs()
    path = _npz(tmp_path, x.reshape(12, 2, 2), y)
    seen = []

    def fake_audit(xx, *args, **kwargs):  # the computation is tested elsewhere; here: input
        seen.append(xx.shape)
        return dataclasses.replace(report, settings=dict(report.settings))

    monkeypatch.setattr(audit.cli, "audit", fake_audit)  # the function the CLI calls
    out = tmp_path / "r"
    assert (
        audit.main(
            [str(path), "--compare", "--out", str(out), "--shuffles", "2", "--folds", "2", "--no-progress"]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "read as 12 greyscale images 2x2" in err and seen == [(12, 2, 2, 1)]
    import pandas as pd

    assert "greyscale images 2x2" in pd.read_csv(out / "summary.csv")["input"][0]


def test_corrupt_npz_names_the_file(tmp_path):
    x, y = blobs()
    path = _npz(tmp_path, x, y)
    raw = path.read_bytes()
    for i, cut in enumerate((len(raw) // 2, len(raw) - 30)):
        bad = tmp_path / f"cut{i}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=rf"cut{i}\.npz"):
            audit.load_npz(bad)
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0xFF  # one damaged byte inside x's data
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    try:
        xx, _, _ = audit.load_npz(tmp_path / "flip.npz")
    except ValueError as err:  # CRC or format error: named
        assert "flip.npz" in str(err)
    else:  # npz has no CRC check on read
        assert not np.array_equal(xx, x)


# ---------------------------------------------------------------------------
# --out: never overwrite, never mix


def test_save_refuses_then_replaces_whole(tmp_path, report, fast_figures):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "summary.csv").write_text("the user's own summary")
    (out / "notes.txt").write_text("the user's notes")
    with pytest.raises(FileExistsError, match="already holds files"):
        report.save(out)
    assert (out / "summary.csv").read_text() == "the user's own summary"
    assert (out / "notes.txt").read_text() == "the user's notes"
    written = report.save(out, replace=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert (out / "summary.csv").read_text().startswith("n,classes")
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporaries left
    empty = tmp_path / "empty"
    empty.mkdir()
    # index.html, 8 CSVs (summary, samples and the tools' 6), 2 figures: an empty folder is fine
    assert len(report.save(empty)) == 11


CHILD = r"""
import pickle, sys, time
import matplotlib.figure
sys.path.insert(0, sys.argv[3])
import test_bad_inputs_audit as t
t.audit.AuditReport.figures = t._tiny_figures
real = matplotlib.figure.Figure.savefig
def slow(self, *a, **k):          # each figure takes a while: the parent kills us mid-save
    real(self, *a, **k)
    print("wrote", flush=True)
    time.sleep(2)
matplotlib.figure.Figure.savefig = slow
rep = pickle.load(open(sys.argv[1], "rb"))
rep.save(sys.argv[2], replace=True)
print("finished", flush=True)
"""


def test_sigkill_mid_save_leaves_the_previous_report_whole(tmp_path, report, fast_figures):
    out = tmp_path / "rep"
    report.save(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # the child saves *another* run (other L values, so its CSVs differ from the saved ones)
    # whose refurbishment is a plain namespace, so that it need not import ntkbook.tasks (JAX):
    # several seconds of CPU saved, the save code is the same
    r = report.refurbishment
    labels = {"L_given": report.L_given + 1.0, "L_shuffled": report.L_shuffled + 1.0}
    plain = dataclasses.replace(
        report,
        results={
            **report.results,
            "labels": labels,
            "relabel": types.SimpleNamespace(
                steps=r.steps,
                index=r.index,
                old=r.old,
                new=r.new,
                gain=r.gain,
                L=r.L,
                stop_reason=r.stop_reason,
            ),
        },
    )
    (tmp_path / "rep.pkl").write_bytes(pickle.dumps(plain))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(Path(audit.__file__).parents[2]))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "rep.pkl"), str(out), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout.readline().strip() == "wrote"  # 8 CSVs and 1 PNG written
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".rep.tmp-")]
        assert len(temps) == 1 and len(list(temps[0].iterdir())) == 9
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # untouched, unmixed
    # the next save to that folder removes the dead process's temporary folder
    report.save(out, replace=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "rep.pkl"]


# ---------------------------------------------------------------------------
# command-line options are named


@pytest.mark.parametrize(
    "args, match",
    [
        (["--seed", "-1"], r"--seed must be an integer >= 0; got -1"),
        (["--n", "0"], r"--n must be an integer >= 1; got 0"),
        (["--shuffles", "1"], r"--shuffles must be an integer >= 2"),
        (["--folds", "0"], r"--folds must be an integer >= 2"),
        (["--batch-size", "0"], r"--batch-size must be an integer >= 1"),
        (["--flag-frac", "nan"], r"--flag-frac must be in \(0, 1\]"),
        (["--reg", "-1"], r"--reg must be a finite number >= 0"),
        (["--size", "0", "4"], r"--size must be an integer >= 1"),
    ],
)
def test_cli_options_are_named(tmp_path, capsys, args, match):
    import re

    x, y = blobs()
    path = _npz(tmp_path, x, y)
    assert audit.main([str(path), "--out", str(tmp_path / "r"), "--no-progress", *args]) == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------
# the table: every public function, empty arrays, wrong dtypes, NaN, wrong shapes

X, Y = blobs()
CASES = [
    (
        "audit",
        lambda t: audit.audit(np.zeros((0, 4)), np.zeros(0, int), progress=False),
        ValueError,
        r"x is empty",
    ),
    (
        "audit",
        lambda t: audit.audit(np.zeros((12, 0)), Y, progress=False),
        ValueError,
        r"x is empty \(shape \(12, 0\)\)",
    ),
    ("audit", lambda t: audit.audit(np.where(X > 4, NAN, X), Y, progress=False), ValueError, "x contains"),
    ("audit", lambda t: audit.audit(X, Y.astype(str), progress=False), TypeError, "y must hold integer"),
    ("audit", lambda t: audit.audit(X, Y[:-1], progress=False), ValueError, "x has 12 samples but y has 11"),
    ("audit", lambda t: audit.audit(X, Y, seed=-1, progress=False), ValueError, "seed must be >= 0"),
    ("check_dataset", lambda t: audit.check_dataset(np.zeros((0, 2)), []), ValueError, "x is empty"),
    ("check_dataset", lambda t: audit.check_dataset(X.ravel(), Y), ValueError, "x must have 2 or 3 or 4"),
    ("check_dataset", lambda t: audit.check_dataset(X, Y + 0.5), ValueError, "integer class labels"),
    ("check_dataset", lambda t: audit.check_dataset(X, np.where(Y == 0, NAN, 1.0)), ValueError, "y contains"),
    ("check_out", lambda t: audit.check_out(_file(t)), FileExistsError, "is an existing file"),
    ("check_out", lambda t: audit.check_out(_full(t)), FileExistsError, "already holds files"),
    ("load", lambda t: audit.load(t / "missing.npz"), FileNotFoundError, "missing.npz does not exist"),
    ("load", lambda t: audit.load(_npz(t, X, Y), layout="rows"), ValueError, "layout='rows'"),
    ("load_npz", lambda t: audit.load_npz(_npz(t, np.zeros((0, 2)), np.zeros(0))), ValueError, "x is empty"),
    ("load_npz", lambda t: audit.load_npz(_npz(t, X.astype(str), Y)), TypeError, "x must be a numeric"),
    ("load_npz", lambda t: audit.load_npz(_npz(t, X[None], Y)), ValueError, "x has 1 samples but y has 12"),
    ("load_image_folder", lambda t: audit.load_image_folder(_only_hidden(t)), ValueError, "holds no .png"),
    ("load_image_folder", lambda t: audit.load_image_folder(t), ValueError, "has no sub-folders"),
    ("read_layout", lambda t: audit.read_layout((4, 5, 6), "pixels"), ValueError, "layout='pixels'"),
    ("read_layout", lambda t: audit.read_layout((4, 5, 6), None), ValueError, "layout=None"),
    ("default_compare", lambda t: audit.default_compare((4,)), ValueError, r"x_shape must be the shape of x"),
    ("default_compare", lambda t: audit.default_compare("NHWC"), ValueError, r"x_shape must be"),
    ("main", lambda t: _main_status(t, ["--n", "0"]), None, "--n must be an integer >= 1"),
    ("main", lambda t: _main_status(t, ["--seed", "-1"]), None, "--seed must be an integer >= 0"),
    ("main", lambda t: _main_status(t, ["--flag-alpha", "1"]), None, "--flag-alpha must be in (0, 1)"),
    (
        "audit",
        lambda t: audit.audit(X, Y, flag_alpha=0.0, progress=False),
        ValueError,
        r"flag_alpha must be in \(0, 1\)",
    ),
    (
        "audit",
        lambda t: audit.audit(X, Y, sample_ids=["a"], progress=False),
        ValueError,
        "sample_ids has 1 entries but there are 12",
    ),
    (
        "estimate_gram",
        lambda t: audit.estimate_gram(__import__("ntkbook").archs.get("2-L"), np.zeros((0, 4)), None),
        ValueError,
        r"x \(and x2\) must have shape",
    ),
]
# result and registry types (their use is tested in tests/test_audit_report.py)
NOT_FUNCTIONS = {"AuditReport", "Tool"}


def _file(t):
    (t / "f").write_text("x")
    return t / "f"


def _full(t):
    (t / "d").mkdir()
    (t / "d" / "f").write_text("x")
    return t / "d"


def _only_hidden(t):
    for c in ("a", "b"):
        (t / c).mkdir()
        (t / c / f"._{c}.png").write_bytes(b"\x00\x05\x16\x07")
    return t


def _main_status(t, args):
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = audit.main([str(_npz(t, X, Y)), "--out", str(t / "r"), "--no-progress", *args])
    return status, err.getvalue()


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(tmp_path, name, call, exc, match):
    if exc is None:  # the CLI: exit status 2 and a named option
        status, err = call(tmp_path)
        assert status == 2 and match in err
        return
    with pytest.raises(exc, match=match):
        call(tmp_path)


def test_table_covers_every_public_function():
    public = {n for n in audit.PUBLIC if callable(getattr(audit, n))} - NOT_FUNCTIONS
    assert public == {c[0] for c in CASES}
