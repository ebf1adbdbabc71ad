"""One fine-tuning, start to end: `finetune(Request) -> Outcome`.

  1. the base model embeds the corpus and the judged queries (in process, on the CPU);
  2. candidates: the live index's (given in the request), else mined in process from the corpus
     (`workers.finetune.mining`), for the training queries only;
  3. rows: positives, hard negatives, each product's best chunk (`workers.finetune.data`);
  4. before: vector-only figures of the base model on the validation queries (and the test
     queries, with a fold);
  5. training with early stopping on the validation queries (`workers.finetune.model`);
  6. after: the same figures for the trained model;
  7. the new version, with its fingerprint and this report, in the model repository
     (`workers.finetune.repository`).

The validation and test queries are never trained on; the test queries (the other fold) are
not used to stop either, so their figures are the honest held-out ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from workers.finetune import model as models
from workers.finetune.data import Candidates, Passage, Split, build_examples, data_sha256
from workers.finetune.mining import BestPassage, local_candidates
from workers.finetune.params import Params
from workers.finetune.repository import Base, read_fingerprint, write_version
from workers.relevance import Qrels, evaluate

log = logging.getLogger("freshindex.finetune")

HEADLINE = "ndcg@10"


@dataclass(frozen=True, kw_only=True)
class Request:
    """What to fine-tune, on what, and where the new version goes."""

    qrels: Qrels
    qrels_path: str
    qrels_sha256: str
    split: Split
    fold: int | None
    """The fold trained on (None: every query but the validation ones)."""
    passages: Sequence[Passage]
    """The corpus: what is ranked, and where rows take their passages from."""
    corpus_source: str
    """Where the corpus came from (said in the report)."""
    candidates: Mapping[str, Candidates] | None
    """The live index's candidates of the training queries; None: mine in process."""
    mining_source: str
    """Where the candidates came from (said in the report)."""
    base: Base
    repository: Path
    model_name: str
    params: Params


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The new version and what it was made of."""

    version: int
    path: Path
    fingerprint: dict[str, Any]
    """The whole fingerprint.json (its `report` holds the before/after figures)."""

    def summary(self) -> dict[str, Any]:
        """The `--json` object: version, path, before/after figures, training, sources."""
        f = self.fingerprint
        return {
            "version": self.version,
            "model": f["model"],
            "path": str(self.path),
            "base_model": f["base_model"],
            "before": {side: part["before"] for side, part in f["report"].items() if part},
            "after": {side: part["after"] for side, part in f["report"].items() if part},
            "improved": f["training"]["best_epoch"] > 0,
            "training": f["training"],
            "queries": f["qrels"],
            "mining": f["mining"],
            "corpus": f["corpus"],
            "fingerprint": {k: f[k] for k in ("base_model", "data_sha256", "dimension", "created")},
        }


def finetune(request: Request) -> Outcome:
    """Fine-tune, measure and write the new version (see the module docstring)."""
    started = time.perf_counter()
    params, split = request.params, request.split
    model = models.load(request.base.path)
    corpus = models.Corpus(request.passages, params)
    before_vectors = corpus.passage_vectors(model)
    queries = [*split.train, *split.validation, *split.test]
    query_vectors = corpus.query_vectors(model, queries)
    candidates = request.candidates
    if candidates is None:
        candidates = local_candidates(
            split.train, request.passages, before_vectors, query_vectors, k=params.candidates
        )
    examples, left_out = build_examples(
        request.qrels,
        split.train,
        candidates,
        BestPassage(request.passages, before_vectors, query_vectors),
        negatives=params.negatives,
        depth=params.negative_depth,
        below=params.negative_below,
    )
    log.info("%d training rows from %d queries", len(examples), len(split.train) - len(left_out))
    before = _measure(request, corpus, model, before_vectors)
    training = models.train(
        model,
        examples,
        params,
        baseline=before["validation"][HEADLINE],
        validate=lambda: _measure_validation(request, corpus, model),
    )
    after = _measure(request, corpus, model, corpus.passage_vectors(model))
    report = {
        side: {"queries": len(getattr(split, side)), "before": before[side], "after": after[side]}
        if before[side]
        else None
        for side in ("validation", "test")
    }
    facts = _facts(request, examples, left_out, training, report, time.perf_counter() - started)
    validation = {q: request.qrels.grades[q] for q in split.validation}
    digest = data_sha256(examples, validation, request.passages)
    dimension = models.dimension(model)
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def fingerprint(version: int) -> dict[str, Any]:
        return {
            "base_model": request.base.name,
            "data_sha256": digest,
            "params": params.as_dict(),
            "dimension": dimension,
            "created": created,
            "model": request.model_name,
            "version": version,
            **facts,
        }

    version, path = write_version(
        request.repository,
        request.model_name,
        save_weights=lambda folder: models.save(model, folder),
        fingerprint=fingerprint,
    )
    return Outcome(version=version, path=path, fingerprint=read_fingerprint(path))


def _measure_validation(request: Request, corpus: models.Corpus, model: Any) -> float:
    vectors = corpus.passage_vectors(model)
    return float(_figures(request, corpus, model, vectors, request.split.validation)[HEADLINE])


def _measure(
    request: Request, corpus: models.Corpus, model: Any, vectors: Any
) -> dict[str, dict[str, Any]]:
    """Vector-only figures on the validation and test queries ({} for none)."""
    return {
        side: _figures(request, corpus, model, vectors, getattr(request.split, side))
        for side in ("validation", "test")
    }


def _figures(
    request: Request, corpus: models.Corpus, model: Any, vectors: Any, queries: Sequence[str]
) -> dict[str, Any]:
    if not queries:
        return {}
    runs = corpus.runs(model, queries, vectors)
    return evaluate(request.qrels.subset(queries), runs).figures()


def _facts(
    request: Request,
    examples: Sequence[Any],
    left_out: Sequence[str],
    training: models.Training,
    report: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    """The fingerprint's keys beside the five identity keys."""
    split = request.split
    return {
        "base": request.base.describe(),
        "qrels": {
            "path": request.qrels_path,
            "sha256": request.qrels_sha256,
            "fold": request.fold,
            "train_queries": len(split.train),
            "validation_queries": len(split.validation),
            "test_queries": len(split.test),
            "rows": len(examples),
            "left_out": list(left_out),
        },
        "mining": request.mining_source,
        "corpus": {
            "source": request.corpus_source,
            "chunks": len(request.passages),
            "products": len({p.product_id for p in request.passages}),
        },
        "training": {
            "best_epoch": training.best_epoch,
            "steps": training.steps,
            "seconds": round(training.seconds, 1),
            "epochs": [
                {
                    "epoch": e.epoch,
                    "loss": None if e.loss is None else round(e.loss, 4),
                    "validation_ndcg@10": round(e.validation_ndcg, 4),
                    "seconds": round(e.seconds, 1),
                }
                for e in training.epochs
            ],
        },
        "report": report,
        "seconds": round(seconds, 1),
        "software": {
            name: _version(name) for name in ("sentence-transformers", "transformers", "torch")
        },
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
