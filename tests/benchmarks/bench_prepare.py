"""`make bench-prepare`: what the prepare chain costs, against a baseline measured in the same run.

Not a test: it prints figures, and its last line is one JSON object. No services needed.

  (a) chunking the synthetic catalog: greedy sentence packing (baseline) vs semantic breakpoints,
      with an empty sentence cache (a new catalog) and a warm one (a re-publish), products/s;
  (b) dedup: `Deduplicator.check` per record against a growing state of distinct products
      (in-memory sqlite and a state file), records/s at each size; then, with a state file, the
      Python heap the deduplicator holds per record after the last check (tracemalloc; the band
      tables and signatures live in sqlite, whose page cache is bounded and not Python heap) and
      the process's resident memory growth per record, extrapolated to the 5-million-record
      catalog. The last line's `dedup_bytes_per_record` (heap) and `dedup_records_per_s` (with a
      state file, the last 1,000 checks) are at BENCH_DEDUP_RECORDS records.

Size: BENCH_PRODUCTS (default 600 products for (a)), BENCH_DEDUP_RECORDS (default 100,000:
about 10 minutes for (b) on 2 free cores).
"""

from __future__ import annotations

import gc
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from ingest.feeds.reader import to_record
from ingest.prepare.chunk import Chunker
from ingest.prepare.dedup import Deduplicator
from ingest.prepare.semantic import LocalSentenceEncoder
from ingest.prepare.tokenizer import TokenCounter
from schemas.models import ProductRecord
from tests.benchmarks.bench_pipeline import say, synthetic_catalog
from tests.integration.harness import WORDS


def chunking_rate(chunker: Chunker, records: list[ProductRecord]) -> tuple[float, int]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    chunks = sum(len(chunker.chunk(r, now)) for r in records)
    return len(records) / (time.perf_counter() - started), chunks


def distinct_record(i: int, rng: random.Random) -> ProductRecord:
    words = [rng.choice(WORDS) for _ in range(60)]
    sentences = [" ".join(words[k : k + 12]).capitalize() + "." for k in range(0, 60, 12)]
    return ProductRecord(
        id=f"D-{i}",
        title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {i}",
        description=" ".join(sentences),
        attributes={"model": f"M{i}"},
    )


def dedup_rates(
    path: str, records: list[ProductRecord], checkpoints: list[int]
) -> dict[int, float]:
    """records/s of the last 1,000 checks before each checkpoint."""
    rates: dict[int, float] = {}
    with Deduplicator(path) as dedup:
        window_start = time.perf_counter()
        for n, record in enumerate(records, start=1):
            dedup.check(record)
            if n % 1000 == 0:
                now = time.perf_counter()
                if n in checkpoints:
                    rates[n] = 1000 / (now - window_start)
                window_start = now
    return rates


def heap_per_record(path: str, records: list[ProductRecord]) -> tuple[float, float]:
    """(Python heap held, its peak) per record by a deduplicator with a state file at `path`,
    open, after checking `records` (tracemalloc, from before it was opened)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    with Deduplicator(path) as dedup:
        for record in records:
            dedup.check(record)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (held - before) / len(records), (peak - before) / len(records)


def resident_bytes() -> int:
    """The process's resident set size (Linux), 0 where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def dedup_figures(dedup_n: int) -> dict[str, object]:
    """Part (b): prints its figures, returns them for the JSON line."""
    rng = random.Random(7)
    distinct = [distinct_record(i, rng) for i in range(dedup_n)]
    checkpoints = sorted({1000, dedup_n // 2 // 1000 * 1000, dedup_n // 1000 * 1000} - {0})
    with tempfile.TemporaryDirectory() as tmp:
        rss_before = resident_bytes()
        on_disk = dedup_rates(str(Path(tmp) / "rates.sqlite3"), distinct, checkpoints)
        rss_per_record = (resident_bytes() - rss_before) / dedup_n
        heap, peak = heap_per_record(str(Path(tmp) / "heap.sqlite3"), distinct)
    memory = dedup_rates(":memory:", distinct, checkpoints)
    say(f"(b) dedup of {dedup_n} distinct products (records/s at state size):")
    for n in checkpoints:
        say(
            f"    {n:>7} records: {memory[n]:.0f}/s in memory, {on_disk[n]:.0f}/s with a state file"
        )
    say(
        f"    Python heap held with a state file: {heap:.0f} bytes/record (peak {peak:.0f}) "
        f"= {heap * 5e6 / 2**30:.2f} GiB for 5 M records; resident memory growth "
        f"{rss_per_record:.0f} bytes/record"
    )
    return {
        "dedup_records": dedup_n,
        "dedup_per_s_memory": {str(k): round(v) for k, v in memory.items()},
        "dedup_per_s_file": {str(k): round(v) for k, v in on_disk.items()},
        "dedup_peak_bytes_per_record": round(peak),
        "dedup_rss_bytes_per_record": round(rss_per_record),
        "dedup_bytes_per_record": round(heap),
        "dedup_records_per_s": round(on_disk[checkpoints[-1]]),
    }


def main() -> int:
    products = int(os.environ.get("BENCH_PRODUCTS", "600"))
    dedup_n = int(os.environ.get("BENCH_DEDUP_RECORDS", "100000"))
    records = [to_record(r, "bench") for r in synthetic_catalog(products, generation="p", seed=3)]
    tokens = TokenCounter.from_file()

    greedy_rate, greedy_chunks = chunking_rate(Chunker(tokens), records)
    encoder = LocalSentenceEncoder()
    encoder.encode(["warm the model up"])  # model load is a one-off per process, not per record
    semantic = Chunker(tokens, encoder=encoder)
    cold_rate, semantic_chunks = chunking_rate(semantic, records)
    warm_rate, _ = chunking_rate(semantic, records)
    say(f"(a) chunking {products} products (sample descriptions, shuffled):")
    say(f"    greedy packing: {greedy_rate:.0f} products/s, {greedy_chunks} chunks")
    say(
        f"    semantic breakpoints, new text: {cold_rate:.1f} products/s "
        f"({cold_rate / greedy_rate:.3f} of greedy), {semantic_chunks} chunks"
    )
    say(
        f"    semantic breakpoints, re-publish (sentence cache warm): {warm_rate:.0f} products/s "
        f"({warm_rate / greedy_rate:.2f} of greedy)"
    )

    result = {
        "products": products,
        "greedy_products_per_s": round(greedy_rate, 1),
        "semantic_products_per_s": round(cold_rate, 2),
        "semantic_over_greedy": round(cold_rate / greedy_rate, 4),
        "semantic_warm_over_greedy": round(warm_rate / greedy_rate, 3),
        "greedy_chunks": greedy_chunks,
        "semantic_chunks": semantic_chunks,
    } | dedup_figures(dedup_n)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
