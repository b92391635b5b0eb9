"""Finished blocks of one Gram matrix on disk, so an interrupted computation resumes.

A cache folder belongs to one Gram matrix: its ``meta.json`` records a
fingerprint of the inputs, the kind, the block size and *the kernel* (the
layer stack of a :class:`ntkbook.layers.KernelFn`, or, for any other
``kernel_fn``, its values on the first two inputs), so a folder filled by
another kernel is refused before any block is read.  Each block is one
``.npy`` file named after its position and the first 16 hex digits of the
sha256 of its bytes, written atomically (temporary file, then rename): a
process killed mid-write leaves no block, and a file whose bytes no longer
match its name is deleted and recomputed instead of being used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["BlockCache", "fingerprint", "kernel_identity"]

# bump when the layout of a cached block changes, so old folders are refused
_FORMAT = 2


def _check_kind(kind: object) -> None:
    if kind not in ("ntk", "nngp"):
        raise ValueError(f"kind={kind!r}; expected 'ntk' or 'nngp'.")


def kernel_identity(kernel_fn: Callable, x: np.ndarray, kind: str) -> str:
    """A string that differs between two kernels that give different Gram matrices.

    A :class:`ntkbook.layers.KernelFn` is named by its layers and every parameter
    of them; any other ``kernel_fn`` by its values on the first two inputs
    (10 significant digits), which any two different architectures disagree on.
    """
    from .layers import KernelFn

    _check_kind(kind)
    if not callable(kernel_fn):
        raise TypeError(
            f"kernel_fn must be callable (x1, x2, kind) -> array; got {type(kernel_fn).__name__}."
        )
    if isinstance(kernel_fn, KernelFn):
        return "layers:" + "|".join(repr(layer) for layer in kernel_fn.layers)
    probe = np.asarray(kernel_fn(x[:2], x[:2], kind), dtype=np.float64)
    return "values:" + ",".join(f"{v:.10g}" for v in probe.ravel())


def fingerprint(x: np.ndarray, x2: np.ndarray | None, kind: str, batch_size: int, kernel: str) -> str:
    """sha256 of the inputs (shape, dtype, bytes), ``kind``, the block size and the kernel."""
    _check_kind(kind)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}.")
    for name, arr in (("x", x), ("x2", x2)):
        if arr is not None and (np.ndim(arr) < 2 or len(arr) == 0):
            raise ValueError(f"{name} must have shape (N, *feature_shape) with N >= 1; got {np.shape(arr)}.")
    if not isinstance(kernel, str) or not kernel:
        raise ValueError("kernel must be a non-empty string from kernel_identity.")
    h = hashlib.sha256()
    for arr in (x, x2):
        if arr is not None:
            h.update(f"{arr.shape}|{arr.dtype}".encode())
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update(f"{kind}|{batch_size}|{kernel}|format{_FORMAT}".encode())
    return h.hexdigest()


class BlockCache:
    """Finished blocks of one Gram matrix, one ``.npy`` file each, under ``folder``.

    Parameters
    ----------
    folder : path
        Created if missing.
    fingerprint : str
        From :func:`fingerprint`; a folder holding another fingerprint raises ``ValueError``.
    """

    def __init__(self, folder: str | os.PathLike, fingerprint: str):
        if not isinstance(fingerprint, str) or len(fingerprint) != 64:
            raise ValueError(
                "fingerprint must be the 64-hex-digit string gram_cache.fingerprint "
                f"returns; got {fingerprint!r}."
            )
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"cache_dir={str(self.folder)!r} is a file, not a folder.")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.corrupt: list[tuple[int, int]] = []
        meta = self.folder / "meta.json"
        if meta.exists():
            stored = json.loads(meta.read_text()).get("fingerprint")
            if stored != fingerprint:
                raise ValueError(
                    f"cache_dir={str(self.folder)!r} holds blocks of a different Gram matrix "
                    "(other inputs, kind, batch_size or kernel); use another folder or empty "
                    "this one."
                )
        else:
            tmp = self.folder / ".meta.json.tmp"
            tmp.write_text(json.dumps({"fingerprint": fingerprint}))
            os.replace(tmp, meta)

    @staticmethod
    def _digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    def _files(self, i: int, j: int) -> list[Path]:
        return sorted(self.folder.glob(f"block_{i:05d}_{j:05d}.*.npy"))

    def get(self, i: int, j: int) -> np.ndarray | None:
        """The cached block ``(K, b, b)``, or ``None`` when it is missing or fails its checksum."""
        for p in self._files(i, j):
            data = p.read_bytes()
            if p.name.split(".")[1] == self._digest(data):
                try:
                    return np.load(io.BytesIO(data), allow_pickle=False)
                except ValueError:  # checksum of a file that was never a valid .npy
                    pass
            self.corrupt.append((i, j))
            p.unlink(missing_ok=True)
        return None

    def put(self, i: int, j: int, block: np.ndarray) -> None:
        """Save one finished block atomically."""
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(block), allow_pickle=False)
        data = buf.getvalue()
        tmp = self.folder / f".tmp_{i:05d}_{j:05d}.npy"
        tmp.write_bytes(data)
        for old in self._files(i, j):
            old.unlink(missing_ok=True)
        # atomic: an interrupted save leaves no half block under a block's name
        os.replace(tmp, self.folder / f"block_{i:05d}_{j:05d}.{self._digest(data)}.npy")
