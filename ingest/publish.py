"""Prepare chain -> Kafka: feeds, crawled pages, documents and mixed inputs, with a report of
what went out. This layer owns the sink: the sources and the crawler hand it items, it runs them
through the chain (`chain_for`) and sends the outcomes (to Kafka, a file, or nowhere in a dry
run).

What is sent for each outcome of the chain (`ingest.prepare.chain`):
  - a kept product or document: all its chunks, in order, keyed by product id;
  - a deletion row: `ProductDeleted` (the product and its documents leave the index);
  - a duplicate: nothing, unless the id was indexed before it became a duplicate, in which case
    `ProductDeleted` takes its old chunks out (the product it duplicates stays searchable);
  - a record the index already holds as it is (`Unchanged`, with an `ingest.unchanged` gate):
    nothing;
  - a rejected row, page or document: a `DeadLetter` with the reason (and the report lists it);
    an input that fails as a whole too (`input_error`: the report says so, the command exits 1).
A dead letter's reason and payload are bounded (`schemas.models.DeadLetter`), so a hostile row
(5 MB, 10,000 levels deep) costs one deliverable dead letter, never the rest of the publish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from ingest.core.items import Accepted, Rejected, SourceItem
from ingest.core.rows import RowLimits
from ingest.documents import DocumentSpec
from ingest.feeds.reader import feed_rows, read_feed
from ingest.inputs import Input, outcomes_of
from ingest.prepare.chain import (
    Deletion,
    DocumentRejected,
    Duplicate,
    Outcome,
    PrepareChain,
    Prepared,
    PreparedDocument,
    PrepareReport,
    Unchanged,
    reported,
)
from ingest.prepare.chunk import Chunker
from ingest.prepare.dedup import Deduplicator
from ingest.prepare.semantic import LocalSentenceEncoder
from ingest.prepare.tokenizer import TokenCounter
from ingest.producer import CountingSink, KafkaSink, MessageSink
from ingest.unchanged import Keyed, UnchangedGate
from schemas.models import DeadLetter, ProductDeleted, utcnow
from schemas.settings import Settings

OnOutcome = Callable[[Outcome], None]
"""Told of each outcome as it is sent (a terminal's progress line: `infra.progress`)."""


@lru_cache(maxsize=1)
def _encoder() -> LocalSentenceEncoder:
    return LocalSentenceEncoder()


def chunker_for(settings: Settings) -> Chunker:
    return Chunker(
        TokenCounter.from_file(settings.tokenizer_path),
        max_tokens=settings.chunk_max_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        passage_prefix=settings.passage_prefix,
        encoder=_encoder() if settings.semantic_chunking else None,
    )


def chain_for(settings: Settings, *, dedup_state: Path | str | None = None) -> PrepareChain:
    """The chain as configured: dedup against `dedup_state` (default: the configured state
    file; `":memory:"` for a throwaway one) unless `FRESHINDEX_DEDUP_ENABLED` is false."""
    dedup = None
    if settings.dedup_enabled:
        state = dedup_state or settings.dedup_state_path
        if state != ":memory:":
            Path(state).parent.mkdir(parents=True, exist_ok=True)
        dedup = Deduplicator(state, threshold=settings.dedup_threshold)
    return PrepareChain(chunker_for(settings), dedup)


def publish_items(
    items: Iterable[SourceItem],
    sink: MessageSink,
    chain: PrepareChain | Chunker,
    *,
    source: str,
    progress: OnOutcome | None = None,
    gate: UnchangedGate | None = None,
) -> PrepareReport:
    """Prepare and send every item (a bare `Chunker` prepares without dedup); an error that
    stops the items is reported as their last one (`reported`), not raised. With a `gate`,
    records the index already holds as they are are reported `Unchanged` and not sent."""
    chain = chain if isinstance(chain, PrepareChain) else PrepareChain(chain)
    if gate is None:
        outcomes = reported(chain.items(items), source=source)
    else:
        outcomes = reported(_prepared(chain, gate.items(items), gate), source=source)
    return send_all(outcomes, sink, source=source, progress=progress)


def _prepared(
    chain: PrepareChain, entries: Iterable[Keyed | Unchanged], gate: UnchangedGate
) -> Iterator[Outcome]:
    """The chain's outcome of each entry the gate passes on (remembered when it is sent)."""
    for entry in entries:
        if isinstance(entry, Unchanged):
            yield entry
            continue
        outcome = chain.item(entry.item, utcnow())
        if isinstance(outcome, Prepared):
            gate.remember(entry, outcome.chunks)
        yield outcome


def publish_feed(
    path: Path,
    sink: MessageSink,
    chain: PrepareChain | Chunker,
    *,
    limits: RowLimits | None = None,
    progress: OnOutcome | None = None,
    gate: UnchangedGate | None = None,
) -> PrepareReport:
    """Every row of a feed, prepared and sent (with a `gate`: those the index does not already
    hold as they are); a feed that cannot be read (or stops being readable) is the report's
    last item, an `input_error`."""
    source = f"feed:{path.name}"
    if gate is None:
        rows = read_feed(path, source=source, limits=limits)
        return publish_items(rows, sink, chain, source=source, progress=progress)
    chain = chain if isinstance(chain, PrepareChain) else PrepareChain(chain)

    def entries() -> Iterator[Keyed | Unchanged]:
        feed = feed_rows(path, source=source, limits=limits)
        yield from gate.split(
            feed.rows(), key=lambda r: gate.row_key(source, r.raw), parse=feed.item, where=feed.at
        )

    outcomes = reported(_prepared(chain, entries(), gate), source=source)
    return send_all(outcomes, sink, source=source, progress=progress)


def publish_by_source(
    items: Iterable[Accepted],
    sink: MessageSink,
    chain: PrepareChain,
    progress: OnOutcome | None = None,
) -> list[PrepareReport]:
    """One `publish_items` per record source (crawled pages: `crawl:<host>`), in the order the
    sources first appear; each report names its source."""
    by_source: dict[str, list[Accepted]] = {}
    for item in items:
        by_source.setdefault(item.record.source, []).append(item)
    return [
        publish_items(group, sink, chain, source=source, progress=progress)
        for source, group in by_source.items()
    ]


def publish_crawled(
    items: list[Accepted],
    settings: Settings,
    *,
    sink: MessageSink | None = None,
    dry_run: bool = False,
    progress: OnOutcome | None = None,
) -> list[PrepareReport]:
    """Prepare and send products a crawl extracted, one report per source (`publish_by_source`):
    to `sink`, else to a `KafkaSink` opened here; a dry run sends nothing (`CountingSink`) and
    leaves the dedup state as it was."""
    if dry_run:
        with chain_for(settings, dedup_state=":memory:") as chain:
            return publish_by_source(items, CountingSink(), chain, progress)
    with chain_for(settings) as chain:
        if sink is not None:
            return publish_by_source(items, sink, chain, progress)
        with KafkaSink(settings) as kafka:
            return publish_by_source(items, kafka, chain, progress)


def send_inputs(
    inputs: list[Input],
    chain: PrepareChain,
    sink: MessageSink,
    *,
    limits: RowLimits | None = None,
    progress: OnOutcome | None = None,
) -> list[PrepareReport]:
    """Run the chain over each input (`ingest.inputs`) and send each outcome as it comes (a feed
    of millions of rows is never held in memory); one report per input, every input processed."""
    return [
        send_all(outcomes_of(item, chain, limits), sink, source=str(item.path), progress=progress)
        for item in inputs
    ]


def publish_documents(
    specs: Iterable[DocumentSpec], sink: MessageSink, chain: PrepareChain, *, source: str
) -> PrepareReport:
    """Parse, prepare and send documents: each replaces the earlier version of itself."""
    return send_all((chain.document(spec, utcnow()) for spec in specs), sink, source=source)


def send_all(
    outcomes: Iterable[Outcome],
    sink: MessageSink,
    *,
    source: str,
    progress: OnOutcome | None = None,
) -> PrepareReport:
    """Send each outcome as it comes (nothing is held), then flush; the report of them all."""
    report = PrepareReport(source=source)
    started = time.perf_counter()
    for outcome in outcomes:
        report.add(outcome)
        send(outcome, sink, source)
        if progress is not None:
            progress(outcome)
    sink.flush()
    report.seconds = time.perf_counter() - started
    return report


def delete_documents(specs: Iterable[tuple[str, str]], sink: MessageSink) -> int:
    """Take (product id, document id) documents out of the index; the products stay."""
    sent = 0
    for product_id, document in specs:
        sink.send(ProductDeleted(product_id=product_id, document=document))
        sent += 1
    sink.flush()
    return sent


def send(outcome: Outcome, sink: MessageSink, source: str) -> None:
    """The messages one outcome of the chain puts on Kafka."""
    if isinstance(outcome, Prepared | PreparedDocument):
        for chunk in outcome.chunks:
            sink.send(chunk)
    elif isinstance(outcome, Deletion):
        sink.send(ProductDeleted(product_id=outcome.product_id))
    elif isinstance(outcome, Duplicate):
        if outcome.was_indexed:
            sink.send(ProductDeleted(product_id=outcome.product_id))
    elif isinstance(outcome, DocumentRejected):
        sink.send_dead_letter(
            DeadLetter(
                stage="document",
                error_type="DocumentRejected",
                message=outcome.reason,
                key=outcome.spec.product_id,
                source=str(outcome.spec.path),
                payload=outcome.spec.document_id,
            )
        )  # the DeadLetter model bounds message and payload
    elif isinstance(outcome, Rejected):
        sink.send_dead_letter(_dead_letter(outcome, source))


def _dead_letter(item: Rejected, source: str) -> DeadLetter:
    """The dead letter of a rejected row (reason and payload bounded by the model, the row's
    whole size in `payload_bytes`)."""
    return DeadLetter(
        stage="feed",
        error_type="InputFailed" if item.input_error else "RowRejected",
        message=item.reason,
        key=item.product_id,
        source=source,
        line=item.at.line,
        payload=item.raw,
        payload_bytes=item.raw_bytes,
    )
