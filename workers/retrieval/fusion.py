"""Fusing candidate lists: pure functions, no I/O.

Each retrieval stage (BM25, vector) returns its candidates best first with a raw score whose
scale is its own (BM25 is unbounded, cosine similarity lies in [-1, 1]). Fusion turns them into
one ranking and keeps every stage's score and rank on each candidate, so a caller (or an
evaluation) sees why a result is where it is:

- `rrf`: reciprocal rank fusion, sum over stages of 1 / (c + rank); uses ranks only, so it needs
  no calibration of the scores (the default until relevance is measured).
- `weighted`: each stage's scores min-max normalised to [0, 1] within this query's candidates,
  then a convex combination with the stage weights; a stage that did not return a candidate
  adds 0 for it.

Ties are broken by the best rank a candidate has in any stage, then by chunk id, so the same
inputs always give the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeVar

from workers.index.base import Hit, IndexedChunk

Fusion = Literal["rrf", "weighted"]
FUSED = "fused"
"""Key of the fused score and rank in `Candidate.scores` / `Candidate.ranks`."""


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A chunk on its way through the stages."""

    chunk: IndexedChunk
    score: float
    """The score it is ordered by now (the last stage's)."""
    scores: dict[str, float] = field(default_factory=dict)
    """Per stage (`bm25`, `vector`, `fused`, `rank`): its score there; a stage that did not
    return the chunk is absent."""
    ranks: dict[str, int] = field(default_factory=dict)
    """Per stage: its 1-based rank there."""

    @property
    def product_id(self) -> str:
        return self.chunk.product_id


def from_stage(stage: str, hits: Sequence[Hit]) -> list[Candidate]:
    """One stage's hits as candidates, in its order (a single-stage search: no fusion)."""
    return [
        Candidate(chunk=h, score=h.score, scores={stage: h.score}, ranks={stage: rank})
        for rank, h in enumerate(_unique(hits), start=1)
    ]


def rrf(stages: Mapping[str, Sequence[Hit]], *, c: int = 60) -> list[Candidate]:
    """Reciprocal rank fusion of the stages' hits (`c`: the RRF constant)."""

    def fused(_: str, ranks: Mapping[str, int]) -> float:
        return sum(1.0 / (c + rank) for rank in ranks.values())

    return _fuse(stages, fused)


def weighted(
    stages: Mapping[str, Sequence[Hit]], *, weights: Mapping[str, float]
) -> list[Candidate]:
    """Convex combination of min-max normalised stage scores (`weights` per stage)."""
    normalised: dict[str, dict[str, float]] = {}
    for stage, hits in stages.items():
        unique = _unique(hits)
        scaled = min_max([h.score for h in unique])
        normalised[stage] = {h.chunk_id: v for h, v in zip(unique, scaled, strict=True)}

    def fused(chunk_id: str, ranks: Mapping[str, int]) -> float:
        return sum(weights.get(stage, 0.0) * normalised[stage][chunk_id] for stage in ranks)

    return _fuse(stages, fused)


def min_max(scores: Sequence[float]) -> list[float]:
    """Scores scaled to [0, 1] (best 1, worst 0); all equal (or one) -> all 1."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi == lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def _fuse(
    stages: Mapping[str, Sequence[Hit]], score: Callable[[str, Mapping[str, int]], float]
) -> list[Candidate]:
    """Join the stages by chunk id, score each chunk (`score(chunk id, its rank per stage)`),
    order, and record the fused score and rank."""
    chunks: dict[str, IndexedChunk] = {}
    ranks: dict[str, dict[str, int]] = {}
    raw: dict[str, dict[str, float]] = {}
    for stage, hits in stages.items():
        for rank, hit in enumerate(_unique(hits), start=1):
            chunks.setdefault(hit.chunk_id, hit)
            ranks.setdefault(hit.chunk_id, {})[stage] = rank
            raw.setdefault(hit.chunk_id, {})[stage] = hit.score
    fused = {cid: score(cid, ranks[cid]) for cid in chunks}
    order = sorted(chunks, key=lambda cid: (-fused[cid], min(ranks[cid].values()), cid))
    return [
        Candidate(
            chunk=chunks[cid],
            score=fused[cid],
            scores={**raw[cid], FUSED: fused[cid]},
            ranks={**ranks[cid], FUSED: position},
        )
        for position, cid in enumerate(order, start=1)
    ]


def _unique(hits: Sequence[Hit]) -> list[Hit]:
    """The first hit of each chunk id (an index never repeats one; a fake might)."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.chunk_id not in seen:
            seen.add(hit.chunk_id)
            out.append(hit)
    return out


def restage(
    candidates: Sequence[Candidate], stage: str, scores: Sequence[float]
) -> list[Candidate]:
    """Candidates ordered by a later stage's `scores` (one per candidate, in their order), with
    that stage's score and rank recorded; ties keep the earlier order."""
    scored = sorted(zip(candidates, scores, strict=True), key=lambda pair: -pair[1])
    return [
        replace(
            c,
            score=s,
            scores={**c.scores, stage: s},
            ranks={**c.ranks, stage: position},
        )
        for position, (c, s) in enumerate(scored, start=1)
    ]


class _HasProduct(Protocol):
    @property
    def product_id(self) -> str: ...


_T = TypeVar("_T", bound=_HasProduct)


def best_per_product(items: Sequence[_T], k: int) -> list[_T]:
    """The first (best-ranked) item of each product, in rank order, at most `k`."""
    seen: set[str] = set()
    out: list[_T] = []
    for item in items:
        if item.product_id not in seen:
            seen.add(item.product_id)
            out.append(item)
    return out[:k]
