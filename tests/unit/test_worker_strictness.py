"""The worker refuses, with a reason (a dead letter), what it must not index: a chunk the model
would not read whole (too many characters or tokens: `workers.limits`), a message without a key
(its product's order would be lost), a chunk whose content hash is not its text's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import faust
import pytest

from ingest.prepare.chunk import Chunker
from ingest.prepare.tokenizer import TokenCounter
from schemas.models import SCHEMA_VERSION, Chunk, content_hash
from schemas.settings import Settings
from tests.unit.fakes import PUBLISHED, TOPIC, HashEmbedder, raw_message, raw_messages, record
from workers.app import IndexWorker
from workers.batch import RawMessage, decode, fold
from workers.errors import MessageRejected
from workers.index.lancedb import LanceIndex
from workers.indexer import BatchIndexer
from workers.limits import MAX_CHARS_PER_TOKEN, ChunkLimit, chunk_limit, model_max_tokens

DIM = 8
WORDS = "tomato feed dilute water weekly seedlings greenhouse potassium"


@pytest.fixture
def chunks(chunker: Callable[..., Chunker]) -> list[Chunk]:
    """GA-1 as the chunker cuts it (every chunk within 64 tokens)."""
    long = " ".join(f"Step {i}: water the seedlings and feed them weekly." for i in range(14))
    made = chunker(64).chunk(record("GA-1", description=long), PUBLISHED)
    assert len(made) >= 3
    return made


def with_text(chunk: Chunk, text: str, token_count: int | None = None) -> Chunk:
    """The chunk carrying another text, with a matching content hash (as a producer sends it)."""
    return chunk.model_copy(
        update={
            "text": text,
            "content_hash": content_hash(text),
            "token_count": token_count or chunk.token_count,
        }
    )


def counting(tokens: TokenCounter, calls: list[list[str]]) -> Callable[[list[str]], list[int]]:
    def count(texts: list[str]) -> list[int]:
        calls.append(texts)
        return tokens.count_many(texts)

    return count


def limit_of(tokens: TokenCounter, max_tokens: int = 64, prefix: str = "") -> ChunkLimit:
    return ChunkLimit(max_tokens=max_tokens, count_tokens=tokens.count_many, prefix=prefix)


# --------------------------------------------------------------------------- the limit


def test_text_over_the_character_bound_is_refused_without_counting_tokens(
    tokens: TokenCounter, chunks: list[Chunk]
) -> None:
    calls: list[list[str]] = []
    limit = ChunkLimit(max_tokens=64, count_tokens=counting(tokens, calls))
    huge = with_text(chunks[0], "x" * 2_000_000, token_count=3)  # one [UNK] "word": 3 tokens
    reasons = limit.refusals([huge])
    assert "2000000 characters" in reasons[huge.chunk_id]
    assert str(64 * MAX_CHARS_PER_TOKEN) in reasons[huge.chunk_id]
    assert calls == [], "a megabyte is refused before the tokenizer sees it"


def test_text_over_the_token_limit_is_refused_even_when_it_declares_less(
    tokens: TokenCounter, chunks: list[Chunk]
) -> None:
    text = " ".join([WORDS] * 20)  # ~160 tokens, far within the character bound
    assert len(text) < 64 * MAX_CHARS_PER_TOKEN and tokens.count(text) > 64
    liar = with_text(chunks[0], text, token_count=10)
    assert "over the model's limit of 64" in limit_of(tokens).refusals([liar])[liar.chunk_id]


def test_a_declared_token_count_over_the_limit_is_refused(
    tokens: TokenCounter, chunks: list[Chunk]
) -> None:
    honest_over = chunks[0].model_copy(update={"token_count": 65})
    assert "token_count 65" in limit_of(tokens).refusals([honest_over])[honest_over.chunk_id]


def test_the_chunker_s_chunks_pass_and_the_passage_prefix_counts(
    tokens: TokenCounter, chunker: Callable[..., Chunker]
) -> None:
    made = chunker(64).chunk(record("GA-1"), PUBLISHED)
    assert limit_of(tokens).refusals(made) == {}
    tight = max(tokens.count(c.text) for c in made)
    assert limit_of(tokens, max_tokens=tight).refusals(made) == {}
    over = limit_of(tokens, max_tokens=tight, prefix="passage: ").refusals(made)
    assert over, "the prefix is part of what the model reads"


def test_the_limit_is_the_chunker_s_lowered_to_the_model_s_maximum(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert chunk_limit(settings).max_tokens == 256
    big = Settings(_env_file=None, chunk_max_tokens=512)  # type: ignore[call-arg]
    assert chunk_limit(big).max_tokens == 256, "MiniLM reads 256 tokens whatever the chunker does"
    assert "FRESHINDEX_CHUNK_MAX_TOKENS=512" in caplog.text
    assert model_max_tokens(tmp_path / "tokenizer.json") is None  # no config beside it: unknown


# --------------------------------------------------------------------------- the indexer


def run(indexer: BatchIndexer, messages: list[RawMessage]) -> list[str]:
    """Process the batch; the stages of its dead letters."""
    result = asyncio.run(indexer.process(messages))
    return [letter.stage for letter in result.dead_letters]


@pytest.fixture
def index(tmp_path: Path) -> LanceIndex:
    return LanceIndex(str(tmp_path / "lance"), "t", DIM)


def test_an_oversized_chunk_is_a_dead_letter_never_embedded_nor_stored(
    tokens: TokenCounter, chunks: list[Chunk], index: LanceIndex
) -> None:
    embedder = HashEmbedder(dim=DIM)
    indexer = BatchIndexer(index, embedder, limit=limit_of(tokens))
    huge = with_text(chunks[1], "Tomato feed. " * 160_000)  # ~2 MB
    messages = raw_messages([chunks[0], huge, *chunks[2:]])
    result = asyncio.run(indexer.process(messages))
    [letter] = result.dead_letters
    assert (letter.stage, letter.error_type, letter.offset) == ("validate", "MessageRejected", 1)
    assert "characters" in letter.message and letter.key == "GA-1"
    assert huge.text not in embedder.texts_embedded
    stored = index.snapshot()
    assert huge.chunk_id not in stored and len(stored) == len(chunks) - 1
    assert result.written == len(chunks) - 1


def test_unchanged_chunks_are_not_counted_again(
    tokens: TokenCounter, chunks: list[Chunk], index: LanceIndex
) -> None:
    calls: list[list[str]] = []
    limit = ChunkLimit(max_tokens=64, count_tokens=counting(tokens, calls))
    indexer = BatchIndexer(index, HashEmbedder(dim=DIM), limit=limit)
    assert run(indexer, raw_messages(chunks)) == []
    assert [len(c) for c in calls] == [len(chunks)]
    assert run(indexer, raw_messages(chunks, start=len(chunks))) == []
    assert len(calls) == 1, "re-publishing an unchanged product costs no tokenizing"


# --------------------------------------------------------------------------- decode


def test_a_chunk_without_a_key_is_rejected_not_indexed(chunks: list[Chunk]) -> None:
    keyless = RawMessage(
        topic=TOPIC, partition=2, offset=5, key=None, value=chunks[0].model_dump_json().encode()
    )
    with pytest.raises(MessageRejected, match="without a key") as info:
        decode(keyless)
    assert info.value.stage == "validate"
    plan = fold([keyless])
    assert plan.upserts == {} and plan.keep_below == {}
    [letter] = plan.dead_letters
    assert (letter.stage, letter.partition, letter.offset, letter.key) == ("validate", 2, 5, None)
    assert "in order" in letter.message


def test_a_document_deletion_without_a_key_is_rejected() -> None:
    value = json.dumps(
        {
            "kind": "product_deleted",
            "schema_version": SCHEMA_VERSION,
            "product_id": "GA-1",
            "document": "manual.pdf",
            "published_at": PUBLISHED.isoformat(),
        }
    ).encode()
    with pytest.raises(MessageRejected, match="without a key"):
        decode(RawMessage(topic=TOPIC, partition=0, offset=0, key=None, value=value))


def test_a_chunk_whose_hash_is_not_its_text_s_is_rejected(chunks: list[Chunk]) -> None:
    forged = chunks[0].model_copy(update={"text": "Other text entirely."})
    with pytest.raises(MessageRejected, match="content_hash is not the sha256 of text"):
        decode(raw_message(forged, 0))
    assert decode(raw_message(chunks[0], 0)) == chunks[0]


def test_the_worker_s_indexer_checks_the_limit(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, lancedb_uri=str(tmp_path / "db"))  # type: ignore[call-arg]
    worker = IndexWorker(
        faust.App("limit-test", broker="memory://", store="memory://", web_enabled=False), settings
    )

    index = LanceIndex(str(tmp_path / "db"), "t", settings.embedding_dim)
    limit = worker.make_indexer(index, HashEmbedder(settings.embedding_dim)).limit
    assert limit is not None and limit.max_tokens == settings.chunk_max_tokens == 256
