"""The cross-validated fine-tuning figures of README "Fine-tuning the embedding model".

Twice, through the real command: `freshindex finetune --fold F` on data/sample/qrels.jsonl with
the corpus and hard negatives from data/sample/catalog.jsonl in process (`--no-index --catalog`,
the chunks `publish` would make), into a throwaway model repository; the other fold's queries
are the test set (never trained on, never used to stop). Prints each fold's vector-only nDCG@10
before and after (in process: every chunk of the catalog ranked by cosine, one result per
product, what `freshindex eval --mode vector` measures on an index of that model) and, as its
last line, one JSON object with the per-fold and mean figures and the time each run took.

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.benchmarks.finetune_cv
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from infra.stack.triton import seed_repository

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def run_fold(fold: int, repository: Path) -> dict[str, Any]:
    args = ["finetune", "--qrels", str(SAMPLE / "qrels.jsonl"), "--fold", str(fold)]
    args += ["--no-index", "--catalog", str(SAMPLE / "catalog.jsonl")]
    args += ["--model-repository", str(repository), "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"freshindex {' '.join(args)}: {done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    return summary


def main() -> None:
    folds = []
    with tempfile.TemporaryDirectory(prefix="finetune-cv-") as tmp:
        repository = seed_repository(Path(tmp) / "models")
        for fold in (0, 1):
            s = run_fold(fold, repository)
            before, after = s["before"]["test"]["ndcg@10"], s["after"]["test"]["ndcg@10"]
            print(
                f"trained on fold {fold} ({s['queries']['train_queries']} queries,"
                f" {s['queries']['rows']} rows, best epoch {s['training']['best_epoch']},"
                f" training {s['training']['seconds']:.0f} s, command {s['wall_seconds']:.0f} s):"
                f" fold {1 - fold} vector nDCG@10 {before:.4f} -> {after:.4f}"
                f" ({after / before - 1:+.1%})",
                flush=True,
            )
            folds.append(
                {
                    "trained_on": fold,
                    "test_fold": 1 - fold,
                    "before": before,
                    "after": after,
                    "validation": [
                        s["before"]["validation"]["ndcg@10"],
                        s["after"]["validation"]["ndcg@10"],
                    ],
                    "best_epoch": s["training"]["best_epoch"],
                    "training_seconds": s["training"]["seconds"],
                    "wall_seconds": s["wall_seconds"],
                }
            )
    mean_before = sum(f["before"] for f in folds) / 2
    mean_after = sum(f["after"] for f in folds) / 2
    print(f"mean of the two held-out folds: {mean_before:.4f} -> {mean_after:.4f}")
    print(
        json.dumps(
            {
                "folds": folds,
                "mean": {"before": round(mean_before, 4), "after": round(mean_after, 4)},
                "gain": round(mean_after / mean_before - 1, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
