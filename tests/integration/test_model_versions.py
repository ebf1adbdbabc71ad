"""Models and versions on both stacks, with real processes: a tritonserver serving two versions
of MiniLM (version 2 is version 1 with its dimensions permuted and signs flipped: another
model's vectors, the same distances), `freshindex worker`, `freshindex serve` and
`freshindex reindex`.

- The index knows its model: a worker pinned to another version, or configured with another
  dimension, stops with exit status 78 naming both models and commits nothing; `serve` pinned
  to another version refuses to start.
- Continuity: a search loop runs against the API while the index is rebuilt with version 2,
  updates are published during the build and after the switch, the switch happens, and it is
  rolled back and pruned: no failed and no empty answer, every answer from version 1 before the
  switch and from version 2 after it (the API reports the version), vector scores that only
  the query's own model gives, and the new target's vectors are version 2's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infra.stack import free_port
from infra.stack import triton as triton_service
from infra.stack.local import allocate_ports, start_service
from infra.stack.supervisor import stop_group
from ingest.producer import KafkaSink
from ingest.publish import chunker_for, publish_feed
from schemas.models import chunk_id
from schemas.settings import Settings
from tests.integration.conftest import StartWorker, settings_for
from tests.integration.harness import cli, product, write_feed
from workers.embedding.identity import identity_of
from workers.index.factory import open_index, open_targets
from workers.ops import consumer_lag, wait_until_caught_up
from workers.shutdown import EXIT_MISCONFIGURED

pytestmark = pytest.mark.integration

DIM = 384
SEED = 20261210
"""Of version 2's permutation and signs (the same in its model.py and here)."""
VERSION_2 = f"""

# ---- version 2 (tests): version 1 with its dimensions permuted and signs flipped
_Stock = TritonPythonModel
_rng = np.random.default_rng({SEED})
_PERM = _rng.permutation({DIM})
_SIGN = np.where(_rng.random({DIM}) < 0.5, -1.0, 1.0).astype(np.float32)


class TritonPythonModel(_Stock):  # type: ignore[no-redef]
    def _encode(self, texts):
        vectors = super()._encode(texts)
        return np.ascontiguousarray(vectors[:, _PERM] * _SIGN, dtype=np.float32)
"""


def version_2_of(vectors: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(DIM)
    sign = np.where(rng.random(DIM) < 0.5, -1.0, 1.0).astype(np.float32)
    return vectors[..., perm] * sign


def model_repository(root: Path) -> Path:
    """minilm versions 1 and 2, one CPU instance each (the box is small)."""
    source = triton_service.DEFAULT_MODEL_REPOSITORY / "minilm"
    target = root / "models" / "minilm"
    (target / "1").mkdir(parents=True)
    (target / "2").mkdir()
    config = (source / "config.pbtxt").read_text()
    assert "num_versions: 2" in config, "the bundled model must serve two versions"
    (target / "config.pbtxt").write_text(config.replace("count: 2", "count: 1"))
    stock = (source / "1" / "model.py").read_text()
    shutil.copy(source / "1" / "model.py", target / "1" / "model.py")
    (target / "2" / "model.py").write_text(stock + VERSION_2)
    fingerprint = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "data_sha256": "0" * 64,
        "params": {"test": "version 1, permuted and sign-flipped", "seed": SEED},
        "dimension": DIM,
        "created": "2026-12-10T00:00:00Z",
    }
    (target / "2" / "fingerprint.json").write_text(json.dumps(fingerprint))
    return root / "models"


@pytest.fixture(scope="module")
def triton_v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A tritonserver serving minilm 1 and 2; the settings pointing at it."""
    home = tmp_path_factory.mktemp("triton-v2")
    repository = model_repository(home)
    spec = triton_service.spec(repository)
    ports = allocate_ports(spec)
    recorded = start_service(home, spec, ports, timeout_s=300)
    try:
        yield {
            **spec.settings_env(home, ports),
            "FRESHINDEX_MODEL_REPOSITORY": str(repository),
            "FRESHINDEX_DEDUP_ENABLED": "false",
            "FRESHINDEX_SEMANTIC_CHUNKING": "false",
        }
    finally:
        stop_group("triton", recorded.pid, spec.stop_timeout_s)


@pytest.fixture
def venv(env: dict[str, str], triton_v2: dict[str, str]) -> dict[str, str]:
    """The test's environment on the two-version Triton."""
    return {**env, **triton_v2}


def publish(settings: Settings, feed: Path) -> None:
    with KafkaSink(settings) as sink:
        publish_feed(feed, sink, chunker_for(settings))


def exit_of(proc: subprocess.Popen[bytes], log: str, timeout_s: float = 180) -> int:
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the process did not stop:\n{log[-3000:]}")


# --------------------------------------------------------------------------- the index knows its model


def test_a_worker_refuses_another_model_or_dimension_and_commits_nothing(
    venv: dict[str, str], start_worker: StartWorker, tmp_path: Path
) -> None:
    from infra.stack import ensure_topics

    settings = settings_for(venv)
    ensure_topics(settings)
    publish(settings, write_feed(tmp_path / "a.jsonl", [product(f"A{i}") for i in range(4)]))
    first = start_worker(**{**venv, "FRESHINDEX_MODEL_VERSION": "1"})
    wait_until_caught_up(settings, timeout_s=300)
    first.stop()
    with closing(open_index(settings, create=False)) as index:
        assert index.recorded_model() == identity_of(settings, 1)
    publish(settings, write_feed(tmp_path / "b.jsonl", [product(f"B{i}") for i in range(2)]))
    lag_before = sum(p.lag for p in consumer_lag(settings))
    assert lag_before > 0
    v1, v2 = identity_of(settings, 1).describe(), identity_of(settings, 2).describe()
    wider = identity_of(settings.model_copy(update={"embedding_dim": 512}), 1).describe()
    cases = [
        ({"FRESHINDEX_MODEL_VERSION": "2"}, [v1, v2, "FRESHINDEX_MODEL_VERSION"]),
        ({"FRESHINDEX_EMBEDDING_DIM": "512"}, [v1, wider, "FRESHINDEX_EMBEDDING_DIM"]),
    ]
    for overrides, named in cases:
        worker = start_worker(**{**venv, **overrides})
        code = exit_of(worker.proc, worker.log_text())
        log = worker.log_text()
        assert code == EXIT_MISCONFIGURED, log[-3000:]
        assert all(n in log for n in named), (named, log[-3000:])
        assert "held" not in log, "a misconfiguration is not retried"
        assert sum(p.lag for p in consumer_lag(settings)) == lag_before, "offsets were committed"
    served = cli(
        {**venv, "FRESHINDEX_MODEL_VERSION": "2", "FRESHINDEX_SERVE_PORT": str(free_port())},
        "serve",
        timeout=120,
    )
    assert served.returncode == EXIT_MISCONFIGURED, served.stderr[-3000:]
    assert v1 in served.stderr and v2 in served.stderr


# --------------------------------------------------------------------------- continuity


class Served:
    """`freshindex serve` as a process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", "serve"],
                env={**env, "FRESHINDEX_SERVE_PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while self.call("GET", "/readyz")[0] != 200:
            assert self.proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "serve never became ready"
            time.sleep(0.5)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except OSError as e:
            return 0, str(e)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@dataclass(frozen=True)
class Answer:
    at: float
    mode: str
    status: int
    results: int
    version: int | None
    top_vector: float | None
    detail: str


class SearchLoop:
    """Searches the API back to back (hybrid and vector in turn) until stopped."""

    def __init__(self, served: Served, queries: list[str]) -> None:
        self.served = served
        self.queries = queries
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            mode = ("hybrid", "vector")[i % 2]
            query = self.queries[i % len(self.queries)]
            status, body = self.served.call(
                "POST", "/v1/search", {"query": query, "k": 5, "mode": mode}
            )
            ok = status == 200 and isinstance(body, dict)
            results = body["results"] if ok else []
            self.answers.append(
                Answer(
                    at=time.monotonic(),
                    mode=mode,
                    status=status,
                    results=len(results),
                    version=body["model"]["version"] if ok else None,
                    top_vector=results[0]["scores"].get("vector") if results else None,
                    detail="" if ok else str(body)[:300],
                )
            )
            i += 1
            time.sleep(0.02)

    def wait_for_version(self, version: int, since: float = 0.0, timeout_s: float = 15) -> float:
        """When the first answer from `version` after `since` came (waiting for it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [a.at for a in list(self.answers) if a.version == version and a.at >= since]
            if found:
                return found[0]
            time.sleep(0.1)
        pytest.fail(f"no answer from version {version} within {timeout_s}s")

    def stop(self) -> list[Answer]:
        self._stop.set()
        self._thread.join(60)
        return self.answers


def reindex(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = cli(env, "reindex", *args, "--json", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def vector_of(settings: Settings, target: str, chunk: str) -> np.ndarray:
    with closing(open_index(settings, target=target, create=False)) as index:
        return index.lookup([chunk])[chunk].vector


def test_searches_never_fail_through_a_reindex_a_switch_and_a_rollback(
    venv: dict[str, str], start_worker: StartWorker, tmp_path: Path
) -> None:
    from infra.stack import ensure_topics

    settings = settings_for(venv)
    ensure_topics(settings)
    catalog = write_feed(tmp_path / "catalog.jsonl", [product(f"P{i}") for i in range(24)])
    publish(settings, catalog)
    pinned = start_worker(**{**venv, "FRESHINDEX_MODEL_VERSION": "1"})  # fill with version 1
    wait_until_caught_up(settings, timeout_s=300)
    pinned.stop()
    start_worker(**venv)  # follows the index's model from now on
    served = Served(venv, tmp_path / "serve.log")
    loop = SearchLoop(served, [f"Garden product P{i}" for i in range(2, 24)])
    try:
        loop.wait_for_version(1)
        built = reindex(venv, "--model-version", "2", "--no-switch", str(catalog))
        assert (built["switched"], built["missing"], built["removed"]) == (False, [], [])
        assert built["products"] == built["live_products"] == 24 and built["differing_chunks"] == 0
        new, old = built["target"], built["previous"]
        # published while the new target is built: workers write it to both
        during = [
            product("NEW1", title="Heated propagator with thermostat"),
            '{"id": "P1", "deleted": true}',
        ]
        publish(settings, write_feed(tmp_path / "during.jsonl", during))
        wait_until_caught_up(settings, timeout_s=300)
        switch_asked = time.monotonic()
        reindex(venv, "--switch")
        switched_at = loop.wait_for_version(2, since=switch_asked)
        answer = served.call("POST", "/v1/search", {"query": "heated propagator", "k": 3})[1]
        assert answer["model"]["version"] == 2 and answer["results"][0]["product_id"] == "NEW1"
        assert served.call("GET", "/v1/products/P1")[0] == 404  # deleted during the build
        after = [product("NEW2", title="Galvanised watering can 10 litre")]
        publish(settings, write_feed(tmp_path / "after.jsonl", after))
        wait_until_caught_up(settings, timeout_s=300)
        first = chunk_id("P2", 0)
        v2_vector = vector_of(settings, new, first)
        assert np.allclose(v2_vector, version_2_of(vector_of(settings, old, first)), atol=1e-4)
        rollback_asked = time.monotonic()
        status = reindex(venv, "--rollback")
        assert (status["live"], status["previous"]) == (old, None)
        rolled_at = loop.wait_for_version(1, since=rollback_asked)
        answer = served.call("POST", "/v1/search", {"query": "galvanised watering can", "k": 3})[1]
        assert answer["model"]["version"] == 1 and answer["results"][0]["product_id"] == "NEW2"
        time.sleep(2)
    finally:
        answers = loop.stop()
        served.stop()
    failed = [a for a in answers if a.status != 200 or a.results == 0]
    assert not failed, failed[:5]
    before = [a for a in answers if a.at < switch_asked]
    between = [a for a in answers if switched_at <= a.at < rollback_asked]
    rolled = [a for a in answers if a.at >= rolled_at]
    assert before and all(a.version == 1 for a in before)
    assert between and all(a.version == 2 for a in between), "an answer from v1 after the switch"
    assert rolled and all(a.version == 1 for a in rolled), "an answer from v2 after the rollback"
    # a query embedded by one model and compared with the other's vectors would score ~0
    assert all((a.top_vector or 0) > 0.35 for a in answers if a.mode == "vector")
    print(
        f"{len(answers)} answers; switch seen {switched_at - switch_asked:.2f} s after it was asked"
    )
    dropped = reindex(venv, "--prune")["dropped"]
    assert dropped == [new]
    targets = open_targets(settings)
    try:
        assert targets.names() == [old]
    finally:
        targets.close()
