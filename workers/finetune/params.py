"""The parameters of one fine-tuning: one frozen record, bounded where it is built, recorded
whole in the version's fingerprint (`params`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workers.finetune.data import NEGATIVE_BELOW


@dataclass(frozen=True, kw_only=True)
class Params:
    """How examples are mined and the model trained (defaults: measured on the sample qrels,
    README "Fine-tuning the embedding model")."""

    epochs: int = 3
    """Most passes over the training rows (early stopping may keep an earlier epoch)."""
    patience: int = 1
    """Epochs without a validation gain before training stops."""
    batch_size: int = 16
    """Rows per step; every other row's passages are a row's in-batch negatives."""
    learning_rate: float = 3e-5
    """AdamW's peak learning rate (linear warm-up, then linear decay to 0)."""
    warmup_fraction: float = 0.1
    """Share of the steps spent warming up."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    scale: float = 20.0
    """MultipleNegativesRankingLoss scale (1 / temperature) on cosine similarities."""
    negatives: int = 3
    """Hard negatives per row."""
    negative_depth: int = 20
    """Hard negatives come from this many top candidates of each stage (BM25, vector)."""
    negative_below: int = NEGATIVE_BELOW
    """A candidate graded below this (unjudged: 0) may be a hard negative."""
    candidates: int = 100
    """Candidate products fetched per stage and query for mining."""
    validation_fraction: float = 0.2
    """Share of the training pool's queries held out for early stopping and the report."""
    max_seq_length: int = 128
    """Tokens per text while training (the saved model keeps the base model's limit)."""
    freeze_embeddings: bool = True
    """Keep the word-embedding matrix fixed (half the weights; small data cannot move it well)."""
    seed: int = 13
    """Seeds torch, the split and the batch order."""
    query_prefix: str = ""
    """Put before a query before embedding (FRESHINDEX_QUERY_PREFIX)."""
    passage_prefix: str = ""
    """Put before a chunk before embedding (FRESHINDEX_PASSAGE_PREFIX)."""

    def __post_init__(self) -> None:
        bounds = {
            "epochs": (self.epochs, 1, 100),
            "patience": (self.patience, 1, 100),
            "batch_size": (self.batch_size, 2, 1024),
            "negatives": (self.negatives, 1, 32),
            "negative_depth": (self.negative_depth, 1, 1000),
            "negative_below": (self.negative_below, 1, 3),
            "candidates": (self.candidates, 1, 1000),
            "max_seq_length": (self.max_seq_length, 8, 8192),
        }
        for name, (value, low, high) in bounds.items():
            if not low <= value <= high:
                raise ValueError(f"{name} must be within {low}..{high}, got {value}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be within (0, 1), got {self.learning_rate}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be within [0, 1), got {self.warmup_fraction}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be within (0, 1), got {self.validation_fraction}"
            )
        if self.scale <= 0 or self.weight_decay < 0:
            raise ValueError("scale must be > 0 and weight_decay >= 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
