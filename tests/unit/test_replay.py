"""Which dead letters a replay sends again, and why the others stay dead (`workers.replay.decide`,
pure: the original message and the later ones of its partition are given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from infra.cli_dead_letters import parse_since
from schemas.models import Chunk, DeadLetter, ProductMetadata, chunk_id, content_hash
from workers.batch import RawMessage, dead_letter
from workers.errors import MessageRejected
from workers.limits import ChunkLimit
from workers.replay import Filters, Found, Stored, Verdict, decide, worker_check

TOPIC = "chunks"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def chunk_bytes(
    product: str = "P1",
    text: str = "Peat-free compost for raised beds",
    *,
    published_at: datetime = T0,
    index: int = 0,
    count: int = 1,
    document: str = "",
) -> bytes:
    chunk = Chunk(
        chunk_id=chunk_id(product, index, document),
        product_id=product,
        document=document,
        chunk_index=index,
        chunk_count=count,
        text=text,
        section="overview",
        token_count=len(text.split()),
        content_hash=content_hash(text),
        product=ProductMetadata(title="Compost", source="feed:test"),
        published_at=published_at,
    )
    return chunk.model_dump_json().encode()


def letter_of(value: bytes | None, *, key: bytes | None = b"P1", offset: int = 5) -> Found:
    msg = RawMessage(topic=TOPIC, partition=2, offset=offset, key=key, value=value)
    letter = dead_letter(msg, MessageRejected("validate", "token_count 6 is over 4"), "validate")
    return Found(topic="dlq", partition=0, offset=9, letter=letter)


def stored(
    value: bytes | None, offset: int, key: bytes | None = b"P1", ts: datetime = T0
) -> Stored:
    return Stored(offset=offset, key=key, value=value, timestamp_ms=int(ts.timestamp() * 1000))


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


ACCEPT = worker_check(lambda: ChunkLimit(max_tokens=256, count_tokens=words))


def verdict(
    found: Found, *, original: Stored | None, later: list[Stored] = (), **kw: object
) -> Verdict:  # type: ignore[assignment]
    return decide(found, chunks_topic=TOPIC, original=original, later=later, check=ACCEPT, **kw)  # type: ignore[arg-type]


def test_a_message_whose_cause_is_fixed_is_replayed_with_its_original_key_and_bytes() -> None:
    value = chunk_bytes()
    v = verdict(letter_of(value), original=stored(value, 5))
    assert v.action == "replayed" and v.key == b"P1" and v.value == value


def test_a_message_still_refused_by_the_worker_s_checks_stays_dead_with_the_reason() -> None:
    value = chunk_bytes()  # 5 words: over a limit of 4, within 256
    found = letter_of(value)
    strict = worker_check(lambda: ChunkLimit(max_tokens=4, count_tokens=words))
    v = decide(found, chunks_topic=TOPIC, original=stored(value, 5), later=[], check=strict)
    assert v.action == "stays dead"
    assert "refused again" in v.reason and "FRESHINDEX_CHUNK_MAX_TOKENS" in v.reason
    relaxed = decide(found, chunks_topic=TOPIC, original=stored(value, 5), later=[], check=ACCEPT)
    assert relaxed.action == "replayed"


def test_bytes_that_are_not_a_message_stay_dead() -> None:
    v = verdict(letter_of(b"\xff not json"), original=stored(b"\xff not json", 5))
    assert v.action == "stays dead" and "decode" in v.reason


def test_a_row_rejected_before_kafka_stays_dead_republish_the_feed() -> None:
    row = DeadLetter(
        stage="feed",
        error_type="RowRejected",
        message="price: negative",
        source="feed:catalog.jsonl",
        line=7,
        key="P1",
        payload='{"id": "P1"}',
    )
    v = verdict(Found(topic="dlq", partition=0, offset=1, letter=row), original=None)
    assert v.action == "stays dead"
    assert "before Kafka (stage feed)" in v.reason and "publish it again" in v.reason


def test_a_copy_after_the_original_means_already_replayed() -> None:
    value = chunk_bytes()
    v = verdict(letter_of(value), original=stored(value, 5), later=[stored(value, 12)])
    assert v.action == "already replayed" and "@12" in v.reason


def test_a_later_publish_or_deletion_of_the_product_supersedes_it() -> None:
    value = chunk_bytes()
    newer = chunk_bytes(text="Rewritten description", published_at=T0 + timedelta(minutes=1))
    v = verdict(letter_of(value), original=stored(value, 5), later=[stored(newer, 8)])
    assert v.action == "stays dead" and "superseded by chunks[2]@8" in v.reason
    tombstone = stored(None, 9, ts=T0 + timedelta(minutes=2))
    v = verdict(letter_of(value), original=stored(value, 5), later=[tombstone])
    assert v.action == "stays dead" and "@9" in v.reason


def test_siblings_of_the_same_publish_and_other_parts_do_not_supersede_it() -> None:
    value = chunk_bytes(count=2)
    sibling = chunk_bytes(text="Second chunk of the same publish", index=1, count=2)
    manual = chunk_bytes(text="Manual", document="manual.pdf", published_at=T0 + timedelta(hours=1))
    other = chunk_bytes("P2", "Another product", published_at=T0 + timedelta(hours=1))
    later = [stored(sibling, 6), stored(manual, 7), stored(other, 8, key=b"P2")]
    assert verdict(letter_of(value), original=stored(value, 5), later=later).action == "replayed"


def test_a_message_gone_from_the_topic_needs_from_payload_and_a_whole_unredacted_copy() -> None:
    value = chunk_bytes()
    v = verdict(letter_of(value), original=None)
    assert v.action == "stays dead" and "--from-payload" in v.reason
    v = verdict(letter_of(value), original=None, from_payload=True)
    assert v.action == "replayed" and v.value == value

    big = chunk_bytes(text="compost " * 20_000)  # over the 64 KiB a dead letter keeps
    v = verdict(letter_of(big), original=None, from_payload=True)
    assert v.action == "stays dead" and "only its first 64 KiB" in v.reason

    redacted = letter_of(value)
    redacted = Found(
        topic="dlq",
        partition=0,
        offset=9,
        letter=redacted.letter.model_copy(
            update={"payload": redacted.letter.payload.replace("Peat-free", "***")}
        ),
    )
    v = verdict(redacted, original=None, from_payload=True)
    assert v.action == "stays dead" and "redacted" in v.reason


def test_another_message_at_the_offset_is_not_taken_for_the_original() -> None:
    value = chunk_bytes()
    v = verdict(letter_of(value), original=stored(chunk_bytes("P9"), 5, key=b"P9"))
    assert v.action == "stays dead" and "another message" in v.reason


def test_filters_match_stage_reason_and_time() -> None:
    letter = letter_of(chunk_bytes()).letter
    assert Filters().match(letter)
    assert Filters(stage="validate", reason="OVER 4").match(letter)
    assert not Filters(stage="embed").match(letter)
    assert Filters(reason="messagerejected").match(letter)  # the error type counts too
    assert not Filters(since=letter.published_at + timedelta(seconds=1)).match(letter)


def test_since_takes_durations_and_iso_times() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("15m", now) == now - timedelta(minutes=15)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("2026-11-30T08:00:00", now) == datetime(2026, 11, 30, 8, tzinfo=UTC)
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday", now)
