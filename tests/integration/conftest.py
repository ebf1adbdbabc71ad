"""Fixtures for integration tests: one real local stack (Tansu + tritonserver) per session.

Every test gets its own topic, dead-letter topic, consumer group, index name, home folder and
metrics port through the `env` fixture, so tests never see each other's data. Build a
`Settings` from that env with `settings_for(env)` (or the `make_settings` fixture, which
returns the same function and avoids importing from a conftest).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.stack import StackInfo, down, ensure_topics, free_port, up
from schemas.settings import Settings
from tests.integration.harness import WorkerProcess

_PREFIX = "FRESHINDEX_"


def settings_for(env: dict[str, str]) -> Settings:
    """A `Settings` from the `FRESHINDEX_*` entries of `env` only (no stack.env file read)."""
    fields = Settings.model_fields
    values: dict[str, Any] = {
        key.removeprefix(_PREFIX).lower(): value
        for key, value in env.items()
        if key.startswith(_PREFIX) and key.removeprefix(_PREFIX).lower() in fields
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The session's local stack; stopped at the end even when tests fail."""
    home = tmp_path_factory.mktemp("stack")
    try:
        info = up(home)
    except BaseException:
        down(home)
        raise
    try:
        yield info
    finally:
        down(home)


@pytest.fixture
def env(stack: StackInfo, tmp_path: Path) -> dict[str, str]:
    """os.environ + the stack's variables + names unique to this test."""
    suffix = uuid.uuid4().hex[:8]
    home = tmp_path / "freshindex-home"
    home.mkdir()
    return {
        **os.environ,
        **stack.env,
        "FRESHINDEX_CHUNKS_TOPIC": f"chunks-{suffix}",
        "FRESHINDEX_DEAD_LETTER_TOPIC": f"dlq-{suffix}",
        "FRESHINDEX_CONSUMER_GROUP": f"group-{suffix}",
        "FRESHINDEX_INDEX_NAME": f"idx_{suffix}",
        "FRESHINDEX_HOME": str(home),
        "FRESHINDEX_METRICS_PORT": str(free_port()),
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture
def make_settings() -> Callable[[dict[str, str]], Settings]:
    """`settings_for`, as a fixture."""
    return settings_for


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(env: dict[str, str], tmp_path: Path) -> Iterator[StartWorker]:
    """Starts real `freshindex worker` processes with the test's env (plus overrides); stops them."""
    workers: list[WorkerProcess] = []

    def start(**overrides: str) -> WorkerProcess:
        w = WorkerProcess({**env, **overrides}, tmp_path / f"worker-{len(workers)}.log")
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """The test's settings, with its topics created."""
    s = settings_for(env)
    ensure_topics(s)
    return s
