"""Rows of JSONL and CSV files, each with its 1-based line, raw text and size, for every reader
of row files (catalog feeds, document manifests): a row that cannot be read comes back as the
reason, so the caller reports it and goes on.

A row is refused, with the reason, when it is:
  - over `RowLimits.max_bytes` (`FRESHINDEX_FEED_MAX_ROW_BYTES`): a JSONL line is read with that
    bound, so an oversized row is never held whole; a CSV record's lines likewise, its quoted
    line breaks followed by counting quotes;
  - nested deeper than `RowLimits.max_depth` (`FRESHINDEX_FEED_MAX_DEPTH`), however deep
    (Python's own recursion limit is never reached);
  - not UTF-8 (per row: the other rows go on), not JSON, not an object, an object with a key
    twice; a CSV record with more or fewer fields than the header, or one the csv module
    cannot parse.
What refuses the file as a whole (`error`): a CSV without a usable header (empty, not UTF-8,
lacking a required column, naming a column twice: no row of it could be read unambiguously).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ingest.errors import IngestError
from schemas.models import DEAD_LETTER_PAYLOAD_MAX_BYTES
from schemas.settings import Settings

Row = tuple[int, str, dict[str, Any] | str]
"""(line, raw text, the row as an object or why it cannot be read)."""

_SKIP_CHUNK = 1 << 16


def _default(name: str) -> int:
    value = Settings.model_fields[name].default
    assert isinstance(value, int)
    return value


@dataclass(frozen=True, kw_only=True)
class RowLimits:
    """Bounds on one row (defaults: the settings' defaults)."""

    max_bytes: int = _default("feed_max_row_bytes")
    """Most bytes in a row, line break not counted."""
    max_depth: int = _default("feed_max_depth")
    """Deepest nesting of objects and lists (the row itself is level 1)."""

    @classmethod
    def of(cls, settings: Settings) -> RowLimits:
        return cls(max_bytes=settings.feed_max_row_bytes, max_depth=settings.feed_max_depth)


@dataclass(frozen=True, kw_only=True)
class RawRow:
    """One row as read."""

    line: int
    """1-based line (for a CSV record over several lines: its last line)."""
    raw: str
    """The row's text (its first 64 KiB when it was refused for its size)."""
    size: int
    """Size of the whole row in bytes."""
    row: dict[str, Any] | str
    """The row as an object, or why it cannot be read."""


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def too_large(size: int, limits: RowLimits) -> str:
    return (
        f"row is {size} bytes, over the limit of {limits.max_bytes} (FRESHINDEX_FEED_MAX_ROW_BYTES)"
    )


def too_deep(limits: RowLimits, depth: int | None = None) -> str:
    deep = f"{depth} levels" if depth is not None else "too deeply"
    return f"row is nested {deep}, over the limit of {limits.max_depth} (FRESHINDEX_FEED_MAX_DEPTH)"


def nesting_depth(value: object) -> int:
    """Levels of objects and lists in `value` (0 for a scalar), counted without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        raise _DuplicateKey(next(k for i, k in enumerate(keys) if k in keys[:i]))
    return obj


def parse_json(text: str, limits: RowLimits) -> object:
    """`text` as JSON within the depth limit; raises ValueError with a readable reason."""
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError(too_deep(limits)) from None
    except _DuplicateKey as e:
        raise ValueError(f"key {e.key!r} appears twice in one object") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e.msg} at column {e.colno}") from None
    except ValueError as e:  # a number json cannot convert (an integer of 5,000 digits)
        raise ValueError(f"invalid JSON: {str(e).split(':')[0]}") from None
    brackets = text.count("[") + text.count("{")  # at C speed: most rows cannot be too deep
    if brackets > limits.max_depth and (depth := nesting_depth(value)) > limits.max_depth:
        raise ValueError(too_deep(limits, depth))
    return value


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    return (
        f"row is not valid UTF-8 (byte 0x{data[error.start]:02x} at column {error.start + 1};"
        " is the file saved as UTF-8?)"
    )


@dataclass(frozen=True)
class _Line:
    data: bytes
    """The line, at most `max_bytes` + 2 bytes of it (room for a CRLF)."""
    size: int
    """Bytes of the whole line without its line break."""
    eol: int
    """Bytes of its line break (0 at the end of a file without one)."""
    quotes: int
    """Double quotes in the whole line."""

    @property
    def cut(self) -> bool:
        return self.size + self.eol > len(self.data)


def _read_line(handle: IO[bytes], max_bytes: int) -> _Line:
    """The next physical line; the rest of an over-long line is read past, not kept."""
    data = handle.readline(max_bytes + 2)
    size, quotes, tail = len(data), data.count(b'"'), data[-2:]
    if size == max_bytes + 2 and not data.endswith(b"\n"):
        while chunk := handle.readline(_SKIP_CHUNK):
            size, quotes, tail = size + len(chunk), quotes + chunk.count(b'"'), (tail + chunk)[-2:]
            if chunk.endswith(b"\n"):
                break
    eol = 2 if tail == b"\r\n" else 1 if tail.endswith(b"\n") else 0
    return _Line(data=data, size=size - eol, eol=eol, quotes=quotes)


def _preview(data: bytes) -> str:
    return data[:DEAD_LETTER_PAYLOAD_MAX_BYTES].decode("utf-8", errors="replace")


def read_jsonl(path: Path, limits: RowLimits | None = None) -> Iterator[RawRow]:
    """One JSON object per non-blank line (a BOM on the first line is allowed)."""
    limits = limits or RowLimits()
    with path.open("rb") as handle:
        number = 0
        while (line := _read_line(handle, limits.max_bytes)).data:
            number += 1
            if line.size > limits.max_bytes:
                reason = too_large(line.size, limits)
                yield RawRow(line=number, raw=_preview(line.data), size=line.size, row=reason)
                continue
            raw = line.data.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
            if raw:
                row = _json_row(line.data, number, limits)
                yield RawRow(line=number, raw=raw, size=line.size, row=row)


def _json_row(data: bytes, line: int, limits: RowLimits) -> dict[str, Any] | str:
    try:
        text = data.decode("utf-8-sig" if line == 1 else "utf-8")
    except UnicodeDecodeError as e:
        return _not_utf8(data, e)
    try:
        row = parse_json(text, limits)
    except ValueError as e:
        return str(e)
    return row if isinstance(row, dict) else "row is not a JSON object"


@dataclass(frozen=True, kw_only=True)
class _Record:
    """What one CSV record used of the file."""

    first: int
    last: int
    raw: str
    size: int
    problem: str | None


class _CsvLines:
    """The physical lines of a CSV file for `csv.reader` (which reads no further than the
    record it parses), each read within the row limit and decoded on its own; what the record
    being parsed used (lines, bytes, problems) is kept until `take()`.

    Once a record is over the limit (one long line, or many lines of a quoted field), the rest
    is not given to the csv reader: the file is read past to where its quotes say the record
    ends (an odd count so far: a quoted field goes on to the next line), and the reader gets a
    line that ends the record there, so the records after it read as written."""

    def __init__(self, handle: IO[bytes], limits: RowLimits) -> None:
        self._handle = handle
        self._limits = limits
        self.line = 0
        self._reset()

    def _reset(self) -> None:
        self._first = self._size = self._eol = self._quotes = 0
        self._start = b""
        self._oversized = False
        self._not_utf8: str | None = None

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        line = self._next_line()
        if line.cut or self._size > self._limits.max_bytes:
            return self._past_oversized(line)
        self._quotes += line.quotes
        try:
            return line.data.decode("utf-8-sig" if self.line == 1 else "utf-8")
        except UnicodeDecodeError as e:
            self._not_utf8 = self._not_utf8 or _not_utf8(line.data, e)
            return line.data.decode("utf-8", errors="replace")

    def _next_line(self) -> _Line:
        line = _read_line(self._handle, self._limits.max_bytes)
        if not line.data:
            raise StopIteration
        self.line += 1
        self._first = self._first or self.line
        self._start = self._start or line.data
        self._size += self._eol + line.size
        self._eol = line.eol
        return line

    def _past_oversized(self, line: _Line) -> str:
        """Read past the rest of an oversized record; the line the csv reader gets instead."""
        was_open = self._quotes % 2 == 1
        self._quotes += line.quotes
        self._oversized = True
        while self._quotes % 2 == 1:
            try:
                self._quotes += self._next_line().quotes
            except StopIteration:
                break
        return '"\n' if was_open else "\n"

    def take(self) -> _Record:
        """The record just parsed (or abandoned on a csv error); starts the next one."""
        problem = self._not_utf8
        if self._oversized or self._size > self._limits.max_bytes:
            problem = too_large(self._size, self._limits)
        record = _Record(
            first=self._first,
            last=self.line,
            raw=_preview(self._start),
            size=self._size,
            problem=problem,
        )
        self._reset()
        return record


def read_csv(
    path: Path,
    *,
    required: set[str],
    error: type[IngestError],
    subject: str,
    columns: str,
    limits: RowLimits | None = None,
) -> Iterator[RawRow]:
    """CSV records as {column: text}, each at its first line (RFC 4180 quoting, strictly: a
    malformed record is rejected, not guessed). Raises `error` (naming `subject`) when the
    header is missing, not UTF-8, names a column twice or lacks a `required` column (saying it
    must name `columns`)."""
    limits = limits or RowLimits()
    csv.field_size_limit(max(csv.field_size_limit(), limits.max_bytes))
    with path.open("rb") as handle:
        lines = _CsvLines(handle, limits)
        reader = csv.reader(lines, strict=True)
        header = _header(reader, lines, required=required, error=error, subject=subject)
        if header is None:
            raise error(f"{subject}: CSV header must name {columns}")
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield _malformed(lines.take(), e)
                continue
            record = lines.take()
            if record.problem is None and not "".join(fields).strip():
                continue  # a blank line
            row = record.problem or _fields(header, fields)
            raw = json.dumps(row, ensure_ascii=False) if isinstance(row, dict) else record.raw
            yield RawRow(line=record.first, raw=raw, size=record.size, row=row)


def _header(
    reader: Iterator[list[str]],
    lines: _CsvLines,
    *,
    required: set[str],
    error: type[IngestError],
    subject: str,
) -> list[str] | None:
    """The column names (stripped), or None when a required one is missing."""
    try:
        fields = next(reader)
    except StopIteration:
        raise error(f"{subject}: empty CSV (no header row)") from None
    except csv.Error as e:
        raise error(f"{subject}: unreadable CSV header: {e}") from e
    if (problem := lines.take().problem) is not None:
        raise error(f"{subject}: unusable CSV header: {problem}")
    if not "".join(fields).strip():
        raise error(f"{subject}: empty CSV (the first line, its header, is blank)")
    header = [name.strip() for name in fields]
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise error(
            f"{subject}: CSV header names {', '.join(map(repr, twice))} more than once: which"
            " value counts would be a guess; remove or rename the extra column"
        )
    return header if header and required <= set(header) else None


def _fields(header: list[str], fields: list[str]) -> dict[str, str] | str:
    if len(fields) > len(header):
        return "row has more fields than the header"
    if len(fields) < len(header):
        return f"row has fewer fields than the header ({len(fields)} of {len(header)})"
    return dict(zip(header, fields, strict=True))


def _malformed(record: _Record, error: csv.Error) -> RawRow:
    reason = record.problem or f"malformed CSV record: {error}"
    if str(error) == "unexpected end of data":
        reason = f"a quoted field opened at line {record.first} is never closed"
    return RawRow(line=record.first, raw=record.raw, size=record.size, row=reason)


def jsonl_rows(path: Path, limits: RowLimits | None = None) -> Iterator[Row]:
    """`read_jsonl` as (line, raw text, row or reason)."""
    return ((r.line, r.raw, r.row) for r in read_jsonl(path, limits))


def csv_rows(
    path: Path,
    *,
    required: set[str],
    error: type[IngestError],
    subject: str,
    columns: str,
    limits: RowLimits | None = None,
) -> Iterator[Row]:
    """`read_csv` as (line, raw text, row or reason)."""
    rows = read_csv(
        path, required=required, error=error, subject=subject, columns=columns, limits=limits
    )
    return ((r.line, r.raw, r.row) for r in rows)
