"""Product page -> `ProductRecord`: structured data first, page heuristics where it is missing.

Sources, best first: schema.org JSON-LD / microdata / RDFa products, the shop platform's own
markup (`platforms`), OpenGraph product tags, the visible page (`heuristics`), then values
embedded in scripts. Each field takes the first source that has it; price and currency travel
together. A page yields no record when none of them shows a product; `Extracted.reason` says why.

Several products in the markup (related products, accessories, a listing): the page's own one is
the product whose URL is the page's (or its canonical URL) and whose name is the page's heading
(or og:title, or <title>); the others are reported in `Extracted.other_products`. The record's
id is the page's own id namespaced by the page's site (`ingest.pages.identity`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree
from pydantic import ValidationError

from ingest.pages import heuristics, identity, platforms, rules, scripts, structured, text
from ingest.pages.buybox import CONTACT, StockView
from ingest.pages.candidate import Candidate
from ingest.pages.decode import MAX_BYTES, Decoded, charset_problem, decode_html
from ingest.pages.dom import Page
from ingest.pages.errors import BadCharset, NoProduct, PageRejected
from schemas.models import Availability, ProductRecord

log = logging.getLogger("freshindex.pages")

SOLD_OUT_OVER_MARKUP = rules.rule(
    "visible-sold-out-beats-markup",
    "markup says on sale, the buy area says sold out with no way to order: out of stock",
)
IN_STOCK_OVER_MARKUP = rules.rule(
    "visible-in-stock-beats-markup",
    "markup says out of stock, the buy area has an in-stock label and an enabled buy button: in stock",
)
_ON_SALE = frozenset(
    {Availability.IN_STOCK, Availability.LIMITED_AVAILABILITY, Availability.ONLINE_ONLY}
)
_OFF_SALE = frozenset({Availability.OUT_OF_STOCK, Availability.SOLD_OUT, Availability.DISCONTINUED})


def shopper_availability(value: Availability | None) -> Availability | None:
    """A page's availability in the terms a shopper acts on: markup's synonyms of "cannot be
    bought" (SoldOut, Discontinued) are OutOfStock, of "can be bought now" (LimitedAvailability,
    OnlineOnly) InStock, so a filter on InStock/OutOfStock finds them; PreOrder, BackOrder and
    InStoreOnly, which are neither, stay as they are."""
    if value in (Availability.SOLD_OUT, Availability.DISCONTINUED):
        return Availability.OUT_OF_STOCK
    if value in (Availability.LIMITED_AVAILABILITY, Availability.ONLINE_ONLY):
        return Availability.IN_STOCK
    return value


_URL = re.compile(r"^https?://\S+$")
_ID_CHARS = re.compile(r"[\s\x00-\x1f]+")
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True, kw_only=True)
class OtherProduct:
    """A product in the page's markup that is not the page's own product."""

    title: str | None
    """Its name."""
    sku: str | None
    """Its sku (or gtin), as the markup gives it."""
    url: str | None
    """Its URL, where the markup names one."""


@dataclass(frozen=True, kw_only=True)
class Extracted:
    """What one page gave: a record, or the reason there is none."""

    record: ProductRecord | None
    """The product, or None when the page has none."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Flat output: the record's fields plus `sku`, `gtin`, `mpn` (price as a decimal string)."""
    reason: str | None = None
    """Why there is no record (too large, binary, no product...); None when there is one."""
    owner: str | None = None
    """Who owns the record's id: the page's site, `catalog` (a FRESHINDEX_CRAWL_SITE_CATALOG
    host), or None for a page read without a URL."""
    other_products: tuple[OtherProduct, ...] = ()
    """Products in the markup besides the page's own (related products, accessories...)."""
    warnings: tuple[str, ...] = ()
    """One line per problem that did not stop the extraction (an unreadable JSON-LD block...)."""


def extract_product(
    html: bytes | str,
    url: str | None = None,
    *,
    max_bytes: int = MAX_BYTES,
    catalog_sites: frozenset[str] = frozenset(),
) -> Extracted:
    """The product shown on a page. Pure: no I/O; never raises for bad input.

    `catalog_sites`: hosts whose pages' ids are the catalog's own (`ingest.pages.identity`).
    """
    try:
        decoded = decode_html(html, max_bytes=max_bytes)
        return _extract(decoded, url if url and _URL.match(url) else None, catalog_sites)
    except PageRejected as e:
        return Extracted(record=None, reason=str(e))
    except (etree.LxmlError, ValueError) as e:
        return Extracted(record=None, reason=f"unparseable page: {type(e).__name__}: {e}")
    except RecursionError:
        return Extracted(record=None, reason="unparseable page: nested too deep")


def _extract(decoded: Decoded, url: str | None, catalog: frozenset[str]) -> Extracted:
    page = Page.of(decoded.text, url)
    data, warnings = structured.extract_syntaxes(decoded.text, url)
    found, signals = heuristics.candidate(page)
    products = structured.products(data, url)
    graph = structured.opengraph(data, url)
    main, others = _choose(products, _PageOwn.of(page, url, found.title, graph), warnings)
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
    merged.availability = _stock(merged.availability, signals["stock"])
    merged.category = structured.breadcrumbs(data) or merged.category
    merged.description = _description(page, main, graph)
    merged.attributes = {**text.specifications(page), **merged.attributes}
    problem = charset_problem(merged.title or "", merged.description or "", decoded)
    if problem:
        raise BadCharset(problem)
    record = _record(merged, page, url, catalog)
    return Extracted(
        record=record,
        fields=_flat(record, merged),
        owner=identity.owner(identity.site_of(url), catalog),
        other_products=tuple(
            OtherProduct(title=o.title, sku=o.sku or o.gtin, url=o.url) for o in others
        ),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True, kw_only=True)
class _PageOwn:
    """What the page says about its own product outside the product markup."""

    heading: str | None
    """The visible main heading."""
    names: tuple[str, ...]
    """Heading, og:title and <title>, as word lists."""
    urls: frozenset[str]
    """The page's URL, canonical URL and og:url, normalised (`_url_key`)."""
    base: str | None
    """The page's URL (relative product URLs are read against it)."""

    @classmethod
    def of(
        cls, page: Page, url: str | None, heading: str | None, graph: Candidate | None
    ) -> _PageOwn:
        head_title = page.root.find(".//title")
        titles = [heading, graph.title if graph else None]
        titles.append(head_title.text_content() if head_title is not None else None)
        urls = [url, _canonical(page), graph.url if graph else None]
        return cls(
            heading=heading,
            names=tuple(" ".join(_words(t)) for t in titles if t and _words(t)),
            urls=frozenset(k for u in urls if u and (k := _url_key(u, url))),
            base=url,
        )

    def named(self, title: str | None) -> bool:
        """True when `title` is the page's heading, og:title or <title> (or contained in it)."""
        words = " ".join(_words(title or ""))
        return bool(words) and any(
            f" {words} " in f" {name} " or f" {name} " in f" {words} " for name in self.names
        )

    def named_exactly(self, title: str | None) -> bool:
        """True when `title` is, word for word, the page's heading, og:title or <title>."""
        words = " ".join(_words(title or ""))
        return bool(words) and words in self.names

    def located(self, c: Candidate) -> bool:
        """True when the product's URL is the page's own (its URL, canonical URL or og:url)."""
        key = _url_key(c.url, self.base) if c.url else None
        return key is not None and key in self.urls

    def matches(self, c: Candidate) -> bool:
        return self.located(c) or self.named(c.title)


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.casefold())


def _url_key(value: str, base: str | None) -> str | None:
    """A URL compared without scheme, fragment, `www.` or trailing slash; relative to `base`."""
    try:
        parts = urlsplit(urljoin(base or "", value.strip()))
    except ValueError:
        return None
    host = (parts.hostname or "").removeprefix("www.")
    if not host:
        return None
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{parts.path.rstrip('/')}{query}"


def _choose(
    products: list[Candidate], own: _PageOwn, warnings: list[str]
) -> tuple[Candidate | None, list[Candidate]]:
    """The page's own product and the other products; a warning when the choice is a guess."""
    main = _main_product(products, own)
    others = _others(products, main)
    if others and main is not None and not own.matches(main):
        warnings.append(
            f"{len(others) + 1} products in the markup and none has the page's URL or heading: "
            f"took {main.title!r}"
        )
    return main, others


def _main_product(products: list[Candidate], own: _PageOwn) -> Candidate | None:
    """The page's own product: the one at the page's URL and named like its heading (word for
    word beats a part of it) beats a priced one, which beats the first one."""
    if not products:
        return None

    def score(item: tuple[int, Candidate]) -> tuple[int, int]:
        index, c = item
        heading = own.heading
        headed = bool(heading and c.title and (c.title in heading or heading in c.title))
        named = 2 * (headed or own.named(c.title)) + own.named_exactly(c.title)
        signals = 3 * own.located(c) + named
        return (signals + (c.price is not None) + bool(c.title) + bool(c.sku), -index)

    return max(enumerate(products), key=score)[1]


def _others(products: list[Candidate], main: Candidate | None) -> list[Candidate]:
    """Products besides `main` and its twins (variants under the same name), one per name and id."""
    seen: set[tuple[str | None, str | None]] = set()
    if main is not None:
        seen.add((main.title, None))
    out = []
    for c in products:
        key = (c.title, c.sku or c.gtin)
        if c is main or (c.title, None) in seen or key in seen or not (c.title or c.sku):
            continue
        seen.add(key)
        out.append(c)
    return out


def _corroborated(graph: Decimal | None, shown: Decimal | None, chosen: Decimal | None) -> bool:
    """OpenGraph and the visible price agree on an amount other than the chosen one: two
    independent sources outvote a stale or different structured price."""
    return graph is not None and graph == shown and chosen is not None and chosen != graph


def _shown_offer(main: Candidate, shown: Decimal | None, chosen: Decimal | None) -> bool:
    """The product's markup lists several offer prices and the page displays another one of
    them beside the title: the displayed offer is the current one (a sale price after a list
    price)."""
    return shown is not None and shown != chosen and shown in main.offer_prices


def _stock(chosen: Availability | None, view: StockView) -> Availability | None:
    """The markup's availability unless the buy area plainly contradicts it: a schema.org value
    left at InStock on a sold-out page, or at OutOfStock on a page that sells the product."""
    if chosen in _ON_SALE and rules.on(SOLD_OUT_OVER_MARKUP) and view.sold_out():
        return Availability.OUT_OF_STOCK
    if chosen in _OFF_SALE and rules.on(IN_STOCK_OVER_MARKUP) and view.in_stock():
        return Availability.IN_STOCK
    return chosen


def _shows_product(ranked: list[Candidate], signals: dict[str, Any], og_type: str | None) -> bool:
    if any(c.source in platforms.PLATFORMS and c.price is not None for c in ranked):
        return True
    if og_type and "product" in og_type:
        return True
    heuristic = ranked[-1]
    has_price = heuristic.price is not None
    contact = rules.on(CONTACT) and signals["stock"].contact
    offered = signals["buy_buttons"] > 0 or signals["labelled_sku"] is not None or contact
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


def _local_id(merged: Candidate, page: Page, url: str | None) -> str:
    """The page's own id for its product: sku, else gtin, else a hash of its canonical URL."""
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


def _record(
    merged: Candidate, page: Page, url: str | None, catalog: frozenset[str]
) -> ProductRecord:
    if not merged.title:
        raise NoProduct("no product on the page: no product name")
    host = urlsplit(url).hostname if url else None
    site = identity.site_of(url)
    record_url = url or next(
        (u for u in (merged.url, _canonical(page)) if u and _URL.match(u)), None
    )
    price = merged.price
    if price is not None and (price.as_tuple().exponent < -4 or len(price.as_tuple().digits) > 14):  # type: ignore[operator]
        price = None
    try:
        return ProductRecord(
            id=identity.product_id(_local_id(merged, page, url), site, catalog),
            source=f"crawl:{host}" if host else "page",
            url=record_url,
            title=merged.title[:1000],
            description=(merged.description or "")[:200_000],
            brand=merged.brand[:200] if merged.brand else None,
            category=merged.category[:500] if merged.category else None,
            price=price,
            currency=merged.currency,
            availability=shopper_availability(merged.availability),
            attributes=_attributes(merged),
        )
    except ValidationError as e:
        raise NoProduct(f"no valid product record: {e.errors()[0]['msg']}") from e


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


__all__ = ["Extracted", "OtherProduct", "extract_product"]
