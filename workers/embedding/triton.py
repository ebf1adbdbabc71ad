"""Embeddings through NVIDIA Triton Inference Server over async gRPC (tritonclient).

A batch is split into requests of `embed_request_rows` rows, at most `embed_concurrency` in
flight, so Triton's dynamic batcher always has work queued.

Every failure leaves this module classified once (`classify`), by what it means:
  - `EmbeddingUnavailable` (transient): Triton unreachable, restarting or overloaded (gRPC
    UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED), and a model that is
    loading or unloading: while tritonserver stops (SIGTERM) it answers NOT_FOUND "model has no
    available versions", "is not ready", "Request for unknown model". A request is retried in
    place a few times (`embed_max_retries`, `workers.retry.TRITON_REQUEST`); then the worker
    loop holds the batch and retries it until Triton is back.
  - `EmbeddingMisconfigured` (terminal, names the setting): vectors of another dimension than
    FRESHINDEX_EMBEDDING_DIM, more rows per request than the model takes, a server that is not
    Triton or refuses us.
  - `EmbeddingRejected`: the model refuses these rows (INVALID_ARGUMENT about the input, an
    error of the model's own code); the indexer finds the guilty rows and dead-letters them.

One client (one gRPC channel) serves every request. The channel reconnects by itself when
Triton comes back on the same address; its reconnect backoff is capped at
`_MAX_RECONNECT_BACKOFF_MS` (gRPC's default grows to 120 s: measured here, a Triton back after
20 s was used again 7 s later with the default, 2 s with the cap). The client is not replaced:
closing a channel cancels the calls still in flight on it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

import numpy as np
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from schemas.settings import Settings
from workers.embedding.identity import ModelIdentity
from workers.errors import (
    EmbeddingError,
    EmbeddingMisconfigured,
    EmbeddingRejected,
    EmbeddingUnavailable,
)
from workers.metrics import EMBED_LATENCY, EMBED_REQUESTS
from workers.retry import TRITON_REQUEST

_T = TypeVar("_T")

log = logging.getLogger("freshindex.embedding")

INPUT_NAME = "TEXT"
OUTPUT_NAME = "EMBEDDING"

TRANSIENT_STATUS = {
    "StatusCode.UNAVAILABLE",
    "StatusCode.DEADLINE_EXCEEDED",
    "StatusCode.RESOURCE_EXHAUSTED",
    "StatusCode.ABORTED",
    "StatusCode.CANCELLED",
    "StatusCode.NOT_FOUND",  # the model is unknown while it loads or unloads
}
TRANSIENT_WORDS = (
    "no available versions",
    "not ready",
    "unknown model",
    "unloading",
    "failed to connect",
    "connection refused",
    "connection reset",
    "socket closed",
    "stream removed",
    "goaway",
    "shutting down",
    "stub process",
    "not healthy",
    "closed channel",
    "deadline exceeded",
    "unavailable",
)
"""Words of a failure (whatever its status) that say Triton or the model is coming or going."""
MISCONFIGURED_STATUS = {
    "StatusCode.UNIMPLEMENTED": "FRESHINDEX_TRITON_URL",
    "StatusCode.UNAUTHENTICATED": "FRESHINDEX_TRITON_URL",
    "StatusCode.PERMISSION_DENIED": "FRESHINDEX_TRITON_URL",
}
TOO_MANY_ROWS = "batch-size must be <="
"""Triton's INVALID_ARGUMENT when a request has more rows than the model's max_batch_size."""

_MAX_RECONNECT_BACKOFF_MS = 2000


def classify(error: InferenceServerException, *, model: str, url: str, rows: int) -> EmbeddingError:
    """The classified error of a failed Triton request of `rows` rows (raise it `from error`)."""
    status = str(error.status() or "")
    message = str(error)
    lowered = message.lower()
    if status in TRANSIENT_STATUS or any(w in lowered for w in TRANSIENT_WORDS):
        return EmbeddingUnavailable(f"Triton at {url} (model {model!r}) unavailable: {message}")
    if status in MISCONFIGURED_STATUS:
        return EmbeddingMisconfigured(
            f"Triton at {url} refused the request: {message}", setting=MISCONFIGURED_STATUS[status]
        )
    if TOO_MANY_ROWS in lowered:
        return EmbeddingMisconfigured(
            f"Triton model {model!r} takes fewer rows per request than {rows}: {message}",
            setting="FRESHINDEX_EMBED_REQUEST_ROWS",
        )
    return EmbeddingRejected(f"Triton model {model!r} rejected {rows} rows: {message}")


def is_transient(error: InferenceServerException) -> bool:
    """Whether Triton may answer this request once it is back (see `classify`)."""
    return isinstance(classify(error, model="", url="", rows=0), EmbeddingUnavailable)


def _channel_args() -> list[tuple[str, int]]:
    """tritonclient's default channel options, with reconnect attempts at most 2 s apart
    (gRPC's default backs off to 120 s, so a Triton back after a minute could wait two more)."""
    return [
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.max_receive_message_length", 2**31 - 1),
        ("grpc.keepalive_time_ms", 2**31 - 1),
        ("grpc.keepalive_timeout_ms", 20000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 2),
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.min_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", _MAX_RECONNECT_BACKOFF_MS),
    ]


async def all_or_none(awaitables: list[Awaitable[_T]]) -> list[_T]:
    """Results in order; on the first failure the others are cancelled (none keeps retrying in
    the background) and that failure is raised."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def request_parts(rows: list[str], most: int, spread: int) -> list[list[str]]:
    """`rows` cut into requests of at most `most` rows, as even as they can be, and at least
    `spread` of them (when there are that many rows) so a small batch reaches every model
    instance at once instead of queueing on one: 22 rows with `spread` 2 are two requests of
    11, not 16 and 6 (the slower request decides the batch's time). The order is kept."""
    if not rows:
        return []
    count = max(-(-len(rows) // most), min(spread, len(rows)))
    count = -(-count // spread) * spread if count > spread else count  # whole rounds
    size, extra = divmod(len(rows), count)
    parts, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        if end > start:
            parts.append(rows[start:end])
        start = end
    return parts


class TritonEmbedder:
    """`Embedder` backed by a Triton model with a BYTES input and an FP32 [dim] output."""

    def __init__(self, settings: Settings, *, identity: ModelIdentity | None = None) -> None:
        """With `identity`, every request asks Triton for that model version and expects its
        dimension; without, Triton's default version and FRESHINDEX_EMBEDDING_DIM."""
        self.dim = identity.dimension if identity else settings.embedding_dim
        self.model = settings.triton_model
        self.identity = identity
        self.url = settings.triton_url
        self.rows = settings.embed_request_rows
        self.spread = settings.embed_spread
        self.retries = settings.embed_max_retries
        self.timeout_s = settings.embed_timeout_s
        self.backoff = TRITON_REQUEST
        self._settings = settings
        self._gate = asyncio.Semaphore(settings.embed_concurrency)
        self._client = InferenceServerClient(url=self.url, channel_args=_channel_args())
        self._owner = True
        """Whether `close` closes the channel (a `pinned` copy shares its parent's)."""

    @property
    def version(self) -> int | None:
        """The model version every request asks for (None: Triton's default, the highest)."""
        return self.identity.version if self.identity else None

    @property
    def _version_arg(self) -> str:
        return str(self.version) if self.version else ""

    @property
    def _label(self) -> str:
        return f"{self.model!r}" + (f" v{self.version}" if self.version else "")

    def pinned(self, identity: ModelIdentity) -> TritonEmbedder:
        """An embedder of `identity`'s version sharing this one's channel and concurrency gate
        (closing it leaves the channel open; closing this one closes it)."""
        other = copy.copy(self)
        other.identity = identity
        other.dim = identity.dimension
        other._owner = False
        return other

    async def serving_version(self) -> int:
        """The version this embedder asks for, else the highest version Triton serves (what
        a request without a version gets). Raises `EmbeddingUnavailable`."""
        if self.version:
            return self.version
        try:
            answer = await self._client.get_model_metadata(
                self.model, as_json=True, client_timeout=self.timeout_s
            )
        except InferenceServerException as e:
            raise EmbeddingUnavailable(
                f"Triton at {self.url} (model {self.model!r}) unavailable: {e}"
            ) from e
        versions = [int(v) for v in answer.get("versions", []) if str(v).isdigit()]
        if not versions:
            raise EmbeddingUnavailable(f"Triton at {self.url}: model {self.model!r} has no version")
        return max(versions)

    async def embed(self, texts: list[str]) -> np.ndarray:
        """Rows sorted by length before they are cut into requests, so each request pads little
        (as sentence-transformers does in process); the result is in the order of `texts`."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        ordered = [texts[i] for i in order]
        parts = request_parts(ordered, self.rows, self.spread)
        vectors = np.concatenate(await all_or_none([self._request(part) for part in parts]))
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
                error = classify(e, model=self._label, url=self.url, rows=len(texts))
                if not isinstance(error, EmbeddingUnavailable):
                    EMBED_REQUESTS.labels(outcome="rejected").inc()
                    raise error from e
                EMBED_REQUESTS.labels(outcome="retried").inc()
                if attempt == self.retries:
                    raise EmbeddingUnavailable(f"{error} (after {attempt + 1} tries)") from e
                delay = self.backoff.delay(attempt)
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
            model_version=self._version_arg,
            outputs=[InferRequestedOutput(OUTPUT_NAME)],
            client_timeout=self.timeout_s,
        )
        EMBED_LATENCY.observe(time.perf_counter() - started)
        EMBED_REQUESTS.labels(outcome="ok").inc()
        return self._checked(result.as_numpy(OUTPUT_NAME), len(texts))

    def _checked(self, vectors: np.ndarray | None, rows: int) -> np.ndarray:
        """The model's output as float32 [rows, dim]; another shape is a misconfiguration."""
        if vectors is None or vectors.ndim != 2 or vectors.shape[0] != rows:
            shape = None if vectors is None else vectors.shape
            raise EmbeddingMisconfigured(
                f"Triton model {self._label} returned {OUTPUT_NAME} of shape {shape} for {rows}"
                f" rows: not a {INPUT_NAME} -> {OUTPUT_NAME} embedding model",
                setting="FRESHINDEX_TRITON_MODEL",
            )
        if vectors.shape[1] != self.dim:
            says = "its fingerprint says" if self.identity and self.version != 1 else "settings say"
            raise EmbeddingMisconfigured(
                f"Triton model {self._label} returns {vectors.shape[1]}-d vectors,"
                f" {says} {self.dim}",
                setting="FRESHINDEX_EMBEDDING_DIM",
            )
        out: np.ndarray = vectors.astype(np.float32, copy=False)
        return out

    async def ready(self) -> None:
        """One call, no retry: raises `EmbeddingUnavailable` unless Triton says the model is
        ready (readiness probes, start-up prechecks)."""
        try:
            ready = await self._client.is_model_ready(
                self.model, model_version=self._version_arg, client_timeout=self.timeout_s
            )
        except InferenceServerException as e:
            raise EmbeddingUnavailable(
                f"Triton at {self.url} (model {self._label}) unavailable: {e}"
            ) from e
        if not ready:
            raise EmbeddingUnavailable(f"Triton at {self.url}: model {self._label} is not ready")

    async def close(self) -> None:
        if self._owner:
            await self._client.close()
