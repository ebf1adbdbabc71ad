"""The Weaviate backend's pure parts, without a server: filters, error classification, names,
addresses, and the conversion of chunks to objects. The same backend against a real server is in
tests/integration/test_index_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from pydantic import SecretStr
from weaviate.exceptions import (
    AuthenticationFailedError,
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateBatchError,
    WeaviateConnectionError,
    WeaviateDeleteManyError,
    WeaviateQueryError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from schemas.models import Availability, Chunk, ProductMetadata, chunk_id, content_hash
from schemas.settings import Settings
from tests.unit.fakes import PUBLISHED
from workers.errors import IndexMisconfigured, IndexUnavailable, VectorIndexError
from workers.index.base import Filter, Row
from workers.index.lancedb import where_clause
from workers.index.weaviate import (
    WeaviateIndex,
    _classify,
    _hit,
    collection_name,
    looks_transient,
    parse_grpc_address,
    parse_http_url,
    to_filter,
)


def plain(f: Any) -> Any:
    """A weaviate filter as nested tuples: (operator, [operands]) or (target, operator, value)."""
    if f is None:
        return None
    if hasattr(f, "filters"):
        return (f.operator.value, [plain(x) for x in f.filters])
    return (f.target, f.operator.value, f.value)


# --------------------------------------------------------------------------- filters


def test_no_filters_is_no_filter() -> None:
    assert to_filter([]) is None


@pytest.mark.parametrize(
    ("op", "operator"),
    [
        ("=", "Equal"),
        ("<", "LessThan"),
        ("<=", "LessThanEqual"),
        (">", "GreaterThan"),
        (">=", "GreaterThanEqual"),
    ],
)
def test_each_operator_maps_to_its_weaviate_operator(op: str, operator: str) -> None:
    assert plain(to_filter([Filter(field="brand", op=op, value="O'Neill")])) == (
        "brand",
        operator,
        "O'Neill",
    )


def test_price_is_compared_as_a_number() -> None:
    assert plain(to_filter([Filter(field="price", op="<=", value="10")])) == (
        "price",
        "LessThanEqual",
        10.0,
    )


def test_not_equal_leaves_out_nulls_like_sql_on_nullable_fields_only() -> None:
    assert plain(to_filter([Filter(field="brand", op="!=", value="Terra")])) == (
        "And",
        [("brand", "NotEqual", "Terra"), ("brand", "IsNull", False)],
    )
    # every chunk has a document ("" for the product's own record): no null guard
    assert plain(to_filter([Filter(field="document", op="!=", value="manual.pdf")])) == (
        "document",
        "NotEqual",
        "manual.pdf",
    )


def test_filters_are_combined_with_and() -> None:
    combined = to_filter(
        [Filter(field="brand", op="=", value="Terra"), Filter(field="price", op=">", value="4.5")]
    )
    assert plain(combined) == (
        "And",
        [("brand", "Equal", "Terra"), ("price", "GreaterThan", 4.5)],
    )


@pytest.mark.parametrize(
    "flt",
    [
        Filter(field="colour", op="=", value="red"),
        Filter(field="vector", op="=", value="1"),
        Filter(field="brand", op="LIKE", value="T%"),
        Filter(field="brand", op="==", value="T"),
        Filter(field="price", op="<", value="cheap"),
        Filter(field="price", op="<=", value="nan"),
        Filter(field="price", op="<=", value="inf"),
        Filter(field="price", op="<=", value="1e999"),
    ],
)
def test_bad_filters_fail_with_the_same_message_as_lancedb(flt: Filter) -> None:
    with pytest.raises(ValueError) as lance:
        where_clause([flt])
    with pytest.raises(ValueError) as weaviate_:
        to_filter([flt])
    assert str(weaviate_.value) == str(lance.value)


# --------------------------------------------------------------------------- error classification


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A finished gRPC call with a status, as grpcio raises it."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> None: ...
    def trailing_metadata(self) -> None: ...
    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None: ...
    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def response(status: int, body: Any = None) -> httpx.Response:
    return httpx.Response(
        status, json=body or {"error": [{"message": "x"}]}, request=httpx.Request("GET", "http://h")
    )


def raised_during(outer: Exception, inner: BaseException) -> Exception:
    """`outer` as the client raises it: inside an `except` for `inner` (implicit chaining)."""
    try:
        try:
            raise inner
        except BaseException:
            raise outer  # noqa: B904 - the client does this
    except Exception as e:
        return e


@pytest.mark.parametrize(
    "error",
    [
        WeaviateConnectionError("connect refused"),
        WeaviateTimeoutError("read timeout"),
        WeaviateStartUpError("Could not connect to Weaviate:Connection refused."),
        WeaviateRetryError("UNAVAILABLE", 5),
        UnexpectedStatusCodeError("batch", response(503)),
        UnexpectedStatusCodeError("schema", response(500)),
        UnexpectedStatusCodeError("query", response(429)),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        ConnectionResetError("reset by peer"),
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"),
        FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
        raised_during(
            WeaviateQueryError("Deadline Exceeded", "GRPC search"),
            FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"),
        ),
        raised_during(
            WeaviateQueryError("The request to Weaviate failed after 5 retries", "GRPC search"),
            WeaviateRetryError("StatusCode.UNAVAILABLE", 5),
        ),
        raised_during(
            WeaviateBatchError("failed to connect to all addresses"),
            FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"),
        ),
        WeaviateDeleteManyError("[UNAVAILABLE] Socket closed"),
        WeaviateQueryError("shard is shutting down", "GRPC search"),
    ],
    ids=lambda e: f"{type(e).__name__}:{str(e)[:40]}",
)
def test_outages_are_unavailable(error: Exception) -> None:
    classified = _classify(error, "upsert")
    assert type(classified) is IndexUnavailable
    assert str(classified).startswith("upsert failed: ")


@pytest.mark.parametrize(
    "error",
    [
        UnexpectedStatusCodeError("meta", response(401)),
        InsufficientPermissionsError(response(403)),
        InsufficientPermissionsError(FakeRpcError(grpc.StatusCode.PERMISSION_DENIED, "denied")),
        AuthenticationFailedError("bad credentials"),
        FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "invalid api key"),
        raised_during(
            WeaviateQueryError("unauthenticated", "GRPC search"),
            FakeRpcError(grpc.StatusCode.UNAUTHENTICATED, "invalid api key"),
        ),
    ],
)
def test_bad_credentials_name_the_api_key(error: Exception) -> None:
    classified = _classify(error)
    assert isinstance(classified, IndexMisconfigured)
    assert classified.setting == "FRESHINDEX_WEAVIATE_API_KEY"


@pytest.mark.parametrize(
    "error",
    [
        UnexpectedStatusCodeError("create collection", response(422)),
        WeaviateBatchError("no such prop with name 'colour' found in class 'Idx_ab12cd'"),
    ],
)
def test_schema_mismatches_name_the_index(error: Exception) -> None:
    classified = _classify(error)
    assert isinstance(classified, IndexMisconfigured)
    assert classified.setting == "FRESHINDEX_INDEX_NAME"


def test_an_unsupported_server_names_the_url() -> None:
    error = WeaviateStartUpError("Weaviate version 1.20.0 is not supported.")
    classified = _classify(error)
    assert isinstance(classified, IndexMisconfigured)
    assert classified.setting == "FRESHINDEX_WEAVIATE_URL"


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("context deadline exceeded", True),
        ("store is read-only", True),
        ("shard Idx_x_abc: not ready", True),
        ("cannot achieve consistency level QUORUM", True),
        ("invalid number property 'price' on class 'X': requires a float", False),
        ("vector lengths don't match", False),
        ("invalid text property 'brand': not a string", False),
    ],
)
def test_per_object_messages(message: str, transient: bool) -> None:
    assert looks_transient(message) is transient


# --------------------------------------------------------------------------- names and addresses


@pytest.mark.parametrize(
    ("index_name", "collection"),
    [("products", "Products"), ("idx_ab12cd", "Idx_ab12cd"), ("Chunks", "Chunks"), ("a", "A")],
)
def test_collection_names_are_capitalised(index_name: str, collection: str) -> None:
    assert collection_name(index_name) == collection


@pytest.mark.parametrize("index_name", ["", "1st", "_x", "my-index", "a.b", "ä"])
def test_index_names_weaviate_cannot_take_are_misconfigured(index_name: str) -> None:
    with pytest.raises(IndexMisconfigured) as raised:
        collection_name(index_name)
    assert raised.value.setting == "FRESHINDEX_INDEX_NAME"


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("http://127.0.0.1:8080", ("127.0.0.1", 8080, False)),
        ("https://cluster.example.net", ("cluster.example.net", 443, True)),
        ("http://weaviate", ("weaviate", 80, False)),
        ("http://[::1]:8080/", ("::1", 8080, False)),
    ],
)
def test_http_url(url: str, parsed: tuple[str, int, bool]) -> None:
    assert parse_http_url(url) == parsed


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://h:1", "http://:8080", "http://h:99999"])
def test_bad_http_url(url: str) -> None:
    with pytest.raises(IndexMisconfigured) as raised:
        parse_http_url(url)
    assert raised.value.setting == "FRESHINDEX_WEAVIATE_URL"


@pytest.mark.parametrize(
    ("address", "parsed"),
    [("127.0.0.1:50051", ("127.0.0.1", 50051)), ("[::1]:50051", ("::1", 50051))],
)
def test_grpc_address(address: str, parsed: tuple[str, int]) -> None:
    assert parse_grpc_address(address) == parsed


@pytest.mark.parametrize("address", ["127.0.0.1", ":50051", "h:port", "h:0", "h:70000"])
def test_bad_grpc_address(address: str) -> None:
    with pytest.raises(IndexMisconfigured) as raised:
        parse_grpc_address(address)
    assert raised.value.setting == "FRESHINDEX_WEAVIATE_GRPC_URL"


def test_a_server_that_is_not_there_is_unavailable_and_the_key_is_never_shown() -> None:
    from infra.stack.supervisor import free_port

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        index_backend="weaviate",
        weaviate_url=f"http://127.0.0.1:{free_port()}",
        weaviate_grpc_url=f"127.0.0.1:{free_port()}",
        weaviate_api_key=SecretStr("s3cret-key-value"),
        weaviate_timeout_s=2,
    )
    with pytest.raises(IndexUnavailable) as raised:
        WeaviateIndex(settings)
    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in repr(settings)


def test_a_bad_index_name_fails_before_connecting() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, index_backend="weaviate", index_name="my-index"
    )
    with pytest.raises(IndexMisconfigured, match="my-index"):
        WeaviateIndex(settings)


# --------------------------------------------------------------------------- objects and hits


def make_chunk(**product: Any) -> Chunk:
    text = "Peat-free compost for raised beds"
    return Chunk(
        published_at=PUBLISHED,
        chunk_id=chunk_id("GA-1", 0),
        product_id="GA-1",
        chunk_index=0,
        chunk_count=1,
        text=text,
        section="overview",
        token_count=9,
        content_hash=content_hash(text),
        product=ProductMetadata(title="Compost 40 L", source="feed:test", **product),
    )


def index_without_server(dim: int) -> WeaviateIndex:
    index = WeaviateIndex.__new__(WeaviateIndex)
    index.dim = dim
    return index


def test_a_row_becomes_an_object_keyed_by_its_chunk_id() -> None:
    c = make_chunk(
        brand="Terravita",
        price=Decimal("6.99"),
        currency="EUR",
        availability=Availability.IN_STOCK,
        attributes={"volume": "40 L"},
    )
    indexed = datetime(2026, 11, 20, 12, 0, 3, tzinfo=UTC)
    obj = index_without_server(4)._to_object(
        Row(chunk=c, vector=np.arange(4, dtype=np.float64), indexed_at=indexed)
    )
    assert str(obj.uuid) == c.chunk_id
    assert obj.vector == [0.0, 1.0, 2.0, 3.0]
    props = obj.properties
    assert props is not None
    assert "id" not in props and "vector" not in props
    assert props["price"] == 6.99 and props["price_text"] == "6.99"
    assert props["availability"] == "InStock"
    assert props["attributes"] == '{"volume": "40 L"}'
    assert props["record_hash"] == c.metadata_hash()
    assert props["document"] == "" and props["indexed_at"] == indexed


def test_a_vector_of_the_wrong_dimension_is_misconfigured() -> None:
    row = Row(chunk=make_chunk(), vector=np.zeros(5, dtype=np.float32), indexed_at=PUBLISHED)
    with pytest.raises(IndexMisconfigured, match="shape") as raised:
        index_without_server(4)._to_object(row)
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    assert isinstance(raised.value, VectorIndexError)


def test_hits_carry_the_fields_lancedb_returns() -> None:
    obj = SimpleNamespace(
        uuid=chunk_id("GA-1", 0),
        metadata=SimpleNamespace(score=0.75),
        properties={
            "product_id": "GA-1",
            "text": "t",
            "attributes": '{"a": "b"}',
            "brand": "Terravita",
            "chunk_index": 0,
        },
    )
    hit = _hit(obj, obj.metadata.score)
    assert (hit.chunk_id, hit.product_id, hit.text, hit.score) == (obj.uuid, "GA-1", "t", 0.75)
    assert hit.fields["attributes"] == {"a": "b"}
    assert hit.fields["brand"] == "Terravita" and hit.fields["url"] is None
    assert not {"vector", "record_hash", "id", "product_id", "text"} & set(hit.fields)


def test_a_collection_unknown_to_a_restarting_server_is_held_not_fatal() -> None:
    # gRPC answers before the schema is replayed from Raft: seen after every Weaviate restart
    error = WeaviateQueryError("could not find class Idx_ab12cd in schema", "GRPC search")
    assert isinstance(_classify(error), IndexUnavailable)


@pytest.mark.parametrize(
    "message",
    [
        "explorer: list class: search: object search at index idx_4e91d33b: no read replica found",
        "something no list of known messages foresees",
    ],
)
def test_a_restarting_server_and_unknown_errors_hold_rather_than_stop(message: str) -> None:
    assert isinstance(_classify(WeaviateQueryError(message, "GRPC search")), IndexUnavailable)


def test_a_per_object_replica_error_is_retried_not_dead_lettered() -> None:
    assert looks_transient("no read replica found for shard abc")
