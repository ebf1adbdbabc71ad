"""Triton failures are classified once, by what they mean: a server or model coming and going
(including tritonserver's answers while it unloads on SIGTERM) is `EmbeddingUnavailable`, rows
the model refuses are `EmbeddingRejected`, a model that does not fit the settings is
`EmbeddingMisconfigured` naming the setting. `TritonEmbedder` is driven through a fake client."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from schemas.settings import Settings
from workers.embedding import triton
from workers.embedding.triton import TritonEmbedder, classify, is_transient
from workers.errors import (
    EmbeddingError,
    EmbeddingMisconfigured,
    EmbeddingRejected,
    EmbeddingUnavailable,
    Terminal,
    Transient,
)

_yield = asyncio.sleep  # the real one: tests below replace asyncio.sleep to record backoffs


def error(msg: str, status: str | None) -> InferenceServerException:
    return InferenceServerException(msg=msg, status=status)


def classified(e: InferenceServerException) -> EmbeddingError:
    return classify(e, model="minilm", url="127.0.0.1:8001", rows=16)


UNLOADING = error(
    "Request for unknown model: 'minilm' has no available versions", "StatusCode.NOT_FOUND"
)


@pytest.mark.parametrize(
    "failure",
    [
        UNLOADING,
        error("Request for unknown model: 'minilm' is not found", "StatusCode.NOT_FOUND"),
        error("Request for unknown model: 'minilm' version 1 is not at ready state", None),
        error("model 'minilm' is not ready", "StatusCode.UNAVAILABLE"),
        error("failed to connect to all addresses; last error: UNKNOWN: refused", None),
        error("failed to connect to all addresses", "StatusCode.UNAVAILABLE"),
        error("Socket closed", "StatusCode.UNAVAILABLE"),
        error("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED"),
        error("too many requests queued", "StatusCode.RESOURCE_EXHAUSTED"),
        error("aborted", "StatusCode.ABORTED"),
        error("Locally cancelled by application!", "StatusCode.CANCELLED"),
        error("Stub process 'minilm_0_0' is not healthy.", "StatusCode.INTERNAL"),
        error("Stream removed", "StatusCode.UNKNOWN"),
        error("Server is shutting down", "StatusCode.INTERNAL"),
    ],
    ids=lambda e: str(e)[:60],
)
def test_a_server_or_model_coming_or_going_is_transient(failure: InferenceServerException) -> None:
    result = classified(failure)
    assert type(result) is EmbeddingUnavailable and isinstance(result, Transient)
    assert is_transient(failure)
    assert str(failure) in str(result)


def test_the_not_found_of_a_model_unloading_on_sigterm_is_not_a_rejection() -> None:
    assert not isinstance(classified(UNLOADING), EmbeddingRejected)


@pytest.mark.parametrize(
    "failure",
    [
        error(
            "unexpected shape for input 'TEXT' for model 'minilm'", "StatusCode.INVALID_ARGUMENT"
        ),
        error("input byte size mismatch for input 'TEXT'", "StatusCode.INVALID_ARGUMENT"),
        error(
            "Failed to process the request(s) for model 'minilm': UnicodeDecodeError",
            "StatusCode.INTERNAL",
        ),
        error("unable to serialize the input", None),
    ],
    ids=lambda e: str(e)[:60],
)
def test_rows_the_model_refuses_are_rejected(failure: InferenceServerException) -> None:
    result = classified(failure)
    assert type(result) is EmbeddingRejected
    assert not is_transient(failure)


@pytest.mark.parametrize(
    ("failure", "setting"),
    [
        (
            error(
                "inference request batch-size must be <= 32 for 'minilm'",
                "StatusCode.INVALID_ARGUMENT",
            ),
            "FRESHINDEX_EMBED_REQUEST_ROWS",
        ),
        (
            error(
                "Method not found: inference.GRPCInferenceService/ModelInfer",
                "StatusCode.UNIMPLEMENTED",
            ),
            "FRESHINDEX_TRITON_URL",
        ),
        (error("missing credentials", "StatusCode.UNAUTHENTICATED"), "FRESHINDEX_TRITON_URL"),
    ],
)
def test_a_server_that_does_not_fit_is_misconfigured(
    failure: InferenceServerException, setting: str
) -> None:
    result = classified(failure)
    assert isinstance(result, EmbeddingMisconfigured) and isinstance(result, Terminal)
    assert result.setting == setting and setting in str(result)


# --------------------------------------------------------------------------- the embedder


@dataclass
class FakeServer:
    """Answers `infer` calls from a script: an exception to raise, or the width of the vectors
    to return; once the script is done, vectors of width `dim`."""

    script: list[Exception | int] = field(default_factory=list)
    dim: int = 8
    calls: int = 0
    clients: list[FakeClient] = field(default_factory=list)

    def connect(self, url: str, channel_args: list[tuple[str, int]]) -> FakeClient:
        client = FakeClient(self, url, dict(channel_args))
        self.clients.append(client)
        return client


@dataclass
class FakeResult:
    vectors: np.ndarray

    def as_numpy(self, name: str) -> np.ndarray:
        assert name == triton.OUTPUT_NAME
        return self.vectors


@dataclass
class FakeClient:
    server: FakeServer
    url: str
    channel_args: dict[str, int]
    closed: bool = False

    async def infer(self, model: str, inputs: list[Any], **_: Any) -> FakeResult:
        assert not self.closed, "a closed client was used"
        await _yield(0)  # a real call lets other requests run meanwhile
        self.server.calls += 1
        rows = int(inputs[0].shape()[0])
        item = self.server.script.pop(0) if self.server.script else self.server.dim
        if isinstance(item, Exception):
            raise item
        return FakeResult(np.ones((rows, item), dtype=np.float32))

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def no_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(triton.asyncio, "sleep", no_sleep)  # type: ignore[attr-defined]
    return slept


def embed(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, texts: list[str], **settings: Any
) -> np.ndarray:
    monkeypatch.setattr(triton, "InferenceServerClient", server.connect)
    values = {
        "embedding_dim": 8,
        "embed_request_rows": 4,
        "embed_spread": 1,  # one request per batch of up to 4 rows: the retry arithmetic below
        "embed_max_retries": 3,
        **settings,
    }

    async def run() -> np.ndarray:
        embedder = TritonEmbedder(Settings(_env_file=None, **values))  # type: ignore[call-arg]
        try:
            return await embedder.embed(texts)
        finally:
            await embedder.close()

    return asyncio.run(run())


def test_a_model_unloading_then_back_is_retried_in_place(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    server = FakeServer(script=[UNLOADING, UNLOADING])
    vectors = embed(server, monkeypatch, ["a", "b"])
    assert vectors.shape == (2, 8) and server.calls == 3
    assert len(sleeps) == 2 and all(0 < s <= triton.TRITON_REQUEST.cap_s for s in sleeps)


def test_a_lasting_outage_is_unavailable_after_the_request_retries(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    down = error("failed to connect to all addresses", "StatusCode.UNAVAILABLE")
    server = FakeServer(script=[down] * 10)
    with pytest.raises(EmbeddingUnavailable, match="after 3 tries"):
        embed(server, monkeypatch, ["a"], embed_max_retries=2)
    assert server.calls == 3 and len(sleeps) == 2


def test_one_channel_that_retries_connecting_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    refused = error(
        "failed to connect to all addresses; last error: refused", "StatusCode.UNAVAILABLE"
    )
    server = FakeServer(script=[refused, UNLOADING])
    embed(server, monkeypatch, ["a"])
    [client] = server.clients  # not replaced: that would cancel the calls in flight on it
    assert client.channel_args["grpc.max_reconnect_backoff_ms"] <= 2000
    assert client.channel_args["grpc.max_receive_message_length"] == 2**31 - 1


def test_refused_rows_are_rejected_without_retry(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    bad = error("unexpected shape for input 'TEXT'", "StatusCode.INVALID_ARGUMENT")
    server = FakeServer(script=[bad])
    with pytest.raises(EmbeddingRejected):
        embed(server, monkeypatch, ["a"])
    assert server.calls == 1 and sleeps == []


def test_vectors_of_another_dimension_are_a_misconfiguration(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    server = FakeServer(dim=384)
    with pytest.raises(EmbeddingMisconfigured) as raised:
        embed(server, monkeypatch, ["a", "b"], embedding_dim=512)
    assert raised.value.setting == "FRESHINDEX_EMBEDDING_DIM"
    assert "384-d" in str(raised.value) and "512" in str(raised.value)
    assert sleeps == []


def test_a_failed_request_cancels_the_others_of_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = error("unexpected shape for input 'TEXT'", "StatusCode.INVALID_ARGUMENT")
    server = FakeServer(script=[bad])
    monkeypatch.setattr(triton, "InferenceServerClient", server.connect)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, embedding_dim=8, embed_request_rows=1, embed_concurrency=1
    )

    async def run() -> set[asyncio.Task[Any]]:
        embedder = TritonEmbedder(settings)
        with pytest.raises(EmbeddingRejected):
            await embedder.embed([f"text {i}" for i in range(6)])
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    assert asyncio.run(run()) == set(), "no request of the failed batch runs on in the background"
    assert server.calls <= 2, "at most the request the gate admitted meanwhile was sent"


@pytest.mark.parametrize(
    ("rows", "sizes"),
    [
        (1, [1]),
        (3, [2, 1]),
        (16, [8, 8]),  # one request would leave the second model instance idle
        (22, [11, 11]),  # not 16 + 6: the slower request decides the batch's time
        (33, [9, 8, 8, 8]),  # whole rounds over the two instances
        (64, [16, 16, 16, 16]),
    ],
)
def test_a_batch_is_cut_into_even_requests_over_every_instance(rows: int, sizes: list[int]) -> None:
    from workers.embedding.triton import request_parts

    texts = [f"t{i}" for i in range(rows)]
    parts = request_parts(texts, 16, 2)
    assert [len(p) for p in parts] == sizes
    assert [t for p in parts for t in p] == texts  # order kept
    assert request_parts([], 16, 2) == []
    assert len(request_parts(texts, 16, 1)) == -(-rows // 16)  # spread 1: only the row cap
