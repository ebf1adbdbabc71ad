"""Triton Inference Server: standalone `tritonserver` from the `nvidia-pytriton` wheel.

It serves the python-backend model of `infra/triton/model_repository/minilm` on loopback ports,
from a copy of that repository in `$FRESHINDEX_HOME/triton/model_repository` (`served_repository`):
`up` copies the bundled files there (they win over older copies) and keeps the versions only the
copy has (`freshindex finetune` writes them), so model weights never go into the source tree.
`up` writes its path to stack.env as FRESHINDEX_MODEL_REPOSITORY, where every command reads it.
Not PyTriton, because standalone tritonserver (a) stops itself and its python stub on SIGTERM
(`--exit-timeout-secs`) where PyTriton orphans both, (b) opens its ports only after the models
load, so "model ready" means ready, and (c) runs the same model repository a GPU Triton in
production would (there the repository changes to KIND_GPU/ONNX/TensorRT, not the code).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from infra.stack.errors import ServiceMissing
from infra.stack.service import Launch, Ports, ServiceSpec
from infra.stack.supervisor import HOST, PROBE_TIMEOUT_S, port_open

MODEL_NAME = "minilm"
DEFAULT_MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "triton" / "model_repository"
_PYTHON_STUB = "triton_python_backend_stub"


def served_repository(home: Path) -> Path:
    """The model repository the local stack serves: `<home>/triton/model_repository`."""
    return Path(home).resolve() / "triton" / "model_repository"


def seed_repository(target: Path, source: Path = DEFAULT_MODEL_REPOSITORY) -> Path:
    """Copy every file of `source` into `target` (replacing older copies, each atomically);
    versions and files only `target` has stay. Returns `target`."""
    for path in sorted(Path(source).rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        copy = Path(target) / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_name(f".{copy.name}.partial")
        shutil.copy2(path, partial)
        partial.replace(copy)
    return Path(target)


def model_ready(http_url: str, model: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """`is_model_ready` over HTTP; raises when Triton cannot be reached."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(
        http_url, connection_timeout=timeout_s, network_timeout=timeout_s
    )
    try:
        return bool(client.is_model_ready(model))
    finally:
        client.close()


def triton_ready(http_url: str, model: str = MODEL_NAME) -> bool:
    if not port_open(http_url):
        return False
    try:
        return model_ready(http_url, model)
    except Exception:
        return False


def _server_dir() -> Path:
    """`pytriton/tritonserver` inside the installed nvidia-pytriton wheel."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceMissing("tritonserver needs the `nvidia-pytriton` package")
    server_dir = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    if not (server_dir / "bin" / "tritonserver").is_file():
        raise ServiceMissing(f"no tritonserver binary in {server_dir} (package `nvidia-pytriton`)")
    return server_dir


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.resolve() == target.resolve():
            return
        link.unlink()
    link.symlink_to(target)


def _backend_directory(home: Path, server_dir: Path) -> Path:
    """`<home>/triton/backends/python/` = the wheel's python backend + this Python's stub."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = server_dir / "python_backend_stubs" / version / _PYTHON_STUB
    if not stub.is_file():
        raise ServiceMissing(f"nvidia-pytriton has no python-backend stub for Python {version}")
    backends = home / "triton" / "backends"
    python_dir = backends / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    source = server_dir / "backends" / "python"
    _link(source / "libtriton_python.so", python_dir / "libtriton_python.so")
    _link(source / "triton_python_backend_utils.py", python_dir / "triton_python_backend_utils.py")
    _link(stub, python_dir / _PYTHON_STUB)
    return backends


def _env(server_dir: Path) -> dict[str, str]:
    """LD_LIBRARY_PATH and PATH so the stub embeds THIS interpreter (not Debian's libpython)."""
    env = dict(os.environ)
    libs = server_dir.parent.parent / "nvidia_pytriton.libs"
    lib_path = [str(sysconfig.get_config_var("LIBDIR")), str(libs)]
    if env.get("LD_LIBRARY_PATH"):
        lib_path.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(lib_path)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    # torch's OpenMP threads spin at barriers by default; on a box shared with the broker, the
    # worker and the producers a preempted spinner wastes the other core. Passive waiting yields.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def spec(model_repository: Path | None = None) -> ServiceSpec:
    """tritonserver serving `model_repository` (default: the bundled one, copied under the
    stack's home: `served_repository`)."""

    def repository(home: Path) -> Path:
        if model_repository is not None:
            return Path(model_repository).resolve()
        return served_repository(home)

    def launch(home: Path, ports: Ports) -> Launch:
        server_dir = _server_dir()
        served = repository(home)
        if model_repository is None:
            seed_repository(served)
        cmd = [
            str(server_dir / "bin" / "tritonserver"),
            "--model-repository", str(served),
            "--backend-directory", str(_backend_directory(home, server_dir)),
            "--http-address", HOST, "--http-port", str(ports["http"]),
            "--grpc-address", HOST, "--grpc-port", str(ports["grpc"]),
            "--metrics-address", HOST, "--metrics-port", str(ports["metrics"]),
            "--exit-timeout-secs", "5",
            "--pinned-memory-pool-byte-size", "0",
        ]  # fmt: skip
        return Launch(cmd=cmd, env=_env(server_dir))

    def settings_env(home: Path, ports: Ports) -> dict[str, str]:
        return {
            "FRESHINDEX_TRITON_URL": f"{HOST}:{ports['grpc']}",
            "FRESHINDEX_TRITON_HTTP_URL": f"{HOST}:{ports['http']}",
            "FRESHINDEX_MODEL_REPOSITORY": str(repository(home)),
        }

    return ServiceSpec(
        name="triton",
        title=f"tritonserver (model {MODEL_NAME!r})",
        port_names=("http", "grpc", "metrics"),
        launch=launch,
        ready=lambda ports: triton_ready(f"{HOST}:{ports['http']}"),
        address=lambda ports: f"{HOST}:{ports['grpc']}",
        settings_env=settings_env,
        stop_timeout_s=15.0,
    )
