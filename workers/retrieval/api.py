"""The retrieval HTTP API (FastAPI), served by `freshindex serve`.

Routes (the OpenAPI schema is at /openapi.json; no /docs page, which would load its scripts
from a CDN):
  POST /v1/search              hybrid, BM25 or vector search with filters -> results with every
                               stage's score and rank
  GET  /v1/products/{id}       the product's chunks and metadata as indexed (404: none)
  GET  /healthz                the process answers
  GET  /readyz                 the index and the Triton model answer (503 and why otherwise),
                               with the target serving and the model version it records
  GET  /metrics                Prometheus (`workers.retrieval.metrics`)
  GET  /status                 the status page (`workers.retrieval.status_page`), which polls
  GET  /v1/status              lag, throughput, freshness, dead letters, index, model, health

`/v1/*` asks for `serve_api_key` when one is set (`X-API-Key: KEY` or `Authorization: Bearer
KEY`, compared in constant time; 401 otherwise). Request bodies above `serve_max_request_bytes`
get 413. Errors answer `{"detail": reason}`: 422 for a request that cannot be answered as asked
(schema, filter, k, rerank without a ranking stage), 503 for Triton, the index or the ranking
stage away or slower than `serve_timeout_s` (with `dependency` and Retry-After), never a hang.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.settings import Settings
from workers.embedding.identity import ModelIdentity
from workers.errors import (
    EmbeddingError,
    EmbeddingRejected,
    QueryRejected,
    Transient,
    VectorIndexError,
    WorkerError,
)
from workers.index.base import IndexedChunk
from workers.retrieval import metrics, status_page
from workers.retrieval.fusion import Candidate, Fusion
from workers.retrieval.pipeline import Mode, Query, Retriever, parse_filter

MAX_QUERY_CHARS = 2000
MAX_FILTERS = 32
_STATUS_REASON = {401: "unauthorized", 404: "not_found", 413: "too_large", 422: "bad_request"}

# --------------------------------------------------------------------------- wire models


class SearchRequest(BaseModel):
    """A search."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    k: int = Field(
        default=10, ge=1, le=1000, description="Results wanted (at most FRESHINDEX_SERVE_MAX_K)."
    )
    mode: Mode = Field(default="hybrid", description="hybrid (BM25 + vector, fused), bm25, vector.")
    rerank: bool | None = Field(
        default=None,
        description="true: order by the ranking stage (422 when none is installed); false: don't;"
        " null: use it when one is installed.",
    )
    fusion: Fusion | None = Field(
        default=None, description="rrf or weighted (hybrid only); null: FRESHINDEX_FUSION."
    )
    filters: list[str] = Field(
        default_factory=list,
        max_length=MAX_FILTERS,
        description="ANDed FIELD op VALUE (op: = != < <= > >=), e.g. brand=Terravita, price<=10.",
        examples=[["brand=Terravita", "price<=10"]],
    )
    per_product: bool = Field(default=True, description="One result per product (its best chunk).")


class ChunkOut(BaseModel):
    """A chunk as indexed, with its product's metadata."""

    model_config = ConfigDict(extra="allow")

    product_id: str
    chunk_id: str
    text: str
    title: str | None = None
    document: str | None = None
    section: str | None = None
    chunk_index: int | None = None
    chunk_count: int | None = None
    token_count: int | None = None
    brand: str | None = None
    category: str | None = None
    price: float | None = None
    price_text: str | None = None
    currency: str | None = None
    availability: str | None = None
    url: str | None = None
    source: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    content_hash: str | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    indexed_at: datetime | None = None


class SearchResult(ChunkOut):
    """A result: the chunk, its final score, and its score and rank in each stage it went
    through (bm25, vector, fused, rank; a stage that did not return it is absent)."""

    score: float
    scores: dict[str, float]
    ranks: dict[str, int]


class IndexInfo(BaseModel):
    backend: str
    name: str
    target: str | None = Field(
        default=None, description="The table or collection serving the index name now."
    )


class ModelInfo(BaseModel):
    name: str
    dim: int
    version: int | None = Field(
        default=None, description="The model version that filled the index and embedded the query."
    )
    fingerprint: str | None = Field(default=None, description="That version's fingerprint.")


class SearchResponse(BaseModel):
    results: list[SearchResult]
    took_ms: float
    timings_ms: dict[str, float] = Field(description="Wall time of each stage that ran.")
    mode: Mode
    fusion: Fusion | None = Field(description="The fusion used; null for a single-stage search.")
    ranker: str | None = Field(description="The ranking stage that ordered the results, if any.")
    index: IndexInfo
    model: ModelInfo


class ProductResponse(BaseModel):
    product_id: str
    chunks: list[ChunkOut]
    index: IndexInfo


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description='Per dependency: "ok" or why not.')
    index: IndexInfo | None = None
    model: ModelInfo | None = None


def _model_info(settings: Settings, model: ModelIdentity | None) -> ModelInfo:
    if model is None:
        return ModelInfo(name=settings.triton_model, dim=settings.embedding_dim)
    return ModelInfo(
        name=model.name, dim=model.dimension, version=model.version, fingerprint=model.fingerprint
    )


def _chunk(c: IndexedChunk) -> dict[str, Any]:
    return {**c.fields, "product_id": c.product_id, "chunk_id": c.chunk_id, "text": c.text}


def _result(c: Candidate) -> dict[str, Any]:
    return {**_chunk(c.chunk), "score": c.score, "scores": c.scores, "ranks": c.ranks}


# --------------------------------------------------------------------------- the app


def create_app(settings: Settings, retriever: Retriever | None = None) -> FastAPI:
    """The API over `retriever`, or over one the app opens at start-up and closes at shutdown
    (`Retriever.open(settings)`); either way one index handle and Triton client serve every
    request."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if retriever is not None:
            app.state.retriever = retriever
            yield
            return
        opened = await Retriever.open(settings)
        app.state.retriever = opened
        try:
            yield
        finally:
            await opened.close()

    app = FastAPI(
        title="freshindex retrieval",
        version="1",
        description=__doc__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, limit=settings.serve_max_request_bytes)
    _add_error_handlers(app)
    key = _key_check(settings)

    def index_info(target: str | None) -> IndexInfo:
        return IndexInfo(backend=settings.index_backend, name=settings.index_name, target=target)

    @app.post("/v1/search", response_model=SearchResponse, dependencies=[Depends(key)])
    async def search(body: SearchRequest, request: Request) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            filters = tuple(parse_filter(f) for f in body.filters)
        except ValueError as e:
            raise QueryRejected(str(e)) from e
        query = Query(
            text=body.query,
            k=body.k,
            mode=body.mode,
            filters=filters,
            per_product=body.per_product,
            rerank=body.rerank,
            fusion=body.fusion,
        )
        found = await _retriever(request).search(query)
        _observe(body.mode, found.seconds, len(found.results))
        return {
            "results": [_result(c) for c in found.results],
            "took_ms": (time.perf_counter() - started) * 1000,
            "timings_ms": {stage: s * 1000 for stage, s in found.seconds.items()},
            "mode": body.mode,
            "fusion": found.fusion,
            "ranker": found.ranker,
            "index": index_info(found.target or None),
            "model": _model_info(settings, found.model),
        }

    @app.get(
        "/v1/products/{product_id}",
        response_model=ProductResponse,
        dependencies=[Depends(key)],
        responses={404: {"description": "No chunk of this product is indexed."}},
    )
    async def product(product_id: str, request: Request) -> dict[str, Any]:
        retriever = _retriever(request)
        chunks = await retriever.product(product_id)
        if not chunks:
            raise HTTPException(404, f"product {product_id!r} is not in the index")
        index = index_info(retriever.serving.target or None)
        return {"product_id": product_id, "chunks": [_chunk(c) for c in chunks], "index": index}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz(request: Request) -> Any:
        retriever = _retriever(request)
        checks = await retriever.readiness()
        ready = all(v == "ok" for v in checks.values())
        serving = retriever.serving
        body = {
            "status": "ready" if ready else "unavailable",
            "checks": checks,
            "index": index_info(serving.target or None).model_dump(),
            "model": _model_info(settings, serving.model).model_dump(),
        }
        return body if ready else JSONResponse(body, status_code=503)

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    status_page.install(app, settings, key)
    return app


def _retriever(request: Request) -> Retriever:
    found: Retriever = request.app.state.retriever
    return found


def _observe(mode: str, seconds: dict[str, float], results: int) -> None:
    metrics.SEARCHES.labels(mode=mode).inc()
    for stage, s in seconds.items():
        metrics.STAGE_SECONDS.labels(stage=stage).observe(s)
    metrics.RESULTS.observe(results)
    if not results:
        metrics.EMPTY.inc()


# --------------------------------------------------------------------------- auth and limits


def _key_check(settings: Settings) -> Any:
    """The dependency guarding /v1/*: nothing without `serve_api_key`, else a constant-time
    comparison with X-API-Key or the Bearer token."""
    expected = (
        settings.serve_api_key.get_secret_value().encode() if settings.serve_api_key else None
    )

    async def check(
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> None:
        if expected is None:
            return
        given = x_api_key
        if given is None and authorization and authorization.lower().startswith("bearer "):
            given = authorization[len("bearer ") :].strip()
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(
                401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"}
            )

    return check


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request body above {limit} bytes (FRESHINDEX_SERVE_MAX_REQUEST_BYTES)"
        )


class BodyLimit:
    """ASGI middleware: 413 for a body above `limit` bytes, declared (Content-Length) or
    streamed (counted as it is read)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            metrics.ERRORS.labels(reason="too_large").inc()
            error = _TooLarge(self.limit)
            await JSONResponse({"detail": error.detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge(self.limit)  # FastAPI re-raises HTTPExceptions from body reads
            return message

        await self.app(scope, counted, send)


# --------------------------------------------------------------------------- errors


def _add_error_handlers(app: FastAPI) -> None:
    async def worker_error(request: Request, error: Exception) -> Response:
        status, reason, dependency = _classify(error)
        metrics.ERRORS.labels(reason=reason).inc()
        body: dict[str, Any] = {"detail": " ".join(str(error).split())}
        headers = None
        if dependency:
            body["dependency"] = dependency
            headers = {"Retry-After": "1"}
        return JSONResponse(body, status_code=status, headers=headers)

    async def invalid(request: Request, error: Exception) -> Response:
        metrics.ERRORS.labels(reason="bad_request").inc()
        assert isinstance(error, RequestValidationError)
        return await request_validation_exception_handler(request, error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        metrics.ERRORS.labels(reason=_STATUS_REASON.get(error.status_code, "other")).inc()
        return await http_exception_handler(request, error)

    app.add_exception_handler(WorkerError, worker_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _classify(error: Exception) -> tuple[int, str, str | None]:
    """(HTTP status, metrics reason, dependency) of a retrieval failure."""
    if isinstance(error, QueryRejected | EmbeddingRejected):
        return 422, "bad_request", None
    if isinstance(error, VectorIndexError):
        return 503, "index_unavailable", "index"
    if isinstance(error, EmbeddingError):
        return 503, "embedding_unavailable", "embedding"
    if isinstance(error, Transient):
        return 503, "ranking_unavailable", "ranking"
    return 500, "internal", None
