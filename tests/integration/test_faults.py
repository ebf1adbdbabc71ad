"""Faults of a dependency while a catalog is indexed, on real services and worker processes:
Triton stopped gracefully (it unloads its model and answers NOT_FOUND meanwhile), the index
away, the broker gone when the worker is told to stop, and a misconfiguration. A dependency's
fault is never a dead letter and the index converges; a SIGTERM ends a worker within 10 s in
every state; a misconfiguration stops the worker naming the setting and commits nothing.

Every test leaves every service of the session's stack running (try/finally)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from infra.stack import StackInfo, restart, stop_service
from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import WorkerProcess, expected_state, product, write_feed
from workers.index.factory import open_index
from workers.ops import consumer_lag, dead_letters, wait_until_caught_up
from workers.shutdown import EXIT_MISCONFIGURED

pytestmark = pytest.mark.integration

OUTAGE_S = 10.0
SIGTERM_BOUND_S = 10.0
BATCH = "32"  # small batches: the index fills batch by batch, so a fault lands mid-stream


def publish(settings: Settings, feed: Path) -> None:
    with KafkaSink(settings) as sink:
        publish_feed(feed, sink, chunker_for(settings))


def catalog(tmp_path: Path, prefix: str, products: int = 40) -> Path:
    rows = [product(f"{prefix}{i}", sentences=9) for i in range(products)]
    return write_feed(tmp_path / f"{prefix}.jsonl", list(rows))


def indexed(settings: Settings) -> int:
    try:
        with closing(open_index(settings, create=False)) as index:
            return index.count()
    except Exception:  # not created yet, or away during the fault
        return -1


def wait_until_indexing(settings: Settings, worker: WorkerProcess, timeout_s: float = 300) -> int:
    """Rows in the index once the worker has written its first batch."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_text()[-3000:]
        if (n := indexed(settings)) > 0:
            return n
        time.sleep(0.1)
    raise TimeoutError(f"nothing indexed after {timeout_s} s:\n{worker.log_text()[-3000:]}")


def assert_converged(settings: Settings, expected: dict[str, str], worker: WorkerProcess) -> None:
    time.sleep(1)
    assert worker.alive(), f"the worker exited during the fault:\n{worker.log_text()[-3000:]}"
    wait_until_caught_up(settings, timeout_s=400)
    total, letters = dead_letters(settings, limit=5)
    assert total == 0, f"a dependency's fault became {total} dead letters, e.g. {letters[:2]}"
    with closing(open_index(settings, create=False)) as index:
        assert index.count() == len(expected), "duplicates or missing chunks"
        assert {cid: h for cid, (_, h, _) in index.snapshot().items()} == expected
    assert worker.alive(), "the worker exited during the fault"


@contextmanager
def away(stack: StackInfo, name: str) -> Iterator[None]:
    """Service `name` stopped (SIGTERM) for the block; always running again afterwards."""
    try:
        stop_service(stack.home, name)
        yield
    finally:
        restart(stack.home, name)


# --------------------------------------------------------------------------- Triton


def test_triton_graceful_stop_while_indexing_holds_and_converges(
    stack: StackInfo, settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = catalog(tmp_path, "T")
    expected = expected_state(settings, [feed])
    publish(settings, feed)
    worker = start_worker(FRESHINDEX_BATCH_SIZE=BATCH)
    before = wait_until_indexing(settings, worker)
    with away(stack, "triton"):  # SIGTERM: tritonserver unloads the model, then exits
        time.sleep(OUTAGE_S)
        during = indexed(settings)
    assert before < len(expected) and during < len(expected), "Triton stopped after the end"
    assert_converged(settings, expected, worker)
    assert worker.metric("freshindex_embedding_errors_total") > 0, "no batch was ever held"


# --------------------------------------------------------------------------- the index


@contextmanager
def lance_table_away(settings: Settings) -> Iterator[None]:
    """The table's folder is away (a file stands in its place, so nothing can recreate it)."""
    table = Path(settings.lancedb_uri) / f"{settings.index_name}.lance"
    moved = table.with_name(table.name + ".away")
    os.rename(table, moved)
    try:
        table.write_text("the disk is away")
        yield
    finally:
        table.unlink(missing_ok=True)
        os.rename(moved, table)


@contextmanager
def index_away(stack: StackInfo, settings: Settings) -> Iterator[None]:
    """The index unavailable for the block: LanceDB's table folder, or the Weaviate server."""
    if settings.index_backend == "lancedb":
        with lance_table_away(settings):
            yield
        return
    assert "weaviate" in stack.services, f"no index service in {sorted(stack.services)}"
    with away(stack, "weaviate"):
        yield


def test_index_outage_while_indexing_holds_and_converges(
    stack: StackInfo, settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = catalog(tmp_path, "I")
    expected = expected_state(settings, [feed])
    publish(settings, feed)
    worker = start_worker(FRESHINDEX_BATCH_SIZE=BATCH)
    before = wait_until_indexing(settings, worker)
    with index_away(stack, settings):
        time.sleep(OUTAGE_S)
    after = indexed(settings)
    assert before < len(expected) and after < len(expected), "the outage came after the end"
    assert_converged(settings, expected, worker)
    assert worker.metric("freshindex_index_errors_total") > 0, "no batch was ever held"


# --------------------------------------------------------------------------- SIGTERM


def sigterm_seconds(worker: WorkerProcess) -> float:
    """Seconds from SIGTERM to the worker's exit (SIGKILL after 60 s)."""
    started = time.monotonic()
    os.killpg(worker.proc.pid, signal.SIGTERM)
    try:
        worker.proc.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill9()
    return time.monotonic() - started


def test_sigterm_with_the_broker_gone_ends_the_worker_within_10s(
    stack: StackInfo,
    settings: Settings,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    feed = write_feed(tmp_path / "b.jsonl", [product(f"B{i}") for i in range(5)])
    publish(settings, feed)
    worker = start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    broker = stack.broker.name
    try:
        stop_service(stack.home, broker)
        time.sleep(3)  # the worker's fetches, heartbeats and commits now fail and retry
        assert worker.alive()
        seconds = sigterm_seconds(worker)
    finally:
        if worker.alive():
            worker.kill9()
        restart(stack.home, broker)  # Tansu comes back empty: only after the worker is gone
    print(f"worker exited {seconds:.2f} s after SIGTERM")
    assert seconds < SIGTERM_BOUND_S, f"exited {seconds:.1f} s after SIGTERM"


def test_sigterm_while_a_batch_is_held_ends_the_worker_within_10s(
    stack: StackInfo,
    settings: Settings,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    worker = start_worker()
    worker.metric("freshindex_consumed_total")  # served once the start-up checks passed
    with away(stack, "triton"):
        publish(settings, catalog(tmp_path, "H", products=10))
        deadline = time.monotonic() + 120
        while "held" not in worker.log_text() and time.monotonic() < deadline:
            assert worker.alive(), worker.log_text()[-3000:]
            time.sleep(0.2)
        assert "held" in worker.log_text(), "the worker never held a batch"
        seconds = sigterm_seconds(worker)
    print(f"worker exited {seconds:.2f} s after SIGTERM")
    assert seconds < SIGTERM_BOUND_S, f"exited {seconds:.1f} s after SIGTERM"
    assert worker.proc.returncode == 0


# --------------------------------------------------------------------------- misconfiguration


def test_a_wrong_embedding_dimension_stops_the_worker_and_commits_nothing(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(tmp_path / "m.jsonl", [product(f"M{i}") for i in range(5)])
    publish(settings, feed)
    lag_before = sum(p.lag for p in consumer_lag(settings))
    assert lag_before > 0
    worker = start_worker(FRESHINDEX_EMBEDDING_DIM="512")  # the model's vectors are 384-d
    try:
        code = worker.proc.wait(180)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not stop:\n{worker.log_text()[-3000:]}")
    log = worker.log_text()
    assert code == EXIT_MISCONFIGURED, log[-3000:]
    assert "FRESHINDEX_EMBEDDING_DIM" in log
    assert "held" not in log, "a misconfiguration is not retried"
    assert sum(p.lag for p in consumer_lag(settings)) == lag_before, "offsets were committed"
    assert dead_letters(settings, limit=5)[0] == 0
