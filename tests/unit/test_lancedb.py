"""LanceIndex against a real embedded LanceDB folder in tmp_path (no service needed)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from schemas.models import Chunk, ProductMetadata, chunk_id, content_hash
from tests.unit.fakes import PUBLISHED, as_document, text_vector
from workers.errors import VectorIndexError
from workers.index.base import Filter, Row
from workers.index.lancedb import LanceIndex, quote, where_clause

DIM = 8
INDEXED = PUBLISHED + timedelta(seconds=2.5)


def chunk(
    product_id: str,
    index: int,
    count: int,
    *,
    brand: str = "Terra",
    price: str = "5",
    text: str = "",
) -> Chunk:
    text = text or f"{product_id} garden hose part {index}"
    return Chunk(
        published_at=PUBLISHED,
        chunk_id=chunk_id(product_id, index),
        product_id=product_id,
        chunk_index=index,
        chunk_count=count,
        text=text,
        section="overview" if index == 0 else "description",
        token_count=9,
        content_hash=content_hash(text),
        product=ProductMetadata(
            title=f"Hose {product_id}",
            source="feed:test",
            brand=brand,
            price=Decimal(price),
            currency="EUR",
            attributes={"length": "25 m"},
        ),
    )


def row(c: Chunk) -> Row:
    return Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=INDEXED)


def product(product_id: str, count: int, **kw: str) -> list[Chunk]:
    return [chunk(product_id, i, count, **kw) for i in range(count)]


@pytest.fixture
def index(tmp_path: Path) -> LanceIndex:
    return LanceIndex(str(tmp_path / "lance"), "chunks", DIM)


def test_new_index_is_empty(index: LanceIndex) -> None:
    assert index.count() == 0
    assert index.snapshot() == {}
    assert index.lookup([chunk_id("GA-1", 0)]) == {}


def test_upsert_is_idempotent(index: LanceIndex) -> None:
    rows = [row(c) for c in [*product("A", 3), *product("B", 2)]]
    index.upsert(rows)
    first = index.snapshot()
    index.upsert(rows)
    index.upsert(rows[:2])
    assert index.count() == 5
    assert index.snapshot() == first
    assert first[chunk_id("A", 2)] == ("A", content_hash("A garden hose part 2"), 2)


def test_upsert_replaces_by_chunk_id(index: LanceIndex) -> None:
    index.upsert([row(chunk("A", 0, 1, text="old text"))])
    index.upsert([row(chunk("A", 0, 1, text="new text"))])
    assert index.snapshot() == {chunk_id("A", 0): ("A", content_hash("new text"), 0)}


def test_lookup_returns_hashes_and_vectors_of_present_ids(index: LanceIndex) -> None:
    chunks = product("A", 2)
    index.upsert([row(c) for c in chunks])
    missing = chunk_id("Z", 0)
    found = index.lookup([c.chunk_id for c in chunks] + [missing])
    assert set(found) == {c.chunk_id for c in chunks}
    for c in chunks:
        stored = found[c.chunk_id]
        assert stored.content_hash == c.content_hash
        assert stored.record_hash == c.metadata_hash()
        np.testing.assert_allclose(stored.vector, text_vector(c.text, DIM), rtol=1e-6)


def test_lookup_of_many_ids(index: LanceIndex) -> None:
    chunks = product("A", 700)  # more than one IN (...) group
    index.upsert([row(c) for c in chunks])
    assert set(index.lookup([c.chunk_id for c in chunks])) == {c.chunk_id for c in chunks}


def test_delete_stale_counts_deleted_rows(index: LanceIndex) -> None:
    index.upsert([row(c) for c in [*product("A", 5), *product("B", 2), *product("C", 1)]])
    assert index.delete_stale({("A", ""): 2, ("B", ""): 0, ("Z", ""): 0}, {}) == 3 + 2
    assert sorted(v[0] + str(v[2]) for v in index.snapshot().values()) == ["A0", "A1", "C0"]
    assert index.delete_stale({("A", ""): 2, ("B", ""): 0}, {"Z": set()}) == 0
    assert index.delete_stale({}, {}) == 0


def test_delete_stale_handles_quotes_in_product_ids(index: LanceIndex) -> None:
    index.upsert([row(c) for c in [*product("O'Neill-1", 2), *product("O", 1)]])
    assert index.delete_stale({("O'Neill-1", ""): 0}, {}) == 2
    assert [v[0] for v in index.snapshot().values()] == ["O"]


def test_documents_are_truncated_and_dropped_apart_from_the_record(index: LanceIndex) -> None:
    record_, manual, sheet = (
        product("A", 3),
        as_document(product("A", 4), "manual.pdf"),
        as_document(product("A", 2), "it's.docx"),
    )
    index.upsert([row(c) for c in [*record_, *manual, *sheet, *product("B", 1)]])
    assert index.delete_stale({("A", "manual.pdf"): 1}, {}) == 3
    assert index.lookup([c.chunk_id for c in record_]).keys() == {c.chunk_id for c in record_}
    # product A deleted as a whole, except its sheet published again in the same batch
    assert index.delete_stale({}, {"A": {"it's.docx"}}) == 3 + 1
    assert sorted(index.lookup([c.chunk_id for c in [*record_, *manual, *sheet]])) == sorted(
        c.chunk_id for c in sheet
    )
    assert index.delete_stale({}, {"A": set()}) == 2
    assert [v[0] for v in index.snapshot().values()] == ["B"]


def test_a_table_written_before_documents_gains_the_column(tmp_path: Path) -> None:
    import lancedb
    import pyarrow as pa

    old = pa.schema(
        [f for f in LanceIndex(str(tmp_path / "new"), "t", DIM).schema if f.name != "document"]
    )
    lancedb.connect(str(tmp_path / "old")).create_table("t", schema=old)
    index = LanceIndex(str(tmp_path / "old"), "t", DIM)
    index.upsert([row(c) for c in product("A", 2)])
    assert index.delete_stale({("A", ""): 1}, {}) == 1


def test_vector_of_wrong_shape_is_refused(index: LanceIndex) -> None:
    bad = Row(
        chunk=chunk("A", 0, 1), vector=np.zeros(DIM + 1, dtype=np.float32), indexed_at=INDEXED
    )
    with pytest.raises(VectorIndexError, match="shape"):
        index.upsert([bad])
    assert index.count() == 0


def test_freshness_is_indexed_minus_published(index: LanceIndex) -> None:
    index.upsert([row(c) for c in product("A", 3)])
    assert index.freshness(INDEXED - timedelta(seconds=1)) == [2.5, 2.5, 2.5]
    assert index.freshness(INDEXED + timedelta(seconds=1)) == []


# --------------------------------------------------------------------------- search and filters


@pytest.fixture
def catalog(index: LanceIndex) -> LanceIndex:
    rows = []
    for i in range(12):
        brand = ["Terra", "Verde", "O'Neill"][i % 3]
        c = chunk(
            f"P{i:02d}", 0, 1, brand=brand, price=str(i), text=f"garden hose model {i} by {brand}"
        )
        rows.append(row(c))
    index.upsert(rows)
    return index


def search(index: LanceIndex, *filters: Filter) -> list[tuple[str, dict[str, object]]]:
    hits = index.search("garden hose", text_vector("garden hose", DIM), k=50, filters=list(filters))
    return [(h.product_id, h.fields) for h in hits]


def test_search_without_filters_finds_everything(catalog: LanceIndex) -> None:
    hits = catalog.search("garden hose", text_vector("garden hose", DIM), k=5, filters=[])
    assert len(hits) == 5
    assert len(search(catalog)) == 12
    assert hits[0].fields["attributes"] == {"length": "25 m"}
    assert "vector" not in hits[0].fields and "record_hash" not in hits[0].fields


def test_search_filters_by_brand(catalog: LanceIndex) -> None:
    hits = search(catalog, Filter(field="brand", op="=", value="Terra"))
    assert sorted(p for p, _ in hits) == ["P00", "P03", "P06", "P09"]
    assert {f["brand"] for _, f in hits} == {"Terra"}


def test_search_filters_by_brand_with_an_apostrophe(catalog: LanceIndex) -> None:
    hits = search(catalog, Filter(field="brand", op="=", value="O'Neill"))
    assert sorted(p for p, _ in hits) == ["P02", "P05", "P08", "P11"]


def test_search_filters_by_price_and_combines_filters(catalog: LanceIndex) -> None:
    cheap = search(catalog, Filter(field="price", op="<=", value="4"))
    assert sorted(p for p, _ in cheap) == ["P00", "P01", "P02", "P03", "P04"]
    both = search(
        catalog,
        Filter(field="price", op=">", value="4.5"),
        Filter(field="brand", op="!=", value="Terra"),
    )
    assert sorted(p for p, _ in both) == ["P05", "P07", "P08", "P10", "P11"]


def test_search_filter_matching_nothing(catalog: LanceIndex) -> None:
    assert search(catalog, Filter(field="brand", op="=", value="Nobody")) == []


# --------------------------------------------------------------------------- where_clause and quote


def test_quote_escapes_single_quotes() -> None:
    assert quote("O'Neill") == "'O''Neill'"
    assert quote("''") == "''''''"
    assert quote("plain") == "'plain'"


def test_where_clause() -> None:
    assert where_clause([]) is None
    clause = where_clause(
        [Filter(field="brand", op="=", value="O'Neill"), Filter(field="price", op="<", value="10")]
    )
    assert clause == "brand = 'O''Neill' AND price < 10.0"


def test_where_clause_cannot_be_injected() -> None:
    clause = where_clause([Filter(field="brand", op="=", value="x' OR '1'='1")])
    assert clause == "brand = 'x'' OR ''1''=''1'"


@pytest.mark.parametrize(
    ("flt", "match"),
    [
        (Filter(field="colour", op="=", value="red"), "colour"),
        (Filter(field="vector", op="=", value="1"), "vector"),
        (Filter(field="brand", op="LIKE", value="T%"), "LIKE"),
        (Filter(field="brand", op="==", value="T"), "=="),
        (Filter(field="price", op="<", value="cheap"), "number"),
        (Filter(field="price", op="<", value="1; DROP TABLE x"), "number"),
    ],
)
def test_where_clause_rejects(flt: Filter, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        where_clause([flt])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_where_clause_rejects_non_finite_prices(value: str) -> None:
    assert not math.isfinite(float(value))
    try:
        clause = where_clause([Filter(field="price", op="<=", value=value)])
    except ValueError:
        return
    raise AssertionError(
        f"accepted and rendered as {clause!r}, which LanceDB reads as a column name"
    )


# --------------------------------------------------------------------------- opening


def test_open_missing_table_without_create_fails(tmp_path: Path) -> None:
    with pytest.raises(VectorIndexError, match="does not exist"):
        LanceIndex(str(tmp_path / "lance"), "nothing_yet", DIM, create=False)


def test_reopen_sees_the_same_rows(tmp_path: Path) -> None:
    uri = str(tmp_path / "lance")
    LanceIndex(uri, "chunks", DIM).upsert([row(c) for c in product("A", 2)])
    again = LanceIndex(uri, "chunks", DIM, create=False)
    assert again.count() == 2


def test_dimension_mismatch_fails(tmp_path: Path) -> None:
    uri = str(tmp_path / "lance")
    LanceIndex(uri, "chunks", DIM)
    with pytest.raises(VectorIndexError, match="'chunks'"):
        LanceIndex(uri, "chunks", 16)
    with pytest.raises(VectorIndexError):
        LanceIndex(uri, "chunks", 16, create=False)
    assert LanceIndex(uri, "chunks", DIM, create=False).count() == 0


def test_indexed_at_is_stored_in_utc(index: LanceIndex) -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    c = chunk("A", 0, 1).model_copy(update={"published_at": moment})
    index.upsert(
        [Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=moment + timedelta(seconds=1))]
    )
    assert index.freshness(moment) == [1.0]
