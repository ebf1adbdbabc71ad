"""`freshindex serve` as a real process over the real stacks: products published through the
broker, embedded by tritonserver and indexed by a worker, then searched over HTTP; Triton (and
on kafka+weaviate, Weaviate) stopped under it answers 503 within the deadline, then recovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.stack import StackInfo, free_port, restart, stop_service
from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.models import chunk_id
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import expected_state, product, write_feed
from workers.ops import wait_until_caught_up

pytestmark = pytest.mark.integration

DEADLINE_S = 3.0
"""FRESHINDEX_SERVE_TIMEOUT_S of the served process: an outage must answer within it (+ slack)."""
HOSE = product("HOSE1", title="Expandable garden hose 30 m with brass spray gun", sentences=2)
LONG = product("LONG1", sentences=14)


class Served:
    """A `freshindex serve` process and a JSON client for it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.port = free_port()
        self.log = log
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (once the index exists: start-up checks it) and wait until ready."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", "serve"],
                env={
                    **self.env,
                    "FRESHINDEX_SERVE_PORT": str(self.port),
                    "FRESHINDEX_SERVE_TIMEOUT_S": str(DEADLINE_S),
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                raw = answer.read()
                status = answer.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        kind = "json" if raw[:1] in (b"{", b"[") else "text"
        return status, json.loads(raw) if kind == "json" else raw.decode()

    def search(self, **body: Any) -> tuple[int, Any]:
        return self.call("POST", "/v1/search", body)

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive(), f"serve exited:\n{self.log.read_text()[-3000:]}"
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"serve not ready in {timeout_s}s:\n{self.log.read_text()[-3000:]}")

    def metric(self, name: str) -> float:
        body = self.call("GET", "/metrics")[1]
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def serve(env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    served = Served(env, tmp_path / "serve.log")
    yield served
    returncode = served.stop()
    assert returncode in (None, 0, -signal.SIGTERM), served.log.read_text()[-3000:]


def publish(settings: Settings, rows: list[dict[str, Any]], feed: Path) -> Path:
    write_feed(feed, list(rows))
    with KafkaSink(settings) as sink:
        summary = publish_feed(feed, sink, chunker_for(settings))
    assert summary.products == len(rows) and not summary.rejected, summary.as_dict()
    return feed


def ids(answer: dict[str, Any]) -> list[str]:
    return [r["product_id"] for r in answer["results"]]


def test_serve_searches_the_live_index_over_http(
    settings: Settings,
    start_worker: StartWorker,
    serve: Served,
    tmp_path: Path,
) -> None:
    feed = publish(
        settings, [HOSE, LONG, *(product(f"P{i}") for i in range(6))], tmp_path / "a.jsonl"
    )
    start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    serve.start()

    for mode in ("hybrid", "bm25", "vector"):
        status, found = serve.search(query="garden hose with spray gun", k=3, mode=mode)
        assert status == 200, found
        assert ids(found)[0] == "HOSE1", (mode, found)
        expected_stages = {"hybrid": {"bm25", "vector", "fused"}}.get(mode, {mode})
        assert expected_stages <= set(found["results"][0]["scores"]), found["results"][0]
        assert found["index"]["backend"] == settings.index_backend
        model = found["model"]
        assert (model["name"], model["dim"]) == (settings.triton_model, settings.embedding_dim)
        assert model["version"] == 1 and len(model["fingerprint"]) == 64  # the index's model

    status, terra = serve.search(query="garden product", k=20, filters=["brand=Terra"])
    assert (
        status == 200 and terra["results"] and all(r["brand"] == "Terra" for r in terra["results"])
    )
    cheap = serve.search(query="garden product", k=20, filters=["price<5"])[1]
    assert cheap["results"] == []  # every sample costs 9.99

    per_product = serve.search(query="Sentence about product LONG1", k=5)[1]
    assert len(set(ids(per_product))) == len(ids(per_product))
    chunks = serve.search(query="Sentence about product LONG1", k=5, per_product=False)[1]
    assert ids(chunks).count("LONG1") > 1, chunks

    expected = expected_state(settings, [feed])
    long_ids = [cid for cid in (chunk_id("LONG1", i) for i in range(100)) if cid in expected]
    status, long1 = serve.call("GET", "/v1/products/LONG1")
    assert status == 200 and len(long_ids) > 1
    assert [c["chunk_id"] for c in long1["chunks"]] == long_ids  # all, in chunk order
    assert long1["chunks"][0]["title"] == LONG["title"] and long1["chunks"][0]["price"] == 9.99
    assert serve.call("GET", "/v1/products/NOPE")[0] == 404

    status, refused = serve.search(query="hose", filters=["colour=green"])
    assert status == 422 and "cannot filter on 'colour'" in refused["detail"]
    assert serve.search(query="hose", k=5000)[0] == 422

    # written after the service opened the index: visible without a restart
    publish(
        settings, [product("FRESH1", title="Cordless hedge trimmer 18 V")], tmp_path / "b.jsonl"
    )
    deadline = time.monotonic() + 120
    while "FRESH1" not in ids(serve.search(query="cordless hedge trimmer", k=3)[1]):
        assert time.monotonic() < deadline, "a product indexed after start-up never showed"
        time.sleep(0.5)

    assert serve.metric('freshindex_searches_total{mode="bm25"}') == 1
    assert serve.metric('freshindex_api_errors_total{reason="bad_request"}') == 2
    assert serve.metric('freshindex_api_errors_total{reason="not_found"}') == 1
    assert serve.metric("freshindex_search_empty_total") >= 1
    assert serve.metric('freshindex_search_stage_seconds_count{stage="embed"}') >= 7
    assert serve.call("GET", "/healthz") == (200, {"status": "ok"})


def _away(serve: Served, stack: StackInfo, name: str, dependency: str) -> None:
    """Stop `name`: searches answer 503 naming `dependency` within the deadline and /readyz
    says so; start it again: searches answer 200 again."""
    stop_service(stack.home, name)
    try:
        started = time.monotonic()
        status, answer = serve.search(query="garden hose", k=3)
        took = time.monotonic() - started
        assert status == 503, answer
        assert answer["dependency"] == dependency
        assert took < DEADLINE_S + 3, f"503 took {took:.1f}s"
        status, ready = serve.call("GET", "/readyz")
        assert status == 503 and ready["checks"][dependency] != "ok", ready
        if dependency == "embedding":  # BM25 alone needs no Triton
            assert serve.search(query="garden hose", k=3, mode="bm25")[0] == 200
    finally:
        restart(stack.home, name)
    deadline = time.monotonic() + 120
    while serve.search(query="garden hose", k=3)[0] != 200:
        assert time.monotonic() < deadline, f"no recovery after {name} came back"
        time.sleep(0.5)
    assert ids(serve.search(query="garden hose with spray gun", k=3)[1])[0] == "HOSE1"


def test_serve_answers_503_while_a_dependency_is_away_then_recovers(
    stack: StackInfo,
    settings: Settings,
    start_worker: StartWorker,
    serve: Served,
    tmp_path: Path,
) -> None:
    publish(settings, [HOSE, product("P1")], tmp_path / "a.jsonl")
    start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    serve.start()

    _away(serve, stack, "triton", "embedding")
    if "weaviate" in stack.services:
        _away(serve, stack, "weaviate", "index")
    assert serve.metric('freshindex_api_errors_total{reason="embedding_unavailable"}') >= 1
    assert serve.alive()
