"""The unchanged path of a publish (`ingest.unchanged`): skip only what the index confirms."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.core.items import Accepted, Deleted, Location, SourceItem
from ingest.prepare.chunk import Chunker
from ingest.unchanged import (
    PublishedCache,
    Unchanged,
    UnchangedGate,
    fingerprint,
    record_key,
)
from schemas.models import Chunk
from tests.unit.fakes import record

NOW = datetime(2026, 12, 2, tzinfo=UTC)


class Index:
    """What an index holds, as the gate asks it: chunk id -> record hash."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}
        self.products: dict[str, str] = {}
        self.asked: list[list[str]] = []
        self.down = False

    def write(self, chunks: list[Chunk]) -> None:
        self.held |= {c.chunk_id: c.metadata_hash() for c in chunks}
        self.products |= {c.chunk_id: c.product_id for c in chunks}

    def drop(self, product_id: str) -> None:
        self.held = {k: v for k, v in self.held.items() if self.products[k] != product_id}

    def __call__(self, chunk_ids: list[str]) -> dict[str, str]:
        self.asked.append(chunk_ids)
        if self.down:
            raise ConnectionError("index unreachable")
        return {c: self.held[c] for c in chunk_ids if c in self.held}


def accepted(line: int, product_id: str, **fields: str) -> Accepted:
    return Accepted(at=Location(input="feed.jsonl", line=line), record=record(product_id, **fields))


def publish(
    gate: UnchangedGate, items: list[SourceItem], chunker: Chunker, index: Index
) -> list[str]:
    """What a publish through the gate sends ("A" for a record, "-B" for a deletion, "=C" for
    an unchanged one); the index receives what is sent (as a worker would write it)."""
    out = []
    for entry in gate.items(items):
        if isinstance(entry, Unchanged):
            out.append(f"={entry.product_id}")
            continue
        item = entry.item
        if isinstance(item, Accepted):
            chunks = chunker.chunk(item.record, NOW)
            index.write(chunks)
            gate.remember(entry, chunks)
            out.append(item.record.id)
        elif isinstance(item, Deleted):
            index.drop(item.product_id)
            out.append(f"-{item.product_id}")
    gate.close()
    return out


@pytest.fixture
def gate(tmp_path: Path) -> Callable[[Index], UnchangedGate]:
    cache = PublishedCache(tmp_path / "published.sqlite3")
    return lambda index: UnchangedGate(cache, index, "fp", batch=2)


def test_a_second_publish_of_the_same_records_sends_nothing(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    items: list[SourceItem] = [accepted(i, f"P{i}") for i in range(5)]
    assert publish(gate(index), items, chunker(), index) == ["P0", "P1", "P2", "P3", "P4"]
    again = gate(index)
    assert publish(again, items, chunker(), index) == [f"=P{i}" for i in range(5)]
    assert (again.stats.checked, again.stats.unchanged) == (5, 5)
    assert len(index.asked) == 3  # one bulk lookup per batch of two records


def test_a_changed_record_is_sent(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    publish(gate(index), [accepted(1, "A"), accepted(2, "B")], chunker(), index)
    changed = [accepted(1, "A", title="A new title"), accepted(2, "B")]
    assert publish(gate(index), changed, chunker(), index) == ["A", "=B"]


def test_a_product_the_index_lost_is_sent_again(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    items: list[SourceItem] = [accepted(1, "A"), accepted(2, "B")]
    publish(gate(index), items, chunker(), index)
    index.drop("B")
    assert publish(gate(index), items, chunker(), index) == ["=A", "B"]


def test_a_chunk_the_index_holds_in_another_version_is_sent_again(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    publish(gate(index), [accepted(1, "A")], chunker(), index)
    some = next(iter(index.held))
    index.held[some] = "another record hash"
    assert publish(gate(index), [accepted(1, "A")], chunker(), index) == ["A"]


def test_deletions_always_go_out_and_a_deleted_product_comes_back(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    publish(gate(index), [accepted(1, "A")], chunker(), index)
    deletion: list[SourceItem] = [Deleted(at=Location(input="feed.jsonl", line=1), product_id="A")]
    assert publish(gate(index), deletion, chunker(), index) == ["-A"]
    assert publish(gate(index), [accepted(1, "A")], chunker(), index) == ["A"]


def test_an_id_seen_earlier_in_the_same_publish_is_never_skipped(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    publish(gate(index), [accepted(1, "A")], chunker(), index)
    # the first row changes A, the second is A as indexed: the second must still go out last
    rows = [accepted(1, "A", title="Changed"), accepted(2, "A")]
    assert publish(gate(index), rows, chunker(), index) == ["A", "A"]


def test_an_index_that_cannot_be_asked_means_everything_is_sent(
    gate: Callable[[Index], UnchangedGate], chunker: Callable[..., Chunker]
) -> None:
    index = Index()
    items: list[SourceItem] = [accepted(1, "A"), accepted(2, "B")]
    publish(gate(index), items, chunker(), index)
    index.down = True
    errors: list[Exception] = []
    down = gate(index)
    down.on_index_error = errors.append
    assert publish(down, items, chunker(), index) == ["A", "B"]
    assert down.stats.index_errors == 1 and isinstance(errors[0], ConnectionError)


def test_another_fingerprint_is_another_key(chunker: Callable[..., Chunker]) -> None:
    r = record("A")
    assert record_key(r, "fp1") != record_key(r, "fp2")
    assert record_key(r, "fp1") == record_key(record("A"), "fp1")
    import ingest.prepare.chunk as chunk_module

    base = fingerprint({"max_tokens": 256}, [chunk_module])
    assert base == fingerprint({"max_tokens": 256}, [chunk_module])
    assert base != fingerprint({"max_tokens": 128}, [chunk_module])
    assert base != fingerprint({"max_tokens": 256}, [])


def test_the_cache_survives_a_restart(tmp_path: Path, chunker: Callable[..., Chunker]) -> None:
    path = tmp_path / "published.sqlite3"
    chunks = chunker().chunk(record("A"), NOW)
    key = record_key(record("A"), "fp")
    first = PublishedCache(path)
    first.remember(key, "A", chunks)
    first.close()
    again = PublishedCache(path)
    assert again.expected([key]) == {key: ("A", [(c.chunk_id, c.metadata_hash()) for c in chunks])}
    assert len(again) == 1


def test_a_publish_reports_unchanged_products_and_sends_only_the_rest(
    tmp_path: Path, chunker: Callable[..., Chunker]
) -> None:
    from ingest.publish import publish_items
    from tests.unit.fakes import MemorySink

    index = Index()
    cache = PublishedCache(tmp_path / "published.sqlite3")
    items: list[SourceItem] = [accepted(1, "A"), accepted(2, "B"), accepted(3, "C")]
    first = MemorySink()
    report = publish_items(
        items, first, chunker(), source="feed:t", gate=UnchangedGate(cache, index, "fp")
    )
    index.write(first.chunks)
    assert (report.products, report.unchanged) == (3, 0)

    again = MemorySink()
    rows: list[SourceItem] = [
        accepted(1, "A"),
        accepted(2, "B", price="7.49"),
        Deleted(at=Location(input="feed.jsonl", line=3), product_id="C"),
    ]
    report = publish_items(
        rows, again, chunker(), source="feed:t", gate=UnchangedGate(cache, index, "fp")
    )
    assert {m.product_id for m in again.messages} == {"B", "C"}  # A is not sent
    assert (report.products, report.unchanged, report.deletions) == (1, 1, 1)
    assert report.unchanged_chunks == len([c for c in first.chunks if c.product_id == "A"])
    summary = report.as_dict()
    assert summary["unchanged"] == 1 and summary["records_in"] == 3


def test_a_later_row_supersedes_an_unchanged_one_in_the_report(
    tmp_path: Path, chunker: Callable[..., Chunker]
) -> None:
    from ingest.publish import publish_items
    from tests.unit.fakes import MemorySink

    index = Index()
    cache = PublishedCache(tmp_path / "published.sqlite3")
    first = MemorySink()
    publish_items(
        [accepted(1, "A")], first, chunker(), source="f", gate=UnchangedGate(cache, index, "fp")
    )
    index.write(first.chunks)
    rows: list[SourceItem] = [accepted(1, "A"), accepted(2, "A", title="Tomato Feed 2 L")]
    sink = MemorySink()
    report = publish_items(
        rows, sink, chunker(), source="f", gate=UnchangedGate(cache, index, "fp")
    )
    assert (report.products, report.unchanged, report.unchanged_chunks) == (1, 0, 0)
    assert [s.was for s in report.superseded] == ["unchanged"]
    assert sink.chunks and {c.product_id for c in sink.chunks} == {"A"}


def test_a_feed_republished_as_it_is_is_not_even_parsed(
    tmp_path: Path, chunker: Callable[..., Chunker], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import ingest.feeds.reader as reader
    from ingest.publish import publish_feed
    from tests.unit.fakes import MemorySink

    feed = tmp_path / "catalog.jsonl"
    rows = [{"id": f"F{i}", "title": f"Rake {i}", "description": "Steel tines."} for i in range(4)]
    feed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    index = Index()
    cache = PublishedCache(tmp_path / "published.sqlite3")
    first = MemorySink()
    publish_feed(feed, first, chunker(), gate=UnchangedGate(cache, index, "fp"))
    index.write(first.chunks)

    parsed: list[int] = []
    real = reader._item
    monkeypatch.setattr(
        reader, "_item", lambda row, *a, **k: parsed.append(row.line) or real(row, *a, **k)
    )
    # one row changes, one is added, one deletion: only those three are parsed and sent
    rows[1]["title"] = "Rake 1 (new)"
    lines = [*rows, {"id": "F9", "title": "Hoe"}, {"id": "F2", "deleted": True}]
    feed.write_text("".join(json.dumps(r) + "\n" for r in lines))
    sink = MemorySink()
    report = publish_feed(feed, sink, chunker(), gate=UnchangedGate(cache, index, "fp"))
    assert parsed == [2, 5, 6]
    assert (report.products, report.unchanged, report.deletions) == (2, 2, 1)  # F0, F3
    assert [s.line for s in report.superseded] == [3]  # F2 unchanged, then deleted: deletion wins
    assert {m.product_id for m in sink.messages} == {"F1", "F9", "F2"}


def test_rows_read_before_a_feed_breaks_are_still_decided(
    tmp_path: Path, chunker: Callable[..., Chunker]
) -> None:
    from ingest.core.rows import RawRow

    def rows() -> Iterator[RawRow]:
        yield RawRow(line=1, raw="a", size=1, row={"id": "A", "title": "Spade"})
        raise OSError("disk gone")

    gate = UnchangedGate(PublishedCache(tmp_path / "p.sqlite3"), Index(), "fp")
    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for entry in gate.split(
            rows(),
            key=lambda r: gate.row_key("feed:x", r.raw),
            parse=lambda r: accepted(r.line, "A"),
            where=lambda r: Location(input="x", line=r.line),
        ):
            seen.append(entry)
    assert len(seen) == 1
