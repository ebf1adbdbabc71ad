"""Open the configured `VectorIndex` backend, and the targets of its index name."""

from __future__ import annotations

from datetime import timedelta

from schemas.settings import Settings
from workers.embedding.identity import ModelIdentity
from workers.index.base import VectorIndex
from workers.index.targets import Targets


def open_index(
    settings: Settings,
    *,
    create: bool = True,
    long_lived_reader: bool = False,
    target: str | None = None,
    model: ModelIdentity | None = None,
) -> VectorIndex:
    """The index; with `create=False` a missing table is an error (readers must not create it).
    A `long_lived_reader` (the retrieval service) sees other processes' writes within
    `lancedb_read_consistency_s` (a Weaviate index always reads the server's live state).
    `target`: the table or collection (default: the one serving the index name now,
    `workers.index.targets`, created only if it is the index name's own); `model`: use it with
    this model only (`VectorIndex.bind_model`)."""
    if target is None:
        targets = open_targets(settings)
        try:
            target = targets.layout().live
        finally:
            targets.close()
        # only the index name's own target is ever created here: a reindexed one is made by
        # `freshindex reindex`, and one the pointers name that is gone must not come back empty
        create = create and target == targets.base
    if settings.index_backend == "lancedb":
        from workers.index.lancedb import LanceIndex

        consistency = (
            timedelta(seconds=settings.lancedb_read_consistency_s) if long_lived_reader else None
        )
        return LanceIndex(
            settings.lancedb_uri,
            target,
            settings.embedding_dim,
            create=create,
            read_consistency=consistency,
            model=model,
        )
    if settings.index_backend == "weaviate":
        from workers.index.weaviate import WeaviateIndex

        return WeaviateIndex(settings, create=create, target=target, model=model)
    raise ValueError(f"unknown index backend {settings.index_backend!r}")


def open_targets(settings: Settings) -> Targets:
    """The blue/green targets of FRESHINDEX_INDEX_NAME (`workers.index.targets`)."""
    if settings.index_backend == "lancedb":
        from workers.index.lance_targets import LanceTargets

        return LanceTargets(settings.lancedb_uri, settings.index_name)
    if settings.index_backend == "weaviate":
        from workers.index.weaviate_targets import WeaviateTargets

        return WeaviateTargets(settings)
    raise ValueError(f"unknown index backend {settings.index_backend!r}")
