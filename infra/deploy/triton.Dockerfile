# Triton for the GPU model path (README "GPU model path"): the NGC image plus what the ensemble's
# python-backend tokenizer step (minilm_tokenizer/1/model.py) imports, with the model repository
# baked in at /models (compose.yaml also mounts it there read-only).
# The ONNX weights and tokenizer.json are build output: run `python -m infra.onnx.export` in the
# repository first (they are .gitignored), then, from the repository root:
#   docker build -f infra/deploy/triton.Dockerfile -t freshindex-triton:0.1.0 .
FROM nvcr.io/nvidia/tritonserver:25.01-py3

RUN pip install --no-cache-dir tokenizers==0.23.3
COPY infra/triton/model_repository_gpu /models
