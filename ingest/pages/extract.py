"""Product page -> `ProductRecord`: structured data first, page heuristics where it is missing.

Sources, best first: schema.org JSON-LD / microdata / RDFa products, the shop platform's own
markup (`platforms`), OpenGraph product tags, the visible page (`heuristics`), then values
embedded in scripts. Each field takes the first source that has it; price and currency travel
together. A page yields no record when none of them shows a product; `Extracted.reason` says why.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from pydantic import ValidationError

from ingest.pages import heuristics, platforms, scripts, structured, text
from ingest.pages.candidate import Candidate
from ingest.pages.decode import MAX_BYTES, decode_html
from ingest.pages.dom import Page
from ingest.pages.errors import NoProduct, PageRejected
from schemas.models import Availability, ProductRecord

log = logging.getLogger("freshindex.pages")

_URL = re.compile(r"^https?://\S+$")
_ID_CHARS = re.compile(r"[\s\x00-\x1f]+")


@dataclass(frozen=True, kw_only=True)
class Extracted:
    """What one page gave: a record, or the reason there is none."""

    record: ProductRecord | None
    """The product, or None when the page has none."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Flat output: the record's fields plus `sku`, `gtin`, `mpn` (price as a decimal string)."""
    reason: str | None = None
    """Why there is no record (too large, binary, no product...); None when there is one."""


def extract_product(
    html: bytes | str, url: str | None = None, *, max_bytes: int = MAX_BYTES
) -> Extracted:
    """The product shown on a page. Pure: no I/O; never raises for bad input."""
    try:
        page_text = decode_html(html, max_bytes=max_bytes)
        return _extract(page_text, url if url and _URL.match(url) else None)
    except PageRejected as e:
        return Extracted(record=None, reason=str(e))
    except (etree.LxmlError, ValueError) as e:
        return Extracted(record=None, reason=f"unparseable page: {type(e).__name__}: {e}")


def _extract(page_text: str, url: str | None) -> Extracted:
    page = Page.of(page_text, url)
    data = structured.extract_syntaxes(page_text, url)
    found, signals = heuristics.candidate(page)
    products = structured.products(data, url)
    main = _main_product(products, found.title)
    graph = structured.opengraph(data, url)
    ranked = [c for c in (main, platforms.detect(page), graph, found) if c is not None]
    if main is None and not _shows_product(ranked, signals, structured.og_type(data)):
        raise NoProduct("no product on the page: no product markup, no price beside a title")
    merged = _merge(
        [*ranked, scripts.candidate(page.scripts, url)],
        products,
        main,
        found,
        signals.get("labelled_sku"),
    )
    if graph is not None and _corroborated(graph.price, found.price, merged.price):
        merged.price, merged.currency = found.price, found.currency or graph.currency
    if main is not None and _shown_offer(main, found.price, merged.price):
        merged.price = found.price
    merged.category = structured.breadcrumbs(data) or merged.category
    merged.description = _description(page, main, graph)
    merged.attributes = {**text.specifications(page), **merged.attributes}
    return _record(merged, page, url)


def _main_product(products: list[Candidate], heading: str | None) -> Candidate | None:
    """The page's own product: priced and named like the heading beats the first one."""
    if not products:
        return None

    def score(item: tuple[int, Candidate]) -> tuple[int, int]:
        index, c = item
        named = bool(heading and c.title and (c.title in heading or heading in c.title))
        return (2 * named + (c.price is not None) + bool(c.title) + bool(c.sku), -index)

    return max(enumerate(products), key=score)[1]


def _corroborated(graph: Decimal | None, shown: Decimal | None, chosen: Decimal | None) -> bool:
    """OpenGraph and the visible price agree on an amount other than the chosen one: two
    independent sources outvote a stale or different structured price."""
    return graph is not None and graph == shown and chosen is not None and chosen != graph


def _shown_offer(main: Candidate, shown: Decimal | None, chosen: Decimal | None) -> bool:
    """The product's markup lists several offer prices and the page displays another one of
    them beside the title: the displayed offer is the current one (a sale price after a list
    price)."""
    return shown is not None and shown != chosen and shown in main.offer_prices


def _shows_product(ranked: list[Candidate], signals: dict[str, Any], og_type: str | None) -> bool:
    if any(c.source in platforms.PLATFORMS and c.price is not None for c in ranked):
        return True
    if og_type and "product" in og_type:
        return True
    heuristic = ranked[-1]
    has_price = heuristic.price is not None
    offered = signals["buy_buttons"] > 0 or signals["labelled_sku"] is not None
    return bool(heuristic.title) and (
        (has_price and (offered or signals["price_score"] >= 5))
        or (heuristic.sku is not None and heuristic.availability is not None)
    )


def _merge(
    ranked: list[Candidate],
    products: list[Candidate],
    main: Candidate | None,
    found: Candidate,
    labelled_sku: str | None = None,
) -> Candidate:
    """First non-empty value per field; price and its currency come from one source.

    A product number shown under an explicit label (`SKU: ...`, `Product code: ...`) beats the
    markup's sku, which is often an internal variant or database id the shopper never sees.
    """
    twins = [p for p in products if main is not None and p is not main and p.title == main.title]
    sources = [*ranked[:1], *twins, *ranked[1:]] if main is not None else ranked
    merged = Candidate(source="+".join(dict.fromkeys(c.source for c in sources)))
    for name in ("title", "brand", "category", "availability", "sku", "gtin", "mpn", "url"):
        setattr(merged, name, next((getattr(c, name) for c in sources if getattr(c, name)), None))
    priced = next((c for c in sources if c.price is not None and c.price > 0), None)
    if priced is not None:
        merged.price = priced.price
        merged.currency = priced.currency or next((c.currency for c in sources if c.currency), None)
    merged.attributes = next((c.attributes for c in sources if c.attributes), {})
    if len({t.sku for t in [*twins, ranked[0]]}) > 1 and found.sku:
        merged.sku = found.sku  # variants differ: the page's labelled product number
    if labelled_sku:
        merged.sku = labelled_sku  # the product number the page shows under an explicit label
    merged.sku = _identifier(merged.sku)
    if twins and any(t.availability == Availability.IN_STOCK for t in [*twins, ranked[0]]):
        merged.availability = Availability.IN_STOCK  # variants: the product is on sale if one is
    if merged.availability is None and merged.price is not None:
        merged.availability = (
            Availability.IN_STOCK
        )  # a priced offer with no stock signal is on sale
    return merged


def _identifier(value: str | None) -> str | None:
    """An id with trailing words dropped (`"TE50-12 Housse de chaise"` -> `"TE50-12"`)."""
    if not value:
        return None
    head = value.split()[0]
    return head if head != value and any(c.isdigit() for c in head) else value


def _description(page: Page, main: Candidate | None, graph: Candidate | None) -> str:
    options = [
        main.description if main else None,
        text.description(page),
        graph.description if graph else None,
        text.meta_description(page),
    ]
    return max((o for o in options if o), key=len, default="")


def _product_id(merged: Candidate, page: Page, url: str | None) -> str:
    for value in (merged.sku, merged.gtin):
        if value:
            cleaned = _ID_CHARS.sub("-", value.strip())[:200]
            if cleaned:
                return cleaned
    canonical = _canonical(page) or merged.url or url or merged.title or ""
    return "page-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _canonical(page: Page) -> str | None:
    for link in page.root.iter("link"):
        if "canonical" in str(link.get("rel", "")).lower() and link.get("href"):
            return str(link.get("href")).strip()
    return None


def _record(merged: Candidate, page: Page, url: str | None) -> Extracted:
    if not merged.title:
        raise NoProduct("no product on the page: no product name")
    host = urlsplit(url).hostname if url else None
    record_url = url or next(
        (u for u in (merged.url, _canonical(page)) if u and _URL.match(u)), None
    )
    price = merged.price
    if price is not None and (price.as_tuple().exponent < -4 or len(price.as_tuple().digits) > 14):  # type: ignore[operator]
        price = None
    try:
        record = ProductRecord(
            id=_product_id(merged, page, url),
            source=f"crawl:{host}" if host else "page",
            url=record_url,
            title=merged.title[:1000],
            description=(merged.description or "")[:200_000],
            brand=merged.brand[:200] if merged.brand else None,
            category=merged.category[:500] if merged.category else None,
            price=price,
            currency=merged.currency,
            availability=merged.availability,
            attributes=_attributes(merged),
        )
    except ValidationError as e:
        raise NoProduct(f"no valid product record: {e.errors()[0]['msg']}") from e
    return Extracted(record=record, fields=_flat(record, merged))


def _attributes(merged: Candidate) -> dict[str, str]:
    ids = {k: v for k in ("sku", "gtin", "mpn") if (v := getattr(merged, k))}
    return {**merged.attributes, **ids}


def _flat(record: ProductRecord, merged: Candidate) -> dict[str, Any]:
    out: dict[str, Any] = record.model_dump(mode="json")
    out["price"] = _decimal_text(record.price)
    out.update(sku=merged.sku, gtin=merged.gtin, mpn=merged.mpn)
    return out


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


__all__ = ["Extracted", "extract_product"]
