"""The index knows its model, and blue/green targets: identities read from a model repository,
a LanceDB table that records its model and refuses another, the pointer file's switch,
rollback and prune, a worker writing live + building + previous targets each with its own
model, the reindex build writer (newer parts kept, reconciliation) and a retrieval service
following a switch without a restart. Real LanceDB folders; a fake Triton whose vectors depend
on the model version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import faust
import numpy as np
import numpy.typing as npt
import pytest

from ingest.prepare.chunk import Chunker
from schemas.models import Chunk, ProductDeleted
from schemas.settings import Settings
from tests.unit.fakes import PUBLISHED, raw_messages, record, text_vector
from workers import app as worker_app
from workers.embedding.identity import (
    ModelIdentity,
    ModelIdentityError,
    identity_of,
    stock_fingerprint,
)
from workers.errors import ModelMismatch
from workers.index import targets as targets_module
from workers.index.base import Row
from workers.index.lance_targets import LanceTargets
from workers.index.lancedb import LanceIndex
from workers.index.targets import Layout, TargetError
from workers.indexer import BatchIndexer
from workers.reindex import BuildWriter, reconcile
from workers.retrieval import serving as serving_module
from workers.retrieval.pipeline import Query, Retriever
from workers.retrieval.serving import ServingResolver, open_serving
from workers.routing import TargetRouter

DIM = 8


@dataclass
class VersionedHash:
    """A Triton stand-in serving every version: a text's vector depends on the version."""

    dim: int = DIM
    version: int | None = None
    serves: int = 1
    calls: list[tuple[int | None, str]] = field(default_factory=list)

    async def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.calls += [(self.version, t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([text_vector(f"v{self.version}\x1f{t}", self.dim) for t in texts])

    async def ready(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def serving_version(self) -> int:
        return self.version or self.serves

    def pinned(self, identity: ModelIdentity) -> VersionedHash:
        return replace(self, version=identity.version, dim=identity.dimension, calls=self.calls)


def fingerprint_file(
    repository: Path, version: int, *, dimension: int = DIM, created: str = "1"
) -> None:
    folder = repository / "minilm" / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    body = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "data_sha256": "0" * 64,
        "params": {"epochs": 1},
        "dimension": dimension,
        "created": created,
    }
    (folder / "fingerprint.json").write_text(json.dumps(body))


@pytest.fixture
def settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    repository = tmp_path / "models"
    fingerprint_file(repository, 2)
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        embedding_dim=DIM,
        model_repository=repository,
        lancedb_uri=str(tmp_path / "db"),
        index_name="products",
        semantic_chunking=False,
    )


def v(settings: Settings, version: int) -> ModelIdentity:
    return identity_of(settings, version)


@pytest.fixture
def chunks(chunker: Callable[..., Chunker]) -> Callable[..., list[Chunk]]:
    made = chunker(max_tokens=64)

    def of(product_id: str, **fields: str) -> list[Chunk]:
        return made.chunk(record(product_id, **fields), PUBLISHED)

    return of


# --------------------------------------------------------------------------- identities


def test_the_stock_model_s_identity_is_derived_and_stable(settings: Settings) -> None:
    one = v(settings, 1)
    assert one == v(settings, 1)
    assert (one.name, one.version, one.dimension) == ("minilm", 1, DIM)
    assert one.fingerprint == stock_fingerprint() and len(one.fingerprint) == 64
    assert ModelIdentity.from_json(one.to_json()) == one


def test_a_fingerprint_file_identifies_a_version(settings: Settings) -> None:
    two = v(settings, 2)
    assert (two.version, two.dimension) == (2, DIM) and two.fingerprint != v(
        settings, 1
    ).fingerprint
    fingerprint_file(settings.model_repository, 2, created="2")  # trained again: another model
    assert v(settings, 2).fingerprint != two.fingerprint


def test_a_version_without_a_fingerprint_is_refused_naming_the_setting(settings: Settings) -> None:
    with pytest.raises(ModelIdentityError) as raised:
        v(settings, 3)
    assert raised.value.setting == "FRESHINDEX_MODEL_REPOSITORY" and "version 3" in str(
        raised.value
    )
    (settings.model_repository / "minilm" / "2" / "fingerprint.json").write_text("{not json")
    with pytest.raises(ModelIdentityError, match="cannot read the fingerprint"):
        v(settings, 2)


# --------------------------------------------------------------------------- a table knows its model


def test_a_table_records_its_model_and_refuses_another(settings: Settings) -> None:
    uri = settings.lancedb_uri
    LanceIndex(uri, "t", DIM, model=v(settings, 1))
    assert LanceIndex(uri, "t", DIM, model=v(settings, 1)).recorded_model() == v(settings, 1)
    for create in (True, False):  # a worker and the retrieval service alike
        with pytest.raises(ModelMismatch) as raised:
            LanceIndex(uri, "t", DIM, create=create, model=v(settings, 2))
        message = str(raised.value)
        assert v(settings, 1).describe() in message and v(settings, 2).describe() in message
        assert raised.value.setting == "FRESHINDEX_MODEL_VERSION"


def test_another_dimension_of_the_same_model_is_refused_naming_the_dimension(
    settings: Settings,
) -> None:
    LanceIndex(settings.lancedb_uri, "t", DIM, model=v(settings, 1))
    wider = identity_of(settings.model_copy(update={"embedding_dim": 16}), 1)
    with pytest.raises(ModelMismatch) as raised:
        LanceIndex(settings.lancedb_uri, "t", 16, model=wider)
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    assert "8-d" in str(raised.value) and "16-d" in str(raised.value)


def test_a_table_written_before_models_were_recorded_holds_the_stock_model(
    settings: Settings, chunks: Callable[..., list[Chunk]]
) -> None:
    old = LanceIndex(settings.lancedb_uri, "t", DIM)  # no model: as an older freshindex wrote
    old.upsert(
        [Row(chunk=c, vector=text_vector(c.text, DIM), indexed_at=PUBLISHED) for c in chunks("A")]
    )
    assert old.recorded_model() is None
    with pytest.raises(ModelMismatch, match="v1"):
        LanceIndex(settings.lancedb_uri, "t", DIM, model=v(settings, 2))
    adopted = LanceIndex(settings.lancedb_uri, "t", DIM, model=v(settings, 1))
    assert adopted.recorded_model() == v(settings, 1)


# --------------------------------------------------------------------------- targets


def test_the_pointer_file_switches_rolls_back_and_prunes(settings: Settings) -> None:
    uri = settings.lancedb_uri
    targets = LanceTargets(uri, "products")
    assert targets.layout() == Layout(live="products")
    LanceIndex(uri, "products", DIM)
    new = targets.new_name(2)
    assert new.startswith("products__v2_")
    LanceIndex(uri, new, DIM)
    targets.set_building(new)
    assert targets.layout().written() == ["products", new]
    assert targets.switch(new) == Layout(live=new, previous="products")
    on_disk = json.loads((Path(uri) / "products.targets.json").read_text())
    assert on_disk == {"live": new, "building": None, "previous": "products"}
    assert targets.layout().written() == [new, "products"]  # the old one is kept current
    assert targets.rollback() == Layout(live="products")
    with pytest.raises(TargetError, match="nothing to roll back to"):
        targets.rollback()
    assert targets.names() == sorted(["products", new])
    assert targets.prune() == [new] and targets.names() == ["products"]


# --------------------------------------------------------------------------- the worker's targets


def make_worker(settings: Settings, root: VersionedHash) -> worker_app.IndexWorker:
    app = faust.App("versions-test", broker="memory://", store="memory://", web_enabled=False)
    worker = worker_app.IndexWorker(app, settings)
    worker.router = TargetRouter(settings, worker.make_indexer, root=root)
    return worker


def stored_vector(uri: str, table: str, chunk_id: str) -> npt.NDArray[np.float32]:
    return LanceIndex(uri, table, DIM, create=False).lookup([chunk_id])[chunk_id].vector


def test_a_new_index_records_the_version_triton_serves(
    settings: Settings, chunks: Callable[..., list[Chunk]]
) -> None:
    worker = make_worker(settings, VersionedHash(serves=2))
    asyncio.run(worker.process(raw_messages(chunks("A"))))
    table = LanceIndex(settings.lancedb_uri, "products", DIM, create=False)
    assert table.recorded_model() == v(settings, 2)


def test_a_worker_writes_live_building_and_previous_each_with_its_model(
    settings: Settings, chunks: Callable[..., list[Chunk]]
) -> None:
    uri = settings.lancedb_uri
    root = VersionedHash()
    worker = make_worker(settings, root)
    asyncio.run(worker.process(raw_messages(chunks("A"))))  # a new index: version 1
    targets = LanceTargets(uri, "products")
    new = targets.new_name(2)
    LanceIndex(uri, new, DIM, model=v(settings, 2))  # what reindex creates
    targets.set_building(new)
    b = chunks("B")
    asyncio.run(worker.process(raw_messages(b, start=10)))
    first = b[0]
    assert np.allclose(
        stored_vector(uri, "products", first.chunk_id), text_vector(f"v1\x1f{first.text}", DIM)
    )
    assert np.allclose(
        stored_vector(uri, new, first.chunk_id), text_vector(f"v2\x1f{first.text}", DIM)
    )
    targets.switch(new)
    c = chunks("C")
    asyncio.run(worker.process(raw_messages(c, start=20)))
    for table in ("products", new):  # after the switch the old target is still kept current
        assert c[0].chunk_id in LanceIndex(uri, table, DIM, create=False).snapshot()
    targets.prune()
    asyncio.run(worker.process(raw_messages([ProductDeleted(product_id="C")], start=30)))
    assert {ver for ver, _ in root.calls} == {1, 2}
    assert worker.router.layout == Layout(live=new)


def test_a_worker_pinned_to_another_version_refuses_the_index(
    settings: Settings, chunks: Callable[..., list[Chunk]]
) -> None:
    asyncio.run(make_worker(settings, VersionedHash()).process(raw_messages(chunks("A"))))
    pinned = make_worker(settings.model_copy(update={"model_version": 2}), VersionedHash())
    with pytest.raises(ModelMismatch) as raised:
        asyncio.run(pinned.process(raw_messages(chunks("B"))))
    assert "minilm v1" in str(raised.value) and "minilm v2" in str(raised.value)


def test_a_worker_refuses_a_version_retrained_in_place_and_another_stock_dimension(
    settings: Settings, chunks: Callable[..., list[Chunk]]
) -> None:
    asyncio.run(make_worker(settings, VersionedHash(serves=2)).process(raw_messages(chunks("A"))))
    filled_by = v(settings, 2)
    fingerprint_file(settings.model_repository, 2, created="again")  # v2 replaced by a retrain
    with pytest.raises(ModelMismatch) as raised:
        asyncio.run(make_worker(settings, VersionedHash()).process(raw_messages(chunks("B"))))
    assert filled_by.fingerprint[:12] in str(raised.value)
    assert v(settings, 2).fingerprint[:12] in str(raised.value)
    stock = settings.model_copy(update={"index_name": "stock"})
    asyncio.run(make_worker(stock, VersionedHash()).process(raw_messages(chunks("A"))))
    wider = stock.model_copy(update={"embedding_dim": 16})
    with pytest.raises(ModelMismatch) as raised:
        asyncio.run(make_worker(wider, VersionedHash()).process(raw_messages(chunks("B"))))
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"


# --------------------------------------------------------------------------- the build


def test_the_build_keeps_what_workers_wrote_and_reconciles_with_the_live_target(
    settings: Settings, chunks: Callable[..., list[Chunk]]
) -> None:
    uri = settings.lancedb_uri
    live = LanceIndex(uri, "products", DIM, model=v(settings, 1))
    new = LanceIndex(uri, "products__v2_x", DIM, model=v(settings, 2))
    embed = VersionedHash(version=2)

    def write(index: LanceIndex, cs: list[Chunk]) -> None:
        vectors = [text_vector(c.text, DIM) for c in cs]
        index.upsert(
            [Row(chunk=c, vector=x, indexed_at=PUBLISHED) for c, x in zip(cs, vectors, strict=True)]
        )

    for pid in ("A", "B", "C", "GONE"):
        write(live, chunks(pid))
    newer_b = chunks("B", title="Tomato Feed 5 L")  # a worker wrote B's update during the build
    write(live, newer_b)
    write(new, newer_b)
    live.delete_stale({}, {"C": set()})  # C deleted during the build: the inputs still have it
    loop = asyncio.new_event_loop()
    writer = BuildWriter(BatchIndexer(new, embed), loop.run_until_complete, batch_size=2)
    for pid in ("A", "B", "C"):  # the export: A, B (old), C; it lacks GONE
        for c in chunks(pid):
            writer.send(c)
    writer.flush()
    loop.close()
    assert writer.report.newer_kept == 1
    assert new.product("B")[0].fields["title"] == "Tomato Feed 5 L", "the build kept B's update"
    done = reconcile(new, live)
    assert done.removed == ["C"] and done.missing == ["GONE"] and done.differing_chunks == 0
    assert {c.product_id for c in new.product("C")} == set()
    assert {ver for ver, _ in embed.calls} == {2}


# --------------------------------------------------------------------------- retrieval follows


def test_the_retrieval_service_follows_a_switch_and_reports_the_model(
    settings: Settings, chunks: Callable[..., list[Chunk]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving_module, "RESOLVE_EVERY_S", 0.0)
    uri = settings.lancedb_uri
    for table, version in (("products", 1), ("products__v2_x", 2)):
        index = LanceIndex(uri, table, DIM, model=v(settings, version))
        cs = chunks("A")
        vectors = [text_vector(f"v{version}\x1f{c.text}", DIM) for c in cs]
        index.upsert(
            [Row(chunk=c, vector=x, indexed_at=PUBLISHED) for c, x in zip(cs, vectors, strict=True)]
        )
    root = VersionedHash()
    targets = LanceTargets(uri, "products")
    serving = open_serving(settings, root, "products")
    retriever = Retriever(
        settings,
        index=serving.index,
        embedder=serving.embedder,
        resolver=ServingResolver(settings, root, targets, serving),
    )

    async def model_of_answer() -> int | None:
        found = await retriever.search(Query(text=chunks("A")[0].text, k=1, mode="vector"))
        assert [c.chunk.product_id for c in found.results] == ["A"]
        assert found.results[0].scores["vector"] > 0.99  # the query embedded by the target's model
        return found.model.version if found.model else None

    assert asyncio.run(model_of_answer()) == 1
    targets.switch("products__v2_x")
    assert asyncio.run(model_of_answer()) == 2
    assert retriever.serving.target == "products__v2_x"
    assert targets_module.RESOLVE_EVERY_S > 0  # the service's own setting was patched only


# --------------------------------------------------------------------------- Weaviate, without a server


class FakeAliases:
    """weaviate-client's `client.alias`, in memory."""

    def __init__(self) -> None:
        self.pointed: dict[str, str] = {}
        self.calls: list[str] = []

    def list_all(self) -> dict[str, SimpleNamespace]:
        self.calls.append("list_all")
        return {a: SimpleNamespace(alias=a, collection=c) for a, c in self.pointed.items()}

    def get(self, *, alias_name: str) -> SimpleNamespace | None:
        target = self.pointed.get(alias_name)
        return SimpleNamespace(alias=alias_name, collection=target) if target else None

    def create(self, *, alias_name: str, target_collection: str) -> None:
        assert alias_name not in self.pointed
        self.calls.append(f"create {alias_name}")
        self.pointed[alias_name] = target_collection

    def update(self, *, alias_name: str, new_target_collection: str) -> bool:
        self.calls.append(f"update {alias_name}")
        self.pointed[alias_name] = new_target_collection
        return True

    def delete(self, *, alias_name: str) -> bool:
        self.calls.append(f"delete {alias_name}")
        return self.pointed.pop(alias_name, None) is not None


def test_weaviate_targets_are_three_aliases_and_previous_moves_before_live(
    settings: Settings,
) -> None:
    from workers.index.weaviate_targets import WeaviateTargets

    aliases = FakeAliases()
    client = SimpleNamespace(
        alias=aliases,
        collections=SimpleNamespace(
            list_all=lambda simple: {"Products": 0, "Products__v2_x": 0, "Other": 0}
        ),
    )
    targets = WeaviateTargets(settings, client=client)  # type: ignore[arg-type]
    assert targets.layout() == Layout(live="Products") and aliases.calls == ["list_all"]
    targets.set_building("Products__v2_x")
    aliases.calls.clear()
    assert targets.switch("Products__v2_x") == Layout(live="Products__v2_x", previous="Products")
    assert [c for c in aliases.calls if c != "list_all"] == [
        "create Products__previous",  # first: workers keep writing the old one
        "create Products__live",  # the switch itself: one alias, moved by the server
        "delete Products__building",
    ]
    assert targets.layout() == Layout(live="Products__v2_x", previous="Products")
    assert targets.rollback() == Layout(live="Products")
    assert aliases.pointed == {"Products__live": "Products"}


def test_a_weaviate_collection_records_its_model_in_its_description(settings: Settings) -> None:
    from workers.index.weaviate import WeaviateIndex

    described = {"text": "freshindex chunks; vector dimension 8"}
    config = SimpleNamespace(
        get=lambda: SimpleNamespace(description=described["text"]),
        update=lambda description: described.update(text=description),
    )
    index = WeaviateIndex.__new__(WeaviateIndex)
    index.dim, index.name, index.target, index.url = DIM, "Products", "Products", "http://x"
    index._collection = SimpleNamespace(config=config)
    assert index.recorded_model() is None
    index.record_model(v(settings, 2))
    assert described["text"].startswith("freshindex chunks; vector dimension 8; model {")
    assert index.recorded_model() == v(settings, 2)


def test_a_version_with_another_tokenizer_than_the_publishers_is_not_reindexed(
    settings: Settings, tmp_path: Path
) -> None:
    from infra.reindex import build_settings
    from ingest.prepare.tokenizer import default_tokenizer_path

    same = settings.model_repository / "minilm" / "2" / "tokenizer.json"
    same.write_bytes(default_tokenizer_path().read_bytes())
    assert build_settings(settings, 2).tokenizer_path == same  # chunked with v2's own (equal)
    same.write_text('{"another": "tokenizer"}')
    with pytest.raises(TargetError, match="FRESHINDEX_TOKENIZER_PATH"):
        build_settings(settings, 2)
    assert build_settings(settings, 1).tokenizer_path is None  # the stock one: the bundled
