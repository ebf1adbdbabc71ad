"""The status page's numbers (`workers.retrieval.status`) and routes, in process: a real
`Retriever` over a real LanceDB index in tmp_path, the `HashEmbedder` fake for Triton, a fake
broker reader (the real one is proven in tests/integration/test_status_page.py)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from schemas.models import Chunk, DeadLetter, ProductMetadata, chunk_id, content_hash
from schemas.settings import Settings
from tests.unit.fakes import FaultyIndex, HashEmbedder, text_vector
from workers.errors import IndexUnavailable
from workers.index.base import Row
from workers.index.lancedb import LanceIndex
from workers.ops import PartitionLag
from workers.retrieval.api import create_app
from workers.retrieval.pipeline import Retriever
from workers.retrieval.status import (
    CACHE_S,
    STALLED_AFTER_S,
    BrokerView,
    DeadLetterTail,
    History,
    Sample,
    StatusBoard,
)

DIM = 8


def sample(at: float, lag: dict[int, int] | None, committed: int | None = 0) -> Sample:
    published = None if lag is None or committed is None else committed + sum(lag.values())
    return Sample(at=at, lag=lag, committed=committed, published=published, p50_s=None, p99_s=None)


# --------------------------------------------------------------------------- history


def test_rates_are_offset_changes_per_second_over_the_window() -> None:
    history = History()
    for i, committed in enumerate([0, 0, 100, 250, 400]):
        history.add(sample(1000.0 + 10 * i, {0: 5}, committed))
    assert history.rate(300, lambda s: s.committed) == pytest.approx(10.0)  # 400 in 40 s
    assert history.rate(15, lambda s: s.committed) == pytest.approx(15.0)  # 150 in 10 s


def test_rates_skip_samples_without_the_broker_and_need_two() -> None:
    history = History()
    assert history.rate(60, lambda s: s.committed) is None
    history.add(sample(0.0, {0: 0}, 10))
    assert history.rate(60, lambda s: s.committed) is None
    history.add(sample(5.0, None, None))  # broker down at this refresh
    history.add(sample(10.0, {0: 0}, 30))
    assert history.rate(60, lambda s: s.committed) == pytest.approx(2.0)


def test_history_keeps_the_last_samples_only() -> None:
    history = History(size=3)
    for i in range(5):
        history.add(sample(float(i), {0: i, 1: 2 * i}))
    assert [t["lag"] for t in history.trend()] == [6, 9, 12]
    assert history.lag_trend(1) == [4, 6, 8]


def test_workers_state() -> None:
    history = History()
    assert history.workers_state() == "unknown"
    history.add(sample(0.0, {0: 0}, 10))
    assert history.workers_state() == "caught up"
    history.add(sample(3.0, {0: 50}, 10))
    assert history.workers_state() == "behind"  # lag, and nothing to compare with yet
    history.add(sample(6.0, {0: 40}, 20))
    assert history.workers_state() == "indexing"
    history.add(sample(6.0 + STALLED_AFTER_S, {0: 90}, 20))
    assert history.workers_state() == "stalled"


# --------------------------------------------------------------------------- dead letters


def letter(stage: str, error_type: str, message: str, minutes_ago: float) -> bytes:
    written = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return (
        DeadLetter(
            stage=stage,
            error_type=error_type,
            message=message,
            topic="chunks",
            partition=0,
            offset=7,
            payload="x" * 100,
            published_at=written,
        )
        .model_dump_json()
        .encode()
    )


def test_dead_letter_tail_counts_by_stage_and_reason_latest_first() -> None:
    tail = DeadLetterTail(settings=Settings(_env_file=None))  # type: ignore[call-arg]
    tail._add(letter("decode", "MessageRejected", "not JSON", 20))
    for i in range(12):
        tail._add(letter("validate", "MessageRejected", f"bad {i}", 2))
    tail._add(b"\xff not a dead letter")
    view = tail.view(time.time(), window_s=300)
    assert view["total"] == 14
    assert view["by_reason"] == [
        {"stage": "validate", "error_type": "MessageRejected", "count": 12},
        {"stage": "decode", "error_type": "MessageRejected", "count": 1},
        {"stage": "?", "error_type": "unreadable dead letter", "count": 1},
    ]
    latest = view["latest"]
    assert len(latest) == 10 and latest[0]["stage"] == "?" and latest[1]["message"] == "bad 11"
    assert "payload" not in latest[1] and latest[1]["offset"] == 7
    assert view["per_minute"] == pytest.approx(13 * 60 / 300)  # the one of 20 min ago is out


# --------------------------------------------------------------------------- the board


@dataclass
class FakeBroker:
    """`BrokerReader` answering what the test sets; `hang` blocks a read until set."""

    lag: list[PartitionLag] = field(default_factory=list)
    dead: dict[str, Any] = field(default_factory=lambda: {"total": 0, "latest": []})
    hang: threading.Event | None = None
    reads: int = 0
    closed: bool = False

    def read(self, now: float, window_s: float, deadline: float) -> BrokerView:
        self.reads += 1
        if self.hang is not None:
            self.hang.wait(30)
        return BrokerView(lag=list(self.lag), dead_letters=self.dead)

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class DownIndex(FaultyIndex):
    def _enter(self, method: str) -> None:
        raise IndexUnavailable("fake index is down")


def chunk(product_id: str, published: datetime) -> Chunk:
    text = f"Garden product {product_id}, sturdy and simple."
    return Chunk(
        published_at=published,
        chunk_id=chunk_id(product_id, 0),
        product_id=product_id,
        chunk_index=0,
        chunk_count=1,
        text=text,
        section="overview",
        token_count=9,
        content_hash=content_hash(text),
        product=ProductMetadata(
            title=f"Garden product {product_id}", source="feed:test", price=Decimal("2.50")
        ),
    )


@pytest.fixture
def lance(tmp_path: Path) -> LanceIndex:
    """Ten chunks, published 1..10 s before they were indexed (just now)."""
    index = LanceIndex(str(tmp_path / "lance"), "chunks", DIM)
    now = datetime.now(UTC)
    rows = [
        Row(
            chunk=(c := chunk(f"P{i}", now - timedelta(seconds=i))),
            vector=text_vector(c.text, DIM),
            indexed_at=now,
        )
        for i in range(1, 11)
    ]
    index.upsert(rows)
    return index


class Board:
    def __init__(
        self, client: TestClient, broker: FakeBroker, clock: Clock, embedder: HashEmbedder
    ):
        self.client = client
        self.broker = broker
        self.clock = clock
        self.embedder = embedder

    def status(self) -> Any:
        answer = self.client.get("/v1/status")
        assert answer.status_code == 200, answer.text
        return answer.json()


def board_over(index: Any, clean_env: pytest.MonkeyPatch, **values: Any) -> Iterator[Board]:
    settings = Settings(_env_file=None, embedding_dim=DIM, **values)  # type: ignore[call-arg]
    embedder = HashEmbedder(dim=DIM)
    retriever = Retriever(settings, index=index, embedder=embedder)
    broker, clock = FakeBroker(), Clock()
    app = create_app(settings, retriever)
    model = {"name": "minilm", "versions": ["1"], "platform": "python"}
    app.state.status_board = StatusBoard(settings, broker=broker, model=lambda: model, clock=clock)
    with TestClient(app) as client:
        yield Board(client, broker, clock, embedder)
    asyncio.run(retriever.close())
    assert broker.closed, "the broker reader is closed at shutdown"


@pytest.fixture
def board(lance: LanceIndex, clean_env: pytest.MonkeyPatch) -> Iterator[Board]:
    yield from board_over(lance, clean_env)


def lag(partition: int, committed: int, high: int) -> PartitionLag:
    return PartitionLag(
        topic="chunks",
        partition=partition,
        committed=committed,
        high_watermark=high,
        lag=high - committed,
    )


def test_status_reports_lag_throughput_freshness_index_model_and_health(board: Board) -> None:
    board.broker.lag = [lag(0, 100, 100), lag(1, 40, 50)]
    first = board.status()
    assert first["health"] == {"broker": "ok", "triton": "ok", "index": "ok"}
    assert first["lag"]["total"] == 10
    assert [p["lag"] for p in first["lag"]["partitions"]] == [0, 10]
    assert first["index"] == {
        "backend": "lancedb",
        "name": "products",
        "rows": 10,
        "target": "chunks",  # the table serving the index name
    }
    assert first["model"] == {"name": "minilm", "dim": DIM, "versions": ["1"], "platform": "python"}
    fresh = first["freshness"]
    assert fresh["chunks"] == 10 and fresh["slo_s"] == 30.0 and fresh["window_s"] == 300.0
    assert 5.0 <= fresh["p50_s"] <= 6.0 and 9.5 <= fresh["p99_s"] <= 10.5 and fresh["within_slo"]
    assert first["throughput"]["committed_per_s"] is None  # one sample so far

    board.clock.now += 10
    board.broker.lag = [lag(0, 130, 140), lag(1, 50, 60)]
    second = board.status()
    assert second["throughput"]["committed_per_s"] == pytest.approx(4.0)  # 40 in 10 s
    assert second["throughput"]["published_per_s"] == pytest.approx(5.0)
    assert second["throughput"]["workers"] == "indexing"
    assert [t["lag"] for t in second["trend"]] == [10, 20]
    assert second["lag"]["partitions"][0]["trend"] == [0, 10]


def test_freshness_over_the_slo_is_marked(lance: LanceIndex, clean_env: pytest.MonkeyPatch) -> None:
    for board in board_over(lance, clean_env, freshness_slo_s=5.0):
        assert board.status()["freshness"]["within_slo"] is False


def test_a_refresh_is_shared_for_the_cache_period(board: Board) -> None:
    board.status()
    board.status()
    assert board.broker.reads == 1
    board.clock.now += CACHE_S
    board.status()
    assert board.broker.reads == 2


def test_a_hanging_broker_is_reported_down_within_the_deadline(
    lance: LanceIndex, clean_env: pytest.MonkeyPatch
) -> None:
    for board in board_over(lance, clean_env, serve_timeout_s=0.5):
        board.broker.hang = threading.Event()
        try:
            started = time.monotonic()
            status = board.status()
            assert time.monotonic() - started < 3
            assert status["health"]["broker"] == "TimeoutError: broker read: no answer within 0.5 s"
            assert status["lag"] is None and status["dead_letters"] is None
            assert status["health"]["index"] == "ok" and status["index"]["rows"] == 10
            board.clock.now += CACHE_S
            again = board.status()  # the first read still hangs: not started twice
            assert "previous broker read has not answered yet" in again["health"]["broker"]
            assert board.broker.reads == 1
        finally:
            board.broker.hang.set()
        time.sleep(0.2)
        board.clock.now += CACHE_S
        assert board.status()["health"]["broker"] == "ok"


def test_triton_and_index_down_are_reported_with_the_reason(
    lance: LanceIndex, clean_env: pytest.MonkeyPatch
) -> None:
    for board in board_over(DownIndex(lance), clean_env):
        board.embedder.unavailable = True
        status = board.status()
        assert status["health"]["triton"] == "EmbeddingUnavailable: fake Triton is down"
        assert "fake index is down" in status["health"]["index"]
        assert status["index"]["rows"] is None and "fake index is down" in status["index"]["error"]
        assert status["freshness"]["chunks"] == 0 and status["health"]["broker"] == "ok"


# --------------------------------------------------------------------------- the page


def test_the_page_loads_nothing_from_elsewhere(board: Board) -> None:
    answer = board.client.get("/status")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    page = answer.text
    assert "/v1/status" in page and 'name="viewport"' in page
    assert not re.search(r"""<(script|link|img|iframe)[^>]*\s(src|href)=""", page), "inline only"
    assert not re.search(r"url\(", page)


def test_the_data_wants_the_api_key_when_one_is_set(
    lance: LanceIndex, clean_env: pytest.MonkeyPatch
) -> None:
    for board in board_over(lance, clean_env, serve_api_key="s3cret"):
        assert board.client.get("/status").status_code == 200  # the page holds no data
        assert board.client.get("/v1/status").status_code == 401
        answer = board.client.get("/v1/status", headers={"X-API-Key": "s3cret"})
        assert answer.status_code == 200 and answer.json()["health"]["broker"] == "ok"
