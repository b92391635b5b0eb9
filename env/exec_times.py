"""Print how long each notebook took in the last book build (and whether it ran cleanly).

Usage: ``python env/exec_times.py book/_build``.  ``env/execute_notebooks.py`` stores every
notebook's run time with its outputs in the jupyter-cache, and myst-nb copies it into the Sphinx
environment pickle; the same numbers fill the appendix page
``execution_times`` (``{nb-exec-table}``).  This prints them at the end of ``make book``, so a
test log shows where the time went without opening the book.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(build: str) -> int:
    pickled = Path(build) / ".doctrees" / "environment.pickle"
    if not pickled.is_file():
        print(f"exec_times: no Sphinx environment at {pickled} (the build stopped before reading)")
        return 0
    with pickled.open("rb") as f:
        env = pickle.load(f)
    rows = [
        (doc, data["exec_data"])
        for doc, data in sorted(getattr(env, "nb_metadata", {}).items())
        if data.get("exec_data")
    ]
    if not rows:
        print("exec_times: no notebook was executed in this build")
        return 0
    width = max(len(doc) for doc, _ in rows)
    print(f"\n{'notebook':<{width}}  seconds  status")
    for doc, data in rows:
        status = "ok" if data["succeeded"] else f"FAILED ({data['error']})"
        print(f"{doc:<{width}}  {data['runtime']:7.1f}  {status}")
    total = sum(data["runtime"] or 0.0 for _, data in rows)
    print(
        f"{'sum':<{width}}  {total:7.1f}  ({len(rows)} notebook(s), one execution each, run side by "
        "side: env/execute_notebooks.py printed the wall-clock time of them all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "book/_build"))
