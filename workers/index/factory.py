"""Open the configured `VectorIndex` backend."""

from __future__ import annotations

from schemas.settings import Settings
from workers.index.base import VectorIndex


def open_index(settings: Settings, *, create: bool = True) -> VectorIndex:
    """The index; with `create=False` a missing table is an error (readers must not create it)."""
    if settings.index_backend == "lancedb":
        from workers.index.lancedb import LanceIndex

        return LanceIndex(
            settings.lancedb_uri, settings.index_name, settings.embedding_dim, create=create
        )
    if settings.index_backend == "weaviate":
        from workers.index.weaviate import WeaviateIndex

        return WeaviateIndex(settings, create=create)
    raise ValueError(f"unknown index backend {settings.index_backend!r}")
