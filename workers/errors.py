"""Errors of the worker side.

WorkerError
 ├── MessageRejected        one message cannot be processed (bad bytes, schema, version): dead letter
 ├── EmbeddingError
 │    ├── EmbeddingUnavailable   transient (Triton down, timeout, overloaded): retried, never dead-lettered
 │    └── EmbeddingRejected      terminal for the rows sent (invalid input, wrong shape): dead letter
 └── VectorIndexError       the index refused a read or write (retried by the worker loop)
"""

from __future__ import annotations


class WorkerError(Exception):
    """Root of every worker error."""


class MessageRejected(WorkerError):
    """A message cannot be processed; it goes to the dead-letter topic with this reason."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class EmbeddingError(WorkerError):
    """The embedding service failed."""


class EmbeddingUnavailable(EmbeddingError):
    """Transient embedding failure: retry later, keep the offsets uncommitted."""


class EmbeddingRejected(EmbeddingError):
    """The embedding service refused these inputs: retrying cannot help."""


class VectorIndexError(WorkerError):
    """A read or write of the vector index failed."""
