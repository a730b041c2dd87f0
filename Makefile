# The README's commands: `make run`, `make check` and `make test` each work alone on a fresh
# Debian machine with Python 3.11 (`make test` as root installs and starts what it needs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# One worker per core (pytest-xdist). pytest keeps its assertion-rewritten test modules in
# __pycache__; a shell with PYTHONDONTWRITEBYTECODE set (this team's machines) would make
# every run rewrite all 200 of them again: 10 s of CPU per worker, a sixth of `make check`.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q -n auto

.PHONY: setup run check test lint types fast services clean screenshots vendor-duckdb-wasm

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

# docs/images/: the sample's pages photographed again in chromium (after `make services`).
screenshots: setup
	$(PY) -m tests.support.screenshots

# The fast tier: no browser, no real server, no PostgreSQL, no subprocess builds.
fast: setup
	SORASTATS_TEST_TIER=fast $(PYTEST) -m "not e2e"

# The fast loop while coding: lint, types, fast tests (under 60 s).
check: lint types fast

# Debian's chromium, fonts and PostgreSQL: installed when missing (as root), then
# PostgreSQL started. An already set TEST_DATABASE_URL is used as it is.
services:
	.ci/test-deps

# Everything, nothing skipped for a missing service. Lint and types run beside the tests,
# in the time the cores would idle while tests wait on servers and browsers (about 15 s of
# wall time); their output comes after the tests', and either failing fails `make test`.
test: setup services
	@$(MAKE) --no-print-directory lint types > .static-checks.log 2>&1 & static=$$!; \
	  TEST_DATABASE_URL="$${TEST_DATABASE_URL:-$$(timeout 180 .ci/start-postgres)}" && \
	  export TEST_DATABASE_URL && \
	  SORASTATS_TEST_ALL=1 HYPOTHESIS_PROFILE=full $(PYTEST) --durations=10 \
	    --junitxml=.test-results.xml; tests=$$?; \
	  wait $$static; checks=$$?; cat .static-checks.log; rm -f .static-checks.log; \
	  $(PY) -m tests.support.results .test-results.xml $$checks; rm -f .test-results.xml; \
	  [ $$tests = 0 ] && [ $$checks = 0 ]

# The screener's DuckDB-WASM (templates/static/vendor/duckdb-wasm/, docs/data.md): the
# EH bundle and worker as published, the ESM entry bundled with apache-arrow by esbuild.
DUCKDB_WASM := 1.28.0  # the last release with Parquet built in (docs/data.md)
vendor-duckdb-wasm:
	rm -rf .vendor-build && mkdir .vendor-build
	cd .vendor-build && npm install --no-save --ignore-scripts --prefix . \
	  @duckdb/duckdb-wasm@$(DUCKDB_WASM) apache-arrow@13.0.0 esbuild@0.24.0 && \
	  printf 'export { AsyncDuckDB, VoidLogger, DuckDBDataProtocol } from "@duckdb/duckdb-wasm";\n' > entry.mjs && \
	  node node_modules/esbuild/bin/esbuild entry.mjs --bundle --format=esm --minify \
	    --target=es2020 --legal-comments=none --outfile=duckdb-browser.mjs
	V=templates/static/vendor/duckdb-wasm; D=.vendor-build/node_modules/@duckdb/duckdb-wasm/dist; \
	  cp $$D/duckdb-eh.wasm $$D/duckdb-browser-eh.worker.js .vendor-build/duckdb-browser.mjs $$V/ && \
	  cp .vendor-build/node_modules/apache-arrow/LICENSE.txt $$V/LICENSE-apache-arrow.txt && \
	  cp .vendor-build/node_modules/apache-arrow/NOTICE.txt $$V/NOTICE-apache-arrow.txt
	rm -rf .vendor-build

clean:
	rm -rf $(VENV) site site.* data/*.duckdb data/*.duckdb.wal
