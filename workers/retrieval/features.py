"""Features of (query, product) pairs for the learning-to-rank stage: pure functions, no I/O.

The ranking stage orders products: a search's candidates are chunks, so `product_features`
groups them by product and describes each product by what the index returned for it (its
chunks' stage scores and ranks, its title and metadata) against the query. Nothing here knows a
catalog or a word list: every feature is computed from the candidates and the query alone, so a
model trained on one shop's judgments reads another shop's candidates the same way.

`FEATURES` names the columns, in order; a model file records them and is refused when they
differ (`workers.retrieval.ltr`). A feature that does not apply is NaN (LightGBM learns where
missing values go): a stage that did not return the product, a query without quantities, a
product without a brand. Groups:

- stages: BM25 score (raw, and over the query's best), 1/rank in BM25, cosine (raw, and its gap
  to the query's best), 1/rank in the vector stage, fused score over the best, 1/fused rank,
  how many of the product's chunks are candidates;
- query: its analysed words, whether each stage returned anything, the best raw BM25 score;
- text: the fraction of the query's words in the title, in everything returned of the product
  (chunks, brand, category, attributes), in order in the title (bigrams), the query as a phrase
  in the title, its last and first word in the title, the title's length and the fraction of its
  words the query does not name, character-trigram overlap of the query with the title and the
  closest title word for each query word (misspellings);
- metadata: the brand named in the query, the query's words in the category and in the
  attributes, quantity matches and conflicts ("50 ft" against "50 ft."/"100 ft."; numbers and
  units normalised by `workers.index.terms`), the best chunk's section (overview, description,
  document), price and availability present / in stock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any

import numpy as np

from workers.index import terms
from workers.retrieval.fusion import FUSED, Candidate

BM25 = "bm25"
VECTOR = "vector"
NAN = math.nan

FEATURES: tuple[str, ...] = (
    # stages
    "bm25_score",
    "bm25_over_best",
    "bm25_inv_rank",
    "cosine",
    "cosine_gap",
    "vector_inv_rank",
    "fused_over_best",
    "fused_inv_rank",
    "chunks",
    # query
    "query_words",
    "query_has_bm25",
    "query_has_vector",
    "query_best_bm25",
    # text
    "title_cover",
    "all_cover",
    "title_bigrams",
    "title_phrase",
    "last_word_in_title",
    "first_word_in_title",
    "title_words",
    "title_extra",
    "title_trigrams",
    "title_fuzzy",
    # metadata
    "brand_in_query",
    "category_cover",
    "attribute_cover",
    "query_quantities",
    "quantity_match",
    "quantity_conflict",
    "section_overview",
    "section_document",
    "has_price",
    "in_stock",
)
"""The feature columns, in order."""
FEATURE_VERSION = 1
"""Bumped whenever a feature's meaning changes (a model file records it)."""


class _Text:
    """A piece of text as the features see it (cached by `profile`: titles and chunks repeat
    across queries); what only titles need is computed when first asked for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = tuple(terms.words(text))
        """Analysed (`terms.words`: stemmed, no stop words)."""
        self.word_set = frozenset(self.words)
        sizes = {(s, "size") for s in terms.sizes(text)}
        self.quantities = frozenset(terms.quantities(text)) | sizes

    @cached_property
    def raw_words(self) -> frozenset[str]:
        """Lower-cased alphanumeric words as written (for fuzzy matching)."""
        return frozenset(_raw_words(self.text))

    @cached_property
    def trigrams(self) -> frozenset[str]:
        return trigrams(self.text)


@lru_cache(maxsize=65_536)
def profile(text: str) -> _Text:
    """Analysed words and quantities of `text` (character trigrams when asked for)."""
    return _Text(text)


def _raw_words(text: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in text.lower()).split()


def trigrams(text: str) -> frozenset[str]:
    """Character trigrams of each lower-cased alphanumeric word, padded with spaces."""
    out: set[str] = set()
    for word in _raw_words(text):
        out |= _word_trigrams(word)
    return frozenset(out)


@lru_cache(maxsize=65_536)
def _word_trigrams(word: str) -> frozenset[str]:
    padded = f" {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def _fraction(part: Iterable[Any], whole: frozenset[Any]) -> float:
    items = list(part)
    return sum(x in whole for x in items) / len(items) if items else NAN


def _inverse(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


@dataclass(frozen=True, kw_only=True)
class _Query:
    text: str
    profile: _Text
    raw_words: tuple[str, ...]
    best_bm25: float
    best_cosine: float
    best_fused: float
    has_bm25: bool
    has_vector: bool


def _query(text: str, candidates: Sequence[Candidate]) -> _Query:
    def best(stage: str) -> float:
        values = [c.scores[stage] for c in candidates if stage in c.scores]
        return max(values) if values else NAN

    words = tuple(_raw_words(text))
    return _Query(
        text=text,
        profile=profile(text),
        raw_words=words,
        best_bm25=best(BM25),
        best_cosine=best(VECTOR),
        best_fused=best(FUSED),
        has_bm25=any(BM25 in c.scores for c in candidates),
        has_vector=any(VECTOR in c.scores for c in candidates),
    )


def group_by_product(candidates: Sequence[Candidate]) -> dict[str, list[int]]:
    """Product id -> positions of its candidates, products in order of their first candidate."""
    groups: dict[str, list[int]] = {}
    for position, c in enumerate(candidates):
        groups.setdefault(c.product_id, []).append(position)
    return groups


def product_features(query: str, candidates: Sequence[Candidate]) -> tuple[list[str], np.ndarray]:
    """(product ids, one row of `FEATURES` per product), products in order of their first
    candidate (the best-ranked chunk of each comes first in `candidates`)."""
    q = _query(query, candidates)
    groups = group_by_product(candidates)
    rows = [_product_row(q, [candidates[i] for i in at]) for at in groups.values()]
    matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    return list(groups), matrix


def _product_row(q: _Query, chunks: list[Candidate]) -> list[float]:
    best = chunks[0]
    fields = best.chunk.fields
    title = profile(str(fields.get("title") or best.chunk.text.split("\n", 1)[0]))
    values = {
        **_stage_features(q, chunks),
        "query_words": float(len(q.profile.words)),
        "query_has_bm25": float(q.has_bm25),
        "query_has_vector": float(q.has_vector),
        "query_best_bm25": q.best_bm25,
        **_title_features(q, title),
        **_metadata_features(q, chunks, fields),
    }
    return [values[name] for name in FEATURES]


def _stage_features(q: _Query, chunks: list[Candidate]) -> dict[str, float]:
    def best_score(stage: str) -> float:
        values = [c.scores[stage] for c in chunks if stage in c.scores]
        return max(values) if values else NAN

    def best_rank(stage: str) -> int | None:
        ranks = [c.ranks[stage] for c in chunks if stage in c.ranks]
        return min(ranks) if ranks else None

    bm25, cosine, fused = best_score(BM25), best_score(VECTOR), best_score(FUSED)
    return {
        "bm25_score": bm25,
        "bm25_over_best": _over(bm25, q.best_bm25),
        "bm25_inv_rank": _inverse(best_rank(BM25)),
        "cosine": cosine,
        "cosine_gap": q.best_cosine - cosine,
        "vector_inv_rank": _inverse(best_rank(VECTOR)),
        "fused_over_best": _over(fused, q.best_fused),
        "fused_inv_rank": _inverse(best_rank(FUSED)),
        "chunks": float(len(chunks)),
    }


def _over(value: float, best: float) -> float:
    return value / best if best > 0 and not math.isnan(value) else NAN


def _title_features(q: _Query, title: _Text) -> dict[str, float]:
    words = q.profile.words
    n = len(words)
    bigrams = list(pairwise(words))
    title_bigrams = frozenset(pairwise(title.words))
    phrase = any(title.words[i : i + n] == words for i in range(len(title.words) - n + 1))
    fuzzy = [
        1.0
        if w in title.raw_words
        else max((_dice(_word_trigrams(w), _word_trigrams(t)) for t in title.raw_words), default=0)
        for w in q.raw_words
    ]
    grams = q.profile.trigrams
    return {
        "title_cover": _fraction(words, title.word_set),
        "title_bigrams": _fraction(bigrams, title_bigrams),
        "title_phrase": float(phrase) if n else NAN,
        "last_word_in_title": float(words[-1] in title.word_set) if n else NAN,
        "first_word_in_title": float(words[0] in title.word_set) if n else NAN,
        "title_words": float(len(title.words)),
        "title_extra": 1 - _fraction(title.words, q.profile.word_set) if title.words else NAN,
        "title_trigrams": len(grams & title.trigrams) / len(grams) if grams else NAN,
        "title_fuzzy": sum(fuzzy) / len(fuzzy) if fuzzy else NAN,
    }


def _metadata_features(
    q: _Query, chunks: list[Candidate], fields: dict[str, Any]
) -> dict[str, float]:
    words = q.profile.words
    brand = profile(str(fields["brand"])) if fields.get("brand") else None
    category = profile(str(fields["category"])) if fields.get("category") else None
    attributes = fields.get("attributes") or {}
    attribute_text = " ".join(f"{k} {v}" for k, v in sorted(attributes.items()))
    described = profile(attribute_text) if attribute_text else None
    texts = [profile(c.chunk.text) for c in chunks]
    named = [p for p in (brand, category, described) if p is not None]
    everything = frozenset().union(*(t.word_set for t in texts), *(p.word_set for p in named))
    held = frozenset().union(*(t.quantities for t in texts), *(p.quantities for p in named))
    asked = q.profile.quantities
    availability = fields.get("availability")
    return {
        "all_cover": _fraction(words, everything),
        "brand_in_query": (
            float(brand.word_set <= q.profile.word_set) if brand and brand.word_set else NAN
        ),
        "category_cover": _fraction(words, category.word_set) if category else NAN,
        "attribute_cover": _fraction(words, described.word_set) if described else NAN,
        "query_quantities": float(len(asked)),
        "quantity_match": _fraction(asked, held) if asked else NAN,
        "quantity_conflict": float(_conflict(asked, held)) if asked else NAN,
        "section_overview": float(fields.get("section") == "overview"),
        "section_document": float(bool(fields.get("document"))),
        "has_price": float(fields.get("price") is not None),
        "in_stock": NAN if availability is None else float(availability == "InStock"),
    }


def _conflict(asked: frozenset[tuple[str, str]], held: frozenset[tuple[str, str]]) -> bool:
    """Some quantity of the query has a unit the product states only with other values."""
    for value, unit in asked:
        values = {v for v, u in held if u == unit}
        if values and value not in values:
            return True
    return False
