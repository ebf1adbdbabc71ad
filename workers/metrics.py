"""Prometheus metrics of the index worker (prometheus-client), served on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("freshindex_consumed_total", "Messages consumed from the chunks topic")
EMBEDDED = Counter("freshindex_embedded_chunks_total", "Chunks embedded through Triton")
SKIPPED_UNCHANGED = Counter(
    "freshindex_skipped_unchanged_total",
    "Chunks skipped: same content and metadata already indexed",
)
METADATA_ONLY = Counter(
    "freshindex_metadata_only_total",
    "Chunks rewritten with their stored vector (metadata changed, text did not)",
)
WRITTEN = Counter("freshindex_written_chunks_total", "Chunks written (upserted) to the index")
DELETED = Counter(
    "freshindex_deleted_chunks_total", "Chunks deleted from the index (shrunk or deleted products)"
)
DEAD_LETTERED = Counter(
    "freshindex_dead_lettered_total", "Messages sent to the dead-letter topic", ["stage"]
)
BATCH_SIZE = Histogram(
    "freshindex_batch_size",
    "Messages per processed batch",
    buckets=(1, 4, 16, 32, 64, 128, 256, 512, 1024),
)
BATCH_SECONDS = Histogram("freshindex_batch_seconds", "Time to process one batch (embed + write)")
EMBED_LATENCY = Histogram(
    "freshindex_embedding_request_seconds",
    "Latency of one Triton embedding request",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
EMBED_REQUESTS = Counter(
    "freshindex_embedding_requests_total", "Triton embedding requests by outcome", ["outcome"]
)
FRESHNESS = Histogram(
    "freshindex_freshness_seconds",
    "Published -> searchable latency of indexed chunks (indexed_at - published_at)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 300, 600),
)
INDEX_ERRORS = Counter("freshindex_index_errors_total", "Failed index reads or writes (retried)")
EMBED_ERRORS = Counter(
    "freshindex_embedding_errors_total",
    "Batches held back because Triton was unavailable (retried)",
)
LAG = Gauge(
    "freshindex_consumer_lag", "High watermark minus committed offset", ["topic", "partition"]
)

# Labelled series exported at 0 from the start, so that `increase()` in the alert rules
# (infra/monitoring/alerts.yml) counts a worker's first dead letter or failed request too.
for _stage in ("decode", "validate", "embed", "index"):
    DEAD_LETTERED.labels(stage=_stage)
for _outcome in ("ok", "retried", "rejected"):
    EMBED_REQUESTS.labels(outcome=_outcome)
