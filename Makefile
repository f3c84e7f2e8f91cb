# Tribunal: every entry point a person or CI uses. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NAME ?=
MEDIA_TYPE ?= image

.DEFAULT_GOAL := help
.PHONY: help install start stop test lint format bench health benchmark train-detector

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# compat editable mode puts the source folders on sys.path, so new packages need no reinstall.
$(STAMP): pyproject.toml sdk/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -e sdk -e '.[ml,dev]'
	@touch $@

install: $(STAMP) ## create .venv and install the project, the SDK and the test tools

start: install ## run the gateway (port 8000) and every enabled detector on this machine; Ctrl-C stops
	$(PY) -m scripts.launcher start

stop: install ## stop a stack started by `make start` in another terminal
	$(PY) -m scripts.launcher stop

test: install ## lint, then run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install ## performance benchmarks; writes docs/benchmarks.md
	$(PY) -m scripts.bench

health: install ## each registered detector's state (/ready, /info)
	$(PY) -m scripts.health_check

benchmark: install ## build the offline labelled data set in data/benchmark/
	$(PY) -m scripts.build_benchmark

train-detector: install ## retrain one detector's default weights from data/benchmark: make train-detector NAME=fft_spectral
	@test -n "$(NAME)" || { echo "usage: make train-detector NAME=<detector>"; exit 2; }
	$(PY) -m detectors.$(NAME).train
