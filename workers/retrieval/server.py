"""`freshindex serve`: bind the port, open the index and Triton once, check both, serve HTTP.

Start-up fails fast, naming the setting: a busy or unusable address (`Terminal`, naming
FRESHINDEX_SERVE_HOST/PORT), an index that cannot be opened or a Triton model that is not ready
(`VectorIndexError`, `EmbeddingUnavailable`). Once serving, a dependency going away answers 503
until it is back; the process does not exit for it. SIGTERM/SIGINT: uvicorn finishes the
requests in flight, then exits. SIGHUP: the ranking model installed at FRESHINDEX_RANKER_PATH
is loaded again (a model that cannot be used is logged and the current one kept).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

import uvicorn

from schemas.settings import Settings
from workers.errors import EmbeddingUnavailable, IndexUnavailable, RankerMisconfigured, Terminal
from workers.retrieval.api import create_app
from workers.retrieval.pipeline import Retriever

log = logging.getLogger("freshindex.retrieval")

_INDEX_SETTING = {"lancedb": "FRESHINDEX_LANCEDB_URI", "weaviate": "FRESHINDEX_WEAVIATE_URL"}


def bind(settings: Settings) -> socket.socket:
    """A listening socket on serve_host:serve_port, or `Terminal` naming the setting."""
    host, port = settings.serve_host, settings.serve_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say TCP, and with Nagle
    # on, every keep-alive response waited ~40 ms for the client's delayed ACK (measured)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise Terminal(
            f"cannot listen on {host}:{port}: {e}", setting="FRESHINDEX_SERVE_PORT/SERVE_HOST"
        ) from e
    sock.set_inheritable(True)
    return sock


async def check_ready(settings: Settings, retriever: Retriever) -> None:
    """Raise the first dependency that is not ready, naming its setting."""
    checks = await retriever.readiness()
    if checks["index"] != "ok":
        setting = _INDEX_SETTING.get(settings.index_backend, "FRESHINDEX_INDEX_BACKEND")
        raise IndexUnavailable(f"index not ready: {checks['index']} (check {setting})")
    if checks["embedding"] != "ok":
        raise EmbeddingUnavailable(
            f"Triton not ready: {checks['embedding']}"
            " (check FRESHINDEX_TRITON_URL and FRESHINDEX_TRITON_MODEL)"
        )


def reload_ranker(retriever: Retriever) -> None:
    """SIGHUP: use the model installed now (or none), or keep the current one if it is bad."""
    current = retriever.ranker.name if retriever.ranker is not None else "none"
    try:
        name = retriever.reload_ranker()
    except RankerMisconfigured as e:
        log.error("SIGHUP: %s; the ranking stage stays %s", e, current)
        return
    log.info("SIGHUP: ranking stage %s (was %s)", name or "none (no model installed)", current)


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT."""
    sock = bind(settings)
    try:
        retriever = await Retriever.open(settings)
        try:
            await check_ready(settings, retriever)
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_ranker, retriever)
            config = uvicorn.Config(
                create_app(settings, retriever),
                log_level="info",
                log_config=None,  # uvicorn's records go to the process's one handler (schemas.logs)
                timeout_graceful_shutdown=5,
            )
            log.info(
                "serving on http://%s:%d, ranking stage %s",
                settings.serve_host,
                settings.serve_port,
                retriever.ranker.name if retriever.ranker is not None else "none",
            )
            await uvicorn.Server(config).serve(sockets=[sock])
        finally:
            await retriever.close()
    finally:
        sock.close()
