"""The parser process: documents are parsed in a child process that can be stopped.

Parsers spend seconds inside C code (libxml2, zlib, pdfminer's loops) and a thread cannot be
killed, so a parse that runs away can only be stopped with its process; and a parse that
allocates gigabytes must not take the publisher down with it. `parse_in_worker` sends each
document to one long-lived worker process (a fresh interpreter started with `python -c`, the
document libraries imported once; no `multiprocessing` start method, so a caller's script needs
no `__main__` guard) and waits at most `parse_timeout_s` for the answer:

- the `ParsedDocument`, or the `DocumentError` the parse raised, pickled back;
- no answer in time: the worker is killed and the document rejected ("parse took over N s");
  the next document starts a fresh worker (a few seconds: the imports);
- the worker died (a crash in a C library, the kernel's OOM killer): the document is rejected
  with how it died, and the next one starts a fresh worker.

Memory: once warmed up, the worker caps its address space (RLIMIT_AS, Linux) at what it maps
then plus `parse_max_memory_bytes`. An allocation past the cap fails (MemoryError, or a C
library's own allocation error, told apart by the process's peak size reaching the cap): the
document is rejected with the memory reason and the worker retires. It also retires once it
maps more than half its allowance while idle, so fragmentation never builds up across
documents. One document is parsed at a time (a lock); the worker exits when this process closes
its end of the socket, and is killed when this process exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from ingest.documents.errors import DocumentError, DocumentParserUnavailable
from ingest.documents.limits import DocumentLimits, exceeded, size
from ingest.documents.model import ParsedDocument

logger = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]
_BOOT = "import sys; from ingest.documents.worker import serve; serve(*map(int, sys.argv[1:]))"
_READY = "ready"
_START_TIMEOUT_S = 300.0
_STOP_TIMEOUT_S = 10.0
_MEMORY_MARGIN = 64 << 20  # a peak this close to the cap means an allocation hit it
_CRASHES = frozenset({-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT})


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """What the worker sends back for one document."""

    result: ParsedDocument | DocumentError
    retire: bool
    """The worker exits after this answer (its memory is suspect)."""


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        ours, theirs = socket.socketpair()
        with theirs:
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", _BOOT, str(theirs.fileno()), str(memory_bytes)],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    env=_worker_env(),
                )
            except OSError as e:
                ours.close()
                raise DocumentParserUnavailable(f"cannot start the parser process: {e}") from e
        self.conn = Connection(ours.detach())
        self._await_ready()

    def _await_ready(self) -> None:
        try:
            if self.conn.poll(_START_TIMEOUT_S) and self.conn.recv() == _READY:
                return
        except (EOFError, OSError):
            pass
        self.stop()
        raise DocumentParserUnavailable(
            f"the document parser process did not start ({self.exit_status()}); its error "
            "output above says why"
        )

    def parse(self, path: Path, limits: DocumentLimits) -> _Answer:
        """Send one document; the answer, or a rejection when the worker is too slow or dies."""
        try:
            self.conn.send((path, limits))
            if self.conn.poll(limits.parse_timeout_s):
                answer: _Answer = self.conn.recv()
                return answer
        except (EOFError, OSError):
            self.stop()
            return _Answer(result=self._died(), retire=True)
        timeout = exceeded(f"parse took over {limits.parse_timeout_s:g} s", "parse_timeout_s")
        return _Answer(result=timeout, retire=True)

    def _died(self) -> DocumentError:
        """Why the worker died: a crash in a C library under the memory cap is most likely an
        allocation that failed there (libxml2 crashes rather than report some of them)."""
        status = self.exit_status()
        if self.process.returncode in _CRASHES:
            limit = size(self.memory_bytes)
            return exceeded(
                f"the parser process crashed ({status}), most likely out of memory at the "
                f"{limit} limit",
                "parse_max_memory_bytes",
            )
        return DocumentError(f"the parser process died while parsing ({status})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def serves(self, limits: DocumentLimits) -> bool:
        """Alive, and capped at the memory `limits` allow."""
        return self.alive() and self.memory_bytes == limits.parse_max_memory_bytes

    def stop(self) -> None:
        """Kill the worker (if it still runs) and reap it."""
        self.conn.close()
        if self.alive():
            self.process.kill()
        self.process.wait(_STOP_TIMEOUT_S)

    def exit_status(self) -> str:
        code = self.process.poll()
        if code is None:
            return "still running"
        if code < 0:
            name = signal.Signals(-code).name
            hint = ", by the kernel's out-of-memory killer?" if -code == signal.SIGKILL else ""
            return f"killed by {name}{hint}"
        return f"exit status {code}"


_lock = threading.Lock()
_current: _Worker | None = None


def parse_in_worker(path: Path, limits: DocumentLimits) -> ParsedDocument:
    """Parse one document in the worker process within `limits` (wall time and memory too)."""
    global _current
    with _lock:
        if _current is None or not _current.serves(limits):
            _stop_current()
            _current = _Worker(limits.parse_max_memory_bytes)
        answer = _current.parse(path, limits)
        if answer.retire:
            _stop_current()
    if isinstance(answer.result, DocumentError):
        raise answer.result
    return answer.result


def _stop_current() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


atexit.register(_stop_current)


def _worker_env() -> dict[str, str]:
    """This environment, with the project importable in the worker however it was found here."""
    paths = [str(_ROOT), os.environ.get("PYTHONPATH", "")]
    return os.environ | {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


# --------------------------------------------------------------------------- the worker side


def serve(fd: int, memory_bytes: int) -> None:
    """The worker process: warm up, cap memory, then parse documents until the parent goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = Connection(fd)
    from ingest.documents import markup

    markup.warm_up()
    memory = _Memory.capped(memory_bytes)
    conn.send(_READY)
    while True:
        try:
            path, limits = conn.recv()
        except EOFError:
            return
        answer = _answer(path, limits, memory)
        conn.send(answer)
        if answer.retire:
            return


def _answer(path: Path, limits: DocumentLimits, memory: _Memory) -> _Answer:
    from ingest.documents.parse import parse_in_process

    result: ParsedDocument | DocumentError
    peak = _vm("VmPeak")  # a parse hit the cap only if it raised the peak up to it
    try:
        result = parse_in_process(path, limits)
    except MemoryError:
        result = _out_of_memory(memory)
    except DocumentError as e:
        result = _out_of_memory(memory) if memory.hit_cap(since=peak) else e
    except Exception as e:  # a bug, not the document: say so, keep the traceback in the log
        logger.exception("parser failed on %s", path)
        result = DocumentError(f"the parser failed: {type(e).__name__}: {e}")
    return _Answer(result=result, retire=memory.hit_cap(since=peak) or memory.grown())


def _out_of_memory(memory: _Memory) -> DocumentError:
    """The memory reason, with the allowance the parse really had (less than the setting when
    this process inherited a tighter address-space limit, e.g. `ulimit -v`)."""
    limit = size(memory.effective_allowance())
    return exceeded(f"the parse needed more than {limit} of memory", "parse_max_memory_bytes")


@dataclass(frozen=True, kw_only=True)
class _Memory:
    """The worker's address-space cap (None where the platform does not report it)."""

    baseline: int | None
    cap: int | None
    allowance: int

    @classmethod
    def capped(cls, allowance: int) -> _Memory:
        """Cap this process at what it maps now plus `allowance` bytes."""
        baseline = _vm("VmSize")
        if baseline is None:
            return cls(baseline=None, cap=None, allowance=allowance)
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = baseline + allowance
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        return cls(baseline=baseline, cap=cap, allowance=allowance)

    def effective_allowance(self) -> int:
        """What a parse may map above the baseline: the setting, or less under an inherited
        limit."""
        if self.cap is None or self.baseline is None:
            return self.allowance
        return max(0, min(self.allowance, self.cap - self.baseline))

    def hit_cap(self, *, since: int | None) -> bool:
        """The peak rose during this parse (above `since`, the peak before it) to the cap. A
        process that started near an inherited limit has its peak there from the start, and
        that alone says nothing about the document."""
        peak = _vm("VmPeak")
        if self.cap is None or peak is None:
            return False
        return peak >= self.cap - _MEMORY_MARGIN and (since is None or peak > since)

    def grown(self) -> bool:
        now = _vm("VmSize")
        return (
            self.baseline is not None
            and now is not None
            and (now > self.baseline + self.allowance // 2)
        )


def _vm(field: str) -> int | None:
    """A size from /proc/self/status in bytes (VmSize: mapped now, VmPeak: most ever)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
