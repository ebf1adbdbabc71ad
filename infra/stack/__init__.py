"""The local stacks: real services run as plain processes, one module per service.

- `tansu`     the embedded default broker (Kafka protocol, memory storage)
- `kafka`     Apache Kafka, one KRaft node, jars from Maven Central, data on disk
- `triton`    tritonserver with the MiniLM python-backend model
- `weaviate`  Weaviate built from its Go module, data on disk
- `supervisor` process groups (start, stop, kill, reap), `state` the files recording them,
  `local` the profiles and up/down/restart, `topics` Kafka admin and the dependency precheck,
  `build` fetches/builds the production-parity binaries into a per-version cache.

`freshindex up/down/restart`, `make run`, the integration-test fixtures and the benchmarks all
start services through this package.
"""

from infra.stack.errors import ServiceMissing, ServiceNotReady, StackError
from infra.stack.local import (
    DEFAULT_STACK,
    STACKS,
    Service,
    StackInfo,
    down,
    restart,
    status,
    stop_service,
    up,
)
from infra.stack.supervisor import free_port
from infra.stack.topics import check_services, ensure_topics

__all__ = [
    "DEFAULT_STACK",
    "STACKS",
    "Service",
    "ServiceMissing",
    "ServiceNotReady",
    "StackError",
    "StackInfo",
    "check_services",
    "down",
    "ensure_topics",
    "free_port",
    "restart",
    "status",
    "stop_service",
    "up",
]
