"""Hostile messages sent straight to the chunks topic, on real services: a chunk far over the
model's token limit and a chunk without a key are dead letters with their reason, never indexed;
the worker goes on; no credential shows in the worker's log, the dead letters or the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.models import Chunk, ProductRecord, chunk_id, content_hash
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import cli, expected_state, product, write_feed
from workers.index.factory import open_index
from workers.ops import dead_letters, wait_until_caught_up

pytestmark = pytest.mark.integration

PLANTED = "PLANTED-api-key-5Rw"
"""A credential of the test's settings (unused by the stack, so harmless) that a hostile
message also carries in its text."""


def hostile(settings: Settings, product_id: str, text: str) -> bytes:
    """A one-chunk message of `product_id` with `text`, valid in every other way (the producer
    computed its id, count and content hash; nobody cut its text)."""
    record = ProductRecord.model_validate(product(product_id))
    template: Chunk = chunker_for(settings).chunk(record, datetime.now(UTC))[0]
    chunk = Chunk.model_validate(
        {
            **template.model_dump(),
            "chunk_id": chunk_id(product_id, 0),
            "chunk_count": 1,
            "text": text,
            "content_hash": content_hash(text),
        }
    )
    return chunk.model_dump_json().encode()


def test_oversized_and_keyless_chunks_are_dead_letters_never_indexed(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    env["FRESHINDEX_KAFKA_SASL_PASSWORD"] = env["FRESHINDEX_SERVE_API_KEY"] = PLANTED  # worker, CLI
    good = write_feed(tmp_path / "good.jsonl", [product("OK1"), product("OK2")])
    big = ("Tomato feed, dilute before use. " * 28_200)[:900_000]  # within Kafka's 1 MB default
    raw = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", max_request_size=2**21
    )
    raw.send(settings.chunks_topic, key=b"BIG", value=hostile(settings, "BIG", big))
    keyless_text = f"Tomato feed. A key {PLANTED} pasted into a description."
    raw.send(settings.chunks_topic, key=None, value=hostile(settings, "NOKEY", keyless_text))
    raw.flush()
    raw.close()
    with KafkaSink(settings) as sink:
        publish_feed(good, sink, chunker_for(settings))

    worker = start_worker(FRESHINDEX_WORKER_LOG_LEVEL="info")
    wait_until_caught_up(settings, timeout_s=300)

    index = open_index(settings, create=False)
    try:
        snapshot = index.snapshot()
    finally:
        index.close()
    stored = {cid: h for cid, (_, h, _) in snapshot.items()}
    assert stored == expected_state(settings, [good]), "only the good products are indexed"
    total, letters = dead_letters(settings, limit=10)
    assert total == 2
    [big_letter] = [d for d in letters if d.key == "BIG"]
    [keyless] = [d for d in letters if d.key is None]
    assert big_letter.stage == "validate" and "900000 characters" in big_letter.message
    assert (big_letter.payload_bytes or 0) > 900_000 and len(big_letter.payload) <= 65_536
    assert keyless.stage == "validate" and "without a key" in keyless.message
    assert PLANTED not in keyless.payload and "A key *** pasted" in keyless.payload
    assert worker.alive()
    log = worker.log_text()
    assert "refused" in log and "dead letter" in log and PLANTED not in log

    shown = cli(env, "-v", "dead-letters", "--json")
    assert shown.returncode == 0, shown.stderr
    assert '"total": 2' in shown.stdout and PLANTED not in shown.stdout + shown.stderr
