"""Product ids claimed by several pages of one crawl: kept once, or reported as a conflict.

Ids are namespaced by site (`ingest.pages.identity`), so two pages claim the same id only
within one site, or across the hosts of `FRESHINDEX_CRAWL_SITE_CATALOG`. Two pages with the
same id and the same product (one product under two paths) are one product: the first page is
published, the others are reported as its duplicates (and remembered, so that the next crawl
sees them unchanged). Two pages with the same id and different
products are a conflict that no rule can settle (which page is right?): neither is published,
each is reported with the other's URL, and the next crawl decides again. A page the server
reported as not modified (HTTP 304) still claims the id it was published under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ingest.pages.spider import PageRecord, PageSkipped
from schemas.models import ProductRecord


@dataclass(kw_only=True)
class Claims:
    """Pages sorted by their claim on a product id."""

    kept: list[PageRecord] = field(default_factory=list)
    """Pages whose id no other page claims, or the first of pages showing the same product."""
    duplicates: list[PageSkipped] = field(default_factory=list)
    """Pages showing the same product, under the same id, as a kept page; with the reason."""
    duplicate_pages: list[PageRecord] = field(default_factory=list)
    """The same pages with their records (remembered as published: the product is)."""
    conflicts: list[PageSkipped] = field(default_factory=list)
    """Pages whose id another page claims with a different product: not published."""


def content_key(record: ProductRecord) -> str:
    """The product without its URL: equal keys, one product under two paths."""
    return record.model_dump_json(exclude={"url"})


def sort_claims(pages: list[PageRecord], unchanged: Mapping[str, str]) -> Claims:
    """`pages` sorted into kept, duplicates and conflicts (in page order).

    `unchanged`: URL -> product id of the pages not modified since they were published.
    """
    by_id: dict[str, list[PageRecord]] = {}
    for page in pages:
        by_id.setdefault(page.record.id, []).append(page)
    held_by: dict[str, list[str]] = {}
    for url, product_id in unchanged.items():
        held_by.setdefault(product_id, []).append(url)
    claims = Claims()
    for page in pages:
        _sort_one(page, by_id[page.record.id], sorted(held_by.get(page.record.id, [])), claims)
    return claims


def _sort_one(page: PageRecord, rivals: list[PageRecord], held: list[str], claims: Claims) -> None:
    same = len({content_key(p.record) for p in rivals}) == 1
    if same and not held:
        if page is rivals[0]:
            claims.kept.append(page)
        else:
            reason = f"same product as {rivals[0].url} (id {page.record.id}), published once"
            claims.duplicates.append(PageSkipped(url=page.url, reason=reason))
            claims.duplicate_pages.append(page)
        return
    others = sorted({p.url for p in rivals if p is not page} | set(held))
    reason = (
        f"id conflict: {page.record.id} is also claimed by {', '.join(others)} with a different"
        " product; not published"
    )
    claims.conflicts.append(PageSkipped(url=page.url, reason=reason))
