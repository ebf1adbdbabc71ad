"""The Faust (faust-streaming) index worker: chunks topic -> batches -> `BatchIndexer` -> ack.

Offsets are acknowledged only after the batch is in the index and its dead letters are on the
dead-letter topic (`stream.noack_take` + `stream.ack`), so delivery is at-least-once and, with
idempotent writes, every chunk lands in the index exactly once, across `kill -9` and restarts.

Failure handling per batch, by the type of the error (`workers.errors`), never by its origin:
  - `Transient` (Triton or the index down, restarting, loading): the batch is held and retried
    with capped backoff and jitter (`workers.retry.WORKER_HOLD`), for as long as it takes;
    nothing is acknowledged, nothing is dead-lettered; the stream waits, the worker lives;
  - `Terminal` (a misconfiguration): the worker logs the setting to fix and stops with exit
    status 78 (`workers.shutdown`); nothing of the batch is acknowledged or dead-lettered;
  - a message that cannot be decoded/validated, rows the model refuses, objects the index
    refuses: dead letters with their coordinates (the indexer makes them), the rest is written;
  - an unexpected error: the batch is retried message by message and only the messages that
    still fail go to the dead-letter topic, with the exception text (a `Transient` or `Terminal`
    error meanwhile is handled as above, never dead-lettered).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import faust
from prometheus_client import start_http_server

from schemas.logs import coordinates
from schemas.models import DeadLetter
from schemas.redact import install_log_redaction, redact_letter, register_settings
from schemas.settings import Settings, home_dir
from workers import metrics
from workers.batch import RawMessage, dead_letter, key_of
from workers.batching import adaptive_take
from workers.embedding.base import Embedder
from workers.errors import EmbeddingError, Terminal, Transient
from workers.index.base import VectorIndex
from workers.indexer import BatchIndexer, BatchResult
from workers.limits import chunk_limit
from workers.logs import worker_logging
from workers.retry import WORKER_HOLD
from workers.routing import TargetRouter
from workers.shutdown import EXIT_MISCONFIGURED, BoundedWorker, Shutdown

log = logging.getLogger("freshindex.worker")

MAINTAIN_EVERY_S = 60.0


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

    def __init__(
        self, app: faust.App, settings: Settings, shutdown: Shutdown | None = None
    ) -> None:
        self.app = app
        self.settings = settings
        self.shutdown = shutdown or Shutdown()
        self.backoff = WORKER_HOLD
        self.dead_letters = app.topic(
            settings.dead_letter_topic, value_serializer="raw", key_serializer="raw"
        )
        self._indexer: BatchIndexer | None = None
        """One fixed target (tests); None: the targets `router` names before each batch."""
        self.router = TargetRouter(settings, self.make_indexer)
        self._last_maintained = time.monotonic()
        self.positions: dict[tuple[str, int], int] = {}

    def make_indexer(self, index: VectorIndex, embedder: Embedder) -> BatchIndexer:
        """The indexer of one target, as the settings configure it."""
        s = self.settings
        return BatchIndexer(
            index,
            embedder,
            skip_unchanged=s.skip_unchanged,
            passage_prefix=s.passage_prefix,
            limit=chunk_limit(s),
        )

    async def process(self, messages: list[RawMessage]) -> BatchResult:
        """Apply the batch to every target it goes to (`workers.routing`), live first; the
        live target's result (and dead letters) is the batch's."""
        if self._indexer is not None:
            return await self._indexer.process(messages)
        routes = await self.router.routes()
        result = await routes[0].indexer.process(messages)
        for route in routes[1:]:
            extra = await route.indexer.process(messages)
            for letter in extra.dead_letters:
                log.warning(
                    "%s target %s refused a message the live one took (%s at %s[%s]@%s): %s",
                    route.role,
                    route.name,
                    letter.stage,
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    letter.message,
                )
        return result

    async def handle(self, messages: list[RawMessage]) -> BatchResult:
        result = await self._process_with_retry(messages)
        for letter in map(redact_letter, result.dead_letters):
            log.error(
                "dead letter: %s %s at %s[%s]@%s: %s",
                letter.stage,
                letter.error_type,
                letter.topic,
                letter.partition,
                letter.offset,
                letter.message,
                extra=coordinates(
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    product_id=letter.key,
                    stage=letter.stage,
                ),
            )
            await self._send_dead_letter(letter)
        for m in messages:
            self.positions[(m.topic, m.partition)] = m.offset + 1
        await self._maybe_maintain()
        return result

    async def _process_with_retry(self, messages: list[RawMessage]) -> BatchResult:
        """The batch's result. `Transient` failures (also during the message-by-message
        fallback) hold the batch and retry it until it goes through; `Terminal` ones are raised."""
        attempt = 0
        one_by_one = False
        while True:
            try:
                if one_by_one:
                    return await self._one_by_one(messages)
                return await self.process(messages)
            except Transient as e:
                self._hold(messages, e, attempt)
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
            except Terminal:
                raise
            except Exception:
                log.exception(
                    "unexpected error on a batch of %d; retrying message by message", len(messages)
                )
                one_by_one = True

    def _hold(self, messages: list[RawMessage], error: Transient, attempt: int) -> None:
        (metrics.EMBED_ERRORS if isinstance(error, EmbeddingError) else metrics.INDEX_ERRORS).inc()
        first = messages[0] if messages else None
        where = f" from {first.topic}[{first.partition}]@{first.offset}" if first else ""
        log.warning(
            "batch of %d%s held (try %d; nothing acknowledged, nothing dead-lettered): %s: %s",
            len(messages),
            where,
            attempt + 1,
            type(error).__name__,
            error,
            extra=coordinates(first.topic, first.partition, first.offset) if first else {},
        )

    async def stop_for(self, error: Terminal) -> None:
        """Stop the worker for a misconfiguration; never returns (cancelled by the stop), so
        the batch in hand is never acknowledged."""
        self.shutdown.fail(
            EXIT_MISCONFIGURED,
            f"{type(error).__name__}: {error}. Fix {error.setting} and start the worker again;"
            " nothing of the current batch was acknowledged or dead-lettered",
        )
        await asyncio.Event().wait()

    async def _one_by_one(self, messages: list[RawMessage]) -> BatchResult:
        total = BatchResult()
        for msg in messages:
            try:
                result = await self.process([msg])
            except (Transient, Terminal):
                raise
            except Exception as e:
                log.exception(
                    "message %s[%s]@%s failed",
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    extra=coordinates(msg.topic, msg.partition, msg.offset, product_id=key_of(msg)),
                )
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
                delay = self.backoff.delay(attempt)
                log.warning("dead letter not delivered (%s); retrying in %.1fs", e, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _maybe_maintain(self) -> None:
        if time.monotonic() - self._last_maintained < MAINTAIN_EVERY_S:
            return
        self._last_maintained = time.monotonic()
        indexers = [self._indexer] if self._indexer else self.router.indexers()
        for indexer in indexers:
            try:
                await asyncio.to_thread(indexer.index.maintain)
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


def broker_credentials(settings: Settings) -> Any:
    """Faust's credentials for the brokers' security settings (None for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol.endswith("SSL"):
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        context = ssl.create_default_context(cafile=cafile)
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context)


def create_app(settings: Settings, shutdown: Shutdown | None = None) -> faust.App:
    """The Faust app with one agent on the chunks topic."""
    (home_dir() / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
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
    worker = IndexWorker(app, settings, shutdown)
    topic = app.topic(settings.chunks_topic, value_serializer="raw", key_serializer="raw")

    @app.agent(topic, name="index-chunks")
    async def index_chunks(stream: faust.StreamT) -> None:
        # batches that follow the load (workers.batching): a few messages on a thin stream,
        # full ones under backlog; acknowledged below once their batch is done
        batches = adaptive_take(stream, settings.batch_size, settings.batch_within_s)
        async for events in batches:
            messages = [_raw(e) for e in events]
            # how long the batch's oldest message waited for this batch (since its producer sent it)
            sent = [m.timestamp for m in messages if m.timestamp]
            waited = max(0.0, time.time() - min(sent)) if sent else 0.0
            try:
                result = await worker.handle(messages)
            except Terminal as e:
                await worker.stop_for(e)  # does not return: these events are never acknowledged
                return
            for event in events:
                await stream.ack(event)
            log.info(
                "batch: consumed=%d embedded=%d skipped=%d metadata_only=%d written=%d deleted=%d dead=%d "
                "waited=%.3fs lookup=%.3fs embed=%.3fs write=%.3fs",
                result.consumed,
                result.embedded,
                result.skipped,
                result.metadata_only,
                result.written,
                result.deleted,
                len(result.dead_letters),
                waited,
                result.lookup_s,
                result.embed_s,
                result.write_s,
            )

    @app.timer(interval=5.0)
    async def export_lag() -> None:
        worker.export_lag()

    @app.on_partitions_assigned.connect
    async def forget_unconfirmed_commits(
        sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        forget_unconfirmed_commits_of(
            app.consumer, set(args[0] if args else kwargs.get("assigned", ()))
        )

    return app


def forget_unconfirmed_commits_of(consumer: Any, assigned: set[Any]) -> None:
    """Work around faust-streaming 0.15.3: its consumer records offsets as committed even when the
    commit failed (the broker was gone). For a partition without a committed offset in the broker,
    that record survives the rebalance that follows (Faust reloads only offsets the broker has),
    so the replayed batch is never committed and its lag stays for good (found by `make chaos`:
    Kafka kill -9 while a first batch was being written). On every assignment, forget the
    in-memory records of the assigned partitions: Faust's seek reloads the broker's real
    committed offsets, and where it has none, the next acknowledged batch is committed."""
    committed = getattr(consumer, "_committed_offset", None)
    if committed is None:
        return
    for tp in assigned:
        committed.pop(tp, None)


def serve_metrics(settings: Settings) -> None:
    """Serve /metrics on FRESHINDEX_METRICS_PORT (0: not at all); a port in use is `Terminal`."""
    if not settings.metrics_port:
        return
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except OSError as e:
        raise Terminal(
            f"cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port}:"
            f" {e.strerror or e} (another worker on this host? give each worker its own port,"
            " or 0 for none)",
            setting="FRESHINDEX_METRICS_PORT",
        ) from e


def run_worker(settings: Settings) -> None:
    """Serve /metrics and run the Faust worker until SIGTERM/SIGINT, which it obeys within
    `workers.shutdown.STOP_GRACE_S` in every state; exits 78 when a misconfiguration stops it.
    No credential of the settings appears in its log lines or dead letters."""
    register_settings(settings)
    install_log_redaction()
    serve_metrics(settings)
    shutdown = Shutdown()
    app = create_app(settings, shutdown)
    with worker_logging(settings) as logging_config:  # one record per event (workers.logs)
        BoundedWorker(
            app,
            loglevel=settings.worker_log_level.upper(),
            quiet=True,
            shutdown=shutdown,
            logging_config=logging_config,
            redirect_stdouts=False,
        ).run_until_stopped()
