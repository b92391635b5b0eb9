"""Keep freed block memory in the process (glibc's malloc thresholds) for the Gram engine.

Every block of a pixel-pair kernel allocates its covariance tensors afresh (XLA's
buffers, megabytes each: 5.5 MB for CNN-1-GAP's 13 x 13 block of digits) and frees them
when the block ends.  glibc serves such sizes with ``mmap`` and returns them on ``free``
until its dynamic rule raises the thresholds, and even then it trims the heap back to the
system whenever more than twice the largest freed chunk lies free at its top -- which the
next block's tensors exceed -- so each block wrote to fresh pages: 396,000 page faults
and 1.1 s of system time in a single-threaded CNN-1-GAP Gram of 100 digits (1.8 s wall),
none and 0.9 s with the thresholds below (2-core CPU, the book's JAX).

:func:`keep_block_memory` sets the two thresholds to the values glibc's own dynamic rule
reaches at most (``mmap`` from 32 MiB, trimming above 64 MiB free): allocations up to
32 MiB come from the heap and freed ones are reused.  The cost is up to 64 MiB of freed
memory kept per malloc arena instead of returned to the system.  It is set once per
process, only on Linux with glibc, and never where the user has set malloc's thresholds
(``MALLOC_*_`` or ``GLIBC_TUNABLES``): their choice stands.
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["keep_block_memory", "applies", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

# mallopt's parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20
"""Allocations from this size on use ``mmap``: glibc's largest dynamic value on 64-bit."""
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
"""Free memory at the heap's top above this is returned: twice the ``mmap`` threshold, as
glibc's dynamic rule sets it."""

_USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)
_state: dict[str, bool] = {}


def keep_block_memory() -> bool:
    """Set glibc's ``mmap`` and trim thresholds once for this process; whether they are set.

    Returns ``False`` (and changes nothing) off Linux/glibc, or where the environment sets
    malloc's tunables (see the module docstring).
    """
    if "set" not in _state:
        _state["set"] = applies() and _apply()
    return _state["set"]


def applies() -> bool:
    """Whether :func:`keep_block_memory` sets the thresholds here (Linux, glibc, and no malloc
    tunables in the environment); it changes nothing."""
    return (
        platform.system() == "Linux" and _glibc() and not any(name in os.environ for name in _USER_SETTINGS)
    )


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # no such name: not glibc
        return False


def _apply() -> bool:
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; the trim threshold first, so that the heap is never
    # trimmed below a chunk that the new mmap threshold now serves from it
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )
