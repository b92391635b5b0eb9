"""Every ``>>>`` example in the package's docstrings runs and prints what it says.

The examples are what the API reference page (``book/api.md``) shows, so a
broken one would mislead a reader; here each module's examples run as doctests
(the stdlib ``doctest`` module, one test per module, so ``make test`` picks them
up without a separate ``--doctest-modules`` pass).  A module without examples
still has to import without error, which is what autodoc does when it builds
that page.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import ntkbook

MODULES = sorted(m.name for m in pkgutil.walk_packages(ntkbook.__path__, "ntkbook."))

# ELLIPSIS lets an example elide long reprs; NORMALIZE_WHITESPACE lets it wrap them.
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_doctests(name: str) -> list[doctest.DocTest]:
    """The doctests with at least one example among the objects defined in module ``name``."""
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module, name) if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    for test in module_doctests(name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {name}:\n{report.getvalue()}"


def test_examples_exist_where_the_api_page_promises_them():
    # The reference page leads with these modules' examples; losing one silently
    # (a docstring rewritten without its example) should fail here, not go unnoticed.
    expected = {
        "ntkbook.archs",
        "ntkbook.audit",
        "ntkbook.claims",
        "ntkbook.config",
        "ntkbook.empirical",
        "ntkbook.layers",
        "ntkbook.engine",
        "ntkbook.gram",
        "ntkbook.dynamics.training",
    }
    with_examples = {name for name in MODULES if module_doctests(name)}
    assert expected <= with_examples, f"modules lost their examples: {expected - with_examples}"
