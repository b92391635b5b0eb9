"""Bad inputs for every public function of ``ntkbook.metrics`` (errors name the argument),
and ``data.normalize`` on integer input (issue 16: it used to return zeros)."""

from __future__ import annotations

import numpy as np
import pytest

from ntkbook import data, metrics

# core suite: also run in .venv-core (current JAX, no neural-tangents) by `make test-core`
pytestmark = pytest.mark.core

NAN = float("nan")
S3 = [0.1, 0.2, 0.3]

CASES = [
    ("rbo", lambda: metrics.rbo([1, 2], [2, 1], p=1.0), ValueError, "p must be in"),
    ("rbo", lambda: metrics.rbo([1, 2], [2, 1], p=NAN), ValueError, "p must be"),
    ("rbo", lambda: metrics.rbo([1, 2], [2, 1], p="0.9"), TypeError, "p must be a real"),
    ("rbo", lambda: metrics.rbo([1, 1, 2], [1, 2]), ValueError, "a must list each item once"),
    ("rbo", lambda: metrics.rbo([1, 2], [2, 2]), ValueError, "b must list each item once"),
    ("rbo", lambda: metrics.rbo([], [1, 2]), ValueError, "a is empty"),
    ("rbo", lambda: metrics.rbo("abc", [1, 2]), TypeError, "a must be a sequence"),
    ("rbo", lambda: metrics.rbo([1, 2], 3), TypeError, "b must be a sequence"),
    ("rbo", lambda: metrics.rbo([1.0, NAN], [1.0]), ValueError, "a holds NaN"),
    (
        "noise_found_at",
        lambda: metrics.noise_found_at(S3, [3]),
        ValueError,
        r"noisy_idx holds index 3, outside \[0, 3\)",
    ),
    ("noise_found_at", lambda: metrics.noise_found_at(S3, [-1]), ValueError, "noisy_idx holds index -1"),
    ("noise_found_at", lambda: metrics.noise_found_at(S3, [0.5]), ValueError, "noisy_idx must hold integer"),
    (
        "noise_found_at",
        lambda: metrics.noise_found_at(S3, np.array([], dtype=int)),
        ValueError,
        "noisy_idx is empty",
    ),
    ("noise_found_at", lambda: metrics.noise_found_at(S3, [0], frac=1.5), ValueError, "frac must be in"),
    ("noise_found_at", lambda: metrics.noise_found_at(S3, [0], frac=NAN), ValueError, "frac"),
    ("noise_found_at", lambda: metrics.noise_found_at([[0.1, 0.2]], [0]), ValueError, "score must have 1"),
    ("noise_found_at", lambda: metrics.noise_found_at([NAN, 0.2], [0]), ValueError, "score contains"),
    ("roc_auc", lambda: metrics.roc_auc(S3, [1, 1]), ValueError, "noisy_idx repeats index 1"),
    ("roc_auc", lambda: metrics.roc_auc([0.1, 0.2], [0, 1]), ValueError, "both noisy and clean"),
    ("roc_auc", lambda: metrics.roc_auc([np.nan, 0.2], [0]), ValueError, "score contains"),
    ("roc_auc", lambda: metrics.roc_auc(S3, [[0]]), ValueError, "noisy_idx must have 1"),
    ("roc_auc", lambda: metrics.roc_auc(S3, ["a"]), TypeError, "noisy_idx must be a numeric"),
    # empty arrays and wrong dtypes (issue 25)
    (
        "noise_found_at",
        lambda: metrics.noise_found_at(np.zeros(0), np.zeros(0, int)),
        ValueError,
        r"score is empty \(shape \(0,\)\)",
    ),
    (
        "noise_found_at",
        lambda: metrics.noise_found_at(["0.1", "0.2"], [0]),
        TypeError,
        "score must be a numeric",
    ),
    ("noise_found_at", lambda: metrics.noise_found_at(S3, [0], frac="0.5"), TypeError, "frac must be a real"),
    ("roc_auc", lambda: metrics.roc_auc(np.zeros(0), np.zeros(0, int)), ValueError, "score is empty"),
    ("roc_auc", lambda: metrics.roc_auc(S3, np.array([0.0, NAN])), ValueError, "noisy_idx contains"),
    ("rbo", lambda: metrics.rbo([1, 2], [], p=0.9), ValueError, "b is empty"),
    ("rbo", lambda: metrics.rbo([1, 2], [2, 1], p=True), TypeError, "p must be a real"),
    ("data.normalize", lambda: data.normalize([[0, 0], [1, 1]]), ValueError, "x has 1 all-zero"),
    ("data.normalize", lambda: data.normalize([1.0, 2.0]), ValueError, "x must have a batch axis"),
    ("data.normalize", lambda: data.normalize([[NAN, 1.0]]), ValueError, "x contains"),
    ("data.normalize", lambda: data.normalize([["a", "b"]]), TypeError, "x must be a numeric"),
]


@pytest.mark.parametrize("name,call,exc,match", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_table_covers_every_public_function():
    public = {n for n in metrics.__all__ if callable(getattr(metrics, n))} | {"data.normalize"}
    assert public == {c[0] for c in CASES}


def test_normalize_integer_input_gives_float_unit_rows():
    # (3, 4) and (6, 8) both point along (0.6, 0.8): exact in binary to 1 ulp, hence 1e-15.
    # The old code cast back to int64, which rounds 0.6 and 0.8 down to 0.
    out = data.normalize(np.array([[3, 4], [6, 8]], dtype=np.int64))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.6, 0.8]], rtol=0, atol=1e-15)
    # float32 input keeps its dtype (the training loop runs in float32)
    assert data.normalize(np.ones((2, 3), np.float32)).dtype == np.float32
