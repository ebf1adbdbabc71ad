"""Relevance evaluation: graded judgments (qrels) and ranking metrics, as pure functions.

Qrels are JSONL, one judgment per line::

    {"query": "tomato feed", "product_id": "GA-10001", "grade": 3, "kind": "keyword", "fold": 0}

`kind` (the sort of query) and `fold` (0 or 1, for validating a trained ranker on queries it was
not trained on) are optional, but every line of one query must agree on them.

Grades (`GRADES`)::

    3  exact match: the product is what the query asks for
    2  relevant: meets the need, differs in a secondary way (another size, a close substitute)
    1  related: partly useful or complementary; does not answer the query on its own
    0  not relevant (written out for tempting-but-wrong products; unjudged products are 0 too)

Binary metrics count a product as relevant when its grade is >= `RELEVANT_GRADE` (2).

Metrics of one query, given the ranked product ids a system returned. The ranking is
de-duplicated first (a product counts once, at its best rank: chunk-level hits of one product
do not earn it twice), and products absent from the qrels count as grade 0.

- P@k (k = 1, 3, 5, 10): relevant products in the top k, divided by k (also when fewer than k
  were returned).
- Recall@100: relevant products in the top 100, divided by all relevant products of the query.
- Reciprocal rank: 1 / rank of the first relevant product; 0 if none was returned.
- Average precision: the sum of P@rank over the ranks of the relevant products returned,
  divided by all relevant products of the query (a relevant product not returned adds 0).
  Its macro mean over queries is MAP.
- nDCG@10: DCG = sum over ranks i = 1..10 of (2**grade - 1) / log2(i + 1) (exponential gain,
  log2 discount); the ideal DCG sorts every judged grade of the query, returned or not.
- ROC-AUC: over the returned list only: positives are the relevant products in it, negatives
  every other product in it (judged below the cut-off, or unjudged). AUC is the fraction of
  (positive, negative) pairs with the positive ranked higher. A ranking without a positive or
  without a negative has no AUC: the query is left out of the AUC mean and counted.

`evaluate` takes the macro mean over the queries of the qrels that have at least one relevant
product. Queries without one (no good answer exists) are listed in `Evaluation.no_relevant`
and left out of every mean; a judged query with no ranking is scored as an empty ranking and
listed in `Evaluation.missing_runs`.

Errors (`WorkerError` is the root of the package)::

    RelevanceError       nothing to evaluate, or a metric undefined for its input
     └── QrelsError      the qrels cannot be read; `.problems` holds one message per bad line
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from workers.errors import WorkerError

GRADES = (0, 1, 2, 3)
"""The grade scale: 0 not relevant, 1 related, 2 relevant, 3 exact match."""
RELEVANT_GRADE = 2
"""The cut-off for binary metrics: a product is relevant when its grade is at least this."""
PRECISION_DEPTHS = (1, 3, 5, 10)
RECALL_DEPTH = 100
NDCG_DEPTH = 10
_FIELDS = {"query", "product_id", "grade", "kind", "fold"}
_SHOWN_PROBLEMS = 20


class RelevanceError(WorkerError):
    """A relevance evaluation cannot be done as asked."""


class QrelsError(RelevanceError):
    """The qrels cannot be read: one message per problem, each naming its line."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        shown = "\n  ".join(problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{source}: {len(problems)} problem(s) in the qrels:\n  {shown}{tail}")
        self.source = source
        self.problems = tuple(problems)


# ---- qrels -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Judgment:
    """One line of a qrels file."""

    query: str
    """The query text, exactly as a system is asked it."""
    product_id: str
    """The judged product."""
    grade: int
    """One of `GRADES`."""
    kind: str | None = None
    """The sort of query (keyword, question, brand, ...), if given."""
    fold: int | None = None
    """0 or 1, if given: the cross-validation fold of the query."""
    line: int = 0
    """1-based line number in the source (0 when not read from a file)."""


@dataclass(frozen=True, kw_only=True)
class Qrels:
    """Graded judgments by query. Build it with `parse_qrels` / `load_qrels`."""

    grades: Mapping[str, Mapping[str, int]]
    """query -> product id -> grade (read-only)."""
    kinds: Mapping[str, str]
    """query -> kind, for the queries whose lines carry one."""
    folds: Mapping[str, int]
    """query -> fold, for the queries whose lines carry one."""

    @property
    def queries(self) -> tuple[str, ...]:
        """Every judged query, sorted."""
        return tuple(sorted(self.grades))

    def relevant(self, query: str) -> frozenset[str]:
        """The products of `query` graded at least `RELEVANT_GRADE`."""
        return _relevant_of(self.grades.get(query, {}))

    def subset(self, queries: Iterable[str]) -> Qrels:
        """The judgments of `queries` only (queries not judged here are ignored)."""
        keep = set(queries)
        return _freeze(
            {q: dict(g) for q, g in self.grades.items() if q in keep},
            {q: k for q, k in self.kinds.items() if q in keep},
            {q: f for q, f in self.folds.items() if q in keep},
        )

    def fold(self, number: int) -> Qrels:
        """The queries of one fold (queries without a fold are in neither)."""
        return self.subset(q for q, f in self.folds.items() if f == number)


def load_qrels(path: str | Path) -> Qrels:
    """Read and validate a qrels file; raises `QrelsError` (never a bare traceback)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QrelsError(str(path), [f"cannot read the file: {e}"]) from e
    return parse_qrels(text.splitlines(), source=str(path))


def parse_qrels(lines: Iterable[str], *, source: str = "<qrels>") -> Qrels:
    """Validate JSONL lines (blank lines are skipped) into `Qrels`; every problem is collected,
    then one `QrelsError` names them all with their line numbers."""
    problems: list[str] = []
    judgments: list[Judgment] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            judgments.append(parse_judgment(text, line=number))
        except QrelsError as e:
            problems.extend(e.problems)
    problems.extend(_consistency_problems(judgments))
    if problems:
        raise QrelsError(source, problems)
    return _build(judgments)


def parse_judgment(text: str, *, line: int = 0) -> Judgment:
    """One JSON line to a `Judgment`; raises `QrelsError` naming the line."""
    where = f"line {line}"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as e:
        raise QrelsError(where, [f"{where}: not valid JSON ({e.msg} at column {e.colno})"]) from e
    if not isinstance(row, dict):
        raise QrelsError(where, [f"{where}: expected a JSON object, got {type(row).__name__}"])
    problems = [f"{where}: {p}" for p in _row_problems(row)]
    if problems:
        raise QrelsError(where, problems)
    return Judgment(
        query=row["query"],
        product_id=row["product_id"],
        grade=int(row["grade"]),
        kind=row.get("kind"),
        fold=None if row.get("fold") is None else int(row["fold"]),
        line=line,
    )


def _row_problems(row: dict[str, Any]) -> Iterator[str]:
    if unknown := sorted(set(row) - _FIELDS):
        yield f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_FIELDS))})"
    for name in ("query", "product_id"):
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            yield f"{name!r} must be a non-empty string, got {value!r}"
        elif value != value.strip():
            yield f"{name!r} has leading or trailing whitespace: {value!r}"
    grade = row.get("grade")
    if (
        isinstance(grade, bool)
        or not isinstance(grade, int | float)
        or grade not in GRADES  # 2.0 == 2 is accepted, 1.5 is not
    ):
        yield f"'grade' must be one of {', '.join(map(str, GRADES))}, got {grade!r}"
    if "kind" in row and (not isinstance(row["kind"], str) or not row["kind"]):
        yield f"'kind' must be a non-empty string, got {row['kind']!r}"
    if "fold" in row and (isinstance(row["fold"], bool) or row["fold"] not in (0, 1)):
        yield f"'fold' must be 0 or 1, got {row['fold']!r}"


def _consistency_problems(judgments: Sequence[Judgment]) -> Iterator[str]:
    """Duplicate (query, product) pairs, and kind/fold disagreeing between lines of a query."""
    seen: dict[tuple[str, str], int] = {}
    first_of_query: dict[str, Judgment] = {}
    for j in judgments:
        pair = (j.query, j.product_id)
        if pair in seen:
            yield (
                f"lines {seen[pair]} and {j.line}: duplicate judgment of product "
                f"{j.product_id!r} for query {j.query!r}"
            )
        else:
            seen[pair] = j.line
        first = first_of_query.setdefault(j.query, j)
        for name in ("kind", "fold"):
            if getattr(j, name) != getattr(first, name):
                yield (
                    f"line {j.line}: {name} {getattr(j, name)!r} differs from "
                    f"{getattr(first, name)!r} on line {first.line} for query {j.query!r}"
                )


def _build(judgments: Iterable[Judgment]) -> Qrels:
    grades: dict[str, dict[str, int]] = {}
    kinds: dict[str, str] = {}
    folds: dict[str, int] = {}
    for j in judgments:
        grades.setdefault(j.query, {})[j.product_id] = j.grade
        if j.kind is not None:
            kinds[j.query] = j.kind
        if j.fold is not None:
            folds[j.query] = j.fold
    return _freeze(grades, kinds, folds)


def _freeze(
    grades: dict[str, dict[str, int]], kinds: dict[str, str], folds: dict[str, int]
) -> Qrels:
    return Qrels(
        grades=MappingProxyType({q: MappingProxyType(g) for q, g in grades.items()}),
        kinds=MappingProxyType(kinds),
        folds=MappingProxyType(folds),
    )


# ---- metrics of one query -----------------------------------------------------------------------


def unique(ranking: Iterable[str]) -> list[str]:
    """The ranking with repeats removed, each product kept at its first (best) rank."""
    return list(dict.fromkeys(ranking))


def _relevant_of(grades: Mapping[str, int]) -> frozenset[str]:
    return frozenset(p for p, g in grades.items() if g >= RELEVANT_GRADE)


def _require_relevant(grades: Mapping[str, int]) -> frozenset[str]:
    relevant = _relevant_of(grades)
    if not relevant:
        raise RelevanceError(f"no judged product has grade >= {RELEVANT_GRADE}: metric undefined")
    return relevant


def precision_at(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """P@k: relevant products in the top `k`, divided by `k`."""
    if k < 1:
        raise RelevanceError(f"k must be >= 1, got {k}")
    relevant = _relevant_of(grades)
    return sum(p in relevant for p in unique(ranking)[:k]) / k


def recall_at(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Recall@k: relevant products in the top `k`, divided by all relevant products."""
    relevant = _require_relevant(grades)
    return sum(p in relevant for p in unique(ranking)[:k]) / len(relevant)


def reciprocal_rank(ranking: Sequence[str], grades: Mapping[str, int]) -> float:
    """1 / rank of the first relevant product; 0.0 when none was returned."""
    relevant = _relevant_of(grades)
    return next((1 / rank for rank, p in enumerate(unique(ranking), 1) if p in relevant), 0.0)


def average_precision(ranking: Sequence[str], grades: Mapping[str, int]) -> float:
    """Mean of P@rank over the relevant products; unreturned relevant products add 0."""
    relevant = _require_relevant(grades)
    hits, total = 0, 0.0
    for rank, product in enumerate(unique(ranking), start=1):
        if product in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


def _dcg(gains: Iterable[int]) -> float:
    return math.fsum((2.0**g - 1) / math.log2(i + 1) for i, g in enumerate(gains, start=1))


def ndcg_at(ranking: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """nDCG@k with gain 2**grade - 1 and a log2(rank + 1) discount; the ideal DCG is that of
    every judged grade of the query sorted from best."""
    ideal = _dcg(sorted(grades.values(), reverse=True)[:k])
    if ideal == 0:
        raise RelevanceError("no judged product has a grade above 0: nDCG undefined")
    return _dcg(grades.get(p, 0) for p in unique(ranking)[:k]) / ideal


def roc_auc(ranking: Sequence[str], grades: Mapping[str, int]) -> float | None:
    """Fraction of (relevant, non-relevant) pairs of the returned list ranked in that order;
    unjudged products are non-relevant. None when the list lacks either side."""
    relevant = _relevant_of(grades)
    negatives_above = 0
    misordered = 0
    positives = 0
    for product in unique(ranking):
        if product in relevant:
            positives += 1
            misordered += negatives_above
        else:
            negatives_above += 1
    pairs = positives * negatives_above
    return None if pairs == 0 else 1 - misordered / pairs


@dataclass(frozen=True, kw_only=True)
class QueryScores:
    """The metrics of one query (see the module docstring for the definitions)."""

    precision: Mapping[int, float]
    """P@k for each k in `PRECISION_DEPTHS`."""
    recall_at_100: float
    reciprocal_rank: float
    average_precision: float
    ndcg_at_10: float
    auc: float | None
    """None when the returned list has no relevant or no non-relevant product."""


def score_query(ranking: Sequence[str], grades: Mapping[str, int]) -> QueryScores:
    """Every metric of one query; raises `RelevanceError` if it has no relevant product."""
    ranked = unique(ranking)
    _require_relevant(grades)
    return QueryScores(
        precision=MappingProxyType({k: precision_at(ranked, grades, k) for k in PRECISION_DEPTHS}),
        recall_at_100=recall_at(ranked, grades, RECALL_DEPTH),
        reciprocal_rank=reciprocal_rank(ranked, grades),
        average_precision=average_precision(ranked, grades),
        ndcg_at_10=ndcg_at(ranked, grades, NDCG_DEPTH),
        auc=roc_auc(ranked, grades),
    )


# ---- over queries -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Macro means over the evaluated queries (those with at least one relevant product)."""

    queries: int
    """Queries in the means."""
    p_at_1: float
    p_at_3: float
    p_at_5: float
    p_at_10: float
    recall_at_100: float
    mrr: float
    map: float
    ndcg_at_10: float
    auc: float | None
    """Mean over `auc_queries`; None when no ranking had both a relevant and another product."""
    auc_queries: int
    """Evaluated queries whose ranking had both sides, so an AUC."""
    auc_skipped: int
    """Evaluated queries left out of the AUC mean (no relevant or no other product returned)."""
    no_relevant: tuple[str, ...]
    """Judged queries without a relevant product: reported, left out of every mean."""
    missing_runs: tuple[str, ...]
    """Evaluated queries for which no ranking was given: scored as empty rankings."""
    unjudged_runs: tuple[str, ...]
    """Rankings given for queries absent from the qrels: ignored."""
    per_query: Mapping[str, QueryScores]
    """The scores behind the means, by query."""

    def figures(self) -> dict[str, float | int | None]:
        """The headline numbers, flat (for a report or a JSON line)."""
        return {
            "queries": self.queries,
            "p@1": self.p_at_1,
            "p@3": self.p_at_3,
            "p@5": self.p_at_5,
            "p@10": self.p_at_10,
            "recall@100": self.recall_at_100,
            "mrr": self.mrr,
            "map": self.map,
            "ndcg@10": self.ndcg_at_10,
            "auc": self.auc,
            "auc_queries": self.auc_queries,
            "auc_skipped": self.auc_skipped,
            "no_relevant": len(self.no_relevant),
            "missing_runs": len(self.missing_runs),
        }


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def evaluate(qrels: Qrels, runs: Mapping[str, Sequence[str]]) -> Evaluation:
    """Score `runs` (query -> ranked product ids) against `qrels`; raises `RelevanceError` when
    no judged query has a relevant product."""
    evaluated = [q for q in qrels.queries if qrels.relevant(q)]
    if not evaluated:
        raise RelevanceError("nothing to evaluate: no query in the qrels has a relevant product")
    scores = {q: score_query(runs.get(q, ()), qrels.grades[q]) for q in evaluated}
    aucs = [s.auc for s in scores.values() if s.auc is not None]
    per = list(scores.values())
    return Evaluation(
        queries=len(per),
        p_at_1=_mean([s.precision[1] for s in per]),
        p_at_3=_mean([s.precision[3] for s in per]),
        p_at_5=_mean([s.precision[5] for s in per]),
        p_at_10=_mean([s.precision[10] for s in per]),
        recall_at_100=_mean([s.recall_at_100 for s in per]),
        mrr=_mean([s.reciprocal_rank for s in per]),
        map=_mean([s.average_precision for s in per]),
        ndcg_at_10=_mean([s.ndcg_at_10 for s in per]),
        auc=_mean(aucs) if aucs else None,
        auc_queries=len(aucs),
        auc_skipped=len(per) - len(aucs),
        no_relevant=tuple(q for q in qrels.queries if not qrels.relevant(q)),
        missing_runs=tuple(q for q in evaluated if q not in runs),
        unjudged_runs=tuple(sorted(q for q in runs if q not in qrels.grades)),
        per_query=MappingProxyType(scores),
    )
