"""`make bench-scale`: the index backends at catalog scale, through the worker's own index code.

Not a test: it prints progress, and its last line is one JSON object
`{"chunks": N, "vectors": "generated", "backends": {"lancedb": {...}, "weaviate": {...}}}`.
No Kafka, no Triton: the chunks and their vectors are generated here (seeded), then written and
read through `workers.index.factory.open_index`, the `VectorIndex` a worker opens.

  catalog  BENCH_SCALE_CHUNKS chunks (default 1,000,000) of synthetic products, 1 to 4 chunks
           each: ids, titles and texts from a vocabulary of 6,000 made-up words drawn with a
           Zipf law (so BM25 has common and rare terms to score), a brand (200), a category
           (40), a price, an availability. Vectors are GENERATED, not embedded: unit 384-d
           float32 around 64 cluster centres (each product near one centre, each chunk near its
           product), labelled `"vectors": "generated"`;
  load     `upsert` in batches of the worker's batch size (FRESHINDEX_BATCH_SIZE's default,
           2,048), with the worker's periodic `maintain()` every 60 s counted in, as in a
           worker under backlog; chunks/s overall and per tenth of the load (generation is not
           timed);
  index    LanceDB: the final `maintain()` (compaction, the FTS index folded in, the vector
           index: IVF_FLAT with one partition, `LanceIndex.maintain`) until queryable.
           Weaviate builds its HNSW graph and inverted index on insert: its `index_build_s` is
           the load time;
  checks   the worker's change check `lookup` (stored hashes and vectors of a batch's chunk
           ids) and the publisher's unchanged gate `record_hashes` (chunk ids of 256 products a
           call, `ingest.unchanged.BATCH`), of random products;
  search   `search` (hybrid, k=10): BENCH_SCALE_QUERIES queries (default 200) in turn after 10
           warm-up ones, with no filter and with `brand = b AND price <= x`; p50/p99 latency;
  memory   resident memory of this process after the load and index build (and of the
           Weaviate server's process group), and the data folder's size on disk (allocated
           blocks; LanceDB keeps versions younger than 10 minutes), per chunk;
  delete   the re-publish of products that lost their last chunk: `delete_stale` with every
           product of a worker batch (2,048 chunks' worth) cut by one chunk, as the worker does.

BENCH_SCALE_BACKENDS picks the backends (default `lancedb,weaviate`), each measured in a process
of its own (the memory figures are that process's). Weaviate runs from the cached server binary
(`make production-deps`) in a throwaway FRESHINDEX_HOME, started by the stack's own
`start_service`. BENCH_SCALE_QUERIES: queries per search measurement (default 200).

Figures are from whatever else the machine runs: on a shared 2-core machine, compare runs made
side by side only.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from ingest.unchanged import BATCH as PUBLISH_BATCH
from schemas.models import Availability, Chunk, ProductMetadata, chunk_id, content_hash
from schemas.settings import Settings
from workers.index.base import Filter, Row, VectorIndex
from workers.index.factory import open_index

DIM = 384
SEED = 13
WORKER_BATCH = int(Settings.model_fields["batch_size"].default)
"""Chunks per upsert: the worker's batch size."""
MAINTAIN_EVERY_S = 60.0
"""The worker's housekeeping interval (`workers.app.MAINTAIN_EVERY_S`)."""
VOCABULARY = 6000
CLUSTERS = 64
BRANDS = 200
CATEGORIES = 40
PRODUCTS_PER_BLOCK = 1000
WARM_UP = 10
LOOKUP_BATCHES = 10
GATE_CALLS = 20
DELETE_BATCHES = 4
INDEX_NAME = "bench_scale"
ALL_BACKENDS = ("lancedb", "weaviate")


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- the catalog


def _vocabulary(rng: np.random.Generator, n: int) -> list[str]:
    """`n` distinct made-up words of two to four syllables."""
    onsets = [*"bcdfghklmnprstvz", "br", "ch", "gr", "pl", "st", "tr"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou"]
    words: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        syllables = int(rng.integers(2, 5))
        word = "".join(
            onsets[int(rng.integers(len(onsets)))] + vowels[int(rng.integers(len(vowels)))]
            for _ in range(syllables)
        ) + "n" * int(rng.integers(2))
        if word not in words:
            words.add(word)
            out.append(word)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)
    return out


@dataclass
class Catalog:
    """`chunks` chunks of synthetic products, generated block by block (same seed, same data)."""

    chunks: int
    seed: int = SEED
    words: list[str] = field(init=False)
    zipf: np.ndarray = field(init=False)
    centres: np.ndarray = field(init=False)
    brands: list[str] = field(init=False)
    categories: list[str] = field(init=False)
    counts: np.ndarray = field(init=False)
    """Chunks of each product (the last one cut so the total is `chunks`)."""
    brand: np.ndarray = field(init=False)
    price: np.ndarray = field(init=False)
    cluster: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.words = _vocabulary(rng, VOCABULARY)
        weights = 1.0 / np.arange(1, VOCABULARY + 1)
        self.zipf = weights / weights.sum()
        self.centres = _unit(rng.normal(size=(CLUSTERS, DIM)))
        names = _vocabulary(rng, BRANDS + CATEGORIES)
        self.brands = [w.title() for w in names[:BRANDS]]
        self.categories = [f"Garden > {w.title()}" for w in names[BRANDS:]]
        counts = rng.integers(1, 5, size=self.chunks)  # enough for one chunk each, at worst
        ends = np.cumsum(counts)
        products = int(np.searchsorted(ends, self.chunks)) + 1
        counts = counts[:products].copy()
        counts[-1] -= int(ends[products - 1]) - self.chunks
        self.counts = counts.astype(np.int32)
        self.brand = rng.integers(0, BRANDS, size=products).astype(np.int32)
        self.price = np.round(rng.lognormal(3.5, 0.8, size=products), 2)
        self.cluster = rng.integers(0, CLUSTERS, size=products).astype(np.int32)

    @property
    def products(self) -> int:
        return len(self.counts)

    @staticmethod
    def product_id(p: int) -> str:
        return f"SP{p:08d}"

    def chunk_ids(self, p: int) -> list[str]:
        return [chunk_id(self.product_id(p), i) for i in range(int(self.counts[p]))]

    def _sentence(self, words: np.ndarray) -> str:
        return " ".join(self.words[int(w)] for w in words).capitalize() + "."

    def block(self, b: int, published_at: datetime) -> tuple[list[Chunk], np.ndarray]:
        """The chunks and vectors of products [b * PRODUCTS_PER_BLOCK, ...)."""
        first = b * PRODUCTS_PER_BLOCK
        last = min(first + PRODUCTS_PER_BLOCK, self.products)
        rng = np.random.default_rng([self.seed, b])
        n_chunks = int(self.counts[first:last].sum())
        lengths = rng.integers(30, 90, size=n_chunks)
        drawn = rng.choice(VOCABULARY, size=int(lengths.sum()) + 3 * (last - first), p=self.zipf)
        product_vectors = self.centres[self.cluster[first:last]] + rng.normal(
            0, 0.05, size=(last - first, DIM)
        )
        offsets = np.repeat(np.arange(last - first), self.counts[first:last])
        vectors = _unit(product_vectors[offsets] + rng.normal(0, 0.03, size=(n_chunks, DIM)))
        availability = list(Availability)[:4]
        chunks: list[Chunk] = []
        at = 0
        k = 0
        for p in range(first, last):
            title_words = drawn[at : at + 3]
            at += 3
            brand = self.brands[int(self.brand[p])]
            title = f"{brand} {' '.join(self.words[int(w)] for w in title_words).title()}"
            meta = ProductMetadata(
                title=title,
                source="bench:scale",
                url=f"https://shop.example/p/{p}",
                brand=brand,
                category=self.categories[p % CATEGORIES],
                price=Decimal(str(self.price[p])),
                currency="EUR",
                availability=availability[p % len(availability)],
                attributes={"model": f"M{p}"},
            )
            count = int(self.counts[p])
            for i in range(count):
                words = drawn[at : at + int(lengths[k])]
                at += int(lengths[k])
                k += 1
                body = " ".join(self._sentence(words[s : s + 12]) for s in range(0, len(words), 12))
                text = f"{title}. {body}"
                chunks.append(
                    Chunk(
                        published_at=published_at,
                        chunk_id=chunk_id(self.product_id(p), i),
                        product_id=self.product_id(p),
                        chunk_index=i,
                        chunk_count=count,
                        text=text,
                        section="description",
                        token_count=len(words) * 2 + 8,
                        content_hash=content_hash(text),
                        product=meta,
                    )
                )
        return chunks, vectors

    def batches(self, size: int) -> Iterator[tuple[list[Chunk], np.ndarray]]:
        """Every chunk with its vector, in batches of `size`."""
        now = datetime.now(UTC)
        pending: list[Chunk] = []
        vectors: list[np.ndarray] = []
        held = 0
        for b in range(-(-self.products // PRODUCTS_PER_BLOCK)):
            chunks, block_vectors = self.block(b, now)
            pending += chunks
            vectors.append(block_vectors)
            held += len(chunks)
            while held >= size:
                stacked = np.concatenate(vectors)
                yield pending[:size], stacked[:size]
                pending, vectors, held = pending[size:], [stacked[size:]], held - size
        if pending:
            yield pending, np.concatenate(vectors)

    def query(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """A query: two or three fairly common words, a vector near one cluster centre."""
        picks = rng.integers(10, 600, size=int(rng.integers(2, 4)))
        vector = self.centres[int(rng.integers(CLUSTERS))] + rng.normal(0, 0.05, size=DIM)
        return " ".join(self.words[int(w)] for w in picks), _unit(vector)


# --------------------------------------------------------------------------- measuring


def resident_bytes(pid: int | None = None) -> int:
    """Resident set size of a process (default: this one), 0 where /proc lacks it."""
    try:
        status = Path(f"/proc/{pid or 'self'}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def group_resident_bytes(pgid: int) -> int:
    """Resident set size of every process in process group `pgid`."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            group = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, IndexError, ValueError):
            continue
        if group == pgid:
            total += resident_bytes(int(entry.name))
    return total


def disk_bytes(folder: Path) -> int:
    """Bytes allocated to the files under `folder` (what `du` counts)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            stat = path.lstat()
        except OSError:
            continue
        if path.is_file():
            total += stat.st_blocks * 512
    return total


def percentiles(seconds: list[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return round(1000 * statistics.median(ordered), 2), round(1000 * p99, 2)


def load(index: VectorIndex, catalog: Catalog, *, maintain_every_s: float) -> dict[str, Any]:
    """Upsert the catalog in worker batches, with the worker's periodic `maintain`."""
    write_s = maintain_s = 0.0
    maintains = 0
    written = 0
    tenths: list[float] = []
    tenth_at, tenth_s = 0, 0.0
    last_maintain = time.perf_counter()
    for chunks, vectors in catalog.batches(WORKER_BATCH):
        indexed_at = datetime.now(UTC)
        rows = [
            Row(chunk=c, vector=v, indexed_at=indexed_at)
            for c, v in zip(chunks, vectors, strict=True)
        ]
        started = time.perf_counter()
        index.upsert(rows)
        took = time.perf_counter() - started
        if time.perf_counter() - last_maintain >= maintain_every_s:
            before = time.perf_counter()
            index.maintain()
            last_maintain = time.perf_counter()
            maintain_s += last_maintain - before
            took += last_maintain - before
            maintains += 1
        write_s += took
        tenth_s += took
        written += len(rows)
        if written * 10 >= (len(tenths) + 1) * catalog.chunks or written == catalog.chunks:
            tenths.append(round((written - tenth_at) / tenth_s))
            tenth_at, tenth_s = written, 0.0
            say(
                f"  {written:>9,} chunks written, {written / write_s:,.0f} chunks/s so far"
                f" (last part {tenths[-1]:,}/s)"
            )
    return {
        "load_s": round(write_s, 2),
        "load_chunks_per_s": round(written / write_s, 1),
        "load_chunks_per_s_by_tenth": tenths,
        "load_maintains": maintains,
        "load_maintain_s": round(maintain_s, 2),
        "written": written,
    }


def change_checks(index: VectorIndex, catalog: Catalog, rng: np.random.Generator) -> dict[str, Any]:
    """The worker's `lookup` of a batch of chunk ids and the publisher's `record_hashes`."""
    figures: dict[str, Any] = {}
    asked = found = 0
    seconds: list[float] = []
    for _ in range(LOOKUP_BATCHES):
        ids: list[str] = []
        while len(ids) < WORKER_BATCH:
            ids += catalog.chunk_ids(int(rng.integers(catalog.products)))
        ids = list(dict.fromkeys(ids))
        started = time.perf_counter()
        stored = index.lookup(ids)
        seconds.append(time.perf_counter() - started)
        asked += len(ids)
        found += sum(1 for i in ids if i in stored and stored[i].vector.shape == (DIM,))
    p50, _ = percentiles(seconds)
    figures |= {
        "lookup_chunks_per_s": round(asked / sum(seconds), 1),
        "lookup_batch_p50_ms": p50,
        "lookup_asked": asked,
        "lookup_found": found,
    }
    asked = found = products = 0
    seconds = []
    for _ in range(GATE_CALLS):
        picked = {int(p) for p in rng.integers(catalog.products, size=PUBLISH_BATCH)}
        ids = [c for p in sorted(picked) for c in catalog.chunk_ids(p)]
        started = time.perf_counter()
        hashes = index.record_hashes(ids)
        seconds.append(time.perf_counter() - started)
        asked += len(ids)
        products += len(picked)
        found += sum(1 for i in ids if len(hashes.get(i, "")) == 64)
    p50, _ = percentiles(seconds)
    return figures | {
        "record_hashes_products_per_s": round(products / sum(seconds), 1),
        "record_hashes_chunks_per_s": round(asked / sum(seconds), 1),
        "record_hashes_call_p50_ms": p50,
        "record_hashes_asked": asked,
        "record_hashes_found": found,
    }


def searches(
    index: VectorIndex, catalog: Catalog, rng: np.random.Generator, queries: int
) -> dict[str, Any]:
    """Hybrid search, k=10, in turn: without filters, then with brand = and price <=."""
    figures: dict[str, Any] = {}
    for filtered in (False, True):
        seconds: list[float] = []
        hits = violations = 0
        for n in range(WARM_UP + queries):
            text, vector = catalog.query(rng)
            filters: list[Filter] = []
            brand, ceiling = "", 0.0
            if filtered:
                brand = catalog.brands[int(rng.integers(BRANDS))]
                ceiling = float(rng.integers(20, 200))
                filters = [
                    Filter(field="brand", op="=", value=brand),
                    Filter(field="price", op="<=", value=str(ceiling)),
                ]
            started = time.perf_counter()
            found = index.search(text, vector, k=10, filters=filters)
            took = time.perf_counter() - started
            if n < WARM_UP:
                continue
            seconds.append(took)
            hits += len(found)
            if filtered:
                violations += sum(
                    1
                    for h in found
                    if h.fields.get("brand") != brand or float(h.fields["price"]) > ceiling
                )
        p50, p99 = percentiles(seconds)
        key = "search_filtered" if filtered else "search"
        figures |= {
            f"{key}_p50_ms": p50,
            f"{key}_p99_ms": p99,
            f"{key}_hits_per_query": round(hits / queries, 2),
        }
        if filtered:
            figures["search_filtered_violations"] = violations
        say(
            f"  hybrid search{' with brand= and price<=' if filtered else ''}:"
            f" p50 {p50} ms, p99 {p99} ms, {hits / queries:.1f} hits/query"
        )
    return figures


def stale_deletes(index: VectorIndex, catalog: Catalog, rng: np.random.Generator) -> dict[str, Any]:
    """Re-publishes of products one chunk shorter: `delete_stale` as the worker calls it, one
    worker batch's products a call."""
    per_batch = max(1, round(WORKER_BATCH / float(catalog.counts.mean())))
    multi = np.flatnonzero(catalog.counts >= 2)
    chosen = rng.permutation(multi)[: per_batch * DELETE_BATCHES]
    deleted = 0
    seconds: list[float] = []
    for start in range(0, len(chosen), per_batch):
        group = chosen[start : start + per_batch]
        keep_below = {(catalog.product_id(int(p)), ""): int(catalog.counts[p]) - 1 for p in group}
        started = time.perf_counter()
        deleted += index.delete_stale(keep_below, {})
        seconds.append(time.perf_counter() - started)
    p50, _ = percentiles(seconds)
    return {
        "stale_delete_products_per_s": round(len(chosen) / sum(seconds), 1),
        "stale_deleted_chunks_per_s": round(deleted / sum(seconds), 1),
        "stale_delete_call_p50_ms": p50,
        "stale_delete_products": len(chosen),
        "stale_deleted": deleted,
    }


def measure(
    backend: str,
    settings: Settings,
    catalog: Catalog,
    data: Path,
    *,
    queries: int,
    server_rss: Callable[[], int] | None = None,
    maintain_every_s: float = MAINTAIN_EVERY_S,
) -> dict[str, Any]:
    """Every figure of one backend, through `open_index(settings)`."""
    gc.collect()
    rss_before = resident_bytes()
    index = open_index(settings)
    rng = np.random.default_rng([catalog.seed, 99])
    try:
        say(f"{backend}: loading {catalog.chunks:,} chunks ({catalog.products:,} products)")
        figures: dict[str, Any] = {"vectors": "generated"}
        figures |= load(index, catalog, maintain_every_s=maintain_every_s)
        started = time.perf_counter()
        index.maintain()
        build_s = time.perf_counter() - started
        if backend == "lancedb":
            figures["index_build_s"] = round(build_s, 2)
            figures["index_build"] = (
                "final maintain(): compaction, FTS index updated, vector index IVF_FLAT with one"
                " partition (exact)"
            )
        else:
            figures["index_build_s"] = figures["load_s"]
            figures["index_build"] = "HNSW (cosine) and inverted index built on insert: load time"
        figures["count"] = index.count()
        say(
            f"{backend}: {figures['load_chunks_per_s']:,.0f} chunks/s loaded in"
            f" {figures['load_s']:.1f} s, index built in {figures['index_build_s']:.1f} s"
        )
        gc.collect()
        rss = resident_bytes()
        figures |= {
            "rss_bytes": rss,
            "rss_bytes_per_chunk": round(rss / catalog.chunks, 1),
            "rss_growth_bytes_per_chunk": round((rss - rss_before) / catalog.chunks, 1),
        }
        if server_rss is not None:
            server = server_rss()
            figures |= {
                "server_rss_bytes": server,
                "server_rss_bytes_per_chunk": round(server / catalog.chunks, 1),
            }
        disk = disk_bytes(data)
        figures |= {"disk_bytes": disk, "disk_bytes_per_chunk": round(disk / catalog.chunks, 1)}
        say(
            f"{backend}: RSS {rss / 2**20:,.0f} MiB (this process)"
            + (f", server {figures['server_rss_bytes'] / 2**20:,.0f} MiB" if server_rss else "")
            + f", disk {disk / 2**20:,.0f} MiB = {disk / catalog.chunks:,.0f} bytes/chunk"
        )
        figures |= change_checks(index, catalog, rng)
        say(
            f"{backend}: change check: lookup {figures['lookup_chunks_per_s']:,.0f} chunks/s,"
            f" record_hashes {figures['record_hashes_products_per_s']:,.0f} products/s"
        )
        figures |= searches(index, catalog, rng, queries)
        figures |= stale_deletes(index, catalog, rng)
        figures["count_after_delete"] = index.count()
        say(
            f"{backend}: stale delete {figures['stale_delete_products_per_s']:,.0f} products/s"
            f" ({figures['stale_deleted']:,} chunks deleted)"
        )
    finally:
        index.close()
    return figures


def lancedb_figures(catalog: Catalog, work: Path, *, queries: int) -> dict[str, Any]:
    uri = work / "lancedb"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        index_backend="lancedb",
        lancedb_uri=str(uri),
        index_name=INDEX_NAME,
        embedding_dim=DIM,
    )
    return measure("lancedb", settings, catalog, uri, queries=queries)


def weaviate_figures(catalog: Catalog, work: Path, *, queries: int) -> dict[str, Any]:
    from infra.stack import ServiceNotReady
    from infra.stack import weaviate as wv
    from infra.stack.local import allocate_ports, start_service
    from infra.stack.supervisor import stop_group

    if not wv.binary_path().is_file():
        say(f"weaviate: no server at {wv.binary_path()} (`make production-deps`): skipped")
        return {"skipped": f"no Weaviate server binary at {wv.binary_path()}"}
    home = work / "weaviate-home"
    spec = wv.spec()
    for attempt in range(3):
        ports = allocate_ports(spec)  # six distinct ports (infra.stack.weaviate)
        try:
            recorded = start_service(home, spec, ports, timeout_s=180)
            break
        except ServiceNotReady as e:  # a port taken between allocation and bind
            if attempt == 2:
                raise
            say(f"weaviate: did not start ({str(e).splitlines()[0]}); again on other ports")
            shutil.rmtree(home, ignore_errors=True)
    try:
        env = spec.settings_env(home, ports)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            index_backend="weaviate",
            weaviate_url=env["FRESHINDEX_WEAVIATE_URL"],
            weaviate_grpc_url=env["FRESHINDEX_WEAVIATE_GRPC_URL"],
            weaviate_timeout_s=120,
            index_name=INDEX_NAME,
            embedding_dim=DIM,
        )
        return measure(
            "weaviate",
            settings,
            catalog,
            home / "weaviate" / "data",
            queries=queries,
            server_rss=lambda: group_resident_bytes(recorded.pid),
        )
    finally:
        stop_group("weaviate", recorded.pid, spec.stop_timeout_s)


def run(chunks: int, backends: list[str], work: Path, *, queries: int = 200) -> dict[str, Any]:
    """The benchmark's JSON object (without printing it)."""
    unknown = set(backends) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"unknown backend(s) {sorted(unknown)}: use {', '.join(ALL_BACKENDS)}")
    started = time.perf_counter()
    catalog = Catalog(chunks)
    say(
        f"catalog: {chunks:,} chunks of {catalog.products:,} products, vectors generated"
        f" ({DIM}-d, {CLUSTERS} clusters), seed {catalog.seed}"
        f" ({time.perf_counter() - started:.1f} s)"
    )
    result: dict[str, Any] = {"chunks": chunks, "products": catalog.products}
    result |= {"vectors": "generated", "batch": WORKER_BATCH, "backends": {}}
    for backend in backends:
        figures = (lancedb_figures if backend == "lancedb" else weaviate_figures)(
            catalog, work, queries=queries
        )
        result["backends"][backend] = figures
    return result


def in_child(backend: str) -> dict[str, Any]:
    """The JSON object of this benchmark run for `backend` alone, in a fresh process (so each
    backend's resident memory is its own); its progress lines are passed through."""
    env = {**os.environ, "BENCH_SCALE_BACKENDS": backend}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_scale"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        if last:
            say(last)
        last = line.rstrip("\n")
    if proc.wait() != 0:
        say(last)
        raise RuntimeError(f"the {backend} run exited with {proc.returncode}")
    return dict(json.loads(last))


def main() -> int:
    chunks = int(os.environ.get("BENCH_SCALE_CHUNKS", "1000000"))
    backends = [
        b.strip()
        for b in os.environ.get("BENCH_SCALE_BACKENDS", ",".join(ALL_BACKENDS)).split(",")
        if b.strip()
    ]
    queries = int(os.environ.get("BENCH_SCALE_QUERIES", "200"))
    if len(backends) > 1:  # one process per backend
        result: dict[str, Any] = {}
        for backend in backends:
            alone = in_child(backend)
            result = {**alone, "backends": {**result.get("backends", {}), **alone["backends"]}}
        print(json.dumps(result), flush=True)
        return 0
    work = Path(tempfile.mkdtemp(prefix="freshindex-bench-scale-"))
    os.environ["FRESHINDEX_HOME"] = str(work)
    say(f"freshindex scale benchmark: {chunks:,} chunks, {', '.join(backends)}, work dir {work}")
    try:
        result = run(chunks, backends, work, queries=queries)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
