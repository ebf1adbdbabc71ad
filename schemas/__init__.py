"""freshindex wire contract: message models, topic specs and settings. Depends on nothing else here."""

from schemas.models import (
    CHUNKS_TOPIC_MESSAGE,
    SCHEMA_VERSION,
    Availability,
    Chunk,
    DeadLetter,
    ProductDeleted,
    ProductMetadata,
    ProductRecord,
    chunk_id,
    content_hash,
)
from schemas.settings import Settings

__all__ = [
    "CHUNKS_TOPIC_MESSAGE",
    "SCHEMA_VERSION",
    "Availability",
    "Chunk",
    "DeadLetter",
    "ProductDeleted",
    "ProductMetadata",
    "ProductRecord",
    "Settings",
    "chunk_id",
    "content_hash",
]
