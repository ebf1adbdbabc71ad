"""How a worker process ends: soon after SIGTERM/SIGINT in every state, with an exit code that
says why.

Faust's own stop can take a minute. With the broker gone, aiokafka's `Fetcher.close()` cancels a
fetch task that is sleeping in its retry backoff and awaits it; the `CancelledError` escapes
`AIOKafkaConsumer.stop()`, so mode's consumer `ServiceThread` dies before it sets its shutdown
flag, and the main loop waits mode's `shutdown_timeout` (60 s) for a flag that never comes.
A producer flush or an index call running in a thread can hold a stop up the same way.

So a stop is bounded: the first SIGTERM/SIGINT starts Faust's stop as before (offsets of
finished batches are committed when the broker answers) and arms a watchdog thread that ends
the process with `os._exit` if the stop has not finished after `STOP_GRACE_S`. Nothing is lost
by that: a batch's offsets are acknowledged only after its writes and dead letters, so what was
not committed is replayed by the next worker, and replays are idempotent.

A misconfiguration found while running (`workers.errors.Terminal`) stops the process the same
way, with `EXIT_MISCONFIGURED`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

import faust

log = logging.getLogger("freshindex.worker")

STOP_GRACE_S = 7.0
"""Longest stop after SIGTERM/SIGINT before the process exits anyway."""
EXIT_MISCONFIGURED = 78
"""Exit status of a worker stopped by a misconfiguration (sysexits EX_CONFIG)."""


class Shutdown:
    """The process's exit code and its bounded stop; one per worker process."""

    def __init__(self, grace_s: float = STOP_GRACE_S) -> None:
        self.grace_s = grace_s
        self.exit_code = 0
        self._armed = threading.Event()

    def arm(self) -> None:
        """Start the watchdog (once): the process exits at the latest `grace_s` from now."""
        if self._armed.is_set():
            return
        self._armed.set()
        deadline = time.monotonic() + self.grace_s
        threading.Thread(
            target=self._watch, args=(deadline,), name="stop-watchdog", daemon=True
        ).start()

    def fail(self, code: int, reason: str) -> None:
        """Stop the worker as SIGTERM would, then exit with `code` (Faust's stop runs first)."""
        log.critical("stopping the worker: %s", reason)
        self.exit_code = self.exit_code or code
        os.kill(os.getpid(), signal.SIGTERM)

    def _watch(self, deadline: float) -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))
        log.warning(
            "the worker did not stop within %.0f s of the signal; exiting now (batches not"
            " acknowledged are replayed by the next worker)",
            self.grace_s,
        )
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(self.exit_code)


class BoundedWorker(faust.Worker):
    """`faust.Worker` whose stop on SIGTERM/SIGINT is bounded by `Shutdown`, and whose exit code
    is the one `Shutdown` recorded."""

    def __init__(self, *args: Any, shutdown: Shutdown, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdown = shutdown

    def _schedule_shutdown(self, signal: signal.Signals) -> None:  # mode's SIGTERM/SIGINT handler
        self.shutdown.arm()
        super()._schedule_shutdown(signal)

    def run_until_stopped(self) -> None:
        """Run until stopped; exit with the recorded code (Faust exits 0 on any signal)."""
        try:
            self.execute_from_commandline()
        except SystemExit as e:
            if self.shutdown.exit_code:
                raise SystemExit(self.shutdown.exit_code) from None
            raise e
