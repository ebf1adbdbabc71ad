"""Prometheus metrics of the retrieval service (`freshindex serve`, served on its /metrics).

The Triton client's own metrics (`freshindex_embedding_request_seconds`,
`freshindex_embedding_requests_total{outcome}`) are served beside these: query embeddings go
through the same client as indexing.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STAGE_SECONDS = Histogram(
    "freshindex_search_stage_seconds",
    "Latency of one stage of a search (embed, bm25, vector, fusion, rank, total)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEARCHES = Counter("freshindex_searches_total", "Searches answered (200), by mode", ["mode"])
RESULTS = Histogram(
    "freshindex_search_results",
    "Results returned per search",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 1000),
)
EMPTY = Counter("freshindex_search_empty_total", "Searches that returned no result")
ERRORS = Counter(
    "freshindex_api_errors_total",
    "Requests answered with an error, by reason (bad_request 422, unauthorized 401,"
    " too_large 413, not_found 404, index_unavailable / embedding_unavailable /"
    " ranking_unavailable 503, internal 500)",
    ["reason"],
)

# Exported at 0 from the start, so that `increase()` in the alert rules
# (infra/monitoring/alerts.yml) counts the first outage too.
for _reason in ("index_unavailable", "embedding_unavailable", "ranking_unavailable", "internal"):
    ERRORS.labels(reason=_reason)
