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
	bench-production bench-prepare bench-onnx bench-search chaos probes schemas clean down \
	system-deps status-screenshot monitoring-check eval-dedup eval-extraction finetune-cv bench-scale

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

# Chunking throughput (BENCH_PRODUCTS, 600) and dedup at BENCH_DEDUP_RECORDS (100,000) records:
# the last JSON line's dedup_bytes_per_record (Python heap) and dedup_records_per_s (state file).
bench-prepare: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_prepare

# The GPU model path on this CPU (README "GPU model path"): the ONNX export run by ONNX Runtime vs
# sentence-transformers (the python backend's model), chunks/s on the sample catalog's chunks at
# batch 16 and 64, the tokenizer's share, min cosine; the last line is one JSON object.
bench-onnx: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_onnx

# Deduplication's precision/recall on the labelled pairs of tests/unit/dedup/: dev, 5-fold
# cross-validated (threshold and guard rules chosen on the training folds), the set-aside
# split, per case and per rule (README "Deduplication"); the last line is one JSON object.
eval-dedup: install
	$(BIN)/python -m tests.benchmarks.eval_dedup_cv

# `freshindex finetune` cross-validated on the sample qrels: train on one fold, vector-only
# nDCG@10 of the other before and after, both ways (README "Fine-tuning"); ~5 minutes on 2 cores.
finetune-cv: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.finetune_cv

# The index backends at catalog scale (BENCH_SCALE_CHUNKS, default 1,000,000 generated chunks;
# BENCH_SCALE_BACKENDS, default lancedb,weaviate): load, change checks, stale deletes, search
# p50/p99, memory and disk per chunk; JSON last line (docs/sizing.md). ~10 min LanceDB, ~30 Weaviate.
bench-scale: production-deps
	$(BIN)/python -m tests.benchmarks.bench_scale

# Search latency/throughput on a 20,000-product index (BENCH_SEARCH_PRODUCTS); the index is
# built once per size into $(FRESHINDEX_CACHE)/bench-search (~15 minutes on 2 cores), then reused.
bench-search: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m tests.benchmarks.bench_search

# Product-page extraction on the dev pages (../shared/data/product-pages): F1 with every rule on
# and 5-fold cross-validated F1, each rule of ingest/pages/rules.py scored on the held-out folds
# with and without it (about 6 minutes on 2 cores; skips when the pages are absent).
eval-extraction: install
	$(BIN)/python -m tests.benchmarks.eval_extraction_cv

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
