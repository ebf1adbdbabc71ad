"""Product data embedded in page scripts (state objects, analytics data layers, broken JSON-LD).

Read with key patterns rather than a JavaScript parser: the first `"sku": "..."`, `"price": ...`
and `"availability": "..."` of the page's scripts. This is a low-priority source: it only fills
fields that structured data and the visible page leave empty.
"""

from __future__ import annotations

import re

from ingest.pages.candidate import Candidate
from ingest.pages.normalize import availability, currency_code, parse_amount

_Q = r"""["']"""
_KEY = r"""["']?{key}["']?\s*[:=]\s*"""
_PRICE_KEYS = (
    "(?:price|salePrice|sale_price|finalPrice|final_price|currentPrice|current_price|productPrice)"
)
_PATTERNS = {
    "sku": rf"{_KEY.format(key='(?:sku|productSku|product_sku|skuId|sku_id)')}{_Q}([A-Za-z0-9][\w\-./]{{1,39}}){_Q}",
    "item_id": rf"{_KEY.format(key='(?:productId|product_id|itemId|item_id|adId|ad_id)')}{_Q}?(\d{{4,20}}){_Q}?",
    "gtin": rf"{_KEY.format(key='(?:gtin13|gtin|ean|ean13|upc|barcode)')}{_Q}?(\d{{8,14}}){_Q}?",
    "mpn": rf"{_KEY.format(key='mpn')}{_Q}([^\"']{{2,40}}){_Q}",
    "price": rf"{_KEY.format(key=_PRICE_KEYS)}{_Q}?(\d{{1,9}}(?:[.,]\d{{1,2}})?){_Q}?",
    "currency": rf"{_KEY.format(key='(?:priceCurrency|currency|currencyCode|currency_code)')}{_Q}([A-Z]{{3}}){_Q}",
    "availability": rf"{_KEY.format(key='(?:availability|stockStatus|stock_status)')}{_Q}([^\"']{{2,60}}){_Q}",
    "brand": rf"{_KEY.format(key='(?:brand|brandName|brand_name)')}{_Q}([^\"'{{}}]{{2,80}}){_Q}",
}
_COMPILED = {name: re.compile(p) for name, p in _PATTERNS.items()}
_SKIP_TYPES = ("text/template", "text/html", "text/x-template")


def _first(name: str, scripts: list[str]) -> str | None:
    for text in scripts:
        for match in _COMPILED[name].finditer(text):
            value = match.group(1)
            if name not in ("sku", "item_id") or any(c.isdigit() for c in value):
                return value
    return None


def candidate(scripts: list[str], url: str | None) -> Candidate:
    """The first product-looking values found in the scripts."""
    texts = [s for s in scripts if s and len(s) < 3_000_000]
    raw_availability = _first("availability", texts)
    return Candidate(
        source="script",
        sku=_first("sku", texts) or _first("item_id", texts),
        gtin=_first("gtin", texts),
        mpn=_first("mpn", texts),
        price=parse_amount(_first("price", texts)),
        currency=currency_code(_first("currency", texts), url),
        availability=availability(raw_availability) if raw_availability else None,
        brand=_first("brand", texts),
    )
