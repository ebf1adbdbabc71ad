# freshindex: `make run` (the main job on the embedded stack) and `make test` (every test, on both
# stacks). Both create .venv on a fresh machine. torch==2.13.0 (CPU build) is installed first so
# that nothing pulls CUDA wheels; constraints.txt pins the whole dependency tree.
# The production-parity stack needs Java 17 + Maven (Kafka jars) and Go 1.26 (Weaviate server):
# `make production-deps` fetches/builds both once per version into $(FRESHINDEX_CACHE).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FRESHINDEX_CACHE ?= $(HOME)/.cache/freshindex
PRODUCTION := FRESHINDEX_STACK=kafka+weaviate FRESHINDEX_HOME=$(CURDIR)/.freshindex-production

.PHONY: install production-deps run run-production test unit integration lint bench \
	bench-production bench-prepare chaos schemas clean down

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

production-deps: install
	$(BIN)/python -m infra.stack.build

run: install
	HF_HUB_OFFLINE=1 $(BIN)/freshindex demo

run-production: production-deps
	HF_HUB_OFFLINE=1 $(PRODUCTION) $(BIN)/freshindex demo

# Every test, inside a network namespace with only the loopback interface (infra/loopback-only).
test: production-deps
	HF_HUB_OFFLINE=1 infra/loopback-only $(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: production-deps
	HF_HUB_OFFLINE=1 infra/loopback-only $(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_pipeline

bench-production: production-deps
	HF_HUB_OFFLINE=1 FRESHINDEX_STACK=kafka+weaviate $(BIN)/python -m tests.benchmarks.bench_pipeline

bench-prepare: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_prepare

chaos: production-deps
	HF_HUB_OFFLINE=1 infra/loopback-only $(BIN)/python -m tests.benchmarks.chaos

schemas: install
	$(BIN)/python -m schemas.jsonschema_gen

down:
	-$(BIN)/freshindex down
	-$(PRODUCTION) $(BIN)/freshindex down

clean: down
	rm -rf $(VENV) .freshindex .freshindex-production .pytest_cache .mypy_cache .ruff_cache *.egg-info
