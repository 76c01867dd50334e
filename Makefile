# SRE Copilot — one entry point for every developer task.
# Quick start: `make demo` and `make test` (both idempotent; second runs are fast).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.stamp-run
DEV_STAMP := $(VENV)/.stamp-dev
PYTEST_ARGS ?=

.PHONY: help venv install install-dev demo test test-unit test-integration services lint fmt typecheck imports evals bench clean docs

help:
	@echo "make demo              set up .venv, install, run the demo (no servers, no tokens)"
	@echo "make test              dev deps + test services (apt) + the whole suite"
	@echo "make lint              ruff, ruff format --check, mypy --strict, import-linter, hadolint, Helm chart schemas"
	@echo "make fmt               ruff format + autofix"
	@echo "make test-unit         tests that need no server"
	@echo "make test-integration  tests against real PostgreSQL/Prometheus/Alertmanager"

$(BIN)/python:
	@bash scripts/bootstrap-venv.sh "$(PYTHON)" "$(VENV)"

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo ">> installing sre-copilot into $(VENV) (first run takes a few minutes)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo ">> installing sre-copilot with dev extras into $(VENV)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(RUN_STAMP)

venv: $(BIN)/python
install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/sre-copilot demo

services:
	@bash scripts/ensure-test-services.sh

test: $(DEV_STAMP) services
	$(BIN)/pytest -m "not llm" --cov --cov-report=term $(PYTEST_ARGS)

test-unit: $(DEV_STAMP)
	$(BIN)/pytest -m "not integration and not llm" $(PYTEST_ARGS)

test-integration: $(DEV_STAMP) services
	$(BIN)/pytest -m "integration" $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/python scripts/helm_validate.py

fmt: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

evals: $(DEV_STAMP)
	$(BIN)/pytest -m llm $(PYTEST_ARGS)

docs: $(RUN_STAMP)
	$(BIN)/sre-copilot config docs --output docs/configuration.md

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage .sre-copilot-demo
