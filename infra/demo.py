"""The main job behind `make run` / `freshindex demo` (and `make run-production`).

1. start the stack (`FRESHINDEX_STACK`: Tansu, tritonserver, LanceDB folder by default; Apache
   Kafka, tritonserver, Weaviate for `kafka+weaviate`) and one index worker;
2. publish the bundled sample catalog (data/sample/catalog.jsonl), wait until it is indexed;
3. publish the updates feed (price changes, rewrites, a shrink, deletions, new and invalid rows);
4. print searches for data/sample/queries.txt and the status; stop everything (or keep it running).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import typer

from infra import stack
from infra.processes import start_worker, stop_worker
from infra.render import print_status, print_summary, snippet
from ingest.documents import ManifestRejected, read_manifest
from ingest.producer import KafkaSink
from ingest.publish import chain_for, publish_documents, publish_feed
from schemas.settings import Settings, home_dir
from workers.ops import status, wait_until_caught_up
from workers.retrieval.fusion import Candidate
from workers.retrieval.pipeline import Query, Retriever

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def _step(text: str) -> None:
    typer.secho(f"\n== {text}", bold=True)


def _publish_and_wait(settings: Settings, feed: Path) -> None:
    with KafkaSink(settings) as sink, chain_for(settings) as chain:
        summary = publish_feed(feed, sink, chain)
    print_summary(summary.as_dict())
    started = time.monotonic()
    wait_until_caught_up(settings, timeout_s=900)
    typer.echo(
        f"indexed: worker caught up {time.monotonic() - started:.1f}s after the publish finished"
    )


def _publish_docs_and_wait(settings: Settings, manifest: Path) -> None:
    with KafkaSink(settings) as sink, chain_for(settings) as chain:
        specs = []
        for entry in read_manifest(manifest):
            if isinstance(entry, ManifestRejected):
                raise typer.BadParameter(f"{manifest}:{entry.line}: {entry.reason}")
            specs.append(entry)
        summary = publish_documents(specs, sink, chain, source=f"documents:{manifest.name}")
    print_summary(summary.as_dict())
    wait_until_caught_up(settings, timeout_s=900)


def _searches(settings: Settings) -> None:
    queries = [q.strip() for q in (SAMPLE / "queries.txt").read_text().splitlines() if q.strip()]

    async def run() -> list[list[Candidate]]:
        retriever = await Retriever.open(settings)  # one index handle and Triton channel
        try:
            return [
                (await retriever.search(Query(text=q, k=3, per_product=True))).results
                for q in queries
            ]
        finally:
            await retriever.close()

    for query, results in zip(queries, asyncio.run(run()), strict=True):
        typer.secho(f'\nsearch "{query}"', fg=typer.colors.CYAN)
        for rank, hit in enumerate(results, start=1):
            f = hit.chunk.fields
            about = (
                f"from document {f['document']}, section {f['section']}"
                if f.get("document")
                else f"{f.get('price_text')} {f.get('currency')}, {f.get('availability')}"
            )
            typer.echo(f"  {rank}. {hit.product_id} {f['title']} ({about})")
            typer.echo(f"     {snippet(hit.chunk.text, 100)}")


def run_demo(*, keep_running: bool = False) -> int:
    home = home_dir()
    chosen = Settings.load().stack
    described = {
        "tansu+lancedb": "Tansu broker, tritonserver + all-MiniLM-L6-v2, LanceDB",
        "kafka+weaviate": "Apache Kafka, tritonserver + all-MiniLM-L6-v2, Weaviate",
    }
    _step(f"starting the local stack {chosen} ({described.get(chosen, chosen)})")
    info = stack.up(home, stack=chosen)
    for key, value in info.env.items():
        typer.echo(f"  {key}={value}")
    env = {
        **os.environ,
        **info.env,
        "FRESHINDEX_HOME": str(home),
        "FRESHINDEX_METRICS_PORT": str(stack.free_port()),
    }
    os.environ.update(env)
    settings = Settings.load()
    stack.ensure_topics(settings)
    worker = start_worker(env, home / "logs" / "worker.log")
    typer.echo(
        f"  worker pid {worker.pid}, metrics http://127.0.0.1:{env['FRESHINDEX_METRICS_PORT']}/metrics, "
        f"log {home / 'logs' / 'worker.log'}"
    )
    try:
        _step("publishing the sample catalog")
        _publish_and_wait(settings, SAMPLE / "catalog.jsonl")
        _step("publishing product documents (a PDF spec sheet, a DOCX safety data sheet, a manual)")
        _publish_docs_and_wait(settings, SAMPLE / "docs" / "manifest.jsonl")
        _step(
            "publishing updates (price changes, rewrites, a shrink, deletions, new and invalid rows)"
        )
        _publish_and_wait(settings, SAMPLE / "updates.jsonl")
        _step("searching the live index")
        _searches(settings)
        _step("status")
        print_status(status(settings))
    finally:
        if keep_running:
            typer.echo(
                f"\nstill running: worker pid {worker.pid}; stop with `kill {worker.pid}; freshindex down`"
            )
        else:
            _step("stopping")
            stop_worker(worker)
            typer.echo(f"stopped: worker, {', '.join(stack.down(home))}")
    return 0
