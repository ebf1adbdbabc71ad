"""Documents (spec sheets, manuals, safety data sheets) to ordered, cleaned elements.

`parse_document` picks the parser by file suffix, checks that the bytes are what the suffix
says (a PDF header, a ZIP package, text rather than binary data), partitions the document with
`unstructured` (DOCX, HTML, Markdown, text; see `markup`) or pdfminer (PDF; see `pdf`), and folds
the result into `DocumentElement`s with their section (see `fold`). Everything runs offline.
Bad input of any kind raises `DocumentError` with the reason, never another exception.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.documents import markup
from ingest.documents.errors import DocumentError
from ingest.documents.fold import fold
from ingest.documents.model import DocumentElement, DocumentFormat, ParsedDocument

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentElement",
    "DocumentError",
    "ParsedDocument",
    "parse_document",
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

_TEXT_PARTITIONERS: dict[DocumentFormat, Callable[[str], list[Element]]] = {
    "html": markup.partition_html,
    "md": markup.partition_markdown,
    "txt": markup.partition_plain_text,
}
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024
_MAX_CONTROL_RATIO = 0.01


def parse_document(path: Path) -> ParsedDocument:
    """Parse one document; raises `DocumentError` with the reason when it cannot."""
    doc_format = _format(path)
    data = _read(path)
    elements = tuple(fold(_partition(path, doc_format, data)))
    if not elements:
        hint = " (a scanned PDF without a text layer?)" if doc_format == "pdf" else ""
        raise DocumentError(f"empty document: no text found{hint}")
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


def _read(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise DocumentError(f"file not found: {path}") from e
    except OSError as e:
        raise DocumentError(f"cannot read {path}: {e.strerror or e}") from e
    if not data.strip():
        raise DocumentError("empty file")
    return data


def _partition(path: Path, doc_format: DocumentFormat, data: bytes) -> list[Element]:
    try:
        if doc_format == "pdf":
            _expect_pdf(data)
            from ingest.documents.pdf import partition_pdf

            return partition_pdf(path)
        if doc_format == "docx":
            _expect_docx(data)
            return markup.partition_docx(path)
        return _TEXT_PARTITIONERS[doc_format](decode_text(data))
    except DocumentError:
        raise
    except Exception as e:  # parsers fail on malformed input with any exception type
        raise DocumentError(f"corrupt or unreadable {doc_format.upper()}: {_describe(e)}") from e


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
