"""Structure-first chunking bounded by the embedding model's tokenizer.

A product becomes:
  0. an `overview` chunk: title, brand, category and key attributes (what shoppers search by);
  1..n `description` chunks: the description cut at sentence boundaries into pieces of at most
     `max_tokens` tokens (context line and special tokens included), consecutive pieces sharing
     up to `overlap_tokens` tokens of whole sentences.

Price and availability are metadata, not embedded text: a price change then costs no embedding.
Every description chunk starts with the product title and section, so it stands on its own
in retrieval. Output is deterministic: the same record gives the same chunks and hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ingest.prepare.tokenizer import TokenCounter
from schemas.models import Chunk, ProductMetadata, ProductRecord, chunk_id, content_hash

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9])")


@dataclass(frozen=True, kw_only=True)
class _Piece:
    text: str
    section: str


def split_sentences(text: str) -> list[str]:
    """Lines (paragraphs, list items) and then sentences, in order, none empty."""
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


class Chunker:
    """Turns a cleaned `ProductRecord` into its full, ordered set of `Chunk`s."""

    def __init__(
        self,
        tokens: TokenCounter,
        *,
        max_tokens: int = 256,
        overlap_tokens: int = 32,
        passage_prefix: str = "",
    ) -> None:
        if overlap_tokens >= max_tokens // 2:
            raise ValueError("overlap_tokens must be less than half of max_tokens")
        self.tokens = tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self._prefix_tokens = (
            tokens.count(passage_prefix) - tokens.special_tokens if passage_prefix else 0
        )

    def chunk(self, record: ProductRecord, published_at: datetime) -> list[Chunk]:
        pieces = [*self._overview(record), *self._description(record)]
        counts = self.tokens.count_many([p.text for p in pieces])
        meta = ProductMetadata.of(record)
        return [
            Chunk(
                published_at=published_at,
                chunk_id=chunk_id(record.id, i),
                product_id=record.id,
                chunk_index=i,
                chunk_count=len(pieces),
                text=piece.text,
                section=piece.section,
                token_count=count + self._prefix_tokens,
                content_hash=content_hash(piece.text),
                product=meta,
            )
            for i, (piece, count) in enumerate(zip(pieces, counts, strict=True))
        ]

    @property
    def _budget(self) -> int:
        """Tokens left for text once special tokens and the passage prefix are counted."""
        return self.max_tokens - self.tokens.special_tokens - self._prefix_tokens

    def _overview(self, record: ProductRecord) -> list[_Piece]:
        lines = [record.title]
        lines += [
            f"{k}: {v}" for k, v in (("Brand", record.brand), ("Category", record.category)) if v
        ]
        lines += [f"{k}: {v}" for k, v in sorted(record.attributes.items()) if v]
        text = "\n".join(lines)
        limit = self._budget + self.tokens.special_tokens
        return [_Piece(text=t, section="overview") for t in self.tokens.split_to_fit(text, limit)]

    def _description(self, record: ProductRecord) -> list[_Piece]:
        if not record.description.strip():
            return []
        context = f"{self._context_title(record.title)} (description):"
        room = self._budget - self._bare(context)
        sentences, sizes = self._fitted_sentences(record.description, room)
        return [
            _Piece(text=f"{context} {' '.join(group)}", section="description")
            for group in self._pack(sentences, sizes, room)
        ]

    def _context_title(self, title: str) -> str:
        """The title, cut so the context line takes at most half of a chunk's budget."""
        limit = self._budget // 2 + self.tokens.special_tokens
        return (
            title
            if self.tokens.count(title) <= limit
            else self.tokens.split_to_fit(title, limit)[0]
        )

    def _bare(self, text: str) -> int:
        return self.tokens.count(text) - self.tokens.special_tokens

    def _fitted_sentences(self, text: str, room: int) -> tuple[list[str], list[int]]:
        """Sentences (each cut further if it alone exceeds `room` tokens) and their token sizes."""
        sentences = split_sentences(text)
        out: list[str] = []
        sizes: list[int] = []
        for sentence, size in zip(sentences, self.tokens.count_many(sentences), strict=True):
            bare = size - self.tokens.special_tokens
            if bare <= room:
                out.append(sentence)
                sizes.append(bare)
                continue
            pieces = self.tokens.split_to_fit(sentence, room + self.tokens.special_tokens)
            out += pieces
            sizes += [self._bare(p) for p in pieces]
        return out, sizes

    def _pack(self, sentences: list[str], sizes: list[int], room: int) -> list[list[str]]:
        """Greedy packing of whole sentences; each new group repeats the previous group's tail."""
        groups: list[list[str]] = []
        current: list[int] = []
        for i, size in enumerate(sizes):
            if current and sum(sizes[j] for j in current) + size > room:
                groups.append([sentences[j] for j in current])
                current = self._overlap_tail(current, sizes, room - size)
            current.append(i)
        if current:
            groups.append([sentences[j] for j in current])
        return groups

    def _overlap_tail(self, group: list[int], sizes: list[int], room: int) -> list[int]:
        """The last sentences of `group` that fit in the overlap (and beside the next sentence)."""
        tail: list[int] = []
        total = 0
        for j in reversed(group[1:]):
            total += sizes[j]
            if total > min(self.overlap_tokens, room):
                break
            tail.insert(0, j)
        return tail
