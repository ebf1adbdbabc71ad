"""`unstructured` elements folded into `DocumentElement`s: four kinds, clean text, sections.

Categories: Title -> title; NarrativeText, UncategorizedText, Address, EmailAddress,
FigureCaption, CodeSnippet, Formula -> text; ListItem -> list; Table -> table. Page furniture is
dropped: Header and Footer (running page headers/footers, not headings), PageNumber, PageBreak,
Image. A title's `category_depth` (0 = outermost) places it in the heading path; a title without
one (plain text) is a top-level heading.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bs4 import BeautifulSoup

from ingest.core.text import clean_line, clean_text
from ingest.documents.model import DocumentElement, ElementKind

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

SECTION_SEPARATOR = " > "
_KINDS: dict[str, ElementKind] = {
    "Title": "title",
    "NarrativeText": "text",
    "UncategorizedText": "text",
    "Text": "text",
    "Address": "text",
    "EmailAddress": "text",
    "FigureCaption": "text",
    "CodeSnippet": "text",
    "Formula": "text",
    "ListItem": "list",
    "Table": "table",
}


def fold(elements: Iterable[Element]) -> list[DocumentElement]:
    """Kept elements in order, each with the heading path in effect."""
    headings: list[tuple[int, str]] = []
    out: list[DocumentElement] = []
    for element in elements:
        kind = _KINDS.get(element.category)
        text = _text(element, kind) if kind else ""
        if not kind or not text:
            continue
        if kind == "title":
            depth = element.metadata.category_depth or 0
            while headings and headings[-1][0] >= depth:
                headings.pop()
            headings.append((depth, text))
        section = SECTION_SEPARATOR.join(title for _, title in headings)
        out.append(
            DocumentElement(
                kind=kind, text=text, section=section, page=element.metadata.page_number
            )
        )
    return out


def _text(element: Element, kind: ElementKind) -> str:
    if kind == "title":
        return clean_line(element.text)
    if kind == "table" and element.metadata.text_as_html:
        return table_text(element.metadata.text_as_html)
    return clean_text(element.text)


def table_text(table_html: str) -> str:
    """A table as one line per row, cells joined with " | "; empty rows dropped."""
    soup = BeautifulSoup(table_html, "html.parser")
    rows = (
        [clean_line(cell.get_text(" ")) for cell in row.find_all(["td", "th"])]
        for row in soup.find_all("tr")
    )
    return "\n".join(" | ".join(cells) for cells in rows if any(cells))
