"""The `Embedder` interface the worker and retrieval embed through."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from workers.embedding.identity import ModelIdentity


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, one row per text, in order."""

    dim: int

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim); raises EmbeddingUnavailable / EmbeddingRejected."""
        ...

    async def close(self) -> None: ...


class QueryEmbedder(Embedder, Protocol):
    """An `Embedder` that can say whether its model is ready (`TritonEmbedder`)."""

    async def ready(self) -> None:
        """Raise `EmbeddingUnavailable` unless the model can embed now."""
        ...


class VersionedEmbedder(QueryEmbedder, Protocol):
    """A `QueryEmbedder` of one model that serves several versions (`TritonEmbedder`)."""

    async def serving_version(self) -> int:
        """The version this embedder asks for, else the one the server serves by default."""
        ...

    def pinned(self, identity: ModelIdentity) -> VersionedEmbedder:
        """An embedder of `identity`'s version sharing this one's connection."""
        ...
