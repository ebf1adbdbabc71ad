"""Operational views: consumer lag per partition, dead letters, index size and freshness.

Lag is the high watermark (the log end offset) minus the group's committed offset. On Apache
Kafka it is read with ListOffsets (`end_offsets`), exact and cheap. The local Tansu broker
answers ListOffsets(latest) wrongly, so with `FRESHINDEX_KAFKA_FLAVOR=tansu`, and only then, it
is learnt from fetch responses (`KafkaConsumer.highwater`) instead.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from schemas.models import DeadLetter
from schemas.settings import Settings
from workers.errors import VectorIndexError
from workers.index.factory import open_index


@dataclass(frozen=True, kw_only=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    high_watermark: int
    lag: int


def _consumer(settings: Settings, group: str | None) -> KafkaConsumer:
    return KafkaConsumer(
        **settings.kafka_client_config(),
        group_id=group,
        enable_auto_commit=False,
        client_id="freshindex-ops",
        fetch_max_bytes=1024 * 1024,
        max_partition_fetch_bytes=256 * 1024,
        request_timeout_ms=10_000,
        fetch_max_wait_ms=50,  # a probe at the end of the log must not wait for data
    )


def high_watermarks(
    consumer: KafkaConsumer, tps: list[TopicPartition], flavor: str, timeout_s: float = 10.0
) -> dict[TopicPartition, int]:
    """High watermark of each assigned partition: ListOffsets on Kafka; on Tansu learnt from
    fetch responses (the consumer must be assigned and positioned)."""
    if flavor != "tansu":
        return {tp: int(v) for tp, v in consumer.end_offsets(tps).items()}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        marks = {tp: consumer.highwater(tp) for tp in tps}
        if all(v is not None for v in marks.values()):
            return {tp: int(v) for tp, v in marks.items() if v is not None}
        consumer.poll(timeout_ms=200, max_records=1, update_offsets=False)
    missing = [f"{tp.topic}[{tp.partition}]" for tp in tps if consumer.highwater(tp) is None]
    raise TimeoutError(f"no fetch response for {', '.join(missing)} within {timeout_s}s")


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        return []
    return [TopicPartition(topic, p) for p in sorted(parts)]


def consumer_lag(settings: Settings) -> list[PartitionLag]:
    """Committed offset, high watermark and lag of the worker group on the chunks topic."""
    consumer = _consumer(settings, settings.consumer_group)
    try:
        tps = _partitions(consumer, settings.chunks_topic)
        if not tps:
            return []
        consumer.assign(tps)
        committed = {tp: consumer.committed(tp) for tp in tps}
        for tp in tps:
            consumer.seek(tp, committed[tp] or 0)
        marks = high_watermarks(consumer, tps, settings.kafka_flavor)
        return [
            PartitionLag(
                topic=tp.topic,
                partition=tp.partition,
                committed=committed[tp],
                high_watermark=marks[tp],
                lag=max(0, marks[tp] - (committed[tp] or 0)),
            )
            for tp in tps
        ]
    finally:
        consumer.close(autocommit=False)


def dead_letters(settings: Settings, *, limit: int = 20) -> tuple[int, list[DeadLetter]]:
    """How many dead letters the topic holds, and the last `limit` of them (oldest first)."""
    consumer = _consumer(settings, None)
    try:
        tps = _partitions(consumer, settings.dead_letter_topic)
        if not tps:
            return 0, []
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        marks = high_watermarks(consumer, tps, settings.kafka_flavor)
        starts = consumer.beginning_offsets(tps)
        total = sum(marks[tp] - starts.get(tp, 0) for tp in tps)
        letters: list[DeadLetter] = []
        for tp in tps:
            consumer.seek(tp, max(starts.get(tp, 0), marks[tp] - limit))
        deadline = time.monotonic() + 10
        while any(consumer.position(tp) < marks[tp] for tp in tps) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                letters += [DeadLetter.model_validate_json(r.value) for r in records]
        letters.sort(key=lambda d: d.published_at)
        return total, letters[-limit:]
    finally:
        consumer.close(autocommit=False)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def freshness_summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"chunks": 0, "p50_s": None, "p99_s": None, "max_s": None}
    return {
        "chunks": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p99_s": round(_percentile(values, 0.99), 3),
        "max_s": round(max(values), 3),
    }


THROUGHPUT_WINDOW = timedelta(minutes=1)
"""Window of `status`'s throughput."""


def throughput(written: int, window: timedelta = THROUGHPUT_WINDOW) -> dict[str, Any]:
    """Chunks written to the index within the last `window`, and per second."""
    seconds = window.total_seconds()
    return {"window_s": seconds, "chunks": written, "chunks_per_s": round(written / seconds, 2)}


def status(settings: Settings, *, window: timedelta = timedelta(minutes=15)) -> dict[str, Any]:
    """Everything `freshindex status` shows, as plain data.

    Throughput is the count of chunks whose `indexed_at` falls in the last minute, read from the
    index with the same range query as freshness: what the workers (all of them) wrote, from one
    cheap query, without sampling offsets twice or scraping each worker's metrics. A chunk
    skipped as unchanged is not written, so not counted; one written twice in the minute counts
    once; one written and then deleted within it is not counted."""
    lag = consumer_lag(settings)
    dead_total, recent_dead = dead_letters(settings, limit=5)
    report: dict[str, Any] = {
        "broker": settings.kafka_bootstrap_servers,
        "topic": settings.chunks_topic,
        "consumer_group": settings.consumer_group,
        "partitions": [asdict(p) for p in lag],
        "total_lag": sum(p.lag for p in lag),
        "dead_letters": {
            "topic": settings.dead_letter_topic,
            "total": dead_total,
            "recent": [d.model_dump(mode="json", exclude={"payload"}) for d in recent_dead],
        },
    }
    try:
        index = open_index(settings, create=False)
        try:
            since = datetime.now(UTC) - window
            report["index"] = {
                "backend": settings.index_backend,
                "name": settings.index_name,
                "rows": index.count(),
            }
            report["freshness"] = {
                "window_s": window.total_seconds(),
                **freshness_summary(index.freshness(since)),
            }
            recent = datetime.now(UTC) - THROUGHPUT_WINDOW
            report["throughput"] = throughput(len(index.freshness(recent)))
        finally:
            index.close()
    except VectorIndexError as e:
        report["index"] = {
            "backend": settings.index_backend,
            "name": settings.index_name,
            "rows": 0,
            "note": str(e),
        }
        report["freshness"] = {"window_s": window.total_seconds(), **freshness_summary([])}
        report["throughput"] = throughput(0)
    return report


def wait_until_caught_up(
    settings: Settings, *, timeout_s: float = 600, poll_s: float = 0.5
) -> list[PartitionLag]:
    """Block until the worker group has committed everything published so far (lag 0)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lag = consumer_lag(settings)
        if lag and sum(p.lag for p in lag) == 0:
            return lag
        if time.monotonic() > deadline:
            behind = ", ".join(f"[{p.partition}] {p.lag}" for p in lag if p.lag)
            raise TimeoutError(
                f"consumer group {settings.consumer_group} still behind after {timeout_s}s: {behind}"
            )
        time.sleep(poll_s)
