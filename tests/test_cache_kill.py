"""A Gram computation killed *during* a block's write resumes to the same matrix (issue 25).

``tests/test_gram_layers.py`` kills a run between two block writes.  Here the process is
killed with SIGKILL in the middle of writing a block's bytes -- half of the file on disk,
nothing flushed after it -- which is the case the cache's temporary-file-then-rename write
exists for: the half block must never be read back as a block, the blocks finished before it
must be reused, and the resumed matrix must equal an uncached run to the last bit.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ntkbook import archs, data, gram

pytestmark = pytest.mark.core
REPO = Path(__file__).resolve().parents[1]

# the writer is killed while writing the 4th block: 3 finished blocks stay behind
_KILL_AT = 4


def _run_and_kill_mid_write(x_path: Path, cache: Path) -> subprocess.CompletedProcess:
    """Run a cached Gram computation in a child that SIGKILLs itself half-way into a write."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        import numpy as np
        from ntkbook import archs, gram
        real_write = Path.write_bytes
        writes = []
        def write_half_then_die(self, data):
            if self.name.startswith((".tmp_", "block_")):    # a block's bytes, wherever written
                writes.append(self.name)
                if len(writes) == {_KILL_AT}:
                    with open(self, "wb") as f:          # half of the block's bytes reach disk
                        f.write(data[: len(data) // 2])
                        f.flush()
                        os.fsync(f.fileno())
                    os.kill(os.getpid(), signal.SIGKILL)
            return real_write(self, data)
        Path.write_bytes = write_half_then_die
        x = np.load({str(x_path)!r})
        gram.gram(archs.get("2-L"), x, batch_size=5, progress=False, cache_dir={str(cache)!r})
        print("finished")
    """)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_sigkill_mid_write_leaves_no_half_block_and_resumes_bitwise(tmp_path):
    x = data.normalize(data.load("digits", n=20, seed=6).x.astype(np.float64))
    np.save(tmp_path / "x.npy", x)
    cache = tmp_path / "cache"
    proc = _run_and_kill_mid_write(tmp_path / "x.npy", cache)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]  # killed, not finished
    assert "finished" not in proc.stdout
    blocks = sorted(cache.glob("block_*.npy"))
    half = sorted(cache.glob(".tmp_*.npy"))
    # the three blocks finished before the kill, and the half-written one only as a temporary
    assert len(blocks) == _KILL_AT - 1, [p.name for p in blocks]
    assert len(half) == 1 and 0 < half[0].stat().st_size
    finished = {p.name for p in blocks}

    resumed = gram.gram(archs.get("2-L"), x, batch_size=5, progress=False, cache_dir=cache)
    single = gram.gram(archs.get("2-L"), x, batch_size=5, progress=False)
    # same program, same blocks: the resumed matrix is bit-identical to an uncached run
    np.testing.assert_array_equal(resumed, single)
    # the finished blocks were kept (never rewritten: same names, same checksums), the 10
    # upper blocks of a 4 x 4 grid are all there, and the temporary was consumed, not left
    after = {p.name for p in cache.glob("block_*.npy")}
    assert finished <= after and len(after) == 10
    assert not list(cache.glob(".tmp_*.npy"))
