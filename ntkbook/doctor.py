"""``python -m ntkbook.doctor``: can this machine compute the book's Gram matrices, and how fast?

Prints, in order:

1. the JAX version, its default backend and every device it sees;
2. whether float64 is on by default and that the package's Gram engine returns float64;
3. the free memory of each device (``device.memory_stats()`` where JAX has it, the host's
   ``MemAvailable`` for CPUs);
4. which optional parts are importable: neural-tangents (the test oracle and the
   chapters that teach it), the book and test extras;
5. a Gram matrix of ``--n`` (default 200) unit-norm 8x8 digits with the CNN-1 and 2-L
   kernels (the zoo's networks in :mod:`ntkbook.layers`, which need no
   neural-tangents) on the CPU and on every accelerator, each accelerator's matrix checked
   against the CPU's to ``--rtol`` (default 1e-8, relative to the largest entry), with the
   time of a first call (compilation included) and of a second one.

It runs in both environments: the pinned one (``.venv``) and the core one (``.venv-core``:
current JAX, no neural-tangents).  Exit status 0 when every device agrees with the CPU,
1 otherwise.  On a machine without an accelerator it says so and checks the CPU alone.

Examples
--------
>>> from ntkbook import doctor
>>> rep = doctor.run(n=16)                   # doctest: +SKIP
>>> print(doctor.format_report(rep))         # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

from . import _checks

__all__ = [
    "KERNELS",
    "OPTIONAL",
    "DeviceInfo",
    "GramCheck",
    "Report",
    "relative_error",
    "device_info",
    "optional_parts",
    "check_gram",
    "run",
    "format_report",
    "main",
]

KERNELS: tuple[str, ...] = ("CNN-1", "2-L")
"""Zoo kernels the doctor times: a flatten CNN (convolutions) and the 2-layer MLP (closed form)."""

OPTIONAL: dict[str, tuple[str, str]] = {
    # import name -> (distribution name, what it is for)
    "neural_tangents": ("neural-tangents", "test oracle; the chapters that teach neural-tangents, eNTK"),
    "tensorflow": ("tensorflow", "needed by neural-tangents"),
    "optax": ("optax", "finite-width training (dynamics.train)"),
    "jupyter_book": ("jupyter-book", "book extra: building the book"),
    "myst_nb": ("myst-nb", "book extra: notebooks and glue in the book"),
    "nbconvert": ("nbconvert", "running one chapter (make notebook; installed with jupyter-book)"),
    "nbmake": ("nbmake", "test extra: pytest --nbmake, for readers' own notebook checks"),
    "playwright": ("playwright", "test extra: the browser test of the built book"),
    "jupyterlab": ("jupyterlab", "lab extra"),
}
"""Optional parts reported as importable or not."""


@dataclass(frozen=True)
class DeviceInfo:
    """One JAX device: its name, platform and free memory in bytes (``None`` if unknown)."""

    name: str
    platform: str
    free_bytes: int | None
    total_bytes: int | None
    memory_source: str


@dataclass(frozen=True)
class GramCheck:
    """One kernel's Gram on one device, compared with the CPU's.

    ``rel_err`` is ``max|G_device - G_cpu| / max|G_cpu|``; ``first_s`` includes compilation,
    ``second_s`` is a second call on the same inputs.
    """

    kernel: str
    device: str
    platform: str
    n: int
    rel_err: float
    first_s: float
    second_s: float
    dtype: str
    ok: bool


@dataclass
class Report:
    """Everything :func:`format_report` prints."""

    jax_version: str
    jaxlib_version: str
    backend: str
    x64_default: bool
    x64_mechanism: str
    devices: list[DeviceInfo]
    optional: dict[str, str]
    checks: list[GramCheck] = field(default_factory=list)
    rtol: float = 1e-8
    n: int = 200

    @property
    def accelerators(self) -> list[DeviceInfo]:
        """The devices that are not CPUs."""
        return [d for d in self.devices if d.platform != "cpu"]

    @property
    def ok(self) -> bool:
        """Every Gram finite, float64, and every device within ``rtol`` of the CPU."""
        return bool(self.checks) and all(c.ok for c in self.checks)


def relative_error(a, b) -> float:
    """``max|a - b| / max|b|`` for two arrays of one shape (0 when both are all zeros).

    Parameters
    ----------
    a, b : array, shape (N1, N2)
        A device's Gram matrix and the CPU reference.
    """
    a = _checks.finite_array(a, "a")
    b = _checks.finite_array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one shape; got {a.shape} and {b.shape}.")
    if b.size == 0:
        raise ValueError("a and b are empty; a relative error needs at least one entry.")
    scale = float(np.max(np.abs(b)))
    diff = float(np.max(np.abs(a - b)))
    return diff / scale if scale > 0 else diff


def _host_memory() -> tuple[int | None, int | None]:
    """(MemAvailable, MemTotal) of the host in bytes from /proc/meminfo, or (None, None)."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
        return info.get("MemAvailable"), info.get("MemTotal")
    except (OSError, ValueError, IndexError):
        return None, None


def device_info(device) -> DeviceInfo:
    """Free and total memory of one JAX device.

    Accelerators report ``bytes_limit - bytes_in_use`` from ``device.memory_stats()``; CPU
    devices (no such statistics) report the host's available memory.
    """
    if not hasattr(device, "platform"):
        raise TypeError(f"device must be a JAX device (jax.devices()[i]); got {device!r}.")
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 -- some backends raise instead of returning None
        stats = None
    if stats and "bytes_limit" in stats:
        limit = int(stats["bytes_limit"])
        return DeviceInfo(
            str(device),
            device.platform,
            limit - int(stats.get("bytes_in_use", 0)),
            limit,
            "device.memory_stats()",
        )
    free, total = _host_memory()
    return DeviceInfo(str(device), device.platform, free, total, "host /proc/meminfo")


def optional_parts() -> dict[str, str]:
    """``import name -> "version (what for)"`` or ``"not installed"`` / ``"installed, import fails: ..."``.

    neural-tangents is really imported (it fails on a current JAX even when installed); the
    others are only looked up, since importing them all would take many seconds.
    """
    out = {}
    for module, (dist, what) in OPTIONAL.items():
        if importlib.util.find_spec(module) is None:
            out[module] = f"not installed ({what})"
            continue
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "?"
        if module == "neural_tangents":
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 -- report any import failure, do not crash
                out[module] = f"installed {version}, import fails: {type(exc).__name__}: {exc}"[:200]
                continue
        out[module] = f"{version} ({what})"
    return out


def _inputs(n: int, seed: int) -> np.ndarray:
    """``n`` unit-norm scikit-learn digits, shape (n, 8, 8, 1), float64."""
    from . import data

    d = data.load("digits", n=n, seed=seed)
    return np.asarray(data.normalize(d.x), np.float64)


def check_gram(kernel: str, x, device, reference=None, *, rtol: float = 1e-8) -> tuple[GramCheck, np.ndarray]:
    """Compute one kernel's Gram on one device, time it, and compare it with ``reference``.

    Parameters
    ----------
    kernel
        A name in :func:`ntkbook.archs.names` (``"CNN-1"``, ``"2-L"``, ...).
    x : array, shape (N, H, W, C)
        Inputs.
    device
        A JAX device.
    reference : array, shape (N, N), optional
        The CPU's Gram; ``None`` means this *is* the CPU run (compared with itself: 0).
    rtol
        Largest accepted :func:`relative_error`.

    Returns
    -------
    (GramCheck, ndarray of shape (N, N))
    """
    from . import archs, gram

    rtol = _checks.real_scalar(rtol, "rtol", low=0.0)
    kernel_fn = archs.get(kernel).kernel_fn
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        G = gram.gram(kernel_fn, x, progress=False, devices=[device])
        times.append(time.perf_counter() - t0)
    G = np.asarray(G)
    err = 0.0 if reference is None else relative_error(G, reference)
    ok = bool(np.isfinite(G).all() and G.dtype == np.float64 and err <= rtol)
    return GramCheck(
        kernel, str(device), device.platform, len(x), err, times[0], times[1], str(G.dtype), ok
    ), G


def run(n: int = 200, *, kernels: Sequence[str] = KERNELS, rtol: float = 1e-8, seed: int = 0) -> Report:
    """Collect the environment facts and run every Gram check (see the module docstring).

    Parameters
    ----------
    n
        Number of inputs (8x8 digits); the Gram matrices are ``(n, n)``.
    kernels
        Names from :func:`ntkbook.archs.names`.
    rtol
        Largest accepted relative difference between an accelerator and the CPU.
    seed
        Seed of the digits subsample.
    """
    import jax

    from . import archs, config

    n = _checks.positive_int(n, "n", minimum=2)
    rtol = _checks.real_scalar(rtol, "rtol", low=0.0)
    if isinstance(kernels, str) or not kernels:
        raise TypeError(f"kernels must be a non-empty sequence of names; got {kernels!r}.")
    for k in kernels:
        _checks.one_of(k, "kernels", archs.names())
    try:
        from ._x64 import backend as _x64_backend

        mechanism = _x64_backend()
    except ImportError:  # the pinned-JAX-only package had no _x64 module
        mechanism = "jax.experimental.enable_x64"
    try:
        cpus = jax.devices("cpu")
    except RuntimeError:
        cpus = []
    devices = list(dict.fromkeys(cpus + list(jax.devices())))
    rep = Report(
        jax_version=jax.__version__,
        jaxlib_version=metadata.version("jaxlib"),
        backend=jax.default_backend(),
        x64_default=config.x64_enabled(),
        x64_mechanism=mechanism,
        devices=[device_info(d) for d in devices],
        optional=optional_parts(),
        rtol=rtol,
        n=n,
    )
    x = _inputs(n, seed)
    for kernel in kernels:
        ref = None
        if cpus:
            check, ref = check_gram(kernel, x, cpus[0], rtol=rtol)
            rep.checks.append(check)
        for dev in devices:
            if dev.platform == "cpu":
                continue
            check, G = check_gram(kernel, x, dev, reference=ref, rtol=rtol)
            rep.checks.append(check)
            ref = G if ref is None else ref
    return rep


def _gib(b: int | None) -> str:
    return "unknown" if b is None else f"{b / 2**30:.1f} GiB"


def format_report(rep: Report) -> str:
    """The human-readable report ``python -m ntkbook.doctor`` prints."""
    if not isinstance(rep, Report):
        raise TypeError(f"rep must be the Report that doctor.run returns; got {type(rep).__name__}.")
    lines = [
        f"JAX {rep.jax_version} (jaxlib {rep.jaxlib_version}), default backend: {rep.backend}",
        f"float64 by default: {'yes' if rep.x64_default else 'no'} "
        f"(the Gram engine switches it on locally through {rep.x64_mechanism})",
        "devices (free / total memory):",
    ]
    for d in rep.devices:
        lines.append(
            f"  {d.name:<28} {d.platform:<5} {_gib(d.free_bytes)} / "
            f"{_gib(d.total_bytes)}  [{d.memory_source}]"
        )
    if not rep.accelerators:
        lines.append(
            "no accelerator: JAX sees only the CPU.  Everything in the book runs on it "
            "(the ci profile is sized for 2 cores); for a GPU see README, 'GPU'."
        )
        if any(importlib.util.find_spec(m) for m in ("jax_cuda12_plugin", "jax_plugins")):
            lines.append(
                "  (a JAX CUDA plugin is installed but found no usable GPU: check the "
                "driver with nvidia-smi and the CUDA/cuDNN wheels, README 'GPU')"
            )
    lines.append("optional parts:")
    for name, status in rep.optional.items():
        lines.append(f"  {name:<16} {status}")
    lines.append(
        f"Gram of {rep.n} digits (8x8), each accelerator checked against the CPU to {rep.rtol:g} relative:"
    )
    lines.append(f"  {'kernel':<7} {'device':<28} {'first s':>8} {'second s':>9} {'rel. err':>9}  status")
    for c in rep.checks:
        status = "ok" if c.ok else f"FAILED (dtype {c.dtype}, rel. err {c.rel_err:.1e})"
        # the CPU row is the reference the others are compared with
        err = "reference" if c.platform == "cpu" else f"{c.rel_err:9.1e}"
        lines.append(f"  {c.kernel:<7} {c.device:<28} {c.first_s:8.2f} {c.second_s:9.2f} {err:>9}  {status}")
    lines.append("doctor: all checks passed" if rep.ok else "doctor: SOME CHECKS FAILED")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m ntkbook.doctor [--n N] [--rtol R] [--kernels K ...]``."""
    parser = argparse.ArgumentParser(prog="python -m ntkbook.doctor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (ntkbook {__import__('ntkbook').__version__})"
    )
    parser.add_argument("--n", type=int, default=200, help="inputs per Gram (default 200)")
    parser.add_argument(
        "--rtol",
        type=float,
        default=1e-8,
        help="accepted accelerator-vs-CPU relative difference (default 1e-8)",
    )
    parser.add_argument(
        "--kernels",
        nargs="+",
        default=list(KERNELS),
        help=f"zoo kernels to time (default {' '.join(KERNELS)})",
    )
    args = parser.parse_args(argv)
    rep = run(args.n, kernels=args.kernels, rtol=args.rtol)
    print(format_report(rep))
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
