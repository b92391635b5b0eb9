"""The built book as a reader meets it: every chapter opened in headless Chromium.

This test reads an existing build; plain ``pytest`` never builds the book (a build executes
every notebook, minutes of work).  ``make test`` builds the book once -- its single execution
of the notebooks -- and then runs this file against that build.  Skipped, with a message
saying how to run it, when there is no build in ``book/_build/html`` (run ``make book`` first,
or set ``NTKBOOK_BUILD_BOOK=1`` to let this test build it) or when Debian's ``chromium`` is
not installed.  Each page is served from 127.0.0.1 and must: render all its math (no
unrendered TeX, no MathJax error), load every image, log no console error, and send no
request off localhost.  A screenshot of each page goes to ``book/_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
# NTKBOOK_BROWSER_HTML points the test at another build (a tiny book with planted defects,
# to see each check fail): the same structure, book/_build/html by default.
HTML = Path(os.environ.get("NTKBOOK_BROWSER_HTML") or ROOT / "book" / "_build" / "html")
SHOTS = HTML.parent / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Building the book executes every notebook: only when asked, never as a side effect of `pytest`.
BUILD_ASKED = os.environ.get("NTKBOOK_BUILD_BOOK", "") not in ("", "0")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.built,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (Debian package "
        "'chromium'; see README): the browser test of the built book is skipped",
    ),
    pytest.mark.skipif(
        not (HTML / "index.html").exists() and not BUILD_ASKED,
        reason="the book is not built (book/_build/html/index.html is missing): "
        "run `make book` and then `pytest tests/test_browser.py`, or `make test` "
        "(builds it once, then runs this test), or set NTKBOOK_BUILD_BOOK=1 to "
        "let this test build it",
    ),
]

# Flags that keep Chromium from reaching for the network on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # every host name but the local server's fails to resolve: a request off localhost is
    # refused by the browser itself (and recorded by the page's "request" listener), while
    # the HTTP cache stays on (a playwright route would turn it off for every request)
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]


def _chapter_pages() -> list[Path]:
    pages = [HTML / "intro.html"]
    pages += sorted((HTML / "notebooks").glob("*.html"))
    # front matter and appendix pages outside notebooks/ (notation, API reference, run times)
    pages += [
        p
        for p in (
            HTML / "notation.html",
            HTML / "api.html",
            HTML / "execution_times.html",
            HTML / "bibliography.html",
        )
        if p.exists()
    ]
    return pages


@pytest.fixture(scope="module")
def site():
    if BUILD_ASKED:
        subprocess.run(["make", "book"], cwd=ROOT, check=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output readable
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()  # the listening socket too (an unclosed one is a ResourceWarning)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


# Runs in the page: true once MathJax has typeset everything, or at once when the
# page has no math or MathJax never loaded (CHECK_PAGE then reports the math unrendered).
WAIT_FOR_MATH = """() => !document.querySelector('.math') ||
    !(window.MathJax && MathJax.startup && MathJax.startup.promise) ||
    MathJax.startup.promise.then(() => true)"""

CHECK_PAGE = """() => {
  const math = Array.from(document.querySelectorAll('span.math, div.math'));
  const unrendered = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const errors = Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 80));
  const images = Array.from(document.images);
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 120));
  return {math: math.length, unrendered, errors, images: images.length, broken};
}"""


# Runs in the page: every hidden-solution dropdown of sphinx-exercise/sphinx-togglebutton, with
# the rendered height of its body (0 while hidden).
SOLUTIONS = """() => Array.from(document.querySelectorAll('.solution.dropdown')).map(s => ({
  id: s.id, hidden: s.classList.contains('toggle-hidden'),
  body: Array.from(s.children).filter(c => !c.classList.contains('admonition-title'))
             .reduce((h, c) => h + c.offsetHeight, 0)}))"""


# Runs in the page: true once the first hidden solution is open and has a rendered body.
FIRST_SOLUTION_SHOWN = f"() => {{ const s = ({SOLUTIONS})()[0]; return !s.hidden && s.body > 0; }}"


# Runs in the page: every claims-ledger entry (ntkbook.claims.render) with its verdict badge,
# whether it fits the page width (nothing cut off, no horizontal scrolling), and its links.
LEDGER = r"""() => {
  const width = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll('div.ntk-claim')).map(e => {
    const badge = e.querySelector('.ntk-verdict');
    const r = e.getBoundingClientRect();
    return {id: e.id, verdict: badge ? badge.textContent : null,
            badge_colour: badge ? getComputedStyle(badge).backgroundColor : null,
            badge_right: badge ? badge.getBoundingClientRect().right : null,
            right: r.right, width, overflow: e.scrollWidth > e.clientWidth + 1,
            cut: /\.\.\.|…/.test(e.querySelector('p + p') ? e.querySelector('p + p').textContent : ''),
            links: Array.from(e.querySelectorAll('a')).map(a => a.getAttribute('href'))};
  });
}"""
LEDGER_WIDTHS = (1280, 390)
"""Viewport widths at which every ledger entry must fit: a laptop and a phone."""

CHAPTER_PAGE = "notebooks/[01][0-9]_*.html"
REFERENCE_PAGES = (("api.html", "dl.py.function", 50), ("notation.html", "table tbody tr", 10))


# Runs in the page: what a reader sees of each solution.  For every solution dropdown, the
# rendered height of each code cell inside it (input and output: 0 while hidden), and the code
# cells that follow it outside before the next heading, exercise or solution (a solution whose
# code escaped its dropdown, as with a plain {solution} followed by code cells).
SOLUTION_CELLS = r"""() => Array.from(document.querySelectorAll('.solution.dropdown')).map(s => {
  const cells = Array.from(s.querySelectorAll('div.cell_input, div.cell_output')).map(c => ({
    text: c.textContent.trim().slice(0, 60), height: c.offsetHeight,
    // sphinx-togglebutton hides a closed dropdown's body with visibility/opacity and height 0,
    // which leaves the cells laid out (offsetHeight > 0): ask what is actually painted
    visible: c.offsetHeight > 0 && c.checkVisibility({visibilityProperty: true,
                                                      opacityProperty: true})}));
  const leaked = [];
  for (let e = s.nextElementSibling; e; e = e.nextElementSibling) {
    if (e.matches('section, h1, h2, h3, h4, .exercise, .solution, .proof')) break;
    if (e.matches('div.cell') || e.querySelector('div.cell'))
      leaked.push(e.textContent.trim().slice(0, 60));
  }
  return {id: s.id, cells, leaked};
})"""

# Runs in the page: true once every code cell and output inside every solution is painted.
ALL_SOLUTION_CELLS_SHOWN = r"""() => Array.from(document.querySelectorAll(
    '.solution.dropdown div.cell_input, .solution.dropdown div.cell_output')).every(c =>
  c.offsetHeight > 0 && c.checkVisibility({visibilityProperty: true, opacityProperty: true}))"""

# Runs in the page: figures without a caption, and text a reader sees that still holds a
# literal `$` (TeX that did not become math: e.g. a `$$` line glued to a paragraph line).
# Code, program output in <pre>, and typeset math are not prose and are skipped.
FIGURES_AND_DOLLARS = r"""() => {
  const root = document.querySelector('article') || document.body;
  const figures = Array.from(root.querySelectorAll('figure'));
  const uncaptioned = figures.filter(f => {
      const c = f.querySelector('figcaption .caption-text') || f.querySelector('figcaption');
      return !c || !c.textContent.trim();
    }).map(f => (f.id || (f.querySelector('img') || {}).src || '?').toString().slice(-60));
  const bare = Array.from(root.querySelectorAll('div.cell_output img'))
      .filter(i => !i.closest('figure')).map(i => i.src.slice(-60));
  const skip = 'pre, code, script, style, mjx-container, .MathJax, .cell_input, .math';
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const dollars = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.textContent.includes('$') && !(n.parentElement && n.parentElement.closest(skip)))
      dollars.push(n.textContent.trim().slice(0, 80));
  }
  return {figures: figures.length, uncaptioned, bare, dollars};
}"""


def _exercise_check(page) -> dict:
    """Exercises, theorem boxes and the hidden solutions of one open chapter page.

    Records what a reader sees of every solution before any click (``cells_closed``), clicks
    the first open (``after``, the original check), then opens all of them and records it
    again (``cells_after``): every code cell and output inside must be invisible before and
    visible after.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_function(
        "() => document.querySelectorAll('.solution.dropdown button.toggle-button')"
        ".length === document.querySelectorAll('.solution.dropdown').length"
    )
    found = {
        "exercises": page.locator("div.exercise").count(),
        "proofs": page.locator("div.proof").count(),
        "before": page.evaluate(SOLUTIONS),
        "after": None,
        "cells_closed": page.evaluate(SOLUTION_CELLS),
    }  # before any click
    if found["before"]:
        page.locator(".solution.dropdown").first.locator("button.toggle-button").click()
        try:  # until the first solution shows (not a fixed pause)
            page.wait_for_function(FIRST_SOLUTION_SHOWN, timeout=5_000)
        except PlaywrightTimeout:
            pass  # still hidden after 5 s: the test reports it from "after"
        found["after"] = page.evaluate(SOLUTIONS)[0]
    # each still-closed dropdown clicked once, by position in a list that does not change
    # (clicking "the first closed one" again before its class updates would shut it again)
    solutions = page.locator(".solution.dropdown")
    for i in range(solutions.count()):
        if "toggle-hidden" in (solutions.nth(i).get_attribute("class") or ""):
            solutions.nth(i).locator("button.toggle-button").first.click()
    if found["before"]:
        try:  # until every solution's cells are painted (the opening fades in on a loaded
            # machine); a dropdown that stays shut is reported below
            page.wait_for_function(ALL_SOLUTION_CELLS_SHOWN, timeout=20_000)
        except PlaywrightTimeout:
            pass
    found["cells_after"] = page.evaluate(SOLUTION_CELLS)
    return found


class _Tab:
    """One browser tab, reused for page after page, with what its current page reported.

    A tab keeps its renderer process across navigations (same origin), so the theme's and
    MathJax's scripts are compiled once, not once per page, and its HTTP cache serves them
    after the first page.  Measured on this 2-core machine (all CPU, Chromium's processes
    included): 116 s for the 24 pages with a new tab each and a playwright route on every
    request (which turns the HTTP cache off), 70-75 s this way.  Two tabs taking turns were no
    faster in wall-clock time and cost 84 s: in ``make test`` the cores are busy anyway.
    The lists are replaced at each navigation; a late message of the previous page could only
    land in the next page's list (a false failure, never a missed one).
    """

    def __init__(self, browser, site: str) -> None:
        self.site = site
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.console_errors: list[str] = []
        self.offsite: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        self.page.on("request", self._request)

    def _console(self, msg) -> None:
        # The browser asks each new site for /favicon.ico on its own (the book has none): that
        # 404 is the browser's request, not the page's, and the one error message left aside.
        if msg.type == "error" and msg.location.get("url") != f"{self.site}/favicon.ico":
            self.console_errors.append(msg.text)

    def _request(self, request) -> None:
        host = urlparse(request.url).hostname
        if not request.url.startswith(("data:", "blob:")) and host not in ("127.0.0.1", "localhost"):
            self.offsite.append(request.url)

    def open(self, rel: str) -> None:
        """Load ``rel`` at the laptop width (the ledger check narrows the previous page's)."""
        self.console_errors, self.offsite = [], []
        self.page.set_viewport_size({"width": 1280, "height": 900})
        self.page.goto(f"{self.site}/{rel}", wait_until="load")


@pytest.fixture(scope="module")
def visits(site, browser) -> dict[str, dict]:
    """Every page opened once, one after another in one tab: what the tests below check."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    chapters = {p.relative_to(HTML).as_posix() for p in HTML.glob(CHAPTER_PAGE)}
    selectors = {name: selector for name, selector, _ in REFERENCE_PAGES}
    found: dict[str, dict] = {}
    tab = _Tab(browser, site)
    for path in _chapter_pages():
        rel = path.relative_to(HTML).as_posix()
        tab.open(rel)
        page = tab.page
        page.wait_for_function(WAIT_FOR_MATH, timeout=60_000)
        visit = {"report": page.evaluate(CHECK_PAGE)}
        page.screenshot(path=str(SHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")))
        if rel in chapters:
            visit["figures"] = page.evaluate(FIGURES_AND_DOLLARS)
            visit["exercises"] = _exercise_check(page)
        if rel in selectors:
            visit["count"] = page.locator(selectors[rel]).count()
        if page.locator("div.ntk-claim").count():
            visit["ledger"] = {}
            for width in LEDGER_WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                visit["ledger"][width] = page.evaluate(LEDGER)
        visit.update(console_errors=tab.console_errors, offsite=tab.offsite)
        found[rel] = visit
    tab.page.close()
    return found


def test_every_page_renders_offline(visits):
    assert len(visits) >= 3, f"expected the intro, chapters and bibliography; found {list(visits)}"
    problems: dict[str, list[str]] = {}
    summary = []
    for rel, visit in visits.items():
        report = visit["report"]
        issues = (
            [f"unrendered math: {t!r}" for t in report["unrendered"]]
            + [f"MathJax error: {t!r}" for t in report["errors"]]
            + [f"image not loaded: {s}" for s in report["broken"]]
            + [f"console error: {t}" for t in visit["console_errors"]]
            + [f"request left localhost: {u}" for u in visit["offsite"]]
        )
        if issues:
            problems[rel] = issues
        summary.append(f"{rel}: {report['math']} math, {report['images']} images")
    print("\n".join(summary))
    assert not problems, "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in problems.items())


def test_exercises_theorems_and_reference_pages(visits):
    """Every chapter has >= 3 exercises whose solutions start hidden and open on a click;
    theorem/definition boxes are numbered; the API reference and notation pages have content."""
    chapters = {rel: v["exercises"] for rel, v in visits.items() if "exercises" in v}
    assert chapters, "no chapter pages in the build"
    problems: list[str] = []
    for rel, found in sorted(chapters.items()):
        if found["exercises"] < 3:
            problems.append(f"{rel}: {found['exercises']} exercises (at least 3 expected)")
        if not found["before"]:
            problems.append(f"{rel}: no hidden solutions")
            continue
        shown = [s["id"] for s in found["before"] if not s["hidden"] or s["body"] > 0]
        if shown:
            problems.append(f"{rel}: solutions visible before a click: {shown}")
        after = found["after"]
        if after["hidden"] or after["body"] == 0:
            problems.append(f"{rel}: the first solution did not open on a click ({after})")
    boxes = sum(found["proofs"] for found in chapters.values())
    assert boxes >= 10, f"only {boxes} theorem/definition boxes across the chapters"
    for name, selector, least in REFERENCE_PAGES:
        if name not in visits:
            problems.append(f"{name} is missing from the build")
        elif visits[name]["count"] < least:
            problems.append(f"{name}: {visits[name]['count']} x {selector!r} (at least {least} expected)")
    assert not problems, "\n".join(problems)


def test_claims_ledger_entries_readable(visits):
    """Every chapter that records claims ends with readable entries, and the appendix lists the
    claims that did not hold first, each linking to an entry that exists on its chapter's page.

    Readable: each entry has a verdict badge with a colour, fits the viewport at a laptop's and
    a phone's width (no horizontal overflow, badge inside the page) and shows its claim uncut.
    """
    ledgers = {rel: v["ledger"] for rel, v in visits.items() if "ledger" in v}
    chapter_pages = sorted(
        rel for rel in ledgers if rel.startswith("notebooks/") and rel.split("/")[-1][:2].isdigit()
    )
    assert len(chapter_pages) >= 14, f"ledger entries on only {chapter_pages}"
    appendix = "notebooks/A3_claims_ledger.html"
    assert appendix in ledgers, "the claims-ledger appendix shows no entries"
    problems: list[str] = []
    for rel, by_width in sorted(ledgers.items()):
        for width, entries in by_width.items():
            for e in entries:
                where = f"{rel} at {width} px, {e['id']}"
                if not e["verdict"] or e["badge_colour"] in (None, "rgba(0, 0, 0, 0)"):
                    problems.append(f"{where}: no coloured verdict badge")
                if e["overflow"] or e["right"] > e["width"] + 1 or (e["badge_right"] or 0) > e["width"] + 1:
                    problems.append(f"{where}: cut off (right edge {e['right']:.0f} of {e['width']})")
                if e["cut"]:
                    problems.append(f"{where}: claim text truncated")
    # the appendix: not reproduced / partly / inconclusive first, then the rest
    verdicts = [e["verdict"] for e in ledgers[appendix][1280]]
    open_ = {"not reproduced", "partly", "inconclusive"}
    first_rest = next((i for i, v in enumerate(verdicts) if v not in open_), len(verdicts))
    n_open = sum(v in open_ for v in verdicts) // 2  # listed first, then again by source
    if first_rest < n_open:
        problems.append(f"{appendix}: only {first_rest} open claims lead the page, {n_open} exist")
    ids = {rel.split("/")[-1]: {e["id"] for e in by_width[1280]} for rel, by_width in ledgers.items()}
    for e in ledgers[appendix][1280]:
        for href in e["links"]:
            page, _, anchor = href.partition("#")
            if anchor not in ids.get(page, set()):
                problems.append(f"{appendix}, {e['id']}: link {href} has no such entry")
    assert not problems, "\n".join(problems[:50])


def test_solutions_hidden_whole_figures_captioned_no_literal_dollar(visits):
    """What a reader sees on each chapter page (issue 26, d1 and d2):

    * no solution code or output is visible before its dropdown is opened, and all of it is
      after (sphinx-exercise's gated ``solution-start``/``solution-end`` put the code cells
      inside ``div.solution.dropdown``); no code cell follows a solution outside it;
    * every figure has a caption (myst-nb's figure metadata), and no cell-output image is
      outside a figure;
    * no literal ``$`` survives in the rendered prose (TeX that did not become math).
    """
    chapters = {rel: v for rel, v in visits.items() if "figures" in v}
    assert chapters, "no chapter pages in the build"
    problems: list[str] = []
    for rel, v in sorted(chapters.items()):
        for sol in v["exercises"]["cells_closed"]:
            shown = [c["text"] for c in sol["cells"] if c["visible"]]
            if shown:
                problems.append(
                    f"{rel}, {sol['id']}: solution code/output visible before "
                    f"the dropdown is opened: {shown[:3]}"
                )
            if sol["leaked"]:
                problems.append(
                    f"{rel}, {sol['id']}: code cells after the solution, outside "
                    f"its dropdown (use solution-start/solution-end): "
                    f"{sol['leaked'][:3]}"
                )
        for sol in v["exercises"].get("cells_after", []):
            hidden = [c["text"] for c in sol["cells"] if not c["visible"]]
            if hidden:
                problems.append(
                    f"{rel}, {sol['id']}: solution code/output still hidden after "
                    f"the dropdown is opened: {hidden[:3]}"
                )
        f = v["figures"]
        if f["uncaptioned"]:
            problems.append(f"{rel}: figures without a caption: {f['uncaptioned']}")
        if f["bare"]:
            problems.append(
                f"{rel}: output images outside a numbered figure (add the cell's "
                f"mystnb figure metadata): {f['bare']}"
            )
        if f["dollars"]:
            problems.append(f"{rel}: literal $ in the rendered text: {f['dollars'][:3]}")
    summary = [
        f"{rel}: {len(v['exercises']['cells_closed'])} solutions, {v['figures']['figures']} figures"
        for rel, v in sorted(chapters.items())
    ]
    print("\n".join(summary))
    assert not problems, "\n".join(problems[:60])


def test_tables_show_no_nan_and_are_not_cut():
    """Every table cell a reader sees holds a value or a deliberate dash (``plots.table``): no
    ``NaN``/``None`` (which reads as a failed computation), no ``...`` row or column of a
    table pandas truncated (issue 26: the reproducibility appendix's sizes table was cut) and
    no cell text cut at pandas' column width (A4's ladder column was)."""
    import html as html_lib
    import re

    problems = []
    for page in _chapter_pages():
        text = page.read_text(encoding="utf-8")
        for raw in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", text, re.S):
            cell = html_lib.unescape(re.sub(r"<[^>]+>", "", raw)).strip()
            if cell in ("NaN", "nan", "<NA>", "None", "...", "\u2026"):
                problems.append(f"{page.relative_to(HTML)}: a table cell shows {cell!r}")
            elif cell.endswith("..."):  # pandas cuts text longer than display.max_colwidth
                problems.append(f"{page.relative_to(HTML)}: a table cell is cut: {cell[-60:]!r}")
    assert not problems, "\n".join(sorted(set(problems))[:40])
