"""Errors of `freshindex finetune` (the hierarchy is sketched in `workers.finetune`)."""

from __future__ import annotations

from workers.errors import WorkerError


class FinetuneError(WorkerError):
    """Fine-tuning cannot be done as asked."""


class TrainingDataError(FinetuneError):
    """The judgments and the corpus give nothing to train on or to validate with."""


class BaseModelError(FinetuneError):
    """The base model cannot be found or loaded."""


class RepositoryError(FinetuneError):
    """The model repository cannot take a new version (missing model, unwritable folder)."""
