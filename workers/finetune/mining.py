"""Where the candidates of hard-negative mining, and the corpus, come from.

- The live index: `index_passages` reads every chunk (its snapshot, then each product's chunks)
  and `live_candidates` asks `Retriever.candidates` (the code `freshindex serve` runs) in `bm25`
  and in `vector` mode, one result per product: the products a search really confuses.
- In process, when the live index is away: `LocalBM25` (Okapi BM25, k1 1.2, b 0.75, over the
  same analysed terms the index's BM25 runs over, `workers.index.terms.search_text`) and the
  cosine of the base model's vectors (`products_by_score`), each product at its best chunk.

`BestPassage` picks, for a (query, product), the product's chunk the base model finds closest
to the query: the chunk vector search ranks the product by, and the text a row trains on.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from workers.finetune.data import Candidates, Passage
from workers.index import terms

if TYPE_CHECKING:
    from workers.retrieval.pipeline import Retriever

K1 = 1.2
B = 0.75
_CONCURRENCY = 8


def products_by_score(scores: np.ndarray, passages: Sequence[Passage]) -> list[str]:
    """Product ids by their best chunk's score, best first (ties: corpus order)."""
    order = np.argsort(-scores, kind="stable")
    return list(dict.fromkeys(passages[int(i)].product_id for i in order))


class LocalBM25:
    """Okapi BM25 over the passages' analysed terms (see the module docstring)."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self.passages = passages
        docs = [Counter(terms.search_text(p.text).split()) for p in passages]
        lengths = np.asarray([sum(d.values()) for d in docs], dtype=np.float64)
        self._norm = K1 * (
            1 - B + B * lengths / max(1.0, float(lengths.mean()) if len(lengths) else 1.0)
        )
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, doc in enumerate(docs):
            for term, tf in doc.items():
                postings[term].append((i, tf))
        n = len(passages)
        self._postings = {
            t: (np.asarray([i for i, _ in rows]), np.asarray([f for _, f in rows], np.float64))
            for t, rows in postings.items()
        }
        self._idf = {
            t: math.log(1 + (n - len(r) + 0.5) / (len(r) + 0.5)) for t, r in postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for `query` (0: no term in common)."""
        out = np.zeros(len(self.passages), dtype=np.float64)
        for term in set(terms.search_query(query).split()):
            if term not in self._postings:
                continue
            rows, tf = self._postings[term]
            out[rows] += self._idf[term] * tf * (K1 + 1) / (tf + self._norm[rows])
        return out

    def products(self, query: str, k: int) -> list[str]:
        """The best `k` products that share a term with `query`."""
        scores = self.scores(query)
        matched = [p for p, s in zip(self.passages, scores, strict=True) if s > 0]
        return products_by_score(scores[scores > 0], matched)[:k]


def local_candidates(
    queries: Sequence[str],
    passages: Sequence[Passage],
    passage_vectors: np.ndarray,
    query_vectors: Mapping[str, np.ndarray],
    *,
    k: int,
) -> dict[str, Candidates]:
    """Each query's BM25 and vector candidates over the corpus, in process."""
    bm25 = LocalBM25(passages)
    return {
        q: Candidates(
            query=q,
            bm25=tuple(bm25.products(q, k)),
            vector=tuple(products_by_score(passage_vectors @ query_vectors[q], passages)[:k]),
        )
        for q in queries
    }


class BestPassage:
    """(query, product) -> the text of the product's chunk closest to the query (None: the
    product has no chunk in the corpus)."""

    def __init__(
        self,
        passages: Sequence[Passage],
        passage_vectors: np.ndarray,
        query_vectors: Mapping[str, np.ndarray],
    ) -> None:
        self._passages = passages
        self._vectors = passage_vectors
        self._queries = query_vectors
        chunks: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(passages):
            chunks[p.product_id].append(i)
        self._chunks = dict(chunks)

    def __call__(self, query: str, product: str) -> str | None:
        rows = self._chunks.get(product)
        if not rows:
            return None
        scores = self._vectors[rows] @ self._queries[query]
        return self._passages[rows[int(np.argmax(scores))]].text


async def index_passages(retriever: Retriever) -> list[Passage]:
    """Every chunk of the live index, by product id then chunk order."""
    snapshot = await asyncio.to_thread(retriever.index.snapshot)
    products = sorted({product for product, _, _ in snapshot.values()})
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(product: str) -> list[Passage]:
        async with gate:
            chunks = await retriever.product(product)
        return [Passage(chunk_id=c.chunk_id, product_id=c.product_id, text=c.text) for c in chunks]

    found = await asyncio.gather(*(one(p) for p in products))
    return [p for chunks in found for p in chunks]


async def live_candidates(
    retriever: Retriever, queries: Sequence[str], *, k: int
) -> dict[str, Candidates]:
    """Each query's BM25 and vector candidate products from the live index (one per product,
    best first, at most `k` each)."""
    from workers.retrieval.pipeline import Query

    gate = asyncio.Semaphore(_CONCURRENCY)

    async def stage(query: str, mode: str) -> tuple[str, ...]:
        async with gate:
            found = await retriever.candidates(
                Query(text=query, k=k, mode=mode, rerank=False)  # type: ignore[arg-type]
            )
        return tuple(dict.fromkeys(c.product_id for c in found))[:k]

    async def one(query: str) -> Candidates:
        bm25, vector = await asyncio.gather(stage(query, "bm25"), stage(query, "vector"))
        return Candidates(query=query, bm25=bm25, vector=vector)

    return {c.query: c for c in await asyncio.gather(*(one(q) for q in queries))}
