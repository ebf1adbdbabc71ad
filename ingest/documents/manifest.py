"""Which document belongs to which product: manifests (JSONL or CSV) and paths given directly.

A manifest row names `path` and `product_id`, optionally `document_id` (default: the file name)
and `title` (the product title). Relative paths are relative to the manifest's directory. Every
row yields one item, a `DocumentSpec` or a `ManifestRejected` with its 1-based line number and
the reason (missing file, unsupported format, invalid product id, duplicate document), so
nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.core.ids import check_product_id
from ingest.core.rows import csv_rows, jsonl_rows
from ingest.documents.errors import DocumentError
from ingest.documents.parse import SUPPORTED_SUFFIXES
from ingest.errors import InvalidProductId

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_COLUMNS = ("path", "product_id", "document_id", "title")


@dataclass(frozen=True, kw_only=True)
class DocumentSpec:
    """One document to parse and the product it describes."""

    path: Path
    """The document file (absolute, or as given)."""
    product_id: str
    """Catalog id of the product (valid `schemas.models.ProductId`)."""
    document_id: str
    """Stable id of the document within the product; by default the file name."""
    title: str | None = None
    """Product title, when the manifest gives one."""


@dataclass(frozen=True, kw_only=True)
class ManifestRejected:
    """A manifest row that does not name a usable document."""

    line: int
    """1-based line of the row in the manifest."""
    reason: str
    """Why the row was rejected."""
    raw: str
    """The row as read."""


def read_manifest(path: Path) -> Iterator[DocumentSpec | ManifestRejected]:
    """Every row of a `.jsonl`/`.ndjson` or `.csv` manifest, checked."""
    if not path.is_file():
        raise DocumentError(f"manifest not found: {path}")
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        rows = jsonl_rows(path)
    elif suffix == ".csv":
        rows = (
            (line, raw, row if isinstance(row, str) else {k: v for k, v in row.items() if v != ""})
            for line, raw, row in csv_rows(
                path,
                required={"path", "product_id"},
                error=DocumentError,
                subject=f"manifest {path}",
                columns="'path' and 'product_id' columns",
            )
        )
    else:
        raise DocumentError(f"unknown manifest format {suffix!r}: use .jsonl or .csv")
    seen: set[tuple[str, str]] = set()
    for line, raw, row in rows:
        if isinstance(row, str):
            yield ManifestRejected(line=line, reason=row, raw=raw)
            continue
        item = _item(line, raw, row, path.parent)
        if isinstance(item, DocumentSpec):
            key = (item.product_id, item.document_id)
            if key in seen:
                reason = f"duplicate document_id {key[1]!r} for product {key[0]!r}"
                item = ManifestRejected(line=line, reason=reason, raw=raw)
            seen.add(key)
        yield item


def specs_for_paths(paths: Sequence[Path], product_id: str) -> list[DocumentSpec]:
    """Specs for files and directories given directly, all for one product.

    Directories are walked (hidden entries skipped) for files with a supported suffix, sorted;
    a walked file's `document_id` is its path relative to the directory, a file given directly
    keeps its name (and its suffix is checked later, by the parser).
    """
    product_id = _valid_product_id(product_id)
    specs: list[DocumentSpec] = []
    for path in paths:
        if not path.is_dir():
            specs.append(DocumentSpec(path=path, product_id=product_id, document_id=path.name))
            continue
        for file in sorted(_walk(path)):
            document_id = file.relative_to(path).as_posix()
            specs.append(DocumentSpec(path=file, product_id=product_id, document_id=document_id))
    return specs


def _walk(directory: Path) -> Iterator[Path]:
    for file in directory.rglob("*"):
        hidden = any(part.startswith(".") for part in file.relative_to(directory).parts)
        if file.is_file() and not hidden and file.suffix.lower() in SUPPORTED_SUFFIXES:
            yield file


def _valid_product_id(value: str) -> str:
    try:
        return check_product_id(value, subject="product_id")
    except InvalidProductId as e:
        raise DocumentError(f"invalid product_id {value!r}: {e.problem}") from e


def _item(line: int, raw: str, row: dict[str, Any], base: Path) -> DocumentSpec | ManifestRejected:
    def rejected(reason: str) -> ManifestRejected:
        return ManifestRejected(line=line, reason=reason, raw=raw)

    fields = {k: v.strip() if isinstance(v, str) else v for k, v in row.items()}
    unknown = sorted(set(fields) - set(_COLUMNS))
    if unknown:
        return rejected(f"unknown column(s) {', '.join(unknown)}; expected {', '.join(_COLUMNS)}")
    for name in _COLUMNS:
        if fields.get(name) is not None and not isinstance(fields[name], str):
            return rejected(f"{name} must be a string, got {type(fields[name]).__name__}")
    if not fields.get("path"):
        return rejected("row has no path")
    try:
        product_id = _valid_product_id(fields.get("product_id") or "")
    except DocumentError as e:
        return rejected(str(e))
    path = base / fields["path"]
    if not path.is_file():
        return rejected(f"document file not found: {path}")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return rejected(f"unsupported document format {path.suffix or '(no suffix)'!r}")
    return DocumentSpec(
        path=path,
        product_id=product_id,
        document_id=fields.get("document_id") or path.name,
        title=fields.get("title") or None,
    )
