"""Topic names and the settings freshindex creates them with."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.settings import Settings


@dataclass(frozen=True, kw_only=True)
class TopicSpec:
    """A topic freshindex owns."""

    name: str
    """Topic name."""
    partitions: int
    """Partition count (all chunks of a product share one partition: keyed by product id)."""
    replication: int
    """Replication factor."""
    config: dict[str, str]
    """Topic configs (ignored by the local Tansu broker; honoured by Kafka)."""


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """The chunks topic and the dead-letter topic."""
    return [
        TopicSpec(
            name=settings.chunks_topic,
            partitions=settings.topic_partitions,
            replication=settings.topic_replication,
            # Deletes are explicit ProductDeleted events, so plain time retention is safe;
            # the index, not the topic, is the current state.
            config={"cleanup.policy": "delete", "retention.ms": str(7 * 24 * 3600 * 1000)},
        ),
        TopicSpec(
            name=settings.dead_letter_topic,
            partitions=1,
            replication=settings.topic_replication,
            config={"cleanup.policy": "delete", "retention.ms": str(30 * 24 * 3600 * 1000)},
        ),
    ]
