"""Scale profiles, seeds, floating-point precision and the data root.

Every notebook asks this module for its sizes instead of hard-coding them, so
one environment variable moves the whole book between a laptop run and the
papers' scale:

``NTKBOOK_SCALE``
    ``ci`` (default) -- every chapter finishes in minutes on a 2-core CPU using
    bundled or generated datasets.  ``paper`` -- the papers' sizes, meant for
    a GPU and for real datasets under ``NTKBOOK_DATA``.
``NTKBOOK_DATA``
    Folder holding the standard files of MNIST, Fashion-MNIST and CIFAR (see
    :mod:`ntkbook.data`).  Defaults to ``~/ntkbook-data``.

Examples
--------
>>> from ntkbook import config
>>> sizes = config.sizes("ch03")   # dict of sizes for chapter 3 at the active scale
>>> config.enable_x64()            # float64 everywhere in JAX
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

SCALES: tuple[str, ...] = ("ci", "paper")
"""The known scale profiles."""

SEED: int = 0
"""The root seed of every notebook; chapters derive their keys from it."""

# One place for every size the chapters use.  Keys are chapter ids
# ("ch03", ...); each profile maps the same keys so a notebook never needs
# to know which profile is active.  The ``ci`` sizes are chosen so the whole
# book executes in well under 20 minutes on 2 CPU cores.
_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "ci": {
        "ch03": dict(n=64, widths=[32, 64, 128, 256, 512, 1024, 2048], n_inits=4, depth=3,
                     dataset="digits"),
    },
    "paper": {
        "ch03": dict(n=500, widths=[64, 128, 256, 512, 1024, 2048, 4096, 8192], n_inits=10,
                     depth=3, dataset="mnist"),
    },
}


def scale() -> str:
    """Return the active scale profile, read from ``NTKBOOK_SCALE`` (default ``"ci"``).

    Raises
    ------
    ValueError
        If ``NTKBOOK_SCALE`` names an unknown profile.
    """
    value = os.environ.get("NTKBOOK_SCALE", "ci").strip().lower() or "ci"
    if value not in SCALES:
        raise ValueError(
            f"NTKBOOK_SCALE={value!r} is not a known scale profile; expected one of {SCALES}."
        )
    return value


def sizes(chapter: str, profile: str | None = None) -> Mapping[str, Any]:
    """Return the read-only sizes of one chapter at the active (or given) profile.

    Parameters
    ----------
    chapter
        Chapter id such as ``"ch03"``.
    profile
        ``"ci"`` or ``"paper"``; defaults to :func:`scale`.

    Raises
    ------
    ValueError
        If the chapter or the profile is unknown.
    """
    profile = scale() if profile is None else profile
    if profile not in SCALES:
        raise ValueError(f"profile={profile!r} is not a known scale profile; expected one of {SCALES}.")
    table = _SIZES[profile]
    if chapter not in table:
        raise ValueError(f"chapter={chapter!r} has no sizes; known chapters: {sorted(table)}.")
    return MappingProxyType(dict(table[chapter]))


def chapters(profile: str | None = None) -> list[str]:
    """Chapter ids that have sizes in the active (or given) profile, sorted."""
    profile = scale() if profile is None else profile
    if profile not in SCALES:
        raise ValueError(f"profile={profile!r} is not a known scale profile; expected one of {SCALES}.")
    return sorted(_SIZES[profile])


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Return the folder of the real datasets: ``root``, else ``NTKBOOK_DATA``, else ``~/ntkbook-data``."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get("NTKBOOK_DATA", "~/ntkbook-data")).expanduser()


def enable_x64(enabled: bool = True) -> None:
    """Switch JAX to float64 (``True``) or back to float32 arrays by default.

    Gram matrices and the linear solves on them are ill-conditioned enough that
    the book computes them in float64; call this before creating any array.
    """
    import jax

    jax.config.update("jax_enable_x64", bool(enabled))


def x64_enabled() -> bool:
    """Whether JAX currently creates float64 arrays by default."""
    import jax

    return bool(jax.config.jax_enable_x64)


_REPORTED_PACKAGES = ("jax", "jaxlib", "neural-tangents", "numpy", "scipy", "tensorflow", "optax",
                      "scikit-learn", "pandas", "matplotlib", "seaborn", "rbo", "mnist1d",
                      "jupyter-book", "myst-nb")


def environment() -> dict[str, Any]:
    """What a reader needs to reproduce a run: versions, machine, profile, seed, precision.

    Returns
    -------
    dict
        ``python``, ``platform``, ``cpu_count``, ``devices`` (JAX devices as
        strings), ``scale``, ``seed``, ``x64``, ``data_root`` and ``packages``
        (name -> installed version, or ``"not installed"``).
    """
    import platform
    from importlib import metadata

    import jax

    packages = {}
    for name in _REPORTED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    return dict(python=platform.python_version(), platform=platform.platform(),
                processor=platform.machine(), cpu_count=os.cpu_count(),
                devices=[str(d) for d in jax.devices()], scale=scale(), seed=SEED,
                x64=x64_enabled(), data_root=str(data_root()), packages=packages)
