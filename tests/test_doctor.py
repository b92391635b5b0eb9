"""``python -m ntkbook.doctor``: environment facts and the Gram checks, in both environments.

Part of the core suite (runs in ``.venv`` and in ``.venv-core``, which has a current JAX and
no neural-tangents).  The reference Gram matrices in ``tests/data/doctor_reference.npz``
were computed with neural-tangents 0.6.5 in the pinned environment (``archs.get(name)``'s
``kernel_fn`` on 12 unit-norm digits, float64), so the doctor's matrices are checked against
an independent implementation even where neural-tangents cannot be installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from ntkbook import doctor

pytestmark = pytest.mark.core

REF = np.load(Path(__file__).parent / "data" / "doctor_reference.npz")
CPU = jax.devices("cpu")[0]


@pytest.mark.parametrize("kernel", doctor.KERNELS)
def test_doctor_gram_matches_neural_tangents(kernel):
    x, ref = REF["x"], REF[kernel]
    check, G = doctor.check_gram(kernel, x, CPU)
    assert check.ok and check.dtype == "float64" and G.shape == ref.shape == (12, 12)
    off = ~np.eye(len(G), dtype=bool)
    scale = np.abs(ref).max()
    # Off the diagonal both are float64 evaluations of the same recursion: 1e-10 leaves room
    # for summation order and JAX version only.
    assert np.abs(G - ref)[off].max() / scale < 1e-10
    # On the diagonal (angle 0) neural-tangents takes arccos of a cosine rounded near 1,
    # which loses sqrt(eps) ~ 1.5e-8 in the angle; measured 2.5e-9 relative for 2-L.
    assert np.abs(np.diag(G) - np.diag(ref)).max() / scale < 1e-8


def test_disagreement_with_the_reference_is_flagged():
    x, ref = REF["x"], REF["2-L"]
    check, _ = doctor.check_gram("2-L", x, CPU, reference=ref * (1 + 1e-6), rtol=1e-8)
    assert not check.ok
    # the Gram matches ref to ~1e-9 (above), so the error is the injected 1e-6
    assert check.rel_err == pytest.approx(1e-6, rel=0.01)


def test_relative_error_is_max_abs_over_max_abs():
    b = np.array([[2.0, -4.0], [1.0, 0.5]])
    a = b + np.array([[0.0, 0.1], [-0.2, 0.0]])
    assert doctor.relative_error(a, b) == pytest.approx(0.2 / 4.0, rel=1e-15)
    assert doctor.relative_error(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0


def test_report_and_command_line():
    rep = doctor.run(n=12, kernels=["2-L"])
    assert rep.jax_version == jax.__version__ and rep.ok
    cpu = [d for d in rep.devices if d.platform == "cpu"]
    assert cpu and all(0 < d.free_bytes <= d.total_bytes for d in cpu)
    # one CPU row plus one row per accelerator
    assert len(rep.checks) == 1 + len(rep.accelerators)
    assert set(rep.optional) == set(doctor.OPTIONAL)

    out = subprocess.run(
        [sys.executable, "-m", "ntkbook.doctor", "--n", "12", "--kernels", "2-L"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"JAX {jax.__version__}" in out.stdout and "doctor: all checks passed" in out.stdout
    if not rep.accelerators:
        assert "no accelerator" in out.stdout


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(n=1), ValueError, "n"),
        (dict(n=2.5), TypeError, "n"),
        (dict(kernels="CNN-1"), TypeError, "kernels"),
        (dict(kernels=["CNN-9"]), ValueError, "kernels"),
        (dict(rtol=-1.0), ValueError, "rtol"),
        (dict(rtol=float("nan")), ValueError, "rtol"),
    ],
)
def test_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        doctor.run(**kwargs)


def test_relative_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        doctor.relative_error(np.zeros((2, 2)), np.zeros((2, 3)))
