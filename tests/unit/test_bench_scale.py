"""`tests.benchmarks.bench_scale` at a tiny scale (LanceDB only, a tmp folder): every figure of
the JSON is there, positive, and consistent with what was written, asked and deleted. No timed
assertion: the figures' sizes are not checked, only that they were measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks import bench_scale

CHUNKS = 2_000

RATES = (
    "load_chunks_per_s",
    "lookup_chunks_per_s",
    "record_hashes_products_per_s",
    "record_hashes_chunks_per_s",
    "stale_delete_products_per_s",
    "stale_deleted_chunks_per_s",
)
TIMES = (
    "load_s",
    "index_build_s",
    "lookup_batch_p50_ms",
    "record_hashes_call_p50_ms",
    "search_p50_ms",
    "search_p99_ms",
    "search_filtered_p50_ms",
    "search_filtered_p99_ms",
    "stale_delete_call_p50_ms",
)
SIZES = ("rss_bytes", "rss_bytes_per_chunk", "disk_bytes", "disk_bytes_per_chunk")


def test_catalog_is_deterministic_and_exact() -> None:
    one, two = bench_scale.Catalog(5_000), bench_scale.Catalog(5_000)
    assert int(one.counts.sum()) == 5_000 and one.counts.min() >= 1 and one.counts.max() <= 4
    batches = list(one.batches(2048))
    assert [len(c) for c, _ in batches] == [2048, 2048, 904]
    first, again = batches[0], next(two.batches(2048))
    assert [c.text for c in first[0]] == [c.text for c in again[0]]
    assert np.array_equal(first[1], again[1])
    vectors = np.concatenate([v for _, v in batches])
    assert vectors.shape == (5_000, bench_scale.DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    ids = [c.chunk_id for batch, _ in batches for c in batch]
    assert len(set(ids)) == 5_000
    # products: chunk counts as generated, brands and prices as the catalog says
    chunks = [c for batch, _ in batches for c in batch]
    assert chunks[0].product_id == one.product_id(0)
    assert chunks[0].chunk_count == int(one.counts[0])
    assert chunks[0].product.brand == one.brands[int(one.brand[0])]


def test_tiny_run_has_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_scale.run(CHUNKS, ["lancedb"], tmp_path, queries=20)
    assert json.loads(json.dumps(result)) == result  # one JSON object
    assert result["chunks"] == CHUNKS and result["vectors"] == "generated"
    assert set(result["backends"]) == {"lancedb"}
    figures = result["backends"]["lancedb"]
    assert figures["vectors"] == "generated"
    for name in RATES + TIMES + SIZES:
        assert isinstance(figures[name], int | float), name
        assert figures[name] > 0, name
    # consistent with what was written, asked and deleted
    assert figures["written"] == figures["count"] == CHUNKS
    tenths = figures["load_chunks_per_s_by_tenth"]
    assert tenths and all(rate > 0 for rate in tenths)
    assert figures["lookup_found"] == figures["lookup_asked"] > 0
    assert figures["record_hashes_found"] == figures["record_hashes_asked"] > 0
    assert figures["stale_deleted"] == figures["stale_delete_products"] > 0
    assert figures["count_after_delete"] == CHUNKS - figures["stale_deleted"]
    assert figures["search_p99_ms"] >= figures["search_p50_ms"]
    assert figures["search_filtered_p99_ms"] >= figures["search_filtered_p50_ms"]
    assert figures["search_hits_per_query"] == 10
    assert 0 < figures["search_filtered_hits_per_query"] <= 10
    assert figures["search_filtered_violations"] == 0
    assert figures["rss_bytes_per_chunk"] == pytest.approx(figures["rss_bytes"] / CHUNKS, abs=0.1)
    assert figures["disk_bytes_per_chunk"] == pytest.approx(figures["disk_bytes"] / CHUNKS, abs=0.1)
    assert "lancedb: loading" in capsys.readouterr().out


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        bench_scale.run(10, ["faiss"], tmp_path)
