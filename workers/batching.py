"""Self-clocking batches for the index worker: small when the stream is thin, full under backlog.

faust-streaming's `take(max_, within)` (and `noack_take`) fills one batch at a time: while the
agent works on a batch, its buffer takes one more event and then blocks, so every batch starts
filling only when the previous one is done, and either waits the whole `within` (a thin stream:
that wait is every message's latency) or fills at the rate the consumer hands events over (a
backlog: the model waits for the fill). `make bench` measured both sides of that trade: 0.5 s
gave 0.90 of the model's in-process speed but a freshness p99 of 4.7 s at half load; 0.1 s
halved the freshness and the throughput too.

`Batcher` keeps filling while a batch is processed (up to one batch ahead), and hands over
whatever has arrived as soon as the worker asks: up to `max_size` events, waiting up to
`linger_s` for more only when fewer than that are there. The batch size then follows the load
by itself (the events that arrived while the previous batch was embedded): one or a few
messages at a time on a thin stream, full batches, with no fill wait at all, under backlog.
This is the `linger.ms` of Kafka's producer applied on the consumer side.

`adaptive_take` puts a Faust stream's events through a `Batcher`, the way faust's own `take`
does (a stream processor that collects `current_event`, the stream consumed passively in the
background), and leaves acknowledging to the caller, like `noack_take`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

POLL_S = 1.0
"""How long `adaptive_take` waits for a first event before it looks at whether the stream stops."""


class Batcher(Generic[T]):
    """Items in arrival order, taken in batches of at most `max_size` (see the module's text).
    One producer calls `put`, one consumer calls `take`."""

    def __init__(self, max_size: int, linger_s: float, *, hold: int | None = None) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        if linger_s < 0:
            raise ValueError(f"linger_s must not be negative, not {linger_s}")
        self.max_size = max_size
        self.linger_s = linger_s
        self.hold = max(max_size, hold if hold is not None else max_size)
        """Most items waiting at once; `put` waits for room beyond it (backpressure)."""
        self._items: deque[T] = deque()
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T) -> None:
        """Add `item`; waits while `hold` items are waiting."""
        while len(self._items) >= self.hold:
            self._room.clear()
            await self._room.wait()
        self._items.append(item)
        self._arrived.set()
        if len(self._items) >= self.max_size:
            self._full.set()

    async def take(self, timeout_s: float | None = None) -> list[T]:
        """The next batch: waits up to `timeout_s` for a first item ([] if none came), then, with
        fewer than `max_size` waiting, up to `linger_s` for the batch to fill."""
        if not self._items:
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except TimeoutError:
                return []
        if len(self._items) < self.max_size and self.linger_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.linger_s)
        batch = [self._items.popleft() for _ in range(min(self.max_size, len(self._items)))]
        if not self._items:
            self._arrived.clear()
        if len(self._items) < self.max_size:
            self._full.clear()
        self._room.set()
        return batch


async def adaptive_take(stream: Any, max_size: int, linger_s: float) -> AsyncIterator[list[Any]]:
    """A Faust stream's events in `Batcher` batches, never acknowledged here (the caller acks
    each event once its batch is done, as with `noack_take`). Uses the stream hooks that
    faust-streaming 0.15.3's own `take` uses (`add_processor`, `current_event`,
    `_enable_passive`): recheck them when faust-streaming is upgraded."""
    batcher: Batcher[Any] = Batcher(max_size, linger_s)

    async def add_to_batcher(value: Any) -> Any:
        try:
            event = stream.current_event
            if event is None:
                raise RuntimeError("adaptive_take: the stream has no current event")
            await batcher.put(event)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # as faust's take: a broken buffer crashes the stream, loudly
            log.exception("cannot add an event to the batch: %r", e)
            await stream.crash(e)
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # the caller acknowledges, after its batch is done
    stream.add_processor(add_to_batcher)
    stream._enable_passive(stream.channel.__aiter__())
    try:
        while not stream.should_stop:
            events = await batcher.take(timeout_s=POLL_S)
            if events:
                yield events
    finally:
        stream.enable_acks = acks
        stream._processors.remove(add_to_batcher)
