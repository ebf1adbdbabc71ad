"""Documents (spec sheets, manuals, safety data sheets) to ordered, cleaned elements.

`parse_document` picks the parser by file suffix, checks that the bytes are what the suffix
says (a PDF header, a ZIP package, text rather than binary data) and that the document is within
its limits (`limits`: file size; a DOCX package's sizes, see `package`; markup elements, depth and
text, see `scan`), partitions the document with `unstructured` (DOCX, HTML, Markdown, text; see
`markup`) or pdfminer (PDF; see `pdf`), and folds the result into `DocumentElement`s with their
section (see `fold`). Everything runs offline, in the parser process (`worker`), which is stopped
when a parse takes too long or too much memory. Bad input of any kind raises `DocumentError` with
the reason (`DocumentLimitExceeded` for a limit), never another exception.
"""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.documents import markup
from ingest.documents.errors import DocumentError
from ingest.documents.fold import fold
from ingest.documents.limits import DocumentLimits, count, exceeded, size
from ingest.documents.model import DocumentElement, DocumentFormat, ParsedDocument
from ingest.documents.package import check_docx
from ingest.documents.scan import MarkupTally

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentElement",
    "DocumentError",
    "ParsedDocument",
    "parse_document",
    "parse_in_process",
]

_FORMATS: dict[str, DocumentFormat] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_FORMATS)
"""File suffixes `parse_document` reads (lower case)."""

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024
_MAX_CONTROL_RATIO = 0.01


def parse_document(path: Path, limits: DocumentLimits | None = None) -> ParsedDocument:
    """Parse one document in the parser process; raises `DocumentError` with the reason when it
    cannot, `DocumentLimitExceeded` when it is over a limit (None: the configured limits)."""
    from ingest.documents.worker import parse_in_worker

    _format(path)
    return parse_in_worker(path, limits or DocumentLimits.configured())


def parse_in_process(path: Path, limits: DocumentLimits) -> ParsedDocument:
    """Parse one document in this process: every check but wall time and memory, which need
    the parser process (`parse_document`)."""
    doc_format = _format(path)
    data = _read(path, limits)
    parts = _partition(path, doc_format, data, limits)
    if len(parts) > limits.max_elements:
        limit = count(limits.max_elements)
        raise exceeded(f"more than {limit} elements after parsing", "max_elements")
    elements = tuple(fold(parts))
    if not elements:
        hint = " (a scanned PDF without a text layer?)" if doc_format == "pdf" else ""
        raise DocumentError(f"empty document: no text found{hint}")
    _check_text_size(sum(len(e.text) for e in elements), limits)
    title = next((e.text for e in elements if e.kind == "title"), path.stem)
    return ParsedDocument(name=path.name, format=doc_format, title=title, elements=elements)


def _format(path: Path) -> DocumentFormat:
    doc_format = _FORMATS.get(path.suffix.lower())
    if doc_format is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise DocumentError(
            f"unsupported format {path.suffix or '(no suffix)'!r}; supported: {supported}"
        )
    return doc_format


def _read(path: Path, limits: DocumentLimits) -> bytes:
    try:
        file_bytes = path.stat().st_size
        if file_bytes > limits.max_file_bytes:
            raise exceeded(
                f"the file is {size(file_bytes)}, over the {size(limits.max_file_bytes)} limit",
                "max_file_bytes",
            )
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise DocumentError(f"file not found: {path}") from e
    except OSError as e:
        raise DocumentError(f"cannot read {path}: {e.strerror or e}") from e
    if not data.strip():
        raise DocumentError("empty file")
    return data


def _partition(
    path: Path, doc_format: DocumentFormat, data: bytes, limits: DocumentLimits
) -> list[Element]:
    try:
        if doc_format == "pdf":
            _expect_pdf(data)
            from ingest.documents.pdf import partition_pdf

            return partition_pdf(path, limits)
        if doc_format == "docx":
            _expect_docx(data)
            check_docx(path, limits)
            return markup.partition_docx(path)
        return _partition_text(doc_format, decode_text(data), limits)
    except (DocumentError, MemoryError):
        raise
    except Exception as e:  # parsers fail on malformed input with any exception type
        raise DocumentError(f"corrupt or unreadable {doc_format.upper()}: {_describe(e)}") from e


def _partition_text(doc_format: DocumentFormat, text: str, limits: DocumentLimits) -> list[Element]:
    """HTML, Markdown (as the HTML it renders to) or plain text, measured before partitioning:
    text and Markdown by their length, HTML and rendered Markdown by a markup scan."""
    if doc_format == "html":
        MarkupTally(limits).feed_html(text)
        return markup.partition_html(text)
    _check_text_size(len(text), limits)
    if doc_format == "txt":
        return markup.partition_plain_text(text)
    html = markup.markdown_html(text)
    MarkupTally(limits).feed_html(html)
    return markup.partition_markdown_html(html)


def _check_text_size(chars: int, limits: DocumentLimits) -> None:
    if chars > limits.max_text_chars:
        limit = count(limits.max_text_chars)
        raise exceeded(f"more than {limit} characters of text", "max_text_chars")


def _expect_pdf(data: bytes) -> None:
    if _PDF_MAGIC not in data[:_PDF_HEADER_WINDOW]:
        raise DocumentError("not a PDF: the file has no %PDF- header")


def _expect_docx(data: bytes) -> None:
    if data.startswith(_OLE_MAGIC):
        raise DocumentError(
            "not a DOCX package: an encrypted (password-protected) Word file or a legacy .doc"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise DocumentError("not a DOCX: the file is not a ZIP package")


def decode_text(data: bytes) -> str:
    """Bytes of a text format (HTML, Markdown, text) as str; binary data is a `DocumentError`."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    elif b"\x00" in data:
        raise DocumentError("binary data, not text: the file contains NUL bytes")
    else:
        text = _decode_8bit(data)
    controls = sum(
        1
        for ch in text
        if ch == "\ufffd" or (unicodedata.category(ch)[0] == "C" and ch not in "\t\n\r\f")
    )
    if controls > _MAX_CONTROL_RATIO * len(text):
        raise DocumentError(
            f"binary data, not text: {controls} of {len(text)} characters are control characters"
        )
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentError("binary data, not text: no character encoding fits the bytes")
    return str(best)


def _describe(error: Exception) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
