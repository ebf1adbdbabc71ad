"""Bytes to text: size limit, binary detection, charset; and the check that the text reads right.

Which charset: a byte-order mark, else the charset the page declares (`<meta charset>`, the XML
declaration), else UTF-8. Bytes that are valid UTF-8 and not plain ASCII are read as UTF-8 even
when the page (or the HTTP header) declares another charset: legacy text is practically never
valid UTF-8 by accident, and a wrong declaration is what turns "Crème" into "CrÃ¨me".

There is no guessing among legacy charsets: on a small page cp1252, cp1250 and cp1251 all decode
to plausible letters, and a wrong guess is mojibake that nothing downstream can see. A page that
is not UTF-8 and declares nothing decodes with replacement characters (U+FFFD) instead, and
`charset_problem` rejects a product whose title or description shows them, with the reason.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from w3lib.encoding import html_body_declared_encoding, html_to_unicode

from ingest.pages.errors import NotHtml, PageTooLarge

MAX_BYTES = 5 * 1024 * 1024
"""Largest page accepted (5 MiB): real product pages are far smaller."""

MAX_REPLACEMENT_SHARE = 0.02
"""Largest share of replacement characters (U+FFFD) a description may carry: the prepare
chain's garbage filter uses the same bar. A title may carry none."""

_SNIFF = 8192
_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF")
_MOJIBAKE = re.compile(r"[ÂÃ][\u0080-\u00bf]|[ÂÃ] [\u0300-\u036f]|â€")
"""UTF-8 read as cp1252/latin-1 (`Ã©` for é, `â€™` for ’, `Â` before a no-break space), also
after NFKC cleaning (`Ã¨` -> `Ã ̈`)."""


@dataclass(frozen=True, kw_only=True)
class Decoded:
    """A page as text, and how its bytes were read."""

    text: str
    """The page."""
    charset: str
    """Python codec used (`utf-8`, `cp1252`...); `str` when the caller passed text."""
    declared: str | None = None
    """Charset the page declares in its markup; None when it declares none."""
    lossy: bool = False
    """True when some bytes did not decode and became replacement characters (U+FFFD)."""


def _looks_binary(head: bytes) -> bool:
    if head.startswith(_MAGIC):
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM is text
        return False
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return b"\x00" in head or controls > len(head) // 20


def is_utf8(body: bytes) -> bool:
    """True when `body` is valid UTF-8 with at least one non-ASCII character."""
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def misdeclared_utf8(body: bytes, charset: str) -> bool:
    """True when `charset` is not UTF-8 but `body` is (non-ASCII) UTF-8: the declaration is wrong."""
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return False
    return name not in ("utf-8", "utf-8-sig") and not name.startswith("utf-") and is_utf8(body)


def _bytes_to_text(html: bytes) -> Decoded:
    declared = html_body_declared_encoding(html)
    charset, text = html_to_unicode(None, html)
    if misdeclared_utf8(html, charset):
        return Decoded(text=html.decode("utf-8"), charset="utf-8", declared=declared)
    try:
        html.decode(charset)
        lossy = False
    except (UnicodeDecodeError, LookupError):
        lossy = True
    return Decoded(text=text, charset=codecs.lookup(charset).name, declared=declared, lossy=lossy)


def decode_html(html: bytes | str, *, max_bytes: int = MAX_BYTES) -> Decoded:
    """The page as text; raises `PageTooLarge` or `NotHtml` with the reason."""
    size = len(html.encode("utf-8", "surrogatepass")) if isinstance(html, str) else len(html)
    if size > max_bytes:
        raise PageTooLarge(f"page too large: {size} bytes (limit {max_bytes})")
    if isinstance(html, str):
        decoded = Decoded(text=html, charset="str")
    else:
        if not html.strip():
            raise NotHtml("empty page")
        if _looks_binary(html[:_SNIFF]):
            raise NotHtml("binary content, not HTML")
        decoded = _bytes_to_text(html)
    if "<" not in decoded.text[: _SNIFF * 8]:
        raise NotHtml("no HTML markup in the content")
    return decoded


def charset_problem(title: str, description: str, decoded: Decoded) -> str | None:
    """Why a product's text reads as decoded with the wrong charset, or None when it reads right.

    Replacement characters in the title (or over `MAX_REPLACEMENT_SHARE` of the description),
    or UTF-8 read as a legacy charset in the title (`CrÃ¨me`).
    """
    in_title = title.count("\ufffd")
    in_description = description.count("\ufffd")
    if in_title or in_description > MAX_REPLACEMENT_SHARE * max(len(description), 1):
        count, where = (in_title, "title") if in_title else (in_description, "description")
        return (
            f"undecodable text: {count} replacement characters in the {where} ({_cause(decoded)})"
        )
    mojibake = _MOJIBAKE.search(title)
    if mojibake:
        return (
            f"mojibake in the title ({_around(title, mojibake.start())!r}): UTF-8 text read as "
            f"another charset ({_cause(decoded)})"
        )
    return None


def _cause(decoded: Decoded) -> str:
    if decoded.charset == "str":
        return "the page's own text"
    if not decoded.lossy:
        return f"the page's own text, read as {decoded.charset}"
    if decoded.declared is None:
        return f"the page is not UTF-8 and declares no charset; read as {decoded.charset}"
    return f"the page's bytes do not fit its declared charset {decoded.declared}"


def _around(text: str, index: int, width: int = 12) -> str:
    return text[max(index - width, 0) : index + width]
