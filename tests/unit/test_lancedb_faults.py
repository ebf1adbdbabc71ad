"""LanceIndex classifies every failure at its boundary: storage that is away is
`IndexUnavailable` (the worker holds its batch: an outage never becomes a dead letter), a table
that does not fit the settings is `IndexMisconfigured` naming the setting, and a reader asking
for a table that was never written gets "does not exist"."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.fakes import text_vector
from tests.unit.test_lancedb import DIM, product, row
from workers.errors import (
    IndexMisconfigured,
    IndexUnavailable,
    Terminal,
    Transient,
    VectorIndexError,
)
from workers.index.base import Filter
from workers.index.lancedb import LanceIndex, _classify

Call = Callable[[LanceIndex], Any]

CALLS: dict[str, Call] = {
    "lookup": lambda i: i.lookup([c.chunk_id for c in product("A", 2)]),
    "upsert": lambda i: i.upsert([row(c) for c in product("B", 2)]),
    "delete_stale": lambda i: i.delete_stale({("A", ""): 1}, {"Z": set()}),
    "snapshot": lambda i: i.snapshot(),
    "freshness": lambda i: i.freshness(datetime(2020, 1, 1, tzinfo=UTC)),
    "search": lambda i: i.search("hose", text_vector("hose", DIM), k=3, filters=[]),
    "maintain": lambda i: i.maintain(),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "lance"


@pytest.fixture
def index(folder: Path) -> LanceIndex:
    index = LanceIndex(str(folder), "chunks", DIM)
    index.upsert([row(c) for c in product("A", 3)])
    return index


@pytest.fixture
def outage(folder: Path, index: LanceIndex) -> Iterator[Callable[[], None]]:
    """The table's folder is away (a file stands in its place, so nothing can recreate it);
    calling the yielded function brings it back."""
    table, away = folder / "chunks.lance", folder / "chunks.away"
    os.rename(table, away)
    table.write_text("the disk is away")

    def restore() -> None:
        if away.exists():
            table.unlink()
            os.rename(away, table)

    yield restore
    restore()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_outage_of_the_storage_is_unavailable_not_a_raw_lance_error(
    index: LanceIndex, outage: Callable[[], None], name: str
) -> None:
    with pytest.raises(IndexUnavailable, match=r"LanceDB .* failed") as raised:
        CALLS[name](index)
    assert isinstance(raised.value, Transient)
    assert raised.value.__cause__ is not None, "the lance error is chained"


def test_the_same_handle_works_again_when_the_storage_is_back(
    index: LanceIndex, outage: Callable[[], None]
) -> None:
    with pytest.raises(IndexUnavailable):
        CALLS["upsert"](index)
    outage()
    CALLS["upsert"](index)
    assert index.count() == 5
    assert {p for p, _, _ in index.snapshot().values()} == {"A", "B"}


def test_a_worker_opening_a_table_whose_storage_is_away_gets_unavailable(
    folder: Path, outage: Callable[[], None]
) -> None:
    with pytest.raises(IndexUnavailable):
        LanceIndex(str(folder), "chunks", DIM)


class Broken:
    """A lance table whose every call raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return fail


LANCE_IO = [
    RuntimeError("lance error: Not found: tmp/x/chunks.lance/data/0101.lance, local.rs:273:40"),
    RuntimeError("lance error: LanceError(IO): Not a directory (os error 20), local.rs:274:24"),
    ValueError("External error: Not found: tmp/x/chunks.lance/data/0101.lance"),
    OSError(errno.ENOENT, "No such file or directory"),
    OSError(errno.ENOSPC, "No space left on device"),
    RuntimeError("lance error: Retryable commit conflict for version 12"),
    RuntimeError("lance error: something nobody has seen before"),
]


@pytest.mark.parametrize("error", LANCE_IO, ids=lambda e: str(e)[:40])
@pytest.mark.parametrize("name", [*sorted(CALLS), "count"])
def test_every_method_classifies_lance_errors(
    index: LanceIndex, error: Exception, name: str
) -> None:
    index._table = Broken(error)
    call = CALLS.get(name, lambda i: i.count())
    with pytest.raises(IndexUnavailable) as raised:
        call(index)
    assert raised.value.__cause__ is error and str(error) in str(raised.value)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("lance error: LanceError(Schema): no field named record_hash"),
        ValueError("Schema error: No field named content_hash. Valid fields are id, text."),
    ],
)
def test_a_table_with_other_columns_is_misconfigured(index: LanceIndex, error: Exception) -> None:
    index._table = Broken(error)
    with pytest.raises(IndexMisconfigured) as raised:
        index.lookup(["x"])
    assert raised.value.setting == "FRESHINDEX_INDEX_NAME" and isinstance(raised.value, Terminal)


def test_storage_words_win_over_schema_words() -> None:
    error = RuntimeError("lance error: Not found: /data/schema error/chunks.lance/data/1.lance")
    assert type(_classify(error, "lookup")) is IndexUnavailable


def test_another_dimension_is_misconfigured_and_names_the_setting(
    folder: Path, index: LanceIndex
) -> None:
    with pytest.raises(IndexMisconfigured) as raised:
        LanceIndex(str(folder), "chunks", DIM * 2)
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    assert "FRESHINDEX_EMBEDDING_DIM" in str(raised.value) and f"{DIM}-d" in str(raised.value)


def test_a_vector_of_another_width_is_misconfigured(index: LanceIndex) -> None:
    bad = row(product("C", 1)[0])
    bad = type(bad)(
        chunk=bad.chunk, vector=np.zeros(DIM + 1, np.float32), indexed_at=bad.indexed_at
    )
    with pytest.raises(IndexMisconfigured) as raised:
        index.upsert([bad])
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    assert index.count() == 3


def test_a_reader_of_a_table_never_written_gets_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(VectorIndexError, match="does not exist") as raised:
        LanceIndex(str(tmp_path / "empty"), "chunks", DIM, create=False)
    assert not isinstance(raised.value, Transient | Terminal)


def test_a_bad_search_filter_is_the_callers_value_error(index: LanceIndex) -> None:
    with pytest.raises(ValueError, match="cannot filter"):
        index.search(
            "hose", text_vector("hose", DIM), k=3, filters=[Filter(field="x", op="=", value="1")]
        )
