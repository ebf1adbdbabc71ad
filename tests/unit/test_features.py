"""Features of (query, product) pairs (`workers.retrieval.features`), computed from candidates
alone: stages, title words, fuzzy matches, quantities, metadata; NaN where one does not apply."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from workers.index.base import IndexedChunk
from workers.retrieval.features import FEATURES, product_features
from workers.retrieval.fusion import Candidate


def candidate(
    product_id: str,
    title: str,
    *,
    chunk: int = 0,
    text: str | None = None,
    scores: dict[str, float] | None = None,
    ranks: dict[str, int] | None = None,
    **fields: Any,
) -> Candidate:
    scores = scores if scores is not None else {"bm25": 5.0, "vector": 0.5, "fused": 0.03}
    ranks = ranks if ranks is not None else {stage: 1 for stage in scores}
    return Candidate(
        chunk=IndexedChunk(
            chunk_id=f"{product_id}-{chunk}",
            product_id=product_id,
            text=text or title,
            fields={"title": title, "section": "overview" if chunk == 0 else "description"}
            | fields,
        ),
        score=scores.get("fused", 0.0),
        scores=scores,
        ranks=ranks,
    )


def features_of(query: str, *candidates: Candidate) -> dict[str, dict[str, float]]:
    products, matrix = product_features(query, list(candidates))
    assert matrix.shape == (len(products), len(FEATURES))
    return {
        p: dict(zip(FEATURES, row, strict=True)) for p, row in zip(products, matrix, strict=True)
    }


def test_products_in_order_of_their_first_chunk_with_their_chunks_counted() -> None:
    found = features_of(
        "garden hose",
        candidate("A", "Garden Hose 30 m"),
        candidate("B", "Hose Reel"),
        candidate("A", "Garden Hose 30 m", chunk=1, text="Garden Hose 30 m: a long description"),
    )
    assert list(found) == ["A", "B"]
    assert found["A"]["chunks"] == 2 and found["B"]["chunks"] == 1


def test_title_words_are_matched_after_stemming() -> None:
    found = features_of(
        "garden hoses",
        candidate("A", "Expandable Garden Hose"),
        candidate("B", "Garden Rake"),
        candidate("C", "Hose Garden Connector"),
    )
    assert found["A"]["title_cover"] == 1.0 and found["A"]["title_phrase"] == 1.0
    assert found["B"]["title_cover"] == 0.5 and found["B"]["last_word_in_title"] == 0.0
    assert found["C"]["title_cover"] == 1.0 and found["C"]["title_phrase"] == 0.0
    assert found["A"]["title_bigrams"] == 1.0 and found["C"]["title_bigrams"] == 0.0


def test_a_misspelt_query_is_close_to_the_right_title_only() -> None:
    found = features_of(
        "secatuers", candidate("A", "Bypass Secateurs 20 mm"), candidate("B", "Lawn Rake")
    )
    assert found["A"]["title_cover"] == 0.0  # no word matches exactly
    assert found["A"]["title_fuzzy"] > 0.5 > found["B"]["title_fuzzy"]
    assert found["A"]["title_trigrams"] > found["B"]["title_trigrams"]


def test_quantities_match_or_conflict_however_they_are_written() -> None:
    found = features_of(
        "50ft garden hose",
        candidate("SAME", "Garden Hose 50 ft."),
        candidate("OTHER", "Garden Hose 100 ft."),
        candidate("ATTR", "Garden Hose", attributes={"length": "50 feet"}),
        candidate("NONE", "Garden Hose"),
    )
    assert found["SAME"]["quantity_match"] == 1.0 and found["SAME"]["quantity_conflict"] == 0.0
    assert found["OTHER"]["quantity_match"] == 0.0 and found["OTHER"]["quantity_conflict"] == 1.0
    assert found["ATTR"]["quantity_match"] == 1.0
    assert found["NONE"]["quantity_conflict"] == 0.0
    plain = features_of("garden hose", candidate("SAME", "Garden Hose 50 ft."))
    assert math.isnan(plain["SAME"]["quantity_match"]) and plain["SAME"]["query_quantities"] == 0


def test_stage_scores_are_relative_to_the_query_and_missing_stages_are_nan() -> None:
    found = features_of(
        "hose",
        candidate("A", "Hose", scores={"bm25": 8.0, "fused": 0.03}, ranks={"bm25": 1, "fused": 1}),
        candidate("B", "Hose", scores={"bm25": 2.0, "vector": 0.4, "fused": 0.02}),
        candidate(
            "C", "Hose", scores={"vector": 0.8, "fused": 0.01}, ranks={"vector": 2, "fused": 4}
        ),
    )
    assert found["A"]["bm25_over_best"] == 1.0 and found["B"]["bm25_over_best"] == 0.25
    assert math.isnan(found["A"]["cosine"]) and found["A"]["vector_inv_rank"] == 0.0
    assert found["C"]["cosine_gap"] == 0.0 and np.isclose(found["B"]["cosine_gap"], 0.4)
    assert found["C"]["fused_inv_rank"] == 0.25 and math.isnan(found["C"]["bm25_score"])
    assert found["A"]["query_has_bm25"] == found["A"]["query_has_vector"] == 1.0


def test_metadata_features_and_a_title_only_product() -> None:
    found = features_of(
        "terravita tomato feed",
        candidate(
            "FULL",
            "Tomato Feed 1 L",
            brand="Terravita",
            category="Fertilisers",
            attributes={"npk": "4-2-8"},
            price=6.99,
            availability="InStock",
        ),
        candidate("BARE", "Tomato Feed 1 L"),
    )
    full, bare = found["FULL"], found["BARE"]
    assert full["brand_in_query"] == 1.0 and full["all_cover"] == 1.0
    assert full["has_price"] == 1.0 and full["in_stock"] == 1.0 and full["section_overview"] == 1
    assert bare["all_cover"] == 2 / 3 and bare["has_price"] == 0.0
    for name in ("brand_in_query", "category_cover", "attribute_cover", "in_stock"):
        assert math.isnan(bare[name]), name


def test_no_candidates_no_rows() -> None:
    products, matrix = product_features("hose", [])
    assert products == [] and matrix.shape == (0, len(FEATURES))
