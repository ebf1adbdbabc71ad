"""The process supervisor: every service of the local stack runs as its own process group.

A service is started in a new session (process group id = its pid), logs to
`home/logs/<name>.log`, and is stopped by signalling the whole group (SIGTERM, then SIGKILL
after a grace period), so helper processes such as tritonserver's python stubs or a JVM's
children never outlive it. What runs is recorded by `infra.stack.state`; before a recorded pid
is signalled, `owns_group` checks that it still runs the recorded program (pids get reused).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger("freshindex.infra")

HOST = "127.0.0.1"
POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
_LOG_TAIL_LINES = 20
_LOG_LINE_CHARS = 400
# glog error lines (tritonserver: "E1121 15:31:48..."), JVM/Go/Rust/Python error levels
_ERROR_LINE = re.compile(r"^E\d{4} |\bERROR\b|Error:|Traceback|level=(error|fatal)|\bFATAL\b")
# errors every CPU-only tritonserver logs: not the reason anything failed
_LOG_NOISE = ("CudaDriverHelper", "NVML", "DCGM")
# helpers a service leaves in its group (tritonserver's python-backend stubs)
HELPER_PROGRAMS = {"triton_python_backend_stub"}
# Processes this interpreter started, kept so that stopping them reaps them (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """A loopback port p with p+1 also free (for servers that derive one port from another)."""
    for _ in range(100):
        port = free_port()
        if port < 65535:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((HOST, port + 1))
                except OSError:
                    continue
                return port
    raise OSError("no two consecutive free loopback ports")


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or HOST, int(port)


def port_open(address: str) -> bool:
    try:
        with socket.create_connection(split_address(address), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process from /proc, None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[2] == pgid and stat[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def binary_of(pid: int) -> str:
    """File name of the program a process runs (argv[0]), "" if it does not exist."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return ""
    return Path(argv0.decode(errors="replace")).name


def is_ours(pid: int, binary: str) -> bool:
    """The recorded pid still runs the recorded binary (guards against pid reuse)."""
    return bool(binary) and pid > 0 and pid_alive(pid) and binary_of(pid) == binary


def owns_group(pgid: int, binary: str) -> bool:
    """The recorded service, or what is left of its group (e.g. an orphaned python stub)."""
    if pgid <= 0:
        return False
    if is_ours(pgid, binary):
        return True
    programs = ({binary} | HELPER_PROGRAMS) - {""}
    return any(binary_of(pid) in programs for pid in group_members(pgid))


def launched_binary(pid: int) -> str:
    """File name of the program we started as `pid` (not read back from /proc: right after
    exec, /proc/<pid>/cmdline can still be empty)."""
    proc = _CHILDREN.get(pid)
    if proc is None or not isinstance(proc.args, list):
        return binary_of(pid)
    return Path(str(proc.args[0])).name


def _reap(pid: int) -> None:
    """Collect the exit status of our own child so it does not linger as a zombie."""
    proc = _CHILDREN.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        leader = _CHILDREN.get(pgid)
        if leader is not None and leader.poll() is not None:
            _reap(pgid)
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)


def stop_group(name: str, pgid: int, timeout_s: float) -> None:
    """SIGTERM the process group, wait, SIGKILL what is left, reap the leader."""
    signal_group(pgid, signal.SIGTERM)
    if not _wait_group_gone(pgid, timeout_s):
        log.warning("%s (pgid %d) ignored SIGTERM for %.0f s: SIGKILL", name, pgid, timeout_s)
        signal_group(pgid, signal.SIGKILL)
        _wait_group_gone(pgid, 5.0)
    _reap(pgid)


def kill_group(pgid: int) -> None:
    """SIGKILL the whole group at once, as a crash would; reap the leader."""
    signal_group(pgid, signal.SIGKILL)
    _wait_group_gone(pgid, 5.0)
    _reap(pgid)


def spawn(
    name: str, cmd: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session, stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    log.info("started %s (pid %d): %s", name, proc.pid, " ".join(cmd))
    return proc


def log_excerpt(path: Path) -> str:
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
