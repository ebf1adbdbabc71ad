"""The worker's batch loop: transient failures hold the batch and retry; unexpected errors are
isolated to the messages that cause them (dead letters), and the rest of the batch is applied."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest

from schemas.settings import Settings
from tests.unit.fakes import TOPIC
from workers import app as worker_app
from workers.batch import RawMessage
from workers.errors import EmbeddingUnavailable, VectorIndexError
from workers.indexer import BatchResult


class ScriptedIndexer:
    """Stands in for `BatchIndexer.process`: raises the scripted errors in turn, then succeeds."""

    def __init__(self, errors: list[Exception], poison: bytes | None = None) -> None:
        self.errors = list(errors)
        self.poison = poison
        self.calls: list[list[RawMessage]] = []

    async def process(self, messages: list[RawMessage]) -> BatchResult:
        self.calls.append(messages)
        if self.errors:
            raise self.errors.pop(0)
        if self.poison is not None and any(m.value == self.poison for m in messages):
            raise RuntimeError("bug triggered by this message")
        return BatchResult(consumed=len(messages), written=len(messages))


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> worker_app.IndexWorker:
    sleeps: list[float] = []

    async def no_sleep(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(worker_app.asyncio, "sleep", no_sleep)  # type: ignore[attr-defined]
    settings = Settings(_env_file=None, lancedb_uri=str(tmp_path / "db"))  # type: ignore[call-arg]
    app = faust.App("retry-test", broker="memory://", store="memory://", web_enabled=False)
    w = worker_app.IndexWorker(app, settings)
    w.sleeps = sleeps  # type: ignore[attr-defined]
    return w


def raw(value: bytes, offset: int, key: bytes) -> RawMessage:
    return RawMessage(topic=TOPIC, partition=0, offset=offset, key=key, value=value)


def messages(n: int) -> list[RawMessage]:
    return [raw(b"{}", offset=i, key=f"P{i}".encode()) for i in range(n)]


def test_transient_errors_hold_the_batch_until_it_succeeds(worker: worker_app.IndexWorker) -> None:
    indexer = ScriptedIndexer(
        [EmbeddingUnavailable("triton down"), VectorIndexError("disk"), EmbeddingUnavailable("x")]
    )
    worker._indexer = indexer  # type: ignore[assignment]
    batch = messages(5)
    result = asyncio.run(worker._process_with_retry(batch))
    assert result.written == 5 and not result.dead_letters
    assert indexer.calls == [batch] * 4, "the whole batch is retried, never split or dropped"
    assert worker.sleeps == [1.0, 2.0, 4.0]  # type: ignore[attr-defined]


def test_backoff_is_capped(worker: worker_app.IndexWorker) -> None:
    worker._indexer = ScriptedIndexer([EmbeddingUnavailable("down")] * 8)  # type: ignore[assignment]
    asyncio.run(worker._process_with_retry(messages(1)))
    assert max(worker.sleeps) == worker_app.RETRY_CAP_S  # type: ignore[attr-defined]


def test_unexpected_error_dead_letters_only_the_guilty_message(
    worker: worker_app.IndexWorker,
) -> None:
    batch = messages(4)
    poison = raw(b'{"boom": 1}', offset=99, key=b"BAD")
    worker._indexer = ScriptedIndexer([], poison=poison.value)  # type: ignore[assignment]
    result = asyncio.run(worker._process_with_retry([*batch[:2], poison, *batch[2:]]))
    assert result.written == 4
    [letter] = result.dead_letters
    assert (letter.stage, letter.error_type, letter.offset, letter.key) == (
        "process",
        "RuntimeError",
        99,
        "BAD",
    )
    assert "bug triggered" in letter.message and letter.payload == '{"boom": 1}'


class FlakyDuringFallback(ScriptedIndexer):
    """A bug on the whole batch, then Triton goes down once while messages are retried singly."""

    def __init__(self) -> None:
        super().__init__([RuntimeError("bug on the batch")])
        self.down_once = True

    async def process(self, messages: list[RawMessage]) -> BatchResult:
        if not self.errors and len(messages) == 1 and self.down_once:
            self.calls.append(messages)
            self.down_once = False
            raise EmbeddingUnavailable("triton restarting")
        return await super().process(messages)


def test_transient_error_during_the_fallback_is_held_not_raised(
    worker: worker_app.IndexWorker,
) -> None:
    worker._indexer = FlakyDuringFallback()  # type: ignore[assignment]
    result = asyncio.run(worker._process_with_retry(messages(3)))
    assert result.written == 3 and not result.dead_letters
    assert worker.sleeps == [1.0]  # type: ignore[attr-defined]
