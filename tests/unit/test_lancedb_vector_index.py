"""LanceDB's vector index (`LanceIndex.maintain`): created once the table is large enough, exact
(the same neighbours as a scan), and rows written after it are still found."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.fakes import PUBLISHED, text_vector
from tests.unit.test_lancedb import DIM, chunk, row
from workers.index import lancedb as backend
from workers.index.base import Row
from workers.index.lancedb import LanceIndex


def vector_indices(index: LanceIndex) -> list[str]:
    return [i.index_type for i in index._table.list_indices() if i.columns == ["vector"]]


def test_maintain_indexes_vectors_exactly_once_the_table_is_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "VECTOR_INDEX_MIN_ROWS", 40)
    index = LanceIndex(str(tmp_path / "lance"), "chunks", DIM)
    index.upsert([row(chunk(f"P{i:02d}", 0, 1)) for i in range(30)])
    index.maintain()
    assert vector_indices(index) == []  # below the threshold: a scan

    index.upsert([row(chunk(f"P{i:02d}", 0, 1)) for i in range(30, 60)])
    probe = text_vector("garden hose", DIM)
    scanned = [(h.chunk_id, round(h.score, 5)) for h in index.nearest(probe, k=10, filters=[])]
    index.maintain()
    assert vector_indices(index) == ["IvfFlat"]
    indexed = [(h.chunk_id, round(h.score, 5)) for h in index.nearest(probe, k=10, filters=[])]
    assert indexed == scanned  # exact: the same neighbours, the same order

    late = chunk("LATE", 0, 1, text="written after the index")
    index.upsert([Row(chunk=late, vector=probe, indexed_at=PUBLISHED)])
    assert index.nearest(probe, k=1, filters=[])[0].product_id == "LATE"
    index.maintain()  # folds it in; the index is not rebuilt
    assert vector_indices(index) == ["IvfFlat"]
    assert index.nearest(probe, k=1, filters=[])[0].product_id == "LATE"


def test_maintain_indexes_ids_and_product_ids_and_lookups_still_see_later_rows(
    tmp_path: Path,
) -> None:
    index = LanceIndex(str(tmp_path / "lance"), "chunks", DIM)
    index.upsert([row(chunk(f"P{i:02d}", c, 2)) for i in range(20) for c in range(2)])
    index.maintain()
    scalar = {tuple(i.columns): i.index_type for i in index._table.list_indices()}
    assert scalar[("id",)] == scalar[("product_id",)] == "BTree"

    late = row(chunk("LATE", 0, 1))
    index.upsert([late])  # after the index: found before the next maintain folds it in
    found = index.lookup([late.chunk.chunk_id, chunk("P03", 1, 2).chunk_id, "missing"])
    assert set(found) == {late.chunk.chunk_id, chunk("P03", 1, 2).chunk_id}
    assert index.delete_stale({("P03", ""): 1}, {}) == 1  # P03 now has one chunk
    index.maintain()
    assert set(index.lookup([chunk("P03", 1, 2).chunk_id, late.chunk.chunk_id])) == {
        late.chunk.chunk_id
    }
