"""LanceDB backend of `VectorIndex`: an embedded index in a folder (or object store).

Why LanceDB as the embedded default (measured in shared/notes/local-services.md): it runs in
process with no server, has native BM25 full-text and hybrid search, upserts by key
(`merge_insert`), deletes by SQL predicate in milliseconds, and a second process can read while
the worker writes. Rows are keyed by the chunk id (uuid5), so writes are idempotent. The
`vector` column's metadata (`freshindex:model`) records the model that fills the table
(`VectorIndex.bind_model`).

Every failure leaves this module classified once, at its boundary (`_guard`, `_classify`):
storage that cannot be read or written right now (OSError; lance's "Not found", "No such file",
"LanceError(IO)", "Not a directory", anything else lance raises that is not about the schema)
is `IndexUnavailable`, so the worker holds its batch and retries; a table that does not fit the
settings (another vector dimension, another schema) is `IndexMisconfigured`, naming the setting;
a table a reader asks for that was never created is a plain `VectorIndexError` ("does not exist").
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, IvfFlat
from lancedb.rerankers import RRFReranker

from workers.embedding.identity import ModelIdentity
from workers.errors import IndexMisconfigured, IndexUnavailable, VectorIndexError
from workers.index import terms
from workers.index.base import (
    Filter,
    Hit,
    IndexedChunk,
    Row,
    Stored,
    VectorIndex,
    filter_value,
    row_properties,
)

log = logging.getLogger("freshindex.index")

_IN_CHUNK = 500
MODEL_KEY = "freshindex:model"
"""Metadata key of the vector column holding the identity of the model that filled it."""
VECTOR_INDEX_MIN_ROWS = 2_000
"""From this many rows `maintain` gives the vector column an index (below, a scan is fast)."""
SCALAR_INDEXED = ("id", "product_id")
"""Columns `maintain` gives a BTREE index: without one, the worker's change check (`id IN`), the
stale delete and product reads (`product_id =`) scan the table, and slow with its size
(`make bench-scale`, 1M chunks: a 2,048-id change check 0.74 s, a stale delete 4.7 s)."""
_BACKFILL_ROWS = 10_000
"""Rows per write when an older table gains `search_text`."""
_PRODUCT_ROWS = 100_000
"""Most chunks read for one product (far above any product's chunk count)."""
_HIDDEN = frozenset(
    {
        "vector",
        "id",
        "product_id",
        "text",
        "search_text",
        "_relevance_score",
        "_score",
        "_distance",
        "record_hash",
    }
)
"""Columns that are not `IndexedChunk.fields`."""


def _schema(dim: int) -> pa.Schema:
    ts = pa.timestamp("us", tz="UTC")
    text_fields = [
        "product_id",
        "document",
        "text",
        "search_text",
        "section",
        "content_hash",
        "record_hash",
        "title",
        "source",
        "url",
    ]
    text_fields += ["brand", "category", "price_text", "currency", "availability", "attributes"]
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            *(pa.field(name, pa.string()) for name in text_fields),
            pa.field("chunk_index", pa.int32()),
            pa.field("chunk_count", pa.int32()),
            pa.field("token_count", pa.int32()),
            pa.field("price", pa.float64()),
            pa.field("updated_at", ts),
            pa.field("published_at", ts),
            pa.field("indexed_at", ts),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def where_clause(filters: list[Filter]) -> str | None:
    """SQL predicate of metadata filters; raises ValueError on an unknown field or operator."""
    parts = []
    for f in filters:
        value = filter_value(f)
        literal = repr(value) if isinstance(value, float) else quote(value)
        parts.append(f"{f.field} {f.op} {literal}")
    return " AND ".join(parts) or None


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(quote(v) for v in values)})"


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_IO_MARKERS = (
    "not found",
    "no such file",
    "not a directory",
    "lanceerror(io)",
    "io error",
    "permission denied",
    "os error",
    "timed out",
    "connection",
    "too many open files",
    "commit conflict",
    "retryable",
)
"""Words of lance errors about storage that may come back (they win over schema words)."""
_SCHEMA_MARKERS = ("schema error", "lanceerror(schema)", "no field named")
"""Words of lance errors about a table whose columns do not fit this code."""


def _classify(e: Exception, doing: str) -> VectorIndexError:
    """The classified error of a failed LanceDB call (raise it `from e`)."""
    text = f"{type(e).__name__}: {e}"
    message = f"LanceDB {doing} failed: {text}"
    lowered = text.lower()
    if isinstance(e, OSError) or any(m in lowered for m in _IO_MARKERS):
        return IndexUnavailable(message)
    if any(m in lowered for m in _SCHEMA_MARKERS):
        return IndexMisconfigured(message, setting="FRESHINDEX_INDEX_NAME")
    # Nothing else is known to be deterministic: hold the batch and retry rather than drop data.
    return IndexUnavailable(message)


@contextmanager
def _guard(doing: str) -> Iterator[None]:
    """Raise LanceDB/pyarrow failures inside the block as classified errors."""
    try:
        yield
    except VectorIndexError:
        raise
    except Exception as e:
        raise _classify(e, doing) from e


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(doing: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """A method whose failures leave it classified (see `_guard`)."""

    def decorate(method: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(method)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with _guard(doing):
                return method(*args, **kwargs)

        return guarded

    return decorate


class LanceIndex(VectorIndex):
    """Chunks in one LanceDB table."""

    def __init__(
        self,
        uri: str,
        table: str,
        dim: int,
        *,
        create: bool = True,
        read_consistency: timedelta | None = None,
        model: ModelIdentity | None = None,
    ) -> None:
        """`read_consistency`: how stale this handle's view of the table may get; a long-lived
        reader (the retrieval service) needs it to see what other processes write (None: the
        handle keeps the version it opened, which suits a writer). `model`: use the table with
        this model only (`bind_model`: recorded in a new table, a writer's; refused when the
        table records another: `ModelMismatch`)."""
        self.dim = model.dimension if model else dim
        self.schema = _schema(self.dim)
        self.target = table
        self._writer = create
        self._bm25_column = "search_text"
        self._returned: list[str] = []
        """Columns a search reads back (not the vector, not what BM25 matches)."""
        try:
            self._db = lancedb.connect(uri, read_consistency_interval=read_consistency)
            if not create and table not in self._db.list_tables().tables:
                raise VectorIndexError(
                    f"index {table!r} does not exist in {uri}: nothing has been indexed yet (is a worker running?)"
                )
            self._table = self._open_or_create(table)
            recorded = None if model is not None else self.recorded_model()
            if model is not None:
                self.bind_model(model, record=create)
            elif recorded is not None:  # the table's own model says how wide its vectors are
                self._use_dimension(recorded.dimension)
            self._check_width()
            self._returned = [
                n for n in self._table.schema.names if n not in ("vector", "search_text")
            ]
        except VectorIndexError:
            raise
        except Exception as e:
            raise _classify(e, f"open of table {table!r} in {uri}") from e

    def _open_or_create(self, name: str) -> Any:
        if name in self._db.list_tables().tables:
            table = self._db.open_table(name)
        else:
            table = self._db.create_table(name, schema=self.schema, exist_ok=True)
        if "document" not in table.schema.names:
            # Tables written before documents existed: every row is a product record's chunk.
            table.add_columns({"document": "CAST('' AS STRING)"})
        if "search_text" not in table.schema.names:
            if not self._writer:  # a reader does not change the table: BM25 as it was written
                self._bm25_column = "text"
                log.warning(
                    "table %r has no search_text column (written by an older freshindex):"
                    " BM25 runs over the raw text; a worker opening it adds the column, which"
                    " this reader uses once reopened (restart the service)",
                    name,
                )
                return table
            _backfill_search_text(table)
        columns = {tuple(i.columns) for i in table.list_indices() if i.index_type == "FTS"}
        if ("search_text",) not in columns:
            # the column holds words analysed by `terms` (stemmed, no stop words): the index
            # only splits and lower-cases them, so both backends match the same terms
            plain = FTS(stem=False, remove_stop_words=False, ascii_folding=False)
            table.create_index("search_text", config=plain, replace=True)
        return table

    def _use_dimension(self, dim: int) -> None:
        self.dim = dim
        self.schema = _schema(dim)

    def bind_model(self, wanted: ModelIdentity, *, record: bool = True) -> ModelIdentity:
        bound = super().bind_model(wanted, record=record)
        self._use_dimension(bound.dimension)
        return bound

    def _check_width(self) -> None:
        width = self.width()
        if width != self.dim:
            raise IndexMisconfigured(
                f"table {self.target!r} holds {width}-d vectors, settings say {self.dim}",
                setting="FRESHINDEX_EMBEDDING_DIM",
            )

    def width(self) -> int:
        return int(self._table.schema.field("vector").type.list_size)

    @_guarded("model record read")
    def recorded_model(self) -> ModelIdentity | None:
        meta = self._table.schema.field("vector").metadata or {}
        raw = meta.get(MODEL_KEY.encode())
        if raw is None:
            return None
        try:
            return ModelIdentity.from_json(raw)
        except ValueError as e:
            raise IndexMisconfigured(
                f"table {self.target!r} records a model that cannot be read: {e}",
                setting="FRESHINDEX_INDEX_NAME",
            ) from e

    @_guarded("model record")
    def record_model(self, identity: ModelIdentity) -> None:
        self._table.update_field_metadata(
            {"path": "vector", "metadata": {MODEL_KEY: identity.to_json()}}
        )
        self.model = identity

    @_guarded("lookup")
    def lookup(self, chunk_ids: list[str]) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        for ids in _batches(chunk_ids, _IN_CHUNK):
            rows = (
                self._table.search()
                .where(_in("id", ids))
                .select(["id", "content_hash", "record_hash", "vector"])
                .limit(len(ids))
                .to_arrow()
                .to_pylist()
            )
            for r in rows:
                vector = np.asarray(r["vector"], dtype=np.float32)
                out[r["id"]] = Stored(
                    chunk_id=r["id"],
                    content_hash=r["content_hash"],
                    record_hash=r["record_hash"],
                    vector=vector,
                )
        return out

    def record_hashes(self, chunk_ids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with _guard(f"lookup of {len(chunk_ids)} record hashes"):
            for ids in _batches(chunk_ids, _IN_CHUNK):
                found = (
                    self._table.search()
                    .where(_in("id", ids))
                    .select(["id", "record_hash"])
                    .limit(len(ids))
                    .to_arrow()
                )
                out |= dict(
                    zip(
                        found.column("id").to_pylist(),
                        found.column("record_hash").to_pylist(),
                        strict=True,
                    )
                )
        return out

    def upsert(self, rows: list[Row]) -> None:
        if not rows:
            return
        data = pa.Table.from_pylist([self._to_row(r) for r in rows], schema=self.schema)
        with _guard(f"upsert of {len(rows)} rows"):
            self._table.merge_insert(
                "id"
            ).when_matched_update_all().when_not_matched_insert_all().execute(data)

    def _to_row(self, row: Row) -> dict[str, Any]:
        c = row.chunk
        if row.vector.shape != (self.dim,):
            raise IndexMisconfigured(
                f"vector of {c.chunk_id} has shape {row.vector.shape}, index wants ({self.dim},)",
                setting="FRESHINDEX_EMBEDDING_DIM",
            )
        return {
            "id": c.chunk_id,
            **row_properties(row),
            "vector": row.vector.astype(np.float32),
        }

    @_guarded("delete of stale chunks")
    def delete_stale(
        self, keep_below: dict[tuple[str, str], int], drop_products: dict[str, set[str]]
    ) -> int:
        clauses = [
            f"(product_id = {quote(p)} AND document = {quote(d)} AND chunk_index >= {n})"
            for (p, d), n in sorted(keep_below.items())
        ]
        clauses += [
            f"(product_id = {quote(p)}"
            + (f" AND NOT {_in('document', sorted(kept))})" if kept else ")")
            for p, kept in sorted(drop_products.items())
        ]
        deleted = 0
        for group in _batches(clauses, 200):
            predicate = " OR ".join(group)
            stale = self._table.count_rows(predicate)
            if stale:
                self._table.delete(predicate)
                deleted += stale
        return deleted

    def search(self, text: str, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        where = where_clause(filters)  # a bad filter is the caller's ValueError, not the index's
        asked = terms.search_query(text) if self._bm25_column == "search_text" else text
        with _guard("search"):
            query = (
                self._table.search(query_type="hybrid", fts_columns=self._bm25_column)
                .vector(vector.astype(np.float32))
                .text(asked or text)
            )
            if where:
                query = query.where(where, prefilter=True)
            rows = query.limit(k).rerank(RRFReranker()).to_list()
        return [_hit(r, float(r.get("_relevance_score", 0.0))) for r in rows[:k]]

    def bm25(self, text: str, *, k: int, filters: list[Filter]) -> list[Hit]:
        where = where_clause(filters)
        asked = terms.search_query(text) if self._bm25_column == "search_text" else text
        if not asked:
            return []  # only stop words or punctuation: no term can match
        with _guard("BM25 search"):
            query = self._table.search(asked, query_type="fts", fts_columns=self._bm25_column)
            query = query.select([*self._returned, "_score"])
            if where:
                query = query.where(where, prefilter=True)
            rows = query.limit(k).to_list()
        return [_hit(r, float(r["_score"])) for r in rows[:k]]

    def nearest(self, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        where = where_clause(filters)
        with _guard("vector search"):
            query = self._table.search(vector.astype(np.float32), query_type="vector")
            query = query.distance_type("cosine").select([*self._returned, "_distance"])
            if where:
                query = query.where(where, prefilter=True)
            rows = query.limit(k).to_list()
        return [_hit(r, 1.0 - float(r["_distance"])) for r in rows[:k]]

    @_guarded("product read")
    def product(self, product_id: str) -> list[IndexedChunk]:
        rows = (
            self._table.search()
            .where(f"product_id = {quote(product_id)}")
            .limit(_PRODUCT_ROWS)
            .to_list()
        )
        chunks = [_chunk(r) for r in rows]
        return sorted(chunks, key=lambda c: (c.fields["document"] or "", c.fields["chunk_index"]))

    @_guarded("count")
    def count(self) -> int:
        return int(self._table.count_rows())

    @_guarded("freshness query")
    def freshness(self, since: datetime) -> list[float]:
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        rows = (
            self._table.search()
            .where(f"indexed_at >= arrow_cast('{stamp}', 'Timestamp(Microsecond, Some(\"UTC\"))')")
            .select(["published_at", "indexed_at"])
            .limit(1_000_000)
            .to_arrow()
        )
        published = rows.column("published_at").to_pylist()
        indexed = rows.column("indexed_at").to_pylist()
        return [(i - p).total_seconds() for p, i in zip(published, indexed, strict=True)]

    @_guarded("snapshot")
    def snapshot(self) -> dict[str, tuple[str, str, int]]:
        rows = (
            self._table.to_arrow()
            .select(["id", "product_id", "content_hash", "chunk_index"])
            .to_pylist()
        )
        return {r["id"]: (r["product_id"], r["content_hash"], r["chunk_index"]) for r in rows}

    @_guarded("maintenance")
    def maintain(self) -> None:
        """Compact small files, fold new rows into the indices, drop versions older than 10 min;
        index the vectors once the table has `VECTOR_INDEX_MIN_ROWS` rows, and the columns every
        change check, stale delete and product read filters on (`SCALAR_INDEXED`) at once.

        The vector index is IVF_FLAT with one partition: the same exact nearest neighbours as
        a scan without an index, about 13x faster (46,000 chunks: 8 ms against 105 ms here),
        because the index keeps the vectors in one contiguous, search-ready block. Rows written
        since are scanned as well until the next `maintain` folds them in. (An approximate
        index, with partitions or HNSW, is what millions of rows need: Weaviate's HNSW.)"""
        self._table.optimize(cleanup_older_than=timedelta(minutes=10))
        indexed = {tuple(i.columns) for i in self._table.list_indices() if i.index_type != "FTS"}
        rows = self._table.count_rows()
        for column in SCALAR_INDEXED:
            if (column,) not in indexed and rows:
                self._table.create_scalar_index(column, index_type="BTREE")
        if ("vector",) not in indexed and rows >= VECTOR_INDEX_MIN_ROWS:
            config = IvfFlat(distance_type="cosine", num_partitions=1)
            self._table.create_index("vector", config=config, replace=True)


def _backfill_search_text(table: Any) -> None:
    """Give a table written before `search_text` existed that column, computed from each row's
    text (no re-embedding), in batches of `_BACKFILL_ROWS`."""
    log.info("adding search_text to %d rows of %r", table.count_rows(), table.name)
    table.add_columns({"search_text": "CAST(NULL AS STRING)"})
    texts = table.to_arrow().select(["id", "text"]).to_pylist()
    for batch in _batches(texts, _BACKFILL_ROWS):
        update = pa.table(
            {
                "id": [r["id"] for r in batch],
                "search_text": [terms.search_text(r["text"] or "") for r in batch],
            }
        )
        table.merge_insert("id").when_matched_update_all().execute(update)


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in row.items() if k not in _HIDDEN}
    fields["attributes"] = json.loads(fields.get("attributes") or "{}")
    return fields


def _chunk(row: dict[str, Any]) -> IndexedChunk:
    return IndexedChunk(
        chunk_id=row["id"], product_id=row["product_id"], text=row["text"], fields=_fields(row)
    )


def _hit(row: dict[str, Any], score: float) -> Hit:
    return Hit(
        chunk_id=row["id"],
        product_id=row["product_id"],
        score=score,
        text=row["text"],
        fields=_fields(row),
    )
