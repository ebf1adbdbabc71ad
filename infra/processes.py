"""Index worker processes, as `make run` and the integration tests start them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`freshindex worker` in its own process group, appending its output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a crash would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def stop_worker(proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """SIGTERM (Faust stops cleanly), SIGKILL if it has not exited within `timeout_s`."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            kill_worker(proc)
