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

Examples
--------
>>> import jax
>>> from ntkbook._prng import same_draws
>>> with same_draws():
...     w = jax.random.normal(jax.random.PRNGKey(0), (2,))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

__all__ = ["same_draws"]


@contextlib.contextmanager
def same_draws() -> Iterator[None]:
    """Draw with the original threefry (``jax_threefry_partitionable=False``) inside the block."""
    with jax.threefry_partitionable(False):
        yield
