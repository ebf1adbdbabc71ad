"""The retrieval pipeline and its HTTP API in process: a real `Retriever` over a real LanceDB
index in tmp_path, the `HashEmbedder` fake for Triton, `FaultyIndex` for outages; FastAPI's
TestClient (httpx) for the requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from schemas.models import Chunk, ProductMetadata, chunk_id, content_hash
from schemas.settings import Settings
from tests.unit.fakes import PUBLISHED, FaultyIndex, HashEmbedder, text_vector
from workers.errors import EmbeddingUnavailable, IndexUnavailable, QueryRejected
from workers.index.base import Filter, Hit, Row, VectorIndex
from workers.index.lancedb import LanceIndex
from workers.retrieval.api import create_app
from workers.retrieval.fusion import Candidate
from workers.retrieval.pipeline import Query, Retriever

DIM = 8
PRODUCTS = {
    "HOSE": ("Expandable garden hose 30 m with brass spray gun", "Terravita", "24.99", 2),
    "FEED": ("Liquid tomato feed for greenhouse tomatoes", "Terravita", "6.99", 1),
    "RAKE": ("Steel garden rake with ash handle", "GreenAcre", "19.00", 1),
    "SEED": ("Carrot seeds for spring sowing in garden beds", "GreenAcre", "2.49", 1),
}


def chunks_of(product_id: str) -> list[Chunk]:
    title, brand, price, count = PRODUCTS[product_id]
    texts = [title, f"{title}. More about the {title.split()[-1]}: sturdy and simple."]
    return [
        Chunk(
            published_at=PUBLISHED,
            chunk_id=chunk_id(product_id, i),
            product_id=product_id,
            chunk_index=i,
            chunk_count=count,
            text=texts[i],
            section="overview" if i == 0 else "description",
            token_count=9,
            content_hash=content_hash(texts[i]),
            product=ProductMetadata(
                title=title,
                source="feed:test",
                brand=brand,
                price=Decimal(price),
                currency="EUR",
                attributes={"colour": "green"},
            ),
        )
        for i in range(count)
    ]


@pytest.fixture
def lance(tmp_path: Path) -> LanceIndex:
    index = LanceIndex(str(tmp_path / "lance"), "chunks", DIM)
    rows = [
        Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=PUBLISHED)
        for pid in PRODUCTS
        for c in chunks_of(pid)
    ]
    index.upsert(rows)
    return index


def settings_with(**values: Any) -> Settings:
    return Settings(_env_file=None, embedding_dim=DIM, **values)  # type: ignore[call-arg]


class Harness:
    """A running app over a retriever whose index and embedder the test can break."""

    def __init__(self, client: TestClient, index: FaultyIndex, embedder: HashEmbedder) -> None:
        self.client = client
        self.index = index
        self.embedder = embedder

    def search(self, **body: Any) -> Any:
        return self.client.post("/v1/search", json=body)


def harness(
    lance: VectorIndex, *, ranker: Any = None, index: VectorIndex | None = None, **values: Any
) -> Iterator[Harness]:
    faulty = FaultyIndex(index or lance)
    embedder = HashEmbedder(dim=DIM)
    settings = settings_with(**values)
    retriever = Retriever(settings, index=faulty, embedder=embedder, ranker=ranker)
    with TestClient(create_app(settings, retriever)) as client:
        yield Harness(client, faulty, embedder)
    asyncio.run(retriever.close())


@pytest.fixture
def api(lance: LanceIndex, clean_env: pytest.MonkeyPatch) -> Iterator[Harness]:
    yield from harness(lance)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --------------------------------------------------------------------------- search


def test_hybrid_search_returns_fused_results_with_every_stage(api: Harness) -> None:
    query = PRODUCTS["HOSE"][0]  # the fake embedder's vector of it is HOSE's first chunk's
    answer = api.search(query=query, k=3)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mode"] == "hybrid" and body["fusion"] == "rrf" and body["ranker"] is None
    assert body["index"] == {"backend": "lancedb", "name": "products", "target": None}
    assert body["model"] == {"name": "minilm", "dim": DIM, "version": None, "fingerprint": None}
    assert body["took_ms"] > 0 and {"embed", "bm25", "vector", "fusion", "total"} <= set(
        body["timings_ms"]
    )
    top = body["results"][0]
    assert top["product_id"] == "HOSE" and top["brand"] == "Terravita" and top["price"] == 24.99
    assert top["title"].startswith("Expandable") and top["attributes"] == {"colour": "green"}
    assert set(top["scores"]) == {"bm25", "vector", "fused"}
    assert top["score"] == top["scores"]["fused"] and top["ranks"]["fused"] == 1
    fused_ranks = [r["ranks"]["fused"] for r in body["results"]]  # ranks among all chunks
    assert fused_ranks == sorted(fused_ranks) and len(fused_ranks) == 3
    assert len({r["product_id"] for r in body["results"]}) == 3  # one per product
    assert top["ranks"]["bm25"] == 1 and top["ranks"]["vector"] == 1
    assert top["scores"]["vector"] == pytest.approx(1.0, abs=1e-5)
    assert api.embedder.texts_embedded == [query]  # no prefix configured


def test_per_product_false_returns_chunks(api: Harness) -> None:
    body = api.search(query="garden hose", k=10, per_product=False, mode="bm25").json()
    hose = [r["chunk_id"] for r in body["results"] if r["product_id"] == "HOSE"]
    assert sorted(hose) == sorted(c.chunk_id for c in chunks_of("HOSE"))


def test_bm25_mode_never_calls_triton_and_vector_mode_never_runs_bm25(api: Harness) -> None:
    bm25 = api.search(query="rake", mode="bm25").json()
    assert api.embedder.calls == [] and "nearest" not in api.index.calls
    assert [r["product_id"] for r in bm25["results"]] == ["RAKE"]
    assert bm25["fusion"] is None and set(bm25["results"][0]["scores"]) == {"bm25"}
    vector = api.search(query="rake", mode="vector", k=4).json()
    assert api.index.calls == ["bm25", "nearest"] and len(api.embedder.calls) == 1
    assert len(vector["results"]) == 4 and set(vector["results"][0]["scores"]) == {"vector"}
    cosines = [r["score"] for r in vector["results"]]
    assert cosines == sorted(cosines, reverse=True) and all(-1 <= s <= 1 for s in cosines)


def test_weighted_fusion_on_request(api: Harness) -> None:
    body = api.search(query="garden hose", fusion="weighted").json()
    assert body["fusion"] == "weighted"
    assert all(0 <= r["scores"]["fused"] <= 1 for r in body["results"])


def test_filters_apply_to_every_stage(api: Harness) -> None:
    for mode in ("hybrid", "bm25", "vector"):
        body = api.search(query="garden", mode=mode, filters=["brand=GreenAcre", "price<=10"])
        assert [r["product_id"] for r in body.json()["results"]] == ["SEED"], mode


def test_a_query_without_results_is_empty_and_counted(api: Harness) -> None:
    before = metric("freshindex_search_empty_total")
    body = api.search(query="garden", filters=["brand=Nobody"]).json()
    assert body["results"] == []
    assert metric("freshindex_search_empty_total") == before + 1


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"query": "hose", "filters": ["colour=green"]}, "cannot filter on 'colour'"),
        ({"query": "hose", "filters": ["brand"]}, "bad filter 'brand'"),
        ({"query": "hose", "filters": ["price<=cheap"]}, "price needs a number"),
        ({"query": "hose", "k": 101}, "FRESHINDEX_SERVE_MAX_K"),
        ({"query": "   "}, "query is empty"),
        ({"query": "hose", "rerank": True}, "none is installed"),
        ({"query": ""}, "at least 1 character"),
        ({"query": "hose", "k": 0}, "greater than or equal to 1"),
        ({"query": "hose", "k": "3"}, "valid integer"),
        ({"query": "hose", "mode": "magic"}, "'hybrid', 'bm25' or 'vector'"),
        ({"query": "hose", "size": 3}, "Extra inputs are not permitted"),
        ({"k": 3}, "Field required"),
    ],
)
def test_bad_requests_get_422_with_the_reason(
    api: Harness, body: dict[str, Any], reason: str
) -> None:
    before = metric("freshindex_api_errors_total", reason="bad_request")
    answer = api.search(**body)
    assert answer.status_code == 422
    assert reason in answer.text
    assert metric("freshindex_api_errors_total", reason="bad_request") == before + 1
    assert api.embedder.calls == [] and not {"bm25", "nearest"} & set(api.index.calls)


def test_body_that_is_not_json_gets_422(api: Harness) -> None:
    answer = api.client.post(
        "/v1/search", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422


def test_oversized_body_gets_413(api: Harness) -> None:
    before = metric("freshindex_api_errors_total", reason="too_large")
    answer = api.search(query="hose " * 5000)
    assert answer.status_code == 413 and "FRESHINDEX_SERVE_MAX_REQUEST_BYTES" in answer.text

    def chunked() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(100):
            yield b"hose " * 100
        yield b'"}'

    streamed = api.client.post(
        "/v1/search", content=chunked(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert metric("freshindex_api_errors_total", reason="too_large") == before + 2


# --------------------------------------------------------------------------- outages


def test_triton_away_is_503_naming_the_dependency(api: Harness) -> None:
    api.embedder.unavailable = True
    answer = api.search(query="hose")
    assert answer.status_code == 503
    assert answer.json()["dependency"] == "embedding" and answer.headers["retry-after"] == "1"
    assert "fake Triton is down" in answer.json()["detail"]
    assert api.search(query="hose", mode="bm25").status_code == 200  # BM25 needs no Triton
    ready = api.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["index"] == "ok"
    assert "EmbeddingUnavailable" in ready.json()["checks"]["embedding"]
    api.embedder.unavailable = False
    assert api.search(query="hose").status_code == 200
    ready = api.client.get("/readyz").json()
    assert (ready["status"], ready["checks"]) == ("ready", {"index": "ok", "embedding": "ok"})


def test_index_away_is_503_then_recovers(api: Harness) -> None:
    before = metric("freshindex_api_errors_total", reason="index_unavailable")
    api.index.errors = [IndexUnavailable("LanceDB search failed: os error")]
    answer = api.search(query="hose", mode="bm25")
    assert answer.status_code == 503 and answer.json()["dependency"] == "index"
    assert metric("freshindex_api_errors_total", reason="index_unavailable") == before + 1
    api.index.errors = [IndexUnavailable("down")]
    assert api.client.get("/v1/products/HOSE").status_code == 503
    assert api.search(query="hose").status_code == 200


class SlowIndex(FaultyIndex):
    """An index whose reads hang for `delay_s` (a server that accepts and never answers)."""

    delay_s = 3.0

    def nearest(self, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        time.sleep(self.delay_s)
        return super().nearest(vector, k=k, filters=filters)

    def count(self) -> int:
        time.sleep(self.delay_s)
        return super().count()


def test_a_hanging_index_answers_503_within_the_deadline(
    lance: LanceIndex, clean_env: pytest.MonkeyPatch
) -> None:
    for api in harness(lance, index=SlowIndex(lance), serve_timeout_s=0.3):
        started = time.monotonic()
        answer = api.search(query="hose")
        assert answer.status_code == 503 and "FRESHINDEX_SERVE_TIMEOUT_S" in answer.text
        assert api.client.get("/readyz").status_code == 503
        assert time.monotonic() - started < 2.0


# --------------------------------------------------------------------------- ranking stage


class ReverseRanker:
    """A stand-in trained ranker for the hook's contract: prefers the last fused candidate."""

    name = "reverse"

    def __init__(self) -> None:
        self.seen: list[int] = []

    async def score(self, query: str, candidates: Sequence[Candidate]) -> Sequence[float]:
        self.seen.append(len(candidates))
        return [float(i) for i in range(len(candidates))]


def test_installed_ranker_orders_results_unless_turned_off(
    lance: LanceIndex, clean_env: pytest.MonkeyPatch
) -> None:
    ranker = ReverseRanker()
    for api in harness(lance, ranker=ranker):
        default = api.search(query="garden hose", per_product=False).json()
        assert default["ranker"] == "reverse"
        top = default["results"][0]
        assert top["score"] == top["scores"]["rank"] and top["ranks"]["rank"] == 1
        assert top["ranks"]["fused"] == ranker.seen[0]  # the last fused candidate came first
        off = api.search(query="garden hose", rerank=False).json()
        assert off["ranker"] is None and "rank" not in off["results"][0]["scores"]
        assert api.search(query="garden hose", rerank=True).json()["ranker"] == "reverse"


# --------------------------------------------------------------------------- products


def test_product_endpoint_lists_chunks_in_order_and_404s(api: Harness) -> None:
    answer = api.client.get("/v1/products/HOSE")
    assert answer.status_code == 200
    body = answer.json()
    assert [c["chunk_index"] for c in body["chunks"]] == [0, 1]
    assert body["chunks"][0]["text"] == PRODUCTS["HOSE"][0] and body["chunks"][0]["price"] == 24.99
    missing = api.client.get("/v1/products/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


# --------------------------------------------------------------------------- auth, probes


def test_api_key_guards_v1_in_constant_time_and_leaves_probes_open(
    lance: LanceIndex, clean_env: pytest.MonkeyPatch
) -> None:
    for api in harness(lance, serve_api_key="s3cret"):
        before = metric("freshindex_api_errors_total", reason="unauthorized")
        assert api.search(query="hose").status_code == 401
        wrong = api.client.post("/v1/search", json={"query": "hose"}, headers={"X-API-Key": "x"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert api.client.get("/v1/products/HOSE").status_code == 401
        assert metric("freshindex_api_errors_total", reason="unauthorized") == before + 3
        ok = api.client.post("/v1/search", json={"query": "hose"}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        assert api.client.get("/v1/products/HOSE", headers=bearer).status_code == 200
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            assert api.client.get(path).status_code == 200, path


def test_openapi_schema_describes_the_routes(api: Harness) -> None:
    schema = api.client.get("/openapi.json").json()
    assert {"/v1/search", "/v1/products/{product_id}", "/readyz"} <= set(schema["paths"])
    request = schema["components"]["schemas"]["SearchRequest"]["properties"]
    assert request["mode"]["default"] == "hybrid" and request["per_product"]["default"] is True
    assert api.client.get("/docs").status_code == 404  # its page would load scripts from a CDN


def test_metrics_count_searches_stages_and_results(api: Harness) -> None:
    searches = metric("freshindex_searches_total", mode="hybrid")
    embeds = metric("freshindex_search_stage_seconds_count", stage="embed")
    results = metric("freshindex_search_results_sum")
    body = api.search(query="garden", k=2).json()
    assert metric("freshindex_searches_total", mode="hybrid") == searches + 1
    assert metric("freshindex_search_stage_seconds_count", stage="embed") == embeds + 1
    assert metric("freshindex_search_results_sum") == results + len(body["results"]) == results + 2
    text = api.client.get("/metrics").text
    assert 'freshindex_search_stage_seconds_bucket{le="0.001",stage="bm25"}' in text
    assert "freshindex_api_errors_total" in text


# --------------------------------------------------------------------------- pipeline, index


def test_retriever_refuses_before_calling_anything(lance: LanceIndex) -> None:
    embedder = HashEmbedder(dim=DIM)
    retriever = Retriever(settings_with(), index=lance, embedder=embedder)
    bad = Query(text="hose", filters=(Filter(field="colour", op="=", value="x"),))
    with pytest.raises(QueryRejected, match="filterable fields"):
        asyncio.run(retriever.search(bad))
    assert embedder.calls == []
    asyncio.run(retriever.close())


def test_query_prefix_goes_before_the_query(lance: LanceIndex) -> None:
    embedder = HashEmbedder(dim=DIM)
    retriever = Retriever(settings_with(query_prefix="query: "), index=lance, embedder=embedder)
    asyncio.run(retriever.search(Query(text="hose", mode="vector")))
    assert embedder.texts_embedded == ["query: hose"]
    embedder.unavailable = True
    with pytest.raises(EmbeddingUnavailable):
        asyncio.run(retriever.search(Query(text="hose")))
    asyncio.run(retriever.close())


def test_lancedb_candidate_reads_score_like_their_stage(lance: LanceIndex) -> None:
    bm25 = lance.bm25("brass spray gun", k=10, filters=[])
    assert {h.product_id for h in bm25} == {"HOSE"} and bm25[0].score > 0
    assert "vector" not in bm25[0].fields and bm25[0].fields["attributes"] == {"colour": "green"}
    assert lance.bm25("zzzz", k=10, filters=[]) == []
    probe = text_vector(PRODUCTS["RAKE"][0], DIM)
    near = lance.nearest(probe, k=3, filters=[])
    assert near[0].product_id == "RAKE" and near[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in near] == sorted((h.score for h in near), reverse=True)
    cheap = lance.nearest(probe, k=10, filters=[Filter(field="price", op="<", value="10")])
    assert {h.product_id for h in cheap} == {"FEED", "SEED"}
    assert [c.fields["chunk_index"] for c in lance.product("HOSE")] == [0, 1]
    assert lance.product("NOPE") == []


def test_long_lived_lancedb_reader_sees_other_writers(tmp_path: Path) -> None:
    """Without a read consistency interval a LanceDB handle keeps the version it opened."""
    uri = str(tmp_path / "lance")
    writer = LanceIndex(uri, "chunks", DIM)
    writer.upsert(
        [Row(chunk=chunks_of("RAKE")[0], vector=text_vector("r", DIM), indexed_at=PUBLISHED)]
    )
    stale = LanceIndex(uri, "chunks", DIM, create=False)
    live = LanceIndex(uri, "chunks", DIM, create=False, read_consistency=timedelta(0))
    writer.upsert(
        [
            Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=PUBLISHED)
            for c in chunks_of("HOSE")
        ]
    )
    assert live.product("HOSE") != [] and live.count() == 3
    assert stale.count() == 1  # why `open_index(long_lived_reader=True)` exists


def test_bind_makes_a_tcp_socket_and_names_the_setting_when_busy(
    clean_env: pytest.MonkeyPatch,
) -> None:
    import socket

    from infra.stack import free_port
    from workers.errors import Terminal
    from workers.retrieval.server import bind

    port = free_port()
    sock = bind(settings_with(serve_port=port))
    try:
        # asyncio turns Nagle off only for IPPROTO_TCP sockets (else ~40 ms per keep-alive reply)
        assert sock.proto == socket.IPPROTO_TCP
        sock.listen()
        with pytest.raises(Terminal, match="FRESHINDEX_SERVE_PORT"):
            bind(settings_with(serve_port=port))
    finally:
        sock.close()
