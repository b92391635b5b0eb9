"""Bad inputs for every public function of ``ntkbook.tasks`` (modules ``labels``, ``refurbish``,
``complexity_gap``, ``architecture``, ``pseudo_labels``): one parametrised test per module, each
error naming the argument, each table checked against the module's ``__all__``."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

lab = importlib.import_module("ntkbook.tasks.labels")
rf = importlib.import_module("ntkbook.tasks.refurbish")
cg = importlib.import_module("ntkbook.tasks.complexity_gap")
arch = importlib.import_module("ntkbook.tasks.architecture")
pl = importlib.import_module("ntkbook.tasks.pseudo_labels")

NAN = float("nan")
_rng = np.random.default_rng(0)
_A = _rng.normal(size=(12, 14))
H = _A @ _A.T / 14 + 0.1 * np.eye(12)  # SPD Gram matrix on 12 samples
Y = np.arange(12) % 3  # 3 classes of 4
Z = lab.gram_label_matrix(H, Y).Z
COUNTS = np.array([4.0, 4.0, 4.0])
H_ASYM = H.copy()
H_ASYM[0, 3] += 1.0
H_INF = H.copy()
H_INF[1, 1] = np.inf
X = _rng.normal(size=(12, 3))
KNOWN = np.array([0, 1, 2, 3, 4, 5])
REF = rf.refurbish_labels(H, np.where(np.arange(12) == 0, 1, Y), steps=1, stop="never")
SETUP = rf.refurbish_setup(H)


def _with(arr, i, v):
    out = np.array(arr, dtype=float)
    out[i] = v
    return out


LABELS_CASES = [
    ("as_one_hot", lambda: lab.as_one_hot(np.full((12, 2), 0.5)), ValueError, "y must hold one-hot rows"),
    ("as_one_hot", lambda: lab.as_one_hot(Y, n=11), ValueError, "y has length 12 but 11"),
    ("as_one_hot", lambda: lab.as_one_hot(Y, num_classes=2), ValueError, "y holds label 2 but num_classes=2"),
    (
        "as_one_hot",
        lambda: lab.as_one_hot(np.eye(3)[Y], num_classes=4),
        ValueError,
        "y has 3 columns but num_classes=4",
    ),
    ("as_one_hot", lambda: lab.as_one_hot(np.array([], dtype=int), num_classes=2), ValueError, "y is empty"),
    ("as_one_hot", lambda: lab.as_one_hot(Y, n=-1), ValueError, "n must be"),
    (
        "gram_label_matrix",
        lambda: lab.gram_label_matrix(H, np.where(Y == 0, 3, Y), num_classes=3),
        ValueError,
        "label 3 but num_classes=3",
    ),
    (
        "gram_label_matrix",
        lambda: lab.gram_label_matrix(H, np.where(Y == 0, -1, Y)),
        ValueError,
        "y holds negative label",
    ),
    ("gram_label_matrix", lambda: lab.gram_label_matrix(H, Y, reg=NAN), ValueError, "reg"),
    ("gram_label_matrix", lambda: lab.gram_label_matrix(H_ASYM, Y), ValueError, "H must be symmetric"),
    (
        "block_error_from_z",
        lambda: lab.block_error_from_z(Z + np.triu(np.ones((3, 3)), 1), COUNTS),
        ValueError,
        "Z must be symmetric",
    ),
    (
        "block_error_from_z",
        lambda: lab.block_error_from_z(Z, [4.0, 4.5, 3.5]),
        ValueError,
        "counts must be whole",
    ),
    ("block_error_from_z", lambda: lab.block_error_from_z(Z, COUNTS, beta=NAN), ValueError, "beta"),
    ("block_error_from_z", lambda: lab.block_error_from_z(Z, COUNTS[:2]), ValueError, "Z has shape"),
    (
        "block_error_from_z",
        lambda: lab.block_error_from_z(Z, [4.0, 1.0, 7.0]),
        ValueError,
        "class 1 of counts has 1 member",
    ),
    ("block_error_from_z", lambda: lab.block_error_from_z(Z * NAN, COUNTS), ValueError, "Z contains"),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H, Y[:11]),
        ValueError,
        "y has length 11 but 12",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H, Y, beta=NAN),
        ValueError,
        "beta",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H, Y, beta="1"),
        TypeError,
        "beta",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H_ASYM, Y),
        ValueError,
        "H must be symmetric",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H_INF, Y),
        ValueError,
        "H contains",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H, _with(Y, 0, NAN)),
        ValueError,
        "y contains",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H, np.array([0] * 11 + [1])),
        ValueError,
        "class 1 of y has 1 member",
    ),
    (
        "block_diagonalization_error",
        lambda: lab.block_diagonalization_error(H, np.array([0] * 6 + [2] * 6)),
        ValueError,
        "class 1 of y has 0 member",
    ),
    (
        "label_gradient",
        lambda: lab.label_gradient(H, np.full((12, 2), 0.05)),
        ValueError,
        "Y's column sums must exceed 1",
    ),
    ("label_gradient", lambda: lab.label_gradient(H, np.eye(3)[Y], beta=NAN), ValueError, "beta"),
    ("label_gradient", lambda: lab.label_gradient(H, np.eye(3)[Y][:11]), ValueError, "Y has 11 rows"),
    ("label_gradient", lambda: lab.label_gradient(H, np.eye(3)[Y], reg=-1.0), ValueError, "reg"),
    ("block_diagonality", lambda: lab.block_diagonality(H_ASYM, Y), ValueError, "Theta must be symmetric"),
    (
        "block_diagonality",
        lambda: lab.block_diagonality(H, np.array([0] * 11 + [1])),
        ValueError,
        "class 1 of y has 1 member",
    ),
    ("block_diagonality", lambda: lab.block_diagonality(H, Y[:5]), ValueError, "y has length 5"),
    ("rank_labelings", lambda: lab.rank_labelings(H, {}), ValueError, "labelings is empty"),
    ("rank_labelings", lambda: lab.rank_labelings(H, [Y]), TypeError, "labelings must be a mapping"),
    ("rank_labelings", lambda: lab.rank_labelings(H, {"a": Y}, beta=np.inf), ValueError, "beta"),
    (
        "rank_labelings",
        lambda: lab.rank_labelings(H, {"a": Y[:5]}),
        ValueError,
        r"labelings\['a'\] has length 5",
    ),
    (
        "rank_labelings",
        lambda: lab.rank_labelings(H, {"a": np.array([0] * 11 + [1])}),
        ValueError,
        r"class 1 of labelings\['a'\]",
    ),
    ("bias_rankings", lambda: lab.bias_rankings(np.eye(1)), ValueError, "Z must be at least 2x2"),
    (
        "bias_rankings",
        lambda: lab.bias_rankings(Z, [4.0, 0.0, 4.0]),
        ValueError,
        "counts must be 3 positive whole",
    ),
    (
        "bias_rankings",
        lambda: lab.bias_rankings(Z, [4.0, 2.5, 4.0]),
        ValueError,
        "counts must be 3 positive whole",
    ),
    (
        "bias_rankings",
        lambda: lab.bias_rankings(Z + np.triu(np.ones((3, 3)), 1)),
        ValueError,
        "Z must be symmetric",
    ),
]

REFURBISH_CASES = [
    ("refurbish_labels", lambda: rf.refurbish_labels(H, Y[:11]), ValueError, "y_noisy has length 11 but 12"),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(H, np.where(Y == 0, 3, Y), num_classes=3),
        ValueError,
        "y_noisy holds label 3 but num_classes=3",
    ),
    ("refurbish_labels", lambda: rf.refurbish_labels(H_ASYM, Y), ValueError, "H must be symmetric"),
    ("refurbish_labels", lambda: rf.refurbish_labels(H_INF, Y), ValueError, "H contains"),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(H, Y, steps=None, stop="never"),
        ValueError,
        "steps=None needs stop='auto'",
    ),
    ("refurbish_labels", lambda: rf.refurbish_labels(H, Y, stop="sometimes"), ValueError, "stop='sometimes'"),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(H, np.array([0] * 6 + [1] * 5 + [2])),
        ValueError,
        "class 2 of y_noisy has 1 member",
    ),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(H, np.zeros(12, int)),
        ValueError,
        "y_noisy has a single class",
    ),
    ("refurbish_labels", lambda: rf.refurbish_labels(H, Y, beta=NAN), ValueError, "beta"),
    ("refurbish_labels", lambda: rf.refurbish_labels(H, Y, steps=0), ValueError, "steps must be >= 1"),
    ("refurbish_labels", lambda: rf.refurbish_labels(H, Y, steps=2.0), TypeError, "steps must be an integer"),
    ("refurbish_labels", lambda: rf.refurbish_labels(H, Y, reg=NAN), ValueError, "reg"),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(2 * H, Y, setup=SETUP),
        ValueError,
        "setup was made from another H or reg",
    ),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(H, Y, reg=0.1, setup=SETUP),
        ValueError,
        "setup was made from another H or reg",
    ),
    (
        "refurbish_labels",
        lambda: rf.refurbish_labels(H, Y, setup=SETUP.A),
        TypeError,
        "setup must be a RefurbishSetup",
    ),
    ("refurbish_setup", lambda: rf.refurbish_setup(H_ASYM), ValueError, "H must be symmetric"),
    ("refurbish_setup", lambda: rf.refurbish_setup(H, reg=-1.0), ValueError, "reg"),
    (
        "refurbish_scores",
        lambda: rf.refurbish_scores(Y, Y, np.where(Y == 0, 99, Y)),
        ValueError,
        "y_new holds label 99 but num_classes=3",
    ),
    (
        "refurbish_scores",
        lambda: rf.refurbish_scores(Y, Y, Y, num_classes=2),
        ValueError,
        "y_true holds label 2 but num_classes=2",
    ),
    ("refurbish_scores", lambda: rf.refurbish_scores(Y, Y[:5], Y), ValueError, "y_noisy has length 5"),
    ("refurbish_scores", lambda: rf.refurbish_scores(Y, Y, Y[:5]), ValueError, "y_new has length 5"),
    ("refurbish_scores", lambda: rf.refurbish_scores(Y, Y, _with(Y, 0, NAN)), ValueError, "y_new contains"),
    ("refurbish_scores", lambda: rf.refurbish_scores(Y - 1, Y, Y), ValueError, "y_true holds negative"),
    ("refurbish_scores", lambda: rf.refurbish_scores([], [], []), ValueError, "y_true is empty"),
    ("Refurbishment.labels_after", lambda: REF.labels_after(Y, 2), ValueError, "step=2 but only 1"),
    ("Refurbishment.labels_after", lambda: REF.labels_after(Y, -1), ValueError, "step must be >= 0"),
    ("Refurbishment.labels_after", lambda: REF.labels_after(Y[:5], 1), ValueError, "y_start has length 5"),
    ("Refurbishment.accuracy_path", lambda: REF.accuracy_path(Y, Y[:5]), ValueError, "y_true has length 5"),
    (
        "Refurbishment.accuracy_path",
        lambda: REF.accuracy_path(_with(Y, 0, 0.5), Y),
        ValueError,
        "y_start must hold integer",
    ),
]

CG_CASES = [
    ("complexity_gap", lambda: cg.complexity_gap(H[:, :5], Y), ValueError, "H must be square"),
    ("complexity_gap", lambda: cg.complexity_gap(H_ASYM, Y), ValueError, "H must be symmetric"),
    (
        "complexity_gap",
        lambda: cg.complexity_gap(H, Y % 2, num_classes=3),
        ValueError,
        r"y has no sample of class\(es\) \[2\]",
    ),
    (
        "complexity_gap",
        lambda: cg.complexity_gap(H, Y, num_classes=2),
        ValueError,
        "y holds label 2 but num_classes=2",
    ),
    (
        "complexity_gap",
        lambda: cg.complexity_gap(H, np.zeros(12, int)),
        ValueError,
        "y must hold at least two classes",
    ),
    ("complexity_gap", lambda: cg.complexity_gap(np.ones((12, 12)), Y), ValueError, "reg"),
    ("complexity_gap", lambda: cg.complexity_gap(H, Y, unbalance_ratio=NAN), ValueError, "unbalance_ratio"),
    ("complexity_gap", lambda: cg.complexity_gap(H, Y, unbalance_ratio=0.0), ValueError, "unbalance_ratio"),
    ("complexity_gap", lambda: cg.complexity_gap(H, Y, repeats=0), ValueError, "repeats"),
    ("complexity_gap", lambda: cg.complexity_gap(H, Y, seed=-1), ValueError, "seed"),
    ("complexity_gap", lambda: cg.complexity_gap(H, Y, reg=NAN), ValueError, "reg"),
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(H, np.ones(11)),
        ValueError,
        "y_pm has 11 targets but H is 12x12",
    ),
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(H, np.ones((12, 2))),
        ValueError,
        "y_pm must have 1",
    ),
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(H, _with(np.ones(12), 0, NAN)),
        ValueError,
        "y_pm contains",
    ),
    ("binary_complexity_gap", lambda: cg.binary_complexity_gap(H, np.ones(12), reg=-1.0), ValueError, "reg"),
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(H_ASYM, np.ones(12)),
        ValueError,
        "H must be symmetric",
    ),
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(np.ones((2, 2)), np.ones(2)),
        ValueError,
        r"^H \+ ridge I is too ill-conditioned",
    ),
    # empty arrays and wrong dtypes (issue 25)
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(np.zeros((0, 0)), np.zeros(0)),
        ValueError,
        r"H is empty \(shape \(0, 0\)\)",
    ),
    (
        "binary_complexity_gap",
        lambda: cg.binary_complexity_gap(H, np.array(["+"] * 12)),
        TypeError,
        "y_pm must be a numeric",
    ),
    (
        "complexity_gap",
        lambda: cg.complexity_gap(np.zeros((0, 0)), np.zeros(0, int)),
        ValueError,
        "H is empty",
    ),
    ("complexity_gap", lambda: cg.complexity_gap(H.astype(str), Y), TypeError, "H must be a numeric"),
    (
        "multiclass_complexity_gap",
        lambda: cg.multiclass_complexity_gap(np.zeros((0, 0)), np.zeros(0, int)),
        ValueError,
        "H is empty",
    ),
    (
        "multiclass_complexity_gap",
        lambda: cg.multiclass_complexity_gap(H, Y.astype(str)),
        TypeError,
        "y must be a numeric",
    ),
    (
        "multiclass_complexity_gap",
        lambda: cg.multiclass_complexity_gap(H, Y[:11]),
        ValueError,
        "y has length 11",
    ),
    (
        "multiclass_complexity_gap",
        lambda: cg.multiclass_complexity_gap(H, Y, num_classes=2),
        ValueError,
        "y holds label 2",
    ),
    ("multiclass_complexity_gap", lambda: cg.multiclass_complexity_gap(H_INF, Y), ValueError, "H contains"),
    ("multiclass_complexity_gap", lambda: cg.multiclass_complexity_gap(H, Y, reg=NAN), ValueError, "reg"),
]

_SQ = np.array([[2.0, 1.0, 0.0, 1.0], [1.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 1.0], [1.0, 0.0, 1.0, 2.0]])
_YSQ = np.array([0, 0, 1, 1])

ARCH_CASES = [
    ("kpca_separation", lambda: arch.kpca_separation(_SQ[:3], _YSQ), ValueError, "H must be square"),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ + np.triu(np.ones((4, 4)), 1), _YSQ),
        ValueError,
        "H must be symmetric",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, [0, 0, 1, 5], n_components=1, num_classes=2),
        ValueError,
        "y holds label 5 but num_classes=2",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, [0, 0, 2, 2], n_components=1),
        ValueError,
        r"y has no sample of class\(es\) \[1\]",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, [0, 0, 1], n_components=1),
        ValueError,
        "y has length 3",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, _YSQ, n_components=1, which="middle"),
        ValueError,
        "which='middle'",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, [0, 1, 2, 3], n_components=1),
        ValueError,
        "y has no two samples of the same class",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(np.where(np.eye(4) > 0, NAN, _SQ), _YSQ),
        ValueError,
        "H contains",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, [0, 0, 0, 0], n_components=1),
        ValueError,
        "y must hold at least two classes",
    ),
    ("kpca_projection", lambda: arch.kpca_projection(_SQ, n_components=0), ValueError, "n_components"),
    ("kpca_projection", lambda: arch.kpca_projection(_SQ, n_components=4), ValueError, "n_components=4"),
    ("kpca_projection", lambda: arch.kpca_projection(_SQ, which="all"), ValueError, "which='all'"),
    ("kpca_projection", lambda: arch.kpca_projection(_SQ, n_components=1, rtol=NAN), ValueError, "rtol"),
    ("kpca_projection", lambda: arch.kpca_projection(-_SQ, n_components=1, center=False), ValueError, "H"),
    (
        "rank_architectures",
        lambda: arch.rank_architectures({"a": _SQ, "b": _SQ[:3, :3]}, _YSQ),
        ValueError,
        "all Gram matrices must have the same shape",
    ),
    ("rank_architectures", lambda: arch.rank_architectures({}, _YSQ), ValueError, "grams is empty"),
    (
        "rank_architectures",
        lambda: arch.rank_architectures([_SQ], _YSQ),
        TypeError,
        "grams must be a mapping",
    ),
    (
        "rank_architectures",
        lambda: arch.rank_architectures({"a": _SQ}, [0, 0, 1]),
        ValueError,
        "y has length 3",
    ),
    ("paper_convention_mlp", lambda: arch.paper_convention_mlp("3-L"), ValueError, "name='3-L'"),
    (
        "paper_convention_mlp",
        lambda: arch.paper_convention_mlp(sorted(arch.PAPER_HIDDEN_LAYERS)[0], out_dim=0),
        ValueError,
        "out_dim",
    ),
    (
        "paper_convention_mlp",
        lambda: arch.paper_convention_mlp(sorted(arch.PAPER_HIDDEN_LAYERS)[0], width=2.5),
        TypeError,
        "width",
    ),
    (
        "class_labels",
        lambda: arch.class_labels([0, 2], 2, None),
        ValueError,
        r"y has no sample of class\(es\) \[1\]",
    ),
    ("class_labels", lambda: arch.class_labels([0, 1], 3, None), ValueError, "y has length 2 but 3"),
    ("class_labels", lambda: arch.class_labels([0, 1.5], 2, None), ValueError, "y must hold integer"),
    # empty arrays and wrong dtypes (issue 25)
    (
        "kpca_projection",
        lambda: arch.kpca_projection(np.zeros((0, 0))),
        ValueError,
        r"H is empty \(shape \(0, 0\)\)",
    ),
    (
        "kpca_projection",
        lambda: arch.kpca_projection([["a", "b"], ["b", "a"]]),
        TypeError,
        "H must be a numeric",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(np.zeros((0, 0)), np.zeros(0, int)),
        ValueError,
        "H is empty",
    ),
    (
        "kpca_separation",
        lambda: arch.kpca_separation(_SQ, np.array(list("aabb"))),
        TypeError,
        "y must be a numeric",
    ),
    (
        "rank_architectures",
        lambda: arch.rank_architectures({"a": np.zeros((0, 0))}, np.zeros(0, int)),
        ValueError,
        "H is empty",
    ),
    ("class_labels", lambda: arch.class_labels(np.zeros(0, int), 0, None), ValueError, "y is empty"),
]

PSEUDO_CASES = [
    (
        "kmeans_labels",
        lambda: pl.kmeans_labels(X, Y, np.array([], dtype=int), 3),
        ValueError,
        "known must hold at least 1",
    ),
    ("kmeans_labels", lambda: pl.kmeans_labels(X, Y, [0, 1, 12], 3), ValueError, "known holds index 12"),
    ("kmeans_labels", lambda: pl.kmeans_labels(X, Y, [0, 1, -1], 3), ValueError, "known holds index -1"),
    ("kmeans_labels", lambda: pl.kmeans_labels(X, Y, [0, 1, 1], 3), ValueError, "known repeats index 1"),
    ("kmeans_labels", lambda: pl.kmeans_labels(X, Y, KNOWN, 3, seed=-1), ValueError, "seed"),
    ("kmeans_labels", lambda: pl.kmeans_labels(X, Y, KNOWN, 1), ValueError, "num_classes"),
    (
        "weak_classifier_labels",
        lambda: pl.weak_classifier_labels(X, Y[:11], KNOWN, 3),
        ValueError,
        "y has length 11 but 12",
    ),
    (
        "weak_classifier_labels",
        lambda: pl.weak_classifier_labels(X, Y, KNOWN, 3, C=0.0),
        ValueError,
        "C must be in",
    ),
    (
        "weak_classifier_labels",
        lambda: pl.weak_classifier_labels(X, Y, KNOWN, 3, C=NAN),
        ValueError,
        "C must be",
    ),
    (
        "weak_classifier_labels",
        lambda: pl.weak_classifier_labels(X[:, 0], Y, KNOWN, 3),
        ValueError,
        "x must have shape",
    ),
    (
        "propagation_labels",
        lambda: pl.propagation_labels(_with(X, (0, 0), NAN), Y, KNOWN, 3),
        ValueError,
        "x contains",
    ),
    (
        "propagation_labels",
        lambda: pl.propagation_labels(X, Y, KNOWN, 3, n_neighbors=0),
        ValueError,
        "n_neighbors",
    ),
    (
        "propagation_labels",
        lambda: pl.propagation_labels(X, Y, KNOWN, 3, n_neighbors=12),
        ValueError,
        "n_neighbors=12",
    ),
    ("match_clusters", lambda: pl.match_clusters([0, 3], [0, 1], 3), ValueError, "clusters holds label 3"),
    ("match_clusters", lambda: pl.match_clusters([0, 1], [0, 1, 1], 3), ValueError, "y_ref has length 3"),
    ("match_clusters", lambda: pl.match_clusters([0, 1], [0, 1], 0), ValueError, "num_classes"),
    ("known_subset", lambda: pl.known_subset(Y, 1.5), ValueError, "fraction must be in"),
    ("known_subset", lambda: pl.known_subset(Y, NAN), ValueError, "fraction"),
    ("known_subset", lambda: pl.known_subset(Y, 0.5, seed=-2), ValueError, "seed"),
    ("known_subset", lambda: pl.known_subset([], 0.5), ValueError, "y is empty"),
    ("known_subset", lambda: pl.known_subset(Y - 1, 0.5), ValueError, "y holds negative"),
]


def _ids(cases):
    return [f"{c[0]}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("name,call,exc,match", LABELS_CASES, ids=_ids(LABELS_CASES))
def test_bad_input_labels(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", REFURBISH_CASES, ids=_ids(REFURBISH_CASES))
def test_bad_input_refurbish(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", CG_CASES, ids=_ids(CG_CASES))
def test_bad_input_complexity_gap(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", ARCH_CASES, ids=_ids(ARCH_CASES))
def test_bad_input_architecture(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("name,call,exc,match", PSEUDO_CASES, ids=_ids(PSEUDO_CASES))
def test_bad_input_pseudo_labels(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "module,cases,extra",
    [
        (lab, LABELS_CASES, set()),
        (rf, REFURBISH_CASES, {"Refurbishment.labels_after", "Refurbishment.accuracy_path"}),
        (cg, CG_CASES, set()),
        (arch, ARCH_CASES, set()),
        (pl, PSEUDO_CASES, set()),
    ],
)
def test_tables_cover_every_public_function(module, cases, extra):
    records = {"GramLabel", "Refurbishment", "RefurbishSetup", "KPCASeparation"}
    public = {n for n in module.__all__ if callable(getattr(module, n)) and n not in records}
    assert public | extra == {c[0] for c in cases}
