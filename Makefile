# Two commands take a fresh clone to a working demo and a passing suite:
#   make demo    creates .venv, installs briefing, builds the demo edition into var/demo/outbox
#   make test    installs everything (torch CPU, transformers, dev tools), runs ruff, mypy, pytest
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch. Where pip would pick a CUDA build (Linux x86_64 on PyPI), add
# TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu to the make command line.
TORCH := torch==2.13.0
TORCH_INDEX ?=

.PHONY: demo test lint format bench clean install install-all

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[abstractive,dev]"
	touch $@ $(VENV)/.core

install: $(VENV)/.core
install-all: $(VENV)/.all

demo: $(VENV)/.core
	$(BIN)/briefing run --config config/demo/briefing.yaml

lint: $(VENV)/.all
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

format: $(VENV)/.all
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The benchmarks of README's table, one after another (minutes; most read ../shared/data and
# say so when it is absent). Each prints JSON with its baseline; none is a test.
BENCHMARKS := edition "ingest --feeds 200" cluster_quality stemmers cluster \
	"rouge_easc --split dev --split heldout" multidoc guard abstractive deliver "deliver --starttls"

bench: $(VENV)/.all
	@set -e; for b in $(BENCHMARKS); do \
		echo "== python -m benchmarks.$$b"; \
		HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m benchmarks.$$b; \
	done

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
