"""Helpers for integration tests: feeds, worker processes, expected index state, Triton statistics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tritonclient.http as triton_http

from infra.processes import kill_worker, start_worker, stop_worker
from ingest.core.items import Accepted, Deleted
from ingest.feeds.reader import read_feed
from ingest.publish import chunker_for
from schemas.settings import Settings

WORDS = [
    "compost",
    "manure",
    "soil",
    "seed",
    "tomato",
    "potato",
    "carrot",
    "lettuce",
    "hose",
    "sprinkler",
    "rake",
    "spade",
    "fork",
    "shears",
    "netting",
    "fleece",
    "greenhouse",
    "fertiliser",
    "nitrogen",
    "potash",
    "phosphate",
    "mulch",
    "bark",
    "peat",
    "loam",
    "grit",
    "feed",
    "hay",
    "pellets",
]


def product(
    pid: str, *, sentences: int = 3, title: str | None = None, price: str = "9.99", salt: str = ""
) -> dict[str, Any]:
    """A feed row with `sentences` distinct description sentences (more sentences, more chunks)."""
    n = int.from_bytes(pid.encode(), "little") % 997
    desc = " ".join(
        f"Sentence {i} about {WORDS[(n + i) % len(WORDS)]} and {WORDS[(n * 7 + i) % len(WORDS)]} "
        f"for product {pid}{salt}, "
        f"suited to {WORDS[(n + 3 * i) % len(WORDS)]} beds and careful growers in spring and autumn."
        for i in range(sentences)
    )
    return {
        "id": pid,
        "title": title or f"Garden product {pid}",
        "description": desc,
        "brand": "Terra" if n % 2 else "GreenAcre",
        "category": "Soil & Growing Media",
        "price": price,
        "currency": "EUR",
        "availability": "InStock",
        "url": f"https://shop.example/p/{pid}",
        "attributes": {"weight": f"{n % 50 + 1} kg"},
    }


def write_feed(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def expected_state(settings: Settings, feeds: list[Path]) -> dict[str, str]:
    """chunk_id -> content_hash the index must hold after `feeds` are published in order."""
    chunker = chunker_for(settings)
    products: dict[str, dict[str, str]] = {}
    for feed in feeds:
        for item in read_feed(feed):
            if isinstance(item, Accepted):
                chunks = chunker.chunk(item.record, datetime.now(UTC))
                products[item.record.id] = {c.chunk_id: c.content_hash for c in chunks}
            elif isinstance(item, Deleted):
                products.pop(item.product_id, None)
    return {cid: h for chunks in products.values() for cid, h in chunks.items()}


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `freshindex ARGS` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class WorkerProcess:
    """A real `freshindex worker` process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc = start_worker(env, log)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        kill_worker(self.proc)

    def stop(self) -> None:
        stop_worker(self.proc)

    def metric(self, name: str) -> float:
        """Value of an unlabelled counter/gauge from the worker's /metrics."""
        url = f"http://127.0.0.1:{self.env['FRESHINDEX_METRICS_PORT']}/metrics"
        deadline = time.monotonic() + 30
        while True:
            try:
                body = urllib.request.urlopen(url, timeout=5).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise KeyError(name)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def triton_inference_count(settings: Settings) -> int:
    """Rows Triton's model has embedded so far (Triton's own statistics, not ours)."""
    client = triton_http.InferenceServerClient(url=settings.triton_http_url)
    try:
        stats = client.get_inference_statistics(model_name=settings.triton_model)
        return sum(int(m.get("inference_count", 0)) for m in stats["model_stats"])
    finally:
        client.close()
