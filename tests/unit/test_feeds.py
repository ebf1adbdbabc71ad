"""Catalog feed reader: JSONL and CSV rows to Accepted / Deleted / Rejected, nothing dropped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.core.items import Accepted, Deleted, Location, Rejected, SourceItem
from ingest.errors import FeedError
from ingest.feeds.reader import read_feed
from schemas.models import Availability

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def jsonl(path: Path, *lines: str | Mapping[str, object]) -> Path:
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(body + "\n", encoding="utf-8")
    return path


def by_line(items: list[SourceItem]) -> dict[int | None, SourceItem]:
    return {item.at.line: item for item in items}


# --------------------------------------------------------------------------- JSONL


GOOD_ROW = {
    "id": "GA-1",
    "title": "Peat-free Compost &amp; <b>Soil</b> 40 L",
    "description": "<p>Rich &amp; dark.</p><ul><li>Peat free</li><li>Ready to use</li></ul>",
    "brand": " Hedgerow\u00a0Organics ",
    "price": "7.49",
    "currency": " eur ",
    "availability": "in stock",
    "url": "https://shop.example/p/compost",
    "attributes": {"volume": "40 L", "weight_kg": 18},
}


def test_jsonl_accepted_row_is_cleaned(tmp_path: Path) -> None:
    [item] = list(read_feed(jsonl(tmp_path / "feed.jsonl", GOOD_ROW)))
    assert isinstance(item, Accepted)
    product = item.record
    assert item.at.line == 1
    assert product.id == "GA-1"
    assert product.title == "Peat-free Compost & Soil 40 L"
    assert product.brand == "Hedgerow Organics"
    assert product.description == "Rich & dark.\n\n- Peat free\n- Ready to use"
    assert "<" not in product.description and "&amp;" not in product.description
    assert product.availability is Availability.IN_STOCK
    assert product.currency == "EUR"
    assert product.price == Decimal("7.49")
    assert product.attributes == {"volume": "40 L", "weight_kg": "18"}
    assert product.source == "feed:feed.jsonl"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("InStock", Availability.IN_STOCK),
        ("https://schema.org/OutOfStock", Availability.OUT_OF_STOCK),
        ("http://schema.org/PreOrder", Availability.PRE_ORDER),
        ("Out of stock", Availability.OUT_OF_STOCK),
        ("pre-order", Availability.PRE_ORDER),
        ("limitedavailability", Availability.LIMITED_AVAILABILITY),
    ],
)
def test_availability_spellings(tmp_path: Path, given: str, expected: Availability) -> None:
    [item] = list(
        read_feed(jsonl(tmp_path / "f.jsonl", {"id": "A", "title": "T", "availability": given}))
    )
    assert isinstance(item, Accepted)
    assert item.record.availability is expected


def test_source_can_be_named(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "f.jsonl", {"id": "A", "title": "T"})
    [item] = list(read_feed(path, source="crawl:shop.example"))
    assert isinstance(item, Accepted)
    assert item.record.source == "crawl:shop.example"


def test_jsonl_mixed_rows_each_yield_one_item_with_its_line(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "feed.jsonl",
        GOOD_ROW,  # 1
        "",  # 2 blank: skipped
        {"id": "GA-2", "deleted": True},  # 3
        '{"id": "GA-3", "title": ',  # 4 invalid JSON
        "[1, 2]",  # 5 not an object
        {"id": "GA-4", "price": "1.00"},  # 6 no title
        {"id": "GA-5", "title": "Hose", "price": "-1"},  # 7 negative price
        "   ",  # 8 blank: skipped
        {"id": "GA-6", "title": "Rake", "currency": "euro"},  # 9 bad currency
        {"id": "GA-7", "title": "Spade", "deleted": "yes"},  # 10
        {"id": "GA-8", "title": "Trowel", "deleted": False},  # 11
        {"deleted": True},  # 12 deletion without id
    )
    items = list(read_feed(path))
    assert [item.at.line for item in items] == [1, 3, 4, 5, 6, 7, 9, 10, 11, 12]
    lines = by_line(items)
    assert isinstance(lines[1], Accepted)
    assert lines[3] == Deleted(at=Location(input=str(path), line=3), product_id="GA-2")
    assert isinstance(lines[10], Deleted) and lines[10].product_id == "GA-7"
    assert isinstance(lines[11], Accepted) and lines[11].record.id == "GA-8"
    rejected = {line: item for line, item in lines.items() if isinstance(item, Rejected)}
    assert sorted(rejected) == [4, 5, 6, 7, 9, 12]
    assert "invalid JSON" in rejected[4].reason
    assert "not a JSON object" in rejected[5].reason
    assert rejected[6].reason.startswith("title:") and rejected[6].product_id == "GA-4"
    assert rejected[7].reason.startswith("price:") and "-1" in rejected[7].reason
    assert rejected[9].reason.startswith("currency:")
    assert "no id" in rejected[12].reason
    assert rejected[4].raw == '{"id": "GA-3", "title":'


def test_jsonl_row_that_is_not_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"id": "A", "title": "ok"}\n{"id": "B", "title": "caf\xe9"}\n')
    first, second = read_feed(path)
    assert isinstance(first, Accepted)
    assert isinstance(second, Rejected)
    assert second.at.line == 2
    assert "UTF-8" in second.reason


def test_every_non_blank_row_yields_exactly_one_item(tmp_path: Path) -> None:
    rows: list[str] = []
    for i in range(60):
        kind = i % 5
        if kind == 0:
            rows.append(json.dumps({"id": f"P{i}", "title": f"Item {i}"}))
        elif kind == 1:
            rows.append(json.dumps({"id": f"P{i}", "deleted": 1}))
        elif kind == 2:
            rows.append("{broken")
        elif kind == 3:
            rows.append(json.dumps({"id": f"P{i}", "title": f"Item {i}", "price": "x"}))
        else:
            rows.append("")
    path = jsonl(tmp_path / "f.jsonl", *rows)
    items = list(read_feed(path))
    expected_lines = [n for n, row in enumerate(rows, start=1) if row.strip()]
    assert [item.at.line for item in items] == expected_lines
    assert sum(isinstance(i, Accepted) for i in items) == 12
    assert sum(isinstance(i, Deleted) for i in items) == 12
    assert sum(isinstance(i, Rejected) for i in items) == 24


def test_jsonl_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes("\ufeff".encode() + b'{"id": "A", "title": "Hose"}\n')
    [item] = list(read_feed(path))
    assert isinstance(item, Accepted)


# --------------------------------------------------------------------------- CSV


def test_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        # 1: header
        "id,title,description,price,currency,availability,attributes,attributes.colour,deleted\n"
        "GA-1,Watering Can <i>10 L</i>,Galvanised &amp; sturdy.,19.90,eur,in stock,"
        '"{""capacity"": ""10 L"", ""rose"": true}",green,\n'  # 2
        "\n"  # 3 blank
        "GA-2,,,,,,,,true\n"  # 4 deletion
        "GA-3,Hose,,-2,EUR,,,,\n"  # 5 negative price
        "GA-4,Rake,,,,,,,,extra\n"  # 6 too many fields
        'GA-5,Fork,,,,,"{not json",,\n'  # 7 bad attributes JSON
        "GA-6,Spade,,,,,,,\n",  # 8 minimal
        encoding="utf-8",
    )
    items = list(read_feed(path))
    assert [item.at.line for item in items] == [2, 4, 5, 6, 7, 8]
    lines = by_line(items)
    first = lines[2]
    assert isinstance(first, Accepted)
    assert first.record.title == "Watering Can 10 L"
    assert first.record.description == "Galvanised & sturdy."
    assert first.record.currency == "EUR"
    assert first.record.availability is Availability.IN_STOCK
    assert first.record.attributes == {"capacity": "10 L", "rose": "yes", "colour": "green"}
    assert first.record.source == "feed:feed.csv"
    assert lines[4] == Deleted(at=Location(input=str(path), line=4), product_id="GA-2")
    assert isinstance(lines[5], Rejected) and lines[5].reason.startswith("price:")
    assert isinstance(lines[6], Rejected) and "more fields" in lines[6].reason
    assert isinstance(lines[7], Rejected) and "attributes" in lines[7].reason
    minimal = lines[8]
    assert isinstance(minimal, Accepted)
    assert minimal.record.price is None and minimal.record.attributes == {}


def test_csv_with_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes("\ufeffid,title\r\nGA-1,Hose\r\nGA-2,Rake\r\n".encode())
    items = list(read_feed(path))
    assert [(i.at.line, i.record.id) for i in items if isinstance(i, Accepted)] == [
        (2, "GA-1"),
        (3, "GA-2"),
    ]


@pytest.mark.parametrize("value", ["[1, 2]", "5", "null"])
def test_csv_attributes_json_that_is_not_an_object_is_rejected(tmp_path: Path, value: str) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(f'id,title,attributes\nGA-1,Hose,"{value}"\nGA-2,Rake,\n', encoding="utf-8")
    items = list(read_feed(path))
    assert isinstance(items[0], Rejected) and "attributes" in items[0].reason
    assert isinstance(items[1], Accepted)


def test_csv_without_id_column_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("sku,title\nGA-1,Hose\n")
    with pytest.raises(FeedError, match="id"):
        list(read_feed(path))


def test_csv_row_that_is_not_utf8_is_rejected_and_the_feed_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(b"id,title\nGA-1,caf\xe9\nGA-2,Rake\n")
    first, second = read_feed(path)
    assert isinstance(first, Rejected) and first.at.line == 2
    assert "not valid UTF-8 (byte 0xe9 at column 9" in first.reason
    assert isinstance(second, Accepted) and second.record.id == "GA-2"


def test_csv_header_that_is_not_utf8_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(b"id,t\xeftle\nGA-1,Rake\n")
    with pytest.raises(FeedError, match="UTF-8"):
        list(read_feed(path))


# --------------------------------------------------------------------------- the feed as a whole


def test_missing_file_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="not found"):
        list(read_feed(tmp_path / "nope.jsonl"))


def test_unknown_extension_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_text("<products/>")
    with pytest.raises(FeedError, match=r"\.xml"):
        list(read_feed(path))


def test_sample_catalog_is_read_whole() -> None:
    # data/sample/README.md: 150 products, ten with light HTML, no deletions, no invalid rows
    items = list(read_feed(SAMPLE / "catalog.jsonl"))
    assert len(items) == 150
    assert all(isinstance(i, Accepted) for i in items)
    records = [i.record for i in items if isinstance(i, Accepted)]
    assert len({r.id for r in records}) == 150
    for r in records:
        assert "<" not in r.description and "&amp;" not in r.description, r.id
        assert r.currency == "EUR"


def test_sample_updates_match_their_readme() -> None:
    # data/sample/README.md: 15 lines, 3 deletions, 2 invalid rows (negative price, missing title)
    items = list(read_feed(SAMPLE / "updates.jsonl"))
    assert len(items) == 15
    deleted = [i for i in items if isinstance(i, Deleted)]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(deleted) == 3
    assert sorted(r.reason.split(":")[0] for r in rejected) == ["price", "title"]
    assert all(r.product_id for r in rejected)
