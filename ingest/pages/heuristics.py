"""Page heuristics where structured data is missing: the price shown beside the title and the buy
button, sku/gtin/mpn labels, availability phrases, breadcrumbs, the title heading."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

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
_CHOOSER = re.compile(r"(?:^|[\s_-])(?:select|dropdown|listbox)(?:$|[\s_-])")
_CHROME_TAGS = frozenset({"nav", "footer", "aside"})
"""Page chrome by tag (`<header>` is not: product pages put their title in one)."""
_SITE_HEADER = frozenset({*_CHROME_TAGS, "header"})
"""Chrome for buy buttons: the site header's cart button too."""
_CHROME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|megamenu|flyout|footer|minicart|"
    r"carousel|swiper|slick|related|recommendations?|upsell|cross-?sell|similar)(?:$|[\s_-])"
)
_BUY = re.compile(
    r"add[\s_-]*to[\s_-]*(cart|basket|bag|trolley)|addtocart|buy[\s_-]*(now|button|box)|btn-?buy|"
    r"in den warenkorb|warenkorb|ajouter au panier|añadir al carrito|agregar al carrito|"
    r"aggiungi al carrello|do koszyka|в корзину|do košíku|kosárba|adicionar ao carrinho|"
    r"comprar|kaufen|acheter|köp|kjøp|køb|in winkelwagen|sepete ekle|ostoskoriin|cumpără|"
    r"add to order|purchase",
    re.IGNORECASE,
)
_BARE_AMOUNT = re.compile(r"\d+(?:[.,\s]\d+)*")
_CURRENCY_MARK = re.compile(
    r"[$€£¥￥元円圓₹₽₴₺₩₪₫฿₸₱]|\b(?:[A-Z]{3}|zł|kč|kn|lei|ft|kr|rs|руб|грн|тг|лв|р\.)(?:\W|$)|ر\.س|د\.إ",
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
_STRUCK_TAGS = ("del", "s", "strike")
_STRUCK_CLASS = re.compile(r"strike|line-?through|crossed|barred|barrato|durchgestrichen")
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
        if el.tag in ("button", "a", "input"):
            label += " " + text_content(el, 60)
        if _BUY.search(label):
            found.append(el)
    return found


def in_chrome(el: Any, tags: frozenset[str] = _CHROME_TAGS) -> bool:
    """Inside page chrome (navigation, footer, menus, mini-cart) or a carousel of other products:
    a buy button or heading there is not the product's own."""
    return any(
        a.tag in tags or _CHROME.search(attrs_of(a))
        for a in (el, *el.iterancestors())
        if a.tag not in ("body", "html")
    )


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
    elsewhere = _ELSEWHERE.search(far) or _links_away(el, page.url) or _in_chooser(el)
    score -= 3.0 * bool(_OLD_PRICE.search(near)) + 4.0 * struck + 3.0 * bool(elsewhere)
    score -= 1.0 * (len(text) > 25)
    if in_chrome(el):
        return score  # beside the buy button, a carousel of other products is still not this one
    return score + _distance_bonus(page.order.get(el, 0), anchors)


def _in_chooser(el: Any) -> bool:
    """Inside a custom option list (a styled `<select>`): one variant's price among several."""
    return any(
        a.get("role") in ("listbox", "option") or _CHOOSER.search(str(a.get("class", "")).lower())
        for a in el.iterancestors()
    )


def _links_away(el: Any, url: str | None) -> bool:
    """Inside a link to another page: a product tile of a listing, not this page's offer (a buy
    link, `<a href="/add-to-cart/12">Buy for $20</a>`, is this page's own)."""
    for link in el.iterancestors("a"):
        href = str(link.get("href", "")).strip()
        if not href or href.startswith(("#", "javascript:")) or _BUY.search(href):
            continue
        target = urlsplit(urljoin(url or "", href))
        here = urlsplit(url or "")
        return (target.netloc, target.path.rstrip("/")) != (here.netloc, here.path.rstrip("/"))
    return False


def price(page: Page, anchors: list[int]) -> tuple[Decimal | None, str | None, float]:
    """The best-placed displayed price: amount, currency mark, score."""
    best: tuple[float, int, Decimal | None, str | None] = (float("-inf"), 0, None, None)
    for el in page.visible():
        if len(el) > 6 or el.tag in ("body", "html", "script", "option", "select", "a"):
            continue
        text = text_content(el, 60)
        if not text or len(text) > 60 or len(_NUMBER.findall(text)) != 1:
            continue  # no number, or several prices in one container
        text = _with_adjacent_mark(el, text)
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


def _with_adjacent_mark(el: Any, text: str) -> str:
    """A bare amount with the currency mark that stands beside it in its own element or text
    (`<b>294</b><span>元</span>`, `<span>1.299</span> Kč`)."""
    if _CURRENCY_MARK.search(text) or not _BARE_AMOUNT.fullmatch(text):
        return text
    before, after, parent = el.getprevious(), el.getnext(), el.getparent()
    beside = [
        el.tail,
        text_content(after, 4) if after is not None else None,
        before.tail if before is not None else parent.text if parent is not None else None,
    ]
    for raw in beside:
        mark = (raw or "").strip()
        if mark and len(mark) <= 4 and _CURRENCY_MARK.fullmatch(mark):
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
    """The stock phrase nearest the title and buy button, else an enabled buy button: in stock.

    A stock label beats a link or button: a button names an action (`Reserve in store`), a
    label states the stock.
    """
    found: list[tuple[bool, int, Availability]] = []
    for el in page.visible():
        if len(el) > 8 or not _AVAIL_ATTR.search(attrs_of(el)):
            continue
        status = _stock_phrase(text_content(el, 120))
        pos = page.order.get(el, 0)
        distance = min((abs(pos - a) for a in anchors), default=0)
        if status is not None and distance <= _AVAIL_REACH:
            action = el.tag in ("a", "button", "input") or el.getparent().tag in ("a", "button")
            found.append((action, distance, status))
    if found:
        return min(found, key=lambda f: f[:2])[2]
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


def _anchors(page: Page, buttons: list[Any], heading_el: Any) -> list[int]:
    """Positions of the product block: the first buy buttons outside page chrome, the title."""
    own = [b for b in buttons if b in page.order and not in_chrome(b, _SITE_HEADER)]
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
