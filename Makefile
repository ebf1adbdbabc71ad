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
	bench-production bench-prepare bench-search chaos probes schemas clean down \
	system-deps status-screenshot monitoring-check

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

# Debian packages the tests use, installed once with apt when a command is missing (never
# downloaded by a test tool): chromium + chromium-driver (tests/integration/test_status_page.py
# drives the status page through Selenium) and prometheus (promtool checks and unit-tests the
# alert rules; tests/integration/test_monitoring.py runs a real Prometheus); libgomp1, the OpenMP
# runtime the lightgbm wheel links (the ranking stage).
SYSTEM_PACKAGES := chromium chromium-driver prometheus libgomp1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@for c in chromium chromedriver promtool prometheus; do command -v $$c >/dev/null || missing=1; done; \
	/sbin/ldconfig -p | grep -q 'libgomp\.so\.1' || missing=1; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES); \
	fi

# Every test, inside a network namespace with only the loopback interface (infra/loopback-only).
test: production-deps system-deps
	HF_HUB_OFFLINE=1 infra/loopback-only $(BIN)/pytest

unit: install system-deps
	$(BIN)/pytest tests/unit

integration: production-deps system-deps
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

# Search latency/throughput on a 20,000-product index (BENCH_SEARCH_PRODUCTS); the index is
# built once per size into $(FRESHINDEX_CACHE)/bench-search (~15 minutes on 2 cores), then reused.
bench-search: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_search

# Every hostile input of the regression corpora through the real CLI, one process each.
probes: install
	HF_HUB_OFFLINE=1 infra/loopback-only $(BIN)/python -m tests.benchmarks.hostile_probes

# docs/status.png (the README's screenshot): the status page test on the embedded stack, saving
# its phone-sized screenshot there (a 64-colour PNG, at most 150 KB).
status-screenshot: install system-deps
	HF_HUB_OFFLINE=1 FRESHINDEX_STATUS_SCREENSHOT=$(CURDIR)/docs/status.png infra/loopback-only \
		$(BIN)/pytest tests/integration/test_status_page.py -k tansu

# The alert rules and scrape configuration load, and the rules fire as alerts.test.yml says.
monitoring-check: system-deps
	cd infra/monitoring && promtool check config prometheus.yml && promtool test rules alerts.test.yml

chaos: production-deps
	HF_HUB_OFFLINE=1 infra/loopback-only $(BIN)/python -m tests.benchmarks.chaos

schemas: install
	$(BIN)/python -m schemas.jsonschema_gen

down:
	-$(BIN)/freshindex down
	-$(PRODUCTION) $(BIN)/freshindex down

clean: down
	rm -rf $(VENV) .freshindex .freshindex-production .pytest_cache .mypy_cache .ruff_cache *.egg-info
