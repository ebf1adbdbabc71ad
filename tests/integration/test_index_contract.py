"""The `VectorIndex` contract, run the same on both backends: LanceDB (a folder) and Weaviate (one
real server per module, started from the stack's service spec). Then what only a server can do:
go away (IndexUnavailable, and the same index works again once it is back), hold vectors of
another dimension (IndexMisconfigured), refuse some objects of a batch (IndexRejected after the
others were written) and refuse a bad API key."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.stack import weaviate as wv
from infra.stack.local import allocate_ports, start_service
from infra.stack.service import ServiceSpec
from infra.stack.supervisor import stop_group
from schemas.models import Chunk, ProductMetadata, chunk_id, content_hash
from schemas.settings import Settings
from tests.unit.fakes import PUBLISHED, as_document, text_vector
from workers.errors import IndexMisconfigured, IndexRejected, IndexUnavailable, VectorIndexError
from workers.index.base import Filter, Row, VectorIndex
from workers.index.factory import open_index

pytestmark = pytest.mark.integration

DIM = 8
INDEXED = PUBLISHED + timedelta(seconds=2.5)
READY_S = 60.0


# --------------------------------------------------------------------------- a Weaviate server


@dataclass
class WeaviateServer:
    """One Weaviate process in `home`; `stop` and `start` again keep its ports and data."""

    home: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    spec: ServiceSpec = field(default_factory=wv.spec)
    ports: dict[str, int] = field(default_factory=dict)
    pgid: int | None = None

    def __post_init__(self) -> None:
        self.ports = allocate_ports(self.spec)

    def start(self) -> None:
        recorded = start_service(
            self.home, self.spec, self.ports, extra_env=self.extra_env, timeout_s=READY_S
        )
        self.pgid = recorded.pid

    def stop(self) -> None:
        if self.pgid is not None:
            stop_group("weaviate", self.pgid, self.spec.stop_timeout_s)
            self.pgid = None

    def settings(self, **overrides: Any) -> Settings:
        env = self.spec.settings_env(self.home, self.ports)
        values: dict[str, Any] = {
            "index_backend": "weaviate",
            "weaviate_url": env["FRESHINDEX_WEAVIATE_URL"],
            "weaviate_grpc_url": env["FRESHINDEX_WEAVIATE_GRPC_URL"],
            "weaviate_timeout_s": 10,
            "embedding_dim": DIM,
            "index_name": unique_name(),
        }
        return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def unique_name() -> str:
    return f"idx_{uuid.uuid4().hex[:10]}"


@contextmanager
def running(home: Path, **extra_env: str) -> Iterator[WeaviateServer]:
    if not wv.binary_path().is_file():
        pytest.skip(f"no Weaviate server at {wv.binary_path()}: run `make production-deps`")
    server = WeaviateServer(home, extra_env=extra_env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def weaviate_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeaviateServer]:
    """The module's Weaviate (anonymous access, loopback only)."""
    with running(tmp_path_factory.mktemp("weaviate")) as server:
        yield server


# --------------------------------------------------------------------------- both backends

Open = Callable[..., VectorIndex]


@pytest.fixture(params=["lancedb", "weaviate"])
def open_(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Open]:
    """Opens indexes of one backend (same settings unless overridden); closes them after."""
    name = unique_name()
    if request.param == "weaviate":
        server: WeaviateServer = request.getfixturevalue("weaviate_server")
        base = server.settings(index_name=name)
    else:
        base = Settings(  # type: ignore[call-arg]
            _env_file=None,
            index_backend="lancedb",
            lancedb_uri=str(tmp_path / "lance"),
            index_name=name,
            embedding_dim=DIM,
        )
    opened: list[VectorIndex] = []

    def open_index_(*, create: bool = True, **overrides: Any) -> VectorIndex:
        index = open_index(base.model_copy(update=overrides), create=create)
        opened.append(index)
        return index

    yield open_index_
    for index in opened:
        index.close()


@pytest.fixture
def index(open_: Open) -> VectorIndex:
    return open_()


def chunk(
    product_id: str,
    index: int,
    count: int,
    *,
    brand: str | None = "Terra",
    price: str | None = "5",
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
            price=Decimal(price) if price is not None else None,
            currency="EUR",
            attributes={"length": "25 m"},
        ),
    )


def product(product_id: str, count: int, **kw: Any) -> list[Chunk]:
    return [chunk(product_id, i, count, **kw) for i in range(count)]


def row(c: Chunk, indexed_at: Any = INDEXED) -> Row:
    return Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=indexed_at)


def parts(index: VectorIndex) -> list[str]:
    return sorted(f"{p}{i}" for p, _, i in index.snapshot().values())


def test_upsert_then_lookup_returns_hashes_and_vectors(index: VectorIndex) -> None:
    chunks = product("A", 3)
    index.upsert([row(c) for c in chunks])
    missing = chunk_id("Z", 0)
    found = index.lookup([c.chunk_id for c in chunks] + [missing])
    assert set(found) == {c.chunk_id for c in chunks}
    for c in chunks:
        stored = found[c.chunk_id]
        assert (stored.chunk_id, stored.content_hash) == (c.chunk_id, c.content_hash)
        assert stored.record_hash == c.metadata_hash()
        np.testing.assert_allclose(stored.vector, text_vector(c.text, DIM), rtol=1e-6)
    assert index.lookup([]) == {}


def test_lookup_of_many_ids(index: VectorIndex) -> None:
    chunks = product("A", 700)  # more than one request of ids
    index.upsert([row(c) for c in chunks])
    assert set(index.lookup([c.chunk_id for c in chunks])) == {c.chunk_id for c in chunks}


def test_record_hashes_are_the_lookups_without_vectors(index: VectorIndex) -> None:
    chunks = product("A", 600)  # more than one request of ids
    index.upsert([row(c) for c in chunks])
    asked = [c.chunk_id for c in chunks] + [chunk_id("Z", 0)]
    assert index.record_hashes(asked) == {c.chunk_id: c.metadata_hash() for c in chunks}
    assert index.record_hashes([]) == {}


def test_upserting_the_same_ids_again_replaces_and_adds_nothing(index: VectorIndex) -> None:
    rows = [row(c) for c in [*product("A", 3), *product("B", 2)]]
    index.upsert(rows)
    first = index.snapshot()
    index.upsert(rows)
    index.upsert(rows[:2])
    assert index.count() == 5
    assert index.snapshot() == first
    index.upsert([row(chunk("A", 0, 3, text="new text"))])
    assert index.count() == 5
    assert index.snapshot()[chunk_id("A", 0)] == ("A", content_hash("new text"), 0)
    index.upsert([])


def test_delete_stale_cuts_each_part_and_counts(index: VectorIndex) -> None:
    index.upsert([row(c) for c in [*product("A", 5), *product("B", 2), *product("C", 1)]])
    assert index.delete_stale({("A", ""): 2, ("B", ""): 0, ("Z", ""): 0}, {}) == 3 + 2
    assert parts(index) == ["A0", "A1", "C0"]
    assert index.delete_stale({("A", ""): 2, ("B", ""): 0}, {"Z": set()}) == 0
    assert index.delete_stale({}, {}) == 0
    assert index.count() == 3


def test_documents_are_cut_and_dropped_apart_from_the_record(index: VectorIndex) -> None:
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


def test_delete_stale_of_many_products(index: VectorIndex) -> None:
    chunks = [c for i in range(150) for c in product(f"P{i:03d}", 2)]  # several filter groups
    index.upsert([row(c) for c in chunks])
    cut = {(f"P{i:03d}", ""): 1 for i in range(150)}
    assert index.delete_stale(cut, {f"P{i:03d}": set() for i in range(100, 150)}) == 150 + 50
    assert index.count() == 100


@pytest.fixture
def catalog(index: VectorIndex) -> VectorIndex:
    rows = []
    for i in range(12):
        brand = ["Terra", "Verde", "O'Neill"][i % 3]
        text = f"garden hose model {i} by {brand}"
        rows.append(row(chunk(f"P{i:02d}", 0, 1, brand=brand, price=str(i), text=text)))
    rows.append(row(chunk("Q", 0, 1, brand=None, price=None, text="garden hose without a brand")))
    rows.append(row(chunk("S", 0, 1, text="slug pellets, organic, for lettuces and hostas")))
    index.upsert(rows)
    return index


def search(index: VectorIndex, *filters: Filter, text: str = "garden hose") -> list[str]:
    hits = index.search(text, text_vector(text, DIM), k=50, filters=list(filters))
    return sorted(h.product_id for h in hits)


def test_search_finds_the_distinctive_text_first(catalog: VectorIndex) -> None:
    text = "slug pellets, organic, for lettuces and hostas"
    hits = catalog.search(text, text_vector(text, DIM), k=3, filters=[])
    assert len(hits) == 3
    assert hits[0].product_id == "S" and hits[0].chunk_id == chunk_id("S", 0)
    assert hits[0].text == text
    assert hits[0].score >= hits[1].score
    fields = hits[0].fields
    assert fields["attributes"] == {"length": "25 m"}
    assert fields["brand"] == "Terra" and fields["price"] == 5.0 and fields["price_text"] == "5"
    assert fields["chunk_index"] == 0 and fields["document"] == ""
    assert fields["published_at"] == PUBLISHED and fields["indexed_at"] == INDEXED
    assert set(fields) == {
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
    }


def test_search_filters(catalog: VectorIndex) -> None:
    assert len(search(catalog)) == 14
    assert search(catalog, Filter(field="brand", op="=", value="Terra")) == [
        "P00",
        "P03",
        "P06",
        "P09",
        "S",
    ]
    assert search(catalog, Filter(field="brand", op="=", value="O'Neill")) == [
        "P02",
        "P05",
        "P08",
        "P11",
    ]
    assert search(catalog, Filter(field="price", op="<=", value="4")) == [
        "P00",
        "P01",
        "P02",
        "P03",
        "P04",
    ]
    both = search(
        catalog,
        Filter(field="price", op=">", value="4.5"),
        Filter(field="brand", op="!=", value="Terra"),
    )
    assert both == ["P05", "P07", "P08", "P10", "P11"]  # no Q: a missing brand is not != Terra
    assert search(catalog, Filter(field="brand", op="=", value="Nobody")) == []
    assert search(catalog, Filter(field="document", op="=", value="")) == search(catalog)
    assert search(catalog, Filter(field="product_id", op="=", value="P07")) == ["P07"]


def test_bad_filters_are_value_errors(catalog: VectorIndex) -> None:
    for bad in [
        Filter(field="colour", op="=", value="red"),
        Filter(field="brand", op="LIKE", value="T%"),
        Filter(field="price", op="<", value="nan"),
    ]:
        with pytest.raises(ValueError):
            search(catalog, bad)


def test_count_freshness_and_snapshot(index: VectorIndex) -> None:
    assert index.count() == 0
    assert index.snapshot() == {}
    assert index.freshness(PUBLISHED) == []
    index.upsert([row(c) for c in product("A", 3)])
    index.upsert([row(c, INDEXED + timedelta(seconds=10)) for c in product("B", 1)])
    assert index.count() == 4
    assert sorted(index.freshness(INDEXED - timedelta(seconds=1))) == [2.5, 2.5, 2.5, 12.5]
    assert index.freshness(INDEXED + timedelta(seconds=1)) == [12.5]
    assert index.freshness(INDEXED + timedelta(seconds=11)) == []
    assert index.snapshot() == {
        chunk_id("A", i): ("A", content_hash(f"A garden hose part {i}"), i) for i in range(3)
    } | {chunk_id("B", 0): ("B", content_hash("B garden hose part 0"), 0)}


def test_freshness_pages_through_many_writes(
    index: VectorIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # spans of at most 4 objects, or one instant holding more (5 or 6 objects per instant here)
    monkeypatch.setattr("workers.index.weaviate._PAGE", 4)
    rows = [
        row(c, INDEXED + timedelta(milliseconds=n % 9))
        for n, c in enumerate(c for i in range(10) for c in product(f"P{i}", 5))
    ]
    index.upsert(rows)
    ages = index.freshness(INDEXED)
    assert sorted(ages) == sorted(2.5 + (n % 9) / 1000 for n in range(50))


def test_a_reader_does_not_create_a_missing_index(open_: Open) -> None:
    with pytest.raises(VectorIndexError, match="does not exist"):
        open_(create=False)
    writer = open_()
    writer.upsert([row(c) for c in product("A", 2)])
    assert open_(create=False).count() == 2


def test_close_releases_the_index(open_: Open) -> None:
    index = open_()
    index.upsert([row(c) for c in product("A", 1)])
    index.close()
    assert open_(create=False).count() == 1


# --------------------------------------------------------------------------- Weaviate only


def test_an_outage_is_unavailable_and_the_index_recovers(weaviate_server: WeaviateServer) -> None:
    settings = weaviate_server.settings()
    index = open_index(settings)
    try:
        index.upsert([row(c) for c in product("A", 2)])
        weaviate_server.stop()
        try:
            with pytest.raises(IndexUnavailable):
                index.upsert([row(c) for c in product("B", 2)])
            with pytest.raises(IndexUnavailable):
                open_index(settings, create=False)
        finally:
            weaviate_server.start()
        index.upsert([row(c) for c in product("B", 2)])  # the same client reconnects
        assert index.count() == 4
    finally:
        index.close()


def test_another_dimension_is_misconfigured(weaviate_server: WeaviateServer) -> None:
    settings = weaviate_server.settings()
    with closing(open_index(settings)) as index:
        index.upsert([row(c) for c in product("A", 1)])
    for create in (True, False):
        with pytest.raises(IndexMisconfigured) as raised:
            open_index(settings.model_copy(update={"embedding_dim": DIM * 2}), create=create)
        assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    empty = weaviate_server.settings()
    open_index(empty).close()  # created, nothing written: the dimension is recorded
    with pytest.raises(IndexMisconfigured, match="8-d"):
        open_index(empty.model_copy(update={"embedding_dim": DIM * 2}))


def test_refused_objects_are_rejected_after_the_others_are_written(
    weaviate_server: WeaviateServer,
) -> None:
    import weaviate
    from weaviate.classes.config import DataType, Property

    from workers.index.weaviate import (
        _schema,
        collection_name,
        parse_grpc_address,
        parse_http_url,
    )

    settings = weaviate_server.settings()
    # a collection like freshindex's, but with a text price and a numeric brand: chunks with a
    # price or a brand are refused, each with its own message
    wrong = {"price": DataType.TEXT, "brand": DataType.INT}
    schema = [
        Property(name=p.name, data_type=wrong[p.name]) if p.name in wrong else p for p in _schema()
    ]
    http_host, http_port, _ = parse_http_url(settings.weaviate_url)
    grpc_host, grpc_port = parse_grpc_address(settings.weaviate_grpc_url)
    client = weaviate.connect_to_custom(
        http_host, http_port, False, grpc_host, grpc_port, False, skip_init_checks=True
    )
    try:
        client.collections.create(
            collection_name(settings.index_name),
            description=f"vector dimension {DIM}",
            properties=schema,
        )
    finally:
        client.close()
    with closing(open_index(settings)) as index:
        priced = product("A", 2, brand=None, price="5")
        branded = [chunk("C", 0, 1, brand="Terra", price=None)]
        plain = product("B", 2, brand=None, price=None)
        with pytest.raises(IndexRejected) as raised:
            index.upsert([row(c) for c in [*priced, *plain, *branded]])
        assert set(raised.value.reasons) == {c.chunk_id for c in [*priced, *branded]}
        assert set(index.lookup([c.chunk_id for c in plain])) == {c.chunk_id for c in plain}
        # every object refused, with different messages: each keeps its own
        with pytest.raises(IndexRejected) as raised:
            index.upsert([row(c) for c in [*priced, *branded]])
        reasons = raised.value.reasons
        assert set(reasons) == {c.chunk_id for c in [*priced, *branded]}
        assert all("'price'" in reasons[c.chunk_id] for c in priced)
        assert "'brand'" in reasons[chunk_id("C", 0)]
        assert index.count() == 2


def test_a_bad_api_key_is_misconfigured_and_never_shown(tmp_path: Path) -> None:
    key = "freshindex-test-key-1"
    with running(
        tmp_path,
        AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED="false",
        AUTHENTICATION_APIKEY_ENABLED="true",
        AUTHENTICATION_APIKEY_ALLOWED_KEYS=key,
        AUTHENTICATION_APIKEY_USERS="freshindex",
    ) as server:
        with closing(open_index(server.settings(weaviate_api_key=key))) as index:
            index.upsert([row(c) for c in product("A", 1)])
            assert index.count() == 1
        for wrong in ("wrong-key-123", None):
            with pytest.raises(IndexMisconfigured) as raised:
                open_index(server.settings(weaviate_api_key=wrong))
            assert raised.value.setting == "FRESHINDEX_WEAVIATE_API_KEY"
            assert "wrong-key" not in str(raised.value) and key not in str(raised.value)
