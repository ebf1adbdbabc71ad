"""The DESIGN.md invariants, end to end on real services: Tansu, tritonserver, LanceDB, Faust worker processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.models import SCHEMA_VERSION, ProductDeleted
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import (
    cli,
    expected_state,
    product,
    triton_inference_count,
    write_feed,
)
from workers.index.factory import open_index
from workers.ops import dead_letters, wait_until_caught_up

pytestmark = pytest.mark.integration


def publish(settings: Settings, feed: Path) -> None:
    with KafkaSink(settings) as sink:
        publish_feed(feed, sink, chunker_for(settings))


def index_state(settings: Settings) -> dict[str, str]:
    snapshot = open_index(settings, create=False).snapshot()
    return {cid: content_hash for cid, (_, content_hash, _) in snapshot.items()}


def assert_index_is(settings: Settings, expected: dict[str, str]) -> None:
    index = open_index(settings, create=False)
    assert index.count() == len(expected), "row count differs: duplicates or missing chunks"
    assert index_state(settings) == expected


def test_publish_search_status_and_rejected_rows(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    rows: list[dict | str] = [product(f"P{i}", sentences=2) for i in range(8)]
    rows.append(product("HOSE1", title="Expandable garden hose 30 m with brass spray gun"))
    rows.append({"id": "BAD1", "title": "Broken price", "price": "-3"})
    rows.append("{not json")
    rows.append({"id": "BAD2", "description": "no title"})
    feed = write_feed(tmp_path / "catalog.jsonl", rows)

    done = cli(env, "publish", str(feed), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["products"], summary["deletions"]) == (9, 0)
    assert [r["line"] for r in summary["rejected"]] == [10, 11, 12]
    assert (
        "price" in summary["rejected"][0]["reason"] and "title" in summary["rejected"][2]["reason"]
    )

    worker = start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    assert_index_is(settings, expected_state(settings, [feed]))

    found = cli(env, "search", "garden hose with spray gun", "-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["product_id"] == "HOSE1"
    filtered = json.loads(
        cli(env, "search", "garden product", "--filter", "brand=Terra", "--json").stdout
    )
    assert filtered and all(h["brand"] == "Terra" for h in filtered)

    report = json.loads(cli(env, "status", "--json").stdout)
    assert report["total_lag"] == 0
    chunks = summary["chunks"]["count"]
    assert sum(p["high_watermark"] for p in report["partitions"]) == chunks
    assert report["index"]["rows"] == chunks
    assert report["dead_letters"]["total"] == 3
    assert report["freshness"]["chunks"] == chunks
    assert worker.alive()


def test_replay_leaves_index_unchanged(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "c.jsonl", [product(f"R{i}", sentences=12) for i in range(6)])
    publish(settings, feed)
    first = start_worker()
    wait_until_caught_up(settings)
    first.stop()
    before = open_index(settings, create=False).snapshot()

    # A new consumer group replays the whole topic, with the change check off: every chunk is
    # embedded and written again, over the same deterministic ids.
    replay = settings.model_copy(update={"consumer_group": settings.consumer_group + "-replay"})
    replayer = start_worker(
        FRESHINDEX_CONSUMER_GROUP=replay.consumer_group, FRESHINDEX_SKIP_UNCHANGED="false"
    )
    wait_until_caught_up(replay)
    assert replayer.metric("freshindex_written_chunks_total") == len(before)
    assert open_index(settings, create=False).snapshot() == before
    assert open_index(settings, create=False).count() == len(before)


def test_republishing_unchanged_products_makes_zero_embedding_calls(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "c.jsonl", [product(f"U{i}", sentences=4) for i in range(10)])
    publish(settings, feed)
    worker = start_worker()
    wait_until_caught_up(settings)
    embedded_first = worker.metric("freshindex_embedded_chunks_total")
    assert embedded_first > 0

    triton_before = triton_inference_count(settings)
    publish(settings, feed)
    wait_until_caught_up(settings)
    assert triton_inference_count(settings) == triton_before, (
        "Triton embedded rows for an unchanged catalog"
    )
    assert worker.metric("freshindex_embedded_chunks_total") == embedded_first
    assert worker.metric("freshindex_skipped_unchanged_total") == embedded_first

    # A price-only change rewrites metadata with the stored vectors: still no embedding.
    repriced = write_feed(
        tmp_path / "p.jsonl", [product(f"U{i}", sentences=4, price="1.00") for i in range(10)]
    )
    publish(settings, repriced)
    wait_until_caught_up(settings)
    assert triton_inference_count(settings) == triton_before
    hits = open_index(settings, create=False).snapshot()
    assert len(hits) == embedded_first


def test_the_publish_command_does_not_send_what_the_index_already_holds(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "c.jsonl", [product(f"S{i}", sentences=3) for i in range(10)])
    worker = start_worker()
    first = json.loads(cli(env, "publish", str(feed), "--json").stdout)
    assert (first["products"], first["unchanged"]) == (10, 0)
    wait_until_caught_up(settings)
    consumed = worker.metric("freshindex_consumed_total")

    again = json.loads(cli(env, "publish", str(feed), "--json").stdout)
    assert (again["products"], again["unchanged"]) == (0, 10)
    assert again["unchanged_chunks"] == first["chunks"]["count"]
    wait_until_caught_up(settings)
    assert worker.metric("freshindex_consumed_total") == consumed, "something was sent"

    # The index is the source of truth: a product it lost is sent again, the others are not.
    index = open_index(settings, create=False)
    index.delete_stale({}, {"S3": set()})
    assert not index.product("S3")
    third = json.loads(cli(env, "publish", str(feed), "--json").stdout)
    assert (third["products"], third["unchanged"]) == (1, 9)
    wait_until_caught_up(settings)
    assert open_index(settings, create=False).product("S3"), "the lost product is back"
    # Deletions always go out.
    gone = write_feed(tmp_path / "d.jsonl", [{"id": "S4", "deleted": True}])
    assert json.loads(cli(env, "publish", str(gone), "--json").stdout)["deletions"] == 1
    wait_until_caught_up(settings)
    assert not open_index(settings, create=False).product("S4")


def test_shrink_and_delete(settings: Settings, start_worker: StartWorker, tmp_path: Path) -> None:
    v1 = write_feed(
        tmp_path / "v1.jsonl",
        [product("LONG", sentences=30), product("GONE", sentences=10), product("KEEP")],
    )
    v2 = write_feed(
        tmp_path / "v2.jsonl",
        [product("LONG", sentences=3, salt="v2"), {"id": "GONE", "deleted": True}],
    )
    start_worker()
    publish(settings, v1)
    wait_until_caught_up(settings)
    first = open_index(settings, create=False).snapshot()
    long_before = sum(1 for p, _, _ in first.values() if p == "LONG")
    assert long_before > 3 and any(p == "GONE" for p, _, _ in first.values())

    publish(settings, v2)
    wait_until_caught_up(settings)
    after = open_index(settings, create=False).snapshot()
    expected = expected_state(settings, [v1, v2])
    assert_index_is(settings, expected)
    long_after = sorted(i for p, _, i in after.values() if p == "LONG")
    assert long_after == list(range(len(long_after))) and len(long_after) < long_before
    assert not any(p == "GONE" for p, _, _ in after.values())


def test_kill9_mid_stream_then_restart_converges(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "big.jsonl", [product(f"K{i}", sentences=9) for i in range(40)])
    expected = expected_state(settings, [feed])
    publish(settings, feed)
    worker = start_worker(FRESHINDEX_BATCH_SIZE="16")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            indexed = open_index(settings, create=False).count()
        except Exception:  # the worker has not created the table yet
            indexed = 0
        if indexed > 0:
            break
        time.sleep(0.1)
    worker.kill9()
    partial = open_index(settings, create=False).count()
    assert 0 < partial < len(expected), f"kill did not land mid-stream ({partial}/{len(expected)})"

    start_worker(FRESHINDEX_BATCH_SIZE="16")
    wait_until_caught_up(settings, timeout_s=300)
    assert_index_is(settings, expected)


def test_poison_messages_are_dead_lettered_and_the_worker_goes_on(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    raw = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    topic = settings.chunks_topic
    raw.send(topic, key=b"X1", value=b"\xff\xfe not json")
    raw.send(
        topic,
        key=b"X2",
        value=json.dumps({"kind": "chunk", "schema_version": 1, "product_id": "X2"}).encode(),
    )
    raw.send(
        topic,
        key=b"X3",
        value=ProductDeleted(product_id="X3")
        .model_dump_json()
        .replace(f'"schema_version":{SCHEMA_VERSION}', '"schema_version":99')
        .encode(),
    )
    raw.send(topic, key=b"OTHER", value=ProductDeleted(product_id="X4").model_dump_json().encode())
    raw.flush()
    raw.close()
    good = write_feed(tmp_path / "good.jsonl", [product("OK1"), product("OK2")])
    publish(settings, good)

    worker = start_worker()
    wait_until_caught_up(settings)
    assert_index_is(settings, expected_state(settings, [good]))
    total, letters = dead_letters(settings, limit=10)
    assert total == 4
    by_key = {d.key: d for d in letters}
    assert (
        by_key["X1"].stage == "decode"
        and by_key["X1"].topic == topic
        and by_key["X1"].offset is not None
    )
    assert by_key["X2"].stage == "validate" and "chunk_id" in by_key["X2"].message
    assert "schema_version" in by_key["X3"].message
    assert "differs from product_id" in by_key["OTHER"].message
    assert worker.alive()
