"""Whose product a page's product is: product ids namespaced by site.

A page names its product with its own id (JSON-LD `sku`, a gtin, else a hash of its canonical
URL), and any page on any site can print `"sku": "V-0001"`. Taken as is, that id would replace
the catalog's product V-0001. So a product read from a page at `shop.example` gets the id
`shop.example:V-0001`: each site owns its own ids, and no site can overwrite another source's
product. A host listed in `FRESHINDEX_CRAWL_SITE_CATALOG` is the catalog's own shop: its pages'
ids are the catalog's ids (V-0001), so a crawl of it updates the catalog products.

A page read without a URL (a saved file given by the operator) has no site: its id stays the
page's own.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from ingest.core.ids import MAX_ID_CHARS

CATALOG = "catalog"
"""Owner of ids that are the catalog's own (pages of a `FRESHINDEX_CRAWL_SITE_CATALOG` host)."""

_MAX_NAMESPACE_CHARS = 80


def site_of(url: str | None) -> str | None:
    """The lower-case host name of a URL, without port or trailing dot; None without one."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:  # an invalid port or IPv6 literal
        return None
    site = (host or "").rstrip(".").lower()
    return site or None


def catalog_sites(value: str) -> frozenset[str]:
    """Host names from a comma- or space-separated list (`FRESHINDEX_CRAWL_SITE_CATALOG`)."""
    return frozenset(h.strip().rstrip(".").lower() for h in value.replace(",", " ").split())


def owner(site: str | None, catalog: frozenset[str]) -> str | None:
    """Who owns the ids a page of `site` gives: `CATALOG`, the site itself, or None (no site)."""
    if site is None:
        return None
    return CATALOG if site in catalog else site


def product_id(local: str, site: str | None, catalog: frozenset[str]) -> str:
    """The id of a page's product: `local` (the page's own id) in the namespace of its owner."""
    namespace = owner(site, catalog)
    if namespace is None or namespace == CATALOG:
        return local[:MAX_ID_CHARS]
    if len(namespace) > _MAX_NAMESPACE_CHARS:  # a host name may have 253 characters
        digest = hashlib.sha256(namespace.encode()).hexdigest()[:16]
        namespace = f"{namespace[: _MAX_NAMESPACE_CHARS - 17]}~{digest}"
    prefix = f"{namespace}:"
    return prefix + local[: MAX_ID_CHARS - len(prefix)]


__all__ = ["CATALOG", "MAX_ID_CHARS", "catalog_sites", "owner", "product_id", "site_of"]
