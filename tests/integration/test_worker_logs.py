"""The worker's log with FRESHINDEX_LOG_FORMAT=json, on real services, through a dependency's
fault (the broker stopped, then SIGTERM: Faust's consumer thread dies in aiokafka's stop):
every line is one JSON event, a traceback is one event's `exc` field (never one record per
line of it, as mode's stdout redirection made it), a dead letter's coordinates are fields, and
no line holds a credential."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from infra.stack import StackInfo, restart, stop_service
from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import product, write_feed
from tests.integration.test_hostile_messages import hostile
from workers.ops import wait_until_caught_up

pytestmark = pytest.mark.integration

PLANTED = "PLANTED-sasl-4Tq"


def events(log: str) -> list[dict[str, Any]]:
    parsed = []
    for number, line in enumerate(log.splitlines(), start=1):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"line {number} of the worker's log is not JSON: {line[:300]!r}")
    return parsed


def test_worker_json_log_is_one_event_per_line_through_a_broker_outage(
    stack: StackInfo,
    env: dict[str, str],
    settings: Settings,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    env["FRESHINDEX_KAFKA_SASL_PASSWORD"] = PLANTED  # registered for redaction, unused here
    feed = write_feed(tmp_path / "f.jsonl", [product(f"J{i}") for i in range(3)])
    with KafkaSink(settings) as sink:
        publish_feed(feed, sink, chunker_for(settings))
    raw = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    wrong_key = f"K-{PLANTED}".encode()  # key != product id: a dead letter naming the key
    raw.send(settings.chunks_topic, key=wrong_key, value=hostile(settings, "J9", "Tomato feed."))
    raw.flush()
    raw.close()

    worker = start_worker(FRESHINDEX_LOG_FORMAT="json", FRESHINDEX_WORKER_LOG_LEVEL="info")
    wait_until_caught_up(settings, timeout_s=300)
    broker = stack.broker.name
    try:
        stop_service(stack.home, broker)
        time.sleep(3)  # fetches, heartbeats and commits fail and are retried, and logged
        os.killpg(worker.proc.pid, signal.SIGTERM)
        try:
            worker.proc.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill9()
    finally:
        if worker.alive():
            worker.kill9()
        restart(stack.home, broker)

    log = worker.log_text()
    assert PLANTED not in log
    found = events(log)
    assert len(found) > 20
    assert all({"ts", "level", "logger", "message"} <= e.keys() for e in found)
    [dead] = [e for e in found if e["message"].startswith("dead letter:")]
    assert (dead["topic"], dead["stage"], dead["product_id"]) == (
        settings.chunks_topic,
        "validate",
        "K-***",
    )
    assert isinstance(dead["partition"], int) and isinstance(dead["offset"], int)
    for e in found:  # no record is a piece of a traceback
        assert not e["message"].lstrip().startswith(('File "', "Traceback")), e
        if "exc" in e:
            assert e["exc"].startswith("Traceback (most recent call last):"), e
    crashed = [e for e in found if "exc" in e]
    print(f"{len(found)} events, {len(crashed)} with a traceback:", [e["message"] for e in crashed])
    assert crashed, "the consumer thread's death in aiokafka's stop is logged, traceback and all"
