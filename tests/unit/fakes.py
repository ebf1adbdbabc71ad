"""In-process fakes implementing the real interfaces, and small builders shared by unit tests.

- `HashEmbedder` implements `workers.embedding.base.Embedder`: a deterministic, L2-normalised
  vector per text (from its sha256), every call recorded; it can be told to reject texts
  containing a marker (`EmbeddingRejected`) or to be down (`EmbeddingUnavailable`).
- `FaultyIndex` implements `workers.index.base.VectorIndex` over a real index and fails as it is
  told: every call raises a scripted error for a while (`IndexUnavailable`: an outage,
  `IndexMisconfigured`), or it refuses rows whose text contains a marker (`IndexRejected`, after
  writing the others, as Weaviate's batch does).
- `MemorySink` implements `ingest.producer.MessageSink`: keeps what was sent, in order.
- `raw_messages` turns wire records into `RawMessage`s as the worker consumes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.models import Chunk, DeadLetter, ProductDeleted, ProductRecord, chunk_id
from workers.batch import RawMessage
from workers.errors import EmbeddingRejected, EmbeddingUnavailable, IndexRejected
from workers.index.base import Filter, Hit, IndexedChunk, Row, Stored, VectorIndex

TOPIC = "freshindex.chunks"
PUBLISHED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(product_id: str = "GA-1", **fields: Any) -> ProductRecord:
    """A valid product; any field can be overridden."""
    values: dict[str, Any] = {
        "id": product_id,
        "title": "Tomato Feed 1 L",
        "description": "A liquid feed for tomatoes. Dilute before use.",
        "brand": "Terravita",
        "category": "Fertilisers",
        "price": "6.99",
        "currency": "EUR",
        "availability": "InStock",
        "attributes": {"volume": "1 L", "npk": "4-2-8"},
    }
    values.update(fields)
    return ProductRecord.model_validate(values)


def text_vector(text: str, dim: int) -> npt.NDArray[np.float32]:
    """Deterministic unit vector of `text` (the same text always gives the same vector)."""
    digest = b""
    counter = 0
    while len(digest) < 4 * dim:
        digest += hashlib.sha256(f"{counter}\x1f{text}".encode()).digest()
        counter += 1
    raw = np.frombuffer(digest[: 4 * dim], dtype=np.uint32).astype(np.float64)
    vector = raw / np.iinfo(np.uint32).max - 0.5
    return (vector / np.linalg.norm(vector)).astype(np.float32)


@dataclass
class HashEmbedder:
    """`Embedder` whose vectors are a hash of the text."""

    dim: int = 8
    reject_marker: str | None = None
    unavailable: bool = False
    calls: list[list[str]] = field(default_factory=list)
    closed: bool = False

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        if self.unavailable:
            raise EmbeddingUnavailable("fake Triton is down")
        if self.reject_marker is not None and any(self.reject_marker in t for t in texts):
            raise EmbeddingRejected(f"fake Triton rejects texts containing {self.reject_marker!r}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([text_vector(t, self.dim) for t in texts])

    async def ready(self) -> None:
        if self.unavailable:
            raise EmbeddingUnavailable("fake Triton is down")

    async def close(self) -> None:
        self.closed = True

    @property
    def texts_embedded(self) -> list[str]:
        return [t for call in self.calls for t in call]


class FaultyIndex(VectorIndex):
    """A real `VectorIndex` that fails as told; `calls` records each method called, in order."""

    def __init__(
        self,
        inner: VectorIndex,
        *,
        errors: Sequence[Exception] = (),
        refuse_marker: str | None = None,
    ) -> None:
        self.inner = inner
        self.errors = list(errors)
        """Raised by the next calls, one each, before the index works again."""
        self.refuse_marker = refuse_marker
        self.calls: list[str] = []

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        if self.errors:
            raise self.errors.pop(0)

    def lookup(self, chunk_ids: list[str]) -> dict[str, Stored]:
        self._enter("lookup")
        return self.inner.lookup(chunk_ids)

    def upsert(self, rows: list[Row]) -> None:
        self._enter("upsert")
        marker = self.refuse_marker
        refused = {
            r.chunk.chunk_id: f"property text refused: contains {marker!r}"
            for r in rows
            if marker is not None and marker in r.chunk.text
        }
        self.inner.upsert([r for r in rows if r.chunk.chunk_id not in refused])
        if refused:
            raise IndexRejected(refused)

    def delete_stale(
        self, keep_below: dict[tuple[str, str], int], drop_products: dict[str, set[str]]
    ) -> int:
        self._enter("delete_stale")
        return self.inner.delete_stale(keep_below, drop_products)

    def search(
        self, text: str, vector: npt.NDArray[np.float32], *, k: int, filters: list[Filter]
    ) -> list[Hit]:
        self._enter("search")
        return self.inner.search(text, vector, k=k, filters=filters)

    def bm25(self, text: str, *, k: int, filters: list[Filter]) -> list[Hit]:
        self._enter("bm25")
        return self.inner.bm25(text, k=k, filters=filters)

    def nearest(
        self, vector: npt.NDArray[np.float32], *, k: int, filters: list[Filter]
    ) -> list[Hit]:
        self._enter("nearest")
        return self.inner.nearest(vector, k=k, filters=filters)

    def product(self, product_id: str) -> list[IndexedChunk]:
        self._enter("product")
        return self.inner.product(product_id)

    def count(self) -> int:
        self._enter("count")
        return self.inner.count()

    def freshness(self, since: datetime) -> list[float]:
        self._enter("freshness")
        return self.inner.freshness(since)

    def snapshot(self) -> dict[str, tuple[str, str, int]]:
        return self.inner.snapshot()


@dataclass
class MemorySink:
    """`MessageSink` that keeps every message in memory."""

    messages: list[Chunk | ProductDeleted] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    flushes: int = 0

    def send(self, message: Chunk | ProductDeleted) -> None:
        self.messages.append(message)

    def send_dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.append(letter)

    def flush(self) -> None:
        self.flushes += 1

    @property
    def chunks(self) -> list[Chunk]:
        return [m for m in self.messages if isinstance(m, Chunk)]


def raw_message(
    record: Chunk | ProductDeleted, offset: int, *, partition: int = 0, key: str | None = None
) -> RawMessage:
    """A consumed message carrying `record` as JSON, keyed by its product id (or `key`)."""
    return RawMessage(
        topic=TOPIC,
        partition=partition,
        offset=offset,
        key=(key if key is not None else record.product_id).encode(),
        value=record.model_dump_json().encode(),
    )


def raw_messages(records: Iterable[Chunk | ProductDeleted], *, start: int = 0) -> list[RawMessage]:
    """Consecutive offsets from `start`, all in partition 0."""
    return [raw_message(r, start + i) for i, r in enumerate(records)]


def split_at(items: Sequence[RawMessage], cuts: Iterable[int]) -> list[list[RawMessage]]:
    """`items` cut into consecutive batches at the given positions."""
    bounds = [0, *sorted(set(cuts)), len(items)]
    return [list(items[a:b]) for a, b in pairwise(bounds) if b > a]


def as_document(chunks: list[Chunk], document: str) -> list[Chunk]:
    """The same chunks as chunks of `document` of their product (ids recomputed)."""
    return [
        c.model_copy(
            update={
                "document": document,
                "chunk_id": chunk_id(c.product_id, c.chunk_index, document),
            }
        )
        for c in chunks
    ]
