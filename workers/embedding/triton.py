"""Embeddings through NVIDIA Triton Inference Server over async gRPC (tritonclient).

A batch is split into requests of `embed_request_rows` rows, at most `embed_concurrency` in
flight, so Triton's dynamic batcher always has work queued. Transient failures (server
unavailable, deadline exceeded, overloaded) are retried with capped exponential backoff;
anything else is terminal for the rows of that request (`EmbeddingRejected`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import numpy as np
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from schemas.settings import Settings
from workers.errors import EmbeddingRejected, EmbeddingUnavailable
from workers.metrics import EMBED_LATENCY, EMBED_REQUESTS

log = logging.getLogger("freshindex.embedding")

TRANSIENT_STATUS = {
    "StatusCode.UNAVAILABLE",
    "StatusCode.DEADLINE_EXCEEDED",
    "StatusCode.RESOURCE_EXHAUSTED",
    "StatusCode.ABORTED",
}
INPUT_NAME = "TEXT"
OUTPUT_NAME = "EMBEDDING"


def is_transient(error: InferenceServerException) -> bool:
    status = str(error.status() or "")
    return status in TRANSIENT_STATUS or "failed to connect" in str(error).lower()


class TritonEmbedder:
    """`Embedder` backed by a Triton model with a BYTES input and an FP32 [dim] output."""

    def __init__(self, settings: Settings) -> None:
        self.dim = settings.embedding_dim
        self.model = settings.triton_model
        self.url = settings.triton_url
        self.rows = settings.embed_request_rows
        self.retries = settings.embed_max_retries
        self.timeout_s = settings.embed_timeout_s
        self._gate = asyncio.Semaphore(settings.embed_concurrency)
        self._client = InferenceServerClient(url=settings.triton_url)

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Rows sorted by length before they are cut into requests, so each request pads little
        (as sentence-transformers does in process); the result is in the order of `texts`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        ordered = [texts[i] for i in order]
        parts = [ordered[i : i + self.rows] for i in range(0, len(ordered), self.rows)]
        vectors = np.concatenate(await asyncio.gather(*(self._request(part) for part in parts)))
        out: np.ndarray = np.empty_like(vectors)
        out[order] = vectors
        return out

    async def _request(self, texts: list[str]) -> np.ndarray:
        for attempt in range(self.retries + 1):
            try:
                async with self._gate:
                    vectors: np.ndarray = await self._infer(texts)
                    return vectors
            except InferenceServerException as e:
                if not is_transient(e):
                    EMBED_REQUESTS.labels(outcome="rejected").inc()
                    raise EmbeddingRejected(
                        f"Triton model {self.model!r} rejected {len(texts)} rows: {e}"
                    ) from e
                EMBED_REQUESTS.labels(outcome="retried").inc()
                if attempt == self.retries:
                    raise EmbeddingUnavailable(
                        f"Triton at {self.url} unavailable after {attempt + 1} tries: {e}"
                    ) from e
                delay = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())
                log.warning(
                    "transient Triton error (%s), retry %d in %.1fs", e.status(), attempt + 1, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _infer(self, texts: list[str]) -> np.ndarray:
        data = np.array([[t.encode("utf-8")] for t in texts], dtype=np.object_)
        request = InferInput(INPUT_NAME, list(data.shape), "BYTES")
        request.set_data_from_numpy(data)
        started = time.perf_counter()
        result = await self._client.infer(
            self.model,
            [request],
            outputs=[InferRequestedOutput(OUTPUT_NAME)],
            client_timeout=self.timeout_s,
        )
        EMBED_LATENCY.observe(time.perf_counter() - started)
        EMBED_REQUESTS.labels(outcome="ok").inc()
        vectors = result.as_numpy(OUTPUT_NAME)
        if vectors is None or vectors.shape != (len(texts), self.dim):
            shape = None if vectors is None else vectors.shape
            raise EmbeddingRejected(
                f"Triton model {self.model!r} returned shape {shape}, expected ({len(texts)}, {self.dim})"
            )
        out: np.ndarray = vectors.astype(np.float32, copy=False)
        return out

    async def close(self) -> None:
        await self._client.close()
