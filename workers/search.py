"""One-shot retrieval for scripts: open a `Retriever`, run one query, close it.

Kept for callers of the original `search()`; it runs the same pipeline as `freshindex serve`
(`workers.retrieval.pipeline`). A long-lived caller should hold one `Retriever` instead (opening
the index and the Triton channel costs tens of milliseconds).
"""

from __future__ import annotations

from schemas.settings import Settings
from workers.index.base import Filter
from workers.retrieval.fusion import Candidate, best_per_product
from workers.retrieval.pipeline import Mode, Query, Retriever, parse_filter

__all__ = ["best_per_product", "parse_filter", "search"]


async def search(
    settings: Settings,
    query: str,
    *,
    k: int = 10,
    filters: list[Filter] | None = None,
    per_product: bool = False,
    mode: Mode = "hybrid",
) -> list[Candidate]:
    """Top `k` results for `query` from the live index (see `Retriever.search`)."""
    retriever = await Retriever.open(settings)
    try:
        asked = Query(
            text=query, k=k, mode=mode, filters=tuple(filters or ()), per_product=per_product
        )
        return (await retriever.search(asked)).results
    finally:
        await retriever.close()
