"""Relevance on the real stacks: the sample catalog published through the broker, embedded by
tritonserver and indexed by a worker; `freshindex train-reranker` trains on fold 0 of the
sample qrels and installs the model, a running `freshindex serve` takes it on SIGHUP, and
`freshindex eval` scores fold 1 in every mode without and with it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import cli
from tests.integration.test_serve import Served
from workers.ops import wait_until_caught_up
from workers.relevance import load_qrels

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
QRELS = SAMPLE / "qrels.jsonl"
METRICS = ("p@1", "p@3", "p@5", "p@10", "recall@100", "mrr", "map", "ndcg@10", "auc")


def run_json(env: dict[str, str], *args: str) -> Any:
    done = cli(env, *args, "--json", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_train_on_one_fold_then_evaluate_the_other_through_the_cli(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    published = run_json(env, "publish", str(SAMPLE / "catalog.jsonl"))
    assert published["products"] >= 140 and not published["rejected"], published
    start_worker()
    wait_until_caught_up(settings, timeout_s=600)
    served = Served(env, tmp_path / "serve.log")
    served.start()
    try:
        status, before = served.search(query="tomato feed", k=5)
        assert status == 200 and before["ranker"] is None  # nothing installed yet

        trained = run_json(env, "train-reranker", "--qrels", str(QRELS), "--fold", "0")
        card = trained["card"]
        installed = Path(env["FRESHINDEX_HOME"]).resolve() / "ranker" / "ranker.json"
        assert trained["installed"] == str(installed)  # where serve looks by default
        assert Path(trained["model"]).parent == installed.parent
        qrels = load_qrels(QRELS)
        assert card["qrels"]["queries"] == len(qrels.fold(0).queries)
        validation = card["validation"]["folds"]
        assert len(validation) == 2 and all(
            0 <= f["hybrid"][side]["ndcg@10"] <= 1
            for f in validation
            for side in ("without", "with")
        )

        assert served.proc is not None
        os.killpg(served.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while served.search(query="tomato feed", k=5)[1]["ranker"] is None:
            assert time.monotonic() < deadline, "SIGHUP did not load the installed model"
            time.sleep(0.3)
        status, after = served.search(query="tomato feed", k=5)
        assert status == 200 and after["ranker"] == f"ltr:{card['name']}"
        assert all("rank" in r["scores"] for r in after["results"])
    finally:
        served.stop()

    report = run_json(env, "eval", "--qrels", str(QRELS), "--fold", "1")
    held_out = qrels.fold(1)
    judged = [q for q in held_out.queries if held_out.relevant(q)]
    assert report["queries"] == len(judged) and report["ranker"] == f"ltr:{card['name']}"
    assert set(report["results"]) == {"hybrid", "bm25", "vector"}
    for mode, sides in report["results"].items():
        for side in ("without_ranker", "with_ranker"):
            figures = sides[side]
            assert figures["queries"] == len(judged), (mode, side)
            for name in METRICS:
                assert figures[name] is None or 0 <= figures[name] <= 1, (mode, side, name)
    hybrid = report["results"]["hybrid"]
    # not trivially wrong: most judged queries find a relevant product, and usually first
    assert hybrid["without_ranker"]["recall@100"] > 0.8
    assert hybrid["without_ranker"]["mrr"] > 0.5 and hybrid["with_ranker"]["mrr"] > 0.5

    table = cli(env, "eval", "--qrels", str(QRELS), "--fold", "1", "--mode", "hybrid")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["metric", "hybrid", "hybrid+ranker"]
