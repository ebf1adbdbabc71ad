"""Errors of the ingest side.

IngestError
 ├── FeedError          the feed as a whole cannot be read (missing file, unknown format)
 ├── RowRejected        one row is invalid; the feed goes on and the row is reported
 ├── InvalidProductId   a product id `schemas.models.ProductId` refuses (`ingest.core.ids`)
 └── PublishError       the broker did not take the messages
"""

from __future__ import annotations


class IngestError(Exception):
    """Root of every ingest error."""


class FeedError(IngestError):
    """The feed cannot be read at all."""


class RowRejected(IngestError):
    """A feed row is invalid; carries a human-readable reason."""


class InvalidProductId(IngestError):
    """A product id `schemas.models.ProductId` refuses."""

    def __init__(self, message: str, *, value: str, problem: str) -> None:
        super().__init__(message)
        self.value = value
        """The id as given."""
        self.problem = problem
        """What is wrong with it (`String should have at most 200 characters`)."""


class PublishError(IngestError):
    """Producing to Kafka failed."""
