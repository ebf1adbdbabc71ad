"""BatchIndexer with a fake embedder (the real `Embedder` interface) and a real LanceDB index."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ingest.prepare.chunk import Chunker
from schemas.models import Chunk, ProductDeleted, ProductRecord
from tests.unit.fakes import (
    PUBLISHED,
    TOPIC,
    HashEmbedder,
    raw_messages,
    record,
    split_at,
    text_vector,
)
from workers.batch import RawMessage
from workers.errors import EmbeddingUnavailable
from workers.index.lancedb import LanceIndex
from workers.indexer import BatchIndexer, BatchResult

DIM = 8
LONG = " ".join(
    f"Step {i}: water the seedlings in the morning and feed them weekly." for i in range(14)
)

Snapshot = dict[str, tuple[str, str, int]]
ChunkFn = Callable[[ProductRecord], list[Chunk]]
MakeChunker = Callable[..., Chunker]


@pytest.fixture
def chunk(chunker: MakeChunker) -> ChunkFn:
    make = chunker(64)
    return lambda product: make.chunk(product, PUBLISHED)


@pytest.fixture
def index(tmp_path: Path) -> LanceIndex:
    return LanceIndex(str(tmp_path / "lance"), "t", DIM)


def run(indexer: BatchIndexer, messages: list[RawMessage]) -> BatchResult:
    return asyncio.run(indexer.process(messages))


def expected(*products: list[Chunk]) -> Snapshot:
    return {
        c.chunk_id: (c.product_id, c.content_hash, c.chunk_index)
        for chunks in products
        for c in chunks
    }


def deletion(product_id: str) -> ProductDeleted:
    return ProductDeleted(product_id=product_id, published_at=PUBLISHED)


def test_first_batch_embeds_and_writes_everything(index: LanceIndex, chunk: ChunkFn) -> None:
    a, b = chunk(record("A", description=LONG)), chunk(record("B"))
    embedder = HashEmbedder(DIM)
    result = run(BatchIndexer(index, embedder), raw_messages([*a, *b]))
    n = len(a) + len(b)
    assert (
        result.consumed,
        result.embedded,
        result.written,
        result.skipped,
        result.metadata_only,
    ) == (n, n, n, 0, 0)
    assert result.deleted == 0 and result.dead_letters == []
    assert sorted(embedder.texts_embedded) == sorted(c.text for c in [*a, *b])
    assert index.snapshot() == expected(a, b)
    stored = index.lookup([c.chunk_id for c in a])
    for c in a:
        np.testing.assert_allclose(stored[c.chunk_id].vector, text_vector(c.text, DIM), rtol=1e-6)


def test_same_batch_again_embeds_and_writes_nothing(index: LanceIndex, chunk: ChunkFn) -> None:
    chunks = [*chunk(record("A", description=LONG)), *chunk(record("B"))]
    embedder = HashEmbedder(DIM)
    indexer = BatchIndexer(index, embedder)
    run(indexer, raw_messages(chunks))
    calls = len(embedder.calls)
    before = index.freshness(PUBLISHED)
    again = run(indexer, raw_messages(chunks, start=len(chunks)))
    assert (again.embedded, again.written, again.metadata_only, again.deleted) == (0, 0, 0, 0)
    assert again.skipped == len(chunks)
    assert len(embedder.calls) == calls
    assert index.count() == len(chunks)
    assert sorted(index.freshness(PUBLISHED)) == sorted(before)  # rows not rewritten


def test_republished_later_is_still_unchanged(
    index: LanceIndex, chunk: ChunkFn, chunker: MakeChunker
) -> None:
    chunks = chunk(record("A", description=LONG))
    embedder = HashEmbedder(DIM)
    indexer = BatchIndexer(index, embedder)
    run(indexer, raw_messages(chunks))
    later = chunker(64).chunk(record("A", description=LONG), PUBLISHED.replace(year=2027))
    result = run(indexer, raw_messages(later))
    assert result.skipped == len(chunks) and result.embedded == 0


def test_price_change_rewrites_metadata_with_the_stored_vectors(
    index: LanceIndex, chunk: ChunkFn
) -> None:
    old = chunk(record("A", description=LONG, price="6.99"))
    new = chunk(record("A", description=LONG, price="4.99"))
    embedder = HashEmbedder(DIM)
    indexer = BatchIndexer(index, embedder)
    run(indexer, raw_messages(old))
    vectors = {k: v.vector for k, v in index.lookup([c.chunk_id for c in old]).items()}
    calls = len(embedder.calls)
    result = run(indexer, raw_messages(new))
    assert (result.embedded, result.metadata_only, result.written, result.skipped) == (
        0,
        len(new),
        len(new),
        0,
    )
    assert len(embedder.calls) == calls
    stored = index.lookup([c.chunk_id for c in new])
    for c in new:
        assert stored[c.chunk_id].record_hash == c.metadata_hash()
        np.testing.assert_array_equal(stored[c.chunk_id].vector, vectors[c.chunk_id])
    hits = index.search("seedlings", text_vector("seedlings", DIM), k=50, filters=[])
    assert {h.fields["price"] for h in hits} == {4.99}


def test_text_change_re_embeds_only_changed_chunks(index: LanceIndex, chunk: ChunkFn) -> None:
    old = chunk(record("A", description=LONG))
    new = chunk(record("A", description=LONG.replace("Step 13:", "Last step:")))
    assert len(new) == len(old)
    changed = [n for o, n in zip(old, new, strict=True) if o.content_hash != n.content_hash]
    assert 0 < len(changed) < len(new)
    embedder = HashEmbedder(DIM)
    indexer = BatchIndexer(index, embedder)
    run(indexer, raw_messages(old))
    embedder.calls.clear()
    result = run(indexer, raw_messages(new))
    assert embedder.texts_embedded == [c.text for c in changed]
    assert result.embedded == len(changed) and result.skipped == len(new) - len(changed)
    assert index.snapshot() == expected(new)


@pytest.mark.parametrize("same_batch", [False, True])
def test_shrink_leaves_exactly_the_new_chunks(
    index: LanceIndex, chunk: ChunkFn, same_batch: bool
) -> None:
    long, short = (
        chunk(record("A", description=LONG)),
        chunk(record("A", description="Feed weekly. Water daily.")),
    )
    other = chunk(record("B"))
    assert len(long) > len(short) >= 2
    indexer = BatchIndexer(index, HashEmbedder(DIM))
    messages = raw_messages([*long, *other, *short])
    if same_batch:
        result = run(indexer, messages)
        assert result.written == len(short) + len(other)
    else:
        run(indexer, messages[: len(long) + len(other)])
        result = run(indexer, messages[len(long) + len(other) :])
        assert result.deleted == len(long) - len(short)
    assert index.snapshot() == expected(short, other)


def test_deletion_leaves_no_chunk_of_the_product(index: LanceIndex, chunk: ChunkFn) -> None:
    a, b = chunk(record("A", description=LONG)), chunk(record("B"))
    indexer = BatchIndexer(index, HashEmbedder(DIM))
    run(indexer, raw_messages([*a, *b]))
    result = run(indexer, raw_messages([deletion("A")], start=100))
    assert result.deleted == len(a)
    assert index.snapshot() == expected(b)
    tombstone = RawMessage(topic=TOPIC, partition=0, offset=101, key=b"B", value=None)
    assert run(indexer, [tombstone]).deleted == len(b)
    assert index.count() == 0


def history(chunk: ChunkFn) -> tuple[list[RawMessage], Snapshot]:
    """A topic's worth of updates, shrinks, deletions and re-adds, and the state it must leave."""
    a1 = chunk(record("A", description=LONG))
    a2 = chunk(record("A", description=LONG, price="1.00"))  # price only
    a3 = chunk(record("A", description="Feed weekly. Water daily."))  # shrinks
    b1 = chunk(record("B", description=LONG[:300]))
    b2 = chunk(record("B", title="Bird Table", description=LONG[300:]))  # re-added after deletion
    c1 = chunk(record("C"))
    c2 = chunk(record("C", description="Rewritten text entirely."))
    d1 = chunk(record("D"))  # deleted by a Kafka tombstone
    e1 = chunk(record("E", description=LONG))  # deleted and re-added unchanged
    records: list[Chunk | ProductDeleted] = [
        *a1,
        *b1,
        *c1,
        *a2,
        deletion("B"),
        *d1,
        *a3,
        *c2,
        *b2,
        *e1,
    ]
    messages = raw_messages(records)
    messages.append(
        RawMessage(topic=TOPIC, partition=0, offset=len(messages), key=b"D", value=None)
    )
    messages += raw_messages([deletion("E"), *e1], start=len(messages))
    return messages, expected(a3, b2, c2, e1)


def splits(n: int) -> list[list[int]]:
    rng = random.Random(11)
    cuts = [[], list(range(1, n)), list(range(3, n, 3)), list(range(7, n, 7))]
    cuts += [rng.sample(range(1, n), k) for k in (1, 2, 5, 12)]
    return cuts


def test_replaying_history_in_any_batch_split_gives_the_same_index(
    tmp_path: Path, chunk: ChunkFn
) -> None:
    messages, final = history(chunk)
    for i, cuts in enumerate(splits(len(messages))):
        index = LanceIndex(str(tmp_path / f"split{i}"), "t", DIM)
        indexer = BatchIndexer(index, HashEmbedder(DIM))
        for batch in split_at(messages, cuts):
            run(indexer, batch)
        assert index.snapshot() == final, f"split {i}: {cuts}"
        stored = index.lookup(list(final))
        for cid in final:
            assert stored[cid].vector.shape == (DIM,)
    # replaying everything again (a restart from offset 0), then a suffix: still the same
    for batch in split_at(messages, range(5, len(messages), 5)):
        run(indexer, batch)
    assert index.snapshot() == final
    for start in (len(messages) // 3, len(messages) - 4):
        run(indexer, messages[start:])
        assert index.snapshot() == final


def test_vectors_always_belong_to_the_stored_text(tmp_path: Path, chunk: ChunkFn) -> None:
    messages, final = history(chunk)
    index = LanceIndex(str(tmp_path / "lance"), "t", DIM)
    indexer = BatchIndexer(index, HashEmbedder(DIM))
    for batch in split_at(messages, range(4, len(messages), 4)):
        run(indexer, batch)
    texts = {
        h.chunk_id: h.text
        for h in index.search("seedlings", text_vector("x", DIM), k=1000, filters=[])
    }
    assert set(texts) == set(final)
    stored = index.lookup(list(final))
    for cid, text in texts.items():
        np.testing.assert_allclose(stored[cid].vector, text_vector(text, DIM), rtol=1e-6)


# --------------------------------------------------------------------------- failures


def test_rejected_text_is_dead_lettered_alone(index: LanceIndex, chunk: ChunkFn) -> None:
    poisoned = chunk(record("P", description="Good sentence here. POISON sentence here."))
    healthy = chunk(record("Q", description=LONG))
    bad = [c for c in poisoned if "POISON" in c.text]
    assert len(bad) == 1
    messages = raw_messages([*healthy, *poisoned], start=500)
    origin = next(m for m in messages if m.value is not None and b"POISON" in m.value)
    result = run(BatchIndexer(index, HashEmbedder(DIM, reject_marker="POISON")), messages)
    [letter] = result.dead_letters
    assert letter.stage == "embed"
    assert letter.error_type == "EmbeddingRejected"
    assert (letter.topic, letter.partition, letter.offset, letter.key) == (
        TOPIC,
        0,
        origin.offset,
        "P",
    )
    assert letter.payload == origin.value.decode()  # type: ignore[union-attr]
    assert "POISON" in letter.message
    good = [c for c in poisoned if c not in bad]
    assert index.snapshot() == expected(healthy, good)
    assert result.written == len(healthy) + len(good)


def test_rejected_text_alone_in_a_batch_is_dead_lettered(index: LanceIndex, chunk: ChunkFn) -> None:
    before = chunk(record("P", description="Good sentence here. Another one here."))
    after = chunk(record("P", description="Good sentence here. POISON sentence here."))
    indexer = BatchIndexer(index, HashEmbedder(DIM, reject_marker="POISON"))
    run(indexer, raw_messages(before))
    result = run(indexer, raw_messages(after, start=10))
    [letter] = result.dead_letters
    assert letter.stage == "embed"


def test_embedding_unavailable_propagates_and_nothing_changes(
    index: LanceIndex, chunk: ChunkFn
) -> None:
    a, b = chunk(record("A", description=LONG)), chunk(record("B"))
    run(BatchIndexer(index, HashEmbedder(DIM)), raw_messages([*a, *b]))
    before = index.snapshot()
    down = BatchIndexer(index, HashEmbedder(DIM, unavailable=True))
    changed = chunk(record("A", description="Completely new text."))
    with pytest.raises(EmbeddingUnavailable):
        run(down, raw_messages([*changed, deletion("B")], start=50))
    assert index.snapshot() == before


def test_undecodable_messages_are_dead_lettered_and_the_rest_indexed(
    index: LanceIndex, chunk: ChunkFn
) -> None:
    a = chunk(record("A"))
    junk = RawMessage(topic=TOPIC, partition=2, offset=9, key=b"A", value=b"\x00garbage")
    result = run(BatchIndexer(index, HashEmbedder(DIM)), [junk, *raw_messages(a, start=10)])
    [letter] = result.dead_letters
    assert (letter.stage, letter.partition, letter.offset) == ("decode", 2, 9)
    assert index.snapshot() == expected(a)


def test_skip_unchanged_off_re_embeds(index: LanceIndex, chunk: ChunkFn) -> None:
    chunks = chunk(record("A"))
    embedder = HashEmbedder(DIM)
    indexer = BatchIndexer(index, embedder, skip_unchanged=False)
    run(indexer, raw_messages(chunks))
    result = run(indexer, raw_messages(chunks))
    assert result.embedded == len(chunks) and result.skipped == 0
    assert len(embedder.texts_embedded) == 2 * len(chunks)


def test_passage_prefix_is_sent_to_the_embedder(index: LanceIndex, chunk: ChunkFn) -> None:
    chunks = chunk(record("A"))
    embedder = HashEmbedder(DIM)
    run(BatchIndexer(index, embedder, passage_prefix="passage: "), raw_messages(chunks))
    assert embedder.texts_embedded == ["passage: " + c.text for c in chunks]
    stored = index.lookup([chunks[0].chunk_id])[chunks[0].chunk_id]
    np.testing.assert_allclose(
        stored.vector, text_vector("passage: " + chunks[0].text, DIM), rtol=1e-6
    )
