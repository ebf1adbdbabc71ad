"""Per-platform rules: shop software whose product markup is known (Shopify, Magento, WooCommerce).

Each platform is detected from its own markers (asset hosts, script names, body classes), never
from a shop's address, and reads only what that software renders on every shop.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ingest.core.text import clean_line
from ingest.pages import rules
from ingest.pages.candidate import Candidate
from ingest.pages.dom import Page, text_content
from ingest.pages.normalize import availability, currency_code, parse_amount, parse_price_text
from ingest.pages.structured import SELECTED, query_pairs
from schemas.models import Availability

_MAGE_PATH = re.compile(r"(?<![\w-])mage/")
"""Magento's own script path (`mage/cookies`), not the tail of `image/`."""
_SHOPIFY_META = re.compile(r"var meta\s*=\s*(\{.*?\});\s*(?:\n|for|window)", re.DOTALL)


def _xpath_text(page: Page, query: str) -> str | None:
    for el in page.root.xpath(query):
        text = clean_line(el if isinstance(el, str) else text_content(el, 200))
        if text:
            return text
    return None


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def _shopify(page: Page) -> Candidate | None:
    if not any("Shopify.shop" in s or "cdn.shopify.com" in s for s in page.scripts):
        return None
    for script in page.scripts:
        match = _SHOPIFY_META.search(script)
        if not match:
            continue
        try:
            product = json.loads(match.group(1)).get("product") or {}
        except (ValueError, AttributeError):
            continue
        variant = _variant(product.get("variants") or [{}], page.url)
        cents = parse_amount(variant.get("price"))
        return Candidate(
            source="shopify",
            sku=clean_line(str(variant.get("sku") or "")) or None,
            brand=clean_line(str(product.get("vendor") or "")) or None,
            price=cents / Decimal(100) if cents is not None else None,
        )
    return Candidate(source="shopify")


def _variant(variants: list[Any], url: str | None) -> dict[str, Any]:
    """The variant the page's address selects (`?variant=<id>`, rule `selected-variant-price`),
    else the first."""
    chosen = variants[0]
    if url and rules.on(SELECTED):
        wanted = dict(query_pairs(url)).get("variant")
        chosen = next(
            (v for v in variants if isinstance(v, dict) and str(v.get("id")) == wanted), chosen
        )
    return chosen if isinstance(chosen, dict) else {}


def _magento(page: Page) -> Candidate | None:
    if not any(
        "Magento_" in s or _MAGE_PATH.search(s) for s in page.scripts
    ) and not page.root.xpath("//*[@data-mage-init]"):
        return None
    price = _xpath_text(
        page, "//*[@data-price-type='finalPrice'][@data-price-amount]/@data-price-amount"
    )
    stock = _xpath_text(page, f"//*[{_has_class('stock')}][{_has_class('unavailable')}]")
    in_stock = _xpath_text(page, f"//*[{_has_class('stock')}][{_has_class('available')}]")
    return Candidate(
        source="magento",
        price=parse_amount(price),
        sku=_xpath_text(page, f"//*[{_has_class('sku')}]//*[{_has_class('value')}]"),
        availability=Availability.OUT_OF_STOCK
        if stock
        else Availability.IN_STOCK
        if in_stock
        else None,
    )


def _woocommerce(page: Page) -> Candidate | None:
    body = page.root.find("body")
    classes = str(body.get("class", "")) if body is not None else ""
    if "woocommerce" not in classes:
        return None
    summary = f"//*[{_has_class('summary')}]//*[{_has_class('price')}]"
    shown = _xpath_text(page, f"{summary}//ins") or _xpath_text(page, summary)
    amount, mark = parse_price_text(shown) if shown else (None, None)
    stock = page.root.xpath(f"//*[{_has_class('stock')}]/@class")
    status: Availability | None = None
    if stock:
        status = availability("out_of_stock" if "out-of-stock" in stock[0] else "in_stock")
    return Candidate(
        source="woocommerce",
        price=amount,
        currency=currency_code(mark, page.url),
        sku=_xpath_text(page, f"//*[{_has_class('sku')}]"),
        availability=status,
    )


PLATFORMS: dict[str, Callable[[Page], Candidate | None]] = {
    "shopify": _shopify,
    "magento": _magento,
    "woocommerce": _woocommerce,
}


def detect(page: Page) -> Candidate | None:
    """The candidate of the first platform whose markers the page carries, if any."""
    for rule in PLATFORMS.values():
        found = rule(page)
        if found is not None:
            return found
    return None
