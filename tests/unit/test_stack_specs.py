"""The local stacks' service definitions, without starting anything: loopback everywhere,
nothing that phones home, ports chosen once and kept, state files that round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.stack import kafka, weaviate
from infra.stack.errors import ServiceMissing, StackError
from infra.stack.local import specs_for
from infra.stack.state import Recorded, State, read_state, write_state


def test_profiles_name_their_services() -> None:
    assert [s.name for s in specs_for("tansu+lancedb")] == ["tansu", "triton"]
    assert [s.name for s in specs_for("kafka+weaviate")] == ["kafka", "triton", "weaviate"]
    with pytest.raises(StackError, match="FRESHINDEX_STACK"):
        specs_for("redpanda+qdrant")


def test_kafka_listens_and_advertises_only_loopback(tmp_path: Path) -> None:
    props = kafka._properties(tmp_path, {"broker": 19092, "controller": 19093})
    lines = dict(line.split("=", 1) for line in props.splitlines())
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert lines["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert lines["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert lines["log.dirs"] == str(tmp_path / "kafka" / "data")
    assert lines["auto.create.topics.enable"] == "false"


def test_kafka_cluster_id_is_kafka_shaped() -> None:
    cluster_id = kafka.base64_uuid()
    assert len(cluster_id) == 22 and "=" not in cluster_id


def test_kafka_without_jars_names_the_make_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRESHINDEX_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ServiceMissing, match="make production-deps"):
        kafka.spec().launch(tmp_path, {"broker": 1, "controller": 2})


def test_weaviate_env_keeps_everything_on_loopback_and_off_telemetry(tmp_path: Path) -> None:
    ports = weaviate._allocate_ports()
    env = weaviate._env(tmp_path, ports)
    assert env["DISABLE_TELEMETRY"] == "true"
    assert env["GO_PROFILING_DISABLE"] == "true"
    assert env["CLUSTER_ADVERTISE_ADDR"] == env["CLUSTER_BIND_ADDR"] == "127.0.0.1"
    assert env["ENABLE_MODULES"] == "" and env["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert env["PERSISTENCE_DATA_PATH"] == str(tmp_path / "weaviate" / "data")
    assert ports["data"] == ports["gossip"] + 1 and ports["raft_rpc"] == ports["raft"] + 1
    assert env["RAFT_JOIN"] == f"{weaviate.NODE}:{ports['raft']}"
    assert not any(key.startswith(("AWS_", "GOOGLE_", "AZURE_")) for key in env)


def test_weaviate_ports_are_drawn_again_until_all_six_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the first draw gives HTTP the Raft port (free when asked, not held), the second is clean
    pairs = iter([40000, 40010, 41000, 41010])
    singles = iter([40010, 40020, 41020, 41030])
    monkeypatch.setattr(weaviate, "free_port_pair", lambda: next(pairs))
    monkeypatch.setattr(weaviate, "free_port", lambda: next(singles))
    ports = weaviate._allocate_ports()
    assert len(set(ports.values())) == 6
    assert ports["gossip"] == 41000 and ports["http"] == 41020


def test_weaviate_without_binary_names_the_make_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRESHINDEX_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ServiceMissing, match="make production-deps"):
        weaviate.spec().launch(tmp_path, weaviate._allocate_ports())


def test_state_round_trips_and_keeps_ports_of_a_stopped_service(tmp_path: Path) -> None:
    state = State(
        stack="kafka+weaviate",
        services={
            "kafka": Recorded(
                name="kafka",
                pid=0,
                binary="java",
                ports={"broker": 1, "controller": 2},
                log=tmp_path / "k.log",
            )
        },
    )
    write_state(tmp_path, state)
    assert read_state(tmp_path) == state
    (tmp_path / "stack.json").write_text("{not json")
    assert read_state(tmp_path) == State()
