"""The Faust (faust-streaming) index worker: chunks topic -> batches -> `BatchIndexer` -> ack.

Offsets are acknowledged only after the batch is in the index and its dead letters are on the
dead-letter topic (`stream.noack_take` + `stream.ack`), so delivery is at-least-once and, with
idempotent writes, every chunk lands in the index exactly once, across `kill -9` and restarts.

Failure handling per batch:
  - transient (Triton unavailable, index write failed): the batch is retried with capped
    backoff and nothing is acknowledged; the stream waits (backpressure), the worker lives;
  - a message that cannot be decoded/validated/embedded: dead letter with its coordinates;
  - an unexpected error: the batch is retried message by message and only the messages that
    still fail go to the dead-letter topic, with the exception text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from prometheus_client import start_http_server

from schemas.models import DeadLetter
from schemas.settings import Settings, home_dir
from workers import metrics
from workers.batch import RawMessage, dead_letter
from workers.embedding.triton import TritonEmbedder
from workers.errors import EmbeddingUnavailable, VectorIndexError
from workers.index.factory import open_index
from workers.indexer import BatchIndexer, BatchResult

log = logging.getLogger("freshindex.worker")

MAINTAIN_EVERY_S = 60.0
RETRY_CAP_S = 30.0


def _raw(event: Any) -> RawMessage:
    m = event.message
    return RawMessage(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key,
        value=m.value,
        timestamp=m.timestamp,
    )


class IndexWorker:
    """Holds the indexer and the dead-letter topic; `handle` is called once per batch."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.dead_letters = app.topic(
            settings.dead_letter_topic, value_serializer="raw", key_serializer="raw"
        )
        self._indexer: BatchIndexer | None = None
        self._last_maintained = time.monotonic()
        self.positions: dict[tuple[str, int], int] = {}

    def indexer(self) -> BatchIndexer:
        if self._indexer is None:  # created inside the event loop (gRPC aio client)
            s = self.settings
            self._indexer = BatchIndexer(
                open_index(s),
                TritonEmbedder(s),
                skip_unchanged=s.skip_unchanged,
                passage_prefix=s.passage_prefix,
            )
        return self._indexer

    async def handle(self, messages: list[RawMessage]) -> BatchResult:
        result = await self._process_with_retry(messages)
        for letter in result.dead_letters:
            log.error(
                "dead letter: %s %s at %s[%s]@%s: %s",
                letter.stage,
                letter.error_type,
                letter.topic,
                letter.partition,
                letter.offset,
                letter.message,
            )
            await self._send_dead_letter(letter)
        for m in messages:
            self.positions[(m.topic, m.partition)] = m.offset + 1
        await self._maybe_maintain()
        return result

    async def _process_with_retry(self, messages: list[RawMessage]) -> BatchResult:
        """The batch's result; transient failures (also during the message-by-message fallback)
        hold the batch and retry with capped backoff, so they never reach the agent."""
        attempt = 0
        one_by_one = False
        while True:
            try:
                if one_by_one:
                    return await self._one_by_one(messages)
                return await self.indexer().process(messages)
            except (EmbeddingUnavailable, VectorIndexError) as e:
                counter = (
                    metrics.EMBED_ERRORS
                    if isinstance(e, EmbeddingUnavailable)
                    else metrics.INDEX_ERRORS
                )
                counter.inc()
                delay = min(RETRY_CAP_S, 2.0**attempt)
                log.warning(
                    "batch of %d held back (%s); retrying in %.0fs", len(messages), e, delay
                )
                attempt += 1
                await asyncio.sleep(delay)
            except Exception:
                log.exception(
                    "unexpected error on a batch of %d; retrying message by message", len(messages)
                )
                one_by_one = True

    async def _one_by_one(self, messages: list[RawMessage]) -> BatchResult:
        total = BatchResult()
        for msg in messages:
            try:
                result = await self.indexer().process([msg])
            except (EmbeddingUnavailable, VectorIndexError):
                raise
            except Exception as e:
                log.exception("message %s[%s]@%s failed", msg.topic, msg.partition, msg.offset)
                result = BatchResult(consumed=1, dead_letters=[dead_letter(msg, e, "process")])
            total.consumed += result.consumed
            total.written += result.written
            total.dead_letters += result.dead_letters
        return total

    async def _send_dead_letter(self, letter: DeadLetter) -> None:
        """Deliver before the batch's offsets are acknowledged; a broker hiccup holds the batch."""
        key = letter.key.encode() if letter.key else None
        attempt = 0
        while True:
            try:
                fut = await self.dead_letters.send(key=key, value=letter.model_dump_json().encode())
                await fut
                return
            except Exception as e:  # the broker's errors vary by client version; all are retried
                delay = min(RETRY_CAP_S, 2.0**attempt)
                log.warning("dead letter not delivered (%s); retrying in %.0fs", e, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _maybe_maintain(self) -> None:
        if time.monotonic() - self._last_maintained < MAINTAIN_EVERY_S:
            return
        self._last_maintained = time.monotonic()
        try:
            await asyncio.to_thread(self.indexer().index.maintain)
        except Exception:
            log.exception("index maintenance failed (will try again)")

    def export_lag(self) -> None:
        """Consumer lag per assigned partition: high watermark minus the next offset to process."""
        for tp in self.app.consumer.assignment():
            high = self.app.consumer.highwater(tp)
            if high is not None:
                position = self.positions.get((tp.topic, tp.partition), 0)
                metrics.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(0, high - position)
                )


def create_app(settings: Settings) -> faust.App:
    """The Faust app with one agent on the chunks topic."""
    (home_dir() / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap_servers.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(home_dir() / "faust" / "{conf.name}"),  # not `<group>-data` in the cwd
        web_enabled=False,
        topic_allow_declare=False,  # topics are created by `freshindex up` / publish with their settings
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=2.0,
        broker_commit_interval=1.0,
        producer_acks=-1,
        stream_wait_empty=False,
    )
    worker = IndexWorker(app, settings)
    topic = app.topic(settings.chunks_topic, value_serializer="raw", key_serializer="raw")

    @app.agent(topic, name="index-chunks")
    async def index_chunks(stream: faust.StreamT) -> None:
        # noack_take: faust-streaming's take() that leaves acking to us (missing from its StreamT stub)
        batches = stream.noack_take(settings.batch_size, within=settings.batch_within_s)  # type: ignore[attr-defined]
        async for events in batches:
            result = await worker.handle([_raw(e) for e in events])
            for event in events:
                await stream.ack(event)
            log.info(
                "batch: consumed=%d embedded=%d skipped=%d metadata_only=%d written=%d deleted=%d dead=%d "
                "lookup=%.2fs embed=%.2fs write=%.2fs",
                result.consumed,
                result.embedded,
                result.skipped,
                result.metadata_only,
                result.written,
                result.deleted,
                len(result.dead_letters),
                result.lookup_s,
                result.embed_s,
                result.write_s,
            )

    @app.timer(interval=5.0)
    async def export_lag() -> None:
        worker.export_lag()

    return app


def run_worker(settings: Settings) -> None:
    """Serve /metrics and run the Faust worker until SIGTERM/SIGINT."""
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    app = create_app(settings)
    faust.Worker(
        app, loglevel=settings.worker_log_level.upper(), quiet=True
    ).execute_from_commandline()
