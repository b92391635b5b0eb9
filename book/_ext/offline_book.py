"""Sphinx extension: an offline book, with math rendered wherever it appears.

Jupyter Book 1.x always loads sphinx-thebe, which puts its configuration on
every page (twice on some pages, so the browser reports a redeclared
``const``) and points at Thebe's CDN.  The book is read offline and has no
live-code launcher, so the thebe scripts are dropped from every page.
"""

from __future__ import annotations


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    kept = []
    for js in scripts:
        name = str(getattr(js, "filename", js) or "")
        body = str(getattr(js, "attributes", {}).get("body", ""))
        if "thebe" in name or "THEBE_JS_URL" in body:
            continue
        kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    # Load the (local) MathJax on every page, not only on pages with math of their own:
    # the navigation shows other chapters' titles and captions, which may hold math.
    app.set_html_assets_policy("always")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
