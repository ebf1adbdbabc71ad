"""What the words around a displayed price say about it: with or without VAT, per kg / metre /
item, a 'from' price, an instalment, a conversion into a second currency.

`read(el, text)` takes the text before and after the price inside its container (up to three
levels up, up to the next number on either side) with the element's own words, and returns a
`Reading`: what kind of price it is and whether it is the item's price at all. Each
reading is a rule of `ingest.pages.rules`:

  - `unit-price`: `4,98 €/kg`, `1 kg = 4,98 €`, `Grundpreis`, `prix au litre`: a unit price
    loses to the item's price (alone, it is the price: a shop that sells by the metre);
  - `instalment-price`: `12 x 2.900`, `4 payments of $12.50`, `36 cuotas de`, `/mo`: never;
  - `from-price`: `from $19`, `ab 19 €`, `à partir de`, `1,980円～`: loses to a plain price;
  - `second-currency`: a price after another one in brackets, after `≈` / `approx.` / a slash:
    the conversion loses to the first;
  - `vat-inclusive-price`: where a price with VAT and one without are both shown, the one with
    VAT is the consumer's (the tax-exclusive one of the pair loses; see `heuristics.price`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ingest.pages import rules
from ingest.pages.dom import text_content

UNIT = rules.rule("unit-price", "a price per kg / litre / metre / item is not the item's price")
INSTALMENT = rules.rule(
    "instalment-price", "an instalment ('12 x 2.900', '4 payments of', '/mo') is not the price"
)
FROM = rules.rule("from-price", "a 'from' price loses to a plain price")
SECOND_CURRENCY = rules.rule(
    "second-currency", "a conversion after the price (in brackets, after ≈ or /) loses to it"
)
VAT = rules.rule(
    "vat-inclusive-price", "of a price with VAT and one without, the one with VAT is the price"
)

_NUMBER = re.compile(r"\d")
_UNITS = (
    r"kg|g|gr|mg|l|ltr|litre|liter|lt|ml|cl|dl|m|m2|m²|m3|m³|cm|mm|lfm|qm|"
    r"100\s?g|100\s?gr|100\s?ml|10\s?ml|1\s?kg|1\s?l|1\s?m|"
    r"st|stk|stck|stück|pc|pcs|piece|item|unit|szt|sztuka|шт|кг|г|л|м|"
    r"stuk|unité|pièce|unidad|ud|pezzo|kpl|kpl\.|個|件|개|枚|本"
)
_UNIT_AFTER = re.compile(
    rf"^\s*(?:[$€£¥₹₽₩₪円元원]|kr|zł|kč|ft|lei|руб\.?|грн|лв\.?|chf|eur|usd|sek|pln)?\s*"
    rf"(?:/|per|pro|par|por|al|je|za|за|a|the|le|la|il)\s*(?:{_UNITS})(?!\w)",
    re.IGNORECASE,
)
_UNIT_BEFORE = re.compile(rf"(?:\d\s*)?(?:{_UNITS})\s*[=:]\s*$", re.IGNORECASE)
_UNIT_WORDS = re.compile(
    r"grundpreis|base price|unit price|price per|per unit|prix au (?:kilo|kg|litre|mètre|m)|"
    r"prix unitaire|prix/kg|precio por|precio unitario|precio/kg|prezzo al|prezzo unitario|"
    r"prijs per|eenheidsprijs|cena za|cena jednostkowa|jämförpris|jfr\.? ?pris|kilopris|"
    r"literpris|preço por|preço/kg|цена за|単価|단가|单价|單價|מחיר ל",
    re.IGNORECASE,
)
_INSTALMENT_BEFORE = re.compile(
    r"\d{1,2}\s*(?:[x×]|cuotas|parcelas|rate|raten|mensualités|payments|installments|"
    r"instalments|meses|months|mois|monate|rat|期|回)\s*(?:de|of|à|von|da|di|sin interés|"
    r"sem juros|à|por)?\s*$",
    re.IGNORECASE,
)
_INSTALMENT_WORDS = re.compile(
    r"/\s?mo\b|/\s?month|per month|a month|monthly|al mes|por mes|/\s?mes\b|mensuel|par mois|"
    r"/\s?mois|monatlich|mtl\.|im monat|/\s?monat|al mese|/\s?mese|per maand|p/m|miesięcznie|"
    r"/\s?mies|/\s?mån|per månad|mensais|/\s?mês|в месяц|/\s?мес|月々|月額|/月|분할|할부|/\s?월|"
    r"תשלומים|לחודש|cuotas|parcelas|sem juros|sin interés|interest-free|zinsfrei|0 ?% ?apr|"
    r"finanzier|financ|ratenzahlung|pay in \d|klarna|afterpay",
    re.IGNORECASE,
)
_FROM_BEFORE = re.compile(
    r"(?<!\w)(?:from|starting at|starting from|as low as|ab|schon ab|à partir de|dès|desde|"
    r"a partir de|a partire da|vanaf|od|från|fra|alkaen|от|מ-|החל מ)\s*[:\-]?\s*$",
    re.IGNORECASE,
)
_FROM_AFTER = re.compile(r"^\s*(?:[~～〜]|起|から|以上|부터|\+(?!\s*\d))")
_SECOND_BEFORE = re.compile(
    r"(?:[(\[/|≈~]|(?<!\w)(?:approx\.?|ca\.|circa|about|environ|ungefähr|около)|約|대략|约)\s*$",
    re.IGNORECASE,
)
_VAT_INCL = re.compile(
    r"incl\.?\s*(?:vat|tax|gst|mwst|btw|moms)|inc\.?\s*(?:vat|gst)|including (?:vat|tax)|"
    r"with (?:vat|tax)|inkl\.?\s*(?:mwst|ust|moms)|incl\.?\s*btw|ttc|iva incl|iva inclu|"
    r"con iva|ivato|iva compresa|z vat|brutto|с ндс|税込|부가세 포함|vat 포함|含税|含稅|"
    r"כולל מע|vč\.?\s*dph|s dph|cu tva|kdv dahil|alv\.? ?sis|inkl\.?\s*alv",
    re.IGNORECASE,
)
_VAT_EXCL = re.compile(
    r"excl\.?\s*(?:vat|tax|gst|mwst|btw|moms)|ex\.?\s*(?:vat|gst|moms)|excluding (?:vat|tax)|"
    r"without (?:vat|tax)|\+\s*(?:vat|iva|mwst|btw|tva)|exkl\.?\s*(?:mwst|ust|moms)|"
    r"zzgl\.?\s*(?:mwst|ust)|ohne mwst|netto|(?<!\w)ht(?!\w)|hors tax|sin iva|iva esclusa|"
    r"senza iva|bez vat|без ндс|税抜|税別|부가세 별도|vat 별도|不含税|不含稅|לא כולל מע|"
    r"bez dph|fără tva|kdv hariç|alv\.? ?0|exkl\.?\s*alv",
    re.IGNORECASE,
)
_MARK = (
    r"[$€£¥￥₹₽₴₺₩₪₫฿₸₱円元원]|(?-i:[A-Z]{3})|zł|kč|kr|ft|lei|руб|грн|лв|tl|chf|fr\.|"
    r"ש[\"״]?ח"
)
_PRICE_LIKE = re.compile(
    rf"(?:{_MARK})\s*\d|\d\s*(?:{_MARK})|\d(?:[.,'’]\d{{3}})*[.,]\d{{2}}(?!\d)", re.IGNORECASE
)
"""A number shown as a price: beside a currency mark, or with two decimals."""
_TRAILING_MARK = re.compile(
    r"(?:[$€£¥￥₹₽₴₺₩₪₫฿₸₱]|(?<!\w)(?:(?-i:[A-Z]{3})|R\$|US\$|NT\$|HK\$|zł|kč|kr|rs\.?|fr\.))\s*$",
    re.IGNORECASE,
)
_REACH = 60
"""Characters read on either side of the price."""


@dataclass(frozen=True, kw_only=True)
class Reading:
    """What the words around one displayed price say."""

    item_price: bool = True
    """False for an instalment: never the item's price."""
    unit_price: bool = False
    """A price per kg / metre / piece: loses to a plain price of the item (`heuristics.price`);
    alone, it is the price (a shop that sells by the metre or the piece)."""
    delta: float = 0.0
    """How much the price's score moves (a conversion loses)."""
    from_price: bool = False
    """A 'from' price: loses to a plain price of the product (`heuristics.price`)."""
    vat: str | None = None
    """`incl` or `excl` when the words say the price is with or without VAT."""


def read(el: Any, text: str) -> Reading:
    """The reading of the price `text` shown by `el`."""
    before, after = _around(el, text)
    label_before = _TRAILING_MARK.sub("", before)
    words = f"{before} {after}"
    unit_price = rules.on(UNIT) and bool(
        _UNIT_AFTER.search(after) or _UNIT_BEFORE.search(label_before) or _UNIT_WORDS.search(before)
    )
    if rules.on(INSTALMENT) and (
        _INSTALMENT_BEFORE.search(label_before) or _INSTALMENT_WORDS.search(words)
    ):
        return Reading(item_price=False)
    from_price = rules.on(FROM) and bool(
        _FROM_BEFORE.search(label_before) or _FROM_AFTER.search(after)
    )
    delta = -2.5 if rules.on(SECOND_CURRENCY) and _after_another_price(el, text) else 0.0
    vat = None
    if rules.on(VAT):
        vat = "excl" if _VAT_EXCL.search(words) else "incl" if _VAT_INCL.search(words) else None
    return Reading(delta=delta, unit_price=unit_price, from_price=from_price, vat=vat)


def _around(el: Any, text: str) -> tuple[str, str]:
    """The words before and after the number of `text` (the element's own words included) in
    its price block: the largest container up to three levels up that shows no other price (a
    count, `12 x`, or a quantity, `1 kg =`, is not a price); at most `_REACH` characters each."""
    digits = [m.start() for m in _NUMBER.finditer(text)]
    start, end = (digits[0], digits[-1] + 1) if digits else (0, len(text))
    container = el
    for _ in range(3):
        parent = container.getparent()
        if parent is None or parent.tag in ("body", "html"):
            break
        outer = text_content(parent, 60)
        if not outer or _PRICE_LIKE.search(outer.replace(text, "", 1)):
            break
        container = parent
    before, after = _split(container, el) if container is not el else ("", "")
    before = " ".join((before + " " + text[:start]).split())[-_REACH:]
    after = " ".join((text[end:] + " " + after).split())[:_REACH]
    return before, after


def _after_another_price(el: Any, text: str) -> bool:
    """The price follows another one in brackets, after a slash or `≈`: a conversion."""
    container = el
    for _ in range(2):
        parent = container.getparent()
        if parent is None or parent.tag in ("body", "html") or not text_content(parent, 60):
            break
        container = parent
    digit = _NUMBER.search(text)
    own = text[: digit.start()] if digit else ""
    before = (_split(container, el)[0] if container is not el else "") + " " + own
    before = _TRAILING_MARK.sub("", " ".join(before.split()))
    head = _SECOND_BEFORE.split(before)[0] if _SECOND_BEFORE.search(before) else ""
    return bool(_PRICE_LIKE.search(head))


def _split(container: Any, el: Any) -> tuple[str, str]:
    """The container's text before `el` and after it (its own text left out)."""
    before: list[str] = []
    after: list[str] = []
    out: list[str] | None = before
    for event, node in etree.iterwalk(container, events=("start", "end")):
        if not isinstance(node.tag, str):
            continue
        if event == "start":
            if node is el:
                out = None
            elif out is not None:
                out.append(node.text or "")
        else:
            if node is el:
                out = after
            if node is not container and out is not None:
                out.append(node.tail or "")
    return " ".join(before), " ".join(after)


__all__ = ["FROM", "INSTALMENT", "SECOND_CURRENCY", "UNIT", "VAT", "Reading", "read"]
