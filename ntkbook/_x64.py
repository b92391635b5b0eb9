"""A float64 context manager that works on the pinned JAX (0.4.23) and on current JAX.

``jax.experimental.enable_x64`` (what the package used before) is gone from
current JAX, which instead offers ``jax.enable_x64`` (a config state that is
also a context manager, from JAX 0.8).  :func:`x64_scope` picks whichever the
installed JAX has, and falls back to saving and restoring the global
``jax_enable_x64`` flag with ``jax.config.update`` on a JAX that has neither.

Examples
--------
>>> import jax.numpy as jnp
>>> from ntkbook._x64 import x64_scope
>>> with x64_scope(True):
...     jnp.zeros(1).dtype          # float64 inside, whatever the global flag says
dtype('float64')
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import jax

__all__ = ["x64_scope", "backend", "x64_enabled"]


def _native() -> tuple[str, Callable | None]:
    """The installed JAX's own x64 context manager, and where it comes from."""
    state = getattr(jax, "enable_x64", None)
    if state is not None and callable(state):
        return "jax.enable_x64", state
    try:
        with warnings.catch_warnings():
            # some releases between 0.4.23 and its removal warn on import
            warnings.simplefilter("ignore", DeprecationWarning)
            from jax.experimental import enable_x64 as experimental
        return "jax.experimental.enable_x64", experimental
    except ImportError:
        return "jax.config.update", None


_BACKEND, _NATIVE = _native()


def backend() -> str:
    """Which mechanism :func:`x64_scope` uses on this JAX (reported by tests and the doctor)."""
    return _BACKEND


def x64_enabled() -> bool:
    """The global ``jax_enable_x64`` flag (attribute on older JAX, ``config.read`` on newer)."""
    try:
        return bool(jax.config.jax_enable_x64)
    except AttributeError:
        return bool(jax.config.read("jax_enable_x64"))


@contextlib.contextmanager
def _global_flag(enabled: bool) -> Iterator[None]:
    previous = x64_enabled()
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def x64_scope(enabled: bool = True):
    """Context manager: JAX creates float64 (``True``) or float32 (``False``) arrays inside it.

    Named apart from :func:`ntkbook.config.enable_x64`, the global switch the notebooks call
    once (issue 27: the two shared one name).

    Parameters
    ----------
    enabled
        The value of ``jax_enable_x64`` inside the ``with`` block; the previous
        value is restored on exit (also when the block raises).
    """
    enabled = bool(enabled)
    if _NATIVE is None:
        return _global_flag(enabled)
    return _NATIVE(enabled)
