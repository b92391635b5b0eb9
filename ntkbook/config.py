"""Scale profiles, seeds, floating-point precision and the data root.

Every notebook asks this module for its sizes instead of hard-coding them, so
one environment variable moves the whole book between a laptop run and the
papers' scale:

``NTKBOOK_SCALE``
    ``ci`` (default) -- every chapter finishes in minutes on a 2-core CPU using
    bundled or generated datasets.  ``paper`` -- the papers' sizes, meant for
    a GPU and for real datasets under ``NTKBOOK_DATA``.
``NTKBOOK_SEED``
    Root seed of every chapter (default 0).
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
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

SCALES: tuple[str, ...] = ("ci", "paper")
"""The known scale profiles."""


def _seed_from_env() -> int:
    """``NTKBOOK_SEED`` as a non-negative int (default 0); anything else is an error, not a guess."""
    raw = os.environ.get("NTKBOOK_SEED", "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"NTKBOOK_SEED must be a non-negative integer; got {raw!r}.") from None
    if value < 0:
        raise ValueError(f"NTKBOOK_SEED must be a non-negative integer; got {value}.")
    return value


SEED: int = _seed_from_env()
"""The root seed of every notebook (``NTKBOOK_SEED``, default 0); chapters derive their keys from it.

Re-running the book with another seed changes the numbers, never the sentences' consistency with
them: every measured number in the prose is glued and every direction word is chosen by code.
"""

# One place for every size the chapters use.  Keys are chapter ids
# ("ch03", ...); each profile maps the same keys so a notebook never needs
# to know which profile is active.  The ``ci`` sizes are chosen so the whole
# book executes in well under 20 minutes on 2 CPU cores.
# Chapters in book order, then the appendices.  The ``paper`` sizes are capped by what
# ``make data`` installs (tests/test_config_sizes.py checks it): the registry's MNIST has
# 8,000 training and 2,000 test images, Fashion-MNIST 60,000 and 10,000, CIFAR-10 50,000
# and 10,000; the papers' N = 10,000 on MNIST becomes 8,000.
_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "ci": {
        "ch01": dict(
            n=64,
            n_test=64,
            widths=[16, 32, 64, 128, 256, 512, 1024, 2048],
            n_inits=5,
            std_inits=2,
            steps=150,
            lr_scale=1.0,
            record_every=15,
            depth=2,
            fit_from=256,
            loss_widths=[64, 512],
            loss_tol=0.05,
            loss_lr_scale=1.5,
            dataset="digits",
        ),
        "ch02": dict(n=128, n_test=128, width=4096, depth=2, steps=1000, n_times=100, dataset="digits"),
        "ch03": dict(
            n=64,
            widths=[32, 64, 128, 256, 512, 1024, 2048, 4096],
            n_inits=5,
            depth=3,
            fit_from=256,
            mc_samples=400_000,
            reg_ns=[64, 256, 1024],
            n_test=400,
            ridge=0.0,
            dataset="digits",
        ),
        "ch04": dict(
            n=80,
            n_test=80,
            depths=[3, 4],
            channels=16,
            steps=100,
            n_1d=80,
            gram_ns=[20, 40, 80],
            gram_batch=20,
            sgd_depth=3,
            sgd_channels=32,
            sgd_lr=3.0,
            sgd_epochs=60,
            sgd_batch=20,
            gap_depths=[3, 4],
            gap_seeds=3,
            mnist_n=80,
            mnist_depth=3,
            dataset="digits",
        ),
        "ch05": dict(
            n=200,
            n_test=200,
            n_xent=100,
            widths=[512, 2048, 8192],
            depth=2,
            steps=600,
            n_times=31,
            dataset="digits",
        ),
        "ch06": dict(
            dataset="digits",
            n_train=100,
            n_probe=30,
            onestep_width=256,
            onestep_lrs=[0.01, 0.03, 0.1, 0.3, 1.0],
            n_impl=8,
            impl_widths=[32, 128, 256],
            impl_depth=3,
            impl_depths=[2, 3, 5],
            impl_width=128,
            repeats=2,
            train_widths=[32, 256, 2048],
            train_depth=2,
            steps=200,
            record_every=50,
            lr_scale=0.5,
            drift_seeds=5,
        ),
        "ch07": dict(
            dataset="digits",
            n=60,
            n_test=100,
            widths=[32, 128, 512],
            depth=3,
            n_inits=2,
            steps=200,
            record_every=50,
            reg=1e-4,
            expect_width=32,
            expect_inits=8,
            expect_n=3,
            cost_ns=[16, 128],
            cost_outs=[10, 100],
            cost_width=256,
            cost_max_no=1600,
            cost_repeats=2,
            full_n=1347,
            full_n_test=450,
            full_widths=[64, 128, 512],
            full_steps=50,
            full_seeds=3,
            lr_scale=0.5,
            sgd_lrs=[4.0, 16.0, 32.0, 64.0],
            sgd_val_frac=0.2,
            sgd_epochs=10,
            sgd_batch=64,
        ),
        "ch08": dict(
            n_toy=600,
            n_toy_test=600,
            toy_dim=20,
            toy_radius=1.5,
            width=512,
            epochs=200,
            lr=1.0,
            batch_size=32,
            noise_rates=[0.0, 0.2, 0.4],
            path_noise=0.2,
            ema_alpha=0.05,
            n_paths=6,
            n_probe=20,
            etas=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
            ft_dataset="digits",
            ft_width=256,
            feat_dim=32,
            pretrain_epochs=30,
            ft_lr=1.0,
            ft_batch=32,
            n_check=16,
            ft_check_etas=[1e-2, 1e-3],
            probe_epochs=[0, 4, 16, 64, 256],
            finetune_epochs=20,
            ls_eps=0.1,
            ls_probe_epochs=64,
        ),
        "ch09": dict(
            n_init=20,
            n_pool=300,
            n_test=300,
            rounds=10,
            per_round=5,
            seeds=[0, 1, 2],
            width=256,
            epochs=100,
            lr=0.01,
            reg=1e-3,
            temperature=0.1,
            strategies=["look-ahead (output)", "look-ahead (loss)", "max-entropy", "random"],
            dataset="digits",
        ),
        "ch10": dict(
            n=100,
            datasets=["digits", "mnist1d", "cifar10"],
            archs=["2-L", "10-L", "CNN-1", "CNN-2"],
            train_skip={"cifar10": ["CNN-1", "CNN-2"]},
            cnn3_n=20,
            cnn3_dataset="mnist1d",
            gram_batch=50,
            width=512,
            epochs=2,
            lr=0.1,
            batch_size=50,
            paper_epochs=100,
            scaling_archs=["2-L", "CNN-2"],
            scaling_ns=[100, 200, 300],
            pd_n=100,
            convention_archs=["2-L (2 hidden)", "10-L (10 hidden)"],
        ),
        "ch11": dict(
            n=150,
            n_synth=48,
            n_real=150,
            datasets=["corners", "shapes", "mnist", "fashion_mnist", "cifar10"],
            kpca_archs=["2-L", "CNN-2", "2-L (2 hidden)"],
            n_components=4,
            gram_batch=16,
            cg_datasets=["mnist", "fashion_mnist", "cifar10"],
            t3_train_datasets=["corners", "shapes", "mnist", "fashion_mnist"],
            t3_seeds=3,
            t3_epochs=10,
            t3_lr=0.01,
            t3_width=64,
            t3_channels=8,
            t3_n_test=400,
            cg_archs=["2-L", "10-L", "CNN-1", "CNN-2"],
            cg_convention_archs=["2-L eq. 4", "2-L (2 hidden)", "10-L (10 hidden)"],
            protocol_dataset="mnist",
            protocol_n=1000,
            rbo_random=1000,
            noise_rate=0.2,
            check_frac=0.2,
            rank_dataset="mnist1d",
            rank_n_train=1000,
            rank_n_test=500,
            rank_seeds=3,
            rank_epochs=25,
            rank_width=128,
            rank_channels=32,
            rank_lr=0.003,
            rank_batch_size=100,
            rbo_p=0.9,
        ),
        "ch12": dict(
            n=200,
            datasets=["digits"],
            archs=["2-L", "CNN-1"],
            noise_rates=[0.1, 0.3, 0.7],
            label_frac=0.1,
            epochs=15,
            lr=0.003,
            batch_size=50,
            width=256,
            channels=8,
            entk_n=120,
            entk_every=5,
            entk_width=256,
            entk_epochs=30,
            entk_lr=20.0,
            lr_mlp=0.03,
            real_datasets=["mnist", "fashion_mnist", "cifar10"],
            real_n=600,
            real_arch="2-L",
            real_seeds=2,
            eq5_n=300,
        ),
        "ch13": dict(
            n=400,
            datasets=["digits"],
            arch="CNN-1",
            epochs=20,
            lr=0.003,
            batch_size=50,
            width=256,
            channels=8,
            checkpoints=[2, 5, 10, 20],
            rbo_p=0.9,
            real_datasets=["mnist", "fashion_mnist", "cifar10"],
            real_n=800,
            real_arch="2-L",
            real_seeds=5,
            real_lr=0.03,
        ),
        "ch14": dict(
            n=600,
            datasets=["digits"],
            archs=["2-L", "CNN-1"],
            noise_rates=[0.1, 0.2, 0.3, 0.7],
            baseline_epochs=8,
            lr=0.003,
            batch_size=50,
            width=256,
            channels=16,
            n_bench=1000,
            bench_flips=200,
            real_datasets=["mnist", "fashion_mnist", "cifar10"],
            # 1,000: the evidence ladder of 000-T8-mnist reaches 8x this on the 8,000 training
            # images of the installed MNIST (1,500 gave 5.3x)
            real_n=1000,
            real_arch="2-L",
            real_seeds=5,
        ),
        "ch15": dict(
            dataset="digits",
            n=300,
            noise_rate=0.1,
            arch="2-L",
            compare=["10-L", "CNN-1"],
            shuffles=20,
            flag_frac=0.1,
            folds=5,
        ),
        "a1": dict(bench_profile="quick"),
    },
    "paper": {
        "ch01": dict(
            n=256,
            n_test=256,
            widths=[16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
            n_inits=5,
            std_inits=5,
            steps=1000,
            lr_scale=1.0,
            record_every=50,
            depth=2,
            fit_from=512,
            loss_widths=[256, 4096],
            loss_tol=0.01,
            loss_lr_scale=1.5,
            dataset="mnist",
        ),
        "ch02": dict(n=1000, n_test=1000, width=16384, depth=2, steps=5000, n_times=80, dataset="mnist"),
        "ch03": dict(
            n=500,
            widths=[64, 128, 256, 512, 1024, 2048, 4096, 8192],
            n_inits=10,
            depth=3,
            fit_from=512,
            mc_samples=4_000_000,
            reg_ns=[1000, 4000, 8000],
            n_test=2000,
            ridge=0.0,
            dataset="mnist",
        ),
        "ch04": dict(
            n=2000,
            n_test=2000,
            depths=[3, 4, 6, 11, 21],
            channels=256,
            steps=3000,
            n_1d=2000,
            gram_ns=[50, 100, 200, 400],
            gram_batch=50,
            sgd_depth=3,
            sgd_channels=256,
            sgd_lr=3.0,
            sgd_epochs=200,
            sgd_batch=128,
            gap_depths=[3, 4, 6, 11, 21],
            gap_seeds=5,
            mnist_n=2000,
            mnist_depth=3,
            dataset="cifar10",
        ),
        "ch05": dict(
            n=2000,
            n_test=2000,
            n_xent=500,
            widths=[512, 2048, 8192, 32768],
            depth=2,
            steps=3000,
            n_times=61,
            dataset="mnist",
        ),
        "ch06": dict(
            dataset="cifar10",
            n_train=1000,
            n_probe=100,
            onestep_width=1024,
            onestep_lrs=[0.01, 0.03, 0.1, 0.3, 1.0],
            n_impl=64,
            impl_widths=[128, 256, 512, 1024, 2048],
            impl_depth=3,
            impl_depths=[2, 3, 4, 6, 8],
            impl_width=512,
            repeats=5,
            train_widths=[64, 512, 4096],
            train_depth=2,
            steps=2000,
            record_every=200,
            lr_scale=0.5,
            drift_seeds=5,
        ),
        "ch07": dict(
            dataset="cifar10",
            n=1000,
            n_test=500,
            widths=[64, 128, 256, 512, 1024, 2048, 4096],
            depth=3,
            n_inits=5,
            steps=2000,
            record_every=500,
            reg=1e-4,
            expect_width=64,
            expect_inits=200,
            expect_n=5,
            cost_ns=[16, 32, 64, 128, 256, 512],
            cost_outs=[10, 100],
            cost_width=1024,
            cost_max_no=20000,
            cost_repeats=5,
            full_n=50000,
            full_n_test=10000,
            full_widths=[128, 512, 2048],
            full_steps=2000,
            full_seeds=5,
            lr_scale=0.5,
            sgd_lrs=[4.0, 16.0, 32.0, 64.0],
            sgd_val_frac=0.2,
            sgd_epochs=100,
            sgd_batch=128,
        ),
        "ch08": dict(
            n_toy=3000,
            n_toy_test=3000,
            toy_dim=20,
            toy_radius=1.5,
            width=2000,
            epochs=500,
            lr=1.0,
            batch_size=64,
            noise_rates=[0.0, 0.2, 0.4],
            path_noise=0.2,
            ema_alpha=0.05,
            n_paths=8,
            n_probe=100,
            etas=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
            ft_dataset="mnist",
            ft_width=1024,
            feat_dim=128,
            pretrain_epochs=50,
            ft_lr=1.0,
            ft_batch=128,
            n_check=64,
            ft_check_etas=[1e-2, 1e-3],
            probe_epochs=[0, 1, 4, 16, 64, 256],
            finetune_epochs=30,
            ls_eps=0.1,
            ls_probe_epochs=64,
        ),
        "ch09": dict(
            n_init=100,
            n_pool=5000,
            n_test=2000,
            rounds=20,
            per_round=50,
            seeds=[0, 1, 2, 3, 4],
            width=1024,
            epochs=200,
            lr=0.01,
            reg=1e-3,
            temperature=0.1,
            strategies=["look-ahead (output)", "look-ahead (loss)", "max-entropy", "random"],
            dataset="mnist",
        ),
        "ch10": dict(
            n=8000,
            datasets=["mnist", "fashion_mnist"],
            archs=["2-L", "10-L", "CNN-1", "CNN-2"],
            train_skip={},
            cnn3_n=1000,
            cnn3_dataset="mnist",
            gram_batch=256,
            width=10000,
            epochs=3,
            lr=0.1,
            batch_size=128,
            paper_epochs=100,
            scaling_archs=["2-L", "CNN-2"],
            scaling_ns=[1000, 2000, 4000, 8000],
            pd_n=1000,
            convention_archs=["2-L (2 hidden)", "10-L (10 hidden)"],
        ),
        # MNIST/Fashion-MNIST at N = 8,000 (all of the registry MNIST's training split): by
        # data.estimate_gram_seconds under a minute of H100 time for Tables 3 and 4 (CNN-2 dominates)
        "ch11": dict(
            n=5000,
            n_synth=1000,
            n_real=8000,
            datasets=["corners", "shapes", "mnist", "fashion_mnist", "cifar10"],
            kpca_archs=["2-L", "CNN-2", "2-L (2 hidden)"],
            n_components=4,
            gram_batch=256,
            cg_datasets=["mnist", "fashion_mnist", "cifar10"],
            t3_train_datasets=["corners", "shapes", "mnist", "fashion_mnist", "cifar10"],
            t3_seeds=5,
            t3_epochs=30,
            t3_lr=0.001,
            t3_width=512,
            t3_channels=64,
            t3_n_test=2000,
            cg_archs=["2-L", "10-L", "CNN-1", "CNN-2"],
            cg_convention_archs=["2-L eq. 4", "2-L (2 hidden)", "10-L (10 hidden)"],
            protocol_dataset="mnist",
            protocol_n=8000,
            rbo_random=20000,
            noise_rate=0.2,
            check_frac=0.2,
            rank_dataset="cifar10",
            rank_n_train=10000,
            rank_n_test=2000,
            rank_seeds=3,
            rank_epochs=100,
            rank_width=1024,
            rank_channels=128,
            rank_lr=0.001,
            rank_batch_size=128,
            rbo_p=0.9,
        ),
        "ch12": dict(
            n=5000,
            datasets=["mnist", "fashion_mnist"],
            archs=["2-L", "CNN-1"],
            noise_rates=[0.1, 0.3, 0.7],
            label_frac=0.1,
            epochs=250,
            lr=0.003,
            batch_size=128,
            width=1024,
            channels=64,
            entk_n=500,
            entk_every=25,
            entk_width=1024,
            entk_epochs=250,
            entk_lr=20.0,
            lr_mlp=0.03,
            real_datasets=["mnist", "fashion_mnist", "cifar10"],
            real_n=5000,
            real_arch="2-L",
            real_seeds=5,
            eq5_n=2000,
        ),
        "ch13": dict(
            n=5000,
            datasets=["mnist", "fashion_mnist"],
            arch="CNN-1",
            epochs=250,
            lr=0.003,
            batch_size=128,
            width=1024,
            channels=64,
            checkpoints=[5, 25, 100, 250],
            rbo_p=0.9,
            real_datasets=["mnist", "fashion_mnist", "cifar10"],
            real_n=5000,
            real_arch="2-L",
            real_seeds=5,
            real_lr=0.03,
        ),
        "ch14": dict(
            n=5000,
            datasets=["mnist", "fashion_mnist"],
            archs=["2-L", "CNN-1"],
            noise_rates=[0.1, 0.2, 0.3, 0.7],
            baseline_epochs=200,
            lr=0.003,
            batch_size=128,
            width=1024,
            channels=64,
            n_bench=2000,
            bench_flips=200,
            real_datasets=["mnist", "fashion_mnist", "cifar10"],
            real_n=8000,
            real_arch="2-L",
            real_seeds=10,
        ),
        "ch15": dict(
            dataset="mnist",
            n=5000,
            noise_rate=0.1,
            arch="2-L",
            compare=["10-L", "CNN-1", "CNN-2"],
            shuffles=100,
            flag_frac=0.1,
            folds=5,
        ),
        "a1": dict(bench_profile="full"),
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
        raise ValueError(f"NTKBOOK_SCALE={value!r} is not a known scale profile; expected one of {SCALES}.")
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
    given = root is not None
    path = Path(root if root is not None else os.environ.get("NTKBOOK_DATA", "~/ntkbook-data"))
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        name = "root" if given else "NTKBOOK_DATA"
        raise NotADirectoryError(
            f"{name}={str(path)!r} is a file; the data root must be a folder (make data creates it)."
        )
    return path


def enable_x64(enabled: bool = True) -> None:
    """Switch JAX to float64 (``True``) or back to float32 arrays by default.

    Gram matrices and the linear solves on them are ill-conditioned enough that
    the book computes them in float64; call this before creating any array.
    """
    import jax

    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False; got {enabled!r}.")
    jax.config.update("jax_enable_x64", enabled)


def x64_enabled() -> bool:
    """Whether JAX currently creates float64 arrays by default."""
    from ._x64 import x64_enabled as flag

    return flag()


_REPORTED_PACKAGES = (
    "jax",
    "jaxlib",
    "neural-tangents",
    "numpy",
    "scipy",
    "tensorflow",
    "optax",
    "scikit-learn",
    "pandas",
    "matplotlib",
    "seaborn",
    "rbo",
    "mnist1d",
    "jupyter-book",
    "myst-nb",
)


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
    return dict(
        python=platform.python_version(),
        platform=platform.platform(),
        processor=platform.machine(),
        cpu_count=os.cpu_count(),
        devices=[str(d) for d in jax.devices()],
        scale=scale(),
        seed=SEED,
        x64=x64_enabled(),
        data_root=str(data_root()),
        packages=packages,
    )
