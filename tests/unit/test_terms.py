"""What BM25 matches on (`workers.index.terms`): analysed words and canonical quantities, the
same on both backends; and a LanceDB table written before `search_text` existed."""

from __future__ import annotations

from pathlib import Path

import lancedb
import pytest

from tests.unit.fakes import PUBLISHED, text_vector
from tests.unit.test_retrieval_api import DIM, chunks_of
from workers.index import terms
from workers.index.base import Row
from workers.index.lancedb import LanceIndex


@pytest.mark.parametrize(
    ("written", "token"),
    [
        ("50 ft.", "50ft"),
        ("50ft", "50ft"),
        ("50-foot", "50ft"),
        ("50 feet", "50ft"),
        ("3/8 in.", "0p375in"),
        ('3/8"', "0p375in"),
        ("0.375 inch", "0p375in"),
        ("1-1/2 in.", "1p5in"),
        ("1 1/2 inches", "1p5in"),
        (".5 in", "0p5in"),
        ("18V", "18v"),
        ("18-Volt", "18v"),
        ("60-Watt", "60w"),
        ("4.0 Ah", "4ah"),
        ("5 gal.", "5gal"),
        ("5 Gallon", "5gal"),
        ("1,000 sq. ft.", "1000sqft"),
        ("30 m²", "30m2"),
        ("2.5 L", "2p5l"),
        ("8-Pack", "8pk"),
        ("12-Gauge", "12ga"),
    ],
)
def test_a_quantity_is_one_token_however_it_is_written(written: str, token: str) -> None:
    assert terms.quantity_terms(written) == [token]
    assert token in terms.search_text(f"Garden hose {written} green").split()


def test_sizes_become_side_tokens_whatever_their_units() -> None:
    assert terms.sizes("Greenhouse 6 × 8 ft") == ["6x8"]
    assert terms.sizes("greenhouse 6x8") == ["6x8"]
    assert terms.sizes("2 in. x 4 in. x 8 ft. Lumber") == ["2x4", "2x4x8"]


def test_words_are_stemmed_lower_case_without_stop_words() -> None:
    assert terms.words("The Hoses of the Gardens") == ["hose", "garden"]
    assert terms.search_query("the of and") == ""  # nothing BM25 could match


def test_numbers_are_canonical_and_never_divide_by_zero() -> None:
    assert terms.number("1,000") == "1000"
    assert terms.number("3/8") == "0p375"
    assert terms.number("1-1/2") == "1p5"
    assert terms.number("2/0") is None
    assert terms.quantities("a 2/0 in. thing") == []


def test_bm25_finds_a_quantity_written_another_way(tmp_path: Path) -> None:
    index = LanceIndex(str(tmp_path / "lance"), "chunks", DIM)
    index.upsert(
        [
            Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=PUBLISHED)
            for pid in ("HOSE", "FEED")
            for c in chunks_of(pid)
        ]
    )
    # HOSE's title says "30 m"; the query says "30m", "30 metres", "30 meter"
    for query in ("30m hose", "hose 30 metres", "30 meter"):
        hits = index.bm25(query, k=5, filters=[])
        assert hits and hits[0].product_id == "HOSE", query
    assert index.bm25("the of", k=5, filters=[]) == []
    assert "search_text" not in hits[0].fields  # what BM25 matches is not a result field


def test_an_older_table_gains_search_text_when_a_writer_opens_it(tmp_path: Path) -> None:
    uri = str(tmp_path / "lance")
    index = LanceIndex(uri, "chunks", DIM)
    index.upsert(
        [
            Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=PUBLISHED)
            for c in chunks_of("HOSE")
        ]
    )
    index.close()
    # make it look like a table written before search_text existed
    db = lancedb.connect(uri)
    old = db.open_table("chunks").to_arrow().drop(["search_text"])
    db.create_table("chunks", old, mode="overwrite")
    assert "search_text" not in db.open_table("chunks").schema.names

    reader = LanceIndex(uri, "chunks", DIM, create=False)
    assert [h.product_id for h in reader.bm25("garden hose", k=5, filters=[])] == ["HOSE", "HOSE"]
    assert "search_text" not in db.open_table("chunks").schema.names  # a reader changes nothing

    writer = LanceIndex(uri, "chunks", DIM)
    table = db.open_table("chunks")
    assert set(table.to_arrow().column("search_text").to_pylist()) == {
        terms.search_text(c.text) for c in chunks_of("HOSE")
    }
    assert writer.bm25("30m", k=5, filters=[])[0].product_id == "HOSE"
