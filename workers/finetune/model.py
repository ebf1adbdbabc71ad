"""The embedding model in process: load, embed, measure and train it (sentence-transformers,
on the CPU).

Measuring (`Corpus`): the queries and every chunk of the corpus embedded by the model (with the
configured query and passage prefixes, L2-normalised), each product ranked by its best chunk's
cosine: what a vector search of the live index returns with one result per product, over the
whole corpus, without Triton. The runs are scored by `workers.relevance.evaluate`.

Training (`train`): MultipleNegativesRankingLoss over rows (query, positive, n hard negatives):
each query against its positive, its hard negatives and every other passage of its batch, the
cosines scaled by `Params.scale`. AdamW with linear warm-up and decay, gradients clipped at norm
1.0; texts cut at `Params.max_seq_length` tokens while training (the saved model keeps the base
model's limit). The model is measured on the validation queries (nDCG@10, vector only) before
training and after each epoch; the best epoch's weights are kept (epoch 0 is the base model:
a training that never beats it keeps it), and training stops after `Params.patience` epochs
without a gain. Deterministic for a seed on one machine: torch and the batch order are seeded.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workers.finetune.data import Example, Passage, batches
from workers.finetune.errors import BaseModelError, TrainingDataError
from workers.finetune.mining import products_by_score
from workers.finetune.params import Params

log = logging.getLogger("freshindex.finetune")

ENCODE_BATCH = 32
_GAIN = 1e-9
"""A validation figure must beat the best by more than this to count as a gain."""


def load(path: Path) -> Any:
    """A SentenceTransformer from a local folder, on the CPU (nothing is downloaded)."""
    from sentence_transformers import SentenceTransformer

    if not (Path(path) / "modules.json").is_file():
        raise BaseModelError(f"{path}: not a sentence-transformers model folder (no modules.json)")
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise BaseModelError(f"cannot load the model in {path}: {e}") from e


def dimension(model: Any) -> int:
    return int(model.get_embedding_dimension() or 0)


def embed(model: Any, texts: Sequence[str], *, prefix: str = "") -> np.ndarray:
    """L2-normalised float32 vectors of `texts` (each with `prefix` put before it)."""
    if not texts:
        return np.zeros((0, dimension(model)), dtype=np.float32)
    vectors = model.encode(
        [prefix + t for t in texts],
        batch_size=ENCODE_BATCH,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


class Corpus:
    """The passages a model is measured over, and the prefixes it embeds with."""

    def __init__(self, passages: Sequence[Passage], params: Params) -> None:
        if not passages:
            raise TrainingDataError("the corpus is empty: nothing to rank")
        self.passages = passages
        self.params = params

    def passage_vectors(self, model: Any) -> np.ndarray:
        return embed(model, [p.text for p in self.passages], prefix=self.params.passage_prefix)

    def query_vectors(self, model: Any, queries: Sequence[str]) -> dict[str, np.ndarray]:
        vectors = embed(model, queries, prefix=self.params.query_prefix)
        return dict(zip(queries, vectors, strict=True))

    def runs(
        self, model: Any, queries: Sequence[str], passage_vectors: np.ndarray
    ) -> dict[str, list[str]]:
        """query -> every product, by its best chunk's cosine (a vector search)."""
        found = self.query_vectors(model, queries)
        return {q: products_by_score(passage_vectors @ found[q], self.passages) for q in queries}


@dataclass(frozen=True, kw_only=True)
class Epoch:
    """One epoch of training (epoch 0: the base model, before any step)."""

    epoch: int
    loss: float | None
    """Mean training loss of its steps (None for epoch 0)."""
    validation_ndcg: float
    """nDCG@10 of the validation queries after it (vector only, in process)."""
    seconds: float
    """Wall time of its steps and its validation."""


@dataclass(frozen=True, kw_only=True)
class Training:
    """What `train` did."""

    best_epoch: int
    """The epoch whose weights the model holds now (0: the base model's)."""
    epochs: list[Epoch]
    steps: int
    seconds: float


def train(
    model: Any,
    examples: Sequence[Example],
    params: Params,
    *,
    baseline: float,
    validate: Callable[[], float],
) -> Training:
    """Train `model` in place on `examples` and leave it with the best epoch's weights (see the
    module docstring). `baseline`: the validation nDCG@10 of the model before training;
    `validate` gives it for the model as it is."""
    import torch

    if not examples:
        raise TrainingDataError("no training row: no query has both a positive and a negative")
    torch.manual_seed(params.seed)
    plans = [
        batches(examples, size=params.batch_size, seed=params.seed + e)
        for e in range(params.epochs)
    ]
    started = time.perf_counter()
    history = [Epoch(epoch=0, loss=None, validation_ndcg=baseline, seconds=0.0)]
    log.info("epoch 0 (base): validation nDCG@10 %.4f", history[0].validation_ndcg)
    best, best_state = history[0], _copy_state(model)
    step = _Stepper(model, params, total=sum(len(p) for p in plans))
    for number, plan in enumerate(plans, start=1):
        epoch_started = time.perf_counter()
        losses = [step(batch) for batch in plan]
        current = Epoch(
            epoch=number,
            loss=float(np.mean(losses)),
            validation_ndcg=validate(),
            seconds=time.perf_counter() - epoch_started,
        )
        history.append(current)
        log.info(
            "epoch %d: loss %.4f, validation nDCG@10 %.4f (%.0f s)",
            number, current.loss, current.validation_ndcg, current.seconds,
        )  # fmt: skip
        if current.validation_ndcg > best.validation_ndcg + _GAIN:
            best, best_state = current, _copy_state(model)
        elif number - best.epoch >= params.patience:
            break
    model.load_state_dict(best_state)
    return Training(
        best_epoch=best.epoch,
        epochs=history,
        steps=step.steps,
        seconds=time.perf_counter() - started,
    )


def _copy_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Stepper:
    """One optimiser step per call: the loss, AdamW, the schedule, the frozen embeddings."""

    def __init__(self, model: Any, params: Params, *, total: int) -> None:
        import torch
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )

        self.model = model
        self.params = params
        self.steps = 0
        for name, weights in model.named_parameters():
            if params.freeze_embeddings and "word_embeddings" in name:
                weights.requires_grad_(False)
        trainable = [w for w in model.parameters() if w.requires_grad]
        self.loss = MultipleNegativesRankingLoss(model, scale=params.scale)
        self.optimizer = torch.optim.AdamW(
            trainable, lr=params.learning_rate, weight_decay=params.weight_decay
        )
        warmup = math.ceil(total * params.warmup_fraction)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: _rate(s, warmup=warmup, total=total)
        )
        self.trainable = trainable

    def __call__(self, batch: list[Example]) -> float:
        import torch

        model, params = self.model, self.params
        limit = model.max_seq_length
        model.max_seq_length = min(limit or params.max_seq_length, params.max_seq_length)
        model.train()
        try:
            columns = [
                [params.query_prefix + e.query for e in batch],
                *(
                    [params.passage_prefix + e.texts[c] for e in batch]
                    for c in range(1, 2 + params.negatives)
                ),
            ]
            features = [model.preprocess(column) for column in columns]
            loss = self.loss(features, None)
            self.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
            self.optimizer.step()
            self.schedule.step()
        finally:
            model.max_seq_length = limit
            model.eval()
        self.steps += 1
        return float(loss.detach())


def _rate(step: int, *, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps, then linear decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def save(model: Any, folder: Path) -> None:
    """The model as a sentence-transformers folder (no model card: nothing looked up)."""
    model.save(str(folder), create_model_card=False)
