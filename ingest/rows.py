"""Rows of JSONL and CSV files, each with its 1-based line and raw text, for every reader of
row files (catalog feeds, document manifests): a row that cannot be read comes back as the
reason, so the caller reports it and goes on."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.errors import IngestError

Row = tuple[int, str, dict[str, Any] | str]
"""(line, raw text, the row as an object or why it cannot be read)."""


def jsonl_rows(path: Path) -> Iterator[Row]:
    """One JSON object per non-blank line (a BOM on the first line is allowed)."""
    with path.open("rb") as handle:
        for line, data in enumerate(handle, start=1):
            raw = data.decode("utf-8", errors="replace").strip().lstrip("\ufeff")
            if not raw:
                continue
            try:
                row = json.loads(data.decode("utf-8-sig" if line == 1 else "utf-8"))
            except UnicodeDecodeError:
                yield line, raw, "row is not valid UTF-8"
                continue
            except json.JSONDecodeError as e:
                yield line, raw, f"invalid JSON: {e.msg} at column {e.colno}"
                continue
            yield line, raw, row if isinstance(row, dict) else "row is not a JSON object"


def csv_rows(
    path: Path, *, required: set[str], error: type[IngestError], subject: str, columns: str
) -> Iterator[Row]:
    """CSV rows as {column: text}; raises `error` when the file is not UTF-8 (naming it
    `subject`) or the header lacks a `required` column (saying it must name `columns`)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{subject} is not UTF-8 text: {e}") from e
    reader = csv.DictReader(text.splitlines(keepends=True))
    if not reader.fieldnames or not required <= set(reader.fieldnames):
        raise error(f"{path}: CSV header must name {columns}")
    for row in reader:
        raw = json.dumps(row, ensure_ascii=False)
        if None in row:
            yield reader.line_num, raw, "row has more fields than the header"
            continue
        yield reader.line_num, raw, row
