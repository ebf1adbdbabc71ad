"""Where on the page an element stands: page chrome, other products' tiles, option choosers and
store or delivery widgets. What stands there is not the product's own price, title or stock."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingest.pages.dom import attrs_of
from ingest.pages.stock import BUY_MARKS

ELSEWHERE = re.compile(
    r"related|recommend|similar|carousel|upsell|cross|also|accessor|bundle|slider|footer|"
    r"header|\bnav|menu|minicart|mini-cart|basket-|sidebar|widget|review|other|sponsor|ad-"
)
"""Class names of blocks that show other products or page furniture (matched on an element and
its ancestors)."""

CHROME_TAGS = frozenset({"nav", "footer", "aside"})
"""Page chrome by tag (`<header>` is not: product pages put their title in one)."""
SITE_HEADER = frozenset({*CHROME_TAGS, "header"})
"""Chrome for buy buttons: the site header's cart button too."""
_CHROME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|megamenu|flyout|footer|minicart|"
    r"carousel|swiper|slick|related|recommendations?|upsell|cross-?sell|similar)(?:$|[\s_-])"
)
_CHOOSER = re.compile(r"(?:^|[\s_-])(?:select|dropdown|listbox)(?:$|[\s_-])")
_VARIANT_CHOOSER = re.compile(
    r"swatch|variant|variation|size-?(?:selector|picker|list|chart|option)|colou?r-?(?:selector|"
    r"picker|list|option)|product-?options?|option-?(?:list|values?)|attribute-?(?:list|options?)|"
    r"radio-?group"
)
_TILES = re.compile(
    r"product-?(?:card|tile|item|grid|list)|grid-?(?:item|tile)|teaser|recently|viewed|"
    r"bought|also-?|complete-?the-?look|shop-?the-?look|you-?may|recs?\b|recommend|related|"
    r"carousel|swiper|slick|slider|upsell|cross-?sell|similar"
)
_DIALOG = re.compile(r"modal|popup|pop-up|dialog|lightbox")
_STORE_OR_DELIVERY = re.compile(
    r"estimat|postcode|postal|zip-?code|pickup|pick-up|click-?(?:and|n)?-?collect|"
    r"store-?(?:stock|avail|locator|finder|picker|select|inventory|pickup)|in-?store|"
    r"fulfil+ment|find-?in-?store|delivery-?(?:date|estimate|promise|options|checker)"
)


def in_chrome(el: Any, tags: frozenset[str] = CHROME_TAGS) -> bool:
    """Inside page chrome (navigation, footer, menus, mini-cart) or a carousel of other products:
    a buy button or heading there is not the product's own."""
    return any(
        a.tag in tags or _CHROME.search(attrs_of(a))
        for a in (el, *el.iterancestors())
        if a.tag not in ("body", "html")
    )


def in_chooser(el: Any) -> bool:
    """Inside a custom option list (a styled `<select>`): one variant's price among several."""
    return any(
        a.get("role") in ("listbox", "option") or _CHOOSER.search(str(a.get("class", "")).lower())
        for a in el.iterancestors()
    )


def in_variant_chooser(el: Any, levels: int = 256) -> bool:
    """Inside a `<select>`, an option list or a variant selector (sizes, colours, swatches),
    looking `levels` ancestors up: a stock word there is one variant's, not the product's."""
    for depth, a in enumerate((el, *el.iterancestors())):
        if a.tag in ("body", "html") or depth > levels:
            return False
        if a.tag in ("select", "option", "optgroup", "datalist"):
            return True
        if a.get("role") in ("listbox", "option", "radiogroup", "radio"):
            return True
        names = f"{a.tag} {attrs_of(a)}"  # custom elements: <variant-radios>, <variant-selects>
        if _VARIANT_CHOOSER.search(names) or _CHOOSER.search(str(a.get("class", "")).lower()):
            return True
    return False


def names_a_variant(el: Any) -> bool:
    """The element's own class or id names a variant option (`swatch`, `size-option`)."""
    return bool(_VARIANT_CHOOSER.search(attrs_of(el)))


def in_tile(el: Any, url: str | None) -> bool:
    """Inside another product's tile (recommendations, related products, a carousel, a link to
    another product page)."""
    if links_away(el, url):
        return True
    return any(
        _TILES.search(attrs_of(a))
        for a in (el, *el.iterancestors())
        if a.tag not in ("body", "html")
    )


def in_store_or_delivery_widget(el: Any) -> bool:
    """Inside a delivery-estimate, store-stock or pick-up widget: its stock words are a store's
    or a delivery slot's, not the product's."""
    return any(
        _STORE_OR_DELIVERY.search(attrs_of(a))
        for a in (el, *el.iterancestors())
        if a.tag not in ("body", "html")
    )


def in_dialog(el: Any) -> bool:
    """Inside a modal, pop-up or dialog (shown by a script on some action, hidden by a
    stylesheet until then)."""
    return any(
        a.get("role") in ("dialog", "alertdialog")
        or a.get("aria-modal") == "true"
        or _DIALOG.search(attrs_of(a))
        for a in (el, *el.iterancestors())
        if a.tag not in ("body", "html")
    )


def in_offer_row(el: Any, url: str | None) -> bool:
    """Inside a table row or list item that links to another page: one offer of a list of
    sellers or variants, or another product."""
    for depth, row in enumerate(el.iterancestors()):
        if depth > 5 or row.tag in ("body", "html"):
            return False
        if row.tag in ("tr", "li"):
            return any(_leads_away(a, url) for a in row.iter("a"))
    return False


def _leads_away(link: Any, url: str | None) -> bool:
    href = str(link.get("href", "")).strip()
    if not href or href.startswith(("#", "javascript:")) or BUY_MARKS.search(href):
        return False
    target = urlsplit(urljoin(url or "", href))
    here = urlsplit(url or "")
    return (target.netloc, target.path.rstrip("/")) != (here.netloc, here.path.rstrip("/"))


def links_away(el: Any, url: str | None) -> bool:
    """Inside a link to another page: a product tile of a listing, not this page's offer (a buy
    link, `<a href="/add-to-cart/12">Buy for $20</a>`, is this page's own)."""
    for link in el.iterancestors("a"):
        href = str(link.get("href", "")).strip()
        if not href or href.startswith(("#", "javascript:")) or BUY_MARKS.search(href):
            continue
        return _leads_away(link, url)
    return False


__all__ = [
    "CHROME_TAGS",
    "ELSEWHERE",
    "SITE_HEADER",
    "in_chooser",
    "in_chrome",
    "in_dialog",
    "in_offer_row",
    "in_store_or_delivery_widget",
    "in_tile",
    "in_variant_chooser",
    "links_away",
    "names_a_variant",
]
