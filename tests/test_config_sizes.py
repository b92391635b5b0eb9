"""config's size table: ordered by chapter, the same keys in both profiles, and a ``paper``
profile that fits the data ``make data`` installs (issue 24: it asked 10,000 MNIST images of
an 8,000-image split)."""

from __future__ import annotations

import re

import pytest

from ntkbook import config, data

pytestmark = pytest.mark.core


def _book_order(key: str) -> tuple[int, int]:
    m = re.fullmatch(r"ch(\d+)", key)
    return (0, int(m.group(1))) if m else (1, 0)


def test_sizes_are_ordered_by_chapter_then_appendices():
    for profile in config.SCALES:
        keys = list(config._SIZES[profile])
        # the reference: chapter numbers ascending (parsed, not string order), appendices last
        assert keys == sorted(keys, key=_book_order), profile
    assert list(config._SIZES["ci"]) == list(config._SIZES["paper"])
    for chapter in config._SIZES["ci"]:
        assert set(config._SIZES["ci"][chapter]) == set(config._SIZES["paper"][chapter]), chapter


# (chapter, size keys, where the dataset name is) for every paper-profile draw from a real split
_DRAWS = [
    ("ch01", ("n",), "dataset"),
    ("ch02", ("n",), "dataset"),
    ("ch03", ("reg_ns",), "dataset"),
    ("ch04", ("n",), "dataset"),
    ("ch05", ("n",), "dataset"),
    ("ch06", ("n_train",), "dataset"),
    ("ch07", ("n", "full_n"), "dataset"),
    ("ch10", ("n", "scaling_ns"), "datasets"),
    ("ch11", ("n_real",), "cg_datasets"),
    ("ch11", ("protocol_n",), "protocol_dataset"),
    ("ch12", ("n", "real_n", "eq5_n"), "datasets"),
    ("ch13", ("n", "real_n"), "datasets"),
    ("ch14", ("n", "real_n"), "datasets"),
    ("ch15", ("n",), "dataset"),
]
_TEST_DRAWS = [
    ("ch01", "n_test"),
    ("ch02", "n_test"),
    ("ch03", "n_test"),
    ("ch04", "n_test"),
    ("ch05", "n_test"),
    ("ch07", "full_n_test"),
]


def _split_sizes(name: str) -> tuple[int, int]:
    try:
        ds = data.load(name)
    except FileNotFoundError:
        pytest.skip(f"{name} is not installed (make data)")
    return len(ds.y), len(ds.y_test)


@pytest.mark.parametrize("chapter,keys,where", _DRAWS)
def test_paper_sizes_fit_the_installed_splits(chapter, keys, where):
    S = config.sizes(chapter, "paper")
    names = S[where] if isinstance(S[where], list) else [S[where]]
    for name in (n for n in names if n in ("mnist", "fashion_mnist", "cifar10")):
        n_train, _ = _split_sizes(name)
        for key in keys:
            largest = max(S[key]) if isinstance(S[key], list) else S[key]
            assert largest <= n_train, f"{chapter}.{key}={largest} > {name}'s {n_train}"


@pytest.mark.parametrize("chapter,key", _TEST_DRAWS)
def test_paper_test_sizes_fit(chapter, key):
    S = config.sizes(chapter, "paper")
    if S["dataset"] not in ("mnist", "fashion_mnist", "cifar10"):
        pytest.skip("generated or bundled dataset")
    _, n_test = _split_sizes(S["dataset"])
    assert S[key] <= n_test, f"{chapter}.{key}={S[key]} > {S['dataset']}'s {n_test} test images"


def test_paper_mnist_draw_at_the_cap_loads():
    # the planted failure of the old profile: 10,000 MNIST images from the 8,000-image split
    n_train, _ = _split_sizes("mnist")
    with pytest.raises(ValueError):
        data.load("mnist", n=n_train + 1)
    assert len(data.load("mnist", n=config.sizes("ch11", "paper")["n_real"]).y) == n_train
