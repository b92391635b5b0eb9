"""Reading a labelled dataset for the audit: an ``.npz`` file or a folder of class folders.

Every loader returns ``(x, y, class_names)`` after :func:`check_dataset`, and can
append to two lists the caller passes: ``notes`` (a sentence saying how the data
was read) and ``ids`` (one name per sample, in row order, so that every table of
the report can say *which* sample a row is):

* a folder: ``"<class folder>/<file name>"``, rows ordered by class folder, then
  file name (both sorted);
* an ``.npz``: the entries of an optional array ``ids`` (file names or original
  indices, one per sample), else ``"row <i>"``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import _checks

__all__ = [
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "check_dataset",
    "read_layout",
    "load_npz",
    "load_image_folder",
    "load",
]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg")
"""File endings read as images from a class folder (case-insensitive)."""


def check_dataset(x, y, *, min_per_class: int = 2) -> tuple[np.ndarray, np.ndarray, list]:
    """Check inputs and labels and re-index the labels to ``0..K-1``.

    Parameters
    ----------
    x : array, shape (N, D), (N, L, C) or (N, H, W, C)
        Inputs; finite numbers.
    y : array, shape (N,)
        Integer labels (integer-valued floats are accepted); any values.
    min_per_class
        Fewest samples a class may have (2: the block-diagonalization error
        divides by ``n_k (n_k - 1)``).

    Returns
    -------
    x : ndarray, float64, same shape
    y : ndarray, shape (N,), int64 in ``[0, K)``
    class_names : list
        Original label value of each class, sorted.

    Raises
    ------
    TypeError
        ``x`` or ``y`` not numeric (string labels, say).
    ValueError
        ``x`` without a feature axis or with more than 3, NaN/inf, ``y`` not
        1-D, of another length than ``x``, not integer-valued, fewer than 2
        classes, or a class with fewer than ``min_per_class`` samples.
    """
    yy = np.asarray(y)
    if yy.dtype.kind not in "iuf":
        raise TypeError(
            f"y must hold integer class labels; got dtype {yy.dtype} (map class names to integers first)."
        )
    if np.asarray(x).dtype.kind not in "biuf":  # a float64 cast would parse strings "1.5"
        raise TypeError(f"x must be a numeric array; got dtype {np.asarray(x).dtype}.")
    x = _checks.finite_array(x, "x", ndim=(2, 3, 4), dtype=np.float64)
    if 0 in x.shape:
        raise ValueError(
            f"x is empty (shape {x.shape}); the audit needs samples with at least one feature each."
        )
    if yy.ndim != 1:
        raise ValueError(f"y must be 1-D, one label per sample; got shape {yy.shape}.")
    if yy.shape[0] != x.shape[0]:
        raise ValueError(
            f"x has {x.shape[0]} samples but y has {yy.shape[0]} labels; they must "
            "match (x of shape (N, ...), y of shape (N,))."
        )
    if yy.dtype.kind == "f":
        yy = _checks.finite_array(yy, "y")
        if not np.all(np.equal(np.mod(yy, 1), 0)):
            raise ValueError("y must hold integer class labels; got non-integer values.")
    yy = yy.astype(np.int64)
    values, y_idx, counts = np.unique(yy, return_inverse=True, return_counts=True)
    if len(values) < 2:
        raise ValueError(
            f"y has a single class ({values.tolist()}); the tools compare classes, at least 2 are needed."
        )
    small = counts < min_per_class
    if small.any():
        bad = {int(v): int(c) for v, c in zip(values[small], counts[small])}
        raise ValueError(
            f"every class needs at least {min_per_class} samples; class(es) "
            f"{list(bad)} have {list(bad.values())} (label: count {bad})."
        )
    return x, y_idx.astype(np.int64).reshape(-1), [v.item() for v in values]


LAYOUTS: tuple[str, ...] = ("auto", "images", "signals")
"""How a 3-D ``x`` of an ``.npz`` is read (:func:`read_layout`)."""


def read_layout(shape: Sequence[int], layout: str = "auto", source: str = "x") -> tuple[tuple[int, ...], str]:
    """How an input array of ``shape`` is read: the shape the audit uses and a sentence saying so.

    ``(N, D)`` are feature vectors and ``(N, H, W, C)`` channels-last images.
    ``(N, A, B)`` is ambiguous: greyscale images ``H x W`` (the usual way they
    are stored, read as ``(N, H, W, 1)``) or 1-D signals of length ``L`` with
    ``C`` channels (how :mod:`ntkbook.data` stores them).  ``layout="auto"``
    reads it as images unless the last axis is 1 or 3 (a channel axis), and the
    sentence always says which reading was taken and how to force the other.

    Parameters
    ----------
    shape
        Shape of ``x``.
    layout
        ``"auto"``, ``"images"`` or ``"signals"`` (used only for 3-D ``x``).
    source
        What to call the array in the sentence (e.g. the file name).

    Returns
    -------
    shape : tuple of int
        The shape ``x`` is reshaped to (no data is moved).
    note : str
        How ``x`` was read.
    """
    _checks.one_of(layout, "layout", LAYOUTS)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return shape, f"{source}: shape {shape} read as {shape[0]} feature vectors of length {shape[1]}."
    if len(shape) == 4:
        return shape, (
            f"{source}: shape {shape} read as {shape[0]} images {shape[1]}x{shape[2]} "
            f"with {shape[3]} channel(s) (channels last)."
        )
    if len(shape) != 3:
        return shape, f"{source}: shape {shape}."
    n, a, b = shape
    if layout == "auto":
        layout = "signals" if b in (1, 3) else "images"
        why = (
            f"its last axis ({b}) looks like a channel axis; pass layout='images' "
            f"(--layout images) to read it as {a}x{b} greyscale images"
            if layout == "signals"
            else f"the usual layout of greyscale images; pass layout='signals' "
            f"(--layout signals) to read it as 1-D signals of length {a} with {b} channels"
        )
    else:
        why = f"as asked (layout={layout!r})"
    if layout == "images":
        return (n, a, b, 1), (
            f"{source}: shape {shape} is ambiguous; read as {n} greyscale "
            f"images {a}x{b}, shape {(n, a, b, 1)} ({why})."
        )
    return shape, (
        f"{source}: shape {shape} is ambiguous; read as {n} 1-D signals of length "
        f"{a} with {b} channel(s) ({why})."
    )


def load_npz(
    path: str | Path, layout: str = "auto", notes: list | None = None, ids: list | None = None
) -> tuple[np.ndarray, np.ndarray, list]:
    """Read an ``.npz`` file with arrays ``x`` and ``y`` and check it (:func:`check_dataset`).

    Parameters
    ----------
    path
        The ``.npz`` file.
    layout
        How a 3-D ``x`` is read (:func:`read_layout`): ``"auto"`` (greyscale
        images ``(N, H, W)`` -> ``(N, H, W, 1)`` unless the last axis is 1 or 3),
        ``"images"`` or ``"signals"``.
    notes
        If given, a sentence saying how ``x`` was read is appended to it.
    ids
        If given, one name per sample is appended to it: the entries of an
        optional array ``ids`` in the file (file names or original indices,
        shape (N,)), else ``"row <i>"``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an ``.npz`` archive, a corrupt or truncated one (the message names
        the file), keys ``x`` or ``y`` missing, or any error of
        :func:`check_dataset`.
    """
    import zipfile
    import zlib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DATA file {path} does not exist.")
    _checks.one_of(layout, "layout", LAYOUTS)
    try:
        # read from memory: np.load leaks its file handle when a damaged archive fails to open
        archive = np.load(io.BytesIO(Path(path).read_bytes()), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is not a readable .npz archive of numeric arrays ({err}).") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{path} holds a single array; expected an .npz archive with arrays "
            "'x' (inputs) and 'y' (labels), as written by np.savez(path, x=x, y=y)."
        )
    with archive:
        missing = [k for k in ("x", "y") if k not in archive.files]
        if missing:
            raise ValueError(
                f"{path} has keys {sorted(archive.files)} but lacks {missing}; "
                "expected arrays 'x' (inputs) and 'y' (labels)."
            )
        try:
            x, y = archive["x"], archive["y"]
            names = archive["ids"] if "ids" in archive.files else None
        except ValueError as err:  # object arrays need pickle, which we refuse
            raise ValueError(f"{path}: 'x' and 'y' must be numeric arrays ({err}).") from err
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as err:
            raise ValueError(
                f"{path} is a corrupt or truncated .npz archive ({type(err).__name__}: {err})."
            ) from err
    shape, note = read_layout(np.shape(x), layout, source=path.name)
    out = check_dataset(np.reshape(x, shape), y)
    if names is not None and (np.ndim(names) != 1 or len(names) != len(out[1])):
        raise ValueError(
            f"{path}: 'ids' must hold one name or index per sample, shape "
            f"({len(out[1])},); got shape {np.shape(names)}."
        )
    if notes is not None:
        notes.append(note + (" Sample names from its 'ids' array." if names is not None else ""))
    if ids is not None:
        ids.extend([str(v) for v in names] if names is not None else [f"row {i}" for i in range(len(out[1]))])
    return out


# Greyscale PIL modes and the largest value of their real bit depth.  PNG stores at most
# 16 bits per sample, so a 32-bit "I" image read from a PNG holds 16-bit values.
_GREY_DEPTH: dict[str, int] = {
    "L": 255,
    "LA": 255,
    "I;16": 65535,
    "I;16B": 65535,
    "I;16L": 65535,
    "I;16N": 65535,
}


def _image_array(f: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as float64 in [0, 1], (H, W) greyscale or (H, W, 3) RGB, scaled by its bit depth."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(f) as im:
            im.load()
            mode = im.mode
            if mode == "1":
                arr = np.asarray(im, dtype=np.float64)
            elif mode in _GREY_DEPTH or (mode == "I" and im.format == "PNG"):
                band = im.getchannel(0) if mode == "LA" else im
                raw = np.asarray(band)
                top = _GREY_DEPTH.get(mode, 65535)  # a PNG holds at most 16 bits
                if raw.size and (raw.min() < 0 or raw.max() > top):
                    raise ValueError(
                        f"image {f} (mode {mode}) holds values in "
                        f"[{raw.min()}, {raw.max()}], outside the [0, {top}] of its "
                        "bit depth; convert it to an 8- or 16-bit PNG."
                    )
                arr = raw.astype(np.float64) / top
            elif mode == "F" or mode.startswith(("I", "F;")):
                raise ValueError(
                    f"image {f} ({im.format} data, mode {mode!r}: a float or 32-bit "
                    "image) has no known value range to scale by, and clipping at "
                    "255 would be wrong; convert it to an 8- or 16-bit PNG, or "
                    "save the arrays in an .npz."
                )
            else:  # palette, RGB(A), CMYK, ...: 8 bits per channel after conversion
                arr = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {f} ({err}).") from err
    if size is not None:
        # resize each channel in float32 (never through 8 bits, which would quantise 16-bit data)
        h, w = int(size[0]), int(size[1])
        chans = arr[..., None] if arr.ndim == 2 else arr
        chans = np.stack(
            [
                np.asarray(
                    Image.fromarray(chans[..., c].astype(np.float32), "F").resize((w, h)), dtype=np.float64
                )
                for c in range(chans.shape[-1])
            ],
            axis=-1,
        )
        arr = chans[..., 0] if arr.ndim == 2 else chans
    return arr


def _visible_files(folder: Path) -> list[Path]:
    """Image files of a class folder, sorted; hidden files (``.x``, macOS ``._x.png``) skipped."""
    return sorted(
        f
        for f in folder.iterdir()
        if not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
    )


def load_image_folder(
    path: str | Path, size: tuple[int, int] | None = None, notes: list | None = None, ids: list | None = None
) -> tuple[np.ndarray, np.ndarray, list]:
    """Read a folder with one sub-folder of images per class.

    Parameters
    ----------
    path
        Folder whose sub-folders (sorted by name) are the classes; each holds
        PNG or JPEG files (:data:`IMAGE_SUFFIXES`).  Hidden files and folders
        (names starting with ``.``, such as macOS's ``._photo.png``) are skipped.
    size
        ``(height, width)`` to resize every image to; ``None`` requires all
        images to have the same size.
    notes
        If given, a sentence saying how the images were read is appended to it.
    ids
        If given, ``"<class folder>/<file name>"`` of every image is appended to
        it, in row order (class folders sorted, then file names sorted).

    Returns
    -------
    x : ndarray, shape (N, H, W, C), float64 in [0, 1]
        Each image divided by the largest value of its bit depth (255 for 8-bit,
        65535 for 16-bit greyscale; never clipped).  ``C = 1`` when every image
        is greyscale, else 3 (RGB; alpha dropped).
    y : ndarray, shape (N,)
    class_names : list of str
        The sub-folder names.

    Raises
    ------
    ValueError
        No class sub-folders, a sub-folder without images, images of different
        sizes (without ``size``), an unreadable image, a float image or values
        outside the image's bit depth (naming the file), or any error of
        :func:`check_dataset`.
    """
    path = Path(path)
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{path} has no sub-folders; expected one folder of images per class.")
    images, labels, names, grey = [], [], [], True
    shapes: dict[tuple[int, ...], Path] = {}  # image size -> the first file of that size
    for k, folder in enumerate(classes):
        files = _visible_files(folder)
        if not files:
            raise ValueError(f"class folder {folder} holds no {'/'.join(IMAGE_SUFFIXES)} images.")
        for f in files:
            arr = _image_array(f, size)
            grey &= arr.ndim == 2
            shapes.setdefault(arr.shape[:2], f)
            images.append(arr)
            labels.append(k)
            names.append(f"{folder.name}/{f.name}")
    if len(shapes) > 1:
        seen = ", ".join(f"{h}x{w} ({f.name})" for (h, w), f in shapes.items())
        raise ValueError(
            f"images in {path} have different sizes: {seen}; resize them or pass "
            "size=(height, width) (--size H W)."
        )
    if not grey:  # mixed or colour: RGB everywhere
        images = [np.repeat(a[..., None], 3, axis=-1) if a.ndim == 2 else a for a in images]
    x = np.stack([a[..., None] if a.ndim == 2 else a for a in images])
    x, y, _ = check_dataset(x, np.asarray(labels))
    if notes is not None:
        notes.append(
            f"{path.name}/: {len(y)} images in {len(classes)} class folders read as "
            f"shape {x.shape} ({'greyscale' if grey else 'RGB'}), each divided by the "
            "largest value of its bit depth."
        )
    if ids is not None:
        ids.extend(names)
    return x, y, [c.name for c in classes]


def load(
    path: str | Path,
    size: tuple[int, int] | None = None,
    layout: str = "auto",
    notes: list | None = None,
    ids: list | None = None,
) -> tuple[np.ndarray, np.ndarray, list]:
    """:func:`load_npz` for a file (with ``layout``), :func:`load_image_folder` for a folder (with ``size``)."""
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path, size, notes=notes, ids=ids)
    return load_npz(path, layout=layout, notes=notes, ids=ids)
