# The README's first commands: `make run` and `make test` each work alone on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test lint types unit clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(PY) build.py import data/sample
	$(PY) build.py stats
	$(PY) build.py render --db data/sorastats.duckdb --out site
	DEV_MODE=1 $(PY) -m api serve --site site --host 127.0.0.1 --port 8000

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: setup
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest -q

test: lint types unit

clean:
	rm -rf $(VENV) site site.* data/*.duckdb data/*.duckdb.wal
