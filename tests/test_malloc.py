"""glibc's malloc thresholds set by the Gram engine (:mod:`ntkbook._malloc`), in fresh processes.

The measure is what the setting is for: page faults of a loop that allocates and frees
block-sized arrays (three of 6 MiB each, 20 times), before and after
:func:`ntkbook._malloc.keep_block_memory`.  Measured on this project's machines: 21,000
faults before (fresh pages every round), under 1,000 after (the first round's pages
reused), and unchanged where the environment sets malloc's tunables.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.core,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"),
        reason="glibc's mallopt only",
    ),
]

SCRIPT = """
import resource, numpy as np
from ntkbook import _malloc

def faults():
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        blocks = [np.ones(6 * 2**20 // 8) for _ in range(3)]
        del blocks
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0

before = faults()
kept = _malloc.keep_block_memory()
again = _malloc.keep_block_memory()
print(before, kept, again, faults())
"""


def _run(env_extra: dict) -> tuple[int, bool, bool, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={**env, **env_extra}, capture_output=True, text=True, check=True
    )
    before, kept, again, after = out.stdout.split()
    return int(before), kept == "True", again == "True", int(after)


def test_freed_block_memory_is_reused_once_the_thresholds_are_set():
    before, kept, again, after = _run({})
    assert kept and again
    # 60 arrays of 1536 pages each: most pages fresh before, one round's worth after
    assert before > 10_000 and after < 3_000, (before, after)


def test_the_users_malloc_settings_stand():
    before, kept, again, after = _run({"MALLOC_TOP_PAD_": "0"})
    assert not kept and not again
    assert after > before / 2, (before, after)
