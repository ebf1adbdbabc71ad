"""Weaviate: the production-parity vector index, a server built from its Go module.

`build_binary` runs `go install github.com/weaviate/weaviate/cmd/weaviate-server@<version>`
with CGO off (as its release binaries are built) into the cache, once per version (a cold build
takes many minutes on 2 cores; `make production-deps`). The server runs with persistence under
`home/weaviate/data`, REST and gRPC on loopback ports, no vectorizer modules (freshindex brings
its own vectors), and everything that would leave loopback switched off: telemetry (it probes
cloud metadata addresses and reports usage), the Go profiling listener on :6060, and a cluster
layer that would advertise a private address (advertise and bind 127.0.0.1). Its gRPC and
internal data ports still bind all interfaces whatever the bind address says, so they take
free ports, and the tests can run in a loopback-only network namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

from infra.stack.cache import cache_dir
from infra.stack.errors import ServiceMissing, StackError
from infra.stack.service import Launch, Ports, ServiceSpec
from infra.stack.supervisor import HOST, PROBE_TIMEOUT_S, free_port, free_port_pair

WEAVIATE_VERSION = "v1.36.5"
MODULE = "github.com/weaviate/weaviate/cmd/weaviate-server"
NODE = "freshindex-node1"  # fixed: Raft state is keyed by the host name


def binary_path() -> Path:
    return cache_dir() / "weaviate" / WEAVIATE_VERSION / "bin" / "weaviate-server"


def build_binary() -> Path:
    """`go install` the pinned server into the cache (no-op when it is already there)."""
    target = binary_path()
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise ServiceMissing("building Weaviate needs Go 1.26 (`go` on PATH)")
    env = {
        **os.environ,
        "GOBIN": str(target.parent),
        "CGO_ENABLED": "0",
        "GOFLAGS": "-trimpath",
    }
    done = subprocess.run(
        [go, "install", f"{MODULE}@{WEAVIATE_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not target.is_file():
        raise StackError(
            f"go install of Weaviate {WEAVIATE_VERSION} failed:\n{done.stderr[-3000:]}"
        )
    return target


def ready(http_url: str) -> bool:
    """GET /v1/.well-known/ready is 200 (once the schema and Raft are up)."""
    try:
        with urllib.request.urlopen(
            f"{http_url}/v1/.well-known/ready", timeout=PROBE_TIMEOUT_S
        ) as response:
            return int(response.status) == 200
    except OSError:
        return False


def _env(home: Path, ports: Ports) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG", "TZ")}
    return {
        **keep,
        "PERSISTENCE_DATA_PATH": str(home / "weaviate" / "data"),
        "CLUSTER_HOSTNAME": NODE,
        "CLUSTER_IN_LOCALHOST": "true",
        "CLUSTER_ADVERTISE_ADDR": HOST,
        "CLUSTER_BIND_ADDR": HOST,
        "CLUSTER_GOSSIP_BIND_PORT": str(ports["gossip"]),
        "CLUSTER_DATA_BIND_PORT": str(ports["data"]),
        "RAFT_PORT": str(ports["raft"]),
        "RAFT_INTERNAL_RPC_PORT": str(ports["raft_rpc"]),
        "RAFT_JOIN": f"{NODE}:{ports['raft']}",
        "RAFT_BOOTSTRAP_EXPECT": "1",
        "GRPC_PORT": str(ports["grpc"]),
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",  # loopback only
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_MODULES": "",
        "DISABLE_TELEMETRY": "true",
        "GO_PROFILING_DISABLE": "true",
        "PROMETHEUS_MONITORING_ENABLED": "false",
        "QUERY_DEFAULTS_LIMIT": "25",
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "text",
        "GOMAXPROCS": "2",
    }


def _launch(home: Path, ports: Ports) -> Launch:
    binary = binary_path()
    if not binary.is_file():
        raise ServiceMissing(
            f"no Weaviate {WEAVIATE_VERSION} server at {binary}: run `make production-deps`"
        )
    (home / "weaviate" / "data").mkdir(parents=True, exist_ok=True)
    cmd = [str(binary), "--host", HOST, "--port", str(ports["http"]), "--scheme", "http"]
    return Launch(cmd=cmd, env=_env(home, ports), cwd=home / "weaviate")


def _allocate_ports() -> Ports:
    """Weaviate's cluster layer reaches a node's data port at gossip+1 and its Raft RPC port at
    raft+1 whatever the variables say (a single node fails its Raft election otherwise). Each
    port is free when asked for but not held, so two asks can get the same one: drawn again
    until all six differ (it happened: "bind: address already in use", HTTP = Raft)."""
    for _ in range(100):
        gossip, raft = free_port_pair(), free_port_pair()
        ports = {
            "http": free_port(),
            "grpc": free_port(),
            "gossip": gossip,
            "data": gossip + 1,
            "raft": raft,
            "raft_rpc": raft + 1,
        }
        if len(set(ports.values())) == len(ports):
            return ports
    raise StackError("Weaviate: no six distinct free loopback ports after 100 draws")


def spec() -> ServiceSpec:
    def url(ports: Ports) -> str:
        return f"http://{HOST}:{ports['http']}"

    return ServiceSpec(
        name="weaviate",
        title=f"Weaviate {WEAVIATE_VERSION}",
        port_names=("http", "grpc", "gossip", "data", "raft", "raft_rpc"),
        launch=_launch,
        ready=lambda ports: ready(url(ports)),
        address=url,
        settings_env=lambda home, ports: {
            "FRESHINDEX_INDEX_BACKEND": "weaviate",
            "FRESHINDEX_WEAVIATE_URL": url(ports),
            "FRESHINDEX_WEAVIATE_GRPC_URL": f"{HOST}:{ports['grpc']}",
        },
        stop_timeout_s=20.0,
        allocate_ports=_allocate_ports,
    )
