"""Structured data: schema.org JSON-LD, microdata and RDFa products, OpenGraph product tags (extruct).

Every syntax is brought to one shape (a dict of schema.org property -> value) and read by one
function, so a JSON-LD `Product` and a microdata `Product` give the same `Candidate`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import extruct

from ingest.pages.candidate import Candidate
from ingest.pages.normalize import availability, currency_code, parse_amount
from ingest.prepare.clean import clean_line, clean_text

log = logging.getLogger("freshindex.pages")

_PRODUCT_TYPES = {
    "product",
    "productgroup",
    "productmodel",
    "individualproduct",
    "someproducts",
    "vehicle",
    "car",
    "book",
    "offer",
    "aggregateoffer",
}
_GTIN_KEYS = ("gtin13", "gtin", "gtin12", "gtin14", "gtin8", "isbn", "ean")
_SYNTAXES = ["json-ld", "microdata", "rdfa", "opengraph"]


def extract_syntaxes(text: str, url: str | None) -> dict[str, list[Any]]:
    """extruct's items per syntax; a syntax that fails to parse gives none (logged)."""
    try:
        data: dict[str, list[Any]] = extruct.extract(
            text, base_url=url, syntaxes=_SYNTAXES, uniform=True, errors="log"
        )
    except Exception as e:
        log.warning("structured data unreadable: %s: %s", type(e).__name__, e)
        return {}
    return data


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type") or []
    values = value if isinstance(value, list) else [value]
    return {str(v).rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1].lower() for v in values}


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


def first(value: Any) -> Any:
    """The first element of a list value, the value itself otherwise."""
    while isinstance(value, list):
        if not value:
            return None
        value = value[0]
    return value


def text_of(value: Any) -> str | None:
    """One-line text of a property value: a string, a number, or a node's name / @value / @id."""
    value = first(value)
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value") or value.get("value")
        value = first(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    return clean_line(value) or None


def _rdfa_node(node: dict[str, Any]) -> dict[str, Any]:
    """Expanded RDFa JSON-LD (`http://schema.org/price: [{@value}]`) as a plain property dict."""
    out: dict[str, Any] = {"@type": node.get("@type")}
    for key, values in node.items():
        if key.startswith("@"):
            continue
        name = key.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        items = [v.get("@value", v.get("@id")) if isinstance(v, dict) else v for v in values]
        out[name] = items[0] if len(items) == 1 else items
    return out


def _offer(node: dict[str, Any]) -> dict[str, Any]:
    """The offer that carries the price: the first priced one of `offers`, or the node itself."""
    offers = node.get("offers")
    items = [o for o in _walk(offers) if isinstance(o, dict)] if offers is not None else []
    for offer in items:
        if _offer_price(offer) is not None:
            return offer
    return items[0] if items else {}


def _offer_prices(node: dict[str, Any]) -> tuple[Decimal, ...]:
    """Every distinct price among a product's offers (an AggregateOffer's too), in markup order."""
    amounts = (parse_amount(text_of(_offer_price(o))) for o in _offer_nodes(node.get("offers")))
    return tuple(dict.fromkeys(a for a in amounts if a is not None))


def _offer_nodes(offers: Any) -> Iterator[dict[str, Any]]:
    for offer in offers if isinstance(offers, list) else [offers]:
        if isinstance(offer, dict):
            yield offer
            yield from _offer_nodes(offer.get("offers"))


def _offer_price(offer: dict[str, Any]) -> Any:
    for key in ("price", "lowPrice", "lowprice", "highPrice"):
        if parse_amount(text_of(offer.get(key))) is not None:
            return offer.get(key)
    spec = first(offer.get("priceSpecification"))
    if isinstance(spec, dict) and spec.get("price") is not None:
        return spec.get("price")
    return None


def _gtin(node: dict[str, Any]) -> str | None:
    for key in _GTIN_KEYS:
        value = text_of(node.get(key))
        if value and any(c.isdigit() for c in value):
            return value
    return None


def product_candidate(node: dict[str, Any], source: str, url: str | None) -> Candidate:
    """A schema.org Product (or Offer) node as a candidate."""
    offer = _offer(node) or (node if "offer" in " ".join(_types(node)) else {})
    spec = first(offer.get("priceSpecification"))
    spec = spec if isinstance(spec, dict) else {}
    raw_currency = text_of(offer.get("priceCurrency")) or text_of(spec.get("priceCurrency"))
    description = first(node.get("description"))
    return Candidate(
        source=source,
        title=text_of(node.get("name")),
        description=clean_text(description) if isinstance(description, str) else None,
        brand=text_of(node.get("brand")) or text_of(node.get("manufacturer")),
        category=_category(node.get("category")),
        price=parse_amount(text_of(_offer_price(offer))),
        currency=currency_code(raw_currency, url),
        availability=availability(text_of(offer.get("availability"))),
        sku=text_of(node.get("sku")) or text_of(offer.get("sku")) or text_of(node.get("productID")),
        gtin=_gtin(node) or _gtin(offer),
        mpn=text_of(node.get("mpn")) or text_of(offer.get("mpn")),
        url=text_of(node.get("url")),
        attributes=_properties(node.get("additionalProperty")),
        offer_prices=_offer_prices(node),
    )


def _category(value: Any) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return " > ".join(clean_line(v) for v in value) or None
    return text_of(value)


def _properties(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for prop in value if isinstance(value, list) else [value]:
        if isinstance(prop, dict):
            name, text = text_of(prop.get("name")), text_of(prop.get("value"))
            if name and text:
                out[name] = text
    return out


def products(data: dict[str, list[Any]], url: str | None) -> list[Candidate]:
    """Every product-like node, JSON-LD first, then microdata, then RDFa; in page order."""
    found: list[Candidate] = []
    for syntax in ("json-ld", "microdata", "rdfa"):
        for node in _walk(data.get(syntax, [])):
            if syntax == "rdfa":
                node = _rdfa_node(node)
            types = _types(node)
            if types & _PRODUCT_TYPES or ("offers" in node and "name" in node):
                if "offer" in " ".join(types) and found:
                    continue  # an offer nested in a product already read
                found.append(product_candidate(node, syntax, url))
    return found


def breadcrumbs(data: dict[str, list[Any]]) -> str | None:
    """Category path from a schema.org BreadcrumbList (or data-vocabulary Breadcrumb items)."""
    for syntax in ("json-ld", "microdata", "rdfa"):
        for node in _walk(data.get(syntax, [])):
            if "breadcrumblist" in _types(node):
                path = _crumb_names(node.get("itemListElement"))
                if path:
                    return " > ".join(path)
        items = [n for n in data.get(syntax, []) if isinstance(n, dict)]
        crumbs = [text_of(n.get("title")) for n in items if "breadcrumb" in _types(n)]
        if any(crumbs):
            return " > ".join(c for c in crumbs if c)
    return None


def _crumb_names(items: Any) -> list[str]:
    if not isinstance(items, list):
        items = [items]
    ordered = []
    for index, item in enumerate(i for i in items if isinstance(i, dict)):
        name = text_of(item.get("name")) or text_of(item.get("item"))
        if name and not name.startswith(("http://", "https://", "/")):
            position = parse_amount(text_of(item.get("position")))
            ordered.append((position if position is not None else index, name))
    return [name for _, name in sorted(ordered, key=lambda p: p[0])]


def opengraph(data: dict[str, list[Any]], url: str | None) -> Candidate | None:
    """OpenGraph / Facebook product tags (`og:title`, `product:price:amount`, ...)."""
    tags: dict[str, Any] = {}
    for item in data.get("opengraph", []):
        if isinstance(item, dict):
            tags.update({k: v for k, v in item.items() if k not in tags})
    if not tags:
        return None

    def tag(*names: str) -> str | None:
        return next((t for n in names if (t := text_of(tags.get(n)))), None)

    description = tag("og:description")
    return Candidate(
        source="opengraph",
        title=tag("og:title"),
        description=clean_text(description) if description else None,
        brand=tag("product:brand", "og:brand"),
        price=parse_amount(
            tag("product:price:amount", "og:price:amount", "product:sale_price:amount")
        ),
        currency=currency_code(tag("product:price:currency", "og:price:currency"), url),
        availability=availability(tag("product:availability", "og:availability")),
        sku=tag("product:retailer_item_id", "product:sku"),
        gtin=tag("product:ean", "product:upc", "product:gtin", "product:isbn"),
        mpn=tag("product:mfr_part_no"),
        url=tag("og:url"),
    )


def og_type(data: dict[str, list[Any]]) -> str | None:
    """The page's `og:type` (`product`, `article`, `website`...)."""
    for item in data.get("opengraph", []):
        if isinstance(item, dict) and isinstance(item.get("@type"), str):
            return str(item["@type"]).lower()
    return None
