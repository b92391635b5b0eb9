"""The same random draws on every JAX: ntkbook's weights and minibatch orders use the original threefry.

JAX 0.5 switched the default of ``jax_threefry_partitionable`` to ``True``: a newer JAX draws
other numbers from the same key than the book's pinned JAX 0.4.23 (and neural-tangents'
``stax``) did.  :func:`same_draws` makes ntkbook's own draws -- the initial weights of every
:mod:`ntkbook.layers` network and the minibatch orders of :func:`ntkbook.dynamics.train` -- use
the original, non-partitionable threefry on every version, for the time they are drawn only (a
reader's own setting is left as it is), so a seed gives the same network on the book's stack,
in the core environment and on a GPU.  On a CPU it also compiles faster: the partitionable
variant took 5.7 s of CPU to compile ``random.normal`` for four weight shapes of a small CNN,
the original one 1.7 s (JAX 0.10.2).

Even so, XLA compiles the threefry cipher again for every new weight shape: 0.2 s of CPU each
on JAX 0.4.23, 0.4 s on JAX 0.10.2 (chapter 1 compiled it for 25 shapes: 4.7 s of its 48 s of
CPU).  :func:`normal` draws the same numbers without it: the cipher (integer arithmetic, exact
anywhere) runs in NumPy, and only JAX's own conversion of the bits to normal floats is
compiled, once per power-of-two size (1,024 draws or more).

Examples
--------
>>> import jax
>>> from ntkbook._prng import normal, same_draws
>>> with same_draws():
...     w = jax.random.normal(jax.random.PRNGKey(0), (2,))
>>> bool((normal(jax.random.PRNGKey(0), (2,)) == w).all())
True
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["same_draws", "normal"]


@contextlib.contextmanager
def same_draws() -> Iterator[None]:
    """Draw with the original threefry (``jax_threefry_partitionable=False``) inside the block."""
    with jax.threefry_partitionable(False):
        yield


# Threefry-2x32's rotations and key-schedule constant (Salmon et al. 2011, as in JAX's lowering)
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KS_PARITY = np.uint32(0x1BD11BDA)
# Draws are padded to a power of two, and to at least this many: the biases and small weight
# matrices of a chapter share one compiled conversion.
_MIN_PADDED = 1 << 10
# NumPy's cipher costs its time at every draw (about 25 ms per 2^20 words), XLA's compiled one
# once per shape (0.2-0.4 s): above this many draws a few seeds of one layer already repay the
# compilation, so such arrays are drawn by jax.random itself.
_NUMPY_CIPHER_MAX = 1 << 20


def _threefry2x32(key: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Threefry-2x32 cipher (20 rounds) of the counter pairs ``(x0[i], x1[i])``, uint32."""
    k0, k1 = np.uint32(key[0]), np.uint32(key[1])
    ks = (k0, k1, k0 ^ k1 ^ _KS_PARITY)
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r)))
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _random_words(key: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` 32-bit words that the original threefry draws for ``n`` words from ``key``.

    JAX ciphers the counters ``0 .. n-1`` (a zero appended when ``n`` is odd) as the pairs
    (first half, second half) and concatenates the two outputs.
    """
    count = np.arange(n + n % 2, dtype=np.uint32)
    count[n:] = 0
    half = len(count) // 2
    return np.concatenate(_threefry2x32(key, count[:half], count[half:]))[:n]


@jax.jit
def _bits_to_normal(bits: jax.Array) -> jax.Array:
    """JAX's ``random.normal`` after its bits: uniform in (-1, 1), then ``sqrt(2) erfinv``.

    ``bits`` (M,) uint32 for float32 draws, uint64 for float64; written as
    ``jax.random._uniform`` and ``_normal_real`` write it, so XLA computes the same floats.
    """
    dtype = jnp.float64 if bits.dtype == jnp.uint64 else jnp.float32
    finfo = jnp.finfo(dtype)
    lo = lax.convert_element_type(np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype)), dtype)
    hi = lax.convert_element_type(np.array(1.0, dtype), dtype)
    lo, hi = lax.broadcast_to_rank(lo, 1), lax.broadcast_to_rank(hi, 1)
    mantissa = lax.shift_right_logical(bits, np.array(finfo.bits - finfo.nmant, bits.dtype))
    one = np.array(1.0, dtype).view(bits.dtype)
    floats = lax.bitcast_convert_type(lax.bitwise_or(mantissa, one), dtype) - np.array(1.0, dtype)
    u = lax.max(lo, floats * (hi - lo) + lo)
    return lax.mul(np.array(np.sqrt(2), dtype), lax.erf_inv(u))


def normal(key: jax.Array, shape: Sequence[int]) -> jax.Array:
    """``jax.random.normal(key, shape)`` with the original threefry, bit for bit, without compiling the cipher.

    Parameters
    ----------
    key : array, shape (2,), uint32
        A raw threefry key (``jax.random.PRNGKey``).  Typed keys, keys of another PRNG, traced
        keys (inside ``jit`` or ``vmap``) and very large draws go to ``jax.random.normal``
        (inside :func:`same_draws`): the same numbers, compiled for their shape.
    shape : tuple of int
        The draw's shape.

    Returns
    -------
    array, shape ``shape``
        Standard normal draws in JAX's default float type (float64 where x64 is on).
    """
    shape = tuple(int(d) for d in shape)
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    size = math.prod(shape)
    raw = (
        not isinstance(key, jax.core.Tracer)
        and getattr(key, "shape", None) == (2,)
        and getattr(key, "dtype", None) == np.uint32
        and jax.config.jax_default_prng_impl == "threefry2x32"
    )
    if not raw or not 0 < size <= _NUMPY_CIPHER_MAX:
        with same_draws():
            return jax.random.normal(key, shape, dtype)
    key_words = np.asarray(key)
    if dtype == np.float64:
        # 64-bit draws: twice the words, the first half the high words (jax.random's order)
        words = _random_words(key_words, 2 * size)
        bits = (words[:size].astype(np.uint64) << np.uint64(32)) | words[size:].astype(np.uint64)
    else:
        bits = _random_words(key_words, size)
    # padded to a power of two, so that one compiled conversion serves every size up to it
    padded = np.zeros(max(_MIN_PADDED, 1 << (size - 1).bit_length()), bits.dtype)
    padded[:size] = bits
    # cut and shaped on the host: on the device each new size would compile a slice
    return jnp.asarray(np.asarray(_bits_to_normal(padded))[:size].reshape(shape))
