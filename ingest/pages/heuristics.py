"""Page heuristics where structured data is missing: the price shown beside the title and the buy
button, sku/gtin/mpn labels, breadcrumbs, the title heading; the stock the page states
(`buybox`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ingest.core.text import clean_line
from ingest.pages import buybox, price_words, rules, stock
from ingest.pages.candidate import Candidate
from ingest.pages.dom import Page, attrs_of, text_content
from ingest.pages.layout import ELSEWHERE, SITE_HEADER, in_chooser, in_chrome, links_away
from ingest.pages.normalize import (
    APOSTROPHES,
    CURRENCY_WORD,
    CURRENCY_WORDS,
    currency_code,
    parse_price_text,
)

_PRICE_ATTR = re.compile(r"price|preis|prix|precio|prezzo|preco|cena|цена|fiyat|amount")
_OLD_PRICE = re.compile(
    r"old|was|regular|strike|crossed|before|compare|original|list|rrp|msrp|uvp|save|saving|"
    r"discount|instal|month|shipping|delivery|per-?unit|unit-?price|base-?price|vat|tax|from|"
    r"range|min|max|points|credit|financ|\bdel\b"
)
_FROM_CLASS = re.compile(r"(?:price|amount)?[-_]?from[-_]?(?:price)?")
_WITH_TAX_CLASS = re.compile(
    r"incl(?:uding|usive)?[-_]?(?:vat|tax)|(?:vat|tax)[-_]?incl(?:uded|usive)?|with[-_]?(?:vat|tax)|"
    r"brutto|gross"
)
_BARE_AMOUNT = re.compile(r"\d+(?:[.,\s]\d+)*")
_CURRENCY_MARK = re.compile(
    r"[$€£¥￥元円圓₹₽₴₺₩₪₫฿₸₱]|\b(?:[A-Z]{3}|zł|kč|kn|lei|ft|kr|rs|руб|грн|тг|лв|р\.)(?:\W|$)|ر\.س|د\.إ",
    re.IGNORECASE,
)

_STRUCK_TAGS = ("del", "s", "strike")
_STRUCK_CLASS = re.compile(r"strike|line-?through|crossed|barred|barrato|durchgestrichen")
_NUMBER = re.compile(r"\d+(?:[.,\s]\d+)*")
_LOCALE_NUMBER = re.compile(r"\d+(?:[.,\s'’ʼ]\d+)*")

_SKU_LABEL = (
    r"sku|asin|item\s*(?:number|no\.?|#|code|id)|art(?:ikel)?\.?[\s-]*nr\.?|artikelnummer|"
    r"product\s*(?:code|id|number|no\.?|#)|prod\.?\s*(?:code|no\.?)|(?:post|listing|ad|offer)\s*(?:id|number|no\.?)|"
    r"anzeigen-?(?:nummer|id)|šifra|sifra|katalognummer|artikul|артикул|код\s*товара|cikkszám|"
    r"tuotenumero|varenummer|varenr\.?|bestellnummer|best\.?-?nr\.?|numer katalogowy|"
    r"style\s*(?:no\.?|number|code)|商品編號|商品编号|商品番号|商品コード|品番|商品代碼|商品代码|貨號|货号"
)
_WEAK_SKU_LABEL = (
    r"référence|réf\.?|ref\.?|reference|código|codigo|cod(?:ice)?\.?|kod(?:\s+produktu)?|код"
)
_LISTING_LABEL = (
    r"(?:nr|numer|id)\.?\s*ogłoszenia|(?:номер|№)\s*объявления|n[°º]\s*(?:d'|de\s*l')?annonce|"
    r"numéro\s*d'annonce|réf(?:érence)?\.?\s*(?:de\s*l')?annonce|id\s*del\s*anuncio|"
    r"ref(?:erencia)?\.?\s*(?:del\s*)?anuncio|codice\s*annuncio|id\s*annuncio|advertentienummer|"
    r"annonsnummer|annonce-?nr\.?|(?:id|código)\s*do\s*anúncio|매물\s*번호|광고\s*번호|広告番号|"
    r"物件番号|מספר\s*מודעה"
)
"""Labels of a classified ad's number (the listing's id, its sku)."""
LISTINGS = rules.rule(
    "listing-number-labels",
    "a classified ad's number under its label in several languages (Nr ogłoszenia, № объявления) is its sku",
)
_GTIN_LABEL = r"ean(?:-?13)?|gtin(?:-?1[34])?|upc|isbn(?:-?1[03])?|barcode|código de barras"
_MPN_LABEL = (
    r"mpn|manufacturer\s*part\s*(?:number|no\.?)|part\s*(?:number|no\.?)|herstellernummer|"
    r"(?:item\s*)?model\s*(?:number|no\.?|code)?|modelo|modèle|modell"
)
_VALUE = r"([A-Za-z0-9][A-Za-z0-9\-_./]{1,39})"


def _label(pattern: str) -> re.Pattern[str]:
    return re.compile(
        rf"^\s*[(\[〈【（]?\s*(?:\w+\s+)?(?:{pattern})\s*[:#.：]?\s*(?:{_VALUE})?\s*[)\]〉】）]?\s*$",
        re.IGNORECASE,
    )


_LABELS = {
    "gtin": _label(_GTIN_LABEL),
    "sku": _label(_SKU_LABEL),
    "mpn": _label(_MPN_LABEL),
    "weak_sku": _label(_WEAK_SKU_LABEL),
    "listing": _label(_LISTING_LABEL),
}
_REFERENCE_ATTR = re.compile(
    r"(?:^|[\s_-])(?:sku|product-?(?:reference|ref|code|number|no)|item-?(?:number|code|no)|"
    r"article-?(?:number|no)|reference|catnumber|cat-?(?:number|no))(?:$|[\s_-])"
)
_GTIN_VALUE = re.compile(r"^\d{8}$|^\d{12,14}$|^97[89]\d{10}$")


def title(page: Page) -> tuple[str | None, Any]:
    """The visible main heading (first `h1` with text outside navigation, else the first `h1`)
    and its element."""
    headings = [el for el in page.root.iter("h1") if clean_line(text_content(el, 1000))]
    if headings:
        el = next((h for h in headings if not in_chrome(h)), headings[0])
        return clean_line(text_content(el, 1000)), el
    head_title = page.root.find(".//title")
    text = clean_line(head_title.text_content()) if head_title is not None else ""
    return (text or None), None


def buy_buttons(page: Page) -> list[Any]:
    """Add-to-cart / buy elements (buttons, submit inputs, links, forms) in document order."""
    found = []
    for el in page.visible():
        if el.tag not in ("button", "input", "a", "form", "div", "span"):
            continue
        if el.tag == "input" and el.get("type", "").lower() not in ("submit", "button", "image"):
            continue
        label = " ".join(
            [
                attrs_of(el),
                el.get("value", ""),
                el.get("action", ""),
                el.get("title", ""),
                el.get("aria-label", ""),
            ]
        )
        text = text_content(el, 60) if el.tag in ("button", "a", "input") else ""
        if stock.BUY_MARKS.search(f"{label} {text}") or (text and stock.buys(text)):
            found.append(el)
    return found


def _context(el: Any, depth: int = 3) -> str:
    parts = []
    for _ in range(depth):
        if el is None:
            break
        parts.append(attrs_of(el))
        el = el.getparent()
    return " ".join(parts)


def _far_context(el: Any) -> tuple[str, bool]:
    """Names of the element and its ancestors below `body` (whose classes are page-state flags),
    and whether the price is struck through (a `<del>` or a strike-through class, on an ancestor
    or on the descendant that holds the number: `<td>List <del>$420</del></td>`)."""
    parts, struck = [], _struck_inside(el)
    while el is not None and el.tag not in ("body", "html"):
        struck = struck or el.tag in _STRUCK_TAGS or bool(_STRUCK_CLASS.search(attrs_of(el)))
        parts.append(attrs_of(el))
        el = el.getparent()
    return " ".join(parts), struck


def _struck_inside(el: Any) -> bool:
    """The element's number sits in a struck-through descendant."""
    return any(_NUMBER.search(text_content(c, 60)) for c in el.iterdescendants(*_STRUCK_TAGS))


def _distance_bonus(pos: int, anchors: list[int]) -> float:
    if not anchors:
        return 0.0
    distance = min(abs(pos - a) for a in anchors)
    return 3.0 if distance < 40 else 2.0 if distance < 150 else 1.0 if distance < 500 else 0.0


@dataclass(frozen=True, kw_only=True)
class _Shown:
    """One displayed price and how well placed it is."""

    score: float
    pos: int
    amount: Decimal
    mark: str | None
    plain: bool
    """Not struck through, not labelled old, not among other products or options."""
    reading: price_words.Reading


def _price_score(page: Page, el: Any, text: str, anchors: list[int]) -> tuple[float, bool]:
    """The price's score and whether it is plain (see `_Shown.plain`)."""
    near = _context(el)
    far, struck = _far_context(el)
    has_mark = _has_mark(text)
    if not (has_mark or _PRICE_ATTR.search(near)):
        return float("-inf"), False
    score = (
        2.0 * has_mark
        + 2.0 * bool(_PRICE_ATTR.search(attrs_of(el)))
        + bool(_PRICE_ATTR.search(near))
    )
    elsewhere = ELSEWHERE.search(far) or links_away(el, page.url) or in_chooser(el)
    old = bool(_OLD_PRICE.search(_named_label(near)))
    score -= 3.0 * old + 4.0 * struck + 3.0 * bool(elsewhere)
    score -= 1.0 * (len(text) > 25)
    plain = not (old or struck or elsewhere)
    if in_chrome(el):
        return score, False  # beside the buy button, a carousel of other products is not this one
    return score + _distance_bonus(page.order.get(el, 0), anchors), plain


def _named_label(near: str) -> str:
    """Class names of a price with the labels its words rules read left out: `price-from` is a
    'from' price (rule `from-price`), `price-including-tax` the price with VAT (rule
    `vat-inclusive-price`), not an old price."""
    if rules.on(price_words.FROM):
        near = _FROM_CLASS.sub(" ", near)
    if rules.on(price_words.VAT):
        near = _WITH_TAX_CLASS.sub(" ", near)
    return near


def price(page: Page, anchors: list[int]) -> tuple[Decimal | None, str | None, float]:
    """The best-placed displayed price: amount, currency mark, score.

    The words around each price are read (`price_words`): instalments are left out; a unit
    price, a 'from' price and a price labelled without VAT lose to a plain price of the product
    (the consumer price is the one with VAT); a conversion into a second currency loses.
    """
    found = [s for el in page.visible() if (s := _shown(page, el, anchors)) is not None]
    plain = [s for s in found if s.plain and s.score >= 3.0]
    best: tuple[float, int, Decimal | None, str | None] = (float("-inf"), 0, None, None)
    for shown in found:
        score = shown.score + shown.reading.delta
        if shown.reading.unit_price and any(not p.reading.unit_price for p in plain):
            score -= 6.0
        if shown.reading.from_price and any(not p.reading.from_price for p in plain):
            score -= 1.5
        if shown.reading.vat == "excl" and any(p.reading.vat != "excl" for p in plain):
            score -= 3.0
        if score > best[0] or (score == best[0] and _before(shown.pos, best[1], anchors)):
            best = (score, shown.pos, shown.amount, shown.mark)
    if best[0] < 3.0:
        return None, None, best[0]
    return best[2], best[3], best[0]


def _shown(page: Page, el: Any, anchors: list[int]) -> _Shown | None:
    """The element as a displayed price of the item, None when it is none."""
    if len(el) > 6 or el.tag in ("body", "html", "script", "option", "select", "a"):
        return None
    text = text_content(el, 60)
    if not text or len(text) > 60 or len(_numbers(text)) != 1:
        return None  # no number, or several prices in one container
    text = _with_adjacent_mark(el, text)
    amount, mark = parse_price_text(text)
    if amount is None or amount <= 0:
        return None
    score, plain = _price_score(page, el, text, anchors)
    if score == float("-inf"):
        return None
    reading = price_words.read(el, text)
    if not reading.item_price:
        return None
    pos = page.order.get(el, 0)
    return _Shown(score=score, pos=pos, amount=amount, mark=mark, plain=plain, reading=reading)


def _numbers(text: str) -> list[str]:
    """The numbers of a text; digit groups joined by an apostrophe are one number (`1'299.50`)
    where the rule `apostrophe-thousands` is on."""
    pattern = _LOCALE_NUMBER if rules.on(APOSTROPHES) else _NUMBER
    return pattern.findall(text)


def _has_mark(text: str, whole: bool = False) -> bool:
    """The text shows a currency: a symbol, code or local mark, or (rule `currency-words`) a
    currency word (`Euro`, `원`, `ש״ח`); `whole`: the text is nothing else."""
    patterns = [_CURRENCY_MARK, *([CURRENCY_WORD] if rules.on(CURRENCY_WORDS) else [])]
    return any(bool(p.fullmatch(text) if whole else p.search(text)) for p in patterns)


def _with_adjacent_mark(el: Any, text: str) -> str:
    """A bare amount with the currency mark that stands beside it in its own element or text
    (`<b>294</b><span>元</span>`, `<span>1.299</span> Kč`)."""
    if _has_mark(text) or not _BARE_AMOUNT.fullmatch(text):
        return text
    before, after, parent = el.getprevious(), el.getnext(), el.getparent()
    beside = [
        el.tail,
        text_content(after, 4) if after is not None else None,
        before.tail if before is not None else parent.text if parent is not None else None,
    ]
    for raw in beside:
        mark = (raw or "").strip()
        if mark and len(mark) <= 4 and _has_mark(mark, whole=True):
            return f"{text} {mark}"
    return text


def _before(pos: int, other: int, anchors: list[int]) -> bool:
    """Of two equally scored prices, the nearer the product block; equally near, the first one
    read (the headline price precedes its variants: tax-exclusive and inclusive, per unit)."""
    near, other_near = _distance_bonus(pos, anchors), _distance_bonus(other, anchors)
    return near > other_near or (near == other_near and pos < other)


def identifiers(page: Page) -> dict[str, str]:
    """sku / gtin / mpn from labelled values (`SKU: 123`, `<dt>EAN</dt><dd>400...</dd>`)."""
    found: dict[str, str] = {}
    texts = page.texts()
    for index, (_, text, _el) in enumerate(texts):
        if len(text) > 70:
            continue
        for key, pattern in _LABELS.items():
            if key in found or (key == "listing" and not rules.on(LISTINGS)):
                continue
            match = pattern.match(text)
            if not match:
                continue
            value = match.group(1) or _next_value(texts, index)
            if value and _plausible(key, value):
                found[key] = value
            break
    return found


def reference(page: Page) -> str | None:
    """An id alone in an element whose class/id/itemprop names it (`<span class="sku">12-34</span>`),
    outside related-product blocks."""
    for el in page.visible():
        if len(el) > 2 or not _REFERENCE_ATTR.search(_naming_attrs(el)):
            continue
        text = text_content(el, 40).strip()
        match = re.fullmatch(_VALUE, text)
        if (
            match
            and len(text) >= 4
            and _plausible("sku", text)
            and not ELSEWHERE.search(_far_context(el)[0])
        ):
            return match.group(1)
    return None


def _naming_attrs(el: Any) -> str:
    """class/id/itemprop/data-* names, plus short word-like data-* values (`data-qa="product-code"`)."""
    values = [
        str(v).lower()
        for k, v in el.attrib.items()
        if str(k).startswith("data-") and len(str(v)) < 40 and re.fullmatch(r"[A-Za-z_-]+", str(v))
    ]
    return " ".join([attrs_of(el), *values])


def _next_value(texts: list[tuple[int, str, Any]], index: int) -> str | None:
    for _, text, _el in texts[index + 1 : index + 3]:
        match = re.fullmatch(_VALUE, text.strip(" :#"))
        if match:
            return match.group(1)
        if text.strip(" :#"):
            return None
    return None


def _plausible(key: str, value: str) -> bool:
    if not any(c.isdigit() for c in value):
        return False
    return bool(_GTIN_VALUE.match(value)) if key == "gtin" else True


def breadcrumbs(page: Page, product_title: str | None) -> str | None:
    """Category path from an element whose class/id says breadcrumb."""
    for el in page.visible():
        if "breadcrumb" not in attrs_of(el) or el.tag in ("a", "span", "li"):
            continue
        names = [clean_line(text_content(a, 100)) for a in el.iter("a")]
        names = [n for n in names if n and n != product_title]
        if names:
            return " > ".join(dict.fromkeys(names))
    return None


def _anchors(page: Page, buttons: list[Any], heading_el: Any) -> list[int]:
    """Positions of the product block: the first buy buttons outside page chrome, the title."""
    own = [b for b in buttons if b in page.order and not in_chrome(b, SITE_HEADER)]
    found = [page.order[b] for b in own[:3]]
    if heading_el is not None:
        found.append(page.order.get(heading_el, 0))
    return found


def candidate(page: Page) -> tuple[Candidate, dict[str, Any]]:
    """Everything the heuristics find, and the signals (title element, buttons, price score)."""
    heading, heading_el = title(page)
    buttons = buy_buttons(page)
    anchors = _anchors(page, buttons, heading_el)
    amount, mark, score = price(page, anchors)
    view = buybox.read(page, anchors)
    ids = identifiers(page)
    labelled = ids.get("sku")
    listing = ids.pop("listing", "")
    ids.setdefault("sku", ids.pop("weak_sku", "") or listing or reference(page) or "")
    found = Candidate(
        source="heuristics",
        title=heading,
        price=amount,
        currency=currency_code(mark, page.url),
        availability=view.availability(),
        sku=ids.get("sku") or None,
        gtin=ids.get("gtin"),
        mpn=ids.get("mpn"),
        category=breadcrumbs(page, heading),
    )
    signals = {
        "buy_buttons": len(buttons),
        "price_score": score,
        "has_h1": heading_el is not None,
        "labelled_sku": labelled,
        "stock": view,
    }
    return found, signals
