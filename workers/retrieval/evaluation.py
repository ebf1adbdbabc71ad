"""Relevance of the live index on judged queries: `freshindex eval`.

Every judged query is searched through `Retriever.search`, the code `freshindex serve` runs, as
a search for `EVAL_K` results with one result per product, in each mode asked for, without the
ranking stage and (when one is installed) with it, and each run is scored by
`workers.relevance.evaluate` (P@1/3/5/10, Recall@100, MRR, mAP, nDCG@10, ROC-AUC; grades 0-3,
relevant from grade 2). `render` prints the runs side by side; `as_json` is the `--json` form.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workers.relevance import GRADES, RECALL_DEPTH, RELEVANT_GRADE, Evaluation, Qrels, evaluate
from workers.retrieval.pipeline import Mode, Query, Retriever

EVAL_K = RECALL_DEPTH
"""Results asked for per query (Recall@100 needs 100)."""
MODES: tuple[Mode, ...] = ("hybrid", "bm25", "vector")
_CONCURRENCY = 4
_ROWS = (
    ("P@1", "p@1"),
    ("P@3", "p@3"),
    ("P@5", "p@5"),
    ("P@10", "p@10"),
    ("Recall@100", "recall@100"),
    ("MRR", "mrr"),
    ("mAP", "map"),
    ("nDCG@10", "ndcg@10"),
    ("ROC-AUC", "auc"),
)


@dataclass(frozen=True, kw_only=True)
class Run:
    """One mode, with or without the ranking stage, over every judged query."""

    mode: Mode
    ranker: str | None
    """The ranking stage that ordered the results (None: none)."""
    evaluation: Evaluation
    seconds: float
    """Wall time of the run's searches."""


@dataclass(frozen=True, kw_only=True)
class Report:
    """Every run of one `freshindex eval`."""

    qrels: str
    runs: list[Run]
    fusion: str
    index: dict[str, str]
    k: int = EVAL_K


async def evaluate_live(
    retriever: Retriever, qrels: Qrels, *, source: str, modes: Sequence[Mode] = MODES
) -> Report:
    """Runs for each mode, without and (if one is installed) with the ranking stage."""
    settings = retriever.settings
    sides = (False, True) if retriever.ranker is not None else (False,)
    runs = [await _run(retriever, qrels, mode, rerank) for mode in modes for rerank in sides]
    return Report(
        qrels=source,
        runs=runs,
        fusion=settings.fusion,
        index={"backend": settings.index_backend, "name": settings.index_name},
    )


async def _run(retriever: Retriever, qrels: Qrels, mode: Mode, rerank: bool) -> Run:
    gate = asyncio.Semaphore(_CONCURRENCY)
    ranker: list[str | None] = [None]

    async def one(text: str) -> tuple[str, list[str]]:
        async with gate:
            found = await retriever.search(
                Query(text=text, k=EVAL_K, mode=mode, per_product=True, rerank=rerank)
            )
        ranker[0] = found.ranker or ranker[0]
        return text, [c.product_id for c in found.results]

    started = time.perf_counter()
    rankings = dict(await asyncio.gather(*(one(q) for q in qrels.queries)))
    seconds = time.perf_counter() - started
    return Run(mode=mode, ranker=ranker[0], evaluation=evaluate(qrels, rankings), seconds=seconds)


def column(run: Run) -> str:
    return f"{run.mode}+ranker" if run.ranker else run.mode


def as_json(report: Report) -> dict[str, Any]:
    """The report as one JSON object: per mode, `without_ranker` and `with_ranker` figures."""
    results: dict[str, dict[str, Any]] = {}
    for run in report.runs:
        side = "with_ranker" if run.ranker else "without_ranker"
        results.setdefault(run.mode, {"without_ranker": None, "with_ranker": None})[side] = {
            **run.evaluation.figures(),
            "seconds": round(run.seconds, 3),
        }
    first = report.runs[0].evaluation if report.runs else None
    return {
        "qrels": report.qrels,
        "queries": first.queries if first else 0,
        "no_relevant": list(first.no_relevant) if first else [],
        "k": report.k,
        "grades": list(GRADES),
        "relevant_grade": RELEVANT_GRADE,
        "fusion": report.fusion,
        "ranker": next((r.ranker for r in report.runs if r.ranker), None),
        "index": report.index,
        "results": results,
    }


def render(report: Report) -> str:
    """A table: a row per metric, a column per run (mode, then mode+ranker)."""
    names = [column(r) for r in report.runs]
    width = max([12, *(len(n) + 2 for n in names)])
    lines = ["metric".ljust(12) + "".join(n.rjust(width) for n in names)]
    for label, key in _ROWS:
        cells = [_cell(r.evaluation.figures().get(key)) for r in report.runs]
        lines.append(label.ljust(12) + "".join(c.rjust(width) for c in cells))
    first = report.runs[0].evaluation if report.runs else None
    if first is not None:
        lines.append("")
        lines.append(
            f"{first.queries} queries with a relevant product (grade >= {RELEVANT_GRADE});"
            f" {len(first.no_relevant)} without one left out; k={report.k}, one result per"
            f" product; fusion {report.fusion}; index {report.index['backend']}"
            f" {report.index['name']}"
        )
        ranker = next((r.ranker for r in report.runs if r.ranker), None)
        lines.append(f"ranking stage: {ranker or 'none installed'}")
        skipped = {column(r): r.evaluation.auc_skipped for r in report.runs}
        if any(skipped.values()):
            lines.append(
                "ROC-AUC left out queries whose results had no relevant or no other product: "
                + ", ".join(f"{n} {s}" for n, s in skipped.items())
            )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"
