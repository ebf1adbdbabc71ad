"""`freshindex eval` in process (`workers.retrieval.evaluation`): runs per mode, without and with
the ranking stage, through `Retriever.search`; the table and the JSON; the CLI's refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.cli import app
from tests.unit.fakes import HashEmbedder
from tests.unit.test_ltr import model_card  # noqa: F401 - fixture
from tests.unit.test_retrieval_api import DIM, lance, settings_with  # noqa: F401 - fixture
from workers.index.lancedb import LanceIndex
from workers.relevance import parse_qrels
from workers.retrieval.evaluation import as_json, evaluate_live, render
from workers.retrieval.ltr import load_ranker
from workers.retrieval.pipeline import Retriever

QRELS = [
    {"query": "garden hose", "product_id": "HOSE", "grade": 3},
    {"query": "garden hose", "product_id": "RAKE", "grade": 1},
    {"query": "tomato feed", "product_id": "FEED", "grade": 3},
    {"query": "carrot seeds", "product_id": "SEED", "grade": 2},
    {"query": "dog food", "product_id": "FEED", "grade": 0},
]


def qrels_file(tmp_path: Path) -> Path:
    path = tmp_path / "qrels.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in QRELS))
    return path


def test_every_mode_is_scored_through_the_retriever(
    lance: LanceIndex,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    qrels = parse_qrels(qrels_file(tmp_path).read_text().splitlines())
    retriever = Retriever(settings_with(), index=lance, embedder=HashEmbedder(dim=DIM))
    report = asyncio.run(evaluate_live(retriever, qrels, source="q.jsonl"))
    asyncio.run(retriever.close())
    assert [(r.mode, r.ranker) for r in report.runs] == [
        ("hybrid", None),
        ("bm25", None),
        ("vector", None),
    ]
    bm25 = next(r for r in report.runs if r.mode == "bm25").evaluation
    assert bm25.queries == 3 and bm25.no_relevant == ("dog food",)
    assert bm25.p_at_1 == 1.0 and bm25.ndcg_at_10 > 0.9  # each title names its query's words
    figures = as_json(report)
    assert figures["queries"] == 3 and figures["no_relevant"] == ["dog food"]
    assert figures["ranker"] is None and figures["relevant_grade"] == 2
    for mode in ("hybrid", "bm25", "vector"):
        result = figures["results"][mode]
        assert result["with_ranker"] is None
        for name in ("p@1", "p@3", "p@5", "p@10", "recall@100", "mrr", "map", "ndcg@10"):
            assert 0 <= result["without_ranker"][name] <= 1, (mode, name)
    json.dumps(figures)  # serialisable as is


def test_with_a_ranker_each_mode_runs_twice_side_by_side(
    lance: LanceIndex,  # noqa: F811 - the fixture
    model_card: Path,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    qrels = parse_qrels(qrels_file(tmp_path).read_text().splitlines())
    ranker = load_ranker(model_card)
    retriever = Retriever(
        settings_with(), index=lance, embedder=HashEmbedder(dim=DIM), ranker=ranker
    )
    report = asyncio.run(evaluate_live(retriever, qrels, source="q.jsonl", modes=("hybrid",)))
    asyncio.run(retriever.close())
    assert [(r.mode, r.ranker) for r in report.runs] == [
        ("hybrid", None),
        ("hybrid", ranker.name),
    ]
    figures = as_json(report)
    assert figures["ranker"] == ranker.name
    assert set(figures["results"]["hybrid"]) == {"without_ranker", "with_ranker"}
    table = render(report).splitlines()
    assert table[0].split() == ["metric", "hybrid", "hybrid+ranker"]
    rows = {line.split()[0]: line.split()[1:] for line in table[1:10]}
    assert list(rows) == [
        "P@1",
        "P@3",
        "P@5",
        "P@10",
        "Recall@100",
        "MRR",
        "mAP",
        "nDCG@10",
        "ROC-AUC",
    ]
    assert all(len(cells) == 2 for cells in rows.values())
    assert f"ranking stage: {ranker.name}" in render(report)
    assert "3 queries with a relevant product (grade >= 2); 1 without one" in render(report)


def test_eval_refuses_bad_qrels_with_every_bad_line(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "hose", "product_id": "A", "grade": 5}\nnot json\n')
    for command in ("eval", "train-reranker"):
        result = CliRunner().invoke(app, [command, "--qrels", str(bad)])
        assert result.exit_code == 1, result.output
        assert "line 1: 'grade' must be one of 0, 1, 2, 3" in result.output
        assert "line 2: not valid JSON" in result.output


def test_eval_refuses_a_ranking_model_that_cannot_be_used(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "ranker.json"
    broken.write_text(json.dumps({"format": 99}))
    args = ["eval", "--qrels", str(qrels_file(tmp_path)), "--ranker", str(broken)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 78, result.output
    assert "has format 99" in result.output and "FRESHINDEX_RANKER_PATH" in result.output
    result = CliRunner().invoke(app, ["eval", "--qrels", str(qrels_file(tmp_path)), "--mode", "x"])
    assert result.exit_code == 1 and "unknown mode 'x'" in result.output
    result = CliRunner().invoke(app, ["eval", "--qrels", str(qrels_file(tmp_path)), "--fold", "1"])
    assert result.exit_code == 1 and "no query has fold 1" in result.output
