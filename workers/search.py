"""Retrieval: embed the query with the indexing model (and its query prefix), hybrid-search the index."""

from __future__ import annotations

import re

from schemas.settings import Settings
from workers.embedding.triton import TritonEmbedder
from workers.index.base import Filter, Hit
from workers.index.factory import open_index

_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$")


def parse_filter(expression: str) -> Filter:
    """`brand=Terra`, `price<=10` -> Filter; raises ValueError with the accepted form."""
    match = _FILTER.match(expression)
    if not match:
        raise ValueError(
            f"bad filter {expression!r}: use FIELD=VALUE (or != < <= > >=), e.g. brand=Terra or price<=10"
        )
    field, op, value = match.groups()
    return Filter(field=field, op=op, value=value)


async def search(
    settings: Settings, query: str, *, k: int = 10, filters: list[Filter] | None = None
) -> list[Hit]:
    """Top `k` chunks for `query` from the live index."""
    index = open_index(settings, create=False)
    embedder = TritonEmbedder(settings)
    try:
        vector = (await embedder.embed([settings.query_prefix + query]))[0]
    finally:
        await embedder.close()
    return index.search(query, vector, k=k, filters=filters or [])
