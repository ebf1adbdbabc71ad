"""Semantic chunking of long free text (with an encoder whose topic shifts the test places) and
document chunking from `Block`s: token bounds, coverage, context lines, sections, table headers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from ingest.prepare.chunk import Block, Chunker, split_sentences
from ingest.prepare.semantic import Vectors
from ingest.prepare.tokenizer import TokenCounter
from schemas.models import Chunk, ProductMetadata, chunk_id
from tests.unit.fakes import PUBLISHED, record

MakeChunker = Callable[..., Chunker]
TITLE = "Tomato Feed 1 L"
CONTEXT = f"{TITLE} (description): "
TOPICS = ("feed", "frost", "pests", "soil")
"""A sentence's topic is the first of these words it contains."""


@dataclass
class TopicEncoder:
    """`SentenceEncoder` giving each sentence the one-hot vector of its topic word, so the
    test decides where the topic shifts are."""

    calls: list[list[str]] = field(default_factory=list)

    def encode(self, sentences: list[str]) -> Vectors:
        self.calls.append(list(sentences))
        return np.stack([np.eye(len(TOPICS), dtype=np.float32)[topic(s)] for s in sentences])


def topic(sentence: str) -> int:
    return next(i for i, word in enumerate(TOPICS) if word in sentence)


def topic_sentences(name: str, count: int, start: int = 0) -> list[str]:
    templates = {
        "feed": "Step {i}: feed the tomatoes weekly with diluted concentrate.",
        "frost": "Rule {i}: store the bottle away from frost and children.",
        "pests": "Tip {i}: check the leaves for pests such as aphids and whitefly.",
        "soil": "Note {i}: water into moist soil rather than onto dry roots.",
    }
    return [templates[name].format(i=start + i) for i in range(count)]


def semantic(tokens: TokenCounter, max_tokens: int, overlap: int = 0) -> Chunker:
    return Chunker(tokens, max_tokens=max_tokens, overlap_tokens=overlap, encoder=TopicEncoder())


def descriptions(chunks: list[Chunk]) -> list[Chunk]:
    return [c for c in chunks if c.section == "description"]


def body(chunk: Chunk) -> str:
    assert chunk.text.startswith(CONTEXT)
    return chunk.text.removeprefix(CONTEXT)


def body_sentences(chunk: Chunk) -> list[str]:
    return split_sentences(body(chunk))


# --------------------------------------------------------------------------- semantic mode


def test_cut_falls_at_the_topic_shift(tokens: TokenCounter, chunker: MakeChunker) -> None:
    feed, frost = topic_sentences("feed", 3), topic_sentences("frost", 6)
    product = record(title=TITLE, description=" ".join(feed + frost))
    chunks = descriptions(semantic(tokens, 100).chunk(product, PUBLISHED))
    assert [body_sentences(c) for c in chunks] == [feed, frost]
    greedy = descriptions(chunker(100).chunk(product, PUBLISHED))
    assert body_sentences(greedy[0])[-1] in frost  # greedy packing cuts mid-topic here


def test_each_topic_becomes_its_own_chunk(tokens: TokenCounter) -> None:
    # 4 x 12, 3 x 12 and 4 x 18 tokens in 80 tokens of room: each topic fits, no two do
    runs = [topic_sentences(name, n) for name, n in (("feed", 4), ("frost", 3), ("pests", 4))]
    product = record(title=TITLE, description=" ".join(s for run in runs for s in run))
    chunks = descriptions(semantic(tokens, 90).chunk(product, PUBLISHED))
    assert [body_sentences(c) for c in chunks] == runs


def test_overlap_repeats_the_previous_tail_within_budget(tokens: TokenCounter) -> None:
    feed, frost = topic_sentences("feed", 3), topic_sentences("frost", 6)
    product = record(title=TITLE, description=" ".join(feed + frost))
    chunks = descriptions(semantic(tokens, 100, overlap=16).chunk(product, PUBLISHED))
    assert [body_sentences(c) for c in chunks] == [feed, [feed[-1], *frost]]
    assert all(tokens.count(c.text) <= 100 for c in chunks)


def test_short_description_never_calls_the_encoder(tokens: TokenCounter) -> None:
    chunker = semantic(tokens, 256)
    chunker.chunk(record(title=TITLE, description=" ".join(topic_sentences("feed", 3))), PUBLISHED)
    assert isinstance(chunker.encoder, TopicEncoder) and chunker.encoder.calls == []


def shuffled_topics(seed: int) -> str:
    rng = random.Random(seed)
    sentences: list[str] = []
    for _ in range(rng.randint(4, 10)):
        sentences += topic_sentences(rng.choice(TOPICS), rng.randint(1, 7), start=len(sentences))
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(64, 0), (64, 20), (128, 0), (128, 32)])
@pytest.mark.parametrize("seed", range(4))
def test_semantic_chunks_fit_cover_and_repeat(
    tokens: TokenCounter, seed: int, max_tokens: int, overlap: int
) -> None:
    description = shuffled_topics(seed)
    product = record(title=TITLE, description=description)
    chunks = semantic(tokens, max_tokens, overlap).chunk(product, PUBLISHED)
    described = descriptions(chunks)
    assert len(described) > 1
    for chunk in chunks:
        assert chunk.token_count == tokens.count(chunk.text) <= max_tokens
    found = [s for c in described for s in body_sentences(c)]
    assert set(split_sentences(description)) <= set(found)  # every sentence reaches a chunk
    firsts = [s for c in described for s in body_sentences(c)[:1]]
    assert len(firsts) == len(set(firsts))  # no chunk starts where another does
    again = semantic(tokens, max_tokens, overlap).chunk(product, PUBLISHED)
    assert again == chunks


def test_semantic_order_follows_the_text(tokens: TokenCounter) -> None:
    description = shuffled_topics(11)
    chunks = descriptions(semantic(tokens, 64).chunk(record(description=description), PUBLISHED))
    found = [s for c in chunks for s in split_sentences(c.text.split("): ", 1)[1])]
    assert found == split_sentences(description)  # no overlap: each sentence exactly once


# --------------------------------------------------------------------------- chunk_document

META = ProductMetadata(title="Rain Barrel 200 L", source="doc:rb-200.pdf")
HEADER = "Property | Value | Unit"


def document_chunks(
    chunker: Chunker, blocks: list[Block], context: str = "Rain Barrel"
) -> list[Chunk]:
    return chunker.chunk_document(
        product_id="GA-1",
        document="spec-sheet",
        context=context,
        blocks=blocks,
        metadata=META,
        published_at=PUBLISHED,
    )


def spec_table(rows: int) -> str:
    return "\n".join([HEADER, *(f"Item {i} | {i * 10} | mm" for i in range(rows))])


def test_free_text_and_table_blocks(chunker: MakeChunker, tokens: TokenCounter) -> None:
    text = "\n".join(topic_sentences("soil", 12))
    blocks = [
        Block(section="Use > Watering", text=text),
        Block(section="Specifications", text=spec_table(30), is_table=True),
    ]
    chunks = document_chunks(chunker(64), blocks)
    assert all(c.token_count == tokens.count(c.text) <= 64 for c in chunks)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert {c.chunk_count for c in chunks} == {len(chunks)}
    prose = [c for c in chunks if c.section == "Use > Watering"]
    table = [c for c in chunks if c.section == "Specifications"]
    assert len(prose) > 1 and len(table) > 1 and len(prose) + len(table) == len(chunks)
    assert all(c.text.startswith("Rain Barrel > Use > Watering: ") for c in prose)
    for piece in table:
        assert piece.text.startswith(f"Rain Barrel > Specifications: {HEADER}\nItem ")
    found = " ".join(c.text for c in table)
    assert all(f"Item {i} | {i * 10} | mm" in found for i in range(30))
    for sentence in topic_sentences("soil", 12):
        assert any(sentence in c.text for c in prose)


def test_document_chunks_have_their_own_ids(chunker: MakeChunker) -> None:
    chunks = document_chunks(chunker(64), [Block(section="Use", text="Drain before frost.")])
    [chunk] = chunks
    assert chunk.document == "spec-sheet" and chunk.product_id == "GA-1"
    assert chunk.chunk_id == chunk_id("GA-1", 0, "spec-sheet") != chunk_id("GA-1", 0)
    own = chunker(64).chunk(record("GA-1"), PUBLISHED)
    assert chunk.chunk_id not in {c.chunk_id for c in own}
    assert chunk.product == META
    assert Chunk.model_validate_json(chunk.model_dump_json()) == chunk


def test_text_before_the_first_heading_is_the_document_section(chunker: MakeChunker) -> None:
    [chunk] = document_chunks(chunker(64), [Block(section="", text="Read before use.")])
    assert chunk.section == "document"
    assert chunk.text == "Rain Barrel: Read before use."


def test_list_items_are_packed_one_per_line(chunker: MakeChunker) -> None:
    block = Block(section="In the box", text="Barrel with lid\nBrass tap\n\nDiverter kit")
    [chunk] = document_chunks(chunker(64), [block])
    assert chunk.text == "Rain Barrel > In the box: Barrel with lid Brass tap Diverter kit"


def test_small_table_is_one_chunk(chunker: MakeChunker) -> None:
    block = Block(section="Specs", text=spec_table(2), is_table=True)
    [chunk] = document_chunks(chunker(64), [block])
    assert chunk.text == f"Rain Barrel > Specs: {HEADER}\nItem 0 | 0 | mm\nItem 1 | 10 | mm"


def test_long_context_is_cut_to_half_the_budget(chunker: MakeChunker, tokens: TokenCounter) -> None:
    context = " ".join(["Galvanised steel raised bed kit"] * 20)
    chunks = document_chunks(
        chunker(64), [Block(section="Use", text="Fill with compost.")], context
    )
    assert all(tokens.count(c.text) <= 64 for c in chunks)
    assert "Fill with compost." in " ".join(c.text for c in chunks)


@pytest.mark.parametrize(
    "blocks",
    [[], [Block(section="Use", text="")], [Block(section="Use", text=" \n\n ")]],
    ids=["no-blocks", "empty-text", "blank-lines"],
)
def test_no_text_is_an_error(chunker: MakeChunker, blocks: list[Block]) -> None:
    with pytest.raises(ValueError, match="no text to index"):
        document_chunks(chunker(64), blocks)


def test_empty_table_block_makes_no_chunk(chunker: MakeChunker) -> None:
    with pytest.raises(ValueError, match="no text to index"):
        document_chunks(chunker(64), [Block(section="Specs", text="", is_table=True)])


@pytest.mark.parametrize(
    "words", [25, 26, 60], ids=["row-fits-alone", "row-fills-room", "row-split"]
)
def test_table_with_a_long_row_stays_within_max_tokens(
    chunker: MakeChunker, tokens: TokenCounter, words: int
) -> None:
    rows = [HEADER, "Capacity | 200 | L", f"Notes | {' '.join(['frost proof'] * words)} | -"]
    block = Block(section="Specifications", text="\n".join(rows), is_table=True)
    chunks = document_chunks(chunker(64), [block])
    assert max(tokens.count(c.text) for c in chunks) <= 64


def test_document_free_text_is_cut_semantically(tokens: TokenCounter) -> None:
    feed, frost = topic_sentences("feed", 3), topic_sentences("frost", 6)
    chunker = semantic(tokens, 100)
    chunks = document_chunks(chunker, [Block(section="Use", text="\n".join(feed + frost))])
    bodies = [split_sentences(c.text.removeprefix("Rain Barrel > Use: ")) for c in chunks]
    assert bodies == [feed, frost]
    assert isinstance(chunker.encoder, TopicEncoder) and len(chunker.encoder.calls) == 1
