"""A worker process ends soon after SIGTERM whatever Faust's stop is waiting for (a watchdog
exits after the grace period), with the exit code of a misconfiguration when one stopped it;
a metrics port already in use is a misconfiguration naming FRESHINDEX_METRICS_PORT."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator

import faust
import pytest

from schemas.settings import Settings
from workers import shutdown as shutdown_module
from workers.app import serve_metrics
from workers.errors import Terminal
from workers.shutdown import EXIT_MISCONFIGURED, STOP_GRACE_S, BoundedWorker, Shutdown


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """os._exit recorded instead of done."""
    codes: list[int] = []
    monkeypatch.setattr(shutdown_module.os, "_exit", codes.append)
    yield codes


def wait_for(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_the_stop_is_bounded_well_within_ten_seconds() -> None:
    assert 0 < STOP_GRACE_S <= 8.0


def test_the_watchdog_exits_once_the_grace_period_is_over(exits: list[int]) -> None:
    stop = Shutdown(grace_s=0.2)
    started = time.monotonic()
    stop.arm()
    time.sleep(0.1)
    assert exits == [], "not before the grace period"
    wait_for(lambda: exits)
    assert exits == [0] and time.monotonic() - started >= 0.2


def test_the_watchdog_exits_with_the_recorded_code(
    exits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    kills: list[tuple[int, int]] = []
    monkeypatch.setattr(shutdown_module.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    stop = Shutdown(grace_s=0.05)
    stop.fail(EXIT_MISCONFIGURED, "FRESHINDEX_EMBEDDING_DIM is wrong")
    stop.fail(1, "a second reason does not replace the first code")
    assert kills == [(shutdown_module.os.getpid(), signal.SIGTERM)] * 2
    stop.arm()
    wait_for(lambda: exits)
    assert exits == [EXIT_MISCONFIGURED]


def test_arming_twice_starts_one_watchdog(exits: list[int]) -> None:
    stop = Shutdown(grace_s=0.3)
    stop.arm()
    stop.arm()
    wait_for(lambda: exits)
    time.sleep(0.5)
    assert exits == [0]


@pytest.fixture
def faust_worker(monkeypatch: pytest.MonkeyPatch) -> BoundedWorker:
    app = faust.App("shutdown-test", broker="kafka://127.0.0.1:9", web_enabled=False)
    return BoundedWorker(app, quiet=True, shutdown=Shutdown(grace_s=60))


def test_sigterm_arms_the_watchdog_before_faust_stops(
    faust_worker: BoundedWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduled: list[signal.Signals] = []
    monkeypatch.setattr(faust.Worker, "_schedule_shutdown", lambda self, sig: scheduled.append(sig))
    armed: list[bool] = []
    monkeypatch.setattr(faust_worker.shutdown, "arm", lambda: armed.append(True))
    faust_worker._schedule_shutdown(signal.SIGTERM)
    assert armed == [True] and scheduled == [signal.SIGTERM]


@pytest.mark.parametrize(
    ("recorded", "expected"), [(0, 0), (EXIT_MISCONFIGURED, EXIT_MISCONFIGURED)]
)
def test_the_process_exits_with_the_recorded_code(
    faust_worker: BoundedWorker, monkeypatch: pytest.MonkeyPatch, recorded: int, expected: int
) -> None:
    def faust_exits_zero() -> None:
        raise SystemExit(0)

    monkeypatch.setattr(faust_worker, "execute_from_commandline", faust_exits_zero)
    faust_worker.shutdown.exit_code = recorded
    with pytest.raises(SystemExit) as raised:
        faust_worker.run_until_stopped()
    assert raised.value.code == expected


def test_a_metrics_port_in_use_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(_env_file=None, metrics_port=port, metrics_host="127.0.0.1")  # type: ignore[call-arg]
        with pytest.raises(Terminal) as raised:
            serve_metrics(settings)
    assert raised.value.setting == "FRESHINDEX_METRICS_PORT"
    assert str(port) in str(raised.value) and "FRESHINDEX_METRICS_PORT" in str(raised.value)


def test_metrics_port_zero_serves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    monkeypatch.setattr("workers.app.start_http_server", lambda port, addr: started.append(port))
    serve_metrics(Settings(_env_file=None, metrics_port=0))  # type: ignore[call-arg]
    assert started == []
