"""Fixtures for integration tests: the real local stacks, each started once per session.

The `stack` fixture is parametrized over both stacks, so every test that uses it (directly or
through `env`, `settings`, `start_worker`) runs on `tansu+lancedb` (the embedded default) and on
`kafka+weaviate` (Apache Kafka + Weaviate, production parity). pytest groups the tests by stack,
so one stack runs at a time. A test that only applies to some stacks says so with
`@pytest.mark.stacks("kafka+weaviate")`: it is deselected (not skipped) on the others.

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

from infra.stack import STACKS, StackInfo, down, ensure_topics, free_port, up
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect a test marked `stacks(...)` on the stacks it does not name."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("stacks")
        callspec = getattr(item, "callspec", None)
        chosen = callspec.params.get("stack") if callspec is not None else None
        if marker is not None and chosen is not None and chosen not in marker.args:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=STACKS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackInfo]:
    """One local stack per parameter; stopped at the end even when tests fail."""
    home = tmp_path_factory.mktemp(request.param.replace("+", "-"))
    try:
        info = up(home, stack=request.param)
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
