"""Triton python-backend model `minilm_tokenizer`: TEXT (BYTES [n, 1]) -> input_ids,
attention_mask, token_type_ids (INT64 [n, L]), the first step of the `minilm` ensemble.

The tokenizer is the model's own `tokenizer.json`, copied beside this file by
`python -m infra.onnx.export`, so a model version and its tokenizer cannot drift apart; only
`tokenizers` and numpy are needed (not freshindex, not torch). Rows are truncated at
`max_seq_length` (256, as sentence-transformers does) and padded to the longest row of the
execute call rounded up to `pad_to_multiple_of` tokens: the ONNX model's dynamic batcher merges
only requests of the same shape, and a few shape buckets let it merge more of them.
A malformed request gets its own error response; the others are still served.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer

INPUT_NAME = "TEXT"
OUTPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def load_tokenizer(path: Path, *, max_seq_length: int, pad_to_multiple_of: int) -> Tokenizer:
    """The tokenizer at `path`, truncating at `max_seq_length` and padding to a bucket."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_seq_length)
    pad_id = tokenizer.token_to_id("[PAD]") or 0
    tokenizer.enable_padding(
        pad_id=pad_id, pad_token="[PAD]", pad_to_multiple_of=pad_to_multiple_of
    )
    return tokenizer


def tokenize(tokenizer: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    """The three INT64 [len(texts), L] input tensors of the ONNX model."""
    encodings = tokenizer.encode_batch(texts) if texts else []
    width = len(encodings[0].ids) if encodings else 0
    arrays = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    return {
        name: np.array(rows, dtype=np.int64).reshape(len(texts), width)
        for name, rows in arrays.items()
    }


def decode(value: Any) -> str:
    """One cell of the TEXT tensor as str (bytes are decoded as UTF-8, bad bytes replaced)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise TypeError(f"TEXT cells must be bytes, got {type(value).__name__}")


def texts_of(array: np.ndarray) -> list[str]:
    """The texts of one request's TEXT tensor; raises ValueError/TypeError when malformed."""
    if array.ndim != 2 or array.shape[1] != 1:
        raise ValueError(f"{INPUT_NAME} must have shape [batch, 1], got {list(array.shape)}")
    return [decode(cell) for cell in array[:, 0]]


def _parameter(config: dict[str, Any], key: str, default: str) -> str:
    return str(config.get("parameters", {}).get(key, {}).get("string_value", default))


class TritonPythonModel:
    """One `encode_batch` per request (the dynamic batcher already merged concurrent ones)."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        folder = Path(args["model_repository"]) / args["model_version"]
        self.tokenizer = load_tokenizer(
            folder / "tokenizer.json",
            max_seq_length=int(_parameter(config, "max_seq_length", "256")),
            pad_to_multiple_of=int(_parameter(config, "pad_to_multiple_of", "64")),
        )

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._respond(request) for request in requests]

    def _respond(self, request: Any) -> Any:
        try:
            tensor = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
            if tensor is None:
                raise ValueError(f"missing input {INPUT_NAME!r}")
            arrays = tokenize(self.tokenizer, texts_of(tensor.as_numpy()))
        except Exception as e:  # one bad request must not fail the others
            error = pb_utils.TritonError(f"bad request: {type(e).__name__}: {e}")
            return pb_utils.InferenceResponse(error=error)
        tensors = [pb_utils.Tensor(name, arrays[name]) for name in OUTPUT_NAMES]
        return pb_utils.InferenceResponse(output_tensors=tensors)
