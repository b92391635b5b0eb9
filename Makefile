# ntkbook -- every target creates .venv from pyproject.toml's pins if it is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env test unit notebooks book lab bench clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; set PYTHON=python3.12 or install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,book,lab]'
	touch $(STAMP)

# Unit tests, then every notebook executed by nbmake (ci profile unless NTKBOOK_SCALE says otherwise).
test: $(STAMP)
	$(BIN)/python -m pytest tests -q
	$(BIN)/python -m pytest -q --nbmake --nbmake-timeout=900 notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

# The executed book; any cell that raises fails the build (execute.allow_errors: false).
book: $(STAMP)
	$(BIN)/jupyter-book build book --warningiserror --keep-going
	@echo "book: open book/_build/html/index.html"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: $(STAMP)
	$(BIN)/python -m ntkbook.bench

clean:
	rm -rf book/_build .pytest_cache
