"""ntkbook.audit: the one-pass report on a tiny labelled file, its CLI, and its input errors.

The data: three Gaussian blobs in 6-D (12 samples each, centres 5 apart), two
labels flipped.  Small enough that the 2-L Gram matrix is instant, separated
enough that every tool has a clear right answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ntkbook import archs, audit, gram, tasks

FLIPPED = np.array([0, 12])


def blobs(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(12, 6)) + 5 * np.eye(6)[k] for k in range(3)])
    y_true = np.repeat([0, 1, 2], 12)
    y = y_true.copy()
    y[FLIPPED] = [1, 2]
    return x, y, y_true


def reference_gram(x):
    """The 2-L Gram matrix on unit-norm rows (ntkbook.gram is tested against neural-tangents
    and the closed form in tests/test_gram.py; here it is the input of the brute-force checks)."""
    return gram.gram(archs.get("2-L"), x / np.linalg.norm(x, axis=1, keepdims=True), progress=False)


def brute_force_L(H, y, k):
    """Eq. 10 by explicit loops over classes with an explicit inverse (fine at N = 36)."""
    A = np.linalg.inv(H)
    n = np.bincount(y, minlength=k).astype(float)
    Z = np.array([[A[np.ix_(y == a, y == b)].sum() for b in range(k)] for a in range(k)])
    diag = sum(Z[a, a] / (n[a] * (n[a] - 1)) for a in range(k)) / k
    off = sum(Z[a, b] / (n[a] * n[b]) for a in range(k) for b in range(k) if a != b) / (k * k - k)
    return diag - off, Z


@pytest.fixture(scope="module")
def report():
    x, y, _ = blobs()
    # labels 3, 5, 9 (not 0..K-1) exercise the re-indexing and the class names
    return audit.audit(
        x,
        np.array([3, 5, 9])[y],
        arch="2-L",
        compare=("10-L",),
        shuffles=6,
        flag_frac=0.1,
        folds=4,
        seed=1,
        progress=False,
    )


def test_label_tools_match_independent_computations(report):
    x, y, _ = blobs()
    H = reference_gram(x)
    L_ref, Z_ref = brute_force_L(H, y, 3)
    assert report.class_names == [3, 5, 9]
    np.testing.assert_array_equal(report.y, y)
    # Same H; Cholesky + one-hot products against an explicit inverse + loops differ by
    # rounding amplified by the condition number of H: 1e-13 * cond leaves a 1000x margin
    # over float64's 1e-16.
    tol = 1e-13 * report.condition_number
    assert tol < 1e-4  # a well-conditioned problem: the check has teeth
    np.testing.assert_allclose(report.Z, Z_ref, rtol=tol)
    assert report.L_given == pytest.approx(L_ref, rel=tol)
    # the baseline: the same permutations (same seed, drawn in order) scored by brute force
    rng = np.random.default_rng(1)
    shuffled = [brute_force_L(H, rng.permutation(y), 3)[0] for _ in range(6)]
    np.testing.assert_allclose(report.L_shuffled, shuffled, rtol=1e-13 * report.condition_number)
    # separable blobs: the given labels, even with two flips, beat every shuffle
    assert report.L_given < report.L_shuffled.min() and report.shuffle_z > 2


def test_flags_and_relabellings_find_the_flipped_labels(report):
    x, y, y_true = blobs()
    H = reference_gram(x)
    ref_cg = tasks.complexity_gap(H, y, repeats=1, seed=1)
    # the same function on the same H and seed: equal up to the rounding of the solves
    np.testing.assert_allclose(report.cg_scores, ref_cg, rtol=1e-13 * report.condition_number)
    assert len(report.flagged) == 4  # floor(0.1 * 36 + 1/2)
    assert set(FLIPPED) <= set(report.flagged.tolist())
    relabel = report.relabel
    # both flipped labels go back to their true class, and nothing else is touched
    assert sorted(relabel["index"]) == sorted(FLIPPED.tolist())
    for i, new in zip(relabel["index"], relabel["new"]):
        assert new == [3, 5, 9][y_true[i]]
    assert np.all(np.diff(report.refurbishment.L) < 0)


def test_ranking_and_bias_tables_are_the_package_results(report):
    x, y, _ = blobs()
    H = reference_gram(x)
    ratio = tasks.kpca_separation(H, y).ratio
    assert report.ranking.loc["2-L", "ratio"] == pytest.approx(ratio, rel=1e-8)
    assert list(report.ranking["rank"]) == [1, 2]
    intra, inter = tasks.bias_rankings(report.Z, report.counts)
    bias = report.bias_table
    assert list(bias["class"]) == [3, 5, 9]
    assert [int(bias["predicted_order"][c]) for c in intra] == [1, 2, 3]
    assert bias["most_entangled_with"][0] == " ".join(str([3, 5, 9][d]) for d in inter[0])
    # kernel regression: the same folds (same seed) by explicit solves, counted by hand
    order = np.random.default_rng(1).permutation(36)
    hits = 0
    for test in np.array_split(order, 4):
        train = np.setdiff1d(order, test)
        f = H[np.ix_(test, train)] @ np.linalg.solve(H[np.ix_(train, train)], np.eye(3)[y[train]])
        hits += int(np.sum(f.argmax(1) == y[test]))
    assert report.cv_accuracy == hits / 36
    assert report.cv_accuracy <= 34 / 36  # the two flipped labels are mispredicted


def test_cli_writes_csvs_and_figures(tmp_path, report, capsys):
    import matplotlib.image

    x, y, _ = blobs()
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=np.array([3, 5, 9])[y])
    out = tmp_path / "report"
    status = audit.main(
        [
            str(path),
            "--arch",
            "2-L",
            "--compare",
            "10-L",
            "--out",
            str(out),
            "--shuffles",
            "6",
            "--folds",
            "4",
            "--seed",
            "1",
            "--flag-frac",
            "0.1",
            "--no-progress",
        ]
    )
    assert status == 0
    names = {p.name for p in out.iterdir()}
    assert {f"{n}.csv" for n in ("summary", "ranking", "labels", "z", "bias", "flags", "relabel")} <= names
    assert {f"{n}.png" for n in ("ranking", "labels", "z", "flags", "relabel")} <= names
    assert {"index.html", "samples.csv"} <= names
    relabel = pd.read_csv(out / "relabel.csv")
    pd.testing.assert_frame_equal(relabel, report.relabel.astype({"old": int, "new": int}), check_dtype=False)
    labels = pd.read_csv(out / "labels.csv")
    np.testing.assert_allclose(labels["L"], [report.L_given, *report.L_shuffled], rtol=1e-12)
    flags = pd.read_csv(out / "flags.csv")
    assert sorted(flags.loc[flags.flagged, "index"]) == sorted(report.flagged.tolist())
    assert matplotlib.image.imread(out / "z.png").ndim == 3
    assert "wrote" in capsys.readouterr().out


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, size=(6, 5), dtype=np.uint8)).save(
                tmp_path / cls / f"{i}.png"
            )
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    x, y, names = audit.load(tmp_path)
    assert x.shape == (6, 6, 5, 1) and names == ["cats", "dogs"]
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])
    back = np.asarray(Image.open(tmp_path / "dogs" / "2.png"), dtype=float) / 255
    np.testing.assert_array_equal(x[5, :, :, 0], back)
    Image.fromarray(np.zeros((7, 5, 3), np.uint8)).save(tmp_path / "cats" / "big.jpg")
    with pytest.raises(ValueError, match="different sizes"):
        audit.load(tmp_path)
    x, _, _ = audit.load(tmp_path, size=(4, 4))
    assert x.shape == (7, 4, 4, 3)  # one colour image: all become RGB


def write(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, error, match",
    [
        (dict(inputs=np.ones((4, 2)), y=np.array([0, 0, 1, 1])), ValueError, r"lacks \['x'\]"),
        (dict(x=np.ones((4, 2)), labels=np.array([0, 0, 1, 1])), ValueError, r"lacks \['y'\]"),
        (dict(x=np.ones((5, 2)), y=np.array([0, 0, 1, 1])), ValueError, "x has 5 samples but y has 4"),
        (dict(x=np.ones(4), y=np.array([0, 0, 1, 1])), ValueError, "x must have 2 or 3 or 4 dim"),
        (dict(x=np.ones((4, 2)), y=np.ones((4, 1))), ValueError, "y must be 1-D"),
        (
            dict(x=np.array([[0, 1], [1, np.nan], [1, 1], [2, 1]]), y=np.array([0, 0, 1, 1])),
            ValueError,
            "x contains 1 NaN",
        ),
        (
            dict(x=np.ones((5, 2)), y=np.array([0, 0, 1, 1, 2])),
            ValueError,
            r"at least 2 samples; class\(es\) \[2\] have \[1\]",
        ),
        (dict(x=np.ones((4, 2)), y=np.array([0, 0.5, 1, 1])), ValueError, "integer class labels"),
        (
            dict(x=np.ones((4, 2)), y=np.array(["a", "a", "b", "b"])),
            TypeError,
            "integer class labels; got dtype <U1",
        ),
        (dict(x=np.ones((4, 2)), y=np.zeros(4)), ValueError, "single class"),
    ],
)
def test_malformed_files_raise_clear_errors(tmp_path, arrays, error, match):
    path = write(tmp_path, **arrays)
    with pytest.raises(error, match=match):
        audit.load_npz(path)


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    path = write(tmp_path, x=np.ones((4, 2)))
    assert audit.main([str(path), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "lacks ['y']" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_other_bad_inputs(tmp_path):
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match="single array"):
        audit.load_npz(tmp_path / "single.npy")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        audit.load_npz(tmp_path / "missing.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no sub-folders"):
        audit.load(tmp_path / "empty")
    x, y, _ = blobs()
    with pytest.raises(ValueError, match="convolutional and needs signals"):
        audit.audit(x, y, arch="CNN-1", progress=False)
    with pytest.raises(ValueError, match="not in the zoo"):
        audit.audit(x, y, arch="ResNet", progress=False)
    with pytest.raises(ValueError, match="shuffles must be >= 2"):
        audit.audit(x, y, shuffles=1, progress=False)
    with pytest.raises(ValueError, match="flag_frac must be in"):
        audit.audit(x, y, flag_frac=0.0, progress=False)
    with pytest.raises(ValueError, match="class_names has 2 names"):
        audit.audit(x, y, class_names=["a", "b"], progress=False)
