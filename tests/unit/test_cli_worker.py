"""`freshindex worker` says in one line which dependency or setting is wrong, and exits non-zero:
78 for a misconfiguration (the message names the setting), 1 for a dependency that is missing."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from infra.cli import app
from infra.stack import ServiceNotReady
from schemas.settings import Settings
from workers.errors import IndexMisconfigured, IndexUnavailable, VectorIndexError
from workers.shutdown import EXIT_MISCONFIGURED


def failing_check(error: VectorIndexError) -> Callable[[Settings], None]:
    """`check_services` as it fails when the index does (infra.stack.topics wraps the error)."""

    def check(settings: Settings) -> None:
        try:
            raise error
        except VectorIndexError as e:
            raise ServiceNotReady(f"index ({settings.index_backend}): {e}") from e

    return check


def run_worker_command(
    monkeypatch: pytest.MonkeyPatch, check: Callable[[Settings], None]
) -> Result:
    monkeypatch.setattr("infra.stack.check_services", check)
    monkeypatch.setattr("infra.stack.ensure_topics", lambda settings: None)
    return CliRunner().invoke(app, ["worker"])


def test_an_index_of_another_dimension_stops_the_start_naming_the_setting(
    clean_env: pytest.MonkeyPatch,
) -> None:
    error = IndexMisconfigured(
        "table 'products' holds 384-d vectors,\nsettings say 512",
        setting="FRESHINDEX_EMBEDDING_DIM",
    )
    result = run_worker_command(clean_env, failing_check(error))
    assert result.exit_code == EXIT_MISCONFIGURED
    [line] = result.output.strip().splitlines()
    assert "FRESHINDEX_EMBEDDING_DIM" in line and "384-d vectors, settings say 512" in line


def test_an_index_that_is_away_at_start_names_the_backend_setting(
    clean_env: pytest.MonkeyPatch,
) -> None:
    result = run_worker_command(
        clean_env, failing_check(IndexUnavailable("LanceDB open failed: IO"))
    )
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: index (lancedb)") and "FRESHINDEX_LANCEDB_URI" in line


def test_a_metrics_port_in_use_is_one_line_not_a_traceback(clean_env: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        clean_env.setenv("FRESHINDEX_METRICS_PORT", str(taken.getsockname()[1]))
        result = run_worker_command(clean_env, lambda settings: None)
    assert result.exit_code == EXIT_MISCONFIGURED
    [line] = result.output.strip().splitlines()
    assert "FRESHINDEX_METRICS_PORT" in line and "Traceback" not in result.output
