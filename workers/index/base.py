"""The `VectorIndex` interface: what the worker and retrieval need from any index backend.

Implementations: `workers.index.lancedb.LanceIndex` (embedded default, a folder) and
`workers.index.weaviate.WeaviateIndex` (production: a Weaviate server). Both keep deterministic
object ids (the chunk id, a uuid5), metadata as properties/columns, delete by filter, and three
reads with metadata filters: BM25-only (`bm25`) and vector-only (`nearest`) candidates with their
raw scores, which retrieval fuses itself (`workers.retrieval`), and the backend's own hybrid
`search`; `product` reads one product's chunks. Every method raises only the classified errors
of `workers.errors`: `IndexUnavailable` (transient), `IndexMisconfigured` (terminal),
`IndexRejected` (these objects), so the worker loop decides by type.

An index handle opens one *target* (a LanceDB table, a Weaviate collection), which records the
model that filled it (`workers.embedding.identity.ModelIdentity`): `bind_model` records it in a
new target and refuses another model (`ModelMismatch`) in a filled one. Which target serves an
index name, and which one a reindex is building, is `workers.index.targets`' business.
"""

from __future__ import annotations

import json
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from schemas.models import Chunk
from workers.embedding.identity import ModelIdentity, check_same, stock_fingerprint
from workers.index import terms

log = logging.getLogger("freshindex.index")

FILTERABLE = (
    "product_id",
    "document",
    "brand",
    "category",
    "availability",
    "currency",
    "source",
    "section",
    "price",
)
"""Fields a search filter may name."""
OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
"""Operators a search filter may use."""
NUMERIC = frozenset({"price"})
"""Filterable fields compared as numbers."""


@dataclass(frozen=True, kw_only=True)
class Stored:
    """What the index holds of a chunk, for the change check."""

    chunk_id: str
    content_hash: str
    record_hash: str
    vector: np.ndarray


@dataclass(frozen=True, kw_only=True)
class Row:
    """One chunk to write: the record, its vector and when it became searchable."""

    chunk: Chunk
    vector: np.ndarray
    indexed_at: datetime


@dataclass(frozen=True, kw_only=True)
class Filter:
    """`field op value` on a metadata field (op: = != < <= > >=)."""

    field: str
    op: str
    value: str


def filter_value(f: Filter) -> str | float:
    """The value of a filter, typed for its field (a finite float for numeric fields); raises
    ValueError on an unknown field or operator, or a number that is not a finite number. Every
    backend validates through this, so a filter means the same on each."""
    if f.field not in FILTERABLE:
        raise ValueError(
            f"cannot filter on {f.field!r}: filterable fields are {', '.join(FILTERABLE)}"
        )
    if f.op not in OPERATORS:
        raise ValueError(f"unknown operator {f.op!r}: use one of {' '.join(sorted(OPERATORS))}")
    if f.field not in NUMERIC:
        return f.value
    try:
        number = float(f.value)
    except ValueError as e:
        raise ValueError(f"{f.field} needs a number, got {f.value!r}") from e
    if not math.isfinite(number):
        raise ValueError(f"{f.field} needs a finite number, got {f.value!r}")
    return number


@dataclass(frozen=True, kw_only=True)
class IndexedChunk:
    """A chunk as the index holds it: its id, product, text and stored fields (metadata of the
    chunk and its product, `attributes` decoded; no vector, no record hash)."""

    chunk_id: str
    product_id: str
    text: str
    fields: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Hit(IndexedChunk):
    """A search result: the chunk and its score. From `search` a fused hybrid score; from `bm25`
    the raw BM25 score; from `nearest` the cosine similarity to the query vector (1 - cosine
    distance, the same on every backend). Higher is better."""

    score: float


def row_properties(row: Row) -> dict[str, Any]:
    """The stored fields of a chunk (everything but its id and vector), the same in every
    backend: metadata of the chunk and of its product, the hashes of the change check, times."""
    c, p = row.chunk, row.chunk.product
    return {
        "product_id": c.product_id,
        "document": c.document,
        "chunk_index": c.chunk_index,
        "chunk_count": c.chunk_count,
        "text": c.text,
        "search_text": terms.search_text(c.text),
        "section": c.section,
        "token_count": c.token_count,
        "content_hash": c.content_hash,
        "record_hash": c.metadata_hash(),
        "title": p.title,
        "source": p.source,
        "url": p.url,
        "brand": p.brand,
        "category": p.category,
        "price": float(p.price) if p.price is not None else None,
        "price_text": str(p.price) if p.price is not None else None,
        "currency": p.currency,
        "availability": p.availability.value if p.availability else None,
        "attributes": json.dumps(p.attributes, sort_keys=True, ensure_ascii=False),
        "updated_at": p.updated_at,
        "published_at": c.published_at,
        "indexed_at": row.indexed_at,
    }


class VectorIndex(ABC):
    """A vector index of product chunks (one target: a table or a collection)."""

    target: str = ""
    """The table or collection this handle reads and writes."""
    model: ModelIdentity | None = None
    """The model bound to this handle (`bind_model`); None: not checked (tools, tests)."""

    def recorded_model(self) -> ModelIdentity | None:
        """The model the target records (None: none recorded). Default: the bound one."""
        return self.model

    def record_model(self, identity: ModelIdentity) -> None:
        """Record `identity` in the target (a writer, once, in a new target). Default: bind."""
        self.model = identity

    def bind_model(self, wanted: ModelIdentity, *, record: bool = True) -> ModelIdentity:
        """Use this target with the model `wanted` only: raise `ModelMismatch` naming both when
        the target records another; record `wanted` in a target that records none (with
        `record`; a reader records nothing). A target holding rows but no record was written
        before freshindex recorded models, by the stock model: it is taken as such."""
        recorded = self.recorded_model()
        if recorded is None and self.count() > 0:
            recorded = ModelIdentity(
                name=wanted.name,
                version=1,
                dimension=self.width(),
                fingerprint=stock_fingerprint(),
            )
            log.warning(
                "%s records no model (written before freshindex recorded models):"
                " taken as the stock model %s",
                self.target,
                recorded.describe(),
            )
        if recorded is not None:
            check_same(recorded, wanted, index=repr(self.target))
        if record and self.recorded_model() is None:
            self.record_model(wanted)
        self.model = wanted
        return wanted

    def width(self) -> int:
        """Length of the vectors the target holds (default: the bound model's)."""
        return self.model.dimension if self.model else 0

    @abstractmethod
    def lookup(self, chunk_ids: list[str]) -> dict[str, Stored]:
        """The stored content/record hashes and vectors of those of `chunk_ids` present."""

    def record_hashes(self, chunk_ids: list[str]) -> dict[str, str]:
        """Of these chunk ids, those the index holds, with the record hash it holds for each (a
        publisher's unchanged check, `ingest.unchanged`: no vectors read)."""
        return {c: s.record_hash for c, s in self.lookup(chunk_ids).items()}

    @abstractmethod
    def upsert(self, rows: list[Row]) -> None:
        """Insert or replace rows by chunk id (idempotent)."""

    @abstractmethod
    def delete_stale(
        self, keep_below: dict[tuple[str, str], int], drop_products: dict[str, set[str]]
    ) -> int:
        """Delete, per (product id, document) part, its chunks with chunk_index >= the value,
        and every chunk of each product in `drop_products` except those of the documents it
        names; returns rows deleted."""

    @abstractmethod
    def search(self, text: str, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        """Hybrid BM25 + vector search over the live index."""

    @abstractmethod
    def bm25(self, text: str, *, k: int, filters: list[Filter]) -> list[Hit]:
        """BM25 full-text candidates: `terms.search_query(text)` over each chunk's `search_text`
        (its analysed words and quantities, `workers.index.terms`): the best `k` matching
        `filters`, best first, each with its raw BM25 score (no hit when no word of `text` is
        indexed)."""

    @abstractmethod
    def nearest(self, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        """Vector candidates: the `k` chunks matching `filters` nearest to `vector` by cosine,
        best first, each scored by its cosine similarity."""

    @abstractmethod
    def product(self, product_id: str) -> list[IndexedChunk]:
        """Every chunk of a product, by (document, chunk index); empty if none is indexed."""

    @abstractmethod
    def count(self) -> int:
        """Rows (chunks) in the index."""

    @abstractmethod
    def freshness(self, since: datetime) -> list[float]:
        """indexed_at - published_at, in seconds, of chunks written since `since`."""

    @abstractmethod
    def snapshot(self) -> dict[str, tuple[str, str, int]]:
        """chunk_id -> (product_id, content_hash, chunk_index) of every row (tests, audits)."""

    def maintain(self) -> None:  # noqa: B027 - optional hook
        """Periodic housekeeping (compaction, index refresh). Default: nothing."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Default: nothing."""
