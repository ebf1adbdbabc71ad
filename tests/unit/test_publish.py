"""publish_items / publish_feed: the prepare chain into a MessageSink, with a summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ingest.feeds.reader
from ingest.core.items import Accepted, Deleted, Location, Rejected, SourceItem
from ingest.feeds.reader import read_feed
from ingest.prepare.chunk import Chunker
from ingest.prepare.tokenizer import TokenCounter
from ingest.publish import publish_feed, publish_items
from schemas.models import Chunk, ProductDeleted
from tests.unit.fakes import MemorySink, record

MakeChunker = Callable[..., Chunker]
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
LONG = " ".join(f"Sentence {i} explains how to plant bulbs in autumn." for i in range(30))


def at(line: int) -> Location:
    """Line `line` of a feed."""
    return Location(input="feed.jsonl", line=line)


def test_counts_products_chunks_and_deletions(chunker: MakeChunker) -> None:
    sink = MemorySink()
    items: list[SourceItem] = [
        Accepted(at=at(1), record=record("A", description=LONG)),
        Deleted(at=at(2), product_id="B"),
        Accepted(at=at(3), record=record("C")),
    ]
    summary = publish_items(items, sink, chunker(64), source="feed:test.jsonl")
    assert (summary.products, summary.deletions, summary.rejected) == (2, 1, [])
    assert summary.chunks == len(sink.chunks)
    assert sink.flushes == 1
    kinds = [(type(m).__name__, m.product_id) for m in sink.messages]
    a_count = sum(1 for k in kinds if k == ("Chunk", "A"))
    assert a_count > 2
    # all chunks of a product are sent together, in order, before the next item
    assert kinds == [("Chunk", "A")] * a_count + [("ProductDeleted", "B")] + [("Chunk", "C")] * (
        summary.chunks - a_count
    )
    for product_id in ("A", "C"):
        chunks = [c for c in sink.chunks if c.product_id == product_id]
        assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
        assert {c.chunk_count for c in chunks} == {len(chunks)}


def test_every_message_carries_its_publication_time(chunker: MakeChunker) -> None:
    sink = MemorySink()
    publish_items(
        [Accepted(at=at(1), record=record("A")), Deleted(at=at(2), product_id="B")],
        sink,
        chunker(64),
        source="s",
    )
    assert all(m.published_at.tzinfo is not None for m in sink.messages)
    assert isinstance(sink.messages[-1], ProductDeleted)


def test_rejected_rows_become_feed_dead_letters(chunker: MakeChunker) -> None:
    sink = MemorySink()
    bad = Rejected(
        at=at(7),
        reason="price: Input should be >= 0",
        raw='{"id": "X", "price": -1}',
        product_id="X",
    )
    summary = publish_items(
        [Accepted(at=at(1), record=record("A")), bad], sink, chunker(64), source="feed:f.jsonl"
    )
    assert summary.rejected == [bad]
    [letter] = sink.dead_letters
    assert letter.stage == "feed"
    assert letter.error_type == "RowRejected"
    assert (letter.line, letter.key, letter.source) == (7, "X", "feed:f.jsonl")
    assert letter.message == bad.reason
    assert letter.payload == bad.raw
    assert letter.topic is None and letter.offset is None
    assert summary.as_dict()["rejected"] == [
        {"line": 7, "id": "X", "reason": bad.reason, "source": "feed:f.jsonl"}
    ]


def test_nothing_to_publish_still_flushes(chunker: MakeChunker) -> None:
    sink = MemorySink()
    summary = publish_items([], sink, chunker(64), source="s")
    assert (summary.products, summary.chunks, summary.deletions) == (0, 0, 0)
    assert sink.flushes == 1 and sink.messages == []


def test_publish_sample_updates_feed(chunker: MakeChunker) -> None:
    # data/sample/README.md: 15 rows, 3 deletions, 2 invalid rows; the rest are products
    sink = MemorySink()
    summary = publish_feed(SAMPLE / "updates.jsonl", sink, chunker(256, 32))
    assert (summary.products, summary.deletions, len(summary.rejected)) == (10, 3, 2)
    assert summary.source == "feed:updates.jsonl"
    assert len(sink.dead_letters) == 2
    assert {d.line for d in sink.dead_letters} == {r.at.line for r in summary.rejected}
    assert summary.chunks == len(sink.chunks) >= 10
    deleted = {m.product_id for m in sink.messages if isinstance(m, ProductDeleted)}
    rows = [json.loads(line) for line in (SAMPLE / "updates.jsonl").read_text().splitlines()]
    assert deleted == {r["id"] for r in rows if r.get("deleted")}
    as_dict = summary.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_publish_sample_catalog_within_limits(chunker: MakeChunker, tokens: TokenCounter) -> None:
    sink = MemorySink()
    summary = publish_feed(SAMPLE / "catalog.jsonl", sink, chunker(256, 32))
    assert (summary.products, summary.deletions, summary.rejected) == (150, 0, [])
    assert summary.chunks > 150  # the long usage guides split into several chunks
    assert max(tokens.count_many([c.text for c in sink.chunks])) <= 256
    assert len({c.chunk_id for c in sink.chunks}) == summary.chunks


def test_row_the_chunker_cannot_handle_does_not_abort_the_feed(
    chunker: MakeChunker, tmp_path: Path
) -> None:
    path = tmp_path / "feed.jsonl"
    long_title = " ".join(["Galvanised steel raised bed kit"] * 12)  # valid: under 1000 characters
    rows = [
        {"id": "A", "title": "Hose"},
        {"id": "B", "title": long_title},
        {"id": "C", "title": "Rake"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert all(isinstance(i, Accepted) for i in read_feed(path))
    sink = MemorySink()
    summary = publish_feed(path, sink, chunker(64))
    assert summary.products + len(summary.rejected) == 3
    assert {c.product_id for c in sink.chunks} >= {"A", "C"}


def test_chunks_survive_the_wire(chunker: MakeChunker) -> None:
    sink = MemorySink()
    publish_items(
        [Accepted(at=at(1), record=record("A", description=LONG))], sink, chunker(64), source="s"
    )
    for chunk in sink.chunks:
        assert Chunk.model_validate_json(chunk.model_dump_json()) == chunk


def test_the_same_id_twice_in_one_feed_the_later_row_wins(
    chunker: MakeChunker, tmp_path: Path
) -> None:
    path = tmp_path / "feed.jsonl"
    rows = [
        {"id": "A", "title": "Brass garden tap"},
        {"id": "B", "title": "Galvanised watering can"},
        {"id": "A", "title": "Brass garden tap with hose union"},
        {"id": "B", "deleted": True},
        {"id": "C", "title": "Steel garden rake"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    sink = MemorySink()
    report = publish_feed(path, sink, chunker(64))
    assert (report.records_in, report.products, report.deletions) == (5, 2, 1)  # A, C; B gone
    assert [(s.id, s.line, s.by_line, s.was) for s in report.superseded] == [
        ("A", 1, 3, "product"),
        ("B", 2, 4, "product"),
    ]
    data = report.as_dict()
    assert data["superseded"] == [
        {"id": "A", "line": 1, "by_line": 3, "was": "product", "source": "feed:feed.jsonl"},
        {"id": "B", "line": 2, "by_line": 4, "was": "product", "source": "feed:feed.jsonl"},
    ]
    # both rows of A were sent, in order: the index ends with the later one
    overviews = [c.text for c in sink.chunks if c.product_id == "A" and c.chunk_index == 0]
    assert len(overviews) == 2 and "hose union" in overviews[-1]


def test_a_deletion_superseded_by_a_later_product_row(chunker: MakeChunker) -> None:
    items: list[SourceItem] = [
        Deleted(at=at(1), product_id="A"),
        Accepted(at=at(2), record=record("A")),
    ]
    report = publish_items(items, MemorySink(), chunker(64), source="s")
    assert (report.products, report.deletions) == (1, 0)
    assert [(s.id, s.was) for s in report.superseded] == [("A", "deletion")]


def test_a_feed_that_cannot_be_read_is_reported_not_raised(
    chunker: MakeChunker, tmp_path: Path
) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("id,title,title\nA,Hose,Reel\n")
    sink = MemorySink()
    report = publish_feed(path, sink, chunker(64))
    [failed] = report.input_errors
    assert failed.at == Location(input="feed:feed.csv")  # the whole input: no line
    assert "names 'title' more than once" in failed.reason
    assert report.records_in == 1 and sink.messages == [] and sink.flushes == 1
    [letter] = sink.dead_letters
    assert (letter.error_type, letter.line) == ("InputFailed", None)


def test_an_error_that_stops_a_feed_keeps_what_came_before(
    chunker: MakeChunker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"id": "A", "title": "Brass garden tap"}\n{"id": "B", "title": "Rake"}\n')
    real = ingest.feeds.reader._item

    def fails_on_line_2(row: Any, *args: Any, **kw: Any) -> SourceItem:
        if row.line == 2:  # a RawRow
            raise OSError("disk went away")
        return real(row, *args, **kw)

    monkeypatch.setattr(ingest.feeds.reader, "_item", fails_on_line_2)
    sink = MemorySink()
    report = publish_feed(path, sink, chunker(64))
    assert report.products == 1 and {c.product_id for c in sink.chunks} == {"A"}
    [failed] = report.input_errors
    assert failed.reason == "OSError: disk went away (the input stopped after line 1)"
