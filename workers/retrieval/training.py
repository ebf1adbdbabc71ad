"""Training the ranking stage on judged queries: `freshindex train-reranker`.

1. Candidates: every judged query is searched on the live index through `Retriever.candidates`
   (the list the ranking stage is given in `search`), as a search for `TRAIN_K` results with
   one per product, in each of `TRAIN_MODES` (hybrid, and BM25 or vectors alone, so the model
   also orders a single stage's candidates; the features say which stages ran).
2. Rows: one per (query, mode, product) with `workers.retrieval.features`, labelled with the
   product's grade (unjudged: 0). Queries without a relevant product teach nothing and are
   left out.
3. Validation: the queries are cut in two folds (the qrels' `fold` when every query has one and
   both occur, else by the SHA-256 of the query text); a model trained on one fold orders the
   other fold's products as `search` would (each chunk gets its product's score and a stable
   sort keeps the fused order among equals, so the products come out sorted by score, ties in
   fused order), and the held-out figures with and without it go into the card. Only the
   feature rows are kept, not the candidates, so memory stays small for many queries.
4. The installed model is then trained on every query with the same parameters.

`LAMBDARANK` holds the parameters, chosen by cross-validation on the sample qrels (README,
"Relevance"): small trees, many rows per leaf and monotone constraints on the features whose
direction is not in doubt (more query words in the title, a higher BM25 or cosine, a better
fused rank cannot make a product worse), so that a model trained on a few dozen queries
carries over to queries and catalogs it has not seen.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workers.relevance import RECALL_DEPTH, Qrels, RelevanceError, evaluate
from workers.retrieval.features import FEATURES, product_features
from workers.retrieval.ltr import write_model
from workers.retrieval.pipeline import Mode, Query, Retriever

TRAIN_K = RECALL_DEPTH
"""Results asked for when fetching training candidates (as `freshindex eval` asks)."""
TRAIN_MODES: tuple[Mode, ...] = ("hybrid", "bm25", "vector")
_INCREASING = (
    "bm25_over_best",
    "bm25_inv_rank",
    "cosine",
    "vector_inv_rank",
    "fused_over_best",
    "fused_inv_rank",
    "title_cover",
    "all_cover",
    "title_phrase",
    "quantity_match",
)
_DECREASING = ("cosine_gap", "quantity_conflict")
LAMBDARANK: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "lambdarank_truncation_level": 20,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "monotone_constraints": [
        1 if name in _INCREASING else -1 if name in _DECREASING else 0 for name in FEATURES
    ],
    "monotone_constraints_method": "advanced",
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "verbosity": -1,
}
"""LightGBM parameters (see the module docstring)."""
ROUNDS = 200
"""Boosting rounds."""
_CONCURRENCY = 4


@dataclass(frozen=True, kw_only=True)
class Group:
    """One query's candidates in one mode, as training rows."""

    query: str
    mode: Mode
    products: list[str]
    """In fused order (of each product's best chunk): the order `search` gives without ranker."""
    features: np.ndarray
    labels: np.ndarray


async def collect(
    retriever: Retriever,
    qrels: Qrels,
    *,
    modes: Sequence[Mode] = TRAIN_MODES,
    k: int = TRAIN_K,
) -> list[Group]:
    """The training groups of every query with a relevant product, in every mode."""
    queries = [q for q in qrels.queries if qrels.relevant(q)]
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(text: str, mode: Mode) -> Group:
        async with gate:
            found = await retriever.candidates(Query(text=text, k=k, mode=mode, rerank=False))
        products, features = product_features(text, found)
        grades = qrels.grades[text]
        labels = np.asarray([grades.get(p, 0) for p in products], dtype=np.int32)
        return Group(
            query=text,
            mode=mode,
            products=products,
            features=features,
            labels=labels,
        )

    return list(await asyncio.gather(*(one(q, m) for m in modes for q in queries)))


def fit(groups: Sequence[Group], *, rounds: int = ROUNDS) -> Any:
    """A LightGBM LambdaRank booster trained on `groups` (those with a positive label)."""
    import lightgbm

    useful = [g for g in groups if len(g.products) > 1 and g.labels.max() > 0]
    if not useful:
        raise RelevanceError(
            "no training query has a judged product among its candidates: nothing to learn"
        )
    data = lightgbm.Dataset(
        np.vstack([g.features for g in useful]),
        label=np.concatenate([g.labels for g in useful]),
        group=[len(g.products) for g in useful],
        feature_name=list(FEATURES),
        free_raw_data=True,
    )
    return lightgbm.train(LAMBDARANK, data, num_boost_round=rounds)


def ranked(groups: Iterable[Group], booster: Any | None, k: int = TRAIN_K) -> dict[str, Any]:
    """query -> product ids in the order `search` returns them (with or without the model)."""
    runs = {}
    for g in groups:
        order = list(range(len(g.products)))
        if booster is not None and g.products:
            scores = booster.predict(g.features, num_threads=1)
            order.sort(key=lambda i: -scores[i])  # stable: ties keep the fused order
        runs[g.query] = [g.products[i] for i in order[:k]]
    return runs


def folds(qrels: Qrels) -> tuple[list[str], list[str]]:
    """The queries of the two validation folds (see the module docstring)."""
    queries = list(qrels.queries)
    given = [qrels.folds.get(q) for q in queries]
    if None not in given and {0, 1} <= set(given):
        return (
            [q for q in queries if qrels.folds[q] == 0],
            [q for q in queries if qrels.folds[q] == 1],
        )
    parity = {q: hashlib.sha256(q.encode()).digest()[0] % 2 for q in queries}
    return [q for q in queries if parity[q] == 0], [q for q in queries if parity[q] == 1]


def validate(groups: Sequence[Group], qrels: Qrels) -> dict[str, Any]:
    """Held-out figures per fold: train on one, evaluate the other, with and without."""
    parts = folds(qrels)
    out: dict[str, Any] = {"folds": []}
    for held, (train_on, test_on) in enumerate([(parts[1], parts[0]), (parts[0], parts[1])]):
        train_set, test_set = set(train_on), set(test_on)
        fold: dict[str, Any] = {"held_out": held, "train_queries": len(train_set)}
        try:
            booster = fit([g for g in groups if g.query in train_set])
        except RelevanceError as e:
            out["folds"].append(fold | {"skipped": str(e)})
            continue
        test_qrels = qrels.subset(test_set)
        for mode in sorted({g.mode for g in groups}):
            testing = [g for g in groups if g.query in test_set and g.mode == mode]
            fold[mode] = {
                "without": _figures(test_qrels, ranked(testing, None)),
                "with": _figures(test_qrels, ranked(testing, booster)),
            }
        out["folds"].append(fold)
    out["mean"] = _mean_of_folds(out["folds"])
    return out


def _figures(qrels: Qrels, runs: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    try:
        return evaluate(qrels, runs).figures()
    except RelevanceError:
        return {}


def _mean_of_folds(found: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode, with and without: the mean of each figure over the folds that have it."""
    out: dict[str, Any] = {}
    modes = {k for f in found for k in f if isinstance(f[k], dict)}
    for mode in sorted(modes):
        out[mode] = {}
        for side in ("without", "with"):
            figures = [f[mode][side] for f in found if f.get(mode, {}).get(side)]
            names = {n for fig in figures for n in fig}
            out[mode][side] = {
                n: _mean([fig.get(n) for fig in figures]) for n in sorted(names) if figures
            }
    return out


def _mean(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float) and not math.isnan(v)]
    return sum(numbers) / len(numbers) if numbers else None


async def train(
    retriever: Retriever,
    qrels: Qrels,
    *,
    qrels_path: Path,
    out: Path,
) -> Path:
    """Collect, validate, fit on every query, write the model and its card into `out`;
    returns the card's path."""
    groups = await collect(retriever, qrels)
    validation = validate(groups, qrels)
    booster = fit(groups)
    settings = retriever.settings
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    card_fields = {
        "created_at": stamp,
        "qrels": {
            "path": str(qrels_path),
            "sha256": hashlib.sha256(qrels_path.read_bytes()).hexdigest(),
            "queries": len(qrels.queries),
            "judgments": sum(len(g) for g in qrels.grades.values()),
            "trained_on": len({g.query for g in groups}),
        },
        "params": {**LAMBDARANK, "rounds": ROUNDS},
        "candidates": {
            "modes": list(TRAIN_MODES),
            "k": TRAIN_K,
            "per_product": True,
            "candidates_bm25": settings.candidates_bm25,
            "candidates_vector": settings.candidates_vector,
            "fusion": settings.fusion,
            "rrf_k": settings.rrf_k,
            "index": {"backend": settings.index_backend, "name": settings.index_name},
            "model": settings.triton_model,
        },
        "validation": validation,
    }
    return write_model(out, card_fields, booster.model_to_string())
