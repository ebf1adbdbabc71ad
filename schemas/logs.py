"""One log line format for every freshindex process (CLI, index worker, retrieval service).

`FRESHINDEX_LOG_FORMAT` chooses it:
  - `plain` (default), for a terminal: `2026-12-03 10:15:02,123 WARNING freshindex.worker: ...`;
    an exception's traceback follows on lines indented by four spaces, so every event starts
    at the left margin with its timestamp, whatever its length;
  - `json`, for log pipelines: exactly one JSON object per line, with `ts` (ISO 8601, UTC),
    `level`, `logger`, `message`, `exc` (the whole traceback, one string), `stack`, and the
    record's extra fields (`topic`, `partition`, `offset`, `product_id`, `chunk_id`, `stage`:
    `coordinates` builds them where the code logs a message's problem).

Both formatters pass every text through `schemas.redact.redact` at the end, extra fields
included (the record factory of `install_log_redaction` has redacted message and traceback
already); JSON fields are redacted before they are escaped, so an escaped secret cannot slip by.

Installed once per process, at its boundary: `configure` (the CLI), `dict_config` (the worker:
mode's logging set-up takes it), the root logger's handler (the retrieval service: uvicorn
propagates). Libraries' own writes to stdout/stderr are not log records; where a process hands
them to logging (the worker), `LogStream` makes one record of each line, and one record of a
traceback printed line by line.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from schemas.redact import redact

LogFormat = Literal["plain", "json"]
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTINUATION = "    "
"""Indent of a plain event's second and later lines (traceback, multi-line message)."""

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
"""Attributes every record has; the others are the caller's extra fields."""


def coordinates(
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    **more: object,
) -> dict[str, object]:
    """`extra=` of a log call about one message: its coordinates (and e.g. `product_id`,
    `chunk_id`, `stage`) as fields of the JSON line; None values are left out."""
    fields = {"topic": topic, "partition": partition, "offset": offset, **more}
    return {name: value for name, value in fields.items() if value is not None}


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a caller added to the record (`extra=`), in the order they were set."""
    return {
        k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    }


class PlainFormatter(logging.Formatter):
    """`asctime LEVEL logger: message`, continuation lines indented; redacted."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record))
        return text.replace("\n", "\n" + CONTINUATION)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; every text redacted before it is escaped."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exc"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        for name, value in extra_fields(record).items():
            event.setdefault(name, value)
        return json.dumps(_redacted(event), ensure_ascii=False, default=str)


def _redacted(value: Any) -> Any:
    """`value` with every string in it (keys and values, nested) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of `log_format`."""
    return JsonFormatter() if log_format == "json" else PlainFormatter()


def configure(log_format: LogFormat, level: int | str, stream: TextIO | None = None) -> None:
    """The process's one log handler, on the root logger (a process boundary only: the CLI)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def dict_config(log_format: LogFormat, level: int | str, stream: TextIO) -> dict[str, Any]:
    """`configure` as a `logging.config.dictConfig` (mode's Worker sets its logging up with it)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"freshindex": {"()": formatter, "log_format": log_format}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "freshindex",
                "stream": stream,
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


_TRACEBACK_STARTS = (
    "Traceback (most recent call last):",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


class LogStream(io.TextIOBase):
    """A text stream that turns what is written to it into log records of `logger`: one record
    per line, except a traceback printed line by line (`traceback.print_exc`), which becomes
    one record from its `Traceback (most recent call last):` line to its exception line (a
    chained traceback: one whole record per exception of the chain, as nothing says whether
    another part follows). What a record's handler writes is never written back into it."""

    def __init__(self, logger: logging.Logger, level: int = logging.WARNING) -> None:
        super().__init__()
        self.logger = logger
        self.level = level
        self._partial = ""
        self._block: list[str] = []
        self._lock = threading.RLock()
        self._local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if getattr(self._local, "busy", False):
            return len(text)
        with self._lock:
            self._partial += text
            while "\n" in self._partial:
                line, self._partial = self._partial.split("\n", 1)
                self._line(line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._partial:
                line, self._partial = self._partial, ""
                self._line(line)
            if self._block:
                self._emit("\n".join(self._block))
                self._block = []

    def _line(self, line: str) -> None:
        if self._block:
            self._block.append(line)
            if line and not line[0].isspace() and not line.startswith(_TRACEBACK_STARTS):
                self._emit("\n".join(self._block))  # the exception line ends the traceback
                self._block = []
        elif line.startswith(_TRACEBACK_STARTS):
            self._block = [line]
        elif line.strip():
            self._emit(line)

    def _emit(self, text: str) -> None:
        self._local.busy = True
        try:
            self.logger.log(self.level, "%s", text.strip("\n"))
        finally:
            self._local.busy = False
