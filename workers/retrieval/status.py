"""What the status page of `freshindex serve` shows (`GET /v1/status`), and where each number
comes from:

  lag           per partition of the chunks topic: high watermark minus the worker group's
                committed offset (`workers.ops.consumer_lag`, a fresh consumer per refresh)
  trend         the last `HISTORY` refreshes of it, kept in this process's memory
  throughput    committed (indexed) and published messages per second over the refreshes of the
                last `status_window_s`
  freshness     p50 / p99 / max of indexed_at - published_at of the chunks written in the last
                `status_window_s` (read from the index), against `freshness_slo_s`
  dead letters  counts by stage and error type, dead letters per minute and the latest
                `LATEST`: the dead-letter topic read once, incrementally, by one consumer of this
                process (at most `DLQ_BUDGET` per refresh, so a big backlog is read over a few)
  index, model  rows, backend and name; the Triton model's name, ready versions, dimension
  health        broker, Triton and index: "ok", or why not

A refresh is shared by every viewer and cached for `CACHE_S`. The broker and Triton's HTTP
metadata are read with blocking clients in daemon threads (never on the event loop, never
holding up a shutdown), each bounded by `serve_timeout_s`; a broker read still hanging from an
earlier refresh is not started again: the broker is reported down with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from kafka import KafkaConsumer, TopicPartition

from schemas.models import DeadLetter
from schemas.settings import Settings
from workers import ops
from workers.retrieval.pipeline import Retriever

log = logging.getLogger("freshindex.retrieval")

CACHE_S = 2.0
"""A refresh is served to every viewer for this long (the page polls every `REFRESH_S`)."""
REFRESH_S = 3.0
"""How often the page asks for a refresh."""
HISTORY = 100
"""Refreshes kept for the trends (about 5 minutes while someone watches)."""
LATEST = 10
"""Latest dead letters shown."""
DLQ_BUDGET = 500
"""Most dead letters read per refresh."""
STALLED_AFTER_S = 30.0
"""Lag above zero and no offset committed for this long: the workers look stalled."""

_T = TypeVar("_T")


# --------------------------------------------------------------------------- off the loop


async def off_loop(fn: Callable[[], _T], timeout_s: float, what: str) -> _T:
    """`fn()` in a daemon thread, awaited at most `timeout_s` (then `TimeoutError` naming
    `what`; the thread is left to finish, and does not keep the process alive)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def deliver(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = fn(), None
        except BaseException as e:  # handed to the awaiting coroutine
            result, error = None, e
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(deliver, result, error)

    threading.Thread(target=run, name=f"freshindex-status-{what}", daemon=True).start()
    try:
        done, _ = await asyncio.wait({future}, timeout=timeout_s)
    finally:
        future.cancel()  # no-op when done; else the thread's answer is dropped
    if not done:
        raise TimeoutError(f"{what}: no answer within {timeout_s:g} s")
    return future.result()


def reason(error: BaseException) -> str:
    """One line: the error's type and message."""
    text = " ".join(str(error).split()) or "no message"
    return f"{type(error).__name__}: {text}"[:300]


# --------------------------------------------------------------------------- dead letters


@dataclass(kw_only=True)
class DeadLetterTail:
    """The dead-letter topic read from its beginning, incrementally, by one assigned consumer
    (no group): counts by (stage, error type), the latest `LATEST`, and when each was written.
    `read` is called from one thread at a time."""

    settings: Settings
    budget: int = DLQ_BUDGET
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    latest: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=LATEST))
    written_at: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    total: int = 0
    caught_up: bool = False
    _consumer: KafkaConsumer | None = None

    def read(self, deadline: float) -> None:
        """Read what was added since the last call, until caught up, `budget` or `deadline`."""
        consumer = self._open()
        tps = self._assign(consumer)
        read = 0
        while read < self.budget and time.monotonic() < deadline:
            self.caught_up = self._at_end(consumer, tps)
            if self.caught_up:
                return
            batch = consumer.poll(timeout_ms=100, max_records=self.budget - read)
            for records in batch.values():
                for record in records:
                    self._add(record.value)
                read += len(records)
        self.caught_up = self._at_end(consumer, tps)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = KafkaConsumer(
                **self.settings.kafka_client_config(),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="freshindex-status",
                fetch_max_bytes=1024 * 1024,
                max_partition_fetch_bytes=256 * 1024,
                request_timeout_ms=10_000,
                fetch_max_wait_ms=50,
            )
        return self._consumer

    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        """Every partition of the topic (new ones start at their beginning)."""
        topic = self.settings.dead_letter_topic
        consumer.topics()  # refreshes metadata: a topic created since is seen
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        new = [tp for tp in tps if tp not in consumer.assignment()]
        if new:
            consumer.assign(tps)
            for tp in new:
                consumer.seek(tp, 0)  # out of range (retention) -> earliest
        return tps

    @staticmethod
    def _at_end(consumer: KafkaConsumer, tps: list[TopicPartition]) -> bool:
        """Every partition read up to the high watermark of its last fetch response (on Tansu
        too, whose ListOffsets cannot be trusted)."""
        for tp in tps:
            high = consumer.highwater(tp)
            if high is None or consumer.position(tp) < high:
                return False
        return True

    def _add(self, value: bytes | None) -> None:
        self.total += 1
        try:
            letter = DeadLetter.model_validate_json(value or b"")
        except ValueError as e:
            letter = DeadLetter(
                stage="?", error_type="unreadable dead letter", message=str(e), payload=""
            )
        self.counts[(letter.stage, letter.error_type)] += 1
        self.latest.append(letter)
        self.written_at.append(letter.published_at.timestamp())

    def view(self, now: float, window_s: float) -> dict[str, Any]:
        recent = sum(1 for t in self.written_at if t >= now - window_s)
        return {
            "topic": self.settings.dead_letter_topic,
            "total": self.total,
            "caught_up": self.caught_up,
            "per_minute": round(recent * 60 / window_s, 3),
            "by_reason": [
                {"stage": stage, "error_type": error_type, "count": n}
                for (stage, error_type), n in self.counts.most_common()
            ],
            "latest": [
                d.model_dump(mode="json", exclude={"payload", "kind", "schema_version"})
                for d in reversed(self.latest)
            ],
        }


# --------------------------------------------------------------------------- the broker


@dataclass(frozen=True, kw_only=True)
class BrokerView:
    """One read of the broker: lag per partition and the dead letters so far."""

    lag: list[ops.PartitionLag]
    dead_letters: dict[str, Any]


class BrokerReader(Protocol):
    """Blocking reads of the broker (called from one daemon thread at a time)."""

    def read(self, now: float, window_s: float, deadline: float) -> BrokerView: ...

    def close(self) -> None: ...


class KafkaBrokerReader:
    """Lag from `workers.ops.consumer_lag`, dead letters from a `DeadLetterTail`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tail = DeadLetterTail(settings=settings)

    def read(self, now: float, window_s: float, deadline: float) -> BrokerView:
        lag = ops.consumer_lag(self.settings)
        self.tail.read(deadline)
        return BrokerView(lag=lag, dead_letters=self.tail.view(now, window_s))

    def close(self) -> None:
        self.tail.close()


def triton_model(settings: Settings, timeout_s: float) -> dict[str, Any]:
    """The model's metadata from Triton's HTTP endpoint (KServe v2: name, versions, platform)."""
    url = f"http://{settings.triton_http_url}/v2/models/{settings.triton_model}"
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


# --------------------------------------------------------------------------- history


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One refresh, as the trends keep it (broker fields None when the broker did not answer)."""

    at: float
    lag: dict[int, int] | None
    committed: int | None
    published: int | None
    p50_s: float | None
    p99_s: float | None


@dataclass
class History:
    """The last `size` samples; rates over a window; the workers' state."""

    size: int = HISTORY
    samples: deque[Sample] = field(default_factory=deque)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        while len(self.samples) > self.size:
            self.samples.popleft()

    def _known(self) -> list[Sample]:
        return [s for s in self.samples if s.lag is not None]

    def rate(self, window_s: float, of: Callable[[Sample], int | None]) -> float | None:
        """Change per second of `of` between the oldest sample of the window and the newest
        (samples without broker data left out); None with fewer than two."""
        known = [s for s in self._known() if of(s) is not None]
        if not known:
            return None
        last = known[-1]
        first = next(s for s in known if s.at >= last.at - window_s)
        new, old = of(last), of(first)
        if last.at <= first.at or new is None or old is None:
            return None
        return round(max(0, new - old) / (last.at - first.at), 3)

    def workers_state(self) -> str:
        """caught up (no lag) | indexing (offsets committed lately) | stalled (lag, and no
        offset committed for `STALLED_AFTER_S`) | behind (lag, too few samples to tell)."""
        known = self._known()
        if not known:
            return "unknown"
        last = known[-1]
        if not sum((last.lag or {}).values()):
            return "caught up"
        still_since, moved = last.at, False
        for s in reversed(known):
            if s.committed != last.committed:
                moved = True
                break
            still_since = s.at
        if last.at - still_since >= STALLED_AFTER_S:
            return "stalled"
        return "indexing" if moved else "behind"

    def lag_trend(self, partition: int) -> list[int]:
        return [s.lag.get(partition, 0) for s in self._known() if s.lag is not None]

    def trend(self) -> list[dict[str, Any]]:
        return [
            {
                "at": s.at,
                "lag": None if s.lag is None else sum(s.lag.values()),
                "p50_s": s.p50_s,
                "p99_s": s.p99_s,
            }
            for s in self.samples
        ]


# --------------------------------------------------------------------------- the board


class StatusBoard:
    """The status of the pipeline, refreshed at most every `CACHE_S` whoever asks."""

    def __init__(
        self,
        settings: Settings,
        *,
        broker: BrokerReader | None = None,
        model: Callable[[], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.broker = broker or KafkaBrokerReader(settings)
        timeout = settings.serve_timeout_s
        self.model = model or (lambda: triton_model(settings, timeout))
        self.clock = clock
        self.history = History()
        self._cached: dict[str, Any] | None = None
        self._cached_at = 0.0
        self._refreshing = asyncio.Lock()
        self._broker_busy = threading.Lock()

    async def snapshot(self, retriever: Retriever) -> dict[str, Any]:
        """The latest refresh, made now when the cached one is older than `CACHE_S`."""
        async with self._refreshing:  # viewers arriving during a refresh share it
            if self._cached is None or self.clock() - self._cached_at >= CACHE_S:
                self._cached = await self._refresh(retriever)
                self._cached_at = self.clock()
            return self._cached

    def close(self) -> None:
        if self._broker_busy.acquire(timeout=1.0):  # else a read hangs: let the process end it
            try:
                self.broker.close()
            finally:
                self._broker_busy.release()

    async def _refresh(self, retriever: Retriever) -> dict[str, Any]:
        started, now = time.perf_counter(), self.clock()
        broker, index, model, checks = await asyncio.gather(
            self._read_broker(now),
            self._read_index(retriever),
            self._read_model(),
            retriever.readiness(),
        )
        freshness = index.pop("freshness")
        self._sample(now, broker, freshness)
        serving = retriever.serving
        index["target"] = serving.target or None
        if serving.model is not None:  # the version the live index records (queries use it)
            model.update(dim=serving.model.dimension, serving_version=serving.model.version)
        return {
            "generated_at": datetime.fromtimestamp(now, UTC).isoformat(),
            "refresh_s": REFRESH_S,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
            "health": self._health(broker, checks),
            "broker": self._broker_part(),
            "lag": self._lag_part(broker),
            "throughput": self._throughput(),
            "freshness": freshness,
            "trend": self.history.trend(),
            "dead_letters": broker.dead_letters if isinstance(broker, BrokerView) else None,
            "index": index,
            "model": model,
        }

    async def _read_broker(self, now: float) -> BrokerView | str:
        timeout = self.settings.serve_timeout_s
        window = self.settings.status_window_s

        def read() -> BrokerView:
            if not self._broker_busy.acquire(blocking=False):
                raise TimeoutError("the previous broker read has not answered yet")
            try:
                return self.broker.read(now, window, time.monotonic() + timeout / 2)
            finally:
                self._broker_busy.release()

        try:
            return await off_loop(read, timeout, "broker read")
        except Exception as e:
            return reason(e)

    async def _read_index(self, retriever: Retriever) -> dict[str, Any]:
        index = retriever.index
        window = self.settings.status_window_s
        info: dict[str, Any] = {
            "backend": self.settings.index_backend,
            "name": self.settings.index_name,
        }

        def read() -> tuple[int, list[float]]:
            since = datetime.now(UTC) - timedelta(seconds=window)
            return index.count(), index.freshness(since)

        try:
            rows, ages = await off_loop(read, self.settings.serve_timeout_s, "index read")
        except Exception as e:
            info.update(rows=None, error=reason(e))
            ages = []
        else:
            info["rows"] = rows
        summary = ops.freshness_summary(ages)
        slo = self.settings.freshness_slo_s
        p99 = summary["p99_s"]
        info["freshness"] = {
            "window_s": window,
            "slo_s": slo,
            "within_slo": None if p99 is None else p99 <= slo,
            **summary,
        }
        return info

    async def _read_model(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": self.settings.triton_model,
            "dim": self.settings.embedding_dim,
        }
        try:
            meta = await off_loop(
                self.model, self.settings.serve_timeout_s, "Triton model metadata"
            )
        except Exception as e:
            return {**info, "versions": [], "error": reason(e)}
        return {
            **info,
            "versions": list(meta.get("versions") or []),
            "platform": meta.get("platform"),
        }

    def _sample(self, now: float, broker: BrokerView | str, freshness: dict[str, Any]) -> None:
        known = isinstance(broker, BrokerView)
        lag = broker.lag if isinstance(broker, BrokerView) else []
        self.history.add(
            Sample(
                at=now,
                lag={p.partition: p.lag for p in lag} if known else None,
                committed=sum(p.committed or 0 for p in lag) if known else None,
                published=sum(p.high_watermark for p in lag) if known else None,
                p50_s=freshness["p50_s"],
                p99_s=freshness["p99_s"],
            )
        )

    def _health(self, broker: BrokerView | str, checks: dict[str, str]) -> dict[str, str]:
        return {
            "broker": "ok" if isinstance(broker, BrokerView) else broker,
            "triton": checks.get("embedding", "unknown"),
            "index": checks.get("index", "unknown"),
        }

    def _broker_part(self) -> dict[str, Any]:
        return {
            "servers": self.settings.kafka_bootstrap_servers,
            "flavor": self.settings.kafka_flavor,
            "topic": self.settings.chunks_topic,
            "consumer_group": self.settings.consumer_group,
        }

    def _lag_part(self, broker: BrokerView | str) -> dict[str, Any] | None:
        if not isinstance(broker, BrokerView):
            return None
        return {
            "total": sum(p.lag for p in broker.lag),
            "partitions": [
                {**asdict(p), "trend": self.history.lag_trend(p.partition)} for p in broker.lag
            ],
        }

    def _throughput(self) -> dict[str, Any]:
        window = self.settings.status_window_s
        return {
            "window_s": window,
            "committed_per_s": self.history.rate(window, lambda s: s.committed),
            "published_per_s": self.history.rate(window, lambda s: s.published),
            "workers": self.history.workers_state(),
        }
