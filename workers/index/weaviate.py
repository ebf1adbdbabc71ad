"""Weaviate backend of `VectorIndex`: production's index, a Weaviate server (weaviate-client v4).

One collection per index name holds the chunks: the object UUID is the chunk id (a uuid5, so a
replay overwrites and never adds), the vector is self-provided (no vectorizer module), and the
metadata are properties mirroring LanceDB's columns, so a `Hit` looks the same on both backends.
The collection's description records its vector dimension and the model that fills it
(`; model {...}`, `VectorIndex.bind_model`).
Writes go over gRPC in batches whose per-object failures are read back (a batch call does not
raise for them); reads and deletes are filtered by id or by properties.

Every failure leaves this module classified once, by `_classify`, into the errors of
`workers.errors`: `IndexUnavailable` (server down or restarting, timeouts, 5xx, gRPC UNAVAILABLE
or DEADLINE_EXCEEDED: the worker holds the batch and retries), `IndexMisconfigured` (bad API key,
another vector dimension, a collection that does not fit: the worker stops and names the
setting) and `IndexRejected` (objects Weaviate refused, each with its message: dead letters).
The weaviate-client itself retries a gRPC UNAVAILABLE with exponential backoff before it gives
up (about 15 s for a write, about a minute for a query), so an outage surfaces that late.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
import numpy as np
import weaviate
from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    Tokenization,
    VectorDistances,
)
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter as WFilter
from weaviate.classes.query import HybridFusion, MetadataQuery, Metrics
from weaviate.exceptions import (
    AuthenticationFailedError,
    InsufficientPermissionsError,
    ResponseCannotBeDecodedError,
    UnexpectedStatusCodeError,
    WeaviateBaseError,
    WeaviateClosedClientError,
    WeaviateConnectionError,
    WeaviateGRPCUnavailableError,
    WeaviateInsertManyAllFailedError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from schemas.settings import Settings
from workers.embedding.identity import ModelIdentity
from workers.errors import IndexMisconfigured, IndexRejected, IndexUnavailable, VectorIndexError
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
from workers.retry import INDEX_WRITE

log = logging.getLogger("freshindex.index")

_ID_FIELDS = (
    "product_id",
    "document",
    "content_hash",
    "record_hash",
    "source",
    "url",
    "brand",
    "category",
    "currency",
    "availability",
    "section",
)
"""Id-like text: filtered by exact value (field tokenization), never searched by words."""
_WORD_FIELDS = ("text", "title")
_SEARCH_FIELD = "search_text"
"""The words BM25 matches (`workers.index.terms`): searchable, never returned or filtered. A
collection created before it existed has none and keeps BM25 over `text`."""
_STORED_FIELDS = ("price_text", "attributes")
"""Kept for results only: no index."""
_INT_FIELDS = ("chunk_index", "chunk_count", "token_count")
_DATE_FIELDS = ("updated_at", "published_at", "indexed_at")
_RANGED = {"price", "chunk_index", "indexed_at"}
"""Properties compared with < <= > >= (a range index makes those fast)."""
_PROPERTIES = frozenset(
    [*_ID_FIELDS, *_WORD_FIELDS, *_STORED_FIELDS, *_INT_FIELDS, "price", *_DATE_FIELDS]
)
_HIT_FIELDS = (
    "document",
    "section",
    "content_hash",
    "title",
    "source",
    "url",
    "brand",
    "category",
    "price_text",
    "currency",
    "availability",
    "attributes",
    "chunk_index",
    "chunk_count",
    "token_count",
    "price",
    "updated_at",
    "published_at",
    "indexed_at",
)
"""`Hit.fields`, in the order LanceDB returns them (everything but id, product id, text,
record hash and vector)."""
_NEVER_NULL = {"product_id", "document", "source", "section"}
"""Filterable fields every chunk has (possibly empty): `!=` needs no null guard on them."""
_METHODS = {
    "=": "equal",
    "!=": "not_equal",
    "<": "less_than",
    "<=": "less_or_equal",
    ">": "greater_than",
    ">=": "greater_or_equal",
}
_DIM_NOTE = re.compile(r"vector dimension (\d+)")
_MODEL_NOTE = re.compile(r"; model (\{.*\})")
_COLLECTION_NAME = re.compile(r"[A-Za-z][0-9A-Za-z_]*\Z")

_IN_CHUNK = 500
"""Ids per lookup request."""
_INSERT_CHUNK = 256
"""Objects per gRPC batch request (well under the server's message size limit)."""
_DELETE_GROUP = 100
"""(product, document) conditions OR-ed into one delete filter."""
_PAGE = 1000
"""Objects per page when reading many (freshness, snapshot, a product's chunks)."""
_WRITE_RETRIES = 2
"""Extra attempts for objects a batch refused with a transient message."""

# --------------------------------------------------------------------------- error classification

_UNAVAILABLE = "unavailable"
_CREDENTIALS = "credentials"
_SCHEMA = "schema"
_OTHER = "other"

_TRANSIENT_GRPC = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED"}
_CREDENTIALS_GRPC = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
_MARKERS = (
    (
        _UNAVAILABLE,
        (
            "unavailable",
            "deadline exceeded",
            "deadline_exceeded",
            "timed out",
            "timeout",
            "connection refused",
            "connection reset",
            "failed to connect",
            "socket closed",
            "broken pipe",
            "eof",
            "shutting down",
            "shut down",
            "not ready",
            # a restarting server opens gRPC before it has replayed its schema from Raft: a
            # collection this worker opened (and checked) is briefly unknown. If it was really
            # dropped, the worker holds and logs every try rather than writing elsewhere.
            "could not find class",
            "replica",  # "no read replica found": shards still loading after a restart
            "shard",
            "read-only",
            "readonly",
            "resource exhausted",
            "too many requests",
            "try again",
            "temporarily",
            "not enough replicas",
            "consistency level",
            "leader not found",
            "no leader",
        ),
    ),
    (
        _CREDENTIALS,
        ("unauthenticated", "unauthorized", "permission denied", "forbidden", "api key"),
    ),
    (
        _SCHEMA,
        (
            "in schema",
            "no such prop",
            "property",
            "data type",
            "vector lengths",
            "dimension",
        ),
    ),
)
_SETTING = {
    _CREDENTIALS: "FRESHINDEX_WEAVIATE_API_KEY",
    _SCHEMA: "FRESHINDEX_INDEX_NAME",
    _OTHER: "FRESHINDEX_WEAVIATE_URL",
}
_CLIENT_ERRORS = (WeaviateBaseError, httpx.HTTPError, grpc.RpcError, OSError)
"""What calls into weaviate-client raise (its own errors and transport errors it lets through)."""


def _chain(e: BaseException) -> Iterator[BaseException]:
    """`e` and the exceptions it was raised from or during, outermost first."""
    seen: set[int] = set()
    link: BaseException | None = e
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _grpc_code(e: BaseException) -> str | None:
    code = getattr(e, "code", None)
    if not isinstance(e, grpc.RpcError) or not callable(code):
        return None
    try:
        return str(code().name)
    except Exception:  # a half-initialised call can raise instead of answering
        return None


def _kind_by_type(e: BaseException) -> str | None:
    """What an exception means from its type (and status code), if that says enough."""
    if isinstance(e, AuthenticationFailedError | InsufficientPermissionsError):
        return _CREDENTIALS
    if isinstance(e, UnexpectedStatusCodeError | ResponseCannotBeDecodedError):
        status = e.status_code
        if status in (401, 403):
            return _CREDENTIALS
        if status in (408, 429) or status >= 500:
            return _UNAVAILABLE
        return _SCHEMA if status == 422 else None
    if isinstance(e, WeaviateStartUpError):
        return _OTHER if "not supported" in str(e) else _UNAVAILABLE
    transient = (
        WeaviateConnectionError,
        WeaviateTimeoutError,
        WeaviateRetryError,
        WeaviateGRPCUnavailableError,
        WeaviateClosedClientError,
        httpx.TransportError,
        OSError,
    )
    if isinstance(e, transient):
        return _UNAVAILABLE
    code = _grpc_code(e)
    if code in _TRANSIENT_GRPC:
        return _UNAVAILABLE
    return _CREDENTIALS if code in _CREDENTIALS_GRPC else None


def _kind_by_message(message: str) -> str | None:
    lowered = message.lower()
    for kind, markers in _MARKERS:
        if any(m in lowered for m in markers):
            return kind
    return None


def looks_transient(message: str) -> bool:
    """Whether a per-object batch error message reads like a passing condition."""
    return _kind_by_message(message) == _UNAVAILABLE


def _classify(e: BaseException, doing: str = "Weaviate call") -> VectorIndexError:
    """The classified error for a failure of weaviate-client (raise it `from e`)."""
    links = list(_chain(e))
    kind = next((k for k in map(_kind_by_type, links) if k), None)
    # Unrecognised: hold and retry (logged at every try) rather than stop the worker: a restarting
    # server says things no list foresees ("no read replica found" while its shards load).
    kind = kind or _kind_by_message(" ".join(str(link) for link in links)) or _UNAVAILABLE
    message = f"{doing} failed: {type(e).__name__}: {e}"
    if kind == _UNAVAILABLE:
        return IndexUnavailable(message)
    return IndexMisconfigured(message, setting=_SETTING[kind])


@contextmanager
def _guard(doing: str) -> Iterator[None]:
    """Raise client failures inside the block as classified errors."""
    try:
        yield
    except _CLIENT_ERRORS as e:
        raise _classify(e, doing) from e


# --------------------------------------------------------------------------- settings


def collection_name(index_name: str) -> str:
    """The Weaviate collection of an index name (Weaviate capitalises the first letter)."""
    if not _COLLECTION_NAME.match(index_name):
        raise IndexMisconfigured(
            f"index name {index_name!r} cannot name a Weaviate collection"
            " (a letter, then letters, digits or _)",
            setting="FRESHINDEX_INDEX_NAME",
        )
    return index_name[0].upper() + index_name[1:]


def parse_http_url(url: str) -> tuple[str, int, bool]:
    """(host, port, secure) of `scheme://host[:port]`."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise IndexMisconfigured(
            f"Weaviate URL {url!r} is not http(s)://host:port", setting="FRESHINDEX_WEAVIATE_URL"
        )
    secure = parts.scheme == "https"
    return parts.hostname, port or (443 if secure else 80), secure


def parse_grpc_address(address: str) -> tuple[str, int]:
    """(host, port) of `host:port` (`[::1]:50051` for IPv6)."""
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise IndexMisconfigured(
            f"Weaviate gRPC address {address!r} is not host:port",
            setting="FRESHINDEX_WEAVIATE_GRPC_URL",
        )
    return host, int(port)


def _connect(settings: Settings) -> weaviate.WeaviateClient:
    http_host, http_port, secure = parse_http_url(settings.weaviate_url)
    grpc_host, grpc_port = parse_grpc_address(settings.weaviate_grpc_url)
    key = settings.weaviate_api_key
    timeout_s = settings.weaviate_timeout_s
    with _guard(f"connecting to Weaviate at {settings.weaviate_url}"):
        return weaviate.connect_to_custom(
            http_host=http_host,
            http_port=http_port,
            http_secure=secure,
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            grpc_secure=secure,
            auth_credentials=Auth.api_key(key.get_secret_value()) if key else None,
            # the init checks ping gRPC and compare the client with the package index, off
            # loopback: the first real call below says whether the server is there
            skip_init_checks=True,
            additional_config=AdditionalConfig(
                timeout=Timeout(init=timeout_s, query=timeout_s, insert=timeout_s)
            ),
        )


# --------------------------------------------------------------------------- filters


def to_filter(filters: list[Filter]) -> Any:
    """The Weaviate filter of metadata filters (None for none); raises ValueError like
    `lancedb.where_clause`. `!=` on a field that may be null also excludes nulls, as SQL does."""
    parts = []
    for f in filters:
        value = filter_value(f)
        parts.append(getattr(WFilter.by_property(f.field), _METHODS[f.op])(value))
        if f.op == "!=" and f.field not in _NEVER_NULL:
            parts.append(WFilter.by_property(f.field).is_none(False))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else WFilter.all_of(parts)


def _stale_filters(
    keep_below: dict[tuple[str, str], int], drop_products: dict[str, set[str]]
) -> list[Any]:
    """One filter per (product, document) part to cut and per product to drop."""
    out = [
        WFilter.all_of(
            [
                WFilter.by_property("product_id").equal(p),
                WFilter.by_property("document").equal(d),
                WFilter.by_property("chunk_index").greater_or_equal(n),
            ]
        )
        for (p, d), n in sorted(keep_below.items())
    ]
    out += [
        WFilter.all_of(
            [
                WFilter.by_property("product_id").equal(p),
                *(WFilter.by_property("document").not_equal(d) for d in sorted(kept)),
            ]
        )
        for p, kept in sorted(drop_products.items())
    ]
    return out


def _indexed_between(lo: datetime, hi: datetime) -> Any:
    return WFilter.by_property("indexed_at").greater_or_equal(lo) & WFilter.by_property(
        "indexed_at"
    ).less_or_equal(hi)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# --------------------------------------------------------------------------- the index


class WeaviateIndex(VectorIndex):
    """Chunks in one Weaviate collection."""

    _bm25_property = _SEARCH_FIELD
    """The property BM25 runs over (`text` in a collection made before `search_text`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        create: bool = True,
        target: str | None = None,
        model: ModelIdentity | None = None,
    ) -> None:
        """`target`: the collection (default: the one named like the index); `model`: use it
        with this model only (`bind_model`: recorded in a new collection's description, a
        writer's; refused when the collection records another: `ModelMismatch`)."""
        self.dim = model.dimension if model else settings.embedding_dim
        self.index_name = settings.index_name
        self.name = target or collection_name(settings.index_name)
        self.target = self.name
        self.url = settings.weaviate_url
        self._client = _connect(settings)
        log.info("Weaviate at %s, collection %s", self.url, self.name)
        try:
            self._collection = self._open(create, model)
        except BaseException:
            self._client.close()
            raise

    def _open(self, create: bool, model: ModelIdentity | None) -> Any:
        with _guard(f"opening collection {self.name!r} at {self.url}"):
            if not self._client.collections.exists(self.name):
                if not create:
                    raise VectorIndexError(
                        f"index {self.index_name!r} (collection {self.name!r}) does not exist"
                        f" in Weaviate at {self.url}: nothing has been indexed yet"
                        " (is a worker running?)"
                    )
                self._create()
            collection = self._client.collections.use(self.name)
            self._collection = collection
            recorded = None if model is not None else self.recorded_model()
            if model is not None:
                self.bind_model(model, record=create)
            elif recorded is not None:  # the collection's own model says how wide its vectors are
                self.dim = recorded.dimension
            self._check(collection)
        return collection

    def _description(self, model: ModelIdentity | None) -> str:
        text = f"freshindex chunks; vector dimension {self.dim}"
        return text + (f"; model {model.to_json()}" if model else "")

    def recorded_model(self) -> ModelIdentity | None:
        with _guard(f"reading the model of {self.name!r}"):
            description = self._collection.config.get().description or ""
        noted = _MODEL_NOTE.search(description)
        if not noted:
            return None
        try:
            return ModelIdentity.from_json(noted.group(1))
        except ValueError as e:
            raise IndexMisconfigured(
                f"collection {self.name!r} records a model that cannot be read: {e}",
                setting="FRESHINDEX_INDEX_NAME",
            ) from e

    def bind_model(self, wanted: ModelIdentity, *, record: bool = True) -> ModelIdentity:
        bound = super().bind_model(wanted, record=record)
        self.dim = bound.dimension
        return bound

    def record_model(self, identity: ModelIdentity) -> None:
        with _guard(f"recording the model of {self.name!r}"):
            self._collection.config.update(description=self._description(identity))
        self.model = identity

    def width(self) -> int:
        widths = self._widths(self._collection)
        return max(widths) if widths else self.dim

    def _create(self) -> None:
        try:
            self._client.collections.create(
                self.name,
                description=self._description(None),
                # HNSW (cosine) is what scales; at test sizes it is exact in practice, and a
                # filtered search below flat_search_cutoff (40k matches) is a flat, exact scan
                vector_config=Configure.Vectors.self_provided(
                    vector_index_config=Configure.VectorIndex.hnsw(
                        distance_metric=VectorDistances.COSINE
                    )
                ),
                # null state: `brand != x` leaves out chunks without a brand, as SQL does
                inverted_index_config=Configure.inverted_index(index_null_state=True),
                properties=_schema(),
            )
        except UnexpectedStatusCodeError:
            if not self._client.collections.exists(self.name):  # not a concurrent creator
                raise

    def _check(self, collection: Any) -> None:
        """Refuse a collection of another dimension or one freshindex did not make."""
        config = collection.config.get()
        names = {p.name for p in config.properties}
        missing = _PROPERTIES - names
        if missing:
            raise IndexMisconfigured(
                f"collection {self.name!r} at {self.url} lacks the properties"
                f" {', '.join(sorted(missing))}: it is not a freshindex index",
                setting="FRESHINDEX_INDEX_NAME",
            )
        if _SEARCH_FIELD not in names:
            self._bm25_property = "text"
            log.warning(
                "collection %r has no %s property (created by an older freshindex): BM25 runs"
                " over the raw text; index into a new collection for analysed terms",
                self.name,
                _SEARCH_FIELD,
            )
        widths = self._widths(collection, config.description)
        if widths - {self.dim}:
            raise IndexMisconfigured(
                f"collection {self.name!r} at {self.url} holds"
                f" {'/'.join(map(str, sorted(widths)))}-d vectors, settings say {self.dim}",
                setting="FRESHINDEX_EMBEDDING_DIM",
            )

    @staticmethod
    def _widths(collection: Any, description: str | None = None) -> set[int]:
        """The vector lengths the collection notes and holds (a sample object's)."""
        if description is None:
            description = collection.config.get().description or ""
        noted = _DIM_NOTE.search(description or "")
        widths = {int(noted.group(1))} if noted else set()
        sample = collection.query.fetch_objects(limit=1, include_vector=True).objects
        return widths | {len(v) for o in sample for v in o.vector.values()}

    # ----------------------------------------------------------------------- reads

    def lookup(self, chunk_ids: list[str]) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        with _guard(f"lookup in {self.name!r}"):
            for ids in _batches(chunk_ids, _IN_CHUNK):
                found = self._collection.query.fetch_objects(
                    filters=WFilter.by_id().contains_any(ids),
                    include_vector=True,
                    return_properties=["content_hash", "record_hash"],
                    limit=len(ids),
                ).objects
                for obj in found:
                    key = str(obj.uuid)
                    out[key] = Stored(
                        chunk_id=key,
                        content_hash=obj.properties["content_hash"],
                        record_hash=obj.properties["record_hash"],
                        vector=np.asarray(obj.vector["default"], dtype=np.float32),
                    )
        return out

    def record_hashes(self, chunk_ids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with _guard(f"lookup in {self.name!r}"):
            for ids in _batches(chunk_ids, _IN_CHUNK):
                found = self._collection.query.fetch_objects(
                    filters=WFilter.by_id().contains_any(ids),
                    return_properties=["record_hash"],
                    limit=len(ids),
                ).objects
                out |= {str(obj.uuid): obj.properties["record_hash"] for obj in found}
        return out

    def search(self, text: str, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        where = to_filter(filters)
        with _guard(f"search in {self.name!r}"):
            found = self._collection.query.hybrid(
                query=self._bm25_query(text) or text,
                vector=vector.astype(np.float32).tolist(),
                alpha=0.5,
                query_properties=[self._bm25_property],  # as LanceDB's FTS index
                fusion_type=HybridFusion.RELATIVE_SCORE,
                filters=where,
                limit=k,
                return_metadata=MetadataQuery(score=True),
                return_properties=["product_id", "text", *_HIT_FIELDS],
            ).objects
        return [_hit(obj, float(obj.metadata.score or 0.0)) for obj in found]

    def bm25(self, text: str, *, k: int, filters: list[Filter]) -> list[Hit]:
        where = to_filter(filters)
        asked = self._bm25_query(text)
        if not asked:
            return []  # only stop words or punctuation: no term can match
        with _guard(f"BM25 search in {self.name!r}"):
            found = self._collection.query.bm25(
                query=asked,
                query_properties=[self._bm25_property],
                filters=where,
                limit=k,
                return_metadata=MetadataQuery(score=True),
                return_properties=["product_id", "text", *_HIT_FIELDS],
            ).objects
        return [_hit(obj, float(obj.metadata.score or 0.0)) for obj in found]

    def _bm25_query(self, text: str) -> str:
        return terms.search_query(text) if self._bm25_property == _SEARCH_FIELD else text

    def nearest(self, vector: np.ndarray, *, k: int, filters: list[Filter]) -> list[Hit]:
        where = to_filter(filters)
        with _guard(f"vector search in {self.name!r}"):
            found = self._collection.query.near_vector(
                near_vector=vector.astype(np.float32).tolist(),
                filters=where,
                limit=k,
                return_metadata=MetadataQuery(distance=True),
                return_properties=["product_id", "text", *_HIT_FIELDS],
            ).objects
        return [_hit(obj, 1.0 - float(obj.metadata.distance or 0.0)) for obj in found]

    def product(self, product_id: str) -> list[IndexedChunk]:
        """Pages by offset: a product has far fewer chunks than the server's query maximum."""
        where = WFilter.by_property("product_id").equal(product_id)
        out: list[IndexedChunk] = []
        with _guard(f"product read in {self.name!r}"):
            while True:
                page = self._collection.query.fetch_objects(
                    filters=where,
                    limit=_PAGE,
                    offset=len(out),
                    return_properties=["product_id", "text", *_HIT_FIELDS],
                ).objects
                out += [_chunk(obj) for obj in page]
                if len(page) < _PAGE:
                    break
        return sorted(out, key=lambda c: (c.fields["document"] or "", c.fields["chunk_index"]))

    def count(self) -> int:
        with _guard(f"count of {self.name!r}"):
            return int(self._collection.aggregate.over_all(total_count=True).total_count or 0)

    def freshness(self, since: datetime) -> list[float]:
        """Pages through the objects indexed since `since` by time spans of at most `_PAGE`
        objects (counted first), so no request reads more than a page or scans the rest."""
        start = since.astimezone(UTC)
        out: list[float] = []
        with _guard(f"freshness of {self.name!r}"):
            newer = WFilter.by_property("indexed_at").greater_or_equal(start)
            summary = self._collection.aggregate.over_all(
                filters=newer,
                total_count=True,
                return_metrics=Metrics("indexed_at").date_(maximum=True),
            )
            total = int(summary.total_count or 0)
            if total:
                end = _datetime(summary.properties["indexed_at"].maximum)
                for lo, hi, n in self._spans(start, end, total):
                    out += self._ages(lo, hi, n)
        return out

    def _spans(
        self, lo: datetime, hi: datetime, n: int
    ) -> Iterator[tuple[datetime, datetime, int]]:
        """Halve [lo, hi] until each span holds at most a page of objects (or one instant)."""
        stack = [(lo, hi, n)]
        while stack:
            lo, hi, n = stack.pop()
            if n == 0:
                continue
            if n <= _PAGE or hi - lo < timedelta(microseconds=1):
                yield lo, hi, n
                continue
            mid = lo + (hi - lo) // 2
            left = self._count(_indexed_between(lo, mid))
            stack += [(mid + timedelta(microseconds=1), hi, n - left), (lo, mid, left)]

    def _count(self, where: Any) -> int:
        return int(
            self._collection.aggregate.over_all(filters=where, total_count=True).total_count or 0
        )

    def _ages(self, lo: datetime, hi: datetime, n: int) -> list[float]:
        found = self._collection.query.fetch_objects(
            filters=_indexed_between(lo, hi),
            limit=max(n, _PAGE),
            return_properties=["published_at", "indexed_at"],
        ).objects
        return [
            (
                _datetime(o.properties["indexed_at"]) - _datetime(o.properties["published_at"])
            ).total_seconds()
            for o in found
            if o.properties.get("published_at") is not None
        ]

    def snapshot(self) -> dict[str, tuple[str, str, int]]:
        out: dict[str, tuple[str, str, int]] = {}
        with _guard(f"snapshot of {self.name!r}"):
            for obj in self._collection.iterator(
                return_properties=["product_id", "content_hash", "chunk_index"], cache_size=_PAGE
            ):
                p = obj.properties
                out[str(obj.uuid)] = (p["product_id"], p["content_hash"], int(p["chunk_index"]))
        return out

    # ----------------------------------------------------------------------- writes

    def upsert(self, rows: list[Row]) -> None:
        """Write every row; objects Weaviate refuses for good are raised as `IndexRejected`
        after the others were written, and refusals that read as transient are retried, then
        raised as `IndexUnavailable` (the whole batch is retried; writes are idempotent)."""
        objects = {r.chunk.chunk_id: self._to_object(r) for r in rows}
        rejected: dict[str, str] = {}
        for group in _batches(list(objects.values()), _INSERT_CHUNK):
            rejected |= self._insert(group)
        if rejected:
            raise IndexRejected(rejected)

    def _insert(self, objects: list[DataObject[Any, Any]]) -> dict[str, str]:
        """Insert, retry transient refusals; returns chunk id -> message of the rest."""
        rejected: dict[str, str] = {}
        pending = objects
        for attempt in range(_WRITE_RETRIES + 1):
            failed = self._insert_once(pending)
            transient = {cid for cid, message in failed.items() if looks_transient(message)}
            rejected |= {cid: m for cid, m in failed.items() if cid not in transient}
            if not transient:
                return rejected
            if attempt == _WRITE_RETRIES:
                first = next(iter(transient))
                raise IndexUnavailable(
                    f"Weaviate refused {len(transient)} object(s) of {self.name!r} after"
                    f" {_WRITE_RETRIES} retries, e.g. {first}: {failed[first]}"
                )
            time.sleep(INDEX_WRITE.delay(attempt))  # a shard catching up; capped, then raised
            pending = [o for o in pending if str(o.uuid) in transient]
        return rejected

    def _insert_once(self, objects: list[DataObject[Any, Any]]) -> dict[str, str]:
        """One batch request; returns chunk id -> message of the objects it refused."""
        with _guard(f"upsert of {len(objects)} object(s) into {self.name!r}"):
            try:
                result = self._collection.data.insert_many(objects)
            except WeaviateInsertManyAllFailedError as e:
                return self._all_failed(objects, e)
        return {str(objects[i].uuid): error.message for i, error in result.errors.items()}

    def _all_failed(
        self, objects: list[DataObject[Any, Any]], error: WeaviateInsertManyAllFailedError
    ) -> dict[str, str]:
        """Every object was refused (the client then raises with the set of messages): one
        message is everyone's; several are matched to objects by sending them one by one."""
        _, _, messages = str(error).partition("Here is the set of all errors: ")
        if len(objects) == 1 or "\n" not in messages:
            return {str(o.uuid): messages or str(error) for o in objects}
        failed: dict[str, str] = {}
        for obj in objects:
            failed |= self._insert_once([obj])
        return failed

    def _to_object(self, row: Row) -> DataObject[Any, Any]:
        c = row.chunk
        if row.vector.shape != (self.dim,):
            raise IndexMisconfigured(
                f"vector of {c.chunk_id} has shape {row.vector.shape}, index wants ({self.dim},)",
                setting="FRESHINDEX_EMBEDDING_DIM",
            )
        properties = row_properties(row)
        if self._bm25_property != _SEARCH_FIELD:
            del properties[_SEARCH_FIELD]  # an older collection: keep it as it was made
        return DataObject(
            uuid=c.chunk_id, properties=properties, vector=row.vector.astype(np.float32).tolist()
        )

    def delete_stale(
        self, keep_below: dict[tuple[str, str], int], drop_products: dict[str, set[str]]
    ) -> int:
        deleted = 0
        with _guard(f"delete in {self.name!r}"):
            for group in _batches(_stale_filters(keep_below, drop_products), _DELETE_GROUP):
                deleted += self._delete_all(group[0] if len(group) == 1 else WFilter.any_of(group))
        return deleted

    def _delete_all(self, where: Any) -> int:
        """delete_many removes at most QUERY_MAXIMUM_RESULTS objects a call: repeat until none
        match."""
        deleted = 0
        while True:
            result = self._collection.data.delete_many(where=where)
            deleted += int(result.successful)
            if result.matches == 0:
                return deleted
            if result.successful == 0:
                raise IndexUnavailable(
                    f"Weaviate matched {result.matches} stale object(s) in {self.name!r}"
                    f" but deleted none ({result.failed} failed)"
                )

    def close(self) -> None:
        with _guard(f"closing the client of {self.name!r}"):
            self._client.close()


def _schema() -> list[Property]:
    def text(name: str, **kw: Any) -> Property:
        return Property(name=name, data_type=DataType.TEXT, **kw)

    def typed(name: str, data_type: DataType) -> Property:
        return Property(name=name, data_type=data_type, index_range_filters=name in _RANGED)

    return [
        *(text(n, tokenization=Tokenization.FIELD, index_searchable=False) for n in _ID_FIELDS),
        *(text(n, tokenization=Tokenization.WORD) for n in _WORD_FIELDS),
        text(_SEARCH_FIELD, tokenization=Tokenization.WORD, index_filterable=False),
        *(text(n, index_filterable=False, index_searchable=False) for n in _STORED_FIELDS),
        *(typed(n, DataType.INT) for n in _INT_FIELDS),
        typed("price", DataType.NUMBER),
        *(typed(n, DataType.DATE) for n in _DATE_FIELDS),
    ]


def _fields(props: dict[str, Any]) -> dict[str, Any]:
    fields = {name: props.get(name) for name in _HIT_FIELDS}
    fields["attributes"] = json.loads(fields.get("attributes") or "{}")
    return fields


def _chunk(obj: Any) -> IndexedChunk:
    props: dict[str, Any] = obj.properties
    return IndexedChunk(
        chunk_id=str(obj.uuid),
        product_id=props["product_id"],
        text=props["text"],
        fields=_fields(props),
    )


def _hit(obj: Any, score: float) -> Hit:
    props: dict[str, Any] = obj.properties
    return Hit(
        chunk_id=str(obj.uuid),
        product_id=props["product_id"],
        score=score,
        text=props["text"],
        fields=_fields(props),
    )
