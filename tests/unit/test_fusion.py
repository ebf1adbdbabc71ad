"""Fusion of candidate lists (workers.retrieval.fusion): pure functions, hand-computed figures."""

from __future__ import annotations

import pytest

from workers.index.base import Hit
from workers.retrieval.fusion import (
    best_per_product,
    from_stage,
    min_max,
    restage,
    rrf,
    weighted,
)


def hit(chunk_id: str, score: float, product_id: str | None = None) -> Hit:
    return Hit(
        chunk_id=chunk_id,
        product_id=product_id or chunk_id.upper(),
        score=score,
        text=chunk_id,
        fields={},
    )


BM25 = [hit("a", 12.0), hit("b", 8.0), hit("c", 2.0)]
VECTOR = [hit("c", 0.9), hit("d", 0.8), hit("a", 0.1)]


def test_rrf_sums_reciprocal_ranks_and_keeps_every_stage() -> None:
    fused = rrf({"bm25": BM25, "vector": VECTOR}, c=60)
    by_id = {f.chunk.chunk_id: f for f in fused}
    assert by_id["a"].score == pytest.approx(1 / 61 + 1 / 63)
    assert by_id["c"].score == pytest.approx(1 / 63 + 1 / 61)
    assert by_id["b"].score == pytest.approx(1 / 62)
    assert by_id["a"].scores == {"bm25": 12.0, "vector": 0.1, "fused": by_id["a"].score}
    assert by_id["a"].ranks == {"bm25": 1, "vector": 3, "fused": 1}
    assert by_id["d"].scores.keys() == {"vector", "fused"}  # BM25 did not return it
    # a and c tie; a's best stage rank (1) equals c's (1): the chunk id decides, stably
    assert [f.chunk.chunk_id for f in fused] == ["a", "c", "b", "d"]
    assert [f.ranks["fused"] for f in fused] == [1, 2, 3, 4]


def test_rrf_constant_changes_scores_not_single_list_order() -> None:
    fused = rrf({"bm25": BM25}, c=1)
    assert [f.chunk.chunk_id for f in fused] == ["a", "b", "c"]
    assert fused[0].score == pytest.approx(1 / 2)


def test_min_max_scales_to_unit_interval() -> None:
    assert min_max([12.0, 8.0, 2.0]) == pytest.approx([1.0, 0.6, 0.0])
    assert min_max([3.0, 3.0]) == [1.0, 1.0]
    assert min_max([0.5]) == [1.0]
    assert min_max([]) == []


def test_weighted_is_a_convex_combination_of_normalised_scores() -> None:
    fused = weighted({"bm25": BM25, "vector": VECTOR}, weights={"bm25": 0.3, "vector": 0.7})
    by_id = {f.chunk.chunk_id: f.score for f in fused}
    # bm25 normalised: a 1, b 0.6, c 0; vector normalised: c 1, d 0.875, a 0
    assert by_id["a"] == pytest.approx(0.3 * 1.0 + 0.7 * 0.0)
    assert by_id["b"] == pytest.approx(0.3 * 0.6)
    assert by_id["c"] == pytest.approx(0.3 * 0.0 + 0.7 * 1.0)
    assert by_id["d"] == pytest.approx(0.7 * 0.875)
    assert [f.chunk.chunk_id for f in fused] == ["c", "d", "a", "b"]
    assert fused[0].scores["bm25"] == 2.0 and fused[0].scores["vector"] == 0.9  # raw scores kept


def test_weighted_with_all_weight_on_one_stage_follows_it() -> None:
    fused = weighted({"bm25": BM25, "vector": VECTOR}, weights={"bm25": 1.0, "vector": 0.0})
    assert [f.chunk.chunk_id for f in fused][:2] == ["a", "b"]


def test_fusion_of_empty_stages_is_empty_and_one_empty_stage_is_harmless() -> None:
    assert rrf({"bm25": [], "vector": []}) == []
    assert [f.chunk.chunk_id for f in rrf({"bm25": [], "vector": VECTOR})] == ["c", "d", "a"]
    only = weighted({"bm25": [], "vector": VECTOR}, weights={"bm25": 0.5, "vector": 0.5})
    assert [f.chunk.chunk_id for f in only] == ["c", "d", "a"]


def test_a_repeated_chunk_counts_once_at_its_best_rank() -> None:
    fused = rrf({"bm25": [hit("a", 3.0), hit("a", 1.0), hit("b", 0.5)]}, c=60)
    assert [(f.chunk.chunk_id, f.ranks["bm25"]) for f in fused] == [("a", 1), ("b", 2)]


def test_from_stage_keeps_raw_scores_and_order() -> None:
    single = from_stage("vector", VECTOR)
    assert [(c.chunk.chunk_id, c.score, c.ranks) for c in single] == [
        ("c", 0.9, {"vector": 1}),
        ("d", 0.8, {"vector": 2}),
        ("a", 0.1, {"vector": 3}),
    ]


def test_restage_orders_by_the_new_scores_and_records_them() -> None:
    fused = rrf({"bm25": BM25, "vector": VECTOR})
    ranked = restage(fused, "rank", [0.1, 0.2, 0.9, 0.2])
    assert [c.chunk.chunk_id for c in ranked] == ["b", "c", "d", "a"]  # ties keep fused order
    assert ranked[0].scores["rank"] == 0.9 and ranked[0].ranks == {
        "bm25": 2,
        "fused": 3,
        "rank": 1,
    }
    assert ranked[0].score == 0.9
    with pytest.raises(ValueError):
        restage(fused, "rank", [1.0])


def test_best_per_product_keeps_the_best_chunk_of_each_product() -> None:
    hits = [hit("a1", 5, "A"), hit("a2", 4, "A"), hit("b1", 3, "B"), hit("c1", 2, "C")]
    chosen = best_per_product(from_stage("bm25", hits), 2)
    assert [c.chunk.chunk_id for c in chosen] == ["a1", "b1"]
