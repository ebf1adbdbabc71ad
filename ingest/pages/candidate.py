"""`Candidate`: what one source (JSON-LD, microdata, OpenGraph, page heuristics...) says about the product."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal

from schemas.models import Availability


@dataclass(kw_only=True)
class Candidate:
    """Product fields found by one source; None where that source says nothing."""

    source: str
    """Which extractor found it (`json-ld`, `microdata`, `opengraph`, `script`, `heuristics`...)."""
    title: str | None = None
    """Product name."""
    description: str | None = None
    """Description as cleaned text."""
    brand: str | None = None
    """Brand or manufacturer."""
    category: str | None = None
    """Category path (`A > B > C`)."""
    price: Decimal | None = None
    """Current price."""
    currency: str | None = None
    """ISO 4217 code."""
    availability: Availability | None = None
    """schema.org availability."""
    sku: str | None = None
    """Seller's stock-keeping unit or product id."""
    gtin: str | None = None
    """GTIN / EAN / UPC / ISBN."""
    mpn: str | None = None
    """Manufacturer part number."""
    url: str | None = None
    """Canonical product URL, where the source names one."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Specification rows."""
    offer_prices: tuple[Decimal, ...] = ()
    """Every price among the source's offers for this product (`price` is the first); several
    when the markup lists a list price and a sale price, or several sellers, as offers."""

    def filled(self) -> set[str]:
        """Names of the fields this source filled."""
        return {
            f.name
            for f in fields(self)
            if f.name != "source" and getattr(self, f.name) not in (None, "", {}, ())
        }
