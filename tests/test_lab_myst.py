"""`make lab` renders MyST (issue 26 d3): JupyterLab with the lock's jupyterlab-myst, opened in
headless Chromium, shows a notebook's MyST directives as the book does -- an admonition box, a
numbered definition and typeset math -- never the raw ```{note} markup.

Starts a JupyterLab server on a free local port (about a minute of CPU on a busy 2-core machine),
so it is marked ``built`` and runs beside the browser test of the book; skipped without chromium.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
JUPYTER = Path(sys.executable).parent / "jupyter"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.built,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (Debian package "
        "'chromium'): the JupyterLab rendering test is skipped",
    ),
    pytest.mark.skipif(not JUPYTER.exists(), reason="no jupyter in this environment (.venv)"),
]

CELL = (
    "# MyST check\n\n```{note}\nNOTE-BODY\n```\n\n"
    "```{prf:definition} The kernel\n:label: def-k\nDEF-BODY\n```\n\nInline math $x^2$.\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_renders_myst(tmp_path):
    from playwright.sync_api import sync_playwright

    nb = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": CELL}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "myst.ipynb").write_text(json.dumps(nb))
    port = _free_port()
    log = open(tmp_path / "lab.log", "w")
    lab = subprocess.Popen(
        [
            str(JUPYTER),
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
            "--ServerApp.open_browser=False",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(150):  # until the server answers (seconds when idle)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
                    break
            except OSError:
                time.sleep(2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/myst.ipynb", timeout=180_000)
            cell = page.locator(".jp-MarkdownCell").first
            cell.locator(".admonition, aside").first.wait_for(timeout=180_000)
            text = cell.inner_text()
            html = cell.inner_html()
            browser.close()
    finally:
        lab.terminate()
        try:
            lab.wait(30)
        except subprocess.TimeoutExpired:
            lab.kill()  # a loaded machine can take longer to shut the server down
            lab.wait()  # reaped either way: no running child is left behind
        log.close()
    assert "```{note}" not in text and "{prf:definition}" not in text, text[:300]
    assert "NOTE-BODY" in text and "Definition 1" in text, text[:300]
    assert "$x^2$" not in text and ("mjx" in html or "katex" in html or "math" in html)
