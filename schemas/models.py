"""The wire contract: every record that crosses Kafka, defined once for producers and consumers.

Records are frozen pydantic models, validated where they are serialized. Messages on the chunks
topic are either a `Chunk` or a `ProductDeleted`, told apart by `kind`; both carry
`schema_version` and `published_at`. The dead-letter topic carries `DeadLetter`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.currencies import ISO_4217

SCHEMA_VERSION = 2
"""Version of the message format written by this code. Version 2 added `document` (chunks and
deletions of a product's documents); version 1 messages are read as the product's own chunks."""
READABLE_SCHEMA_VERSIONS = frozenset({1, 2})
"""Versions a consumer reads; it dead-letters messages of any other version."""

DEAD_LETTER_MESSAGE_MAX_BYTES = 4096
"""Most bytes of a dead letter's `message` (a longer reason is cut, saying so)."""
DEAD_LETTER_PAYLOAD_MAX_BYTES = 65_536
"""Most bytes of a dead letter's `payload` (its whole size is in `payload_bytes`)."""
DEAD_LETTER_FIELD_MAX_BYTES = 1024
"""Most bytes of a dead letter's other text fields (stage, error type, key, source). With these
bounds a dead letter is at most ~0.5 MiB of JSON even if every character needs an escape, so it
always fits the broker's default 1 MiB message size."""
_INPUT_PREVIEW_CHARS = 120
ATTRIBUTES_MAX = 256
"""Most attributes of a product."""
ATTRIBUTE_NAME_MAX_CHARS = 200
ATTRIBUTE_VALUE_MAX_CHARS = 2000
ATTRIBUTES_MAX_CHARS = 16_384
"""Most characters of all attribute names and values together: every chunk carries them, so
this bounds a chunk message (well below a broker's 1 MiB) whatever the feed sends."""

CHUNK_NAMESPACE = uuid.UUID("5b0f3a55-7f1e-4b8e-9a0c-2f7a3c1d9e41")
"""uuid5 namespace of chunk ids: stable forever, or a replay would duplicate the index."""


def chunk_id(product_id: str, chunk_index: int, document: str = "") -> str:
    """Deterministic id of chunk `chunk_index` of `product_id`'s record, or of one of its
    documents (a replay overwrites, never adds)."""
    name = (
        f"{product_id}\x1f{document}\x1f{chunk_index}"
        if document
        else f"{product_id}\x1f{chunk_index}"
    )
    return str(uuid.uuid5(CHUNK_NAMESPACE, name))


def content_hash(text: str) -> str:
    """Hash of the text that is embedded: equal hash, equal vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bounded_text(text: str, max_bytes: int) -> str:
    """`text` as valid UTF-8 of at most `max_bytes` bytes: cut at a character boundary, lone
    surrogates (which cannot be encoded) replaced by `?`."""
    data = text.encode("utf-8", errors="replace")
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _preview(value: object) -> str:
    """The repr of an offending input, cut to a readable length (a 5 MB value stays out)."""
    shown = repr(value) if not isinstance(value, str) else repr(value[: _INPUT_PREVIEW_CHARS + 1])
    if len(shown) > _INPUT_PREVIEW_CHARS:
        size = f", {len(value)} characters" if isinstance(value, str) else ""
        return f"{shown[:_INPUT_PREVIEW_CHARS]}…{size}"
    return shown


def render_attribute(value: object) -> str | None:
    """An attribute value as a reader would write it: text as is, a number as its digits, a
    boolean as `yes`/`no`, a list as its items joined by `, `; None (or an empty list) means no
    value (the attribute is left out). Raises ValueError for a nested object or list."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list):
        if any(isinstance(item, list | dict) for item in value):
            raise ValueError("a list inside a list: give text or a list of text")
        items = [text for item in value if (text := render_attribute(item))]
        return ", ".join(items) if items else None
    if isinstance(value, dict):
        raise ValueError("a nested object: give text or a list of text")
    raise ValueError(f"a {type(value).__name__}: give text or a list of text")


def describe_errors(
    error: ValidationError, *, subject: str, show_input: bool = False, limit: int | None = None
) -> str:
    """A validation error as one readable line: `field: problem; ...` (`subject` names the whole
    value when an error has no field), optionally with the offending input (its start only) and a
    cap."""
    parts = []
    for err in error.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or subject
        shown = (
            f" (got {_preview(err['input'])})" if show_input and err["type"] != "missing" else ""
        )
        parts.append(f"{where}: {err['msg']}{shown}")
    if limit is not None and len(parts) > limit:
        return "; ".join(parts[:limit]) + f" (+{len(parts) - limit} more)"
    return "; ".join(parts)


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Availability(StrEnum):
    """schema.org ItemAvailability names."""

    IN_STOCK = "InStock"
    OUT_OF_STOCK = "OutOfStock"
    PRE_ORDER = "PreOrder"
    BACK_ORDER = "BackOrder"
    LIMITED_AVAILABILITY = "LimitedAvailability"
    SOLD_OUT = "SoldOut"
    DISCONTINUED = "Discontinued"
    IN_STORE_ONLY = "InStoreOnly"
    ONLINE_ONLY = "OnlineOnly"


ProductId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f]+$")]
DocumentId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]


class ProductRecord(_Frozen):
    """One product as a source (feed, crawl, document) hands it to the prepare chain."""

    id: ProductId
    """Catalog id of the product; the Kafka key and the index's product key."""
    source: str = "feed"
    """Where the record came from (`feed:catalog.jsonl`, `crawl:shop.example`, ...)."""
    url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://\S+$")
    """Product page, if any."""
    title: str = Field(min_length=1, max_length=1000)
    """Product title (cleaned text)."""
    description: str = Field(default="", max_length=200_000)
    """Description (cleaned text, paragraphs separated by blank lines)."""
    brand: str | None = Field(default=None, max_length=200)
    """Brand or manufacturer."""
    category: str | None = Field(default=None, max_length=500)
    """Category path or name."""
    price: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=4)
    """Price as a decimal (dot separator, no currency sign)."""
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """ISO 4217 currency code (a current one: `schemas.currencies`)."""
    availability: Availability | None = None
    """schema.org availability name."""
    attributes: dict[str, str] = Field(default_factory=dict, max_length=ATTRIBUTES_MAX)
    """Key attributes (weight, size, NPK, variety...) as text; a source may give numbers,
    booleans (`yes`/`no`) and lists (`S, M`), and None leaves the attribute out
    (`render_attribute`); a nested object is rejected. At most `ATTRIBUTES_MAX` (256), a name
    of at most 200 characters, a value of at most 2,000, and 16,384 characters in all."""
    updated_at: datetime | None = None
    """When the source last changed the product."""

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str | None) -> str | None:
        if value is not None and value not in ISO_4217:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_values_as_text(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, str] = {}
        for key, item in value.items():
            try:
                text = render_attribute(item)
            except ValueError as e:
                raise ValueError(f"attribute {str(key)!r} is {e}") from e
            if text is not None:
                out[str(key)] = text
        return out

    @field_validator("attributes")
    @classmethod
    def _attributes_bounded(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if len(name) > ATTRIBUTE_NAME_MAX_CHARS:
                raise ValueError(
                    f"attribute name {_preview(name)} is over {ATTRIBUTE_NAME_MAX_CHARS} characters"
                )
            if len(text) > ATTRIBUTE_VALUE_MAX_CHARS:
                raise ValueError(
                    f"attribute {_preview(name)} is over {ATTRIBUTE_VALUE_MAX_CHARS} characters"
                )
        total = sum(len(name) + len(text) for name, text in value.items())
        if total > ATTRIBUTES_MAX_CHARS:
            raise ValueError(
                f"attributes are {total} characters in all, over {ATTRIBUTES_MAX_CHARS}"
            )
        return value


class ProductMetadata(_Frozen):
    """The product fields every chunk carries into the index (filterable, shown in results)."""

    title: str
    """Product title."""
    source: str
    """Where the product came from."""
    url: str | None = None
    """Product page."""
    brand: str | None = None
    """Brand."""
    category: str | None = None
    """Category."""
    price: Decimal | None = None
    """Price (decimal)."""
    currency: str | None = None
    """ISO 4217 currency code."""
    availability: Availability | None = None
    """schema.org availability name."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Key attributes."""
    updated_at: datetime | None = None
    """When the source last changed the product."""

    @classmethod
    def of(cls, record: ProductRecord) -> ProductMetadata:
        return cls(**record.model_dump(exclude={"id", "description"}))


class Chunk(_Frozen):
    """One embeddable piece of a product; a product update is the full set of its chunks."""

    kind: Literal["chunk"] = "chunk"
    """Message discriminator."""
    schema_version: int = SCHEMA_VERSION
    """Version of this message format."""
    published_at: datetime = Field(default_factory=utcnow)
    """When the producer published the message (freshness starts here)."""
    chunk_id: str
    """uuid5 of product id (+ document) + chunk index: the index object id."""
    product_id: ProductId
    """Product this chunk belongs to (the Kafka key)."""
    document: str = Field(default="", max_length=200, pattern=r"^[^\x00-\x1f]*$")
    """Document of the product this chunk comes from (a manual, a data sheet); empty for the
    product's own record. The record and each document are replaced independently."""
    chunk_index: int = Field(ge=0)
    """Position of the chunk within the product's record (or within the document), from 0."""
    chunk_count: int = Field(ge=1)
    """Number of chunks of the record (or document) in this update: those beyond are stale."""
    text: str = Field(min_length=1)
    """The text that is embedded (with its title/section context)."""
    section: str
    """Which part of the product the text comes from (`overview`, `description`, ...)."""
    token_count: int = Field(ge=1)
    """Length of `text` in the embedding model's tokens (special tokens included)."""
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of `text`: an unchanged hash needs no new embedding."""
    product: ProductMetadata
    """The product's metadata, stored beside the vector."""

    @field_validator("chunk_id")
    @classmethod
    def _chunk_id_is_uuid(cls, value: str) -> str:
        uuid.UUID(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Chunk:
        if self.chunk_index >= self.chunk_count:
            raise ValueError(
                f"chunk_index {self.chunk_index} is not below chunk_count {self.chunk_count}"
            )
        if self.chunk_id != chunk_id(self.product_id, self.chunk_index, self.document):
            raise ValueError(
                "chunk_id is not uuid5(product_id, document, chunk_index):"
                " a foreign id would duplicate index rows"
            )
        return self

    def metadata_hash(self) -> str:
        """Hash of everything the index stores for this chunk except its timestamps."""
        body = self.model_dump_json(include={"chunk_count", "section", "token_count", "product"})
        return hashlib.sha256(f"{self.content_hash}\x1f{body}".encode()).hexdigest()


class ProductDeleted(_Frozen):
    """Tombstone: every chunk of the product (its record and its documents) leaves the index,
    or, with `document`, only that document's chunks."""

    kind: Literal["product_deleted"] = "product_deleted"
    """Message discriminator."""
    schema_version: int = SCHEMA_VERSION
    """Version of this message format."""
    published_at: datetime = Field(default_factory=utcnow)
    """When the producer published the message."""
    product_id: ProductId
    """Product to delete (the Kafka key)."""
    document: DocumentId | None = None
    """Only this document of the product; None deletes the product and all its documents."""


ChunksTopicMessage = Annotated[Chunk | ProductDeleted, Field(discriminator="kind")]
"""A message of the chunks topic."""

CHUNKS_TOPIC_MESSAGE: TypeAdapter[Chunk | ProductDeleted] = TypeAdapter(ChunksTopicMessage)


class DeadLetter(_Frozen):
    """A record that could not be processed, with the reason and where it came from."""

    kind: Literal["dead_letter"] = "dead_letter"
    """Message discriminator."""
    schema_version: int = SCHEMA_VERSION
    """Version of this message format."""
    published_at: datetime = Field(default_factory=utcnow)
    """When the dead letter was written."""
    stage: str
    """Where it failed: `feed`, `decode`, `validate`, `embed`, `index`."""
    error_type: str
    """Exception class name."""
    message: str
    """Human-readable reason."""
    topic: str | None = None
    """Topic of the failed message (None for records rejected before Kafka)."""
    partition: int | None = None
    """Partition of the failed message."""
    offset: int | None = None
    """Offset of the failed message."""
    key: str | None = None
    """Kafka key (product id) of the failed message, if readable."""
    source: str | None = None
    """Input file or URL of a record rejected before Kafka."""
    line: int | None = None
    """Line (1-based) of a rejected feed row."""
    payload: str
    """The original payload as text (bytes decoded with replacement), at most its first 64 KiB
    (`DEAD_LETTER_PAYLOAD_MAX_BYTES`)."""
    payload_bytes: int | None = Field(default=None, ge=0)
    """Size of the whole original payload in bytes (larger than `payload` when it was cut);
    None in dead letters written before it was recorded."""

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        """Every text field cut to its bound, so a dead letter is always deliverable: the
        reason says it was cut, the payload's whole size is kept in `payload_bytes`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        payload = data.get("payload")
        if isinstance(payload, str):
            if data.get("payload_bytes") is None:
                data["payload_bytes"] = len(payload.encode("utf-8", errors="replace"))
            data["payload"] = bounded_text(payload, DEAD_LETTER_PAYLOAD_MAX_BYTES)
        message = data.get("message")
        if isinstance(message, str):
            data["message"] = _bounded_message(message)
        for name in ("stage", "error_type", "key", "source"):
            if isinstance(data.get(name), str):
                data[name] = bounded_text(data[name], DEAD_LETTER_FIELD_MAX_BYTES)
        return data


def _bounded_message(message: str) -> str:
    """A reason within `DEAD_LETTER_MESSAGE_MAX_BYTES`, ending in how long it was when cut."""
    size = len(message.encode("utf-8", errors="replace"))
    if size <= DEAD_LETTER_MESSAGE_MAX_BYTES:
        return bounded_text(message, DEAD_LETTER_MESSAGE_MAX_BYTES)
    tail = f"… (cut, {size} bytes in all)"
    room = DEAD_LETTER_MESSAGE_MAX_BYTES - len(tail.encode("utf-8"))
    return bounded_text(message, room) + tail
