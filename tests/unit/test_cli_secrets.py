"""No credential ever shows in the output of any `freshindex` command.

Every command runs as a real process (`tests.unit.cli_fast_fail`: the CLI with one-second Kafka
waits) against closed loopback ports, with planted credentials in every place a credential can
be configured: the SASL password, the Weaviate and retrieval API keys, the userinfo and
`?api_key=` of the Triton and Weaviate URLs, and (refused at start) the bootstrap address.
All of stdout and stderr, with -v (DEBUG logs of kafka-python, Faust, Weaviate, ...) and --json,
is searched for the planted values; each command must have said something, so a leak cannot
hide behind an empty output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.settings import Settings
from workers.index.factory import open_index

REPO = Path(__file__).resolve().parents[2]
PLANTED = "PLANTED"  # every planted credential contains it
SECRETS = {
    "FRESHINDEX_KAFKA_SASL_PASSWORD": "PLANTED-sasl-7Qx",
    "FRESHINDEX_WEAVIATE_API_KEY": "PLANTED-weaviate-key-2Fz",
    "FRESHINDEX_SERVE_API_KEY": "PLANTED-serve-key-9Kd",
    "FRESHINDEX_TRITON_HTTP_URL": "http://triton:PLANTED-triton-pw@127.0.0.1:1",
    "FRESHINDEX_TRITON_URL": "127.0.0.1:1/?api_key=PLANTED-triton-token",
    "FRESHINDEX_WEAVIATE_URL": "http://weaviate:PLANTED-weaviate-pw@127.0.0.1:1",
}
BOOTSTRAP_WITH_PASSWORD = "SASL_SSL://alice:PLANTED-bootstrap-pw@127.0.0.1:1"


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    output: str


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "feed.jsonl").write_text(
        '{"id": "GA-1", "title": "Tomato Feed 1 L", "description": "A liquid feed for'
        ' tomatoes. Dilute before use.", "price": "6.99", "currency": "EUR"}\n'
    )
    (folder / "GA-1__manual.md").write_text("# Manual\n\nDilute 10 ml in a litre of water.\n")
    (folder / "page.html").write_text("<html><body><h1>Tomato Feed</h1></body></html>")
    return folder


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRESHINDEX_")}
    env.update(
        FRESHINDEX_HOME=str(home),
        FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        FRESHINDEX_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        FRESHINDEX_KAFKA_SASL_USERNAME="alice",
        FRESHINDEX_METRICS_PORT="0",
        FRESHINDEX_SEMANTIC_CHUNKING="false",
        FRESHINDEX_DEDUP_ENABLED="false",
        **SECRETS,
    )
    env.update(extra)
    return env


def run_all(commands: list[tuple[str, ...]], env: dict[str, str], cwd: Path) -> Iterator[Run]:
    def one(args: tuple[str, ...]) -> Run:
        done = subprocess.run(
            [sys.executable, "-m", "tests.unit.cli_fast_fail", *args],
            env={**env, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=240,
        )
        return Run(args, done.returncode, done.stdout + done.stderr)

    with ThreadPoolExecutor(max_workers=3) as pool:
        yield from pool.map(one, commands)


def assert_no_secret(run: Run) -> None:
    assert run.output.strip(), f"`freshindex {' '.join(run.args)}` said nothing"
    leaked = [line for line in run.output.splitlines() if PLANTED in line]
    assert not leaked, f"`freshindex {' '.join(run.args)}` printed a credential: {leaked[:3]}"


def test_no_command_prints_a_credential(inputs: Path, tmp_path: Path) -> None:
    feed, doc, page = inputs / "feed.jsonl", inputs / "GA-1__manual.md", inputs / "page.html"
    out = ("--out", str(tmp_path / "chunks.jsonl"), "--report", str(tmp_path / "report.json"))
    commands: list[tuple[str, ...]] = [
        ("publish", str(feed)),
        ("-v", "publish", "--json", str(feed)),
        ("prepare", str(feed), *out),
        ("-v", "prepare", "--json", str(feed), *out),
        ("publish-docs", "--product-id", "GA-1", str(doc)),
        ("-v", "publish-docs", "--json", "--product-id", "GA-1", str(doc)),
        ("crawl", "http://127.0.0.1:1/"),
        ("-v", "crawl", "--json", "http://127.0.0.1:1/"),
        ("-v", "extract", str(page)),
        ("status",),
        ("-v", "status", "--json"),
        ("dead-letters",),
        ("-v", "dead-letters", "--json"),
        ("dead-letters", "replay", "--dry-run"),
        ("-v", "dead-letters", "replay", "--json"),
        ("search", "tomato"),
        ("-v", "search", "--json", "tomato"),
        ("worker",),
        ("-v", "worker"),
        ("-v", "serve"),
        ("-v", "services", "--json"),
        ("-v", "down"),
        ("-v", "restart", "triton"),
        ("up", "--help"),
        ("demo", "--help"),
    ]
    runs = list(run_all(commands, environment(tmp_path / "home"), tmp_path))
    for run in runs:
        assert_no_secret(run)
        if "-v" not in run.args:  # an error is one line, never a traceback
            assert "Traceback" not in run.output, run.output
    verbose_publish = runs[1].output
    # kafka-python logs its configuration at DEBUG, SASL password included: redacted, not gone
    assert "'sasl_plain_password': '***'" in verbose_publish
    assert "DEBUG kafka." in verbose_publish


def test_no_command_prints_weaviate_credentials(tmp_path: Path) -> None:
    commands: list[tuple[str, ...]] = [
        ("-v", "search", "--json", "tomato"),
        ("-v", "status", "--json"),
        ("-v", "serve"),
    ]
    env = environment(tmp_path / "home", FRESHINDEX_INDEX_BACKEND="weaviate")
    runs = list(run_all(commands, env, tmp_path))
    for run in runs:
        assert_no_secret(run)
    assert "http://weaviate:***@127.0.0.1:1" in runs[0].output  # said where, without the password


def test_no_command_prints_triton_credentials(tmp_path: Path) -> None:
    """With an (empty) index in place, search and serve get as far as Triton."""
    env = environment(tmp_path / "home")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        open_index(Settings(_env_file=None)).close()  # type: ignore[call-arg]
    commands: list[tuple[str, ...]] = [("-v", "search", "--json", "tomato"), ("-v", "serve")]
    runs = list(run_all(commands, env, tmp_path))
    for run in runs:
        assert_no_secret(run)
    assert "Triton" in runs[0].output and "api_key=***" in runs[0].output


def test_credentials_in_the_bootstrap_address_stop_every_command_without_echo(
    inputs: Path, tmp_path: Path
) -> None:
    env = environment(tmp_path / "home", FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS=BOOTSTRAP_WITH_PASSWORD)
    commands: list[tuple[str, ...]] = [
        ("publish", str(inputs / "feed.jsonl")),
        ("-v", "status", "--json"),
        ("dead-letters",),
        ("dead-letters", "replay"),
        ("-v", "worker"),
        ("crawl", "http://127.0.0.1:1/"),
        ("-v", "publish-docs", "--product-id", "GA-1", str(inputs / "GA-1__manual.md")),
    ]
    for run in run_all(commands, env, tmp_path):
        assert_no_secret(run)
        assert run.code == 78, run.output
        assert "credentials in FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS are not supported" in run.output
        assert "FRESHINDEX_KAFKA_SASL_PASSWORD" in run.output
