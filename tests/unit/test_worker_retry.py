"""The worker's batch loop decides by error type: `Transient` holds the batch and retries it (no
dead letter, nothing skipped), `Terminal` stops the worker (nothing acknowledged or
dead-lettered), rows the index refuses become dead letters of their own messages only, and an
unexpected error is isolated to the messages that cause it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import faust
import pytest

from ingest.prepare.chunk import Chunker
from schemas.models import Chunk
from schemas.settings import Settings
from tests.unit.fakes import (
    PUBLISHED,
    TOPIC,
    FaultyIndex,
    HashEmbedder,
    raw_messages,
    record,
)
from workers import app as worker_app
from workers.batch import RawMessage
from workers.errors import (
    EmbeddingMisconfigured,
    EmbeddingUnavailable,
    IndexMisconfigured,
    IndexUnavailable,
    Terminal,
)
from workers.index.lancedb import LanceIndex
from workers.indexer import BatchIndexer, BatchResult
from workers.retry import Backoff
from workers.shutdown import EXIT_MISCONFIGURED, Shutdown

DIM = 8
LONG = " ".join(f"Step {i}: water the seedlings and feed them weekly." for i in range(14))


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


class RecordingShutdown(Shutdown):
    """Records `fail` instead of signalling the process."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[tuple[int, str]] = []

    def fail(self, code: int, reason: str) -> None:
        self.exit_code = self.exit_code or code
        self.failures.append((code, reason))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def no_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(worker_app.asyncio, "sleep", no_sleep)  # type: ignore[attr-defined]
    return slept


@pytest.fixture
def worker(tmp_path: Path, sleeps: list[float]) -> worker_app.IndexWorker:
    settings = Settings(_env_file=None, lancedb_uri=str(tmp_path / "db"))  # type: ignore[call-arg]
    app = faust.App("retry-test", broker="memory://", store="memory://", web_enabled=False)
    w = worker_app.IndexWorker(app, settings, RecordingShutdown())
    w.backoff = Backoff(base_s=1.0, cap_s=30.0, jitter=0.0)
    return w


def raw(value: bytes, offset: int, key: bytes) -> RawMessage:
    return RawMessage(topic=TOPIC, partition=0, offset=offset, key=key, value=value)


def messages(n: int) -> list[RawMessage]:
    return [raw(b"{}", offset=i, key=f"P{i}".encode()) for i in range(n)]


def process(worker: worker_app.IndexWorker, batch: list[RawMessage]) -> BatchResult:
    return asyncio.run(worker._process_with_retry(batch))


# --------------------------------------------------------------------------- Transient


def test_transient_errors_hold_the_batch_until_it_succeeds(
    worker: worker_app.IndexWorker, sleeps: list[float]
) -> None:
    indexer = ScriptedIndexer(
        [EmbeddingUnavailable("triton down"), IndexUnavailable("disk"), EmbeddingUnavailable("x")]
    )
    worker._indexer = indexer  # type: ignore[assignment]
    batch = messages(5)
    result = process(worker, batch)
    assert result.written == 5 and not result.dead_letters
    assert indexer.calls == [batch] * 4, "the whole batch is retried, never split or dropped"
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_long_outage_is_held_with_capped_backoff(
    worker: worker_app.IndexWorker, sleeps: list[float]
) -> None:
    worker._indexer = ScriptedIndexer([IndexUnavailable("down")] * 40)  # type: ignore[assignment]
    result = process(worker, messages(3))
    assert result.written == 3 and not result.dead_letters
    assert len(sleeps) == 40 and max(sleeps) == worker.backoff.cap_s
    assert sleeps == sorted(sleeps), "backoff never shrinks while the outage lasts"


def test_the_worker_holds_with_the_shared_jittered_policy(
    tmp_path: Path, sleeps: list[float]
) -> None:
    settings = Settings(_env_file=None, lancedb_uri=str(tmp_path / "db"))  # type: ignore[call-arg]
    app = faust.App("retry-jitter", broker="memory://", store="memory://", web_enabled=False)
    w = worker_app.IndexWorker(app, settings)
    assert w.backoff is worker_app.WORKER_HOLD and w.backoff.jitter > 0
    w._indexer = ScriptedIndexer([EmbeddingUnavailable("down")] * 12)  # type: ignore[assignment]
    asyncio.run(w._process_with_retry(messages(1)))
    assert all(0 < s <= w.backoff.cap_s for s in sleeps)
    assert sleeps[-1] >= w.backoff.cap_s * (1 - w.backoff.jitter)


class FlakyDuringFallback(ScriptedIndexer):
    """A bug on the whole batch, then Triton goes down once while messages are retried singly."""

    def __init__(self, error: Exception) -> None:
        super().__init__([RuntimeError("bug on the batch")])
        self.error: Exception | None = error

    async def process(self, messages: list[RawMessage]) -> BatchResult:
        if not self.errors and len(messages) == 1 and self.error is not None:
            self.calls.append(messages)
            error, self.error = self.error, None
            raise error
        return await super().process(messages)


def test_transient_error_during_the_fallback_is_held_not_dead_lettered(
    worker: worker_app.IndexWorker, sleeps: list[float]
) -> None:
    worker._indexer = FlakyDuringFallback(EmbeddingUnavailable("triton restarting"))  # type: ignore[assignment]
    result = process(worker, messages(3))
    assert result.written == 3 and not result.dead_letters
    assert sleeps == [1.0]


# --------------------------------------------------------------------------- Terminal


@pytest.mark.parametrize(
    "error",
    [
        IndexMisconfigured("table holds 384-d vectors", setting="FRESHINDEX_EMBEDDING_DIM"),
        EmbeddingMisconfigured("model returns 384-d", setting="FRESHINDEX_EMBEDDING_DIM"),
    ],
)
def test_terminal_error_is_raised_at_once_never_retried(
    worker: worker_app.IndexWorker, sleeps: list[float], error: Terminal
) -> None:
    indexer = ScriptedIndexer([error])
    worker._indexer = indexer  # type: ignore[assignment]
    with pytest.raises(Terminal) as raised:
        process(worker, messages(4))
    assert raised.value is error and len(indexer.calls) == 1 and sleeps == []


def test_terminal_error_during_the_fallback_is_raised_not_dead_lettered(
    worker: worker_app.IndexWorker,
) -> None:
    error = IndexMisconfigured("bad credentials", setting="FRESHINDEX_WEAVIATE_API_KEY")
    worker._indexer = FlakyDuringFallback(error)  # type: ignore[assignment]
    with pytest.raises(IndexMisconfigured):
        process(worker, messages(3))


def test_terminal_error_in_handle_sends_no_dead_letter_and_moves_no_position(
    worker: worker_app.IndexWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []

    async def send(letter: object) -> None:
        sent.append(letter)

    monkeypatch.setattr(worker, "_send_dead_letter", send)
    poison = raw(b"\xff not json", offset=7, key=b"BAD")  # would be a dead letter on success
    worker._indexer = ScriptedIndexer(  # type: ignore[assignment]
        [EmbeddingMisconfigured("384-d", setting="FRESHINDEX_EMBEDDING_DIM")]
    )
    with pytest.raises(Terminal):
        asyncio.run(worker.handle([poison, *messages(2)]))
    assert sent == [] and worker.positions == {}


def test_stop_for_a_terminal_error_names_the_setting_and_never_returns(
    worker: worker_app.IndexWorker,
) -> None:
    error = EmbeddingMisconfigured("returns 384-d vectors", setting="FRESHINDEX_EMBEDDING_DIM")

    async def stop() -> None:
        await asyncio.wait_for(worker.stop_for(error), timeout=0.2)

    with pytest.raises(TimeoutError):
        asyncio.run(stop())
    shutdown = worker.shutdown
    assert isinstance(shutdown, RecordingShutdown)
    [(code, reason)] = shutdown.failures
    assert code == EXIT_MISCONFIGURED == shutdown.exit_code
    assert "FRESHINDEX_EMBEDDING_DIM" in reason and "returns 384-d" in reason


# --------------------------------------------------------------------------- unexpected errors


def test_unexpected_error_dead_letters_only_the_guilty_message(
    worker: worker_app.IndexWorker,
) -> None:
    batch = messages(4)
    poison = raw(b'{"boom": 1}', offset=99, key=b"BAD")
    worker._indexer = ScriptedIndexer([], poison=poison.value)  # type: ignore[assignment]
    result = process(worker, [*batch[:2], poison, *batch[2:]])
    assert result.written == 4
    [letter] = result.dead_letters
    assert (letter.stage, letter.error_type, letter.offset, letter.key) == (
        "process",
        "RuntimeError",
        99,
        "BAD",
    )
    assert "bug triggered" in letter.message and letter.payload == '{"boom": 1}'


# --------------------------------------------------------------------------- with a real indexer


@pytest.fixture
def chunk(chunker: Callable[..., Chunker]) -> Callable[..., list[Chunk]]:
    make = chunker(64)
    return lambda product: make.chunk(product, PUBLISHED)


def real_worker(worker: worker_app.IndexWorker, index: FaultyIndex) -> worker_app.IndexWorker:
    worker._indexer = BatchIndexer(index, HashEmbedder(DIM))
    return worker


def test_index_outage_holds_then_converges_without_dead_letters(
    worker: worker_app.IndexWorker,
    sleeps: list[float],
    tmp_path: Path,
    chunk: Callable[..., list[Chunk]],
) -> None:
    a, b = chunk(record("A", description=LONG)), chunk(record("B"))
    outage = [IndexUnavailable("LanceDB lookup failed: Not found")] * 3
    index = FaultyIndex(LanceIndex(str(tmp_path / "lance"), "t", DIM), errors=outage)
    result = process(real_worker(worker, index), raw_messages([*a, *b]))
    assert not result.dead_letters and result.written == len(a) + len(b)
    assert index.calls == ["lookup"] * 4 + ["upsert", "delete_stale"]
    assert sleeps == [1.0, 2.0, 4.0]
    assert set(index.snapshot()) == {c.chunk_id for c in [*a, *b]}


def test_refused_rows_become_dead_letters_of_their_own_messages_only(
    worker: worker_app.IndexWorker, tmp_path: Path, chunk: Callable[..., list[Chunk]]
) -> None:
    lance = LanceIndex(str(tmp_path / "lance"), "t", DIM)
    first = chunk(record("S", description=LONG))
    asyncio.run(BatchIndexer(lance, HashEmbedder(DIM)).process(raw_messages(first)))
    shrunk = chunk(record("S", description="Short now."))
    refused = chunk(record("R", description="Good sentence here. REFUSED sentence here."))
    healthy = chunk(record("H"))
    bad = [c for c in refused if "REFUSED" in c.text]
    assert len(bad) == 1 and len(shrunk) < len(first)
    batch = raw_messages([*healthy, *refused, *shrunk], start=100)
    origin = next(m for m in batch if m.value is not None and b"REFUSED" in m.value)

    index = FaultyIndex(lance, refuse_marker="REFUSED")
    result = process(real_worker(worker, index), batch)

    [letter] = result.dead_letters
    assert (letter.stage, letter.error_type, letter.offset, letter.key) == (
        "index",
        "IndexRejected",
        origin.offset,
        "R",
    )
    assert letter.message == "property text refused: contains 'REFUSED'"
    assert result.written == len(healthy) + len(refused) - 1 + len(shrunk)
    assert index.calls.count("upsert") == 1, "a refusal is not retried"
    assert "delete_stale" in index.calls, "the rest of the batch is applied"
    kept = {c.chunk_id for c in [*healthy, *refused, *shrunk] if c not in bad}
    assert set(index.snapshot()) == kept, "stale chunks of S deleted, the refused one absent"


def test_index_dimension_mismatch_is_terminal_and_writes_nothing(
    worker: worker_app.IndexWorker, tmp_path: Path, chunk: Callable[..., list[Chunk]]
) -> None:
    lance = LanceIndex(str(tmp_path / "lance"), "t", DIM)
    worker._indexer = BatchIndexer(lance, HashEmbedder(DIM * 2))
    with pytest.raises(IndexMisconfigured) as raised:
        process(worker, raw_messages(chunk(record("A"))))
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    assert lance.count() == 0


def test_a_rebalance_forgets_commits_the_broker_never_confirmed() -> None:
    from collections import defaultdict

    from faust.types import TP

    from workers.app import forget_unconfirmed_commits_of

    class Consumer:
        def __init__(self) -> None:
            # faust's in-memory record: 154 was "committed" while the broker was down
            self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)

    consumer = Consumer()
    mine, other = TP("chunks", 0), TP("chunks", 1)
    consumer._committed_offset.update({mine: 154, other: 7})
    forget_unconfirmed_commits_of(consumer, {mine})
    assert consumer._committed_offset[mine] is None  # the replayed batch will be committed again
    assert consumer._committed_offset[other] == 7
