"""The ranking stage: an optional trained model that orders the fused candidates.

The retrieval pipeline (`workers.retrieval.pipeline.Retriever`) calls an installed `Ranker`
after the candidate stages and fusion, with the query and every candidate (at most
`candidates_bm25 + candidates_vector` chunks, with their stage scores and ranks); the pipeline
then orders them by the ranker's scores and records them as the `rank` stage.

The implementation here is `workers.retrieval.ltr.LtrRanker` (LightGBM LambdaRank over
`workers.retrieval.features`), trained by `freshindex train-reranker` and installed at
FRESHINDEX_RANKER_PATH, where `Retriever.open` finds it. Without an installed model a request
asking for the stage (`rerank: true`) is refused with the reason, never answered by a stand-in.
A cross-encoder stage through Triton would implement the same protocol; none ships (no such
model is available offline here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from workers.retrieval.fusion import Candidate

RANK = "rank"
"""Key of the ranking stage in `Candidate.scores` / `Candidate.ranks`."""


class Ranker(Protocol):
    """Scores candidates for a query (a cross-encoder, a learning-to-rank model, ...)."""

    name: str
    """Reported with each response (`ranker`) and in logs."""

    async def score(self, query: str, candidates: Sequence[Candidate]) -> Sequence[float]:
        """One score per candidate, in their order; higher is better. A model server that is
        away raises a `workers.errors.Transient` error (the request answers 503)."""
        ...
