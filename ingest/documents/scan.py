"""Markup measured before it is parsed: elements, nesting depth and text, in bounded memory.

A DOCX part or an HTML document (Markdown as the HTML it renders to) is fed through lxml with a
parser target (`_Tally`): libxml2, the parser `unstructured` and python-docx use, reports each
element start, end and piece of text to it and builds no tree, so implied and auto-closed HTML
elements count as they will in the real parse, and memory stays flat whatever the size. The
target raises at the first limit passed, which stops the parse there.

Depth is counted from the root element (HTML's implied `<html>` and `<body>` included).
libxml2 gives up at 256 levels without telling its callers: deeper text is silently dropped,
which is why a deeply nested document used to come out as "empty document".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lxml import etree

from ingest.documents.limits import DocumentLimits, count, exceeded

_TEXT_CHUNK = 1 << 20


class MarkupTally:
    """Running totals over the markup of one document (several parts for a DOCX)."""

    def __init__(self, limits: DocumentLimits) -> None:
        self.limits = limits
        self.elements = 0
        """Elements seen so far, all parts together."""
        self.text_chars = 0
        """Characters of text seen so far, all parts together."""

    def feed_xml(self, chunks: Iterable[bytes], part: str) -> None:
        """Scan one XML part (entities not expanded, nothing fetched, errors left to the parser)."""
        target = _Tally(self, part)
        parser = etree.XMLParser(
            target=target, resolve_entities=False, no_network=True, recover=True
        )
        _feed(parser, chunks)

    def feed_html(self, text: str) -> None:
        """Scan an HTML document."""
        parser = etree.HTMLParser(target=_Tally(self, ""), no_network=True, encoding="utf-8")
        _feed(
            parser, (text[i : i + _TEXT_CHUNK].encode() for i in range(0, len(text), _TEXT_CHUNK))
        )


def _feed(parser: etree._FeedParser[Any], chunks: Iterable[bytes]) -> None:
    for chunk in chunks:
        parser.feed(chunk)
    parser.close()


class _Tally:
    """lxml parser target: counts into its `MarkupTally`, raises at the first limit passed."""

    def __init__(self, totals: MarkupTally, part: str) -> None:
        self.totals = totals
        self.limits = totals.limits
        self.where = f" in {part}" if part else ""
        self.depth = 0

    def start(self, tag: str, attrib: object, nsmap: object = None) -> None:
        self.depth += 1
        self.totals.elements += 1
        if self.depth > self.limits.max_depth:
            message = f"nesting depth over {self.limits.max_depth}{self.where}"
            raise exceeded(message, "max_depth")
        if self.totals.elements > self.limits.max_elements:
            limit = count(self.limits.max_elements)
            raise exceeded(f"more than {limit} markup elements{self.where}", "max_elements")

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, text: str) -> None:
        self.totals.text_chars += len(text)
        if self.totals.text_chars > self.limits.max_text_chars:
            limit = count(self.limits.max_text_chars)
            raise exceeded(f"more than {limit} characters of text{self.where}", "max_text_chars")

    def close(self) -> None:
        """The parse ended within the limits."""
