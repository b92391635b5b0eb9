"""Bad inputs for every public function of ``ntkbook.data`` (issue 25): empty arrays, wrong
dtypes, NaN, wrong shapes, and corrupt, truncated or mismatched dataset files (each error names
the argument or the file).  ``test_table_covers_every_public_function`` fails when a public
function without a row is added to ``data.__all__``."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from ntkbook import data

pytestmark = pytest.mark.core

NAN = float("nan")
IDX_STEMS = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def _idx_bytes(arr: np.ndarray) -> bytes:
    return (
        bytes([0, 0, 0x08, arr.ndim])
        + struct.pack(f">{arr.ndim}I", *arr.shape)
        + arr.astype(np.uint8).tobytes()
    )


def _mnist(root: Path, *, n_train=6, n_train_labels=6, label=None, gz=False, damage=None) -> Path:
    """Tiny MNIST files under ``root/mnist``; ``damage(name, raw) -> raw`` corrupts one."""
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        IDX_STEMS[0]: np.zeros((n_train, 4, 4)),
        IDX_STEMS[1]: np.arange(n_train_labels) % 10,
        IDX_STEMS[2]: np.zeros((3, 4, 4)),
        IDX_STEMS[3]: np.array([1, 2, 3]),
    }
    if label is not None:
        arrays[IDX_STEMS[1]] = arrays[IDX_STEMS[1]].copy()
        arrays[IDX_STEMS[1]][2] = label
    for stem, arr in arrays.items():
        raw = _idx_bytes(arr)
        if gz:
            raw = gzip.compress(raw)
        if damage is not None:
            raw = damage(stem, raw)
        (folder / (stem + (".gz" if gz else ""))).write_bytes(raw)
    return folder


def _truncate(target: str, keep: int):
    return lambda stem, raw: raw[:keep] if stem == target else raw


def _cifar10(root: Path, payload: bytes | None = None, obj=None) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / f).write_bytes(pickle.dumps(good))
    if payload is not None:
        (folder / "data_batch_3").write_bytes(payload)
    if obj is not None:
        (folder / "data_batch_3").write_bytes(pickle.dumps(obj))
    return folder


def _load_mnist(tmp, **kw):
    return lambda: data.load("mnist", root=_mnist(tmp(), **kw).parent)


def _load_cifar(tmp, **kw):
    return lambda: data.load("cifar10", root=_cifar10(tmp(), **kw).parent)


# rows: (function, call(tmp) -> callable, exception, message fragment); ``tmp()`` makes a fresh folder
CASES = [
    # read_idx: corrupt and truncated files name the file
    (
        "read_idx",
        lambda t: (
            lambda: data.read_idx(
                _mnist(t(), gz=True, damage=_truncate(IDX_STEMS[0], 30)) / (IDX_STEMS[0] + ".gz")
            )
        ),
        ValueError,
        r"train-images-idx3-ubyte\.gz is a corrupt or truncated gzip",
    ),
    (
        "read_idx",
        lambda t: (
            lambda: data.read_idx(
                _mnist(t(), gz=True, damage=lambda s, r: b"\x1f\x8b" + bytes(40)) / (IDX_STEMS[1] + ".gz")
            )
        ),
        ValueError,
        r"train-labels-idx1-ubyte\.gz is a corrupt",
    ),
    (
        "read_idx",
        lambda t: (
            lambda: data.read_idx(
                _mnist(t(), gz=True, damage=lambda s, r: b"not gzip at all") / (IDX_STEMS[1] + ".gz")
            )
        ),
        ValueError,
        r"train-labels-idx1-ubyte\.gz is a corrupt",
    ),
    (
        "read_idx",
        lambda t: lambda: data.read_idx(_mnist(t(), damage=_truncate(IDX_STEMS[0], 9)) / IDX_STEMS[0]),
        ValueError,
        r"train-images-idx3-ubyte is truncated: its header announces 3 dimensions",
    ),
    (
        "read_idx",
        lambda t: lambda: data.read_idx(_mnist(t(), damage=_truncate(IDX_STEMS[0], 40)) / IDX_STEMS[0]),
        ValueError,
        r"train-images-idx3-ubyte: header says shape \(6, 4, 4\)",
    ),
    (
        "read_idx",
        lambda t: (
            lambda: data.read_idx(_mnist(t(), damage=lambda s, r: b"\x01\x02\x08\x01abcd") / IDX_STEMS[0])
        ),
        ValueError,
        "is not an IDX file",
    ),
    (
        "read_idx",
        lambda t: lambda: data.read_idx(t() / "absent"),
        FileNotFoundError,
        "IDX file .*absent does not exist",
    ),
    # load: files that do not belong together, labels out of range, corrupt pickles
    (
        "load",
        lambda t: _load_mnist(t, n_train_labels=5),
        ValueError,
        r"train-images-idx3-ubyte holds 6 images but .*train-labels-idx1-ubyte holds 5 labels",
    ),
    (
        "load",
        lambda t: _load_mnist(t, label=200),
        ValueError,
        r"train-labels-idx1-ubyte holds label 200 \(index 2, 1 such\) outside \[0, 10\)",
    ),
    (
        "load",
        lambda t: _load_mnist(t, gz=True, damage=_truncate(IDX_STEMS[3], 20)),
        ValueError,
        r"t10k-labels-idx1-ubyte\.gz is a corrupt or truncated gzip",
    ),
    (
        "load",
        lambda t: _load_cifar(t, payload=pickle.dumps({b"data": 1})[:-5]),
        ValueError,
        r"data_batch_3 is not a readable CIFAR batch \(corrupt or truncated pickle",
    ),
    (
        "load",
        lambda t: _load_cifar(t, payload=b"\x80\x04garbage"),
        ValueError,
        r"data_batch_3 is not a readable CIFAR batch",
    ),
    (
        "load",
        lambda t: _load_cifar(t, payload=b""),
        ValueError,
        r"data_batch_3 is not a readable CIFAR batch .*EOFError",
    ),
    (
        "load",
        lambda t: _load_cifar(t, obj=[1, 2, 3]),
        ValueError,
        r"data_batch_3 is not a CIFAR batch: expected a dict",
    ),
    (
        "load",
        lambda t: _load_cifar(t, obj={b"data": np.zeros((2, 3072), np.uint8)}),
        ValueError,
        r"data_batch_3 is not a CIFAR batch: expected a dict with keys",
    ),
    (
        "load",
        lambda t: _load_cifar(t, obj={b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
        ValueError,
        r"data_batch_3: 'data' must be uint8 rows of 3072",
    ),
    (
        "load",
        lambda t: _load_cifar(t, obj={b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}),
        ValueError,
        r"data_batch_3 \(labels\) holds label 10",
    ),
    (
        "load",
        lambda t: _load_cifar(t, obj={b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
        ValueError,
        r"data_batch_3 holds 2 images but .* holds 1 labels",
    ),
    ("load", lambda t: lambda: data.load("imagenet"), ValueError, "name='imagenet' is not a known dataset"),
    ("load", lambda t: lambda: data.load("corners", n=0), ValueError, "n must be >= 1"),
    ("load", lambda t: lambda: data.load("corners", n=2.5), TypeError, "n must be an integer"),
    # sources: a root that is a file is reported, not crashed on
    ("sources", lambda t: lambda: data.sources(root=t() / "x" / "nothing"), None, None),
    # estimate_gram_seconds
    (
        "estimate_gram_seconds",
        lambda t: lambda: data.estimate_gram_seconds([("CNN-1", 0)]),
        ValueError,
        "n must be >= 1",
    ),
    (
        "estimate_gram_seconds",
        lambda t: lambda: data.estimate_gram_seconds([("CNN-1", 10)], device="tpu"),
        ValueError,
        "device='tpu'",
    ),
    (
        "estimate_gram_seconds",
        lambda t: lambda: data.estimate_gram_seconds([("ViT", 10)]),
        ValueError,
        "arch 'ViT' has no",
    ),
    (
        "estimate_gram_seconds",
        lambda t: lambda: data.estimate_gram_seconds([("CNN-1", 10.0)]),
        TypeError,
        "n must be an integer",
    ),
    # add_label_noise: empty, NaN, dtype, shape
    ("add_label_noise", lambda t: lambda: data.add_label_noise(np.array([], dtype=int), 0.5, 3), None, None),
    ("add_label_noise", lambda t: lambda: data.add_label_noise([0, NAN], 0.5, 3), ValueError, "y contains"),
    (
        "add_label_noise",
        lambda t: lambda: data.add_label_noise(["a"], 0.5, 3),
        TypeError,
        "y must be a numeric",
    ),
    (
        "add_label_noise",
        lambda t: lambda: data.add_label_noise([[0, 1]], 0.5, 3),
        ValueError,
        "y must have 1 dimensions",
    ),
    (
        "add_label_noise",
        lambda t: lambda: data.add_label_noise([0, 3], 0.5, 3),
        ValueError,
        r"y holds label 3",
    ),
    ("add_label_noise", lambda t: lambda: data.add_label_noise([0, 1], NAN, 3), ValueError, "rate must be"),
    (
        "add_label_noise",
        lambda t: lambda: data.add_label_noise([0, 1], 0.5, 1),
        ValueError,
        "num_classes must be >= 2",
    ),
    # normalize
    (
        "normalize",
        lambda t: lambda: data.normalize(np.zeros((0, 3))),
        ValueError,
        r"x is empty \(shape \(0, 3\)\)",
    ),
    ("normalize", lambda t: lambda: data.normalize(np.zeros((2, 0))), ValueError, "x has 2 all-zero"),
    ("normalize", lambda t: lambda: data.normalize([[NAN, 1.0]]), ValueError, "x contains"),
    ("normalize", lambda t: lambda: data.normalize([["a"]]), TypeError, "x must be a numeric"),
    ("normalize", lambda t: lambda: data.normalize([1.0, 2.0]), ValueError, "x must have a batch axis"),
    # one_hot
    ("one_hot", lambda t: lambda: data.one_hot(np.array([], dtype=int), 3), None, None),
    ("one_hot", lambda t: lambda: data.one_hot([0, NAN], 3), ValueError, "y contains"),
    ("one_hot", lambda t: lambda: data.one_hot([0, 1.5], 3), ValueError, "y must hold integer"),
    ("one_hot", lambda t: lambda: data.one_hot([[0]], 3), ValueError, "y must have 1 dimensions"),
    ("one_hot", lambda t: lambda: data.one_hot([0], 0), ValueError, "num_classes must be >= 1"),
    # generators
    ("make_corners", lambda t: lambda: data.make_corners(0), ValueError, "n must be >= 1"),
    ("make_corners", lambda t: lambda: data.make_corners(4.0), TypeError, "n must be an integer"),
    ("make_shapes", lambda t: lambda: data.make_shapes(-1), ValueError, "n must be >= 1"),
    ("make_shapes", lambda t: lambda: data.make_shapes("4"), TypeError, "n must be an integer"),
]

# public names that take no input (nothing to get wrong) or are not functions
NO_INPUT = {"names", "Dataset"}


@pytest.mark.parametrize("name,make,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(tmp_path, name, make, exc, match):
    count = iter(range(100))

    def tmp() -> Path:
        p = tmp_path / f"case{next(count)}"
        p.mkdir()
        return p

    call = make(tmp)
    if exc is None:  # valid edge case: an empty (or well-formed) answer
        out = call()
        if name == "sources":
            assert out["mnist"] == "missing" and out["cifar10"] == "missing"
        elif name == "add_label_noise":
            assert out[0].shape == (0,) and out[1].shape == (0,)
        else:
            assert np.asarray(out).shape[0] == 0
        return
    with pytest.raises(exc, match=match):
        call()


def test_table_covers_every_public_function():
    public = {n for n in data.__all__ if callable(getattr(data, n))}
    assert public - NO_INPUT == {c[0] for c in CASES}
    assert NO_INPUT <= public


def test_well_formed_files_still_load(tmp_path):
    """The checks pass the files they should: 6 train / 3 test images, labels as written."""
    d = data.load("mnist", root=_mnist(tmp_path, gz=True).parent)
    assert sorted(d.y.tolist()) == [0, 1, 2, 3, 4, 5] and sorted(d.y_test.tolist()) == [1, 2, 3]
    d = data.load("cifar10", root=_cifar10(tmp_path).parent)
    assert sorted(d.y.tolist()) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
