"""What a source yields: one item per row, page or input, each with where it came from.

    Accepted   a product record, validated and cleaned
    Deleted    a product id to take out of the index
    Rejected   a row, page or input that cannot be used, with the reason and what was read

Every source (catalog feeds, saved and crawled pages, document manifests) places its items with
one `Location`: the input (a file path or a page URL) and, for a row of a row file, its line. An
item that is a whole input (a page, an input that failed as a whole) has no line: `line` is None,
never a made-up 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.models import ProductRecord


@dataclass(frozen=True, kw_only=True)
class Location:
    """Where an item came from; `str()` renders it one way: `input:line` for a row, the input
    alone for a whole one."""

    input: str
    """The input: a file path (as given) or a page URL; for an input that failed as a whole
    while it was published, the source it was published as (`feed:catalog.jsonl`)."""
    line: int | None = None
    """1-based line of the item's row in a row file (a CSV record over several lines: its first
    line); None when the item is a whole input."""

    def __str__(self) -> str:
        return self.input if self.line is None else f"{self.input}:{self.line}"


@dataclass(frozen=True, kw_only=True)
class Accepted:
    """A product record to index."""

    at: Location
    """Where the record was read."""
    record: ProductRecord
    """The record, validated and cleaned."""


@dataclass(frozen=True, kw_only=True)
class Deleted:
    """A product to take out of the index."""

    at: Location
    """Where the deletion was read."""
    product_id: str
    """The product's id (a valid `schemas.models.ProductId`)."""


@dataclass(frozen=True, kw_only=True)
class Rejected:
    """A row, page or input that cannot be used, with the reason."""

    at: Location
    """Where it was read (no line: a page, or an input that failed as a whole)."""
    reason: str
    """Why, readable by whoever fixes the input."""
    raw: str
    """The row as read (its start only when it was refused for its size); for a page or a whole
    input, its path or URL."""
    product_id: str | None = None
    """The product id it names, when one could be read."""
    raw_bytes: int | None = None
    """Size of the whole row in bytes, when known (the dead letter's `payload_bytes`)."""
    input_error: bool = False
    """Not one row but the input itself failed (a missing file, an unusable CSV header, an error
    that stopped the reading): the command exits with status 1."""


SourceItem = Accepted | Deleted | Rejected
"""What every source yields, one per row, page or failed input."""
