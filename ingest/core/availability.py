"""The one availability normaliser: the schema.org `ItemAvailability` name (`schemas.models.
Availability`) of what a feed row or a page writes.

What reads as a name:
  - the name in any case, with or without spaces, hyphens or underscores: `InStock`, `in stock`,
    `In-Stock`, `in_stock`, `out of stock`, `pre-order`, `back order`, `Sold out`;
  - a URL or path ending in the name: `https://schema.org/InStock`, `http://schema.org/InStock/`;
  - a common synonym or flag: `available`, `true` (a boolean too) for InStock; `unavailable`,
    `oos`, `false` for OutOfStock; `presale` for PreOrder; `limited` for LimitedAvailability.

Decisions:
  - `in_stock` (and every spelling above) is InStock for every source. Feeds and pages had a
    normaliser each: pages read `in_stock` as InStock, feeds rejected the row ("availability:
    Input should be 'InStock', ..."); a value now means the same whatever wrote it.
  - Pre-order and back-order stay apart: PreOrder (not yet released: `preorder`, `pre-order`,
    `presale`) is not BackOrder (out of stock, to be restocked: `backorder`, `back-order`).
  - Anything else is None, never a guess: a page then has no availability; a feed row keeps the
    value as written, so the record's validation rejects the row with the reason.
"""

from __future__ import annotations

from schemas.models import Availability

_SYNONYMS = {
    "available": Availability.IN_STOCK,
    "true": Availability.IN_STOCK,
    "unavailable": Availability.OUT_OF_STOCK,
    "oos": Availability.OUT_OF_STOCK,
    "false": Availability.OUT_OF_STOCK,
    "presale": Availability.PRE_ORDER,
    "limited": Availability.LIMITED_AVAILABILITY,
}
_NAMES = {a.value.lower(): a for a in Availability} | _SYNONYMS
"""Lower-case names without separators -> the availability."""


def availability(value: object) -> Availability | None:
    """The schema.org availability `value` names (a name, URL, synonym or flag), or None."""
    if isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    name = value.strip().rstrip("/").rsplit("/", 1)[-1].lower()
    return _NAMES.get(name.replace(" ", "").replace("-", "").replace("_", ""))
