"""The exported model run in process by ONNX Runtime, tokenized as the Triton ensemble does.

Used by the equivalence test and the CPU benchmark; a worker never imports it (workers send
TEXT to Triton). Rows are sorted by length and embedded in sub-batches padded to their longest
row, as sentence-transformers' `encode` does, so the two are compared at equal work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MAX_SEQ_LENGTH = 256


class OnnxEmbedder:
    """ONNX Runtime session + the model's tokenizer: texts -> L2-normalised FP32 vectors."""

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_path: Path,
        *,
        threads: int = 0,
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default (one per core)
        self.session: Any = onnxruntime.InferenceSession(
            str(onnx_path), options, providers=list(providers)
        )
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model's three INT64 inputs for `texts`, padded to the longest row."""
        encodings = self.tokenizer.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """EMBEDDING for already tokenized inputs."""
        (embeddings,) = self.session.run(["EMBEDDING"], inputs)
        return np.asarray(embeddings, dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        """[len(texts), 384] embeddings, in the order of `texts`."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.run(self.tokenize([texts[i] for i in rows]))
        return out
