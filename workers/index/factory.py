"""Open the configured `VectorIndex` backend."""

from __future__ import annotations

from datetime import timedelta

from schemas.settings import Settings
from workers.index.base import VectorIndex


def open_index(
    settings: Settings, *, create: bool = True, long_lived_reader: bool = False
) -> VectorIndex:
    """The index; with `create=False` a missing table is an error (readers must not create it).
    A `long_lived_reader` (the retrieval service) sees other processes' writes within
    `lancedb_read_consistency_s` (a Weaviate index always reads the server's live state)."""
    if settings.index_backend == "lancedb":
        from workers.index.lancedb import LanceIndex

        consistency = (
            timedelta(seconds=settings.lancedb_read_consistency_s) if long_lived_reader else None
        )
        return LanceIndex(
            settings.lancedb_uri,
            settings.index_name,
            settings.embedding_dim,
            create=create,
            read_consistency=consistency,
        )
    if settings.index_backend == "weaviate":
        from workers.index.weaviate import WeaviateIndex

        return WeaviateIndex(settings, create=create)
    raise ValueError(f"unknown index backend {settings.index_backend!r}")
