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
    settings: Settings,
    query: str,
    *,
    k: int = 10,
    filters: list[Filter] | None = None,
    per_product: bool = False,
) -> list[Hit]:
    """Top `k` chunks for `query` from the live index; with `per_product`, the best chunk of each
    of the top `k` products (hits are fetched deeper so that k distinct products can be found)."""
    index = open_index(settings, create=False)
    try:
        embedder = TritonEmbedder(settings)
        try:
            vector = (await embedder.embed([settings.query_prefix + query]))[0]
        finally:
            await embedder.close()
        hits = index.search(query, vector, k=k * 5 if per_product else k, filters=filters or [])
    finally:
        index.close()
    return best_per_product(hits, k) if per_product else hits


def best_per_product(hits: list[Hit], k: int) -> list[Hit]:
    """The first (best-ranked) hit of each product, in rank order, at most `k`."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.product_id not in seen:
            seen.add(hit.product_id)
            out.append(hit)
    return out[:k]
