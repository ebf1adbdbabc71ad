"""The GPU model path: all-MiniLM-L6-v2 exported to ONNX for Triton's `onnxruntime` backend.

`python -m infra.onnx.export --out DIR` writes a GPU model repository (README "GPU model path");
`infra.onnx.embedder` is the same graph run in process by ONNX Runtime (tests, benchmarks).
torch, transformers and onnxruntime are imported where they are used.
"""
