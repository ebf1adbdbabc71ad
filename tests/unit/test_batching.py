"""The worker's self-clocking batches (workers.batching)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from workers.batching import Batcher

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_a_thin_stream_is_handed_over_after_the_linger_not_held_for_a_full_batch() -> None:
    async def scenario() -> tuple[list[int], float]:
        batcher: Batcher[int] = Batcher(max_size=100, linger_s=0.05)
        await batcher.put(1)
        await batcher.put(2)
        started = time.perf_counter()
        batch = await batcher.take(timeout_s=5)
        return batch, time.perf_counter() - started

    batch, took = run(scenario())
    assert batch == [1, 2]
    assert took < 1.0  # the linger (0.05 s), not the 5 s timeout nor a wait for 100 items


def test_under_backlog_batches_are_full_and_in_order_without_waiting_for_the_linger() -> None:
    async def scenario() -> tuple[list[list[int]], float]:
        batcher: Batcher[int] = Batcher(max_size=4, linger_s=30, hold=10)
        for i in range(10):
            await batcher.put(i)
        started = time.perf_counter()
        batches = [await batcher.take(timeout_s=5), await batcher.take(timeout_s=5)]
        return batches, time.perf_counter() - started

    batches, took = run(scenario())
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert took < 5  # full batches never linger (30 s)


def test_the_batch_size_follows_what_arrived_while_the_previous_batch_was_processed() -> None:
    """A producer at a steady rate and a consumer that takes 0.2 s per batch: after the first
    (small) batch, each batch holds what arrived during the previous one's processing."""

    async def scenario() -> list[int]:
        batcher: Batcher[int] = Batcher(max_size=1000, linger_s=0.01)
        sizes: list[int] = []

        async def produce() -> None:
            for i in range(60):
                await batcher.put(i)
                await asyncio.sleep(0.01)

        producer = asyncio.create_task(produce())
        taken = 0
        while taken < 60:
            batch = await batcher.take(timeout_s=5)
            sizes.append(len(batch))
            taken += len(batch)
            await asyncio.sleep(0.2)  # "embedding"
        await producer
        return sizes

    sizes = run(scenario())
    assert sum(sizes) == 60
    assert sizes[0] <= 3  # the first message did not wait for others beyond the linger
    assert max(sizes[1:]) >= 10  # then ~0.2 s worth of arrivals per batch


def test_put_waits_for_room_beyond_hold() -> None:
    async def scenario() -> tuple[bool, bool, list[int]]:
        batcher: Batcher[int] = Batcher(max_size=2, linger_s=0, hold=3)
        for i in range(3):
            await batcher.put(i)
        blocked = asyncio.create_task(batcher.put(3))
        await asyncio.sleep(0.05)
        waited = not blocked.done()
        first = await batcher.take(timeout_s=1)
        await asyncio.wait_for(blocked, 1)
        return waited, blocked.done(), first + await batcher.take(timeout_s=1)

    waited, done, items = run(scenario())
    assert waited and done
    assert items == [0, 1, 2, 3]


def test_take_returns_nothing_when_nothing_arrives_within_the_timeout() -> None:
    async def scenario() -> list[int]:
        batcher: Batcher[int] = Batcher(max_size=2, linger_s=0.01)
        return await batcher.take(timeout_s=0.05)

    assert run(scenario()) == []


@pytest.mark.parametrize(("max_size", "linger_s"), [(0, 0.1), (10, -1.0)])
def test_rejects_nonsense_sizes(max_size: int, linger_s: float) -> None:
    with pytest.raises(ValueError):
        Batcher(max_size=max_size, linger_s=linger_s)
