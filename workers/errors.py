"""Errors of the worker side, classified once at the backend boundary by what they mean.

The worker loop (`workers.app`) decides by type alone:

WorkerError
 ├── Transient                   a dependency is down, restarting, loading, slow: hold the batch,
 │    │                          back off, retry; nothing is committed, nothing is dead-lettered
 │    ├── EmbeddingUnavailable   Triton unreachable, timing out, model loading/unloading
 │    └── IndexUnavailable       index server unreachable/restarting, storage temporarily failing
 ├── Terminal                    misconfiguration: retrying cannot help; the worker stops with a
 │    │                          message naming the setting (`.setting`); nothing is committed
 │    ├── EmbeddingMisconfigured wrong model name, wrong dimension, wrong address family
 │    ├── IndexMisconfigured     wrong dimension, missing/unopenable collection, bad credentials
 │    │    └── ModelMismatch     the index was filled by another model than this process embeds with
 │    └── RankerMisconfigured    a ranking model file that cannot be used (unreadable, another
 │                               format or feature list, a model that does not load)
 ├── MessageRejected             one message cannot be processed (bad bytes, schema, version)
 ├── EmbeddingRejected           the model refuses these rows (invalid input): dead letter
 ├── IndexRejected               the index refuses these objects (its own per-object messages)
 ├── QueryRejected               retrieval: a search cannot be answered as asked (HTTP 422)
 └── RelevanceError              evaluation: nothing to evaluate (`workers.relevance`)
      └── QrelsError             the qrels file cannot be read; one message per bad line

Retrieval (`workers.retrieval`) answers 503 for `Transient` errors and any other failure of a
dependency (`EmbeddingError`, `VectorIndexError`), 422 for `QueryRejected` and `EmbeddingRejected`.

`EmbeddingError` and `VectorIndexError` group the errors of one backend kind, for callers (ops
views, the CLI) that only need to say which dependency failed.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Root of every worker error."""


class Transient(WorkerError):
    """A dependency failed in a way that time can fix: hold, retry with backoff, converge."""


class Terminal(WorkerError):
    """A misconfiguration: stop the worker, commit nothing, name the setting to fix."""

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(f"{message} (check {setting})")
        self.setting = setting


class MessageRejected(WorkerError):
    """A message cannot be processed; it goes to the dead-letter topic with this reason."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class EmbeddingError(WorkerError):
    """The embedding service failed."""


class EmbeddingUnavailable(EmbeddingError, Transient):
    """Transient embedding failure: retry later, keep the offsets uncommitted."""


class EmbeddingMisconfigured(EmbeddingError, Terminal):
    """The embedding service is reachable but configured wrongly for this worker."""


class EmbeddingRejected(EmbeddingError):
    """The embedding service refused these inputs: retrying cannot help."""


class VectorIndexError(WorkerError):
    """A read or write of the vector index failed."""


class IndexUnavailable(VectorIndexError, Transient):
    """The index cannot be reached or written right now: retry later."""


class IndexMisconfigured(VectorIndexError, Terminal):
    """The index is reachable but does not fit the settings (dimension, collection, credentials)."""


class ModelMismatch(IndexMisconfigured):
    """The index records another model (name, version, dimension or fingerprint) than the one
    this process would write or query it with: vectors of two models are never mixed."""


class RankerMisconfigured(Terminal):
    """A ranking model file (`workers.retrieval.ltr`) cannot be used: retrain or reinstall it."""


class IndexRejected(VectorIndexError):
    """The index refused some objects of a write; `reasons` maps chunk id -> the index's message.
    The other objects of the write were stored."""

    def __init__(self, reasons: dict[str, str]) -> None:
        first = next(iter(reasons.items()), ("", ""))
        super().__init__(f"index rejected {len(reasons)} object(s), e.g. {first[0]}: {first[1]}")
        self.reasons = reasons


class QueryRejected(WorkerError):
    """A search request cannot be answered as asked (a filter on an unknown field, a ranking
    stage asked for when none is installed, k above the maximum): the caller's to fix."""
