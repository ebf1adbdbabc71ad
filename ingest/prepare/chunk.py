"""Structure-first chunking bounded by the embedding model's tokenizer.

A product record becomes:
  0. an `overview` chunk: title, brand, category and key attributes (what shoppers search by);
  1..n `description` chunks: the description cut at sentence boundaries into pieces of at most
     `max_tokens` tokens (context line and special tokens included), consecutive pieces sharing
     up to `overlap_tokens` tokens of whole sentences.
A product document (manual, data sheet) becomes, section by section (a section is the run of
elements under one heading path), chunks of its paragraphs and list items, and of its tables
(rows packed whole, the header row repeated in each piece).

Free text that does not fit in one chunk is cut at semantic breakpoints when an encoder is
given (`ingest.prepare.semantic`: where adjacent sentences are least alike), else packed
greedily. Price and availability are metadata, not embedded text: a price change then costs no
embedding. Every chunk but the overview starts with a context line (product title, section),
so it stands on its own in retrieval. Output is deterministic: the same input gives the same
chunks and hashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ingest.prepare.semantic import SentenceEncoder, adjacent_distances, semantic_groups
from ingest.prepare.tokenizer import TokenCounter
from schemas.models import Chunk, ProductMetadata, ProductRecord, chunk_id, content_hash

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9])")


@dataclass(frozen=True, kw_only=True)
class _Piece:
    text: str
    section: str


@dataclass(frozen=True, kw_only=True)
class Block:
    """A run of document text under one heading path: free text (paragraphs, list items, one
    per line) or a table (one row per line, the first row its header)."""

    section: str
    """Heading path ("Safety > Storage"); empty before the first heading."""
    text: str
    is_table: bool = False


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
        encoder: SentenceEncoder | None = None,
    ) -> None:
        if overlap_tokens >= max_tokens // 2:
            raise ValueError("overlap_tokens must be less than half of max_tokens")
        self.tokens = tokens
        self.encoder = encoder
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self._prefix_tokens = (
            tokens.count(passage_prefix) - tokens.special_tokens if passage_prefix else 0
        )

    def chunk(self, record: ProductRecord, published_at: datetime) -> list[Chunk]:
        pieces = [*self._overview(record), *self._description(record)]
        return self._chunks(record.id, "", pieces, ProductMetadata.of(record), published_at)

    def chunk_document(
        self,
        *,
        product_id: str,
        document: str,
        context: str,
        blocks: list[Block],
        metadata: ProductMetadata,
        published_at: datetime,
    ) -> list[Chunk]:
        """The chunks of one document of a product; `context` (product title, document title)
        starts every chunk's context line, followed by the block's section."""
        pieces: list[_Piece] = []
        for block in blocks:
            section = block.section or "document"
            label = (
                context
                if not block.section or block.section == context
                else block.section
                if block.section.startswith(f"{context} > ")
                else f"{context} > {block.section}"
            )
            head = f"{self._context_title(label)}:"
            room = self._budget - self._bare(head)
            lines = [line for line in block.text.split("\n") if line.strip()]
            groups = (
                self._table_groups(lines, room)
                if block.is_table
                else self._text_groups("\n".join(lines), room)
            )
            joint = "\n" if block.is_table else " "  # table rows stay apart, sentences flow
            pieces += [_Piece(text=f"{head} {joint.join(g)}", section=section) for g in groups]
        if not pieces:
            raise ValueError("the document has no text to index")
        return self._chunks(product_id, document, pieces, metadata, published_at)

    def _chunks(
        self,
        product_id: str,
        document: str,
        pieces: list[_Piece],
        meta: ProductMetadata,
        published_at: datetime,
    ) -> list[Chunk]:
        counts = self.tokens.count_many([p.text for p in pieces])
        return [
            Chunk(
                published_at=published_at,
                chunk_id=chunk_id(product_id, i, document),
                product_id=product_id,
                document=document,
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
        return [
            _Piece(text=f"{context} {' '.join(group)}", section="description")
            for group in self._text_groups(record.description, room)
        ]

    def _text_groups(self, text: str, room: int) -> list[list[str]]:
        """Free text in groups of whole sentences of at most `room` tokens: cut at semantic
        breakpoints when it needs cutting and an encoder is set, else packed greedily."""
        sentences, sizes = self._fitted_sentences(text, room)
        if self.encoder is None or sum(sizes) <= room or len(sentences) < 3:
            return self._pack(sentences, sizes, room)
        if self.overlap_tokens:  # leave room for the overlap that each next group repeats
            sentences, sizes = self._fitted_sentences(text, room - self.overlap_tokens)
        distances = adjacent_distances(self.encoder.encode(sentences))
        groups = semantic_groups(sizes, distances, room - self.overlap_tokens)
        out: list[list[str]] = []
        for k, group in enumerate(groups):
            size = sum(sizes[j] for j in group)
            tail = self._overlap_tail(list(groups[k - 1]), sizes, room - size) if k else []
            out.append([sentences[j] for j in [*tail, *group]])
        return out

    def _table_groups(self, rows: list[str], room: int) -> list[list[str]]:
        """Table rows packed whole; the header row starts every group but the first."""
        if not rows:
            return []
        fitted, sizes = self._fitted_lines(rows, room)
        if sum(sizes) <= room:
            return [fitted]
        header, header_size = rows[0], self._bare(rows[0])
        if len(rows) < 3 or header_size > room // 2:
            return self._pack(fitted, sizes, room)
        body, body_sizes = self._fitted_lines(rows[1:], room - header_size)
        groups: list[list[str]] = [[header]]
        used = header_size
        for row, size in zip(body, body_sizes, strict=True):
            if used + size > room and len(groups[-1]) > 1:
                groups.append([header])
                used = header_size
            groups[-1].append(row)
            used += size
        return groups

    def _fitted_lines(self, lines: list[str], room: int) -> tuple[list[str], list[int]]:
        """Lines (each cut further if it alone exceeds `room` tokens) and their token sizes."""
        out: list[str] = []
        sizes: list[int] = []
        for line, size in zip(lines, self.tokens.count_many(lines), strict=True):
            bare = size - self.tokens.special_tokens
            if bare <= room:
                out.append(line)
                sizes.append(bare)
                continue
            pieces = self.tokens.split_to_fit(line, room + self.tokens.special_tokens)
            out += pieces
            sizes += [self._bare(p) for p in pieces]
        return out, sizes

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
        return self._fitted_lines(split_sentences(text), room)

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
