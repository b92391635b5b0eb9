"""The package's import graph: no cycle, and no module reaching into another's private names.

Read from the source with ``ast`` (nothing is imported), every ``import`` counted, the ones
inside functions too: a function-local import that closes a cycle is a cycle put off to run
time, not removed.  The rules (DEVELOPING.md, "Layout"):

* no cycle among ``ntkbook``'s modules (a package's ``__init__`` importing its own
  submodules is how packages work and is not an edge back from them);
* a name starting with ``_`` is private to its module: no other module imports it.  A
  *module* starting with ``_`` (``_checks``, ``_numerics``, ``_x64``, ``tasks._eq10``, ...)
  is private to the package: any ``ntkbook`` module may import it and its public names.

The linear-algebra floor is checked too: ``ntkbook.linalg`` imports nothing of ``ntkbook``
but package-private helpers, so every module can use it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.core

ROOT = Path(__file__).resolve().parents[1] / "ntkbook"

# Private names that other engineers' modules still import across modules; each entry names
# the file's owner's fix.  An entry that no longer occurs fails the test (so the list only
# shrinks), and any new reach into a private name fails it too.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = {
    ("ntkbook.bench", "ntkbook.layers", "_arccos_relu"),  # H1: bench's arccos timing
    ("ntkbook.gram_memory", "ntkbook.layers", "_Conv"),  # H1: the memory model's conv rule
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(mod: str) -> bool:
    return MODULES[mod].name == "__init__.py"


def _resolve(importer: str, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _runtime_nodes(tree: ast.Module, top_level_only: bool = False):
    """Every node run when the module is imported or its functions called.

    Skips ``if TYPE_CHECKING:`` blocks (read by type checkers only).  With
    ``top_level_only``, also skips function and class bodies' nested functions: what runs
    at import time.
    """
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            if top_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            todo.append(child)


def _imports(mod: str, top_level_only: bool = False):
    """Yield ``(target_module, imported_name_or_None)`` for every import in ``mod``."""
    tree = ast.parse(MODULES[mod].read_text(), filename=str(MODULES[mod]))
    for node in _runtime_nodes(tree, top_level_only):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ntkbook":
                    yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, node.level, node.module)
            if target.split(".")[0] != "ntkbook":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, None  # a submodule, imported by name
                else:
                    yield target, alias.name


def _edges(top_level_only: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod in MODULES:
        for target, _ in _imports(mod, top_level_only):
            if target not in MODULES:
                raise AssertionError(f"{mod} imports {target}, which is not a module of ntkbook")
            # importing ``a.b.c`` runs the packages ``a.b`` and ``a`` first: an edge to each
            # of them, except a package that holds the importer (it is being imported already,
            # which is how packages import their own submodules)
            parts = target.split(".")
            for i in range(2, len(parts) + 1):
                anc = ".".join(parts[:i])
                if anc != mod and not mod.startswith(anc + "."):
                    graph[mod].add(anc)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_cycle_detector_finds_a_planted_cycle():
    # the detector itself, on a graph with a known cycle a -> b -> c -> a and a tail d
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert _cycles(_edges()) == []


def test_no_private_name_crosses_a_module():
    found = set()
    for mod in MODULES:
        for target, name in _imports(mod):
            if name is not None and _is_private(name) and target != mod:
                found.add((mod, target, name))
    assert found - KNOWN_PRIVATE_IMPORTS == set(), "private names imported across modules"
    assert KNOWN_PRIVATE_IMPORTS - found == set(), "fixed: remove these from KNOWN_PRIVATE_IMPORTS"


def test_linalg_is_the_floor():
    private = {m for m in MODULES if any(p.startswith("_") for p in m.split(".")[1:])}
    assert _edges()["ntkbook.linalg"] <= private


def test_training_free_modules_do_not_import_dynamics():
    # tasks, active and empirical solve through linalg: importing them never imports
    # dynamics (optax, the training loops).  A function that trains a network as ground
    # truth may import dynamics when called; that is an edge for the cycle test above.
    graph = _edges(top_level_only=True)
    for mod in graph:
        if mod.startswith(("ntkbook.tasks", "ntkbook.active", "ntkbook.empirical")):
            assert not any(t.startswith("ntkbook.dynamics") for t in graph[mod]), mod
