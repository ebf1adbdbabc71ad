"""Garbage filter: text that is empty, too short, placeholder or mostly not text never gets
embedded; the caller rejects it with the reason this module gives.

Applied to cleaned text (after `clean_text`): a product title (a garbage title rejects the
record), a description (a garbage description is dropped and reported, the record stays), and
each element of a document (garbage elements are dropped and reported, the document stays).

The rules are deliberately few and explainable, so a catalog team can read a rejection and fix
the source:
  - empty: nothing left after cleaning;
  - placeholder: the whole text is filler ("lorem ipsum", "TBD", "N/A", "coming soon",
    "test product", "xxx", "asdf", "description to follow", "no description available"...)
    or it starts with "lorem ipsum";
  - too short: fewer letters than `min_letters` (titles and document elements: 2, descriptions:
    8; a document's short list items and notes are packed with their neighbours, not dropped);
  - mostly non-text: under `min_letter_ratio` of the visible characters are letters (a dump of
    numbers, symbols or mojibake), more than half of it is encoded data (base64, hex: runs of
    40+ characters without a space), or replacement characters (U+FFFD) show the bytes
    were decoded with the wrong charset. Tables of figures are exempt from the ratio: they are
    numbers by nature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.core.text import MAX_REPLACEMENT_SHARE

_PLACEHOLDER = re.compile(
    r"^[\W_]*(?:"
    r"lorem ipsum.*|tb[acd]|n/?a|none|null|nil|undefined|empty|blank|todo|fixme|dummy"
    r"|test(?:ing)?(?: (?:product|item|title|description|text))?(?: \d+)?"
    r"|(?:sample|placeholder|example|dummy|default) (?:text|title|description|product)"
    r"|placeholder|coming soon|(?:description|details|text|content) (?:coming soon|to follow|to come)"
    r"|no (?:description|details|information|content)(?: available| yet)?"
    r"|(?:description|details) not available|not available|to be (?:announced|confirmed|determined)"
    r"|x{3,}|asdf\w*|qwerty\w*|(?:\?|-|\.|_|\*|#){2,}"
    r")[\W_]*$",
    re.IGNORECASE | re.DOTALL,
)
_ENCODED = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
"""Runs of 40+ characters without a space or punctuation: base64, hex, tokens (no word is that long)."""
_LOREM = re.compile(r"^\W*lorem ipsum", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class TextRule:
    """How strict the filter is for one kind of text."""

    min_letters: int
    """Fewest letters the text must have."""
    min_letter_ratio: float
    """Smallest share of letters among visible characters (0 turns the check off)."""


TITLE = TextRule(min_letters=2, min_letter_ratio=0.25)
"""Product titles: short and full of sizes and model numbers ("M8 x 30 bolt", "12V 7Ah")."""
DESCRIPTION = TextRule(min_letters=8, min_letter_ratio=0.5)
"""Product descriptions: a few letters ("N/A", "Red.") say nothing the overview does not."""
ELEMENT = TextRule(min_letters=2, min_letter_ratio=0.3)
"""Document paragraphs, list items and notes: short ones are fine, they are packed together."""
TABLE = TextRule(min_letters=2, min_letter_ratio=0.0)
"""Specification tables: numbers by nature."""


def garbage_reason(text: str, rule: TextRule) -> str | None:
    """Why `text` is garbage under `rule`, or None when it is worth indexing."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if _PLACEHOLDER.match(stripped) or _LOREM.match(stripped):
        return f"placeholder text {_shown(stripped)}"
    visible = [ch for ch in stripped if not ch.isspace()]
    replacement = visible.count("\ufffd")
    if replacement and replacement / len(visible) > MAX_REPLACEMENT_SHARE:
        return f"undecodable text ({replacement} replacement characters: wrong charset?)"
    encoded = sum(len(m.group(0)) for m in _ENCODED.finditer(stripped))
    if encoded and encoded / len(visible) > 0.5:
        return f"mostly non-text (encoded data: base64 or hex) {_shown(stripped)}"
    letters = sum(ch.isalpha() for ch in visible)
    if letters < rule.min_letters:
        return f"too short ({letters} letters, at least {rule.min_letters}) {_shown(stripped)}"
    ratio = letters / len(visible)
    if ratio < rule.min_letter_ratio:
        return f"mostly non-text ({ratio:.0%} letters) {_shown(stripped)}"
    return None


def _shown(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
