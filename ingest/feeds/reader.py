"""Read catalog feeds (JSONL, CSV) row by row into validated, cleaned records.

Rows use the `ProductRecord` field names. A row with a truthy `deleted` field is a deletion
(only `id` is needed). CSV rows carry attributes as a JSON object in an `attributes` column
and/or as `attributes.<name>` columns. Every row yields exactly one item (`ingest.core.items`):
`Accepted`, `Deleted` or `Rejected` (with the reason), each at its file and 1-based line, so
nothing is dropped silently. Availability is read by `ingest.core.availability` (a value it does
not know rejects the row), ids are checked by `ingest.core.ids`. Rows are read within
`RowLimits` (`ingest.core.rows`: size, nesting depth); what makes a
row ambiguous is rejected, not guessed: a key twice in a JSON object, an attribute given twice
(after cleaning its name, or both in the `attributes` column and an `attributes.<name>`
column), a nested object as an attribute value. A CSV whose header names a column twice is
refused as a whole (`FeedError`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingest.core.availability import availability
from ingest.core.ids import check_product_id
from ingest.core.items import Accepted, Deleted, Location, Rejected, SourceItem
from ingest.core.rows import RawRow, RowLimits, parse_json, read_csv, read_jsonl
from ingest.core.text import clean_line, clean_text
from ingest.errors import FeedError, InvalidProductId, RowRejected
from schemas.models import ProductRecord, describe_errors, render_attribute

_TRUE = {"1", "true", "yes", "y", "deleted"}
_LINE_FIELDS = ("title", "brand", "category")


def read_feed(
    path: Path, *, source: str | None = None, limits: RowLimits | None = None
) -> Iterator[SourceItem]:
    """Every row of a `.jsonl`/`.ndjson` or `.csv` feed, validated. Raises `FeedError` when the
    feed as a whole cannot be read (`ingest.prepare.chain.reported` turns that into a report
    entry)."""
    feed = feed_rows(path, source=source, limits=limits)
    for row in feed.rows():
        yield feed.item(row)


@dataclass(frozen=True, kw_only=True)
class FeedRows:
    """A feed read in two steps: `rows` as read (parsed, within the limits), and `item`, which
    validates and cleans one of them (the costly step, which a publish's unchanged path skips
    for rows it has sent before: `ingest.unchanged`)."""

    path: Path
    source: str
    limits: RowLimits
    csv: bool

    def rows(self) -> Iterator[RawRow]:
        """The rows as read; raises `FeedError` when the feed cannot be read as a whole."""
        if self.csv:
            return read_csv(
                self.path,
                required={"id"},
                error=FeedError,
                subject=str(self.path),
                columns="at least an 'id' column",
                limits=self.limits,
            )
        return read_jsonl(self.path, self.limits)

    def item(self, row: RawRow) -> SourceItem:
        """One row as an item: accepted (validated, cleaned), a deletion, or rejected."""
        return _item(row, str(self.path), self.source, self.limits, csv=self.csv)

    def at(self, row: RawRow) -> Location:
        return Location(input=str(self.path), line=row.line)


def feed_rows(
    path: Path, *, source: str | None = None, limits: RowLimits | None = None
) -> FeedRows:
    """The feed at `path`; raises `FeedError` for a missing file or an unknown format."""
    if not path.is_file():
        raise FeedError(f"feed file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".json", ".csv"):
        raise FeedError(f"unknown feed format {suffix!r} for {path}: use .jsonl or .csv")
    return FeedRows(
        path=path,
        source=source or f"feed:{path.name}",
        limits=limits or RowLimits(),
        csv=suffix == ".csv",
    )


def _csv_row(row: dict[str, str], limits: RowLimits) -> dict[str, Any] | str:
    out: dict[str, Any] = {
        k: v for k, v in row.items() if v != "" and not k.startswith("attributes.")
    }
    attributes = _attributes_column(out.get("attributes", ""), limits)
    if isinstance(attributes, str):
        return attributes
    columns = {
        k.removeprefix("attributes."): v
        for k, v in row.items()
        if k.startswith("attributes.") and v
    }
    if twice := sorted(attributes.keys() & columns.keys()):
        return (
            f"attribute {twice[0]!r} is given twice: in the attributes column and in the"
            f" attributes.{twice[0]} column"
        )
    if attributes or columns:
        out["attributes"] = attributes | columns
    return out


def _attributes_column(text: str, limits: RowLimits) -> dict[str, Any] | str:
    """The `attributes` column of a CSV row as an object (empty: none), or why it is not one."""
    if not text:
        return {}
    try:
        value = parse_json(text, limits)
    except ValueError as e:
        return f"attributes column is not a JSON object: {e}"
    if not isinstance(value, dict):
        return f"attributes column is not a JSON object (got {type(value).__name__})"
    return value


def _row_id(row: dict[str, Any]) -> str | None:
    """The row's id as text, if it has one that can be text (a number counts)."""
    value = row.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def _item(raw_row: RawRow, path: str, source: str, limits: RowLimits, *, csv: bool) -> SourceItem:
    at, raw, row = Location(input=path, line=raw_row.line), raw_row.raw, raw_row.row
    if isinstance(row, dict) and csv:
        row = _csv_row(row, limits)
    if isinstance(row, str):
        return Rejected(at=at, reason=row, raw=raw, raw_bytes=raw_row.size)
    product_id = _row_id(row)
    try:
        if str(row.get("deleted", "")).strip().lower() in _TRUE:
            return Deleted(at=at, product_id=_deletion_id(row))
        return Accepted(at=at, record=to_record(row, source))
    except RowRejected as e:
        return Rejected(
            at=at, reason=str(e), raw=raw, product_id=product_id, raw_bytes=raw_row.size
        )


def _deletion_id(row: dict[str, Any]) -> str:
    """The valid product id a deletion row names; raises `RowRejected`."""
    if row.get("id") in (None, ""):
        raise RowRejected("deletion row has no id")
    if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
        raise RowRejected(f"deletion row: id must be text, got {type(row['id']).__name__}")
    try:
        return check_product_id(str(row["id"]).strip(), subject="id")
    except InvalidProductId as e:
        raise RowRejected(str(e)) from e


def to_record(row: dict[str, Any], source: str) -> ProductRecord:
    """Validate and clean one row; raises `RowRejected` with a readable reason."""
    fields = {k: v for k, v in row.items() if k != "deleted"}
    fields.setdefault("source", source)
    for key in _LINE_FIELDS:
        if isinstance(fields.get(key), str):
            fields[key] = clean_line(fields[key]) or None
    if isinstance(fields.get("description"), str):
        fields["description"] = clean_text(fields["description"])
    if isinstance(fields.get("attributes"), dict):
        fields["attributes"] = clean_attributes(fields["attributes"])
    if isinstance(fields.get("availability"), str):
        fields["availability"] = availability(fields["availability"]) or fields["availability"]
    if isinstance(fields.get("currency"), str):
        fields["currency"] = fields["currency"].strip().upper()
    try:
        return ProductRecord.model_validate(fields)
    except ValidationError as e:
        raise RowRejected(describe_errors(e, subject="row", show_input=True)) from e


def clean_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """Names and values cleaned onto one line, values rendered as text (`render_attribute`:
    a list as `S, M`, None leaves the attribute out); raises `RowRejected` for a nested value or
    for two names that are the same once cleaned."""
    out: dict[str, str] = {}
    names: dict[str, object] = {}
    for key, value in attributes.items():
        name = clean_line(str(key))
        if name in names:
            raise RowRejected(
                f"attributes: {names[name]!r} and {key!r} are the same name once cleaned"
            )
        names[name] = key
        try:
            text = render_attribute(value)
        except ValueError as e:
            raise RowRejected(f"attributes.{name}: {e}") from e
        if text is not None:
            out[name] = clean_line(text)
    return out
