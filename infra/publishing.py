"""Wiring of a publish's unchanged path (`ingest.unchanged`): the publisher's cache and the
index it asks, from the settings. Lives above `ingest/` and `workers/` because it joins them:
the ingest layer never imports the index."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import ingest.core.text
import ingest.prepare.chain
import ingest.prepare.chunk
import ingest.prepare.quality
import ingest.prepare.semantic
import ingest.prepare.tokenizer
import schemas.models
from ingest.prepare.tokenizer import default_tokenizer_path
from ingest.unchanged import PublishedCache, UnchangedGate, file_digest, fingerprint
from schemas.settings import Settings

log = logging.getLogger("freshindex.publish")

CHUNK_DECIDERS = (
    ingest.core.text,
    ingest.prepare.chain,
    ingest.prepare.chunk,
    ingest.prepare.quality,
    ingest.prepare.semantic,
    ingest.prepare.tokenizer,
    schemas.models,
)
"""The modules whose code decides a cleaned record's chunks: their source is in the cache's
fingerprint, so a code change sends every record through the chain once."""


def chunking_fingerprint(settings: Settings) -> str:
    """Everything besides the record that decides its chunks."""
    tokenizer = settings.tokenizer_path or default_tokenizer_path()
    return fingerprint(
        {
            "chunk_max_tokens": settings.chunk_max_tokens,
            "chunk_overlap_tokens": settings.chunk_overlap_tokens,
            "passage_prefix": settings.passage_prefix,
            "semantic_chunking": settings.semantic_chunking,
            "dedup_enabled": settings.dedup_enabled,
            "tokenizer": file_digest(tokenizer),
        },
        CHUNK_DECIDERS,
    )


@contextmanager
def unchanged_gate(settings: Settings) -> Iterator[UnchangedGate | None]:
    """The gate of this publish, or None when it is switched off
    (`FRESHINDEX_PUBLISH_SKIP_UNCHANGED=false`). The index is opened lazily, on the first record
    the cache knows; an index that cannot be opened or asked means every record is sent (one
    warning), never a failed publish."""
    if not settings.publish_skip_unchanged:
        yield None
        return
    from workers.index.base import VectorIndex
    from workers.index.factory import open_index

    index: VectorIndex | None = None

    def indexed(chunk_ids: list[str]) -> dict[str, str]:
        nonlocal index
        if index is None:
            index = open_index(settings, create=False)
        return index.record_hashes(chunk_ids)

    warned = False

    def on_index_error(error: Exception) -> None:
        nonlocal warned
        if not warned:
            log.warning("index not asked (%s): records are sent without the unchanged check", error)
            warned = True

    cache = PublishedCache(settings.publish_cache_path)
    gate = UnchangedGate(
        cache, indexed, chunking_fingerprint(settings), on_index_error=on_index_error
    )
    try:
        yield gate
    finally:
        cache.close()
        if index is not None:
            index.close()
