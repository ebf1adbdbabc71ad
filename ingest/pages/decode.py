"""Bytes to text: size limit, binary detection, charset sniffing (BOM, meta charset, heuristics)."""

from __future__ import annotations

from w3lib.encoding import html_to_unicode

from ingest.pages.errors import NotHtml, PageTooLarge

MAX_BYTES = 5 * 1024 * 1024
"""Largest page accepted (5 MiB): real product pages are far smaller."""

_SNIFF = 8192
_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF")


def _looks_binary(head: bytes) -> bool:
    if head.startswith(_MAGIC):
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM is text
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return b"\x00" in head or controls > len(head) // 20


def decode_html(html: bytes | str, *, max_bytes: int = MAX_BYTES) -> str:
    """The page as text; raises `PageTooLarge` or `NotHtml` with the reason."""
    size = len(html.encode("utf-8", "surrogatepass")) if isinstance(html, str) else len(html)
    if size > max_bytes:
        raise PageTooLarge(f"page too large: {size} bytes (limit {max_bytes})")
    if isinstance(html, str):
        text = html
    else:
        if not html.strip():
            raise NotHtml("empty page")
        if _looks_binary(html[:_SNIFF]):
            raise NotHtml("binary content, not HTML")
        _, text = html_to_unicode(None, html)
    if "<" not in text[: _SNIFF * 8]:
        raise NotHtml("no HTML markup in the content")
    return text
