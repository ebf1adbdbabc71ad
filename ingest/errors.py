"""Errors of the ingest side.

IngestError
 ├── FeedError          the feed as a whole cannot be read (missing file, unknown format)
 ├── RowRejected        one row is invalid; the feed goes on and the row is reported
 └── PublishError       the broker did not take the messages
"""

from __future__ import annotations


class IngestError(Exception):
    """Root of every ingest error."""


class FeedError(IngestError):
    """The feed cannot be read at all."""


class RowRejected(IngestError):
    """A feed row is invalid; carries a human-readable reason."""


class PublishError(IngestError):
    """Producing to Kafka failed."""
