"""Description and specification tables as clean text, page chrome (navigation, footers, cookie
banners, scripts) left out."""

from __future__ import annotations

import itertools
import re
from typing import Any

import lxml.html

from ingest.core.text import clean_line, clean_text
from ingest.pages.dom import INVISIBLE, Page, attrs_of, text_content

_CHROME_TAGS = (*INVISIBLE, "nav", "footer", "header", "aside", "form", "button", "select")
_CHROME_ATTR = re.compile(r"cookie|consent|gdpr|banner|newsletter|modal|popup|breadcrumb|menu")
_DESCRIPTION_ATTR = re.compile(
    r"description|beschreibung|descripcion|descrizione|product-?details|overview"
)
_SPEC_ATTR = re.compile(
    r"spec|attribute|feature|technical|characteristic|detail|properties|datasheet"
)
_MAX_ROWS = 60


def _is_chrome(el: Any) -> bool:
    return el.tag in _CHROME_TAGS or bool(_CHROME_ATTR.search(attrs_of(el)))


def _inside_chrome(el: Any) -> bool:
    while el is not None:
        if isinstance(el.tag, str) and _is_chrome(el):
            return True
        el = el.getparent()
    return False


def element_text(el: Any) -> str:
    """Clean text of an element without its chrome (navigation, scripts, cookie banners...)."""
    copy = lxml.html.fromstring(lxml.html.tostring(el, encoding="unicode"))
    for child in list(copy.iter()):
        if child is not copy and isinstance(child.tag, str) and _is_chrome(child):
            parent = child.getparent()
            if parent is not None:
                parent.remove(child)  # tail text is dropped with it; acceptable for chrome
    return clean_text(lxml.html.tostring(copy, encoding="unicode"))


def description(page: Page) -> str | None:
    """Text of the largest description-like block of the page."""
    best, best_len = None, 0
    for el in page.visible():
        if el.tag in ("a", "span", "button", "li") or not _DESCRIPTION_ATTR.search(attrs_of(el)):
            continue
        if _inside_chrome(el):
            continue
        length = len(text_content(el, 20_000))
        if length > best_len:
            best, best_len = el, length
    if best is None or best_len < 30:
        return None
    return element_text(best) or None


def specifications(page: Page) -> dict[str, str]:
    """Rows of specification tables and definition lists (`<th>Weight</th><td>2 kg</td>`)."""
    rows: dict[str, str] = {}
    for el in page.visible():
        if el.tag not in ("table", "dl") or _inside_chrome(el):
            continue
        context = (
            attrs_of(el) + " " + attrs_of(el.getparent()) if el.getparent() is not None else ""
        )
        if not _SPEC_ATTR.search(context) and el.tag != "dl":
            continue
        pairs = _table_rows(el) if el.tag == "table" else _dl_rows(el)
        for key, value in pairs:
            if len(rows) >= _MAX_ROWS:
                return rows
            rows.setdefault(key, value)
    return rows


def _pair(key_el: Any, value_el: Any) -> tuple[str, str] | None:
    key = clean_line(text_content(key_el, 100)).rstrip(":")
    value = clean_line(text_content(value_el, 500))
    return (key, value) if key and value and len(key) <= 100 else None


def _table_rows(table: Any) -> list[tuple[str, str]]:
    out = []
    for tr in table.iter("tr"):
        cells = [c for c in tr if isinstance(c.tag, str) and c.tag in ("th", "td")]
        if len(cells) == 2 and (pair := _pair(cells[0], cells[1])):
            out.append(pair)
    return out


def _dl_rows(dl: Any) -> list[tuple[str, str]]:
    out = []
    children = [c for c in dl if isinstance(c.tag, str)]
    for key_el, value_el in itertools.pairwise(children):
        if key_el.tag == "dt" and value_el.tag == "dd" and (pair := _pair(key_el, value_el)):
            out.append(pair)
    return out


def meta_description(page: Page) -> str | None:
    """`<meta name="description">` content."""
    for meta in page.root.iter("meta"):
        if str(meta.get("name", "")).lower() == "description" and meta.get("content"):
            return clean_text(str(meta.get("content"))) or None
    return None
