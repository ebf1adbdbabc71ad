# freshindex: `make run` (the main job on the embedded stack) and `make test` (every test).
# Both create .venv on a fresh machine. torch==2.13.0 (local CPU build) is installed first so
# that nothing pulls CUDA wheels; constraints.txt pins the whole dependency tree.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test unit integration lint bench bench-prepare schemas clean down

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: install
	HF_HUB_OFFLINE=1 $(BIN)/freshindex demo

test: install
	HF_HUB_OFFLINE=1 $(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	HF_HUB_OFFLINE=1 $(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_pipeline

bench-prepare: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_prepare

schemas: install
	$(BIN)/python -m schemas.jsonschema_gen

down:
	$(BIN)/freshindex down

clean:
	-$(BIN)/freshindex down
	rm -rf $(VENV) .freshindex .pytest_cache .mypy_cache .ruff_cache *.egg-info
