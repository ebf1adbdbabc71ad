"""The hostile feed corpus (tests/unit/test_hostile_feeds.py) published for real, on both stacks:
every case goes through the real producer to the real broker while a real worker indexes. No
case raises or stops the publish of the next one, every rejection is a dead letter the broker
accepted (all of them read back from the topic), and the index ends exactly as the accepted and
deleted rows the publisher sent say, in publish order."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.models import Chunk, DeadLetter, ProductDeleted
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.unit.test_hostile_feeds import CASES, assert_balanced, write_case
from workers.index.factory import open_index
from workers.ops import dead_letters, wait_until_caught_up

pytestmark = pytest.mark.integration


class Recorded:
    """The real sink, remembering the state its messages describe (chunk_id -> content hash)."""

    def __init__(self, sink: KafkaSink) -> None:
        self.sink = sink
        self.products: dict[str, dict[str, str]] = {}

    def send(self, message: Chunk | ProductDeleted) -> None:
        self.sink.send(message)
        if isinstance(message, ProductDeleted):
            self.products.pop(message.product_id, None)
        elif message.chunk_index == 0:  # a product update is the full set of its chunks
            self.products[message.product_id] = {message.chunk_id: message.content_hash}
        else:
            self.products[message.product_id][message.chunk_id] = message.content_hash

    def send_dead_letter(self, letter: DeadLetter) -> None:
        self.sink.send_dead_letter(letter)

    def flush(self) -> None:
        self.sink.flush()

    def state(self) -> dict[str, str]:
        return {cid: h for chunks in self.products.values() for cid, h in chunks.items()}


def test_every_hostile_feed_ends_in_the_report_the_dead_letters_and_the_index(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker()
    rejected = 0
    with KafkaSink(settings) as kafka:
        sink = Recorded(kafka)
        for i, name in enumerate(sorted(CASES)):
            folder = tmp_path / f"case{i:02d}"
            folder.mkdir()
            feed, _ = write_case(folder, name)
            report = publish_feed(feed, sink, chunker_for(settings))
            assert_balanced(report)
            rejected += len(report.rejected)
    wait_until_caught_up(settings, timeout_s=300)

    total, letters = dead_letters(settings, limit=rejected + 10)
    assert rejected > 40  # the corpus is mostly rejections
    assert total == rejected, "one dead letter per rejected row or refused input, none lost"
    assert all(d.stage == "feed" and d.payload_bytes is not None for d in letters)

    index = open_index(settings, create=False)
    try:
        stored = {cid: h for cid, (_, h, _) in index.snapshot().items()}
    finally:
        index.close()
    assert stored == sink.state()
    assert stored, "the good rows around the hostile ones are indexed"
