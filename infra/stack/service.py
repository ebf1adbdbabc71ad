"""What the supervisor needs to know of one service: `ServiceSpec`.

Each service module (`tansu`, `kafka`, `triton`, `weaviate`) builds one. Ports are chosen once,
when a service first starts in a home folder, and recorded: a restart reuses them, so clients
(workers, the CLI) reconnect by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Ports = dict[str, int]


@dataclass(frozen=True, kw_only=True)
class Launch:
    """A command line to start, with its environment and working directory."""

    cmd: list[str]
    env: dict[str, str]
    cwd: Path | None = None


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """One service of a local stack."""

    name: str
    """`tansu`, `kafka`, `triton` or `weaviate` (what `freshindex restart NAME` takes)."""
    title: str
    """How messages call it ("Apache Kafka broker")."""
    port_names: tuple[str, ...]
    """The loopback ports it needs, chosen once and recorded."""
    launch: Callable[[Path, Ports], Launch]
    """Prepare its files under the home folder and return how to start it."""
    ready: Callable[[Ports], bool]
    """True once it answers real requests."""
    address: Callable[[Ports], str]
    """The host:port (or URL) clients use."""
    settings_env: Callable[[Path, Ports], dict[str, str]]
    """The `FRESHINDEX_*` variables that point freshindex at it."""
    stop_timeout_s: float = 15.0
    """Grace period between SIGTERM and SIGKILL."""
    allocate_ports: Callable[[], Ports] | None = None
    """Chooses the ports on first start when they depend on each other (default: any free)."""
