"""Kafka admin for any broker (Tansu, Apache Kafka, a cluster): readiness probes, topic creation,
and the fail-fast precheck of every dependency a worker needs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from infra.stack.errors import ServiceNotReady, StackError
from infra.stack.supervisor import PROBE_TIMEOUT_S, port_open
from schemas.settings import Settings
from schemas.topics import topic_specs

log = logging.getLogger("freshindex.infra")


@contextlib.contextmanager
def admin_client(config: dict[str, Any], timeout_s: float) -> Iterator[Any]:
    from kafka import KafkaAdminClient

    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(
        **config,
        client_id="freshindex-admin",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
    )
    try:
        yield admin
    finally:
        admin.close()


def list_topics(config: dict[str, Any], timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """One real metadata call to the broker (raises if it cannot be made)."""
    with admin_client(config, timeout_s) as admin:
        return list(admin.list_topics())


def broker_ready(address: str) -> bool:
    if not port_open(address):
        return False
    try:
        list_topics({"bootstrap_servers": address})
    except Exception as e:
        log.debug("broker at %s not ready yet: %s", address, e)
        return False
    return True


def ensure_topics(settings: Settings, timeout_s: float = 30) -> None:
    """Create the chunks and dead-letter topics if missing, then wait until they are usable."""
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    specs = topic_specs(settings)
    try:
        with admin_client(settings.kafka_client_config(), timeout_s) as admin:
            existing = set(admin.list_topics())
            missing = {
                spec.name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication,
                    "configs": spec.config,
                }
                for spec in specs
                if spec.name not in existing
            }
            if missing:
                result = admin.create_topics(missing, raise_errors=False)
                _check_created(result, TopicAlreadyExistsError.errno)
                log.info("created topics %s", sorted(missing))
            admin.wait_for_topics([spec.name for spec in specs], timeout_ms=int(timeout_s * 1000))
    except KafkaError as e:
        raise StackError(
            f"Kafka broker at {settings.kafka_bootstrap_servers}: topics not usable: {e}"
        ) from e


def _check_created(result: dict[str, Any], already_exists: int) -> None:
    from kafka.errors import for_code

    for topic in result.get("topics", []):
        code = int(topic.get("error_code", 0))
        if code not in (0, already_exists):
            error = for_code(code)
            raise StackError(
                f"could not create topic {topic.get('name')!r}: {error.__name__}"
                f" {topic.get('error_message') or ''}".rstrip()
            )


def check_services(settings: Settings, timeout_s: float = 5.0, *, index: bool = True) -> None:
    """Fail fast: one real call to the broker, the Triton model and the index; name the missing one."""
    from infra.stack.triton import model_ready

    broker = settings.kafka_bootstrap_servers
    try:
        list_topics(settings.kafka_client_config(), timeout_s)
    except Exception as e:
        raise ServiceNotReady(
            f"Kafka broker at {broker} is not reachable (is the stack up? run `freshindex up`;"
            f" setting FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS): {type(e).__name__}: {e}"
        ) from e
    http_url, model = settings.triton_http_url, settings.triton_model
    try:
        ready = model_ready(http_url, model, timeout_s)
    except Exception as e:
        raise ServiceNotReady(
            f"Triton at {http_url} is not reachable (is the stack up? run `freshindex up`;"
            f" setting FRESHINDEX_TRITON_HTTP_URL): {type(e).__name__}: {e}"
        ) from e
    if not ready:
        raise ServiceNotReady(
            f"Triton at {http_url} is up but model {model!r} is not ready"
            " (setting FRESHINDEX_TRITON_MODEL)"
        )
    if index:
        _check_index(settings)


def _check_index(settings: Settings) -> None:
    from workers.errors import VectorIndexError
    from workers.index.factory import open_index

    try:
        open_index(settings).close()
    except VectorIndexError as e:
        raise ServiceNotReady(f"index ({settings.index_backend}): {e}") from e
