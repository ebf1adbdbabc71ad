"""`freshindex dead-letters replay` on real services: chunks dead-lettered for a cause that is
then fixed (a worker whose FRESHINDEX_CHUNK_MAX_TOKENS was set too low) end up indexed after a
replay; a second replay sends nothing and changes nothing; a row rejected before Kafka stays
dead with the reason. `freshindex status` counts the replayed chunks in its last minute's
throughput."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import cli, expected_state, product, write_feed
from workers.index.factory import open_index
from workers.ops import consumer_lag, dead_letters, wait_until_caught_up

pytestmark = pytest.mark.integration

TOO_LOW = "96"
"""The worker's misconfigured limit: the description chunks are longer, the overviews not."""


def indexed(settings: Settings) -> dict[str, str]:
    index = open_index(settings, create=False)
    try:
        return {cid: h for cid, (_, h, _) in index.snapshot().items()}
    finally:
        index.close()


def replay(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = cli(env, "dead-letters", "replay", "--json", *args)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def published(settings: Settings) -> int:
    return sum(p.high_watermark for p in consumer_lag(settings))


def test_dead_letters_whose_cause_was_fixed_are_indexed_after_a_replay_once(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(
        tmp_path / "catalog.jsonl",
        [product("R1", sentences=6), product("R2", sentences=6), '{"id": "BAD", "price": -1}'],
    )
    with KafkaSink(settings) as sink:
        publish_feed(feed, sink, chunker_for(settings))
    want = expected_state(settings, [feed])

    worker = start_worker(FRESHINDEX_CHUNK_MAX_TOKENS=TOO_LOW)
    wait_until_caught_up(settings, timeout_s=300)
    worker.stop()
    before = indexed(settings)
    total, letters = dead_letters(settings, limit=100)
    refused = [d for d in letters if d.stage == "validate"]
    assert refused and all(f"limit of {TOO_LOW}" in d.message for d in refused)
    assert len(before) + len(refused) == len(want) and set(before) < set(want)
    assert total == len(refused) + 1  # and the feed's bad row

    # run with the old setting, the replay sees the cause is still there and sends nothing
    still = replay({**env, "FRESHINDEX_CHUNK_MAX_TOKENS": TOO_LOW}, "--dry-run")
    assert still["stays_dead"] == total and still["would_replay"] == 0
    assert all(
        "FRESHINDEX_CHUNK_MAX_TOKENS" in o["reason"]
        for o in still["dead_letters"]
        if o["stage"] == "validate"
    )

    # the setting fixed (the default), for the worker and the replay
    start_worker()
    first = replay(env)
    assert first["replayed"] == len(refused), first
    row = [o for o in first["dead_letters"] if o["stage"] == "feed"]
    assert len(row) == 1 and row[0]["action"] == "stays dead"
    assert "before Kafka" in row[0]["reason"] and row[0]["origin"].endswith("line 3")
    wait_until_caught_up(settings, timeout_s=300)
    assert indexed(settings) == want, "every chunk is indexed once the cause is fixed"
    status = json.loads(cli(env, "status", "--json").stdout)
    assert status["throughput"]["window_s"] == 60
    assert status["throughput"]["chunks"] >= len(refused), "the replayed chunks were just written"

    sent_before = published(settings)
    second = replay(env)
    assert second["replayed"] == 0 and second["already_replayed"] == len(refused), second
    assert published(settings) == sent_before, "a second replay sends nothing"
    wait_until_caught_up(settings, timeout_s=120)
    assert indexed(settings) == want
    assert dead_letters(settings, limit=1)[0] == total, "no new dead letter"

    text = cli(env, "dead-letters", "replay", "--stage", "validate", "--dry-run")
    assert text.returncode == 0, text.stderr
    assert (
        f"{len(refused)} dead letters: 0 would be replayed, {len(refused)} already" in text.stdout
    )
