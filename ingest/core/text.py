"""Text cleaning shared by every source and the chain: markup, entities, unicode, control
characters and whitespace.

BeautifulSoup (html.parser) is used for markup because feeds carry real-world HTML fragments
(unclosed tags, entities, lists); a regex tag-stripper mangles those.
"""

from __future__ import annotations

import html
import re
import unicodedata

from bs4 import BeautifulSoup

_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")
_BLOCK_TAGS = ("p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

MAX_REPLACEMENT_SHARE = 0.02
"""Largest share of replacement characters (U+FFFD) among a text's visible characters before it
reads as bytes decoded with the wrong charset (the garbage filter's bar, `ingest.prepare.quality`)."""


def strip_markup(text: str) -> str:
    """Markup to text; block elements become line breaks, list items keep a bullet."""
    if not _TAG.search(text):
        return html.unescape(text)
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_after("\n")
    return soup.get_text()


def clean_text(text: str) -> str:
    """Markup removed, NFKC-normalised, control characters dropped, whitespace folded."""
    text = unicodedata.normalize("NFKC", strip_markup(text))
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", text).strip()


def clean_line(text: str) -> str:
    """`clean_text` folded onto one line (titles, brands, attribute values)."""
    return " ".join(clean_text(text).split())
