"""fold(): a batch of raw chunk-topic messages -> the index changes it implies, and dead letters."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ingest.prepare.chunk import Chunker
from schemas.models import Chunk, ProductDeleted
from tests.unit.fakes import PUBLISHED, TOPIC, as_document, raw_message, raw_messages, record
from workers.batch import RawMessage, decode, fold

MakeChunker = Callable[..., Chunker]
V1_TEXT = " ".join(
    f"Sentence number {i} about tomato feed and how to dilute it well." for i in range(12)
)


@pytest.fixture
def v1(chunker: MakeChunker) -> list[Chunk]:
    """GA-1 with several chunks (overview + description chunks)."""
    chunks = chunker(64).chunk(record("GA-1", description=V1_TEXT), PUBLISHED)
    assert len(chunks) >= 4
    return chunks


@pytest.fixture
def v2(chunker: MakeChunker) -> list[Chunk]:
    """GA-1 shrunk to 2 chunks with new text."""
    chunks = chunker(64).chunk(
        record("GA-1", description="Now a short text. Still useful."), PUBLISHED
    )
    assert len(chunks) == 2
    return chunks


def deletion(product_id: str = "GA-1") -> ProductDeleted:
    return ProductDeleted(product_id=product_id, published_at=PUBLISHED)


# --------------------------------------------------------------------------- folding


def test_a_full_update_is_upserted_whole(v1: list[Chunk]) -> None:
    plan = fold(raw_messages(v1))
    assert plan.consumed == len(v1)
    assert plan.upserts == {c.chunk_id: c for c in v1}
    assert plan.keep_below == {("GA-1", ""): len(v1)}
    assert plan.dead_letters == []
    assert [plan.origins[c.chunk_id].offset for c in v1] == list(range(len(v1)))


def test_latest_version_of_a_chunk_wins(v1: list[Chunk], chunker: MakeChunker) -> None:
    repriced = chunker(64).chunk(record("GA-1", description=V1_TEXT, price="1.00"), PUBLISHED)
    assert [c.chunk_id for c in repriced] == [c.chunk_id for c in v1]
    plan = fold(raw_messages([*v1, *repriced]))
    assert list(plan.upserts.values()) == repriced
    assert [plan.origins[c.chunk_id].offset for c in repriced] == list(range(len(v1), 2 * len(v1)))


def test_shrink_in_one_batch_drops_pending_chunks_beyond_the_new_count(
    v1: list[Chunk], v2: list[Chunk]
) -> None:
    plan = fold(raw_messages([*v1, *v2]))
    assert plan.upserts == {c.chunk_id: c for c in v2}
    assert plan.keep_below == {("GA-1", ""): 2}


def test_shrink_split_across_batches_converges(v1: list[Chunk], v2: list[Chunk]) -> None:
    first = fold(raw_messages([*v1, v2[0]]))
    # the old chunk 1 stays until its new version arrives; chunks 2 and up are already stale
    assert first.upserts == {v2[0].chunk_id: v2[0], v1[1].chunk_id: v1[1]}
    assert first.keep_below == {("GA-1", ""): 2}
    second = fold(raw_messages([v2[1]], start=len(v1) + 1))
    assert second.upserts == {v2[1].chunk_id: v2[1]}


def test_deletion_alone_keeps_nothing() -> None:
    plan = fold(raw_messages([deletion()]))
    assert plan.upserts == {}
    assert plan.keep_below == {}
    assert plan.drop_products == {"GA-1": set()}


def test_deletion_cancels_pending_chunks(v1: list[Chunk]) -> None:
    plan = fold(raw_messages([*v1, deletion()]))
    assert plan.upserts == {}
    assert plan.keep_below == {}
    assert plan.drop_products == {"GA-1": set()}


def test_deletion_then_re_add(v1: list[Chunk], v2: list[Chunk]) -> None:
    plan = fold(raw_messages([*v1, deletion(), *v2]))
    assert plan.upserts == {c.chunk_id: c for c in v2}
    assert plan.keep_below == {("GA-1", ""): 2}
    # everything else of GA-1 (its documents) goes; the re-added record stays
    assert plan.drop_products == {"GA-1": {""}}


def test_products_are_folded_independently(v1: list[Chunk], chunker: MakeChunker) -> None:
    other = chunker(64).chunk(record("GA-2"), PUBLISHED)
    plan = fold(raw_messages([v1[0], other[0], deletion("GA-3"), *v1[1:], *other[1:]]))
    assert set(plan.upserts) == {c.chunk_id for c in [*v1, *other]}
    assert plan.keep_below == {("GA-1", ""): len(v1), ("GA-2", ""): len(other)}
    assert plan.drop_products == {"GA-3": set()}


def test_documents_are_parts_replaced_independently_of_the_record(
    v1: list[Chunk], v2: list[Chunk]
) -> None:
    manual = as_document(v1, "manual.pdf")
    assert not {c.chunk_id for c in manual} & {c.chunk_id for c in v1}
    plan = fold(raw_messages([*v1, *manual, *as_document(v2, "manual.pdf")]))
    assert plan.upserts == {c.chunk_id: c for c in [*v1, *as_document(v2, "manual.pdf")]}
    assert plan.keep_below == {("GA-1", ""): len(v1), ("GA-1", "manual.pdf"): 2}
    assert plan.drop_products == {}


def test_document_deletion_leaves_the_record(v1: list[Chunk]) -> None:
    gone = ProductDeleted(product_id="GA-1", document="manual.pdf", published_at=PUBLISHED)
    plan = fold(raw_messages([*v1, *as_document(v1, "manual.pdf"), gone]))
    assert plan.upserts == {c.chunk_id: c for c in v1}
    assert plan.keep_below == {("GA-1", ""): len(v1), ("GA-1", "manual.pdf"): 0}


def test_product_deletion_takes_its_documents_and_a_later_document_survives(
    v1: list[Chunk], v2: list[Chunk]
) -> None:
    sheet = as_document(v2, "sheet.docx")
    plan = fold(raw_messages([*v1, *as_document(v1, "manual.pdf"), deletion(), *sheet]))
    assert plan.upserts == {c.chunk_id: c for c in sheet}
    assert plan.keep_below == {("GA-1", "sheet.docx"): 2}
    assert plan.drop_products == {"GA-1": {"sheet.docx"}}


def test_kafka_tombstone_is_a_deletion(v1: list[Chunk]) -> None:
    tombstone = RawMessage(
        topic=TOPIC, partition=0, offset=99, key=b"GA-1", value=None, timestamp=1_700_000_000.5
    )
    plan = fold([*raw_messages(v1), tombstone])
    assert plan.upserts == {}
    assert plan.drop_products == {"GA-1": set()}
    record_ = decode(tombstone)
    assert isinstance(record_, ProductDeleted)
    assert record_.published_at.timestamp() == 1_700_000_000.5


# --------------------------------------------------------------------------- dead letters


def chunk_payload(v1: list[Chunk], **changes: object) -> bytes:
    data = json.loads(v1[0].model_dump_json())
    data.update(changes)
    return json.dumps(data).encode()


BAD_VALUES = {
    "not utf-8": (b"GA-1", b"\xff\xfe{", "decode"),
    "not json": (b"GA-1", b'{"kind": "chunk",', "decode"),
    "unknown kind": (
        b"GA-1",
        b'{"kind": "price_changed", "schema_version": 1, "product_id": "GA-1"}',
        "validate",
    ),
    "not an object": (b"GA-1", b"[1, 2, 3]", "validate"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_message_becomes_a_dead_letter_with_coordinates(v1: list[Chunk], case: str) -> None:
    key, value, stage = BAD_VALUES[case]
    bad = RawMessage(topic=TOPIC, partition=3, offset=41, key=key, value=value)
    plan = fold([bad, raw_message(v1[0], 42, partition=3)])
    [letter] = plan.dead_letters
    assert letter.stage == stage
    assert letter.error_type == "MessageRejected"
    assert (letter.topic, letter.partition, letter.offset, letter.key) == (TOPIC, 3, 41, "GA-1")
    assert letter.payload == value.decode("utf-8", errors="replace")
    assert letter.message
    # the stream goes on: the good message after it is still folded
    assert list(plan.upserts) == [v1[0].chunk_id]
    assert plan.consumed == 2


def test_schema_violation_names_the_field(v1: list[Chunk]) -> None:
    bad = RawMessage(
        topic=TOPIC, partition=0, offset=7, key=b"GA-1", value=chunk_payload(v1, chunk_index=-1)
    )
    [letter] = fold([bad]).dead_letters
    assert letter.stage == "validate"
    assert "chunk_index" in letter.message


@pytest.mark.parametrize("version", [3, 0, None, "1"])
def test_unknown_schema_version_is_dead_lettered(v1: list[Chunk], version: object) -> None:
    bad = RawMessage(
        topic=TOPIC,
        partition=0,
        offset=9,
        key=b"GA-1",
        value=chunk_payload(v1, schema_version=version),
    )
    plan = fold([bad])
    [letter] = plan.dead_letters
    assert letter.stage == "validate"
    assert "schema_version" in letter.message
    assert plan.upserts == {}


def test_version_1_messages_are_read_as_record_chunks(v1: list[Chunk]) -> None:
    payload = json.loads(v1[0].model_dump_json())
    del payload["document"]
    payload["schema_version"] = 1
    old = RawMessage(
        topic=TOPIC, partition=0, offset=0, key=b"GA-1", value=json.dumps(payload).encode()
    )
    plan = fold([old])
    assert plan.dead_letters == []
    assert plan.upserts == {v1[0].chunk_id: v1[0].model_copy(update={"schema_version": 1})}


def test_key_that_differs_from_product_id_is_dead_lettered(v1: list[Chunk]) -> None:
    plan = fold([raw_message(v1[0], 5, key="GA-2")])
    [letter] = plan.dead_letters
    assert letter.stage == "validate"
    assert letter.key == "GA-2"
    assert "GA-1" in letter.message
    assert plan.upserts == {} and plan.keep_below == {} and plan.drop_products == {}


def test_tombstone_without_key_is_dead_lettered() -> None:
    plan = fold([RawMessage(topic=TOPIC, partition=1, offset=0, key=None, value=None)])
    [letter] = plan.dead_letters
    assert letter.stage == "decode"
    assert (letter.partition, letter.offset, letter.key, letter.payload) == (1, 0, None, "")
    assert plan.keep_below == {}


def test_oversized_payload_is_truncated_in_the_dead_letter() -> None:
    value = b"x" * 100_000
    [letter] = fold(
        [RawMessage(topic=TOPIC, partition=0, offset=0, key=b"GA-1", value=value)]
    ).dead_letters
    assert len(letter.payload) == 65536


@pytest.mark.parametrize("key", [b"GA 1", b"x" * 201, b"GA-1\n"])
def test_tombstone_with_invalid_key_is_dead_lettered(key: bytes) -> None:
    plan = fold([RawMessage(topic=TOPIC, partition=0, offset=3, key=key, value=None)])
    [letter] = plan.dead_letters
    assert letter.stage in {"decode", "validate"}
