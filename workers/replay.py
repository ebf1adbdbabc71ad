"""Replay dead letters: send again to the chunks topic the messages whose cause can have been
fixed, with their original key and bytes, and say why each other one stays dead.

What happens to a dead letter (`decide`, pure; `replay` reads Kafka and sends):
  1. rejected before Kafka (stage `feed`, `document`: no topic/partition/offset): the row or file
     never was a message. It stays dead: fix it at its source and publish it again;
  2. a worker's dead letter (stage `decode`, `validate`, `embed`, `index`, `process`): its
     message is read back from the chunks topic at its partition and offset, with its original
     key and bytes. If it is no longer there (past retention; a recreated topic holds another
     key or size there) it stays dead, unless `from_payload` and the dead letter's payload is
     the whole message: not cut at 64 KiB (`payload_bytes`) and not redacted (no `***`);
  3. already replayed: a copy of it (same key, same bytes) follows it in its partition. Nothing
     is sent twice, whoever runs the replay, with no state outside Kafka;
  4. still refused: the message is checked as a worker will check it, with this process's code
     and settings (so run the replay with the workers' settings): decoded and validated
     (`workers.batch.decode`), a chunk measured against the model's limit (`workers.limits`).
     What would be dead-lettered again stays dead with that reason (bytes that are not JSON, a
     schema violation, a chunk still over FRESHINDEX_CHUNK_MAX_TOKENS, ...). Refusals by Triton
     (`embed`) or the index (`index`) and unexpected failures (`process`) are replayed: only
     they can tell whether the cause is gone;
  5. superseded: a message published later for the same part (the product's record or that
     document), or a deletion of it, follows it in its partition. It stays dead: replaying it
     would put old content over new;
  6. otherwise it is sent to its original partition with its original key and bytes, and the
     header `freshindex-replay-of: <dead-letter topic>:<partition>:<offset>`.

Idempotent twice over: step 3 finds the copy an earlier replay sent, and a copy sent twice
would not change the index either (chunk ids are uuid5 of product, document and index; the
worker skips a chunk whose content and metadata hashes it already holds). A copy dead-lettered
again (its cause was not fixed after all) is a new dead letter, replayable in its turn.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import ValidationError

from schemas.models import DEAD_LETTER_PAYLOAD_MAX_BYTES, Chunk, DeadLetter, ProductDeleted
from schemas.redact import MASK, redact
from schemas.settings import Settings
from workers.batch import RawMessage, decode
from workers.errors import MessageRejected
from workers.limits import ChunkLimit, chunk_limit
from workers.ops import high_watermarks

log = logging.getLogger("freshindex.replay")

REPLAY_HEADER = "freshindex-replay-of"
"""Header of a replayed message: the dead letter it replays (`topic:partition:offset`)."""
STALL_S = 15.0
"""Longest wait for the next records while reading a topic to its end."""

Action = Literal["replayed", "would replay", "already replayed", "stays dead"]


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Which dead letters a replay considers (all given must match)."""

    stage: str | None = None
    """Exactly this stage (`validate`, `embed`, ...)."""
    reason: str | None = None
    """Text the reason or the error type contains (case-insensitive)."""
    since: datetime | None = None
    """Dead letters written at or after this time."""

    def match(self, letter: DeadLetter) -> bool:
        if self.stage is not None and letter.stage != self.stage:
            return False
        if self.reason is not None:
            needle = self.reason.lower()
            if needle not in letter.message.lower() and needle not in letter.error_type.lower():
                return False
        return self.since is None or letter.published_at >= self.since


@dataclass(frozen=True, kw_only=True)
class Found:
    """A dead letter and its place on the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    letter: DeadLetter

    @property
    def ref(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True, kw_only=True)
class Stored:
    """A message of the chunks topic as read back."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    replay_of: str | None = None
    """The dead letter it replays, if it is a replay's copy."""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What to do with one dead letter: send `key`/`value` (action `replayed`), or not, and why."""

    action: Action
    reason: str
    key: bytes | None = None
    value: bytes | None = None


@dataclass(kw_only=True)
class Outcome:
    """One dead letter's line in the report."""

    dead_letter: str
    """Where the dead letter is: `<dead-letter topic>:<partition>:<offset>`."""
    stage: str
    key: str | None
    origin: str | None
    """The failed message: `topic[partition]@offset`, or the source and line of a row."""
    action: Action
    reason: str
    sent_to: str | None = None
    """The copy's `topic[partition]@offset` (replayed)."""


@dataclass(kw_only=True)
class ReplayReport:
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(o.action == action for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "considered": len(self.outcomes),
            "replayed": self.count("replayed"),
            "would_replay": self.count("would replay"),
            "already_replayed": self.count("already replayed"),
            "stays_dead": self.count("stays dead"),
            "dead_letters": [asdict(o) for o in self.outcomes],
        }


Check = Callable[[RawMessage], tuple[Chunk | ProductDeleted | None, str | None]]
"""The record a worker would read from a message, or the reason it would refuse it."""


def worker_check(limit: Callable[[], ChunkLimit | None]) -> Check:
    """The worker's own checks: decode/validate, then (chunks) the model's token limit."""

    def check(msg: RawMessage) -> tuple[Chunk | ProductDeleted | None, str | None]:
        try:
            record = decode(msg)
        except MessageRejected as e:
            return None, f"{e.stage}: {e}"
        bound = limit() if isinstance(record, Chunk) else None
        if isinstance(record, Chunk) and bound is not None:
            refusal = bound.refusals([record]).get(record.chunk_id)
            if refusal:
                return record, f"validate: {refusal} (FRESHINDEX_CHUNK_MAX_TOKENS)"
        return record, None

    return check


def decide(
    found: Found,
    *,
    chunks_topic: str,
    original: Stored | None,
    later: Iterable[Stored],
    check: Check,
    from_payload: bool = False,
) -> Verdict:
    """The verdict on one dead letter, given its original message as read back at its offset
    (None: not there) and the messages after it in its partition (those of its key suffice)."""
    letter = found.letter
    if letter.topic is None or letter.partition is None or letter.offset is None:
        return Verdict(
            action="stays dead",
            reason=f"rejected before Kafka (stage {letter.stage}), never a message: fix it at its"
            " source and publish it again",
        )
    if letter.topic != chunks_topic:
        return Verdict(
            action="stays dead",
            reason=f"from topic {letter.topic}, not the chunks topic {chunks_topic}",
        )
    message = _original(letter, original, from_payload)
    if isinstance(message, str):
        return Verdict(action="stays dead", reason=message)
    key, value = message
    same_key = [s for s in later if s.key == key]
    for stored in same_key:
        if stored.value == value:
            return Verdict(
                action="already replayed",
                reason=f"its copy is at {letter.topic}[{letter.partition}]@{stored.offset}",
            )
    raw = RawMessage(
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
        key=key,
        value=value,
        timestamp=original.timestamp_ms / 1000 if original and original.timestamp_ms else None,
    )
    record, refusal = check(raw)
    if refusal is not None or record is None:
        return Verdict(action="stays dead", reason=f"would be refused again: {refusal}")
    newer = _superseded_by(record, same_key)
    if newer is not None:
        return Verdict(
            action="stays dead",
            reason=f"superseded by {letter.topic}[{letter.partition}]@{newer.offset}, a later"
            " publish or deletion of the same product: replaying it would put old content over new",
        )
    return Verdict(action="replayed", reason=_why_now(letter.stage), key=key, value=value)


_JUDGES = {"embed": "Triton", "index": "the index", "process": "the worker"}


def _why_now(stage: str) -> str:
    """Why a message is sent again."""
    if stage in ("decode", "validate"):
        return "the worker's checks pass now"
    judge = _JUDGES.get(stage, "the worker")
    return f"passes the worker's checks; whether the {stage} failure is gone only {judge} can tell"


def _original(
    letter: DeadLetter, original: Stored | None, from_payload: bool
) -> tuple[bytes | None, bytes | None] | str:
    """(key, value) of the dead-lettered message, or why it cannot be had faithfully."""
    key = letter.key.encode() if letter.key is not None else None
    where = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    if original is not None and original.key == key and _same_size(letter, original.value):
        return original.key, original.value
    missing = (
        f"the message is no longer at {where} (past retention)"
        if original is None
        else f"{where} holds another message now (was the topic recreated?)"
    )
    if not from_payload:
        return f"{missing}; --from-payload would replay the dead letter's own copy"
    if MASK in letter.payload:
        return f"{missing}, and the dead letter's copy was redacted (a credential was cut out)"
    payload = letter.payload.encode("utf-8", errors="replace")
    if letter.payload_bytes is not None and len(payload) != letter.payload_bytes:
        if letter.payload_bytes > DEAD_LETTER_PAYLOAD_MAX_BYTES:
            return (
                f"{missing}, and the dead letter holds only its first 64 KiB"
                f" of {letter.payload_bytes} bytes"
            )
        return f"{missing}, and the dead letter's copy is not its bytes (they were not UTF-8)"
    return key, payload or None


def _same_size(letter: DeadLetter, value: bytes | None) -> bool:
    return letter.payload_bytes is None or letter.payload_bytes == len(value or b"")


def _superseded_by(record: Chunk | ProductDeleted, later: list[Stored]) -> Stored | None:
    """The first message of the record's product published after it that replaces it: a
    deletion of the product (or of the record's document), a chunk of the same part; any
    message of the product when the record deletes the whole product."""
    whole_product = isinstance(record, ProductDeleted) and record.document is None
    document = record.document or ""
    for stored in later:
        other = _peek(stored)
        if other is None or other[1] <= record.published_at:
            continue
        kind, _, other_document = other
        if whole_product or other_document == document:
            return stored
        if kind == "product_deleted" and other_document is None:
            return stored
    return None


def _peek(stored: Stored) -> tuple[str, datetime, str | None] | None:
    """(kind, published_at, document) of a message, or None when it is not readable."""
    if stored.value is None:
        when = stored.timestamp_ms / 1000 if stored.timestamp_ms else time.time()
        return "product_deleted", datetime.fromtimestamp(when, UTC), None
    try:
        data = json.loads(stored.value)
        kind, document = data["kind"], data.get("document")
        published = datetime.fromisoformat(data["published_at"])
    except (ValueError, KeyError, TypeError):
        return None
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    return str(kind), published, (document or "") if kind == "chunk" else document


# ------------------------------------------------------------------------------ Kafka


def _consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        **settings.kafka_client_config(),
        group_id=None,
        enable_auto_commit=False,
        client_id="freshindex-replay",
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=10_000,
        fetch_max_wait_ms=50,
    )


def _read(consumer: KafkaConsumer, starts: dict[TopicPartition, int], flavor: str) -> Iterable[Any]:
    """Every record of the partitions from their start offsets to their ends as of now."""
    tps = list(starts)
    consumer.assign(tps)
    first = consumer.beginning_offsets(tps)
    begin = {tp: max(starts[tp], first.get(tp, 0)) for tp in tps}
    for tp in tps:
        consumer.seek(tp, begin[tp])
    marks = high_watermarks(consumer, tps, flavor)
    for tp in tps:  # (on Tansu, learning the high watermarks fetched)
        consumer.seek(tp, begin[tp])
    progress = time.monotonic()
    while any(consumer.position(tp) < marks[tp] for tp in tps):
        batches = consumer.poll(timeout_ms=500)
        if batches:
            progress = time.monotonic()
        elif time.monotonic() - progress > STALL_S:
            behind = [
                f"{tp.topic}[{tp.partition}]" for tp in tps if consumer.position(tp) < marks[tp]
            ]
            raise TimeoutError(f"no records from {', '.join(behind)} for {STALL_S:.0f} s")
        for tp, records in batches.items():
            yield from (r for r in records if r.offset < marks[tp])


def read_dead_letters(settings: Settings, filters: Filters) -> list[Found]:
    """Every dead letter on the topic that `filters` match, oldest first per partition."""
    consumer = _consumer(settings)
    try:
        parts = consumer.partitions_for_topic(settings.dead_letter_topic) or set()
        starts = {TopicPartition(settings.dead_letter_topic, p): 0 for p in sorted(parts)}
        found: list[Found] = []
        for r in _read(consumer, starts, settings.kafka_flavor) if starts else []:
            try:
                letter = DeadLetter.model_validate_json(r.value or b"")
            except ValidationError:
                log.warning(
                    "not a dead letter at %s[%s]@%s: skipped", r.topic, r.partition, r.offset
                )
                continue
            if filters.match(letter):
                found.append(
                    Found(topic=r.topic, partition=r.partition, offset=r.offset, letter=letter)
                )
        return sorted(found, key=lambda f: (f.letter.published_at, f.partition, f.offset))
    finally:
        consumer.close(autocommit=False)


def read_originals(
    settings: Settings, letters: list[Found]
) -> tuple[dict[tuple[int, int], Stored], dict[int, list[Stored]]]:
    """The chunks topic from the earliest dead-lettered offset of each partition to its end:
    the messages at the dead letters' offsets, and (per partition, in order) every message
    with the key of one of them."""
    topic = settings.chunks_topic
    offsets = {c for f in letters if f.letter.topic == topic and (c := coordinates(f.letter))}
    keys = {
        f.letter.key.encode() if f.letter.key is not None else None
        for f in letters
        if f.letter.topic == topic
    }
    at: dict[tuple[int, int], Stored] = {}
    by_partition: dict[int, list[Stored]] = {}
    consumer = _consumer(settings)
    try:
        existing = consumer.partitions_for_topic(topic) or set()
        starts: dict[TopicPartition, int] = {}
        for partition, offset in offsets:
            if partition in existing:
                tp = TopicPartition(topic, partition)
                starts[tp] = min(starts.get(tp, offset), offset)
        for r in _read(consumer, starts, settings.kafka_flavor) if starts else []:
            if (r.partition, r.offset) not in offsets and r.key not in keys:
                continue
            headers = dict(r.headers or [])
            replay_of = headers.get(REPLAY_HEADER)
            stored = Stored(
                offset=r.offset,
                key=r.key,
                value=r.value,
                timestamp_ms=r.timestamp,
                replay_of=replay_of.decode(errors="replace") if replay_of else None,
            )
            if (r.partition, r.offset) in offsets:
                at[(r.partition, r.offset)] = stored
            if r.key in keys:
                by_partition.setdefault(r.partition, []).append(stored)
        return at, by_partition
    finally:
        consumer.close(autocommit=False)


class _Sender:
    """Sends copies to their original partitions and waits for each acknowledgement."""

    def __init__(self, settings: Settings) -> None:
        self._producer = KafkaProducer(
            **settings.kafka_client_config(),
            enable_idempotence=settings.kafka_flavor == "kafka",
            acks="all",
            max_request_size=4 * 1024 * 1024,
            retries=5,
            client_id="freshindex-replay",
        )

    def send(
        self, topic: str, partition: int, key: bytes | None, value: bytes | None, ref: str
    ) -> int:
        future = self._producer.send(
            topic,
            key=key,
            value=value,
            partition=partition,
            headers=[(REPLAY_HEADER, ref.encode())],
        )
        return int(future.get(timeout=60).offset)

    def close(self) -> None:
        self._producer.close()


def coordinates(letter: DeadLetter) -> tuple[int, int] | None:
    """(partition, offset) of a dead letter's message; None for a row rejected before Kafka."""
    if letter.topic is None or letter.partition is None or letter.offset is None:
        return None
    return letter.partition, letter.offset


class _LazyLimit:
    """The model's limit, its tokenizer loaded on first use (only chunks need it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._limit: ChunkLimit | None = None

    def __call__(self) -> ChunkLimit:
        if self._limit is None:
            self._limit = chunk_limit(self.settings)
        return self._limit


def replay(
    settings: Settings, filters: Filters, *, dry_run: bool = False, from_payload: bool = False
) -> ReplayReport:
    """Replay the dead letters `filters` match (see the module docstring); the report says what
    became of each. Copies go out in the order of their originals, each acknowledged before
    the next is sent."""
    found = read_dead_letters(settings, filters)
    at, later_by_partition = read_originals(settings, found)
    check = worker_check(_LazyLimit(settings))
    report = ReplayReport(dry_run=dry_run)
    sent: dict[tuple[int, int], str] = {}
    sender: _Sender | None = None
    try:
        for f in sorted(found, key=_origin_order):
            coords = coordinates(f.letter)
            if coords is not None and coords in sent:
                verdict = Verdict(
                    action="already replayed", reason=f"by this replay: {sent[coords]}"
                )
            else:
                later = later_by_partition.get(coords[0], []) if coords else []
                verdict = decide(
                    f,
                    chunks_topic=settings.chunks_topic,
                    original=at.get(coords) if coords else None,
                    later=[s for s in later if coords and s.offset > coords[1]],
                    check=check,
                    from_payload=from_payload,
                )
            outcome = _outcome(f, verdict)
            if verdict.action == "replayed" and coords is not None:
                if dry_run:
                    outcome.action = "would replay"
                else:
                    sender = sender or _Sender(settings)
                    topic = settings.chunks_topic
                    offset = sender.send(topic, coords[0], verdict.key, verdict.value, f.ref)
                    outcome.sent_to = sent[coords] = f"{topic}[{coords[0]}]@{offset}"
                    log.info("replayed %s as %s", f.ref, outcome.sent_to)
            report.outcomes.append(outcome)
    finally:
        if sender is not None:
            sender.close()
    return report


def _origin_order(f: Found) -> tuple[int, int, int]:
    """Replays go out in the order of the original messages (a product's stay in order)."""
    letter = f.letter
    return (0 if letter.topic else 1, letter.partition or 0, letter.offset or 0)


def _outcome(f: Found, verdict: Verdict) -> Outcome:
    letter = f.letter
    if letter.topic is not None:
        origin: str | None = f"{letter.topic}[{letter.partition}]@{letter.offset}"
    else:
        origin = f"{letter.source} line {letter.line}" if letter.line else letter.source
    return Outcome(
        dead_letter=f.ref,
        stage=letter.stage,
        key=letter.key,
        origin=origin,
        action=verdict.action,
        reason=redact(verdict.reason),
    )
