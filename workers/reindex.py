"""Fill a new target from source records while the live one serves, then check it (reindex).

`freshindex reindex` (`infra.cli_reindex`) runs the prepare chain over the catalog's inputs
with the new model's tokenizer and hands the messages to a `BuildWriter`, which writes them to
the building target in batches through the worker's own `BatchIndexer` (fold, embed with the
new version, upsert, delete stale chunks), as if they came from the chunks topic.

Meanwhile workers write every update they consume to the building target too
(`workers.routing`). Those are newer than the inputs (an export taken before the build), so
the build never overwrites them: a part (product record or document) already in the target
when the build reaches it, and not written by the build itself, was written by a worker and is
left as it is (`BuildReport.newer_kept`). Deletions in the inputs are applied the same way.

`reconcile` then makes the new target hold the live target's products: products the new target
holds and the live one does not (deleted while the build ran, after the inputs were exported)
are deleted; products the live one holds and the new one lacks (not in the inputs) are
reported as missing, and the switch is refused unless allowed. With the same tokenizer, chunks
re-made from the inputs have the same ids and content hashes as the live target's; those that
differ are counted (an input that is older or newer than the topic).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from schemas.models import Chunk, DeadLetter, ProductDeleted, chunk_id
from workers.batch import Part, RawMessage
from workers.errors import Transient
from workers.index.base import VectorIndex
from workers.indexer import BatchIndexer, BatchResult
from workers.retry import WORKER_HOLD

log = logging.getLogger("freshindex.reindex")

HOLD_LIMIT_S = 600.0
"""Longest a build batch waits for Triton or the index to come back before the build fails."""

_T = TypeVar("_T")
Runner = Callable[[Coroutine[Any, Any, _T]], _T]


@dataclass(kw_only=True)
class BuildReport:
    """What the build wrote."""

    messages: int = 0
    """Chunk and deletion messages the chain produced."""
    embedded: int = 0
    written: int = 0
    deleted: int = 0
    newer_kept: int = 0
    """Parts left as a worker wrote them during the build (newer than the inputs)."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    """Rows rejected by the chain and chunks the new model or the target refused."""


@dataclass(kw_only=True)
class Reconciled:
    """The new target against the live one, after the build."""

    live_products: int = 0
    products: int = 0
    removed: list[str] = field(default_factory=list)
    """Products deleted from the new target: the live one no longer has them."""
    missing: list[str] = field(default_factory=list)
    """Products the live target holds and the inputs did not give."""
    differing_chunks: int = 0
    """Chunks of products in both whose content hash differs (only meaningful with the same
    tokenizer)."""


class BuildWriter:
    """A message sink (`ingest.producer.MessageSink`) writing to the building target."""

    def __init__(self, indexer: BatchIndexer, run: Runner[Any], *, batch_size: int) -> None:
        self.indexer = indexer
        self.run = run
        self.batch_size = batch_size
        self.report = BuildReport()
        self._pending: list[Chunk | ProductDeleted] = []
        self._built: set[Part] = set()

    def send(self, message: Chunk | ProductDeleted) -> None:
        self._pending.append(message)
        whole = (
            isinstance(message, ProductDeleted) or message.chunk_index == message.chunk_count - 1
        )
        if whole and len(self._pending) >= self.batch_size:
            self.flush()  # between whole parts only: a part is never split over two batches

    def send_dead_letter(self, letter: DeadLetter) -> None:
        self.report.dead_letters.append(letter)

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self.run(self._write(batch))

    async def _write(self, batch: list[Chunk | ProductDeleted]) -> None:
        kept = await self._not_newer(batch)
        self.report.messages += len(batch)
        if kept:
            result = await self._process(_raw(kept))
            self.report.embedded += result.embedded
            self.report.written += result.written
            self.report.deleted += result.deleted
            self.report.dead_letters += result.dead_letters
        self._built.update(_part(m) for m in kept)

    async def _process(self, messages: list[RawMessage]) -> BatchResult:
        """The batch applied; a dependency away (Triton or the index restarting) holds it and
        tries again with the worker's backoff, for up to `HOLD_LIMIT_S`."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return await self.indexer.process(messages)
            except Transient as e:
                if time.monotonic() - started > HOLD_LIMIT_S:
                    raise
                delay = WORKER_HOLD.delay(attempt)
                log.warning("build batch held (%s), retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def _not_newer(self, batch: list[Chunk | ProductDeleted]) -> list[Chunk | ProductDeleted]:
        """The messages of `batch` whose parts no worker has written since the build began: a
        part the target holds that the build did not write (a deletion of a whole product is
        probed by its record)."""
        unseen = {_part(m) for m in batch} - self._built
        probes = {chunk_id(p, 0, d): (p, d) for p, d in unseen}
        found = await asyncio.to_thread(self.indexer.index.lookup, list(probes))
        newer = {probes[c] for c in found}
        self.report.newer_kept += len(newer)
        return [m for m in batch if _part(m) not in newer]


def _part(message: Chunk | ProductDeleted) -> Part:
    return (message.product_id, message.document or "")


def _raw(messages: list[Chunk | ProductDeleted]) -> list[RawMessage]:
    return [
        RawMessage(
            topic="reindex",
            partition=0,
            offset=i,
            key=m.product_id.encode(),
            value=m.model_dump_json().encode(),
        )
        for i, m in enumerate(messages)
    ]


def products_of(index: VectorIndex) -> dict[str, dict[str, str]]:
    """product id -> {chunk id: content hash} of every chunk the target holds."""
    out: dict[str, dict[str, str]] = {}
    for cid, (product, content, _) in index.snapshot().items():
        out.setdefault(product, {})[cid] = content
    return out


def reconcile(new: VectorIndex, live: VectorIndex) -> Reconciled:
    """Make `new` hold the products `live` holds (see the module docstring). The new target is
    read first: a product a worker adds meanwhile is in both or only in the live one (then
    missing), never removed."""
    built = products_of(new)
    serving = products_of(live)
    removed = sorted(set(built) - set(serving))
    if removed:
        new.delete_stale({}, {p: set() for p in removed})
    differing = sum(
        1
        for product in set(built) & set(serving)
        for cid, content in serving[product].items()
        if built[product].get(cid) != content
    )
    return Reconciled(
        live_products=len(serving),
        products=len(set(built) - set(removed)),
        removed=removed,
        missing=sorted(set(serving) - set(built)),
        differing_chunks=differing,
    )
