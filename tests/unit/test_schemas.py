"""The wire contract: ids, hashes, record validation, message discrimination, JSON Schema files."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas.jsonschema_gen import MODELS, SCHEMA_DIR, render
from schemas.models import (
    CHUNKS_TOPIC_MESSAGE,
    DEAD_LETTER_MESSAGE_MAX_BYTES,
    DEAD_LETTER_PAYLOAD_MAX_BYTES,
    SCHEMA_VERSION,
    Availability,
    Chunk,
    DeadLetter,
    ProductDeleted,
    ProductMetadata,
    ProductRecord,
    chunk_id,
    content_hash,
)
from tests.unit.fakes import PUBLISHED, record


def make_chunk(
    product: ProductRecord, index: int = 0, count: int = 1, text: str = "Tomato Feed 1 L"
) -> Chunk:
    return Chunk(
        published_at=PUBLISHED,
        chunk_id=chunk_id(product.id, index),
        product_id=product.id,
        chunk_index=index,
        chunk_count=count,
        text=text,
        section="overview",
        token_count=7,
        content_hash=content_hash(text),
        product=ProductMetadata.of(product),
    )


# --------------------------------------------------------------------------- ids and hashes


def test_chunk_id_is_a_deterministic_uuid5() -> None:
    first = chunk_id("GA-1", 0)
    assert first == chunk_id("GA-1", 0)
    assert uuid.UUID(first).version == 5


def test_chunk_id_differs_per_product_and_index() -> None:
    ids = {chunk_id(p, i) for p in ("GA-1", "GA-2", "GA-10", "GA-1 ") for i in range(50)}
    assert len(ids) == 4 * 50


def test_chunk_id_does_not_collide_when_id_and_index_run_together() -> None:
    # "GA-1" chunk 10 and "GA-11" chunk 0 would collide if the two parts were just concatenated
    assert chunk_id("GA-1", 10) != chunk_id("GA-11", 0)
    assert chunk_id("GA-1", 10) != chunk_id("GA-110", 0)


def test_content_hash_is_sha256_of_the_utf8_text() -> None:
    text = "Café crème 1 kg"
    assert content_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert content_hash(text) != content_hash(text + " ")
    assert len(content_hash("")) == 64


# --------------------------------------------------------------------------- ProductRecord


def test_product_record_accepts_a_full_row() -> None:
    product = record(price="12.50", updated_at="2026-10-27T06:00:00Z")
    assert product.price == Decimal("12.50")
    assert product.availability is Availability.IN_STOCK
    assert product.source == "feed"
    assert product.updated_at is not None and product.updated_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "-0.01"),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("url", "ftp://shop.example/p/1"),
        ("url", "https://shop.example/a b"),
        ("id", ""),
        ("id", " "),
        ("id", "GA 1"),
        ("id", "GA-1\n"),
        ("title", ""),
        ("availability", "Maybe"),
    ],
)
def test_product_record_rejects_invalid_field(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        record(**{field: value})
    assert {err["loc"][0] for err in info.value.errors()} == {field}


def test_product_record_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="colour"):
        record(colour="red")


def test_product_record_is_frozen() -> None:
    product = record()
    with pytest.raises(ValidationError):
        product.title = "Other"


def test_attribute_values_are_coerced_to_text() -> None:
    product = record(
        attributes={
            "weight_kg": 10,
            "organic": True,
            "ratio": 1.5,
            3: "x",
            "size": ["S", "M", None],
            "n": None,
            "none": [],
        }
    )
    assert product.attributes == {
        "weight_kg": "10",
        "organic": "yes",
        "ratio": "1.5",
        "3": "x",
        "size": "S, M",
    }


@pytest.mark.parametrize("value", [{"a": 1}, [["S"], "M"], [{"a": 1}]])
def test_nested_attribute_values_are_rejected(value: object) -> None:
    with pytest.raises(ValidationError, match="attribute 'size' is a"):
        record(attributes={"size": value})


@pytest.mark.parametrize(
    ("code", "ok"), [("EUR", True), ("XCG", True), ("XYZ", False), ("XXX", False)]
)
def test_currency_must_be_a_current_iso_4217_code(code: str, ok: bool) -> None:
    if ok:
        assert record(currency=code).currency == code
    else:
        with pytest.raises(ValidationError, match="not an ISO 4217 currency code"):
            record(currency=code)


def test_metadata_of_a_record_carries_everything_but_id_and_description() -> None:
    product = record(url="https://shop.example/p/1")
    meta = ProductMetadata.of(product)
    assert meta.title == product.title
    assert meta.price == product.price
    assert meta.url == product.url
    assert meta.attributes == product.attributes
    assert "description" not in ProductMetadata.model_fields
    assert "id" not in ProductMetadata.model_fields


# --------------------------------------------------------------------------- Chunk and messages


def test_chunks_topic_message_discriminates_chunk_and_deletion() -> None:
    chunk = make_chunk(record())
    deleted = ProductDeleted(product_id="GA-1", published_at=PUBLISHED)
    assert CHUNKS_TOPIC_MESSAGE.validate_json(chunk.model_dump_json()) == chunk
    parsed = CHUNKS_TOPIC_MESSAGE.validate_json(deleted.model_dump_json())
    assert isinstance(parsed, ProductDeleted)
    assert parsed.product_id == "GA-1"
    assert deleted.schema_version == chunk.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "dead_letter", "schema_version": 1, "product_id": "GA-1"},
        {"schema_version": 1, "product_id": "GA-1"},
        {"kind": "product_deleted", "schema_version": 1},
        {"kind": "product_deleted", "schema_version": 1, "product_id": "GA-1", "extra": 1},
    ],
)
def test_chunks_topic_message_rejects_other_shapes(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CHUNKS_TOPIC_MESSAGE.validate_python(payload)


def test_chunk_requires_a_uuid_and_a_sha256() -> None:
    good = make_chunk(record()).model_dump()
    with pytest.raises(ValidationError, match="chunk_id"):
        Chunk.model_validate({**good, "chunk_id": "not-a-uuid"})
    with pytest.raises(ValidationError, match="content_hash"):
        Chunk.model_validate({**good, "content_hash": "ABC"})
    with pytest.raises(ValidationError, match="chunk_count"):
        Chunk.model_validate({**good, "chunk_count": 0})


def test_metadata_hash_follows_price_but_content_hash_does_not() -> None:
    cheap = make_chunk(record(price="6.99"))
    dear = make_chunk(record(price="7.49"))
    assert cheap.content_hash == dear.content_hash
    assert cheap.metadata_hash() != dear.metadata_hash()


def test_metadata_hash_ignores_publication_time_only() -> None:
    chunk = make_chunk(record())
    republished = chunk.model_copy(update={"published_at": PUBLISHED.replace(year=2030)})
    assert republished.metadata_hash() == chunk.metadata_hash()
    shrunk = chunk.model_copy(update={"chunk_count": 2})
    assert shrunk.metadata_hash() != chunk.metadata_hash()
    restocked = make_chunk(record(availability="OutOfStock"))
    assert restocked.metadata_hash() != chunk.metadata_hash()


def test_chunk_index_beyond_its_count_is_rejected() -> None:
    # Such a chunk is upserted and then deleted by the same batch's truncation: a silent drop.
    good = make_chunk(record(), index=0, count=2).model_dump()
    with pytest.raises(ValidationError):
        Chunk.model_validate({**good, "chunk_index": 2, "chunk_id": chunk_id("GA-1", 2)})


def test_chunk_id_must_derive_from_product_and_index() -> None:
    # A foreign id would make a second index row for the same (product, index): duplicates that
    # truncate_products (by chunk_index) never removes.
    good = make_chunk(record(), index=0, count=2).model_dump()
    with pytest.raises(ValidationError):
        Chunk.model_validate({**good, "chunk_id": str(uuid.uuid4())})


# ------------------------------------------------------------------ dead letters, JSON Schema


def test_dead_letter_round_trips_as_json() -> None:
    letter = DeadLetter(
        stage="feed",
        error_type="RowRejected",
        message="price: too low",
        source="feed:x.jsonl",
        line=3,
        payload="{}",
    )
    again = DeadLetter.model_validate_json(letter.model_dump_json())
    assert again == letter
    assert again.kind == "dead_letter"
    assert again.payload_bytes == 2


def test_dead_letter_is_bounded_whatever_it_is_given() -> None:
    letter = DeadLetter(
        stage="feed",
        error_type="RowRejected",
        message="description: too long (got " + "é" * 3_000_000 + ")",
        key="k" * 10_000,
        source="s\ud800" * 10_000,
        payload="x" * 5_000_000,
    )
    assert len(letter.message.encode()) <= DEAD_LETTER_MESSAGE_MAX_BYTES
    assert letter.message.endswith(
        f"(cut, {len(('description: too long (got ' + 'é' * 3_000_000 + ')').encode())} bytes in all)"
    )
    assert letter.payload == "x" * DEAD_LETTER_PAYLOAD_MAX_BYTES
    assert letter.payload_bytes == 5_000_000
    assert len(letter.key or "") <= 1024 and "\ud800" not in (letter.source or "")
    wire = letter.model_dump_json()
    assert len(wire.encode()) < 100_000  # far below a broker's 1 MiB default
    assert DeadLetter.model_validate_json(wire) == letter  # bounds are stable on a re-read


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checked_in_json_schema_matches_the_model(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file(), f"{path} missing: run `make schemas`"
    assert path.read_text() == render(MODELS[name]), f"{path} is stale: run `make schemas`"


def test_every_wire_model_has_a_schema_file() -> None:
    on_disk = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == set(MODELS)
    for name in MODELS:
        schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
        assert schema["additionalProperties"] is False
        assert schema["properties"], name
