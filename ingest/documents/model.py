"""The parser's output records: a document as ordered, cleaned elements with their section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ElementKind = Literal["title", "text", "list", "table"]
DocumentFormat = Literal["pdf", "docx", "html", "md", "txt"]


@dataclass(frozen=True, kw_only=True)
class DocumentElement:
    """One block of a document, in reading order."""

    kind: ElementKind
    """`title` (a heading), `text` (a paragraph), `list` (one list item) or `table`."""
    text: str
    """Cleaned text (`clean_text`); a table is one line per row, cells joined with " | "."""
    section: str
    """Heading path in effect, outermost first, joined with " > " (e.g. "Safety data > Storage");
    a title's own section ends with itself; "" before the first heading."""
    page: int | None
    """1-based page number when the format has pages (PDF, DOCX), else None."""


@dataclass(frozen=True, kw_only=True)
class ParsedDocument:
    """A parsed document: its name, format, title and elements."""

    name: str
    """File name (no directory)."""
    format: DocumentFormat
    """Format the document was parsed as."""
    title: str
    """Text of the first title element, else the file stem."""
    elements: tuple[DocumentElement, ...]
    """Elements in reading order; never empty."""
