"""`make chaos`: faults while a catalog is being indexed, on the Kafka + Weaviate stack.

Not a test: it prints what happened and its last line is one JSON object. A short version runs in
the integration tier (`tests/integration/test_chaos.py`), which asserts the totals.

For each fault, a new generation of the catalog is published (new products, rewritten ones, a few
deletions: all need embedding), and while the worker is indexing it:
  (a) `broker`: kill -9 Apache Kafka, restart it on the same ports;
  (b) `index`: kill -9 Weaviate, restart it on the same ports;
  (c) `triton`: stop Triton (SIGTERM, a graceful unload) for `triton_pause_s`, restart it;
  (d) `worker`: SIGTERM the worker at a random point of a generation and start another; then
      kill -9 that one at a random point of the next generation and start another.
After each fault the index must equal the published state:
  - `lost`: chunks the published state has that the index lacks (or holds with other content);
  - `duplicated`: rows the index holds beyond the published state (stale or repeated chunks);
  - `transient_dead_letters`: dead letters written during the fault (the feeds hold no bad
    rows, so every one of them would be a dependency's outage taken for bad input);
  - `drain_s`: seconds from the fault's end (service back, or worker restarted) to lag 0.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import stack
from infra.stack import StackInfo
from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.settings import Settings
from tests.integration.conftest import settings_for
from tests.integration.harness import (
    WorkerProcess,
    expected_state,
    product,
    triton_inference_count,
    write_feed,
)
from workers.index.factory import open_index
from workers.ops import dead_letters, wait_until_caught_up

Say = Callable[[str], None]


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Run:
    """One chaos run: the stack, the worker, the feeds published so far."""

    info: StackInfo
    env: dict[str, str]
    settings: Settings
    work: Path
    products: int
    rng: random.Random
    feeds: list[Path]
    worker: WorkerProcess | None = None
    generation: int = 0

    def start_worker(self) -> WorkerProcess:
        log = self.work / f"worker-{len(self.feeds)}-{time.monotonic_ns()}.log"
        self.worker = WorkerProcess(self.env, log)
        return self.worker

    def publish_generation(self) -> int:
        """New products, rewrites of half the last generation, deletions of a few: all embed."""
        self.generation += 1
        g = self.generation
        rows: list[dict[str, Any] | str] = [
            product(f"C{g}-{i}", sentences=3 + i % 4, salt=f" gen {g}")
            for i in range(self.products)
        ]
        if g > 1:
            rows += [
                product(f"C{g - 1}-{i}", sentences=2 + i % 3, salt=f" rewritten in gen {g}")
                for i in range(0, self.products, 2)
            ]
            rows += [
                json.dumps({"id": f"C{g - 1}-{i}", "deleted": True})
                for i in range(1, self.products, 10)
            ]
        feed = write_feed(self.work / f"gen-{g}.jsonl", rows)
        with KafkaSink(self.settings) as sink:
            report = publish_feed(feed, sink, chunker_for(self.settings))
        self.feeds.append(feed)
        return report.chunks

    def wait_indexing_started(self, since_rows: int, timeout_s: float = 120) -> None:
        """Until Triton has embedded some rows of the newest generation: the worker is in the
        middle of a batch (its offsets are committed only once the whole batch is written)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if triton_inference_count(self.settings) >= since_rows + 32:
                return
            time.sleep(0.1)
        raise TimeoutError(f"the worker embedded nothing within {timeout_s:.0f} s")

    def check(self, name: str, dead_before: int, recovered_at: float, say: Say) -> dict[str, Any]:
        wait_until_caught_up(self.settings, timeout_s=900, poll_s=0.5)
        drain_s = time.monotonic() - recovered_at
        expected = expected_state(self.settings, self.feeds)
        index = open_index(self.settings, create=False)
        try:
            held = {cid: h for cid, (_, h, _) in index.snapshot().items()}
            count = index.count()
        finally:
            index.close()
        lost = sum(1 for cid, h in expected.items() if held.get(cid) != h)
        duplicated = max(0, count - len(held)) + sum(1 for cid in held if cid not in expected)
        dead_after, _ = dead_letters(self.settings, limit=1)
        result = {
            "lost": lost,
            "duplicated": duplicated,
            "transient_dead_letters": dead_after - dead_before,
            "drain_s": round(drain_s, 1),
            "chunks_expected": len(expected),
        }
        say(f"    {name}: {json.dumps(result)}")
        return result


def _dead(run: Run) -> int:
    return dead_letters(run.settings, limit=1)[0]


def fault_service(run: Run, name: str, *, kill: bool, pause_s: float, say: Say) -> dict[str, Any]:
    rows = triton_inference_count(run.settings)
    chunks = run.publish_generation()
    dead_before = _dead(run)
    run.wait_indexing_started(rows)
    how = "kill -9" if kill else "SIGTERM"
    say(f"  {how} {name} while indexing {chunks} chunks; back after {pause_s:.0f} s")
    stack.stop_service(run.info.home, name, kill=kill)
    time.sleep(pause_s)
    stack.restart(run.info.home, name)
    return run.check(name, dead_before, time.monotonic(), say)


def fault_worker(run: Run, say: Say) -> dict[str, Any]:
    """SIGTERM the worker at a random point of one generation, kill -9 the next one's."""
    dead_before = _dead(run)
    assert run.worker is not None
    for how in ("SIGTERM", "kill -9"):
        rows = triton_inference_count(run.settings)
        chunks = run.publish_generation()
        run.wait_indexing_started(rows)
        time.sleep(run.rng.uniform(0.0, 1.0))
        say(f"  {how} the worker at a random point while indexing {chunks} chunks")
        if how == "SIGTERM":
            run.worker.stop()
        else:
            run.worker.kill9()
        run.start_worker()
    return run.check("worker", dead_before, time.monotonic(), say)


def run_chaos(
    info: StackInfo, work: Path, *, products: int, triton_pause_s: float, seed: int, say: Say
) -> dict[str, Any]:
    """Every fault once on `info` (a kafka+weaviate stack); the per-fault and total figures."""
    suffix = f"{seed}-{time.monotonic_ns() % 10**8}"
    env = {
        **os.environ,
        **info.env,
        "FRESHINDEX_HOME": str(work),
        "FRESHINDEX_METRICS_PORT": str(stack.free_port()),
        "FRESHINDEX_CHUNKS_TOPIC": f"chaos-chunks-{suffix}",
        "FRESHINDEX_DEAD_LETTER_TOPIC": f"chaos-dlq-{suffix}",
        "FRESHINDEX_CONSUMER_GROUP": f"chaos-{suffix}",
        "FRESHINDEX_INDEX_NAME": f"chaos_{suffix.replace('-', '_')}",
        "FRESHINDEX_SEMANTIC_CHUNKING": "false",
        "HF_HUB_OFFLINE": "1",
    }
    settings = settings_for(env)
    stack.ensure_topics(settings)
    run = Run(info, env, settings, work, products, random.Random(seed), [])
    run.start_worker()
    faults: dict[str, dict[str, Any]] = {}
    broker = "kafka" if "kafka" in info.services else "tansu"
    index = "weaviate" if "weaviate" in info.services else None
    try:
        say("(a) broker")
        faults["broker"] = fault_service(run, broker, kill=True, pause_s=3, say=say)
        if index is not None:
            say("(b) index")
            faults["index"] = fault_service(run, index, kill=True, pause_s=3, say=say)
        say("(c) triton")
        faults["triton"] = fault_service(run, "triton", kill=False, pause_s=triton_pause_s, say=say)
        say("(d) worker")
        faults["worker"] = fault_worker(run, say)
    finally:
        if run.worker is not None:
            run.worker.stop()
        stack.up(info.home, stack=info.stack)  # every service running again, whatever happened
    total = {
        key: sum(f[key] for f in faults.values())
        for key in ("lost", "duplicated", "transient_dead_letters")
    }
    total["drain_s"] = round(sum(f["drain_s"] for f in faults.values()), 1)
    return {"stack": info.stack, "products_per_generation": products, **faults, "total": total}


def main() -> int:
    products = int(os.environ.get("CHAOS_PRODUCTS", "300"))
    pause = float(os.environ.get("CHAOS_TRITON_PAUSE_S", "30"))
    work = Path(tempfile.mkdtemp(prefix="freshindex-chaos-"))
    say(
        f"freshindex chaos: {products} products per generation, Triton paused {pause:.0f} s, {work}"
    )
    info = stack.up(work / "stack", stack="kafka+weaviate")
    try:
        result = run_chaos(info, work, products=products, triton_pause_s=pause, seed=7, say=say)
    finally:
        stack.down(work / "stack")
    print(json.dumps(result), flush=True)
    return 0 if all(v == 0 for k, v in result["total"].items() if k != "drain_s") else 1


if __name__ == "__main__":
    sys.exit(main())
