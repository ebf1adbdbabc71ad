"""The index worker's logging: every event one record, in `schemas.logs`' format.

mode (Faust's service layer) sets logging up itself when the worker starts and by default
redirects stdout/stderr into a logger one `write` at a time (`mode.utils.logging.FileLogProxy`,
at WARNING). When one of its service threads crashes (Faust's consumer thread, e.g. when
aiokafka's stop fails with the broker gone), mode prints the traceback with
`traceback.print_exc` to that stderr, so every line of one traceback became a WARNING record of
its own: dozens of lines, none with the exception. Here, for the life of the worker:
  - mode is given our handler and formatter (`schemas.logs.dict_config`) instead of its own;
  - stdout/stderr go to `schemas.logs.LogStream` instead of mode's proxy: a line of text one
    record, a traceback printed line by line one record;
  - a crashing mode service thread logs its exception as one record (`exc`), and so does an
    exception that ends any other thread (`threading.excepthook`), instead of printing it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mode.threads import ServiceThread

from schemas import logs
from schemas.settings import Settings

STDIO_LOGGER = "freshindex.stdio"
"""Logger of text written to the worker's stdout/stderr by libraries."""


def _log_crash(self: ServiceThread, msg: str, *fmt: Any, **kwargs: Any) -> None:
    """`ServiceThread.on_crash` (called in its `except` block) as one log record."""
    logging.getLogger("mode.threads").error(msg.format(*fmt), exc_info=True)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread else "a thread"
    logging.getLogger("freshindex.worker").error(
        "thread %s ended by an uncaught exception", name, exc_info=args.exc_value
    )


@contextmanager
def worker_logging(settings: Settings) -> Iterator[dict[str, Any]]:
    """For the block: the logging config to give mode's Worker (records to the current stderr),
    stdout/stderr redirected into records, crashes of threads logged as one record each."""
    config = logs.dict_config(settings.log_format, settings.worker_log_level.upper(), sys.stderr)
    saved = sys.stdout, sys.stderr, threading.excepthook, ServiceThread.on_crash
    stream = logs.LogStream(logging.getLogger(STDIO_LOGGER))
    setattr(ServiceThread, "on_crash", _log_crash)  # noqa: B010 (mypy: no assignment to a method)
    threading.excepthook = _log_thread_exception
    sys.stdout = sys.stderr = stream  # type: ignore[assignment]
    try:
        yield config
    finally:
        stream.flush()
        sys.stdout, sys.stderr = saved[0], saved[1]
        threading.excepthook = saved[2]
        setattr(ServiceThread, "on_crash", saved[3])  # noqa: B010
