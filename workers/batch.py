"""Decode a batch of raw Kafka messages and fold it into the index changes it implies (pure).

Messages of one product arrive in order (one partition, keyed by product id). Folding a batch
per product in offset order gives: the chunks to write (the latest version of each chunk id)
and, per product, the chunk count to keep (chunks at or beyond it are stale: the product shrank
or was deleted). Applying that plan is idempotent, so a replay of any part of the topic leaves
the index unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas.models import (
    CHUNKS_TOPIC_MESSAGE,
    SCHEMA_VERSION,
    Chunk,
    DeadLetter,
    ProductDeleted,
    describe_errors,
)
from workers.errors import MessageRejected


@dataclass(frozen=True, kw_only=True)
class RawMessage:
    """A message as consumed, with its coordinates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None
    """Broker/producer timestamp in seconds, if known."""


@dataclass(kw_only=True)
class Plan:
    """The index changes a batch implies."""

    upserts: dict[str, Chunk] = field(default_factory=dict)
    """Latest version of each chunk to write, by chunk id."""
    keep_below: dict[str, int] = field(default_factory=dict)
    """Per product: delete its chunks with chunk_index >= this (0 = the product was deleted)."""
    origins: dict[str, RawMessage] = field(default_factory=dict)
    """The message each upsert came from (coordinates for a dead letter)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    """Messages that could not be decoded or validated."""
    consumed: int = 0
    """Messages in the batch."""


def decode(msg: RawMessage) -> Chunk | ProductDeleted:
    """One message to a wire record; raises `MessageRejected` with the reason."""
    key = msg.key.decode("utf-8", errors="replace") if msg.key is not None else None
    if msg.value is None:
        if not key:
            raise MessageRejected("decode", "tombstone without a key: no product to delete")
        published = (
            datetime.fromtimestamp(msg.timestamp, UTC) if msg.timestamp else datetime.now(UTC)
        )
        try:
            return ProductDeleted(product_id=key, published_at=published)
        except ValidationError as e:
            raise MessageRejected(
                "validate",
                f"tombstone key is not a valid product id: {describe_errors(e, subject='message', limit=5)}",
            ) from e
    try:
        data = json.loads(msg.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MessageRejected("decode", f"value is not UTF-8 JSON: {e}") from e
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise MessageRejected(
            "validate",
            f"unsupported schema_version {version!r} (this worker reads {SCHEMA_VERSION})",
        )
    try:
        record = CHUNKS_TOPIC_MESSAGE.validate_python(data)
    except ValidationError as e:
        raise MessageRejected("validate", describe_errors(e, subject="message", limit=5)) from e
    if key is not None and key != record.product_id:
        raise MessageRejected(
            "validate", f"key {key!r} differs from product_id {record.product_id!r}"
        )
    return record


def dead_letter(msg: RawMessage, error: Exception, stage: str) -> DeadLetter:
    return DeadLetter(
        stage=stage,
        error_type=type(error).__name__,
        message=str(error),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key.decode("utf-8", errors="replace") if msg.key is not None else None,
        payload=(msg.value or b"").decode("utf-8", errors="replace")[:65536],
    )


def fold(messages: list[RawMessage]) -> Plan:
    """The plan of a batch, messages in consumption order (offset order within a partition)."""
    plan = Plan(consumed=len(messages))
    pending: dict[str, dict[int, Chunk]] = {}
    for msg in messages:
        try:
            record = decode(msg)
        except MessageRejected as e:
            plan.dead_letters.append(dead_letter(msg, e, e.stage))
            continue
        chunks = pending.setdefault(record.product_id, {})
        if isinstance(record, ProductDeleted):
            chunks.clear()
            plan.keep_below[record.product_id] = 0
        else:
            for stale in [i for i in chunks if i >= record.chunk_count]:
                del chunks[stale]
            chunks[record.chunk_index] = record
            plan.origins[record.chunk_id] = msg
            plan.keep_below[record.product_id] = record.chunk_count
    plan.upserts = {c.chunk_id: c for chunks in pending.values() for c in chunks.values()}
    return plan
