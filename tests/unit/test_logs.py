"""Log lines (`schemas.logs`, `workers.logs`): one event per record and per JSON line, the
traceback one field, message coordinates as fields, no credential in either format; a traceback
printed line by line (mode's crashed service thread) is one record, not dozens."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from mode.threads import ServiceThread

from schemas import logs, redact
from schemas.settings import Settings
from workers.logs import STDIO_LOGGER, worker_logging

REPO = Path(__file__).resolve().parents[2]
PLANTED = 'PLANTED-"quoted\\key'
"""A credential with characters JSON escapes: neither it nor its escaped form may show."""


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def failing() -> BaseException:
    try:
        try:
            raise KeyError(f"token {PLANTED}")
        except KeyError as e:
            raise RuntimeError("index write failed") from e
    except RuntimeError as e:
        return e


def record(
    msg: str = "dead letter at %s", *args: object, exc: BaseException | None = None, **extra: object
) -> logging.LogRecord:
    r = logging.getLogger("freshindex.worker").makeRecord(
        "freshindex.worker",
        logging.ERROR,
        __file__,
        1,
        msg,
        args or ("chunks[2]@41",),
        (type(exc), exc, exc.__traceback__) if exc else None,
        extra=extra or None,
    )
    return r


def test_a_json_line_is_one_event_with_its_traceback_and_coordinates_as_fields() -> None:
    where = logs.coordinates("chunks", 2, 41, product_id="GA-1", chunk_id=None)
    line = logs.JsonFormatter().format(record(exc=failing(), **where))
    assert "\n" not in line
    event = json.loads(line)
    assert event["level"] == "ERROR" and event["logger"] == "freshindex.worker"
    assert event["message"] == "dead letter at chunks[2]@41"
    assert event["ts"].endswith("+00:00")
    assert (event["topic"], event["partition"], event["offset"]) == ("chunks", 2, 41)
    assert event["product_id"] == "GA-1" and "chunk_id" not in event
    assert event["exc"].startswith("Traceback (most recent call last):")
    assert "KeyError" in event["exc"] and event["exc"].rstrip().endswith("index write failed")


def test_no_credential_in_a_json_or_plain_line_wherever_it_was() -> None:
    redact.register([PLANTED])
    r = record("login with %s failed", PLANTED, exc=failing(), product_id=PLANTED, note=[PLANTED])
    escaped = json.dumps(PLANTED)[1:-1]
    for formatter in (logs.JsonFormatter(), logs.PlainFormatter()):
        text = formatter.format(r)
        assert PLANTED not in text and escaped not in text and "***" in text
    event = json.loads(logs.JsonFormatter().format(r))
    assert event["product_id"] == "***" and event["note"] == ["***"]
    assert "token ***" in event["exc"]


def test_a_plain_event_keeps_its_traceback_lines_indented_under_it() -> None:
    text = logs.PlainFormatter().format(record(exc=failing()))
    first, *rest = text.split("\n")
    assert " ERROR freshindex.worker: dead letter at chunks[2]@41" in first
    assert first[:4].isdigit() and rest
    assert all(line.startswith(logs.CONTINUATION) for line in rest)


def test_configure_installs_one_handler_on_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.NullHandler(), logging.NullHandler()])
    monkeypatch.setattr(root, "level", root.level)
    stream = io.StringIO()
    logs.configure("json", logging.INFO, stream)
    assert len(root.handlers) == 1
    logging.getLogger("tests.configure").info("connected to %s", "127.0.0.1:9092")
    assert json.loads(stream.getvalue())["logger"] == "tests.configure"


def test_a_traceback_printed_line_by_line_is_one_record(records: Records) -> None:
    stream = logs.LogStream(logging.getLogger(STDIO_LOGGER))
    print("a line of text", file=stream)
    stream.write("written in ")
    stream.write("two parts\n")
    error = failing()
    traceback.print_exception(type(error), error, error.__traceback__, file=stream)
    print("after", file=stream)
    messages = [r.getMessage() for r in records.records if r.name == STDIO_LOGGER]
    assert messages[:2] == ["a line of text", "written in two parts"]
    assert messages[-1] == "after"
    tracebacks = messages[2:-1]
    assert tracebacks and all(
        m.startswith(("Traceback", "The above exception")) for m in tracebacks
    )
    assert len(tracebacks) == 2  # a chained traceback: each part whole, with its exception line
    assert "KeyError: 'token PLANTED" in tracebacks[0].splitlines()[-1]
    assert tracebacks[1].endswith("RuntimeError: index write failed")


def test_the_worker_logs_a_crashed_service_thread_as_one_record(records: Records) -> None:
    thread = ServiceThread.__new__(ServiceThread)
    with worker_logging(Settings(_env_file=None)) as config:  # type: ignore[call-arg]
        assert config["formatters"]["freshindex"]["log_format"] == "plain"
        assert isinstance(sys.stderr, logs.LogStream)
        try:
            raise ConnectionError("broker gone")
        except ConnectionError:
            thread.on_crash("{0!r} crashed: {1!r}", "AIOKafkaConsumerThread", "boom")
        worker = threading.Thread(target=lambda: 1 / 0, name="a-thread")
        worker.start()
        worker.join()
    assert not isinstance(sys.stderr, logs.LogStream), "restored"
    crashes = [r for r in records.records if r.name == "mode.threads"]
    assert len(crashes) == 1 and crashes[0].exc_info is not None
    assert "crashed" in crashes[0].getMessage()
    thread_errors = [r for r in records.records if "thread a-thread ended" in r.getMessage()]
    assert len(thread_errors) == 1 and thread_errors[0].exc_info is not None


def test_every_stderr_line_of_the_cli_is_json_with_no_credential(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"id": "GA-1", "title": "Tomato Feed", "price": "6.99", "currency": "EUR"}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRESHINDEX_")}
    env.update(
        FRESHINDEX_HOME=str(tmp_path / "home"),
        FRESHINDEX_LOG_FORMAT="json",
        FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        FRESHINDEX_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        FRESHINDEX_KAFKA_SASL_USERNAME="alice",
        FRESHINDEX_KAFKA_SASL_PASSWORD="PLANTED-sasl-7Qx",
        FRESHINDEX_SEMANTIC_CHUNKING="false",
        FRESHINDEX_DEDUP_ENABLED="false",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.cli_fast_fail", "-v", "publish", str(feed)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = done.stderr.splitlines()
    events = [json.loads(line) for line in lines if not line.startswith("error: ")]
    assert len(events) > 5, done.stderr[-2000:]  # kafka-python's DEBUG lines, as JSON
    assert any(e["logger"].startswith("kafka") for e in events)
    assert "PLANTED" not in done.stdout + done.stderr
    assert any("'sasl_plain_password': '***'" in e["message"] for e in events)
