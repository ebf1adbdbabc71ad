"""Apply one batch of chunk-topic messages to the index: change check, embed, write, delete.

Framework-free (the Faust agent in `workers.app` drives it), so it is unit-tested with in-process
fakes of `Embedder` and `VectorIndex`, and integration-tested against Triton and LanceDB.

For each chunk the index is asked what it holds under the chunk id:
  - same content and metadata hash: nothing to do (re-publishing an unchanged catalog costs
    no embedding and no write);
  - same content hash, other metadata (a price change): rewritten with the stored vector;
  - otherwise: embedded through Triton and written.
Then each touched part (a product's record or one of its documents) loses its chunks beyond
its new chunk count, and products deleted as a whole lose every chunk.

Chunks the model would not read whole (`workers.limits`: too many characters or tokens) are
refused before embedding, as dead letters (stage "validate"), and never stored.

Errors: rows the model refuses (`EmbeddingRejected`) and objects the index refuses
(`IndexRejected`, the others of the write are stored) become dead letters of the messages they
came from; every other classified error (`Transient`, `Terminal`) is raised for the worker loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from schemas.logs import coordinates
from schemas.models import Chunk, DeadLetter
from workers import metrics
from workers.batch import RawMessage, dead_letter, fold, key_of
from workers.embedding.base import Embedder
from workers.errors import EmbeddingRejected, IndexRejected, MessageRejected
from workers.index.base import Row, VectorIndex
from workers.limits import ChunkLimit

log = logging.getLogger("freshindex.worker")


@dataclass(kw_only=True)
class BatchResult:
    """What one batch did."""

    consumed: int = 0
    embedded: int = 0
    skipped: int = 0
    metadata_only: int = 0
    written: int = 0
    deleted: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    lookup_s: float = 0.0
    """Seconds spent asking the index what it holds (the change check)."""
    embed_s: float = 0.0
    """Seconds spent embedding."""
    write_s: float = 0.0
    """Seconds spent writing and deleting in the index."""


class BatchIndexer:
    """Processes batches of raw messages against an index and an embedder."""

    def __init__(
        self,
        index: VectorIndex,
        embedder: Embedder,
        *,
        skip_unchanged: bool = True,
        passage_prefix: str = "",
        limit: ChunkLimit | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.skip_unchanged = skip_unchanged
        self.passage_prefix = passage_prefix
        self.limit = limit
        """What the model reads whole; None: no check (unit tests of other concerns)."""

    async def process(self, messages: list[RawMessage]) -> BatchResult:
        """Apply the batch; raises `Transient` (hold and retry) and `Terminal` (stop) errors."""
        started = time.perf_counter()
        plan = fold(messages)
        result = BatchResult(consumed=plan.consumed, dead_letters=list(plan.dead_letters))
        chunks = list(plan.upserts.values())
        stored = (
            await asyncio.to_thread(self.index.lookup, [c.chunk_id for c in chunks])
            if chunks
            else {}
        )
        looked_up = time.perf_counter()
        reuse: dict[str, np.ndarray] = {}
        to_embed: list[Chunk] = []
        for chunk in chunks:
            have = stored.get(chunk.chunk_id)
            if have and self.skip_unchanged and have.record_hash == chunk.metadata_hash():
                result.skipped += 1
            elif have and self.skip_unchanged and have.content_hash == chunk.content_hash:
                reuse[chunk.chunk_id] = have.vector
            else:
                to_embed.append(chunk)
        to_embed, oversized = await self._within_limit(to_embed, plan.origins)
        result.dead_letters += oversized
        vectors, rejected = await self._embed(to_embed, plan.origins)
        result.dead_letters += rejected
        embedded = time.perf_counter()
        indexed_at = datetime.now(UTC)
        rows = [Row(chunk=c, vector=v, indexed_at=indexed_at) for c, v in vectors]
        rows += [
            Row(chunk=plan.upserts[i], vector=v, indexed_at=indexed_at) for i, v in reuse.items()
        ]
        refused = await self._upsert(rows, plan.origins)
        result.dead_letters += refused
        result.deleted = await asyncio.to_thread(
            self.index.delete_stale, plan.keep_below, plan.drop_products
        )
        result.embedded, result.metadata_only = len(vectors), len(reuse)
        result.written = len(rows) - len(refused)
        result.lookup_s, result.embed_s = looked_up - started, embedded - looked_up
        result.write_s = time.perf_counter() - embedded
        self._observe(result, chunks, indexed_at, time.perf_counter() - started)
        return result

    async def _within_limit(
        self, chunks: list[Chunk], origins: dict[str, RawMessage]
    ) -> tuple[list[Chunk], list[DeadLetter]]:
        """The chunks the model reads whole; the others become dead letters (stage "validate")."""
        if self.limit is None or not chunks:
            return chunks, []
        refusals = await asyncio.to_thread(self.limit.refusals, chunks)
        letters = []
        for chunk_id, reason in refusals.items():
            origin = origins[chunk_id]
            log.error(
                "chunk %s refused at %s[%s]@%s: %s",
                chunk_id,
                origin.topic,
                origin.partition,
                origin.offset,
                reason,
                extra=_where(origin, chunk_id),
            )
            letters.append(dead_letter(origin, MessageRejected("validate", reason), "validate"))
        return [c for c in chunks if c.chunk_id not in refusals], letters

    async def _upsert(self, rows: list[Row], origins: dict[str, RawMessage]) -> list[DeadLetter]:
        """Write `rows`; the objects the index refuses become dead letters (stage "index")."""
        try:
            await asyncio.to_thread(self.index.upsert, rows)
        except IndexRejected as e:
            letters = []
            for chunk_id, reason in e.reasons.items():
                origin = origins.get(chunk_id)
                if origin is None:  # not one of ours: nothing to dead-letter, but say so
                    log.error(
                        "index refused unknown object %s: %s",
                        chunk_id,
                        reason,
                        extra=coordinates(chunk_id=chunk_id),
                    )
                    continue
                log.error(
                    "index refused chunk %s at %s[%s]@%s: %s",
                    chunk_id,
                    origin.topic,
                    origin.partition,
                    origin.offset,
                    reason,
                    extra=_where(origin, chunk_id),
                )
                letter = dead_letter(origin, e, "index")
                letters.append(letter.model_copy(update={"message": reason}))
            return letters
        return []

    async def _embed(
        self, chunks: list[Chunk], origins: dict[str, RawMessage]
    ) -> tuple[list[tuple[Chunk, np.ndarray]], list[DeadLetter]]:
        """Vectors of `chunks`; if Triton rejects a request, find the rows it rejects one by one."""
        if not chunks:
            return [], []
        try:
            vectors = await self.embedder.embed([self.passage_prefix + c.text for c in chunks])
            return list(zip(chunks, vectors, strict=True)), []
        except EmbeddingRejected as e:
            if len(chunks) == 1:
                chunk = chunks[0]
                log.error(
                    "embedding rejected chunk %s of product %s: %s",
                    chunk.chunk_id,
                    chunk.product_id,
                    e,
                    extra=_where(origins[chunk.chunk_id], chunk.chunk_id),
                )
                return [], [dead_letter(origins[chunk.chunk_id], e, "embed")]
        good: list[tuple[Chunk, np.ndarray]] = []
        letters: list[DeadLetter] = []
        for chunk in chunks:  # find the rows the model refuses, one by one
            embedded, rejected = await self._embed([chunk], origins)
            good += embedded
            letters += rejected
        return good, letters

    @staticmethod
    def _observe(
        result: BatchResult, chunks: list[Chunk], indexed_at: datetime, seconds: float
    ) -> None:
        metrics.CONSUMED.inc(result.consumed)
        metrics.BATCH_SIZE.observe(result.consumed)
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.EMBEDDED.inc(result.embedded)
        metrics.SKIPPED_UNCHANGED.inc(result.skipped)
        metrics.METADATA_ONLY.inc(result.metadata_only)
        metrics.WRITTEN.inc(result.written)
        metrics.DELETED.inc(result.deleted)
        for letter in result.dead_letters:
            metrics.DEAD_LETTERED.labels(stage=letter.stage).inc()
        for chunk in chunks:
            metrics.FRESHNESS.observe(max(0.0, (indexed_at - chunk.published_at).total_seconds()))


def _where(origin: RawMessage, chunk_id: str) -> dict[str, object]:
    """Log fields of a chunk's problem: its message's coordinates, product and chunk id."""
    return coordinates(
        origin.topic, origin.partition, origin.offset, product_id=key_of(origin), chunk_id=chunk_id
    )
