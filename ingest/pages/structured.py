"""Structured data: schema.org JSON-LD, microdata and RDFa products, OpenGraph product tags (extruct).

Every syntax is brought to one shape (a dict of schema.org property -> value) and read by one
function, so a JSON-LD `Product` and a microdata `Product` give the same `Candidate`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import extruct
import jstyleson
from extruct.utils import parse_xmldom_html
from lxml import etree

from ingest.core.text import clean_line, clean_text
from ingest.pages import rules
from ingest.pages.buybox import VARIANTS
from ingest.pages.candidate import Candidate
from ingest.pages.normalize import availability, currency_code, parse_amount
from ingest.pages.price_words import VAT
from schemas.models import Availability

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
_SYNTAXES = ("microdata", "rdfa", "opengraph")
"""Syntaxes read through extruct (JSON-LD is read here, block by block)."""
_JSONLD_SCRIPTS = etree.XPath('descendant-or-self::script[@type="application/ld+json"]')
_COMMENT_LINE = re.compile(r"^\s*(//.*|<!--.*-->)")
SELECTED = rules.rule(
    "selected-variant-price",
    "the price of the variant the page's address selects (?variant=, ?sku=), not the first offer's",
)
_ON_SALE = frozenset(
    {Availability.IN_STOCK, Availability.LIMITED_AVAILABILITY, Availability.ONLINE_ONLY}
)
MAX_JSONLD_DEPTH = 64
"""Deepest JSON-LD block read (real product markup nests under 10 levels)."""


def extract_syntaxes(text: str, url: str | None) -> tuple[dict[str, list[Any]], list[str]]:
    """extruct's items per syntax, and a one-line warning per block or syntax that is unreadable.

    JSON-LD is read block by block: extruct drops every block of a page when one fails to parse.
    The other syntaxes go through extruct one at a time (`errors="strict"`), so a failure loses
    only that syntax and never reaches extruct's logger, which writes a traceback per failure.
    """
    try:
        tree = parse_xmldom_html(text.encode("utf-8", "replace"), encoding="UTF-8")
    except Exception as e:  # lxml refuses some garbage even in recover mode
        return {}, [f"structured data unreadable: {_one_line(e)}"]
    warnings: list[str] = []
    data: dict[str, list[Any]] = {"json-ld": _jsonld_items(tree, warnings)}
    for syntax in _SYNTAXES:
        try:
            data.update(
                extruct.extract(
                    tree, base_url=url, syntaxes=[syntax], uniform=True, errors="strict"
                )
            )
        except Exception as e:  # any failure of one syntax: the others still count
            warnings.append(f"{syntax} unreadable, skipped: {_one_line(e)}")
    return data, warnings


def _jsonld_items(tree: Any, warnings: list[str]) -> list[Any]:
    """The items of every JSON-LD block that parses (extruct's reading: JSON, else JSON with
    comments); a warning for each block that does not, or that nests deeper than
    `MAX_JSONLD_DEPTH`."""
    items: list[Any] = []
    for index, node in enumerate(_JSONLD_SCRIPTS(tree), start=1):
        try:
            data = _json(str(node.xpath("string()")))
        except Exception as e:  # hostile text: any parser failure skips this block only
            warnings.append(f"JSON-LD block {index} unreadable, skipped: {_one_line(e)}")
            continue
        if _depth(data) > MAX_JSONLD_DEPTH:
            warnings.append(f"JSON-LD block {index} nested deeper than {MAX_JSONLD_DEPTH}, skipped")
            continue
        items.extend(i for i in (data if isinstance(data, list) else [data]) if i)
    return items


def _json(script: str) -> Any:
    try:
        return json.loads(script, strict=False)
    except ValueError:  # often a leading HTML or JavaScript comment: extruct's fallback
        return jstyleson.loads(_COMMENT_LINE.sub("", script), strict=False)


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (iterative: hostile depth must not hit the recursion limit)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_JSONLD_DEPTH:
            children = (
                item.values() if isinstance(item, dict) else item if isinstance(item, list) else []
            )
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _one_line(error: BaseException) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message[:200]}" if message else type(error).__name__


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


def _offer(node: dict[str, Any], url: str | None) -> dict[str, Any]:
    """The offer that carries the price: the one of the variant the page's address selects
    (rule `selected-variant-price`), else the first priced one of `offers`, else the node."""
    offers = node.get("offers")
    items = [o for o in _walk(offers) if isinstance(o, dict)] if offers is not None else []
    selected = _selected(items, url) if rules.on(SELECTED) else None
    if selected is not None:
        return selected
    for offer in items:
        if _offer_price(offer) is not None:
            return offer
    return items[0] if items else {}


def _selected(offers: list[dict[str, Any]], url: str | None) -> dict[str, Any] | None:
    """The priced offer whose address or sku the page's address names (`?variant=4242`,
    `?sku=DL-1-RED`): the one with the most query parameters in common, when only one has the
    most."""
    wanted = query_pairs(url)
    if not wanted:
        return None
    scored = []
    for offer in offers:
        if _offer_price(offer) is None:
            continue
        ids = {text_of(offer.get(k)) for k in ("sku", "gtin13", "gtin", "productID", "mpn")}
        common = len(wanted & query_pairs(text_of(offer.get("url")))) + bool(
            ids & {v for _, v in wanted}
        )
        scored.append((common, offer))
    best = max((c for c, _ in scored), default=0)
    top = [o for c, o in scored if c == best]
    return top[0] if best > 0 and len(top) == 1 else None


def query_pairs(url: str | None) -> set[tuple[str, str]]:
    """The (name, value) pairs of an address's query; none for a malformed address."""
    try:
        return set(parse_qsl(urlsplit(url).query)) if url else set()
    except ValueError:
        return set()


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
    spec = _specification(offer.get("priceSpecification"))
    if isinstance(spec, dict) and spec.get("price") is not None:
        return spec.get("price")
    return None


def _specification(value: Any) -> Any:
    """The price specification that gives the price: of several, the one with VAT included
    (rule `vat-inclusive-price`), else the first."""
    specs = value if isinstance(value, list) else [value]
    if rules.on(VAT):
        with_vat = [
            s
            for s in specs
            if isinstance(s, dict) and str(s.get("valueAddedTaxIncluded")).lower() == "true"
        ]
        if with_vat and len(specs) > 1:
            return with_vat[0]
    return first(value)


def _availability(node: dict[str, Any], offer: dict[str, Any]) -> Availability | None:
    """The priced offer's availability; with several offers or variants (sizes, colours,
    sellers), in stock when any of them is (rule `variant-any-in-stock`), else pre-order or
    back-order when one is."""
    own = availability(text_of(offer.get("availability")))
    if own in _ON_SALE or not rules.on(VARIANTS):
        return own
    offers = [*_offer_nodes(node.get("offers"))]
    variants = node.get("hasVariant")
    for variant in variants if isinstance(variants, list) else [variants]:
        if isinstance(variant, dict):
            offers.extend(_offer_nodes(variant.get("offers")))
    values = {availability(text_of(o.get("availability"))) for o in offers}
    if values & _ON_SALE:
        return Availability.IN_STOCK
    return next((v for v in (Availability.PRE_ORDER, Availability.BACK_ORDER) if v in values), own)


def _gtin(node: dict[str, Any]) -> str | None:
    for key in _GTIN_KEYS:
        value = text_of(node.get(key))
        if value and any(c.isdigit() for c in value):
            return value
    return None


def product_candidate(node: dict[str, Any], source: str, url: str | None) -> Candidate:
    """A schema.org Product (or Offer) node as a candidate."""
    offer = _offer(node, url) or (node if "offer" in " ".join(_types(node)) else {})
    spec = _specification(offer.get("priceSpecification"))
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
        availability=_availability(node, offer),
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
