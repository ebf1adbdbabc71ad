"""Retrieval: embed the query, fetch BM25 and vector candidates, fuse, rank, one per product.

One path for every caller: `freshindex serve` (HTTP), `freshindex search`, the demo and the
evaluation all call `Retriever.search`. A `Retriever` holds the index handle, the Triton client
and a small thread pool for the index's blocking calls, opened once and shared by requests.

Stages of a search (`Retrieved.seconds` times each):
  embed   the query, with the model's query prefix, through the same Triton model as indexing
  bm25    BM25 candidates (`VectorIndex.bm25`), concurrently with embed + vector
  vector  vector candidates (`VectorIndex.nearest`)
  fusion  RRF or weighted fusion (`workers.retrieval.fusion`) when both stages ran
  rank    the installed `Ranker`, if any and if the query wants it
A `bm25` search never calls Triton; a `vector` search never runs BM25.

Every call to Triton, the index or the ranker gets what is left of `serve_timeout_s`; one that
does not answer in time raises `EmbeddingUnavailable` / `IndexUnavailable` (a blocking index
call is left to finish in its thread), so a request never hangs on a dependency. A query that
cannot be answered as asked raises `QueryRejected` before any call is made.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import numpy as np

from schemas.settings import Settings
from workers.embedding.base import QueryEmbedder
from workers.embedding.identity import ModelIdentity
from workers.embedding.triton import all_or_none
from workers.errors import EmbeddingUnavailable, IndexUnavailable, QueryRejected, Transient
from workers.index.base import Filter, Hit, IndexedChunk, VectorIndex, filter_value
from workers.retrieval.fusion import (
    Candidate,
    Fusion,
    best_per_product,
    from_stage,
    restage,
    rrf,
    weighted,
)
from workers.retrieval.ltr import installed_ranker
from workers.retrieval.ranking import RANK, Ranker
from workers.retrieval.serving import Serving, ServingResolver, open_serving

log = logging.getLogger("freshindex.retrieval")

Mode = Literal["hybrid", "bm25", "vector"]
BM25 = "bm25"
VECTOR = "vector"
PER_PRODUCT_DEPTH = 5
"""With one result per product, each stage fetches at least k * this many chunks, so that k
distinct products can be found among them."""
_INDEX_THREADS = 16

_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|=|<|>)\s*(.+?)\s*$")
_T = TypeVar("_T")


def parse_filter(expression: str) -> Filter:
    """`brand=Terra`, `price<=10` -> Filter; raises ValueError with the accepted form."""
    match = _FILTER.match(expression)
    if not match:
        raise ValueError(
            f"bad filter {expression!r}: use FIELD=VALUE (or != < <= > >=), e.g. brand=Terra or price<=10"
        )
    field, op, value = match.groups()
    return Filter(field=field, op=op, value=value)


@dataclass(frozen=True, kw_only=True)
class Query:
    """One search, as a caller asks it."""

    text: str
    k: int = 10
    mode: Mode = "hybrid"
    filters: tuple[Filter, ...] = ()
    """ANDed metadata filters."""
    per_product: bool = True
    """One result per product (its best chunk)."""
    rerank: bool | None = None
    """True: use the ranking stage (refused when none is installed); False: don't; None: use
    it when one is installed."""
    fusion: Fusion | None = None
    """How a hybrid search fuses; None: the `fusion` setting."""


@dataclass(frozen=True, kw_only=True)
class Retrieved:
    """The answer to a `Query`."""

    results: list[Candidate]
    seconds: dict[str, float]
    """Wall time per stage that ran (embed, bm25, vector, fusion, rank) and in all (total)."""
    fusion: Fusion | None
    """The fusion used (None: a single-stage search)."""
    ranker: str | None
    """Name of the ranking stage that ordered the results (None: none did)."""
    target: str = ""
    """The table or collection that answered."""
    model: ModelIdentity | None = None
    """The model that filled it and embedded the query (None: not known)."""


class Retriever:
    """The retrieval pipeline over one index and one embedding model."""

    def __init__(
        self,
        settings: Settings,
        *,
        index: VectorIndex,
        embedder: QueryEmbedder,
        ranker: Ranker | None = None,
        resolver: ServingResolver | None = None,
    ) -> None:
        """`resolver`: follow the index name's live target (`Retriever.open`); without one,
        `index` and `embedder` serve every search."""
        self.settings = settings
        self.ranker = ranker
        self.resolver = resolver
        self._fixed = Serving(
            target=index.target, index=index, embedder=embedder, model=index.model
        )
        self._pool = ThreadPoolExecutor(_INDEX_THREADS, thread_name_prefix="freshindex-index")

    @property
    def serving(self) -> Serving:
        """The target and embedder searches use now."""
        return self.resolver.serving if self.resolver else self._fixed

    @property
    def index(self) -> VectorIndex:
        return self.serving.index

    @property
    def embedder(self) -> QueryEmbedder:
        return self.serving.embedder

    async def _current(self) -> Serving:
        return await self.resolver.current() if self.resolver else self._fixed

    @classmethod
    async def open(
        cls, settings: Settings, *, ranker: Ranker | None = None, installed: bool = True
    ) -> Retriever:
        """The configured index (which must exist) and Triton client. Triton requests are bounded
        by `serve_timeout_s` and retried at most twice (a blip, not an outage). The ranking
        stage is `ranker`, else (with `installed`) the model installed at `ranker_path`, if
        any; a model file that cannot be used raises `RankerMisconfigured`."""
        from workers.embedding.triton import TritonEmbedder
        from workers.index.factory import open_targets

        if ranker is None and installed:
            ranker = await asyncio.to_thread(installed_ranker, settings.ranker_path)
        bounded = settings.model_copy(
            update={"embed_timeout_s": settings.serve_timeout_s, "embed_max_retries": 2}
        )
        root = TritonEmbedder(bounded)
        targets = await asyncio.to_thread(open_targets, settings)
        try:
            live = await asyncio.to_thread(lambda: targets.layout().live)
            serving = await asyncio.to_thread(open_serving, settings, root, live)
        except BaseException:
            targets.close()
            await root.close()
            raise
        resolver = ServingResolver(settings, root, targets, serving)
        return cls(
            settings,
            index=serving.index,
            embedder=serving.embedder,
            ranker=ranker,
            resolver=resolver,
        )

    def reload_ranker(self) -> str | None:
        """Load the model installed at `ranker_path` again (None when none is installed) and
        use it for the next searches; returns its name. A file that cannot be used raises
        `RankerMisconfigured` and the current ranking stage stays."""
        self.ranker = installed_ranker(self.settings.ranker_path)
        return self.ranker.name if self.ranker is not None else None

    async def close(self) -> None:
        try:
            if self.resolver:
                await self.resolver.close()
            else:
                await self._fixed.embedder.close()
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            if not self.resolver:
                self._fixed.index.close()

    # ------------------------------------------------------------------- search

    async def search(self, query: Query) -> Retrieved:
        """Results best first; see the module docstring for the stages."""
        ranker = self._check(query)
        deadline = time.monotonic() + self.settings.serve_timeout_s
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        serving = await self._current()
        candidates, fusion = await self._fused(query, deadline, seconds, serving)
        if ranker is not None and candidates:
            with _timed(seconds, RANK):
                scores = await self._bounded(
                    ranker.score(query.text, candidates),
                    deadline,
                    f"ranking stage {ranker.name!r}",
                    Transient,
                )
                candidates = restage(candidates, RANK, scores)
        results = (
            best_per_product(candidates, query.k) if query.per_product else candidates[: query.k]
        )
        seconds["total"] = time.perf_counter() - started
        name = ranker.name if ranker is not None else None
        return Retrieved(
            results=results,
            seconds=seconds,
            fusion=fusion,
            ranker=name,
            target=serving.target,
            model=serving.model,
        )

    async def candidates(self, query: Query) -> list[Candidate]:
        """What the ranking stage is given for `query`: every candidate, fused, best first
        (what a ranking model is trained on; `query.k` sets the depths as in `search`)."""
        self._check(replace(query, rerank=False))
        deadline = time.monotonic() + self.settings.serve_timeout_s
        candidates, _ = await self._fused(query, deadline, {}, await self._current())
        return candidates

    async def _fused(
        self, query: Query, deadline: float, seconds: dict[str, float], serving: Serving
    ) -> tuple[list[Candidate], Fusion | None]:
        """The stages' candidates, fused when both ran, and the fusion used."""
        lists = await self._candidates(query, deadline, seconds, serving)
        with _timed(seconds, "fusion"):
            if len(lists) == 2:
                fusion = query.fusion or self.settings.fusion
                return self._fuse(fusion, lists), fusion
            ((stage, hits),) = lists.items()
            return from_stage(stage, hits), None

    def _check(self, query: Query) -> Ranker | None:
        """Refuse what cannot be answered (before any call); the ranker to use, if any."""
        if not query.text.strip():
            raise QueryRejected("query is empty")
        if not 1 <= query.k <= self.settings.serve_max_k:
            raise QueryRejected(
                f"k={query.k} is outside 1..{self.settings.serve_max_k} (FRESHINDEX_SERVE_MAX_K)"
            )
        for f in query.filters:
            try:
                filter_value(f)
            except ValueError as e:
                raise QueryRejected(str(e)) from e
        if query.rerank and self.ranker is None:
            raise QueryRejected(
                "rerank=true asks for the ranking stage, but none is installed in this service"
                " (`freshindex train-reranker` installs one): send rerank=null (use it when"
                " installed) or rerank=false"
            )
        return None if query.rerank is False else self.ranker

    async def _candidates(
        self, query: Query, deadline: float, seconds: dict[str, float], serving: Serving
    ) -> dict[str, list[Hit]]:
        """Each stage's candidates (BM25 concurrently with embed + vector)."""
        depth = query.k * PER_PRODUCT_DEPTH if query.per_product else query.k
        filters = list(query.filters)
        stages: dict[str, Awaitable[list[Hit]]] = {}
        if query.mode in ("hybrid", BM25):
            depth_bm25 = max(self.settings.candidates_bm25, depth)
            bm25 = serving.index.bm25
            call = self._index(
                deadline, "BM25 search", bm25, query.text, k=depth_bm25, filters=filters
            )
            stages[BM25] = _timed_call(seconds, BM25, call)
        if query.mode in ("hybrid", VECTOR):
            depth_vector = max(self.settings.candidates_vector, depth)
            stages[VECTOR] = self._vector(
                query.text, depth_vector, filters, deadline, seconds, serving
            )
        found = await all_or_none(list(stages.values()))
        return dict(zip(stages, found, strict=True))

    async def _vector(
        self,
        text: str,
        k: int,
        filters: list[Filter],
        deadline: float,
        seconds: dict[str, float],
        serving: Serving,
    ) -> list[Hit]:
        model = serving.model.describe() if serving.model else repr(self.settings.triton_model)
        with _timed(seconds, "embed"):
            vectors = await self._bounded(
                serving.embedder.embed([self.settings.query_prefix + text]),
                deadline,
                f"Triton (model {model})",
                EmbeddingUnavailable,
            )
        vector: np.ndarray = vectors[0]
        call = self._index(
            deadline, "vector search", serving.index.nearest, vector, k=k, filters=filters
        )
        return await _timed_call(seconds, VECTOR, call)

    def _fuse(self, fusion: Fusion, lists: dict[str, list[Hit]]) -> list[Candidate]:
        if fusion == "rrf":
            return rrf(lists, c=self.settings.rrf_k)
        w = self.settings.fusion_vector_weight
        return weighted(lists, weights={VECTOR: w, BM25: 1.0 - w})

    # ------------------------------------------------------------------- other reads

    async def product(self, product_id: str) -> list[IndexedChunk]:
        """Every chunk of a product as indexed (empty: not in the index)."""
        deadline = time.monotonic() + self.settings.serve_timeout_s
        serving = await self._current()
        return await self._index(deadline, "product read", serving.index.product, product_id)

    async def readiness(self) -> dict[str, str]:
        """Per dependency (`index`, `embedding`): "ok", or why it cannot serve now."""
        deadline = time.monotonic() + self.settings.serve_timeout_s
        serving = await self._current()
        probes = {
            "index": self._index(deadline, "index count", serving.index.count),
            "embedding": self._bounded(
                serving.embedder.ready(), deadline, "Triton readiness", EmbeddingUnavailable
            ),
        }
        answers = await asyncio.gather(*probes.values(), return_exceptions=True)
        return {
            name: "ok" if not isinstance(a, BaseException) else f"{type(a).__name__}: {a}"
            for name, a in zip(probes, answers, strict=True)
        }

    # ------------------------------------------------------------------- deadlines

    async def _index(
        self, deadline: float, doing: str, method: Callable[..., _T], *args: Any, **kwargs: Any
    ) -> _T:
        """A blocking index call in the pool, bounded by the deadline."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, functools.partial(method, *args, **kwargs))
        return await self._bounded(future, deadline, f"index {doing}", IndexUnavailable)

    async def _bounded(
        self,
        awaitable: Awaitable[_T],
        deadline: float,
        what: str,
        unavailable: Callable[[str], Transient],
    ) -> _T:
        try:
            return await asyncio.wait_for(awaitable, timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError as e:
            raise unavailable(
                f"{what}: no answer within {self.settings.serve_timeout_s:g} s"
                " (FRESHINDEX_SERVE_TIMEOUT_S)"
            ) from e


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = time.perf_counter() - started


async def _timed_call(seconds: dict[str, float], stage: str, call: Awaitable[_T]) -> _T:
    with _timed(seconds, stage):
        return await call
