"""Decode a batch of raw Kafka messages and fold it into the index changes it implies (pure).

Messages of one product arrive in order (one partition, keyed by product id). A product's chunks
come in parts: its own record (document "") and each of its documents, replaced independently.
Folding a batch in offset order gives: the chunks to write (the latest version of each chunk
id), per part the chunk count to keep (chunks at or beyond it are stale: the part shrank or was
deleted), and the products deleted as a whole (all parts, except those published again after
the deletion within the batch). Applying that plan is idempotent, so a replay of any part of
the topic leaves the index unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from schemas.models import (
    CHUNKS_TOPIC_MESSAGE,
    READABLE_SCHEMA_VERSIONS,
    Chunk,
    DeadLetter,
    ProductDeleted,
    content_hash,
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


Part = tuple[str, str]
"""(product id, document): the product's own record is document ""."""


@dataclass(kw_only=True)
class Plan:
    """The index changes a batch implies."""

    upserts: dict[str, Chunk] = field(default_factory=dict)
    """Latest version of each chunk to write, by chunk id."""
    keep_below: dict[Part, int] = field(default_factory=dict)
    """Per part: delete its chunks with chunk_index >= this (0 = the part was deleted)."""
    drop_products: dict[str, set[str]] = field(default_factory=dict)
    """Products deleted as a whole: delete every chunk of the product except those of the
    documents named here (parts published again after the deletion; `keep_below` bounds them)."""
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
    if version not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(map(str, sorted(READABLE_SCHEMA_VERSIONS)))
        raise MessageRejected(
            "validate",
            f"unsupported schema_version {version!r} (this worker reads {readable})",
        )
    try:
        record = CHUNKS_TOPIC_MESSAGE.validate_python(data)
    except ValidationError as e:
        raise MessageRejected("validate", describe_errors(e, subject="message", limit=5)) from e
    _check_key_and_hash(key, record)
    return record


def _check_key_and_hash(key: str | None, record: Chunk | ProductDeleted) -> None:
    """A chunk (or document deletion) is keyed by its product id (a null key would break the
    product's partition, so its order); a chunk's content hash is its text's."""
    if key is None:
        raise MessageRejected(
            "validate",
            f"message without a key (product {record.product_id!r}): messages are keyed by"
            " product id so a product's messages stay in one partition, in order",
        )
    if key != record.product_id:
        raise MessageRejected(
            "validate", f"key {key!r} differs from product_id {record.product_id!r}"
        )
    if isinstance(record, Chunk) and content_hash(record.text) != record.content_hash:
        raise MessageRejected(
            "validate",
            "content_hash is not the sha256 of text (a reused vector would not match the text)",
        )


def key_of(msg: RawMessage) -> str | None:
    """The message's key as text (the product id of a well-formed message), if it has one."""
    return msg.key.decode("utf-8", errors="replace") if msg.key is not None else None


def dead_letter(msg: RawMessage, error: Exception, stage: str) -> DeadLetter:
    """The dead letter of a message (reason and payload bounded by the model; the value's whole
    size in `payload_bytes`)."""
    value = msg.value or b""
    return DeadLetter(
        stage=stage,
        error_type=type(error).__name__,
        message=str(error),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=key_of(msg),
        payload=value.decode("utf-8", errors="replace"),
        payload_bytes=len(value),
    )


def fold(messages: list[RawMessage]) -> Plan:
    """The plan of a batch, messages in consumption order (offset order within a partition)."""
    plan = Plan(consumed=len(messages))
    pending: dict[Part, dict[int, Chunk]] = {}
    for msg in messages:
        try:
            record = decode(msg)
        except MessageRejected as e:
            plan.dead_letters.append(dead_letter(msg, e, e.stage))
            continue
        product = record.product_id
        if isinstance(record, ProductDeleted) and record.document is None:
            for part in [p for p in pending if p[0] == product]:
                del pending[part]
            for part in [p for p in plan.keep_below if p[0] == product]:
                del plan.keep_below[part]
            plan.drop_products[product] = set()
            continue
        part = (product, record.document or "")
        chunks = pending.setdefault(part, {})
        if isinstance(record, ProductDeleted):
            chunks.clear()
            plan.keep_below[part] = 0
            continue
        for stale in [i for i in chunks if i >= record.chunk_count]:
            del chunks[stale]
        chunks[record.chunk_index] = record
        plan.origins[record.chunk_id] = msg
        plan.keep_below[part] = record.chunk_count
        if product in plan.drop_products:
            plan.drop_products[product].add(part[1])
    plan.upserts = {c.chunk_id: c for chunks in pending.values() for c in chunks.values()}
    return plan
