"""`python -m tests.unit.cli_fast_fail ARGS...`: the real `freshindex` CLI with the Kafka
clients' waits cut to one second, so that commands pointed at a closed loopback port fail in
seconds instead of kafka-python's 30 s bootstrap timeout. Nothing else is changed: output,
logging and error paths are the CLI's own (a test helper, not a test module)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

import infra.stack.topics as topics
from infra.cli import app

WAIT_S = 1.0

_admin_client = topics.admin_client


@contextlib.contextmanager
def _quick_admin_client(config: dict[str, Any], timeout_s: float) -> Iterator[Any]:
    with _admin_client(config, min(timeout_s, WAIT_S)) as admin:
        yield admin


def main() -> None:
    for client in (KafkaAdminClient, KafkaConsumer, KafkaProducer):
        client.DEFAULT_CONFIG["bootstrap_timeout_ms"] = int(WAIT_S * 1000)
    topics.admin_client = _quick_admin_client  # type: ignore[assignment]
    app(prog_name="freshindex")


if __name__ == "__main__":
    main()
