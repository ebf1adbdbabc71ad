"""The bottom layer of `ingest` (`ingest.core`): one availability normaliser, one product-id check
and one location, the same for every source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.core.availability import availability
from ingest.core.ids import MAX_ID_CHARS, check_product_id
from ingest.core.items import Accepted, Deleted, Location, Rejected
from ingest.documents import DocumentError, specs_for_paths
from ingest.errors import InvalidProductId
from ingest.feeds.reader import read_feed
from ingest.inputs import classify
from ingest.pages.normalize import availability as page_availability
from schemas.models import Availability

# --------------------------------------------------------------------------- availability


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("InStock", Availability.IN_STOCK),
        ("in stock", Availability.IN_STOCK),
        ("In-Stock", Availability.IN_STOCK),
        ("in_stock", Availability.IN_STOCK),
        ("https://schema.org/InStock", Availability.IN_STOCK),
        ("http://schema.org/InStock/", Availability.IN_STOCK),
        ("available", Availability.IN_STOCK),
        (True, Availability.IN_STOCK),
        ("out_of_stock", Availability.OUT_OF_STOCK),
        ("Out of stock", Availability.OUT_OF_STOCK),
        ("oos", Availability.OUT_OF_STOCK),
        (False, Availability.OUT_OF_STOCK),
        ("pre-order", Availability.PRE_ORDER),
        ("Pre Order", Availability.PRE_ORDER),
        ("presale", Availability.PRE_ORDER),
        ("back-order", Availability.BACK_ORDER),
        ("https://schema.org/BackOrder", Availability.BACK_ORDER),
        ("limited", Availability.LIMITED_AVAILABILITY),
        ("Sold out", Availability.SOLD_OUT),
        ("in store only", Availability.IN_STORE_ONLY),
        ("maybe", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_one_availability_normaliser_for_every_source(given: object, expected: object) -> None:
    assert availability(given) is expected
    assert page_availability(given) is expected  # pages delegate to it


def test_in_stock_reads_the_same_in_a_feed_and_on_a_page(tmp_path: Path) -> None:
    """Feeds and pages had a normaliser each, and they disagreed: a feed row with `in_stock` was
    rejected ("availability: Input should be 'InStock', ..."), a page with it was in stock."""
    feed = tmp_path / "f.jsonl"
    rows = [
        {"id": "A", "title": "Brass tap", "availability": "in_stock"},
        {"id": "B", "title": "Garden hose", "availability": "maybe"},
    ]
    feed.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    in_stock, maybe = read_feed(feed)
    assert isinstance(in_stock, Accepted)
    assert in_stock.record.availability is page_availability("in_stock") is Availability.IN_STOCK
    assert isinstance(maybe, Rejected) and maybe.reason.startswith("availability:")


# --------------------------------------------------------------------------- product ids

VALID = ["GA-1", "shop.example:V-0001", "x" * MAX_ID_CHARS, "ÄÖÜ/ß#1"]
INVALID = ["", "GA 1", "GA\t1", "tab\x07", "x" * (MAX_ID_CHARS + 1)]


@pytest.mark.parametrize("value", VALID)
def test_a_valid_product_id(value: str) -> None:
    assert check_product_id(value) == value


@pytest.mark.parametrize("value", INVALID)
def test_an_invalid_product_id_says_why(value: str) -> None:
    with pytest.raises(InvalidProductId) as caught:
        check_product_id(value, subject="product_id")
    assert caught.value.value == value
    assert caught.value.problem.startswith("String should")
    assert str(caught.value).startswith(f"product_id: {caught.value.problem}")


@pytest.mark.parametrize("value", VALID[:2] + INVALID[1:3])
def test_every_source_checks_ids_the_same_way(tmp_path: Path, value: str) -> None:
    """A feed's deletion row, a document's file name and `--product-id` (once three checks: a
    regex in one, the schema in two) give one verdict."""
    valid = value in VALID
    feed = tmp_path / "f.jsonl"
    feed.write_text(json.dumps({"id": value, "deleted": True}) + "\n")
    [item] = read_feed(feed)
    assert isinstance(item, Deleted) is valid
    document = tmp_path / f"{value.replace('/', '_')}__spec.md"
    document.write_text("# Spec\n")
    [found] = classify([document])
    assert (found.kind == "document") is valid
    if valid:
        assert specs_for_paths([document], value)[0].product_id == value
    else:
        with pytest.raises(DocumentError, match="invalid product_id"):
            specs_for_paths([document], value)


# --------------------------------------------------------------------------- location


def test_a_location_renders_one_way() -> None:
    assert str(Location(input="feeds/catalog.jsonl", line=12)) == "feeds/catalog.jsonl:12"
    assert str(Location(input="https://shop.example/p/1")) == "https://shop.example/p/1"


def test_a_row_is_at_its_file_and_line(tmp_path: Path) -> None:
    feed = tmp_path / "f.jsonl"
    feed.write_text('\n{"id": "A", "title": "Brass tap"}\n')
    [item] = read_feed(feed)
    assert item.at == Location(input=str(feed), line=2)
