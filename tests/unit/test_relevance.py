"""Relevance metrics against hand-computed cases and scikit-learn; qrels validation; the sample
qrels (data/sample/qrels.jsonl) against the catalog it judges."""

from __future__ import annotations

import json
import math
import random
import runpy
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

from workers.relevance import (
    Qrels,
    QrelsError,
    RelevanceError,
    average_precision,
    evaluate,
    load_qrels,
    ndcg_at,
    parse_qrels,
    precision_at,
    recall_at,
    reciprocal_rank,
    roc_auc,
    score_query,
    unique,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
KINDS = ("keyword", "question", "brand", "attribute", "misspelling", "category", "no_answer")

# a:3 c:2 e:2 are relevant (e is never returned), b:0 is judged, d is unjudged
GRADES = {"a": 3, "b": 0, "c": 2, "e": 2}
RANKING = ["a", "b", "c", "d"]


def line(query: str = "q", product: str = "p", grade: object = 2, **extra: object) -> str:
    return json.dumps({"query": query, "product_id": product, "grade": grade, **extra})


# ---- hand-computed -------------------------------------------------------------------------------


def test_hand_computed_query() -> None:
    assert [precision_at(RANKING, GRADES, k) for k in (1, 3, 5, 10)] == [1, 2 / 3, 2 / 5, 2 / 10]
    assert recall_at(RANKING, GRADES, 100) == pytest.approx(2 / 3)
    assert recall_at(RANKING, GRADES, 1) == pytest.approx(1 / 3)
    assert reciprocal_rank(RANKING, GRADES) == 1.0
    assert reciprocal_rank(["b", "d", "c"], GRADES) == pytest.approx(1 / 3)
    # relevant at ranks 1 and 3; e is never found and adds 0 over |relevant| = 3
    assert average_precision(RANKING, GRADES) == pytest.approx((1 / 1 + 2 / 3) / 3)
    dcg = 7 / math.log2(2) + 3 / math.log2(4)  # gains 2^3-1 at rank 1, 2^2-1 at rank 3
    ideal = 7 / math.log2(2) + 3 / math.log2(3) + 3 / math.log2(4)  # 3, 2, 2 (e counts), 0
    assert ndcg_at(RANKING, GRADES, 10) == pytest.approx(dcg / ideal)
    # pairs (positive above negative): a>b a>d c>d, but b>c: 3 of 4
    assert roc_auc(RANKING, GRADES) == pytest.approx(3 / 4)


def test_grade_one_adds_gain_but_is_not_relevant() -> None:
    grades = {"r": 2, "x": 1}
    assert precision_at(["x", "r"], grades, 1) == 0.0
    assert reciprocal_rank(["x", "r"], grades) == 0.5
    # x (gain 1) at rank 1 and r (gain 3) at rank 2, against the ideal r then x
    expected = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at(["x", "r"], grades, 10) == pytest.approx(expected)


def test_unjudged_returned_products_are_negatives_for_auc() -> None:
    grades = {"r1": 3, "r2": 2}
    assert roc_auc(["u1", "r1", "u2", "r2"], grades) == pytest.approx(1 / 4)
    assert roc_auc(["r1", "r2", "u1"], grades) == 1.0
    assert roc_auc(["u1", "u2", "r1"], grades) == 0.0


def test_auc_needs_both_sides_in_the_returned_list() -> None:
    assert roc_auc(["a", "c"], GRADES) is None  # only positives
    assert roc_auc(["b", "d"], GRADES) is None  # only negatives
    assert roc_auc([], GRADES) is None


def test_empty_ranking_scores_zero() -> None:
    s = score_query([], GRADES)
    assert dict(s.precision) == {1: 0.0, 3: 0.0, 5: 0.0, 10: 0.0}
    assert (s.recall_at_100, s.reciprocal_rank, s.average_precision, s.ndcg_at_10) == (0, 0, 0, 0)
    assert s.auc is None


def test_perfect_ranking_scores_one() -> None:
    s = score_query(["a", "c", "e", "b", "d"], GRADES)
    assert (s.recall_at_100, s.reciprocal_rank, s.average_precision, s.auc) == (1, 1, 1, 1)
    assert s.ndcg_at_10 == pytest.approx(1.0)


def test_no_relevant_product_makes_recall_ap_and_the_query_undefined() -> None:
    grades = {"x": 1, "y": 0}
    assert precision_at(["x"], grades, 1) == 0.0
    assert reciprocal_rank(["x"], grades) == 0.0
    assert roc_auc(["x", "y"], grades) is None
    with pytest.raises(RelevanceError, match="grade >= 2"):
        recall_at(["x"], grades, 100)
    with pytest.raises(RelevanceError, match="grade >= 2"):
        average_precision(["x"], grades)
    with pytest.raises(RelevanceError):
        score_query(["x"], grades)
    with pytest.raises(RelevanceError, match="nDCG undefined"):
        ndcg_at(["x"], {"x": 0}, 10)


def test_duplicates_in_a_ranking_count_once_at_their_first_rank() -> None:
    assert unique(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert score_query(["a", "a", "b", "a", "c", "d"], GRADES) == score_query(RANKING, GRADES)
    # without de-duplication, a repeated relevant product would inflate P@3 to 1
    assert precision_at(["a", "a", "a"], GRADES, 3) == pytest.approx(1 / 3)


def test_random_duplicates_never_change_a_score() -> None:
    rng = random.Random(7)
    for _ in range(200):
        grades, ranking = _random_case(rng, full=False)
        noisy = list(ranking)
        for _ in range(rng.randint(1, 8)):
            at = rng.randint(0, len(noisy) - 1)
            noisy.insert(rng.randint(at + 1, len(noisy)), noisy[at])  # a repeat, after the first
        assert score_query(noisy, grades) == score_query(ranking, grades)


def test_equal_grades_tie_in_ndcg_and_the_ideal_uses_unreturned_products() -> None:
    grades = {"a": 2, "b": 2, "c": 3}
    assert ndcg_at(["a", "b"], grades, 10) == ndcg_at(["b", "a"], grades, 10)
    assert ndcg_at(["a", "b"], grades, 10) < 1.0  # c (grade 3) is missing from the ranking
    assert ndcg_at(["c", "a", "b"], grades, 10) == pytest.approx(1.0)


def test_score_query_cuts_at_the_stated_depths() -> None:
    # relevant products at ranks 11, 100 and 101: beyond P@10 and nDCG@10, two in Recall@100
    ranking = [f"u{i}" for i in range(1, 102)]
    grades = {"u11": 3, "u100": 2, "u101": 2}
    s = score_query(ranking, grades)
    assert s.precision[10] == 0.0
    assert s.ndcg_at_10 == 0.0
    assert s.recall_at_100 == pytest.approx(2 / 3)
    assert s.reciprocal_rank == pytest.approx(1 / 11)


def test_precision_rejects_k_below_one() -> None:
    with pytest.raises(RelevanceError, match="k must be"):
        precision_at(RANKING, GRADES, 0)


# ---- against scikit-learn and brute force on random rankings --------------------------------------


def _random_case(rng: random.Random, *, full: bool) -> tuple[dict[str, int], list[str]]:
    """Random graded products with at least one relevant and one non-relevant; the ranking is
    all of them (full) or a random subset padded with unjudged products."""
    n = rng.randint(2, 40)
    grades = {f"p{i}": rng.choice((0, 0, 1, 2, 3)) for i in range(n)}
    grades["p0"], grades["p1"] = 3 if rng.random() < 0.5 else 2, rng.choice((0, 1))
    products = list(grades)
    if not full:
        products = rng.sample(products, rng.randint(1, n)) + [f"u{i}" for i in range(5)]
    rng.shuffle(products)
    return grades, products


def _scores(ranking: Sequence[str]) -> list[float]:
    """Strictly decreasing scores in ranking order (no ties for sklearn to average)."""
    return [float(len(ranking) - i) for i in range(len(ranking))]


def test_average_precision_matches_sklearn_on_full_rankings() -> None:
    rng = random.Random(1)
    for _ in range(300):
        grades, ranking = _random_case(rng, full=True)
        y_true = [grades[p] >= 2 for p in ranking]
        expected = average_precision_score(y_true, _scores(ranking))
        assert average_precision(ranking, grades) == pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_matches_sklearn_with_exponential_gains(k: int) -> None:
    rng = random.Random(2 + k)
    for _ in range(300):
        grades, ranking = _random_case(rng, full=rng.random() < 0.5)
        if len(ranking) < k:
            continue
        # every judged product takes part in the ideal: unreturned ones get scores below the
        # ranking (distinct, so they never reach the top k when the ranking has >= k products)
        items = ranking + [p for p in grades if p not in ranking]
        gains = [2 ** grades.get(p, 0) - 1 for p in items]
        scores = _scores(items)
        expected = ndcg_score(np.array([gains]), np.array([scores]), k=k)
        assert ndcg_at(ranking, grades, k) == pytest.approx(expected)


def test_roc_auc_matches_sklearn_over_the_returned_list() -> None:
    rng = random.Random(3)
    checked = 0
    for _ in range(300):
        grades, ranking = _random_case(rng, full=rng.random() < 0.5)
        y_true = [grades.get(p, 0) >= 2 for p in ranking]
        ours = roc_auc(ranking, grades)
        if all(y_true) or not any(y_true):
            assert ours is None
            continue
        assert ours == pytest.approx(roc_auc_score(y_true, _scores(ranking)))
        checked += 1
    assert checked > 250


def test_simple_metrics_match_brute_force() -> None:
    rng = random.Random(4)
    for _ in range(300):
        grades, ranking = _random_case(rng, full=rng.random() < 0.5)
        flags = [grades.get(p, 0) >= 2 for p in ranking]
        relevant = sum(g >= 2 for g in grades.values())
        for k in (1, 3, 5, 10):
            assert precision_at(ranking, grades, k) == pytest.approx(sum(flags[:k]) / k)
        assert recall_at(ranking, grades, 100) == pytest.approx(sum(flags[:100]) / relevant)
        first = flags.index(True) + 1 if any(flags) else None
        assert reciprocal_rank(ranking, grades) == (1 / first if first else 0.0)


# ---- over queries --------------------------------------------------------------------------------


def _qrels_text(rows: Sequence[tuple[str, str, int]]) -> list[str]:
    return [line(q, p, g) for q, p, g in rows]


def test_evaluate_takes_macro_means_and_reports_what_it_left_out() -> None:
    qrels = parse_qrels(
        _qrels_text(
            [
                ("q1", "a", 3),
                ("q1", "b", 0),
                ("q2", "c", 2),
                ("q2", "d", 2),
                ("q3", "e", 1),  # no relevant product: left out of the means
                ("q4", "f", 2),  # no ranking given: scored as empty
            ]
        )
    )
    runs = {"q1": ["a", "b"], "q2": ["x", "c"], "q3": ["e"], "extra": ["a"]}
    ev = evaluate(qrels, runs)
    assert ev.queries == 3
    assert ev.p_at_1 == pytest.approx((1 + 0 + 0) / 3)
    assert ev.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert ev.map == pytest.approx((1 + (1 / 2) / 2 + 0) / 3)
    assert ev.recall_at_100 == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert ev.auc == pytest.approx((1 + 0) / 2)  # q4 has no ranking, so no AUC
    assert (ev.auc_queries, ev.auc_skipped) == (2, 1)
    assert ev.no_relevant == ("q3",)
    assert ev.missing_runs == ("q4",)
    assert ev.unjudged_runs == ("extra",)
    assert set(ev.per_query) == {"q1", "q2", "q4"}
    assert ev.figures()["queries"] == 3
    assert ev.figures()["ndcg@10"] == ev.ndcg_at_10


def test_evaluate_without_any_relevant_query_is_an_error() -> None:
    qrels = parse_qrels(_qrels_text([("q", "a", 1)]))
    with pytest.raises(RelevanceError, match="nothing to evaluate"):
        evaluate(qrels, {"q": ["a"]})


def test_auc_mean_is_none_when_no_ranking_has_both_sides() -> None:
    ev = evaluate(parse_qrels(_qrels_text([("q", "a", 2)])), {"q": ["a"]})
    assert ev.auc is None
    assert (ev.auc_queries, ev.auc_skipped) == (0, 1)


def test_qrels_folds_and_subsets() -> None:
    qrels = parse_qrels(
        [
            line("q1", "a", 3, kind="brand", fold=0),
            line("q1", "b", 0, kind="brand", fold=0),
            line("q2", "c", 2, kind="keyword", fold=1),
        ]
    )
    assert qrels.queries == ("q1", "q2")
    assert qrels.relevant("q1") == {"a"}
    assert qrels.fold(0).queries == ("q1",)
    assert qrels.fold(1).kinds == {"q2": "keyword"}
    assert qrels.subset(["q2", "nope"]).grades == {"q2": {"c": 2}}
    with pytest.raises(TypeError):
        qrels.grades["q1"]["a"] = 0  # type: ignore[index]


# ---- qrels validation ----------------------------------------------------------------------------


def _problems(lines: Sequence[str]) -> tuple[str, ...]:
    with pytest.raises(QrelsError) as info:
        parse_qrels(lines, source="test.jsonl")
    assert str(info.value).startswith("test.jsonl: ")
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        ('{"query": "q", "grade": 2}', "line 2: 'product_id' must be a non-empty string"),
        (line(query=""), "line 2: 'query' must be a non-empty string"),
        (line(query=" q"), "line 2: 'query' has leading or trailing whitespace"),
        (line(grade=1.5), "line 2: 'grade' must be one of 0, 1, 2, 3, got 1.5"),
        (line(grade=4), "line 2: 'grade' must be one of"),
        (line(grade=-1), "line 2: 'grade' must be one of"),
        (line(grade="2"), "line 2: 'grade' must be one of"),
        (line(grade=True), "line 2: 'grade' must be one of"),
        (line(grade=None), "line 2: 'grade' must be one of"),
        (line(score=1), "line 2: unknown field(s) score"),
        (line(fold=2), "line 2: 'fold' must be 0 or 1"),
        (line(kind=""), "line 2: 'kind' must be a non-empty string"),
    ],
)
def test_bad_lines_name_their_line_number(text: str, expected: str) -> None:
    problems = _problems([line("ok", "p", 3), text])
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_integral_float_grades_are_accepted() -> None:
    assert parse_qrels([line(grade=2.0)]).grades == {"q": {"p": 2}}


def test_duplicate_pairs_name_both_lines() -> None:
    problems = _problems([line("q", "a", 3), line("q", "b", 1), "", line("q", "a", 0)])
    assert problems == ("lines 1 and 4: duplicate judgment of product 'a' for query 'q'",)


def test_kind_and_fold_must_agree_within_a_query() -> None:
    problems = _problems(
        [
            line("q", "a", 3, kind="brand", fold=0),
            line("q", "b", 3, kind="keyword", fold=0),
            line("q", "c", 3, kind="brand", fold=1),
        ]
    )
    assert problems == (
        "line 2: kind 'keyword' differs from 'brand' on line 1 for query 'q'",
        "line 3: fold 1 differs from 0 on line 1 for query 'q'",
    )


def test_every_problem_is_collected_and_the_message_is_bounded() -> None:
    problems = _problems(["{bad"] * 25)
    assert [p.split(":")[0] for p in problems] == [f"line {n}" for n in range(1, 26)]
    with pytest.raises(QrelsError, match=r"25 problem\(s\)[\s\S]*and 5 more"):
        parse_qrels(["{bad"] * 25)


def test_unreadable_file_is_a_qrels_error(tmp_path: Path) -> None:
    with pytest.raises(QrelsError, match="cannot read the file"):
        load_qrels(tmp_path / "missing.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(QrelsError, match="cannot read the file"):
        load_qrels(binary)


# ---- the sample qrels ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_qrels() -> Qrels:
    return load_qrels(SAMPLE / "qrels.jsonl")


@pytest.fixture(scope="module")
def qrels_source() -> dict[str, Any]:
    """The globals of data/sample/make_qrels.py (the hand-judged table and the fold rule)."""
    return runpy.run_path(str(SAMPLE / "make_qrels.py"))


def test_sample_qrels_judge_only_catalog_products(sample_qrels: Qrels) -> None:
    rows = (SAMPLE / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    catalog = {json.loads(row)["id"] for row in rows}
    judged = {p for grades in sample_qrels.grades.values() for p in grades}
    assert judged <= catalog, sorted(judged - catalog)


def test_sample_qrels_cover_every_kind(sample_qrels: Qrels) -> None:
    assert len(sample_qrels.queries) >= 70
    assert set(sample_qrels.kinds) == set(sample_qrels.queries)
    counts = Counter(sample_qrels.kinds.values())
    assert set(counts) == set(KINDS)
    assert all(n >= 5 for n in counts.values()), counts
    for query, kind in sample_qrels.kinds.items():
        assert bool(sample_qrels.relevant(query)) == (kind != "no_answer"), query
    with_negatives = [
        q for q, g in sample_qrels.grades.items() if 0 in g.values() and sample_qrels.relevant(q)
    ]
    assert len(with_negatives) >= 20  # hard negatives are written out for many answerable queries


def test_sample_qrels_include_the_sample_questions(sample_qrels: Qrels) -> None:
    questions = (SAMPLE / "queries.txt").read_text(encoding="utf-8").splitlines()
    assert set(filter(None, questions)) <= set(sample_qrels.grades)


def test_sample_folds_are_stratified_and_follow_the_stated_rule(
    sample_qrels: Qrels, qrels_source: dict[str, Any]
) -> None:
    assert dict(sample_qrels.folds) == qrels_source["assign_folds"](dict(sample_qrels.kinds))
    for kind in KINDS:
        folds = Counter(f for q, f in sample_qrels.folds.items() if sample_qrels.kinds[q] == kind)
        assert abs(folds[0] - folds[1]) <= 1, (kind, folds)
    assert abs(len(sample_qrels.fold(0).queries) - len(sample_qrels.fold(1).queries)) <= 1


def test_sample_qrels_file_is_generated_from_its_source(qrels_source: dict[str, Any]) -> None:
    assert (SAMPLE / "qrels.jsonl").read_text(encoding="utf-8") == qrels_source["render"]()
