"""Mixed inputs for `freshindex prepare` and `publish-docs`: which file is what, and the chain
run over each (`ingest.publish.send_inputs` sends what it prepares).

This module sits above the sources and the chain (the layers, `ingest`): it reads every kind of
input (feeds, manifests, documents, saved pages) and hands the items to `ingest.prepare`.

What a path is, by name and (for .jsonl/.csv) first row:
  - `.jsonl` / `.ndjson` / `.csv` whose first row has `path` and `product_id` (and no `id`): a
    document manifest (`ingest.documents.read_manifest`);
  - other `.jsonl` / `.ndjson` / `.csv`: a catalog feed (read as `freshindex publish` reads it);
  - `<product-id>__<name>.<pdf|docx|md|markdown|txt|html|htm>`: a document of that product
    (the file path carries the product id);
  - `.pdf`, `.docx`, `.md`, `.markdown`, `.txt`: a document of `--product-id`;
  - `.html`, `.htm`, `.html.gz`: a saved product page (the page extractor reads it);
  - a directory: every file in it, sorted, by the same rules.
Anything else (a missing path, an unsupported file) is rejected with the reason, as an
`input_error`; so is an input that fails as a whole while it is read (a CSV without a usable
header, an error that stops it: `ingest.prepare.chain.reported`). Neither stops the other
inputs: every input is processed and reported. A saved page is one item, placed at its path
(no line).
"""

from __future__ import annotations

import csv
import gzip
import io
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ingest.core.ids import check_product_id
from ingest.core.items import Accepted, Location, Rejected, SourceItem
from ingest.core.rows import RowLimits, parse_json
from ingest.documents import (
    SUPPORTED_SUFFIXES,
    DocumentSpec,
    ManifestRejected,
    read_manifest,
)
from ingest.errors import IngestError, InvalidProductId
from ingest.feeds.reader import read_feed
from ingest.pages.decode import MAX_BYTES
from ingest.prepare.chain import Outcome, PrepareChain, PrepareReport, reported
from schemas.models import utcnow

InputKind = Literal["feed", "manifest", "page", "document", "unknown"]
_FEED_SUFFIXES = (".jsonl", ".ndjson", ".csv")
_PAGE_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
_ID_SEPARATOR = "__"


@dataclass(frozen=True, kw_only=True)
class Input:
    path: Path
    kind: InputKind
    product_id: str | None = None
    """For a document: its product (from the file name or `--product-id`)."""
    document_id: str = ""
    """For a document: its id within the product (the file name, less any product prefix)."""
    reason: str = ""
    """For an unknown input: why it cannot be read."""


def classify(paths: list[Path], *, product_id: str | None = None) -> list[Input]:
    """Every input file with its kind, directories expanded in sorted order."""
    out: list[Input] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            found = classify(files, product_id=product_id)
            listed = _listed_by_manifests([i.path for i in found if i.kind == "manifest"])
            out += [i for i in found if i.path.resolve() not in listed]  # a manifest's own files
        elif not path.exists():
            out.append(Input(path=path, kind="unknown", reason="no such file"))
        else:
            out.append(_classify_file(path, product_id))
    return out


def _classify_file(path: Path, product_id: str | None) -> Input:
    name = path.name.lower()
    suffix = path.suffix.lower()
    if name.endswith(_FEED_SUFFIXES):
        return Input(path=path, kind="manifest" if _is_manifest(path) else "feed")
    prefix, sep, rest = path.name.partition(_ID_SEPARATOR)
    if sep and prefix and rest and suffix in SUPPORTED_SUFFIXES:
        try:
            check_product_id(prefix)
        except InvalidProductId:
            return Input(path=path, kind="unknown", reason=f"{prefix!r} is not a valid product id")
        return Input(path=path, kind="document", product_id=prefix, document_id=rest)
    if name.endswith(_PAGE_SUFFIXES):
        return Input(path=path, kind="page")
    if suffix in SUPPORTED_SUFFIXES:
        if product_id is None:
            return Input(
                path=path,
                kind="unknown",
                reason="a document needs its product: give --product-id, list it in a manifest,"
                f" or name it <product-id>{_ID_SEPARATOR}{path.name}",
            )
        return Input(path=path, kind="document", product_id=product_id, document_id=path.name)
    return Input(path=path, kind="unknown", reason=f"unsupported input type {suffix or name!r}")


def _listed_by_manifests(manifests: list[Path]) -> set[Path]:
    """The files the given manifests name (read through by the manifests themselves)."""
    return {path for manifest in manifests for path in _listed_by(manifest)}


def _listed_by(manifest: Path) -> set[Path]:
    """The files one manifest names; none when it cannot be read (it is reported when it is
    prepared)."""
    try:
        return {
            entry.path.resolve()
            for entry in read_manifest(manifest)
            if isinstance(entry, DocumentSpec)
        }
    except IngestError:
        return set()


def _is_manifest(path: Path) -> bool:
    """A .jsonl/.ndjson/.csv whose first row names `path` and `product_id` and has no `id` (the
    first row is read within the row limits: a hostile one is a feed's problem, reported there)."""
    limits = RowLimits()
    try:
        with path.open("rb") as f:
            lines = iter(lambda: f.readline(limits.max_bytes + 1), b"")
            first = next((line for line in lines if line.strip()), b"{}")
        text = first.decode("utf-8-sig", errors="replace")
        if path.suffix.lower() == ".csv":
            keys = {name.strip() for name in next(csv.reader([text]), [])}
        else:
            row = parse_json(text, limits)
            keys = set(row) if isinstance(row, dict) else set()
    except (OSError, ValueError, csv.Error):
        return False
    return {"path", "product_id"} <= keys and "id" not in keys


def prepare(
    inputs: list[Input], chain: PrepareChain, *, limits: RowLimits | None = None
) -> Iterator[tuple[Input, PrepareReport, list[Outcome]]]:
    """Run the chain over each input; yields the input, its report and its outcomes in order
    (every outcome is kept, for inspection: `ingest.publish.send_inputs` streams them instead)."""
    for item in inputs:
        started = time.perf_counter()
        report = PrepareReport(source=str(item.path))
        outcomes: list[Outcome] = []
        for outcome in outcomes_of(item, chain, limits):
            report.add(outcome)
            outcomes.append(outcome)
        report.seconds = time.perf_counter() - started
        yield item, report, outcomes


def outcomes_of(
    item: Input, chain: PrepareChain, limits: RowLimits | None = None
) -> Iterator[Outcome]:
    """The chain's outcomes for one input; never raises (`reported`)."""
    return reported(_outcomes(item, chain, limits), source=str(item.path))


def _outcomes(item: Input, chain: PrepareChain, limits: RowLimits | None) -> Iterator[Outcome]:
    if item.kind == "feed":
        yield from chain.items(read_feed(item.path, source=f"feed:{item.path.name}", limits=limits))
    elif item.kind == "page":
        yield chain.item(_page_item(item.path), utcnow())
    elif item.kind == "document":
        assert item.product_id is not None
        spec = DocumentSpec(
            path=item.path, product_id=item.product_id, document_id=item.document_id
        )
        yield chain.document(spec, utcnow())
    elif item.kind == "manifest":
        for entry in read_manifest(item.path):
            if isinstance(entry, ManifestRejected):
                at = Location(input=str(item.path), line=entry.line)
                yield Rejected(at=at, reason=entry.reason, raw=entry.raw)
            else:
                yield chain.document(entry, utcnow())
    else:
        yield Rejected(
            at=Location(input=str(item.path)),
            reason=f"{item.path.name}: {item.reason}",
            raw=str(item.path),
            input_error=True,
        )


def read_saved_page(path: Path) -> bytes:
    """A saved page's bytes; gzip is undone, reading at most one byte past the size limit.
    Raises OSError / EOFError / gzip.BadGzipFile."""
    data = path.read_bytes()
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                return stream.read(MAX_BYTES + 1)
        except zlib.error as e:  # a corrupt deflate stream is not an OSError
            raise gzip.BadGzipFile(f"corrupt gzip data: {e}") from e
    return data


def _page_item(path: Path) -> SourceItem:
    from ingest.pages.extract import extract_product  # lxml, extruct: only when pages are read

    at = Location(input=str(path))
    try:
        data = read_saved_page(path)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        return Rejected(at=at, reason=f"{path.name}: unreadable page: {e}", raw=str(path))
    result = extract_product(data, None)
    if result.record is None:
        return Rejected(at=at, reason=f"{path.name}: {result.reason}", raw=str(path))
    record = result.record.model_copy(update={"source": f"page:{path.name}"})
    return Accepted(at=at, record=record)
