"""Feed -> prepare chain -> Kafka, with a summary of what was published and rejected."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.feeds.reader import Accepted, Deleted, FeedItem, Rejected, read_feed
from ingest.prepare.chunk import Chunker
from ingest.prepare.tokenizer import TokenCounter
from ingest.producer import MessageSink
from schemas.models import DeadLetter, ProductDeleted, utcnow
from schemas.settings import Settings


@dataclass(kw_only=True)
class PublishSummary:
    """What one publish did: counts and every rejected row with its reason."""

    source: str
    products: int = 0
    chunks: int = 0
    deletions: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "products": self.products,
            "chunks": self.chunks,
            "deletions": self.deletions,
            "rejected": [
                {"line": r.line, "id": r.product_id, "reason": r.reason} for r in self.rejected
            ],
            "seconds": round(self.seconds, 3),
        }


def chunker_for(settings: Settings) -> Chunker:
    return Chunker(
        TokenCounter.from_file(settings.tokenizer_path),
        max_tokens=settings.chunk_max_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        passage_prefix=settings.passage_prefix,
    )


def publish_items(
    items: Iterable[FeedItem], sink: MessageSink, chunker: Chunker, *, source: str
) -> PublishSummary:
    """Prepare and send every item; rejected rows go to the dead-letter topic too."""
    summary = PublishSummary(source=source)
    started = time.perf_counter()
    for item in items:
        published_at = utcnow()
        if isinstance(item, Accepted):
            try:
                chunks = chunker.chunk(item.record, published_at)
            except ValueError as e:
                item = Rejected(
                    line=item.line,
                    reason=f"cannot chunk: {e}",
                    raw=item.record.model_dump_json(),
                    product_id=item.record.id,
                )
                sink.send_dead_letter(_dead_letter(item, source))
                summary.rejected.append(item)
                continue
            for chunk in chunks:
                sink.send(chunk)
            summary.products += 1
            summary.chunks += len(chunks)
        elif isinstance(item, Deleted):
            sink.send(ProductDeleted(product_id=item.product_id, published_at=published_at))
            summary.deletions += 1
        else:
            sink.send_dead_letter(_dead_letter(item, source))
            summary.rejected.append(item)
    sink.flush()
    summary.seconds = time.perf_counter() - started
    return summary


def publish_feed(path: Path, sink: MessageSink, chunker: Chunker) -> PublishSummary:
    source = f"feed:{path.name}"
    return publish_items(read_feed(path, source=source), sink, chunker, source=source)


def _dead_letter(item: Rejected, source: str) -> DeadLetter:
    return DeadLetter(
        stage="feed",
        error_type="RowRejected",
        message=item.reason,
        key=item.product_id,
        source=source,
        line=item.line,
        payload=item.raw[:65536],
    )
