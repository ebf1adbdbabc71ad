"""Kafka producer for the chunks and dead-letter topics (kafka-python).

kafka-python is used because it is the well-kept synchronous client with the widest broker
compatibility (it works against Tansu here and Apache Kafka in production). Messages are keyed
by product id so all chunks of a product land in one partition, in order; `acks="all"` so a
publish is only counted once the broker has it. On Apache Kafka the producer is idempotent:
a retried send after a lost acknowledgement is written once, and order within a partition holds
across retries. Tansu (`FRESHINDEX_KAFKA_FLAVOR=tansu`) has no InitProducerId, so there, and
only there, the producer is a plain at-least-once one (the index's idempotent writes absorb a
duplicate).
"""

from __future__ import annotations

import logging
from typing import Protocol, TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ingest.errors import PublishError
from schemas.models import Chunk, DeadLetter, ProductDeleted
from schemas.redact import redact, redact_letter, register_settings
from schemas.settings import Settings

log = logging.getLogger("freshindex.ingest")


class MessageSink(Protocol):
    """Where prepared messages go (Kafka in production; a list in unit tests)."""

    def send(self, message: Chunk | ProductDeleted) -> None: ...

    def send_dead_letter(self, letter: DeadLetter) -> None: ...

    def flush(self) -> None: ...


class KafkaSink:
    """Produces to the chunks topic (keyed by product id) and the dead-letter topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        register_settings(settings)  # its credentials never show in an error or dead letter
        compression = (
            None if settings.producer_compression == "none" else settings.producer_compression
        )
        try:
            self._producer = KafkaProducer(
                **settings.kafka_client_config(),
                enable_idempotence=settings.kafka_flavor == "kafka",
                acks="all",
                compression_type=compression,
                linger_ms=20,
                batch_size=256 * 1024,
                max_request_size=4 * 1024 * 1024,
                retries=5,
                client_id="freshindex-publisher",
            )
        except KafkaError as e:
            raise PublishError(
                redact(f"Kafka broker at {settings.kafka_bootstrap_servers} is not reachable: {e}")
            ) from e
        self._failures: list[str] = []
        self.sent = 0

    def send(self, message: Chunk | ProductDeleted) -> None:
        self._send(self.settings.chunks_topic, message.product_id, message.model_dump_json())

    def send_dead_letter(self, letter: DeadLetter) -> None:
        letter = redact_letter(letter)
        self._send(self.settings.dead_letter_topic, letter.key, letter.model_dump_json())

    def _send(self, topic: str, key: str | None, value: str) -> None:
        future = self._producer.send(topic, key=key.encode() if key else None, value=value.encode())
        future.add_errback(lambda e: self._failures.append(redact(f"{topic} key={key}: {e}")))
        self.sent += 1

    def flush(self) -> None:
        """Block until every message is acknowledged; raise if any was not."""
        self._producer.flush()
        if self._failures:
            failures, self._failures = self._failures, []
            raise PublishError(f"{len(failures)} messages were not published, first: {failures[0]}")

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileSink:
    """Writes what would be produced to the chunks topic as JSON lines (`freshindex prepare`);
    dead letters are kept in `dead_letters` (the prepare report lists them)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.written = 0
        self.dead_letters: list[DeadLetter] = []

    def send(self, message: Chunk | ProductDeleted) -> None:
        self.stream.write(message.model_dump_json() + "\n")
        self.written += isinstance(message, Chunk)

    def send_dead_letter(self, letter: DeadLetter) -> None:
        self.dead_letters.append(redact_letter(letter))

    def flush(self) -> None:
        self.stream.flush()


class CountingSink:
    """A `MessageSink` that sends nothing (dry runs): a publish counts what would go out."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: Chunk | ProductDeleted) -> None:
        self.sent += 1

    def send_dead_letter(self, letter: DeadLetter) -> None:
        self.sent += 1

    def flush(self) -> None:
        return None
