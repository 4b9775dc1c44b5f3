# Shequ (社区) — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DBS ?= sqlite postgresql
PYTEST_ARGS ?=

.PHONY: help install web tools browsers demo test test-sqlite test-postgresql lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(STAMP)  ## the .venv with the project and its dev tools

web: $(STAMP)  ## build the web portal into web/dist (npm ci from the lock file)
	@if [ -f web/package.json ]; then \
	  npm ci --prefix web --no-audit --no-fund --loglevel=error && \
	  $(BIN)/shequ openapi --out web/openapi.json && \
	  npm run --prefix web gen:api && \
	  npm run --prefix web build; \
	else echo "web/: no portal sources yet"; fi

tools:  ## validators the tests use (Khronos glTF validator)
	@if [ -f tools/validators/package.json ]; then \
	  npm ci --prefix tools/validators --no-audit --no-fund --loglevel=error; fi

browsers:  ## Debian's Chromium for the browser tests (needs root; skipped otherwise)
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium missing and not root: browser tests will skip"; fi; fi

demo: $(STAMP) web  ## run the platform with an embedded database and the demo community
	$(BIN)/shequ demo

test: $(STAMP) web tools browsers  ## run the test suite on every database in TEST_DBS
	@for db in $(TEST_DBS); do \
	  echo "== tests on $$db"; \
	  $(BIN)/pytest --db $$db $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests on $$db: that is a failure"; exit 1; fi; \
	  if [ $$status -ne 0 ]; then exit $$status; fi; \
	done

test-sqlite: ## the suite on SQLite only
	$(MAKE) test TEST_DBS=sqlite

test-postgresql: ## the suite on PostgreSQL only
	$(MAKE) test TEST_DBS=postgresql

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP) tools  ## every benchmark in bench/, one JSON object each (BENCH_ARGS=--quick)
	@mkdir -p bench/results
	@for b in bench/[!_]*.py; do \
	  name=$$(basename $$b .py); echo "== $$name"; \
	  $(BIN)/python $$b $(BENCH_ARGS) | tee bench/results/$$name.json || exit 1; \
	done

clean:  ## remove build and run artefacts (keeps .venv)
	rm -rf var web/dist bench/results test-artifacts .pytest_cache .mypy_cache .ruff_cache
