"""Start, stop and restart a local stack: the services of one profile, under one home folder.

Profiles (the `FRESHINDEX_STACK` setting):
- `tansu+lancedb` (embedded default, Python only): Tansu, tritonserver; the index is a LanceDB
  folder in the home folder.
- `kafka+weaviate` (production parity): Apache Kafka (KRaft), tritonserver, Weaviate.

`up` starts only what is not already running and ready; a service that was stopped or crashed
comes back on its recorded ports. `restart(home, name)` restarts one service on its ports;
`stop_service` and `kill_service` stop one (gracefully or as a crash would) and keep its ports
recorded, for `up` or `restart` to bring it back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra.stack import kafka, tansu, triton, weaviate
from infra.stack.errors import ServiceNotReady, StackError
from infra.stack.service import ServiceSpec
from infra.stack.state import (
    Recorded,
    State,
    read_state,
    remove_state,
    write_env,
    write_state,
)
from infra.stack.supervisor import (
    POLL_S,
    free_port,
    is_ours,
    kill_group,
    launched_binary,
    log_excerpt,
    owns_group,
    pid_alive,
    spawn,
    stop_group,
)

log = logging.getLogger("freshindex.infra")

STACKS = ("tansu+lancedb", "kafka+weaviate")
DEFAULT_STACK = "tansu+lancedb"


@dataclass(frozen=True)
class Service:
    """One running process of the stack."""

    name: str
    """`tansu`, `kafka`, `triton` or `weaviate`."""
    pid: int
    """Process id (also its process-group id: each service runs in its own session)."""
    address: str
    """host:port (or URL) clients use (Triton: the gRPC address)."""
    log: Path
    """Its stdout+stderr."""
    ports: dict[str, int] = field(default_factory=dict, compare=False)
    """Every port it listens on."""


@dataclass(frozen=True)
class StackInfo:
    """A running local stack and how to point freshindex at it."""

    home: Path
    """Folder holding stack.json, stack.env, logs/ and the services' data."""
    stack: str
    """`tansu+lancedb` or `kafka+weaviate`."""
    services: dict[str, Service]
    """By name."""
    env: dict[str, str]
    """`FRESHINDEX_*` variables pointing at this stack (also written to home/stack.env)."""

    @property
    def broker(self) -> Service:
        return self.services["kafka" if "kafka" in self.services else "tansu"]

    @property
    def triton(self) -> Service:
        return self.services["triton"]

    @property
    def triton_http_url(self) -> str:
        return self.env["FRESHINDEX_TRITON_HTTP_URL"]

    @property
    def triton_grpc_url(self) -> str:
        return self.env["FRESHINDEX_TRITON_URL"]


def specs_for(stack: str, model_repository: Path | None = None) -> list[ServiceSpec]:
    """The services of a profile, in start order (all start at once; none waits for another)."""
    if stack == "tansu+lancedb":
        return [tansu.spec(), triton.spec(model_repository)]
    if stack == "kafka+weaviate":
        return [kafka.spec(), triton.spec(model_repository), weaviate.spec()]
    raise StackError(f"unknown stack {stack!r}: use one of {', '.join(STACKS)} (FRESHINDEX_STACK)")


def _settings_env(home: Path, stack: str, specs: list[ServiceSpec], state: State) -> dict[str, str]:
    env = {"FRESHINDEX_STACK": stack}
    if stack.endswith("+lancedb"):
        env |= {
            "FRESHINDEX_INDEX_BACKEND": "lancedb",
            "FRESHINDEX_LANCEDB_URI": str(home / "lancedb"),
        }
    for spec in specs:
        env |= spec.settings_env(home, state.services[spec.name].ports)
    return env


def allocate_ports(spec: ServiceSpec) -> dict[str, int]:
    """Ports for a service's first start (its own rule, else any free ones)."""
    if spec.allocate_ports is not None:
        return spec.allocate_ports()
    return {name: free_port() for name in spec.port_names}


def _running(spec: ServiceSpec, recorded: Recorded | None) -> bool:
    return (
        recorded is not None
        and is_ours(recorded.pid, recorded.binary)
        and spec.ready(recorded.ports)
    )


@dataclass
class _Starting:
    spec: ServiceSpec
    recorded: Recorded
    started: float


def _start(
    home: Path, spec: ServiceSpec, ports: dict[str, int], extra_env: dict[str, str] | None = None
) -> _Starting:
    launch = spec.launch(home, ports)
    log_path = home / "logs" / f"{spec.name}.log"
    env = {**launch.env, **(extra_env or {})}
    proc = spawn(spec.name, launch.cmd, env, log_path, cwd=launch.cwd)
    recorded = Recorded(
        name=spec.name,
        pid=proc.pid,
        binary=launched_binary(proc.pid),
        ports=ports,
        log=log_path,
    )
    return _Starting(spec, recorded, time.monotonic())


def _not_ready(starting: _Starting, why: str) -> ServiceNotReady:
    r = starting.recorded
    return ServiceNotReady(
        f"{starting.spec.title} {why} at {starting.spec.address(r.ports)}: see {r.log}\n"
        f"{log_excerpt(r.log)}"
    )


def _wait_ready(starting: list[_Starting], timeout_s: float) -> None:
    """Poll every service until ready; raise ServiceNotReady if one exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    pending = list(starting)
    while pending:
        for s in list(pending):
            if not pid_alive(s.recorded.pid):
                raise _not_ready(s, "exited")
            if s.spec.ready(s.recorded.ports):
                log.info("%s ready in %.1f s", s.spec.name, time.monotonic() - s.started)
                pending.remove(s)
        if pending and time.monotonic() >= deadline:
            raise _not_ready(pending[0], f"not ready after {timeout_s:.0f} s")
        if pending:
            time.sleep(POLL_S)


def _stop_recorded(recorded: Recorded, timeout_s: float) -> bool:
    if owns_group(recorded.pid, recorded.binary):
        stop_group(recorded.name, recorded.pid, timeout_s)
        return True
    return False


def up(
    home: Path,
    *,
    stack: str = DEFAULT_STACK,
    model_repository: Path | None = None,
    timeout_s: float = 180,
) -> StackInfo:
    """Start the services of `stack` that are not running (on their recorded ports, if any)."""
    home = Path(home).resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    if stack.endswith("+lancedb"):
        (home / "lancedb").mkdir(parents=True, exist_ok=True)
    specs = specs_for(stack, model_repository)
    state = read_state(home)
    if state.stack and state.stack != stack:
        log.info("switching %s from %s to %s", home, state.stack, stack)
        down(home)
        state = State()
    state.stack = stack
    starting: list[_Starting] = []
    try:
        for spec in specs:
            recorded = state.services.get(spec.name)
            if _running(spec, recorded):
                continue
            if recorded is not None:
                _stop_recorded(recorded, spec.stop_timeout_s)  # what is left of a dead one
            ports = dict(recorded.ports) if recorded else allocate_ports(spec)
            s = _start(home, spec, ports)
            starting.append(s)
            state.services[spec.name] = s.recorded
            write_state(home, state)  # recorded before waiting: `down` can stop a broken `up`
        _wait_ready(starting, timeout_s)
    except BaseException:
        for s in starting:
            stop_group(s.spec.name, s.recorded.pid, 5.0)
        if not any(is_ours(r.pid, r.binary) for r in state.services.values()):
            remove_state(home)
        raise
    env = _settings_env(home, stack, specs, state)
    write_env(home, env)
    return _info(home, stack, specs, state, env)


def _info(
    home: Path, stack: str, specs: list[ServiceSpec], state: State, env: dict[str, str]
) -> StackInfo:
    services = {
        spec.name: Service(
            spec.name,
            state.services[spec.name].pid,
            spec.address(state.services[spec.name].ports),
            state.services[spec.name].log,
            dict(state.services[spec.name].ports),
        )
        for spec in specs
    }
    return StackInfo(home=home, stack=stack, services=services, env=env)


def down(home: Path, timeout_s: float | None = None) -> list[str]:
    """Stop every service recorded in `home` (whole process groups); safe when nothing runs.
    Data folders stay (Kafka's log, Weaviate's objects, LanceDB): the next `up` finds them."""
    home = Path(home).resolve()
    stopped = []
    for name, recorded in read_state(home).services.items():
        if _stop_recorded(recorded, timeout_s or 20.0):
            stopped.append(name)
            log.info("stopped %s (pid %d)", name, recorded.pid)
    remove_state(home)
    return stopped


def _spec_of(home: Path, name: str) -> tuple[State, ServiceSpec]:
    state = read_state(home)
    if not state.stack:
        raise StackError(f"no stack recorded in {home}: run `freshindex up` first")
    specs = {s.name: s for s in specs_for(state.stack)}
    if name not in specs or name not in state.services:
        raise StackError(
            f"no service {name!r} in the {state.stack} stack: use one of {', '.join(specs)}"
        )
    return state, specs[name]


def stop_service(home: Path, name: str, *, kill: bool = False) -> None:
    """Stop one service (SIGTERM, or SIGKILL with `kill`); its ports stay recorded."""
    home = Path(home).resolve()
    state, spec = _spec_of(home, name)
    recorded = state.services[name]
    if owns_group(recorded.pid, recorded.binary):
        if kill:
            kill_group(recorded.pid)
        else:
            stop_group(name, recorded.pid, spec.stop_timeout_s)
    state.services[name] = Recorded(
        name=name, pid=0, binary=recorded.binary, ports=recorded.ports, log=recorded.log
    )
    write_state(home, state)


def restart(home: Path, name: str, *, timeout_s: float = 180) -> Service:
    """Stop one service if it runs and start it again on the same ports; wait until ready."""
    home = Path(home).resolve()
    stop_service(home, name)
    state, spec = _spec_of(home, name)
    s = _start(home, spec, dict(state.services[name].ports))
    state.services[name] = s.recorded
    write_state(home, state)
    _wait_ready([s], timeout_s)
    r = s.recorded
    return Service(name, r.pid, spec.address(r.ports), r.log, dict(r.ports))


def start_service(
    home: Path,
    spec: ServiceSpec,
    ports: dict[str, int],
    *,
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 180,
) -> Recorded:
    """Start one service outside any recorded stack (tests that need their own server) and wait
    until it is ready; stop it with `supervisor.stop_group(name, recorded.pid, ...)`."""
    s = _start(home, spec, ports, extra_env)
    try:
        _wait_ready([s], timeout_s)
    except BaseException:
        stop_group(spec.name, s.recorded.pid, 5.0)
        raise
    return s.recorded


def status(home: Path) -> dict[str, dict[str, object]]:
    """Per recorded service: pid, address, ports, alive (process runs), ready (answers requests)."""
    home = Path(home).resolve()
    state = read_state(home)
    if not state.stack:
        return {}
    specs = {s.name: s for s in specs_for(state.stack)}
    result: dict[str, dict[str, object]] = {}
    for name, recorded in state.services.items():
        spec = specs.get(name)
        alive = is_ours(recorded.pid, recorded.binary)
        result[name] = {
            "pid": recorded.pid,
            "address": spec.address(recorded.ports) if spec else "",
            "ports": recorded.ports,
            "alive": alive,
            "ready": bool(alive and spec and spec.ready(recorded.ports)),
        }
    return result
