"""The `VectorIndex` interface: what the worker and retrieval need from any index backend.

Implementations: `workers.index.lancedb.LanceIndex` (embedded default). The contract is shaped
for Weaviate as well: deterministic object ids (the chunk id, a uuid5), metadata stored as
properties, hybrid (BM25 + vector) search with metadata filters, delete by filter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from schemas.models import Chunk

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


@dataclass(frozen=True, kw_only=True)
class Hit:
    """A search result: the chunk's stored fields and its score."""

    chunk_id: str
    product_id: str
    score: float
    text: str
    fields: dict[str, Any]


class VectorIndex(ABC):
    """A vector index of product chunks."""

    @abstractmethod
    def lookup(self, chunk_ids: list[str]) -> dict[str, Stored]:
        """The stored content/record hashes and vectors of those of `chunk_ids` present."""

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
