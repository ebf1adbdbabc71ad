"""The cross-validated relevance figures of README "Relevance", on the real embedded stack.

Publishes the sample catalog (or, with RELEVANCE_TITLES_ONLY=1, only its ids and titles, as a
catalog of product titles) through `freshindex publish` and a worker, then twice: trains the
ranking stage on one fold of data/sample/qrels.jsonl (`freshindex train-reranker --fold F
--out DIR`) and scores the other fold (`freshindex eval --fold 1-F --ranker DIR/...`). Prints
both folds' tables and, as its last line, one JSON object: per mode and side (without/with the
ranking stage) the mean over the two held-out folds of every figure. With
RELEVANCE_FUSION_SWEEP=1 it also scores hybrid search without the ranking stage on each fold
with RRF (FRESHINDEX_RRF_K 20, 60, 100) and weighted fusion (FRESHINDEX_FUSION_VECTOR_WEIGHT
0.1 ... 0.9), and picks the weight on one fold to score it on the other ("fusion" in the JSON).

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.benchmarks.relevance_cv
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from infra import stack
from tests.benchmarks.bench_pipeline import SAMPLE, say, write_feed
from tests.integration.conftest import settings_for
from tests.integration.harness import WorkerProcess
from workers.ops import wait_until_caught_up

QRELS = SAMPLE.parent / "qrels.jsonl"


def freshindex(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"freshindex {' '.join(args)}: {done.stderr[-3000:]}")
    return done.stdout


def mean_of(reports: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in reports[0]["results"]:
        for side in ("without_ranker", "with_ranker"):
            figures = [r["results"][mode][side] for r in reports]
            out.setdefault(mode, {})[side] = {
                name: round(sum(f[name] for f in figures) / len(figures), 4)
                for name in ("p@1", "p@3", "p@5", "p@10", "recall@100", "mrr", "map", "ndcg@10")
            } | {"auc": round(sum(f["auc"] or 0 for f in figures) / len(figures), 4)}
    return out


def fusion_sweep(env: dict[str, str]) -> dict[str, Any]:
    """nDCG@10 of hybrid search without the ranking stage per fusion setting and fold, and the
    weighted fusion's weight chosen on one fold, scored on the other."""
    settings = {
        f"rrf k={k}": {"FRESHINDEX_FUSION": "rrf", "FRESHINDEX_RRF_K": str(k)}
        for k in (20, 60, 100)
    }
    for tenth in range(1, 10):
        weight = str(tenth / 10)
        settings[f"weighted w={weight}"] = {
            "FRESHINDEX_FUSION": "weighted",
            "FRESHINDEX_FUSION_VECTOR_WEIGHT": weight,
        }
    table: dict[str, list[float]] = {}
    for name, overrides in settings.items():
        table[name] = []
        for fold in (0, 1):
            args = ["eval", "--qrels", str(QRELS), "--fold", str(fold), "--mode", "hybrid"]
            report = json.loads(freshindex({**env, **overrides}, *args, "--no-ranker", "--json"))
            table[name].append(report["results"]["hybrid"]["without_ranker"]["ndcg@10"])
        say(f"  {name:16} fold 0 {table[name][0]:.4f}  fold 1 {table[name][1]:.4f}")
    weighted = [n for n in table if n.startswith("weighted")]
    on0 = max(weighted, key=lambda n: table[n][0])
    on1 = max(weighted, key=lambda n: table[n][1])
    return {
        "ndcg@10 per fold": table,
        "weighted, weight chosen on the other fold": {
            "chosen on fold 0": on0,
            "chosen on fold 1": on1,
            "mean held-out ndcg@10": round((table[on0][1] + table[on1][0]) / 2, 4),
        },
    }


def main() -> int:
    titles_only = os.environ.get("RELEVANCE_TITLES_ONLY") == "1"
    work = Path(tempfile.mkdtemp(prefix="freshindex-relevance-"))
    info = stack.up(work / "stack", stack=os.environ.get("FRESHINDEX_STACK", stack.DEFAULT_STACK))
    env = {
        **os.environ,
        **info.env,
        "FRESHINDEX_HOME": str(work),
        "FRESHINDEX_METRICS_PORT": str(stack.free_port()),
        "FRESHINDEX_CHUNKS_TOPIC": "relevance-chunks",
        "FRESHINDEX_DEAD_LETTER_TOPIC": "relevance-dlq",
        "FRESHINDEX_CONSUMER_GROUP": "relevance",
        "FRESHINDEX_INDEX_NAME": "relevance",
        "HF_HUB_OFFLINE": "1",
    }
    settings = settings_for(env)
    stack.ensure_topics(settings)
    worker = WorkerProcess(env, work / "worker.log")
    try:
        rows = [json.loads(line) for line in (SAMPLE).read_text().splitlines() if line.strip()]
        if titles_only:
            rows = [{"id": r["id"], "title": r["title"]} for r in rows]
        feed = write_feed(work / "catalog.jsonl", rows)
        say(f"publishing {len(rows)} products{' (titles only)' if titles_only else ''}")
        freshindex(env, "publish", str(feed))
        wait_until_caught_up(settings, timeout_s=900)
        reports = []
        for train_fold in (0, 1):
            out = work / f"ranker-fold{train_fold}"
            trained = json.loads(
                freshindex(
                    env,
                    "train-reranker",
                    "--qrels",
                    str(QRELS),
                    "--fold",
                    str(train_fold),
                    "--out",
                    str(out),
                    "--json",
                )
            )
            args = ["eval", "--qrels", str(QRELS), "--fold", str(1 - train_fold)]
            args += ["--ranker", trained["model"]]
            say(f"\ntrained on fold {train_fold}, evaluated on fold {1 - train_fold}:")
            say(freshindex(env, *args))
            reports.append(json.loads(freshindex(env, *args, "--json")))
        result = {"titles_only": titles_only, "stack": info.stack, "mean": mean_of(reports)}
        if os.environ.get("RELEVANCE_FUSION_SWEEP") == "1":
            result["fusion"] = fusion_sweep(env)
        print(json.dumps(result), flush=True)
        return 0
    finally:
        worker.stop()
        stack.down(work / "stack")


if __name__ == "__main__":
    sys.exit(main())
