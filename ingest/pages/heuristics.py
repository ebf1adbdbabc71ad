"""Page heuristics where structured data is missing: the price shown beside the title and the buy
button, sku/gtin/mpn labels, availability phrases, breadcrumbs, the title heading."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ingest.pages.candidate import Candidate
from ingest.pages.dom import Page, attrs_of, text_content
from ingest.pages.normalize import currency_code, parse_price_text
from ingest.prepare.clean import clean_line
from schemas.models import Availability

_PRICE_ATTR = re.compile(r"price|preis|prix|precio|prezzo|preco|cena|цена|fiyat|amount")
_OLD_PRICE = re.compile(
    r"old|was|regular|strike|crossed|before|compare|original|list|rrp|msrp|uvp|save|saving|"
    r"discount|instal|month|shipping|delivery|per-?unit|unit-?price|base-?price|vat|tax|from|"
    r"range|min|max|points|credit|financ|\bdel\b"
)
_ELSEWHERE = re.compile(
    r"related|recommend|similar|carousel|upsell|cross|also|accessor|bundle|slider|footer|"
    r"header|\bnav|menu|minicart|mini-cart|basket-|sidebar|widget|review|other|sponsor|ad-"
)
_BUY = re.compile(
    r"add[\s_-]*to[\s_-]*(cart|basket|bag|trolley)|addtocart|buy[\s_-]*(now|button|box)|btn-?buy|"
    r"in den warenkorb|warenkorb|ajouter au panier|añadir al carrito|agregar al carrito|"
    r"aggiungi al carrello|do koszyka|в корзину|do košíku|kosárba|adicionar ao carrinho|"
    r"comprar|kaufen|acheter|köp|kjøp|køb|in winkelwagen|sepete ekle|ostoskoriin|cumpără|"
    r"add to order|purchase",
    re.IGNORECASE,
)
_CURRENCY_MARK = re.compile(
    r"[$€£¥₹₽₴₺₩₪₫฿₸₱]|\b(?:[A-Z]{3}|zł|kč|kn|lei|ft|kr|rs|руб|грн|тг|лв|р\.)(?:\W|$)|ر\.س|د\.إ",
    re.IGNORECASE,
)

_OOS = re.compile(
    r"out of stock|sold out|currently unavailable|no longer available|not available|"
    r"nicht verfügbar|ausverkauft|nicht lieferbar|épuisé|rupture de stock|indisponible|agotado|"
    r"sin stock|no disponible|esaurito|non disponibile|niet op voorraad|uitverkocht|"
    r"brak w magazynie|niedostępny|нет в наличии|распродано|vyprodáno|není skladem|slutsåld|"
    r"udsolgt|utsolgt|loppuunmyyty|esgotado|indisponível|stokta yok|tükendi|nincs raktáron",
    re.IGNORECASE,
)
_IN_STOCK = re.compile(
    r"in stock|available|auf lager|lieferbar|sofort|en stock|disponible|disponibile|"
    r"op voorraad|dostępny|в наличии|skladem|på lager|i lager|varastossa|em estoque|"
    r"stokta var|raktáron|na stanie|en existencia",
    re.IGNORECASE,
)
_PREORDER = re.compile(r"pre-?order|vorbestell|précommande|preventa|prenota", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,\s]\d+)*")
_AVAIL_ATTR = re.compile(r"(?<!un)availab|stock|inventory|lieferbar|dispon")
_AVAIL_REACH = 300

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
}
_REFERENCE_ATTR = re.compile(
    r"(?:^|[\s_-])(?:sku|product-?(?:reference|ref|code|number|no)|item-?(?:number|code|no)|"
    r"article-?(?:number|no)|reference|catnumber|cat-?(?:number|no))(?:$|[\s_-])"
)
_GTIN_VALUE = re.compile(r"^\d{8}$|^\d{12,14}$|^97[89]\d{10}$")


def title(page: Page) -> tuple[str | None, Any]:
    """The visible main heading (first `h1` with text) and its element."""
    for el in page.root.iter("h1"):
        text = clean_line(text_content(el, 1000))
        if text:
            return text, el
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
        if el.tag in ("button", "a", "input"):
            label += " " + text_content(el, 60)
        if _BUY.search(label):
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
    """Names of the element and its ancestors below `body` (whose classes are page-state flags)."""
    parts, struck = [], False
    while el is not None and el.tag not in ("body", "html"):
        if el.tag in ("del", "s", "strike"):
            struck = True
        parts.append(attrs_of(el))
        el = el.getparent()
    return " ".join(parts), struck


def _distance_bonus(pos: int, anchors: list[int]) -> float:
    if not anchors:
        return 0.0
    distance = min(abs(pos - a) for a in anchors)
    return 3.0 if distance < 40 else 2.0 if distance < 150 else 1.0 if distance < 500 else 0.0


def _price_score(page: Page, el: Any, text: str, anchors: list[int]) -> float:
    near = _context(el)
    far, struck = _far_context(el)
    has_mark = bool(_CURRENCY_MARK.search(text))
    if not (has_mark or _PRICE_ATTR.search(near)):
        return float("-inf")
    score = (
        2.0 * has_mark
        + 2.0 * bool(_PRICE_ATTR.search(attrs_of(el)))
        + bool(_PRICE_ATTR.search(near))
    )
    score -= 3.0 * bool(_OLD_PRICE.search(near)) + 4.0 * struck + 3.0 * bool(_ELSEWHERE.search(far))
    score -= 1.0 * (len(text) > 25)
    return score + _distance_bonus(page.order.get(el, 0), anchors)


def price(page: Page, anchors: list[int]) -> tuple[Decimal | None, str | None, float]:
    """The best-placed displayed price: amount, currency mark, score."""
    best: tuple[float, int, Decimal | None, str | None] = (float("-inf"), 0, None, None)
    for el in page.visible():
        if len(el) > 6 or el.tag in ("body", "html", "script", "option", "select", "a"):
            continue
        text = text_content(el, 60)
        if not text or len(text) > 60 or len(_NUMBER.findall(text)) != 1:
            continue  # no number, or several prices in one container
        amount, mark = parse_price_text(text)
        if amount is None or amount <= 0:
            continue
        score = _price_score(page, el, text, anchors)
        pos = page.order.get(el, 0)
        if score > best[0] or (score == best[0] and _before(pos, best[1], anchors)):
            best = (score, pos, amount, mark)
    if best[0] < 3.0:
        return None, None, best[0]
    return best[2], best[3], best[0]


def _before(pos: int, other: int, anchors: list[int]) -> bool:
    if not anchors:
        return pos < other
    return min(abs(pos - a) for a in anchors) < min(abs(other - a) for a in anchors)


def identifiers(page: Page) -> dict[str, str]:
    """sku / gtin / mpn from labelled values (`SKU: 123`, `<dt>EAN</dt><dd>400...</dd>`)."""
    found: dict[str, str] = {}
    texts = page.texts()
    for index, (_, text, _el) in enumerate(texts):
        if len(text) > 70:
            continue
        for key, pattern in _LABELS.items():
            if key in found:
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
            and not _ELSEWHERE.search(_far_context(el)[0])
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


def _stock_phrase(text: str) -> Availability | None:
    if _OOS.search(text):
        return Availability.OUT_OF_STOCK
    if _PREORDER.search(text):
        return Availability.PRE_ORDER
    if _IN_STOCK.search(text):
        return Availability.IN_STOCK
    return None


def availability(page: Page, buttons: list[Any], anchors: list[int]) -> Availability | None:
    """The stock phrase nearest the title and buy button, else an enabled buy button: in stock."""
    found: list[tuple[int, Availability]] = []
    for el in page.visible():
        if len(el) > 8 or not _AVAIL_ATTR.search(attrs_of(el)):
            continue
        status = _stock_phrase(text_content(el, 120))
        pos = page.order.get(el, 0)
        distance = min((abs(pos - a) for a in anchors), default=0)
        if status is not None and distance <= _AVAIL_REACH:
            found.append((distance, status))
    if found:
        return min(found, key=lambda f: f[0])[1]
    if any(b.get("disabled") is None and "disabled" not in attrs_of(b) for b in buttons):
        return Availability.IN_STOCK
    return None


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


def candidate(page: Page) -> tuple[Candidate, dict[str, Any]]:
    """Everything the heuristics find, and the signals (title element, buttons, price score)."""
    heading, heading_el = title(page)
    buttons = buy_buttons(page)
    anchors = [page.order[b] for b in buttons[:3] if b in page.order]
    if heading_el is not None:
        anchors.append(page.order.get(heading_el, 0))
    amount, mark, score = price(page, anchors)
    ids = identifiers(page)
    labelled = ids.get("sku")
    ids.setdefault("sku", ids.pop("weak_sku", "") or reference(page) or "")
    found = Candidate(
        source="heuristics",
        title=heading,
        price=amount,
        currency=currency_code(mark, page.url),
        availability=availability(page, buttons, anchors),
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
    }
    return found, signals
