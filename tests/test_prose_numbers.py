"""No measured number typed into prose (issue 15): scan every chapter's markdown.

Every number a chapter measures must reach its markdown through myst-nb's ``glue`` (``{glue:text}``
roles), so that re-running the book with another seed or size can never leave a sentence that
contradicts the table above it. This test scans the markdown cells of every notebook, *outside*

* display math ``$$...$$``, ``{math}`` blocks and inline math ``$...$`` (constants of a definition),
* fenced code blocks and inline code spans,
* MyST roles (``{glue:text}`...```, ``{cite}``, ``{numref}``, ``{prf:ref}``, ...),
* link targets, HTML tags and directive option lines (``:label:``, ``:class:``),

for decimal numbers (``0.65``), percentages (``88 %``, ``3 per cent``), ratios (``5x``, ``3×``)
and powers of ten (``1e-4``, ``10⁴``), and fails on any that the short allow-list below does not
explain. The failure lists notebook, cell index and the offending text with its context.

Chapters are glued one by one by different authors; until a chapter is glued this test fails on
it, naming the sentences still to fix.

A second scan (issue 23) catches the *names* of sizes typed where a reader needs their value: an
inline code span holding a key of the size profiles (``entk_width``, ``n_inits``, ...; see
:func:`ntkbook.config.sizes`) in a chapter's markdown is flagged; glue the value
(``{glue:text}`chNN_S_key```) instead. Code inside fenced blocks is not prose and is not scanned.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _size_keys() -> frozenset[str]:
    """Every key of every chapter in both size profiles (the names a reader must not see)."""
    from ntkbook import config

    return frozenset(k for profile in config._SIZES.values() for sizes in profile.values() for k in sizes)


# --- what is removed before scanning ------------------------------------------------------------
_FENCE = re.compile(r"^(`{3,}|~{3,})(.*?)$(.*?)^\1\s*$", re.S | re.M)
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(?:\\.|[^$\\])+?\$")
_ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")  # {glue:text}`k:.3f`, {cite}`a,b`
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")  # keep [text], drop (url)
_AUTOLINK = re.compile(r"<https?://[^>]+>|https?://\S+")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_OPTION_LINE = re.compile(r"^\s*:[\w-]+:.*$", re.M)  # :label: ex-ch03-1, :class: dropdown

# --- what is flagged ----------------------------------------------------------------------------
_NUM = r"\d+(?:[.,]\d+)?"
_FLAGGED = re.compile(
    r"(?<![\w.])(?:"
    rf"{_NUM}\s*(?:%|‰|per\s?cent\b|percentage\s+points?\b)"  # percentages
    rf"|{_NUM}\s*[×x](?![\w×\d])"  # ratios: 5x, 3×, 100×/400×
    rf"|{_NUM}[eE][-+−]?\d+"  # 1e-4, 2.5e3
    r"|(?:\d+(?:\.\d+)?\s*[·×]\s*)?10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+"  # 10⁴, 1.2·10⁴
    r"|\d*\.\d+"  # decimals: 0.65, 1.08
    r")"
)

# --- the allow-list: matches that are not measurements (each says why) ---------------------------
_ALLOW = [
    # numbered references: "eq. 4.2", "Table 3.1", "section 2.3", "Algorithm 1", "slide 14"
    re.compile(
        r"(?i)(?:eqs?\.|equations?|tables?|fig(?:ure)?s?\.?|sections?|§|chapters?|"
        r"slides?|theorems?|lemmas?|algorithms?|appendix)\s*$"
    ),
]
_VERSION = re.compile(r"\d+\.\d+\.\d+")  # package versions such as 1.1.0 are not results


def strip_markdown(text: str) -> str:
    """The prose of one markdown cell with math, code, roles, links and options removed.

    Directive fences (```` ```{prf:definition} ````, ```` ```{exercise} ````) keep their body,
    which is prose; other fences (code, ``{math}``, ``{code-cell}``) are dropped.
    """

    def fence(m: re.Match) -> str:
        info = m.group(2).strip()
        if info.startswith("{") and not info.startswith(("{math}", "{code", "{eval-rst}")):
            return m.group(3)  # a directive: its body is prose (options dropped later)
        return " "

    previous = None
    while previous != text:  # nested directive fences unwrap level by level
        previous, text = text, _FENCE.sub(fence, text)
    for pattern in (_DISPLAY_MATH, _INLINE_MATH, _ROLE, _CODE_SPAN, _AUTOLINK, _HTML_TAG, _OPTION_LINE):
        text = pattern.sub(" ", text)
    return _LINK_TARGET.sub("]", text)


def find_numbers(text: str) -> list[str]:
    """Flagged numbers in one markdown cell, each with a little context: ``'... 0.65 ...'``."""
    prose = strip_markdown(text)
    hits = []
    for m in _FLAGGED.finditer(prose):
        token = m.group(0)
        before = prose[max(0, m.start() - 30) : m.start()]
        if any(a.search(before) for a in _ALLOW):
            continue
        if _VERSION.fullmatch(prose[m.start() : m.end() + 4].split()[0].rstrip(".,;:)")):
            continue
        if re.fullmatch(r"\d+\s*[×x]", token) and re.match(r"\s*\d", prose[m.end() :]):
            continue  # a shape such as 8×8 or 28 × 28, not a ratio
        context = " ".join(prose[max(0, m.start() - 40) : m.end() + 40].split())
        hits.append(f"{token.strip()!r} in '...{context}...'")
    return hits


def test_scanner_flags_known_numbers():
    """The scanner finds each planted number and ignores each allowed construct (not vacuous)."""
    md = (
        "The slope is 0.65 and accuracy reached 88 % (or 91%), a 5x speed-up, 3× cheaper, "
        "a tolerance of 1e-4, condition numbers near 1.2·10⁴, about 3 per cent.\n"
        "Allowed: eq. 4.2, Table 3, an 8×8 image, 28 x 28 pixels, the year 2019, version 1.1.0, "
        "math $\\eta = 0.5$ and $$\\lambda = 0.25$$, code `lr=0.01`, glue {glue:text}`ch01_s:.2f`, "
        "a citation {cite}`lee2019wide`, a link [docs](https://x.org/v0.4.0), <span id='a0.3'></span>\n"
        "```python\nx = 0.77\n```\n"
        "```{exercise} Compute it\n:label: ex-ch01-1\nShow that the ratio is 2.5x here.\n```\n"
    )
    found = [h.split(" in ")[0] for h in find_numbers(md)]
    assert found == [
        "'0.65'",
        "'88 %'",
        "'91%'",
        "'5x'",
        "'3×'",
        "'1e-4'",
        "'1.2·10⁴'",
        "'3 per cent'",
        "'2.5x'",
    ]


def test_scanner_strips_math_and_roles():
    """Numbers inside math, roles and code are removed; the surrounding prose is kept."""
    prose = strip_markdown("a $0.5$ b {glue:text}`k:.3f` c `0.1` d $$1.5$$ e")
    assert "0.5" not in prose and "0.1" not in prose and "1.5" not in prose
    assert prose.split() == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_typed_numbers_in_prose(path: Path):
    """Every measured number in the markdown is glued (see the module docstring)."""
    nb = nbformat.read(path, as_version=4)
    problems = [
        f"  cell {i}: {hit}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for hit in find_numbers(cell.source)
    ]
    if problems:  # pytest.fail keeps the full list (assert truncates it)
        pytest.fail(
            f"{path.name}: {len(problems)} number(s) typed into markdown; glue them from the "
            "computation with myst_nb.glue and {glue:text}`chNN_key:.3f` (or move a definition's "
            "constant into $...$ math):\n" + "\n".join(problems),
            pytrace=False,
        )


_KEY_SPAN = re.compile(r"(?<!`)`([A-Za-z_][A-Za-z0-9_]*)`(?!`)")


def find_size_keys(text: str, keys: frozenset[str]) -> list[str]:
    """Inline code spans in one markdown cell that hold a size-profile key, with context.

    Fenced code blocks are dropped first (directive bodies such as exercises are kept, since
    they are prose); MyST roles are not code spans (``{glue:text}`ch01_S_n``` is allowed).
    """

    def fence(m: re.Match) -> str:
        info = m.group(2).strip()
        return m.group(3) if info.startswith("{") and not info.startswith(("{math}", "{code")) else " "

    previous = None
    while previous != text:
        previous, text = text, _FENCE.sub(fence, text)
    text = _ROLE.sub(" ", text)
    hits = []
    for m in _KEY_SPAN.finditer(text):
        if m.group(1) in keys:
            context = " ".join(text[max(0, m.start() - 40) : m.end() + 30].split())
            hits.append(f"{m.group(0)} in '...{context}...'")
    return hits


def test_key_scanner_flags_typed_size_names():
    """The key scanner finds planted names and ignores glue roles, other code and fenced code."""
    keys = frozenset({"entk_width", "n_inits"})
    md = (
        "A network of width `entk_width` over `n_inits` inits; glued {glue:text}`ch12_S_entk_width`; "
        'the function `gram.gram`; ``n_inits`` in a double span.\n```python\nS["entk_width"]\n`entk_width`\n```\n'
    )
    found = [h.split(" in ")[0] for h in find_size_keys(md, keys)]
    assert found == ["`entk_width`", "`n_inits`"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_size_names_in_prose(path: Path):
    """Sizes in prose are glued values, never the profile's key names (see the module docstring)."""
    keys = _size_keys()
    nb = nbformat.read(path, as_version=4)
    problems = [
        f"  cell {i}: {hit}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for hit in find_size_keys(cell.source, keys)
    ]
    if problems:
        pytest.fail(
            f"{path.name}: {len(problems)} size name(s) typed into markdown; glue the value "
            "({glue:text}`chNN_S_key`) instead:\n" + "\n".join(problems),
            pytrace=False,
        )
