"""The status page routes of `freshindex serve`.

  GET /status     the page: one HTML file (package data, inline CSS and JS, nothing loaded from
                  elsewhere: its Content-Security-Policy allows only /v1/status), which polls
  GET /v1/status  the numbers (`workers.retrieval.status.StatusBoard`), as JSON

The page itself holds no data and is always served. `/v1/status` follows the rule of `/v1/*`:
open without FRESHINDEX_SERVE_API_KEY, else it wants the key (it names products and shows dead
letters' reasons); the page sends the key it is given as `/status#key=KEY` (a URL fragment,
which never reaches the server or its logs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from schemas.settings import Settings
from workers.retrieval.status import StatusBoard

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline';"
    " connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)


@cache
def page() -> str:
    return files("workers.retrieval").joinpath("static/status.html").read_text(encoding="utf-8")


def install(app: FastAPI, settings: Settings, key: Any) -> None:
    """Add /status and /v1/status (guarded by `key`, the dependency of /v1/*) to `app`. They
    read `app.state.status_board` (a `StatusBoard`, which tests may replace), closed when the
    app shuts down."""
    app.state.status_board = StatusBoard(settings)
    _close_at_shutdown(app)

    @app.get("/status", response_class=HTMLResponse, include_in_schema=False)
    async def status_page() -> HTMLResponse:
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
        return HTMLResponse(page(), headers=headers)

    @app.get(
        "/v1/status",
        dependencies=[Depends(key)],
        summary="Lag, throughput, freshness, dead letters, index, model and health",
    )
    async def status(request: Request) -> dict[str, Any]:
        board: StatusBoard = request.app.state.status_board
        return await board.snapshot(request.app.state.retriever)


def _close_at_shutdown(app: FastAPI) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            try:
                yield state
            finally:
                app.state.status_board.close()

    app.router.lifespan_context = lifespan
