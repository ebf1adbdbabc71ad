"""The `Embedder` interface the worker and retrieval embed through."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors, one row per text, in order."""

    dim: int

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim); raises EmbeddingUnavailable / EmbeddingRejected."""
        ...

    async def close(self) -> None: ...
