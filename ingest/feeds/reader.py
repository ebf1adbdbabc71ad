"""Read catalog feeds (JSONL, CSV) row by row into validated, cleaned records.

Rows use the `ProductRecord` field names. A row with a truthy `deleted` field is a deletion
(only `id` is needed). CSV rows carry attributes as a JSON object in an `attributes` column
and/or as `attributes.<name>` columns. Every row yields exactly one item: `Accepted`,
`Deleted` or `Rejected` (with its 1-based line number and the reason), so nothing is dropped
silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingest.errors import FeedError, RowRejected
from ingest.prepare.clean import clean_line, clean_text
from ingest.rows import csv_rows, jsonl_rows
from schemas.models import Availability, ProductRecord, describe_errors

_TRUE = {"1", "true", "yes", "y", "deleted"}
_LINE_FIELDS = ("title", "brand", "category")
_AVAILABILITY = {a.value.lower(): a.value for a in Availability} | {
    "in stock": "InStock",
    "instock": "InStock",
    "available": "InStock",
    "out of stock": "OutOfStock",
    "sold out": "SoldOut",
    "preorder": "PreOrder",
    "pre-order": "PreOrder",
    "backorder": "BackOrder",
    "limited": "LimitedAvailability",
}


@dataclass(frozen=True, kw_only=True)
class Accepted:
    line: int
    record: ProductRecord


@dataclass(frozen=True, kw_only=True)
class Deleted:
    line: int
    product_id: str


@dataclass(frozen=True, kw_only=True)
class Rejected:
    line: int
    reason: str
    raw: str
    product_id: str | None = None


FeedItem = Accepted | Deleted | Rejected


def read_feed(path: Path, *, source: str | None = None) -> Iterator[FeedItem]:
    """Every row of a `.jsonl`/`.ndjson` or `.csv` feed, validated."""
    if not path.is_file():
        raise FeedError(f"feed file not found: {path}")
    source = source or f"feed:{path.name}"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = jsonl_rows(path)
    elif suffix == ".csv":
        rows = (
            (line, raw, row if isinstance(row, str) else _csv_row(row))
            for line, raw, row in csv_rows(
                path,
                required={"id"},
                error=FeedError,
                subject=str(path),
                columns="at least an 'id' column",
            )
        )
    else:
        raise FeedError(f"unknown feed format {suffix!r} for {path}: use .jsonl or .csv")
    for line, raw, row in rows:
        yield _item(line, raw, row, source)


def _csv_row(row: dict[str, str]) -> dict[str, Any] | str:
    out: dict[str, Any] = {
        k: v for k, v in row.items() if v != "" and not k.startswith("attributes.")
    }
    attributes: dict[str, Any] = {}
    if out.get("attributes"):
        try:
            attributes = json.loads(out["attributes"])
        except json.JSONDecodeError as e:
            return f"attributes column is not a JSON object: {e.msg}"
        if not isinstance(attributes, dict):
            return f"attributes column is not a JSON object (got {type(attributes).__name__})"
    attributes |= {
        k.removeprefix("attributes."): v
        for k, v in row.items()
        if k.startswith("attributes.") and v
    }
    if attributes:
        out["attributes"] = attributes
    return out


def _item(line: int, raw: str, row: dict[str, Any] | str, source: str) -> FeedItem:
    if isinstance(row, str):
        return Rejected(line=line, reason=row, raw=raw)
    product_id = str(row["id"]).strip() if row.get("id") not in (None, "") else None
    try:
        if str(row.get("deleted", "")).strip().lower() in _TRUE:
            if product_id is None:
                raise RowRejected("deletion row has no id")
            return Deleted(line=line, product_id=product_id)
        return Accepted(line=line, record=to_record(row, source))
    except RowRejected as e:
        return Rejected(line=line, reason=str(e), raw=raw, product_id=product_id)


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
        fields["attributes"] = {
            clean_line(str(k)): clean_line(str(v)) for k, v in fields["attributes"].items()
        }
    if isinstance(fields.get("availability"), str):
        value = (
            fields["availability"]
            .strip()
            .removeprefix("https://schema.org/")
            .removeprefix("http://schema.org/")
        )
        fields["availability"] = _AVAILABILITY.get(value.lower(), value)
    if isinstance(fields.get("currency"), str):
        fields["currency"] = fields["currency"].strip().upper()
    try:
        return ProductRecord.model_validate(fields)
    except ValidationError as e:
        raise RowRejected(describe_errors(e, subject="row", show_input=True)) from e
