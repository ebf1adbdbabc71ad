"""Chunking with the model's real tokenizer: token bounds, structure, coverage, overlap, hashes."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from ingest.prepare.chunk import Chunker, split_sentences
from ingest.prepare.tokenizer import TokenCounter
from schemas.models import Chunk, ProductRecord, chunk_id, content_hash
from tests.unit.fakes import PUBLISHED, record

MakeChunker = Callable[..., Chunker]

SHORT_WORDS = [
    "tomato",
    "feed",
    "potash",
    "greenhouse",
    "compost",
    "fertiliser",
    "watering",
    "seedlings",
    "chillies",
    "courgettes",
    "allotment",
    "concentrate",
    "trusses",
    "dilute",
    "organic",
    "granular",
    "10",
    "kg",
    "4-2-8",
    "m²",
    "café",
    "naïve",
    "résumé",
]
WORDS = [
    *SHORT_WORDS,
    "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
]


def sentences(
    n: int, seed: int, *, min_words: int = 4, max_words: int = 14, words: list[str] = WORDS
) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(min_words, max_words))).capitalize()
        + "."
        for _ in range(n)
    ]


def squeeze(text: str) -> str:
    """`text` without any whitespace (chunk bodies are joined with spaces, feeds use newlines)."""
    return "".join(text.split())


def body(chunk: Chunk, product: ProductRecord) -> str:
    """A description chunk's text without its `<title> (description):` context."""
    context = f"{product.title} (description): "
    assert chunk.text.startswith(context)
    return chunk.text.removeprefix(context)


def descriptions(chunks: list[Chunk]) -> list[Chunk]:
    return [c for c in chunks if c.section == "description"]


LONG_TEXTS = {
    "many sentences": " ".join(sentences(120, seed=1)),
    "paragraphs and list": "\n\n".join(" ".join(sentences(6, seed=s)) for s in range(8))
    + "\n- "
    + "\n- ".join(sentences(10, seed=99)),
    "one giant sentence": " ".join(random.Random(5).choice(WORDS) for _ in range(3000)),
    "long words": " ".join(["pneumonoultramicroscopicsilicovolcanoconiosis"] * 200),
    "words over 100 characters": "Use it. "
    + " ".join(["x" * 150, "daily."] * 150)
    + " "
    + "y" * 5000,
}


# --------------------------------------------------------------------------- token bounds


@pytest.mark.parametrize("max_tokens", [64, 128, 256])
@pytest.mark.parametrize("overlap", [0, 16])
@pytest.mark.parametrize("kind", sorted(LONG_TEXTS))
def test_no_chunk_exceeds_max_tokens(
    chunker: MakeChunker, tokens: TokenCounter, max_tokens: int, overlap: int, kind: str
) -> None:
    product = record(description=LONG_TEXTS[kind])
    chunks = chunker(max_tokens, overlap).chunk(product, PUBLISHED)
    assert len(descriptions(chunks)) >= 2
    counted = tokens.count_many([c.text for c in chunks])
    assert max(counted) <= max_tokens
    assert [c.token_count for c in chunks] == counted


def test_long_overview_is_split_within_bounds(chunker: MakeChunker, tokens: TokenCounter) -> None:
    attributes = {
        f"attribute {i}": " ".join(sentences(1, seed=i, min_words=10, max_words=20))
        for i in range(30)
    }
    product = record(attributes=attributes, description="")
    chunks = chunker(64).chunk(product, PUBLISHED)
    assert len(chunks) > 1
    assert {c.section for c in chunks} == {"overview"}
    assert max(tokens.count(c.text) for c in chunks) <= 64
    # cut only between tokenizer words: nothing lost, nothing repeated
    lines = ["Tomato Feed 1 L", "Brand: Terravita", "Category: Fertilisers"]
    lines += [f"{k}: {v}" for k, v in sorted(attributes.items())]
    assert squeeze("".join(c.text for c in chunks)) == squeeze("".join(lines))


def test_passage_prefix_counts_against_the_limit(
    chunker: MakeChunker, tokens: TokenCounter
) -> None:
    prefix = "passage: "
    product = record(description=LONG_TEXTS["many sentences"])
    chunks = chunker(64, 8, prefix).chunk(product, PUBLISHED)
    embedded = tokens.count_many([prefix + c.text for c in chunks])
    assert max(embedded) <= 64
    assert [c.token_count for c in chunks] == embedded


def test_word_cut_mid_way_stays_within_bounds(chunker: MakeChunker, tokens: TokenCounter) -> None:
    # One 86-character token-dense word (a serial number, a hash): more tokens than fit in a chunk,
    # fewer than 100 characters (longer words become a single [UNK] and are not cut).
    word = "7zjkqg0h4zd5ffovyvwqp0iozcpmjvlgn0d6v8xw1owyeo3iwxf360yqe33jqa7x1pw3v27ajpgorxol2wxcly8"
    product = record(title="Hose", description=word)
    chunks = chunker(32).chunk(product, PUBLISHED)
    assert max(tokens.count(c.text) for c in chunks) <= 32


# --------------------------------------------------------------------------- structure


def test_overview_chunk_comes_first(chunker: MakeChunker) -> None:
    product = record(attributes={"volume": "1 L", "npk": "4-2-8", "organic": "no"})
    chunks = chunker(128).chunk(product, PUBLISHED)
    overview = chunks[0]
    assert overview.section == "overview"
    assert overview.chunk_index == 0
    lines = overview.text.split("\n")
    assert lines[0] == "Tomato Feed 1 L"
    assert "Brand: Terravita" in lines
    assert "Category: Fertilisers" in lines
    # attributes sorted by name, so the text (and its hash) do not depend on feed key order
    assert lines[-3:] == ["npk: 4-2-8", "organic: no", "volume: 1 L"]


def test_price_and_availability_are_not_embedded(chunker: MakeChunker) -> None:
    product = record(price="123.45", availability="OutOfStock")
    for chunk in chunker(128).chunk(product, PUBLISHED):
        assert "123.45" not in chunk.text and "OutOfStock" not in chunk.text
        assert chunk.product.price == product.price


def test_product_without_description_has_only_the_overview(chunker: MakeChunker) -> None:
    chunks = chunker(128).chunk(record(description=""), PUBLISHED)
    assert [(c.section, c.chunk_index, c.chunk_count) for c in chunks] == [("overview", 0, 1)]


def test_description_chunks_stand_on_their_own(chunker: MakeChunker) -> None:
    product = record(description=LONG_TEXTS["many sentences"])
    for chunk in descriptions(chunker(64).chunk(product, PUBLISHED)):
        assert chunk.text.startswith("Tomato Feed 1 L (description): ")


@pytest.mark.parametrize("max_tokens", [64, 256])
def test_ids_indices_counts_and_hashes(chunker: MakeChunker, max_tokens: int) -> None:
    product = record("GA-77", description=LONG_TEXTS["paragraphs and list"])
    chunks = chunker(max_tokens, 8).chunk(product, PUBLISHED)
    n = len(chunks)
    assert [c.chunk_index for c in chunks] == list(range(n))
    assert {c.chunk_count for c in chunks} == {n}
    assert [c.chunk_id for c in chunks] == [chunk_id("GA-77", i) for i in range(n)]
    assert all(c.content_hash == content_hash(c.text) for c in chunks)
    assert all(c.product_id == "GA-77" and c.published_at == PUBLISHED for c in chunks)


def test_more_room_means_fewer_chunks(chunker: MakeChunker) -> None:
    product = record(description=LONG_TEXTS["many sentences"])
    counts = [len(chunker(m).chunk(product, PUBLISHED)) for m in (64, 128, 256)]
    assert counts[0] > counts[1] > counts[2]


# --------------------------------------------------------------------------- coverage and overlap


@pytest.mark.parametrize("max_tokens", [64, 128, 256])
@pytest.mark.parametrize("overlap", [0, 16])
@pytest.mark.parametrize("kind", ["many sentences", "paragraphs and list"])
def test_every_sentence_that_fits_lands_whole_in_a_chunk(
    chunker: MakeChunker, tokens: TokenCounter, max_tokens: int, overlap: int, kind: str
) -> None:
    product = record(description=LONG_TEXTS[kind])
    bodies = [
        body(c, product)
        for c in descriptions(chunker(max_tokens, overlap).chunk(product, PUBLISHED))
    ]
    fitting = [
        s for s in split_sentences(product.description) if tokens.count(s) <= max_tokens // 2
    ]
    assert len(fitting) > 10
    for sentence in fitting:
        assert any(sentence in b for b in bodies), sentence


@pytest.mark.parametrize("kind", sorted(LONG_TEXTS))
def test_without_overlap_the_chunks_are_the_description_in_order(
    chunker: MakeChunker, kind: str
) -> None:
    # nothing lost, nothing repeated, nothing reordered: even sentences cut to fit
    product = record(description=LONG_TEXTS[kind])
    chunks = descriptions(chunker(64, 0).chunk(product, PUBLISHED))
    assert len(chunks) > 2
    assert squeeze("".join(body(c, product) for c in chunks)) == squeeze(product.description)


@pytest.mark.parametrize(("max_tokens", "overlap"), [(64, 16), (128, 32), (256, 32)])
def test_consecutive_description_chunks_overlap(
    chunker: MakeChunker, tokens: TokenCounter, max_tokens: int, overlap: int
) -> None:
    # short sentences (3-5 common words, under 16 tokens): several fit in a chunk, and the last
    # sentence of a chunk always fits in the overlap, so every pair of neighbours shares text
    text = " ".join(sentences(200, seed=3, min_words=3, max_words=5, words=SHORT_WORDS))
    product = record(description=text)
    assert max(tokens.count(s) - tokens.special_tokens for s in split_sentences(text)) <= 16
    chunks = descriptions(chunker(max_tokens, overlap).chunk(product, PUBLISHED))
    assert len(chunks) >= 3
    rebuilt = split_sentences(body(chunks[0], product))
    for previous, current in itertools.pairwise(chunks):
        before = split_sentences(body(previous, product))
        after = split_sentences(body(current, product))
        common = range(min(len(before), len(after)), 0, -1)
        shared = next((k for k in common if before[-k:] == after[:k]), 0)
        assert shared >= 1, "no overlap between consecutive chunks"
        assert sum(tokens.count(s) - tokens.special_tokens for s in after[:shared]) <= overlap
        rebuilt += after[shared:]
    assert rebuilt == split_sentences(product.description)


def test_overlap_must_be_below_half_the_limit(tokens: TokenCounter) -> None:
    with pytest.raises(ValueError, match="overlap"):
        Chunker(tokens, max_tokens=64, overlap_tokens=32)
    Chunker(tokens, max_tokens=64, overlap_tokens=31)


# ------------------------------------------------------------------ determinism, change check


def test_same_record_gives_the_same_chunks(chunker: MakeChunker) -> None:
    product = record(description=LONG_TEXTS["paragraphs and list"])
    first = chunker(64, 16).chunk(product, PUBLISHED)
    second = chunker(64, 16).chunk(
        ProductRecord.model_validate(product.model_dump()), PUBLISHED + timedelta(hours=1)
    )
    assert [c.model_dump(exclude={"published_at"}) for c in first] == [
        c.model_dump(exclude={"published_at"}) for c in second
    ]
    assert {c.published_at for c in second} == {PUBLISHED + timedelta(hours=1)}


def test_attribute_order_does_not_change_the_chunks(chunker: MakeChunker) -> None:
    a = chunker(128).chunk(record(attributes={"a": "1", "b": "2"}), PUBLISHED)
    b = chunker(128).chunk(record(attributes={"b": "2", "a": "1"}), PUBLISHED)
    assert [c.content_hash for c in a] == [c.content_hash for c in b]


def test_price_change_keeps_every_content_hash(chunker: MakeChunker) -> None:
    make = chunker(64, 16)
    before = make.chunk(record(description=LONG_TEXTS["many sentences"], price="6.99"), PUBLISHED)
    after = make.chunk(record(description=LONG_TEXTS["many sentences"], price="5.49"), PUBLISHED)
    assert [c.content_hash for c in before] == [c.content_hash for c in after]
    assert all(b.metadata_hash() != a.metadata_hash() for b, a in zip(before, after, strict=True))


def test_text_change_changes_only_the_touched_hashes(chunker: MakeChunker) -> None:
    make = chunker(256)
    before = make.chunk(record(description="A liquid feed. Dilute before use."), PUBLISHED)
    after = make.chunk(record(description="A liquid feed. Dilute well before use."), PUBLISHED)
    assert before[0].content_hash == after[0].content_hash
    assert before[1].content_hash != after[1].content_hash


# --------------------------------------------------------------------------- sentence splitting


def test_split_sentences() -> None:
    text = (
        'First one. Second one! "Quoted" third? 4 kg bags. e.g. lower case stays.\n- item\n\nLast'
    )
    assert split_sentences(text) == [
        "First one.",
        "Second one!",
        '"Quoted" third?',
        "4 kg bags. e.g. lower case stays.",
        "- item",
        "Last",
    ]


def test_long_title_without_description_still_chunks(
    chunker: MakeChunker, tokens: TokenCounter
) -> None:
    title = " ".join(["Galvanised steel raised bed kit"] * 12)  # 383 characters, valid (max 1000)
    product = record(title=title, description="")
    chunks = chunker(64).chunk(product, PUBLISHED)
    assert [c.section for c in chunks] == ["overview"] * len(chunks)
    assert max(tokens.count(c.text) for c in chunks) <= 64
