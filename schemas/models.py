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

SCHEMA_VERSION = 2
"""Version of the message format written by this code. Version 2 added `document` (chunks and
deletions of a product's documents); version 1 messages are read as the product's own chunks."""
READABLE_SCHEMA_VERSIONS = frozenset({1, 2})
"""Versions a consumer reads; it dead-letters messages of any other version."""

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


def describe_errors(
    error: ValidationError, *, subject: str, show_input: bool = False, limit: int | None = None
) -> str:
    """A validation error as one readable line: `field: problem; ...` (`subject` names the whole
    value when an error has no field), optionally with the offending input and a cap."""
    parts = []
    for err in error.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or subject
        shown = f" (got {err['input']!r})" if show_input and err["type"] != "missing" else ""
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
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
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
    """ISO 4217 currency code."""
    availability: Availability | None = None
    """schema.org availability name."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Key attributes (weight, size, NPK, variety...) as text."""
    updated_at: datetime | None = None
    """When the source last changed the product."""

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_values_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}
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
    """The original payload as text (bytes decoded with replacement, truncated to 64 KiB)."""
