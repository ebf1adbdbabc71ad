"""`make bench-onnx`: the GPU model path's ONNX export measured on this CPU, against the python
backend's model (sentence-transformers) in the same run, on the same texts and batch sizes.

Not a test: it prints figures, and its last line is one JSON object. No services needed.

  (a) chunks/s: sentence-transformers `encode` (what the python-backend model runs) vs ONNX
      Runtime on the exported graph, both sorting rows by length, at each batch size;
  (b) the tokenizer decision (README "GPU model path"): tokenization's cost per chunk (the
      model's own tokenizer.json, `encode_batch` and one text at a time) against the model's,
      and the bytes a request would carry as TEXT vs as the model's three INT64 tensors.

Texts: the chunks of data/sample/catalog.jsonl (titles, overviews, descriptions; 256-token
chunks), BENCH_ONNX_REPEAT times (default 1). Threads: BENCH_ONNX_THREADS (default: all cores).
On a GPU host (onnxruntime-gpu, CUDA torch): BENCH_ONNX_PROVIDERS=CUDAExecutionProvider (comma-
separated ONNX Runtime providers, default CPUExecutionProvider) also runs sentence-transformers
on the GPU.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

from infra.onnx.embedder import OnnxEmbedder
from infra.onnx.export import export_onnx, model_path
from ingest.core.items import Accepted
from ingest.feeds.reader import read_feed
from ingest.prepare.chunk import Chunker
from ingest.prepare.tokenizer import TokenCounter

CATALOG = Path(__file__).resolve().parents[2] / "data" / "sample" / "catalog.jsonl"
BATCH_SIZES = (16, 64)


def catalog_chunk_texts(path: Path = CATALOG) -> list[str]:
    """The chunk texts the sample catalog publishes (default chunker: 256 tokens, 32 overlap)."""
    chunker = Chunker(TokenCounter.from_file(), max_tokens=256, overlap_tokens=32)
    now = datetime.now(UTC)
    records = [item.record for item in read_feed(path) if isinstance(item, Accepted)]
    return [chunk.text for record in records for chunk in chunker.chunk(record, now)]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rate(run: Callable[[], object], rows: int, tries: int = 2) -> float:
    """rows/s of the fastest of `tries` calls of `run`, after one warm-up call (the host's other
    work slows some calls down, never speeds one up)."""
    run()
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return rows / best


def tokenizer_figures(onnx: OnnxEmbedder, texts: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        onnx.tokenize(texts[start : start + 64])
    batch_us = (time.perf_counter() - started) / len(texts) * 1e6
    started = time.perf_counter()
    for text in texts:
        onnx.tokenizer.encode(text)
    single_us = (time.perf_counter() - started) / len(texts) * 1e6
    inputs = onnx.tokenize(texts[:16])
    return {
        "tokenize_us_per_chunk_batched": round(batch_us, 1),
        "tokenize_us_per_chunk_single": round(single_us, 1),
        "text_bytes_per_chunk": round(sum(len(t.encode()) for t in texts) / len(texts), 1),
        "int64_tensor_bytes_per_chunk_16_row_request": round(
            sum(a.nbytes for a in inputs.values()) / 16, 1
        ),
    }


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    threads = int(os.environ.get("BENCH_ONNX_THREADS", "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    texts = catalog_chunk_texts() * int(os.environ.get("BENCH_ONNX_REPEAT", "1"))
    source = model_path()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        onnx_file = export_onnx(Path(tmp) / "model.onnx", source)
        say(f"exported in {time.perf_counter() - started:.1f} s")
        providers = tuple(os.environ.get("BENCH_ONNX_PROVIDERS", "CPUExecutionProvider").split(","))
        onnx = OnnxEmbedder(
            onnx_file, source / "tokenizer.json", threads=threads, providers=providers
        )
        device = "cuda" if providers[0] != "CPUExecutionProvider" else "cpu"
        model = SentenceTransformer(str(source), device=device)
        figures: dict[str, object] = {
            "chunks": len(texts),
            "threads": threads,
            "providers": providers,
        }
        for size in BATCH_SIZES:
            encode = partial(model.encode, texts, batch_size=size, normalize_embeddings=True)
            st = rate(encode, len(texts))
            ort = rate(partial(onnx.encode, texts, batch_size=size), len(texts))
            say(
                f"batch {size}: sentence-transformers {st:.1f} chunks/s, onnxruntime {ort:.1f} chunks/s"
            )
            figures[f"batch_{size}"] = {
                "sentence_transformers_chunks_s": round(st, 1),
                "onnxruntime_chunks_s": round(ort, 1),
                "ratio": round(ort / st, 2),
            }
        tokenizer = tokenizer_figures(onnx, texts)
        model_us = 1e6 / figures_rate(figures)
        tokenizer["onnxruntime_model_us_per_chunk"] = round(model_us, 1)
        say(f"tokenizer: {tokenizer}")
        figures["tokenizer"] = tokenizer
        reference = model.encode(texts, batch_size=16, normalize_embeddings=True)
        cosine = (reference * onnx.encode(texts)).sum(axis=1)  # both L2-normalised
        figures["min_cosine_all_chunks"] = round(float(np.min(cosine)), 7)
    print(json.dumps(figures))


def figures_rate(figures: dict[str, object]) -> float:
    """The ONNX Runtime chunks/s at the largest batch size."""
    best = figures[f"batch_{BATCH_SIZES[-1]}"]
    assert isinstance(best, dict)
    return float(best["onnxruntime_chunks_s"])


if __name__ == "__main__":
    main()
