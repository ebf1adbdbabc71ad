"""The prepare chain: what gets indexed, what is dropped, and why, for every kind of input.

    feed row / saved page ──> garbage filter ──> dedup ──> chunk ──> Prepared
    deletion row          ──> dedup.forget ──────────────────────> Deletion
    document (manifest)   ──> parse ──> garbage filter per element ──> chunk ──> PreparedDocument
    anything that fails   ──> Rejected (where, reason)

`freshindex publish` / `crawl` / `publish-docs` send what it prepares to Kafka
(`ingest.publish`); `freshindex prepare` writes it to a file with a report and sends nothing.
The same code decides in both, so a prepare report is what a publish would do.

Every input item ends in exactly one of: prepared (kept), deletion, duplicate, rejected,
superseded (a later row of the same input names the same product id and wins); text that is
dropped from a kept item (a placeholder description, a garbage paragraph of a document) is
reported too. `PrepareReport` counts them; nothing is dropped silently. An input that fails as
a whole (cannot be read, or an error stops it) is one rejected item marked `input_error`
(`reported`), so the items before it stay counted and the other inputs go on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from ingest.core.items import Accepted, Deleted, Location, Rejected, SourceItem
from ingest.documents import DocumentElement, DocumentError, DocumentSpec, parse_document
from ingest.errors import IngestError
from ingest.prepare.chunk import Block, Chunker
from ingest.prepare.dedup import Deduplicator
from ingest.prepare.quality import DESCRIPTION, ELEMENT, TABLE, TITLE, garbage_reason
from schemas.models import Chunk, ProductMetadata, utcnow


@dataclass(frozen=True, kw_only=True)
class DroppedText:
    """Text left out of a kept item, with the reason."""

    id: str
    """Product id (`product/document` for a document's element)."""
    field: str
    """`description`, or `element N (kind)` of a document."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A product record kept: its chunks."""

    at: Location
    """Where the record was read."""
    chunks: list[Chunk]
    dropped: list[DroppedText] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Deletion:
    """A deletion row: the product leaves the index."""

    at: Location
    """Where the deletion was read."""
    product_id: str


@dataclass(frozen=True, kw_only=True)
class Duplicate:
    """A record not indexed because another product already is."""

    at: Location
    """Where the record was read."""
    product_id: str
    duplicate_of: str
    similarity: float
    kind: str
    """`exact` or `near`."""
    was_indexed: bool
    """The id was indexed before (it only now became a duplicate): it must leave the index."""


@dataclass(frozen=True, kw_only=True)
class PreparedDocument:
    """A document of a product kept: its chunks."""

    spec: DocumentSpec
    chunks: list[Chunk]
    dropped: list[DroppedText] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class DocumentRejected:
    """A document that cannot be indexed, with the reason."""

    spec: DocumentSpec
    reason: str


@dataclass(frozen=True, kw_only=True)
class Unchanged:
    """A product record the index already holds exactly as it would be sent: nothing is sent
    (the unchanged path of a publish, `ingest.unchanged`)."""

    at: Location
    """Where the record was read."""
    product_id: str
    chunks: int
    """The product's chunks, not sent."""


Outcome = (
    Prepared | Deletion | Duplicate | Rejected | PreparedDocument | DocumentRejected | Unchanged
)
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Superseded:
    """An earlier row of one input for a product id that a later row of the same input names
    again: the later row wins (both were sent in order, so the index ends with the later)."""

    id: str
    line: int | None
    """Line of the earlier row (None: an input without lines)."""
    by_line: int | None
    """Line of the later row that wins."""
    was: str
    """What the earlier row was: `product`, `deletion` or `duplicate`."""


_KINDS = ("product", "deletion", "duplicate", "unchanged")


def _product_row(outcome: Outcome) -> tuple[str, int | None, int] | None:
    """(product id, line, kind index) of an outcome that decides a product's state."""
    if isinstance(outcome, Prepared) and outcome.chunks:
        return outcome.chunks[0].product_id, outcome.at.line, 0
    if isinstance(outcome, Deletion):
        return outcome.product_id, outcome.at.line, 1
    if isinstance(outcome, Duplicate):
        return outcome.product_id, outcome.at.line, 2
    if isinstance(outcome, Unchanged):
        return outcome.product_id, outcome.at.line, 3
    return None


@dataclass(kw_only=True)
class PrepareReport:
    """What a publish or a prepare did with its input: every item counted exactly once
    (`records_in = kept + unchanged + deletions + duplicates + rejected + superseded`), dropped text
    listed. `products` counts distinct ids: a product id named again by a later row of the same
    input moves the earlier row to `superseded` (to know, the report keeps each id's last line:
    about 100 bytes per product of the input)."""

    source: str
    records_in: int = 0
    products: int = 0
    documents: int = 0
    chunks: int = 0
    deletions: int = 0
    retracted: int = 0
    """Products indexed before that became duplicates: deleted from the index."""
    unchanged: int = 0
    """Products the index already held as they are: not sent (`ingest.unchanged`)."""
    unchanged_chunks: int = 0
    """Their chunks."""
    rejected: list[Rejected] = field(default_factory=list)
    rejected_documents: list[DocumentRejected] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    dropped: list[DroppedText] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)
    seconds: float = 0.0
    _last: dict[str, tuple[int | None, int]] = field(default_factory=dict, init=False, repr=False)
    """Product id -> (line, kind) of the row that decides it so far."""
    _unchanged: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    """Product id -> chunks, of the unchanged products (a later row may supersede one)."""

    @property
    def input_errors(self) -> list[Rejected]:
        """The rejected items that are the input failing as a whole."""
        return [r for r in self.rejected if r.input_error]

    @property
    def kept(self) -> int:
        return self.products + self.documents

    def add(self, outcome: Outcome) -> None:
        self.records_in += 1
        if isinstance(outcome, Prepared | PreparedDocument):
            if isinstance(outcome, Prepared):
                self.products += 1
            else:
                self.documents += 1
            self.chunks += len(outcome.chunks)
            self.token_counts += [c.token_count for c in outcome.chunks]
            self.dropped += outcome.dropped
        elif isinstance(outcome, Deletion):
            self.deletions += 1
        elif isinstance(outcome, Duplicate):
            self.duplicates.append(outcome)
            self.retracted += outcome.was_indexed
        elif isinstance(outcome, DocumentRejected):
            self.rejected_documents.append(outcome)
        elif isinstance(outcome, Unchanged):
            self.unchanged += 1
            self.unchanged_chunks += outcome.chunks
            self._unchanged[outcome.product_id] = outcome.chunks
        else:
            self.rejected.append(outcome)
        self._supersede(outcome)

    def _supersede(self, outcome: Outcome) -> None:
        """An earlier row of the same product id no longer counts as what it was."""
        decided = _product_row(outcome)
        if decided is None:
            return
        product_id, line, kind = decided
        earlier = self._last.get(product_id)
        self._last[product_id] = (line, kind)
        if earlier is None:
            return
        was = _KINDS[earlier[1]]
        self.superseded.append(Superseded(id=product_id, line=earlier[0], by_line=line, was=was))
        if was == "product":
            self.products -= 1
        elif was == "deletion":
            self.deletions -= 1
        elif was == "unchanged":
            self.unchanged -= 1
            self.unchanged_chunks -= self._unchanged.pop(product_id, 0)
        else:
            self.duplicates.remove(next(d for d in self.duplicates if d.product_id == product_id))

    def entries(self) -> dict[str, list[dict[str, object]]]:
        """The itemised part of the report: duplicates, rejected items, dropped text; each
        entry names the input it came from in `source`."""
        rejected = [self._rejected_entry(r) for r in self.rejected]
        rejected += [
            {
                "id": f"{r.spec.product_id}/{r.spec.document_id}",
                "path": str(r.spec.path),
                "reason": r.reason,
                "source": self.source,
            }
            for r in self.rejected_documents
        ]
        duplicates: list[dict[str, object]] = [
            {
                "id": d.product_id,
                "duplicate_of": d.duplicate_of,
                "similarity": d.similarity,
                "kind": d.kind,
                "line": d.at.line,
                "source": self.source,
            }
            for d in self.duplicates
        ]
        dropped: list[dict[str, object]] = [
            {"id": d.id, "field": d.field, "reason": d.reason, "source": self.source}
            for d in self.dropped
        ]
        superseded: list[dict[str, object]] = [
            {"id": s.id, "line": s.line, "by_line": s.by_line, "was": s.was, "source": self.source}
            for s in self.superseded
        ]
        return {
            "duplicates": duplicates,
            "rejected": rejected,
            "dropped": dropped,
            "superseded": superseded,
        }

    def _rejected_entry(self, rejected: Rejected) -> dict[str, object]:
        entry: dict[str, object] = {
            "line": rejected.at.line,
            "id": rejected.product_id,
            "reason": rejected.reason,
            "source": self.source,
        }
        if rejected.input_error:
            entry["input_error"] = True
        return entry

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-ready data."""
        return combine_reports([self], source=self.source)


def combine_reports(reports: list[PrepareReport], *, source: str) -> dict[str, object]:
    """One report over one or more inputs: counts summed, itemised entries joined, token
    statistics over all chunks; `failed_inputs` lists the inputs that failed as a whole."""
    entries: dict[str, list[dict[str, object]]] = {
        "duplicates": [],
        "rejected": [],
        "dropped": [],
        "superseded": [],
    }
    for report in reports:
        for key, items in report.entries().items():
            entries[key] += items
    tokens = [t for r in reports for t in r.token_counts]
    return {
        "source": source,
        "records_in": sum(r.records_in for r in reports),
        "kept": sum(r.kept for r in reports),
        "products": sum(r.products for r in reports),
        "documents": sum(r.documents for r in reports),
        "unchanged": sum(r.unchanged for r in reports),
        "unchanged_chunks": sum(r.unchanged_chunks for r in reports),
        "deletions": sum(r.deletions for r in reports),
        "duplicates": entries["duplicates"],
        "retracted": sum(r.retracted for r in reports),
        "rejected": entries["rejected"],
        "dropped": entries["dropped"],
        "superseded": entries["superseded"],
        "failed_inputs": [
            {"source": r.source, "reason": e.reason} for r in reports for e in r.input_errors
        ],
        "chunks": chunk_stats(sum(r.chunks for r in reports), tokens),
        "seconds": round(sum(r.seconds for r in reports), 3),
    }


def chunk_stats(count: int, tokens: list[int]) -> dict[str, int]:
    return {
        "count": count,
        "tokens_p50": percentile(tokens, 50),
        "tokens_p95": percentile(tokens, 95),
        "tokens_max": max(tokens, default=0),
    }


class PrepareChain:
    """Garbage filter, dedup and chunking over feed items and documents. `dedup=None` turns
    deduplication off (a catalog of deliberate near-copies, such as the benchmark's)."""

    def __init__(self, chunker: Chunker, dedup: Deduplicator | None = None) -> None:
        self.chunker = chunker
        self.dedup = dedup

    def close(self) -> None:
        if self.dedup is not None:
            self.dedup.close()

    def __enter__(self) -> PrepareChain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def items(self, items: Iterable[SourceItem]) -> Iterator[Outcome]:
        for item in items:
            yield self.item(item, utcnow())

    def item(self, item: SourceItem, published_at: datetime) -> Outcome:
        if isinstance(item, Deleted):
            if self.dedup is not None:
                self.dedup.forget(item.product_id)
            return Deletion(at=item.at, product_id=item.product_id)
        if isinstance(item, Rejected):
            return item
        return self._record(item, published_at)

    def _record(self, item: Accepted, published_at: datetime) -> Outcome:
        record = item.record
        if reason := garbage_reason(record.title, TITLE):
            return _rejected(item, f"title: {reason}")
        dropped = []
        if record.description and (reason := garbage_reason(record.description, DESCRIPTION)):
            dropped.append(DroppedText(id=record.id, field="description", reason=reason))
            record = record.model_copy(update={"description": ""})
        if self.dedup is not None:
            was_indexed = self.dedup.known(record.id) == "canonical"
            found = self.dedup.check(record)
            if found.duplicate_of is not None:
                return Duplicate(
                    at=item.at,
                    product_id=record.id,
                    duplicate_of=found.duplicate_of,
                    similarity=round(found.similarity or 1.0, 3),
                    kind=found.kind or "exact",
                    was_indexed=was_indexed,
                )
        try:
            chunks = self.chunker.chunk(record, published_at)
        except ValueError as e:
            if self.dedup is not None:
                self.dedup.forget(record.id)
            return _rejected(item, f"cannot chunk: {e}")
        return Prepared(at=item.at, chunks=chunks, dropped=dropped)

    def document(
        self, spec: DocumentSpec, published_at: datetime
    ) -> PreparedDocument | DocumentRejected:
        """Parse, filter and chunk one document of a product."""
        where = f"{spec.product_id}/{spec.document_id}"
        try:
            parsed = parse_document(spec.path)
        except DocumentError as e:
            return _document_rejected(spec, str(e))
        dropped: list[DroppedText] = []
        kept: list[DocumentElement] = []
        for i, element in enumerate(parsed.elements, start=1):
            if element.kind == "title":
                continue  # headings live on in each chunk's section and context line
            rule = TABLE if element.kind == "table" else ELEMENT
            if reason := garbage_reason(element.text, rule):
                dropped.append(
                    DroppedText(id=where, field=f"element {i} ({element.kind})", reason=reason)
                )
            else:
                kept.append(element)
        if not kept:
            return _document_rejected(
                spec, "no indexable text (every element was empty or garbage)"
            )
        title = spec.title or parsed.title
        metadata = ProductMetadata(title=title, source=f"doc:{parsed.name}")
        try:
            chunks = self.chunker.chunk_document(
                product_id=spec.product_id,
                document=spec.document_id,
                context=title,
                blocks=blocks_of(kept),
                metadata=metadata,
                published_at=published_at,
            )
        except ValueError as e:
            return _document_rejected(spec, f"cannot chunk: {e}")
        return PreparedDocument(spec=spec, chunks=chunks, dropped=dropped)


def reported(items: Iterable[T], *, source: str) -> Iterator[T | Rejected]:
    """`items`, with an error that stops them early (an input that cannot be read, or a fault
    of the code reading it) as their last item: a `Rejected` marked `input_error`, so what came
    before stays counted and the caller goes on. The exception's type and text are kept."""
    line: int | None = None
    try:
        for item in items:
            at = getattr(item, "at", None)
            line = at.line if isinstance(at, Location) and at.line is not None else line
            yield item
    except Exception as e:  # every error becomes a report entry, with its type and text
        reason = str(e) if isinstance(e, IngestError) else f"{type(e).__name__}: {e}"
        if line is not None:
            reason += f" (the input stopped after line {line})"
        yield Rejected(at=Location(input=source), reason=reason, raw=source, input_error=True)


def blocks_of(elements: list[DocumentElement]) -> list[Block]:
    """Consecutive free-text elements of one section become one block; each table its own."""
    blocks: list[Block] = []
    lines: list[str] = []
    section: str | None = None

    def flush() -> None:
        if lines and section is not None:
            blocks.append(Block(section=section, text="\n".join(lines)))
        lines.clear()

    for element in elements:
        if element.kind == "table":
            flush()
            blocks.append(Block(section=element.section, text=element.text, is_table=True))
            section = None
            continue
        if element.section != section:
            flush()
            section = element.section
        lines.append(element.text)
    flush()
    return blocks


def _rejected(item: Accepted, reason: str) -> Rejected:
    return Rejected(
        at=item.at,
        reason=reason,
        raw=item.record.model_dump_json(),
        product_id=item.record.id,
    )


def _document_rejected(spec: DocumentSpec, reason: str) -> DocumentRejected:
    return DocumentRejected(spec=spec, reason=reason)


def percentile(values: list[int], q: float) -> int:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
