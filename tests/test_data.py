"""Dataset loaders, on bundled/generated data and on tiny files written in the real formats."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from ntkbook import data

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


def test_digits_split_and_range():
    d = data.load("digits")
    assert d.x.shape == (1347, 8, 8, 1) and d.x_test.shape == (450, 8, 8, 1)
    assert d.num_classes == 10 and d.image_shape == (8, 8, 1)
    assert d.x.min() == 0.0 and d.x.max() == 1.0
    # stratified split: every class present in both parts
    assert set(d.y) == set(d.y_test) == set(range(10))


def test_subsample_is_deterministic():
    a, b, c = (
        data.load("digits", n=50, seed=3),
        data.load("digits", n=50, seed=3),
        data.load("digits", n=50, seed=4),
    )
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.y, c.y)
    with pytest.raises(ValueError, match="n=5000 but only 1347"):
        data.load("digits", n=5000)


# mnist1d datasets generated for real in this module, by seed (4-5 s of CPU each): the cache
# test below counts the generator's calls but needs each seed's arrays only once
_GENERATED: dict[int, dict] = {}


@pytest.mark.pinned
def test_mnist1d_generated_locally_and_keeps_global_rng(tmp_path, monkeypatch):
    pytest.importorskip("mnist1d", reason="the mnist1d package is a book dependency, not in the core lock")
    generate = data._make_mnist1d

    def kept(seed):  # the real generator runs here (it is what must keep the global state)
        _GENERATED[seed] = generate(seed)
        return _GENERATED[seed]

    monkeypatch.setattr(data, "_make_mnist1d", kept)
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    d = data.load("mnist1d", n=100, n_test=50, seed=0, root=tmp_path)  # an empty root: generated here
    after = np.random.random()
    assert before == after, "loading mnist1d must not disturb NumPy's global generator"
    assert d.x.shape == (100, 40, 1) and d.x_test.shape == (50, 40, 1)
    assert d.num_classes == 10


@pytest.mark.pinned
def test_mnist1d_generated_once_per_seed_then_read_back_bit_for_bit(tmp_path, monkeypatch):
    pytest.importorskip("mnist1d", reason="the mnist1d package is a book dependency, not in the core lock")
    made = []
    generate = data._make_mnist1d

    def counted(seed):
        # every call is counted; a seed is generated for real once in this module (seed 0 by
        # the test above, if it ran), the calls after it get the same arrays again
        made.append(seed)
        if seed not in _GENERATED:
            _GENERATED[seed] = generate(seed)
        return _GENERATED[seed]

    monkeypatch.setattr(data, "_make_mnist1d", counted)

    def same(a, b):
        return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("x", "y", "x_test", "y_test"))

    fresh = data.load("mnist1d", n=60, n_test=30, seed=0, root=tmp_path)
    again = data.load("mnist1d", n=60, n_test=30, seed=0, root=tmp_path)
    assert made == [0] and same(fresh, again)
    path = data._mnist1d_cache_path(0, tmp_path)
    assert path.parent == tmp_path / "mnist1d" and [p.name for p in path.parent.iterdir()] == [path.name]
    # a truncated file is not read back: the generator is called again (its arrays are written anew)
    path.write_bytes(path.read_bytes()[:200])
    assert same(data.load("mnist1d", n=60, n_test=30, seed=0, root=tmp_path), fresh) and made == [0, 0]
    # another seed is another file and another dataset
    other = data.load("mnist1d", n=60, n_test=30, seed=4, root=tmp_path)
    assert made == [0, 0, 4] and not np.array_equal(other.x, fresh.x)
    # without a data root nothing is written (and nothing created)
    data.load("mnist1d", n=60, n_test=30, seed=0, root=tmp_path / "absent")
    assert made == [0, 0, 4, 0] and not (tmp_path / "absent").exists()


@pytest.mark.parametrize("name", ["corners", "shapes"])
def test_synthetic_sets(name):
    d = data.load(name, n=80, n_test=20, seed=0)
    assert d.x.shape == (80, 32, 32, 1) and d.num_classes == 4
    assert np.bincount(np.concatenate([d.y, d.y_test])).tolist() == [25] * 4
    np.testing.assert_array_equal(d.x, data.load(name, n=80, n_test=20, seed=0).x)


def test_corners_pixel_is_in_its_quadrant():
    x, y = data.make_corners(200, seed=1, noise=0.1)
    for img, label in zip(x[..., 0], y):
        r, c = np.unravel_index(np.argmax(img), img.shape)
        assert (r >= 16) == (label >= 2) and (c >= 16) == (label % 2 == 1)
        assert img.max() == 1.0 and np.sort(img.ravel())[-2] < 0.1


def test_shapes_areas_are_ordered():
    """Mean filled area: triangle < diamond < circle, the square in between (a check on the drawing)."""
    x, y = data.make_shapes(400, seed=0, noise=0.0)
    area = (x[..., 0] == 1.0).sum(axis=(1, 2))
    mean = [area[y == k].mean() for k in range(4)]
    circle, diamond, square, triangle = mean
    assert triangle < diamond < circle and diamond < square


def test_unknown_name():
    with pytest.raises(ValueError, match="known names: .*digits.*cifar100"):
        data.load("imagenet")


def _write_idx(path, arr: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_loader_on_tiny_files(tmp_path, rng, name, gz):
    folder = tmp_path / name
    folder.mkdir()
    xtr = rng.integers(0, 256, size=(6, 28, 28))
    xte = rng.integers(0, 256, size=(4, 28, 28))
    ytr, yte = np.arange(6) % 10, np.array([9, 8, 7, 6])
    _write_idx(folder / "train-images-idx3-ubyte", xtr, gz)
    _write_idx(folder / "train-labels-idx1-ubyte", ytr, gz)
    _write_idx(folder / "t10k-images-idx3-ubyte", xte, gz)
    _write_idx(folder / "t10k-labels-idx1-ubyte", yte, gz)
    d = data.load(name, root=tmp_path)
    assert d.x.shape == (6, 28, 28, 1) and d.x_test.shape == (4, 28, 28, 1)
    # rows are shuffled by the loader: match them back through the labels of the test set
    order = np.argsort(-d.y_test)
    np.testing.assert_allclose(d.x_test[order][..., 0], xte / 255.0, rtol=1e-6)


def test_real_splits_are_read_once_and_again_when_a_file_changes(tmp_path, rng, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    xtr = rng.integers(0, 256, size=(6, 28, 28))
    for stem, arr in (
        ("train-images-idx3-ubyte", xtr),
        ("train-labels-idx1-ubyte", np.arange(6) % 10),
        ("t10k-images-idx3-ubyte", xtr[:4]),
        ("t10k-labels-idx1-ubyte", np.arange(4)),
    ):
        _write_idx(folder / stem, arr, gz=False)
    reads = []
    monkeypatch.setattr(data, "read_idx", lambda p, _read=data.read_idx: reads.append(p) or _read(p))
    data._read_idx_split.cache_clear()
    a = data.load("mnist", n=5, seed=1, root=tmp_path)
    a.x[:] = -1.0  # the caller's copy: the next load must not see it
    b = data.load("mnist", n=5, seed=1, root=tmp_path)
    assert len(reads) == 4  # four files, read once
    # the same draw as drawing from the files read afresh: rows of x / 255 (float64, then float32)
    idx = np.random.default_rng(1).permutation(6)[:5]
    np.testing.assert_array_equal(b.x, (xtr[idx, :, :, None] / 255.0).astype(np.float32))
    # a file written again (new size or time) is read again
    _write_idx(folder / "train-images-idx3-ubyte", 255 - xtr, gz=False)
    c = data.load("mnist", n=5, seed=1, root=tmp_path)
    assert len(reads) == 8
    np.testing.assert_array_equal(c.x, ((255 - xtr)[idx, :, :, None] / 255.0).astype(np.float32))


def test_cifar10_loader_on_tiny_pickles(tmp_path, rng):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for i, f in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        img = rng.integers(0, 256, size=(2, 3, 32, 32), dtype=np.uint8)
        batches[f] = img
        with open(folder / f, "wb") as fh:
            pickle.dump({b"data": img.reshape(2, -1), b"labels": [i, i]}, fh)
    d = data.load("cifar10", root=tmp_path)
    assert d.x.shape == (10, 32, 32, 3) and d.x_test.shape == (2, 32, 32, 3)
    # channels-last: pixel (r, c) of channel k is img[k, r, c]
    expected = batches["test_batch"].transpose(0, 2, 3, 1) / 255.0
    got = d.x_test[np.argsort([float(v.sum()) for v in d.x_test])]
    want = expected[np.argsort([float(v.sum()) for v in expected])]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert sorted(d.y.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_cifar100_loader_on_tiny_pickles(tmp_path, rng):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for f, n in (("train", 3), ("test", 2)):
        with open(folder / f, "wb") as fh:
            pickle.dump(
                {
                    b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                    b"fine_labels": [99] * n,
                    b"coarse_labels": [0] * n,
                },
                fh,
            )
    d = data.load("cifar100", root=tmp_path)
    assert d.num_classes == 100 and d.x.shape == (3, 32, 32, 3) and set(d.y) == {99}


@pytest.mark.parametrize(
    "name,expected",
    [("mnist", "train-images-idx3-ubyte"), ("cifar10", "data_batch_1"), ("cifar100", "train")],
)
def test_missing_files_name_the_files_and_env_var(tmp_path, name, expected):
    with pytest.raises(FileNotFoundError, match=f"{expected}.*NTKBOOK_DATA"):
        data.load(name, root=tmp_path)


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NTKBOOK_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        data.load("fashion_mnist")


def test_label_noise_flips_exactly_and_always_changes_class(rng):
    y = rng.integers(0, 10, size=1001)
    for rate in (0.0, 0.1, 0.2, 0.7, 1.0):
        noisy, flipped = data.add_label_noise(y, rate, 10, seed=5)
        assert len(flipped) == int(np.floor(rate * 1001 + 0.5))
        assert np.all(noisy[flipped] != y[flipped])
        mask = np.ones(1001, bool)
        mask[flipped] = False
        np.testing.assert_array_equal(noisy[mask], y[mask])
        assert np.all(np.diff(flipped) > 0)


def test_label_noise_new_classes_are_uniform():
    y = np.zeros(30000, dtype=int)
    noisy, _ = data.add_label_noise(y, 1.0, 4, seed=0)
    counts = np.bincount(noisy, minlength=4)
    assert counts[0] == 0
    # each of the 3 other classes gets 1/3; 3 standard deviations is about 0.008
    np.testing.assert_allclose(counts[1:] / 30000, 1 / 3, atol=0.01)


def test_label_noise_bad_input():
    with pytest.raises(ValueError, match="y holds label 10 but num_classes=10"):
        data.add_label_noise(np.array([0, 10]), 0.5, 10)
    with pytest.raises(ValueError, match="rate must be in"):
        data.add_label_noise(np.array([0, 1]), 1.5, 10)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        data.add_label_noise(np.array([0, 0]), 0.5, 1)


def test_normalize(rng):
    x = rng.normal(size=(5, 3, 2))
    z = data.normalize(x)
    np.testing.assert_allclose(np.linalg.norm(z.reshape(5, -1), axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(z * np.linalg.norm(x.reshape(5, -1), axis=1)[:, None, None], x)
    x[2] = 0
    with pytest.raises(ValueError, match="all-zero sample"):
        data.normalize(x)
    x[2, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        data.normalize(x)


def test_one_hot():
    Y = data.one_hot([0, 2, 1], 3)
    np.testing.assert_array_equal(Y, np.eye(3)[[0, 2, 1]])
    Yc = data.one_hot([0, 2, 1], 3, centered=True)
    np.testing.assert_allclose(Yc.sum(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(Yc[0], [2 / 3, -1 / 3, -1 / 3])
