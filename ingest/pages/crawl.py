"""`freshindex crawl`: crawl product pages with Scrapy, extract products, publish the changed ones.

    start URLs + sitemaps ─> ProductSpider (robots.txt, AutoThrottle, HTTP cache, retries)
        ─> one outcome per page ─> id claimed by another page? (`claims`: kept once, or conflict)
        ─> unchanged? (HTTP 304, or same record hash as last time)
        ─> one `Accepted` item per page, at its URL, handed to the publisher
           (`ingest.publish.publish_crawled`: the feeds' prepare chain and sink, source
           `crawl:<host>`)
        ─> remember url -> record hash

This module is the crawl command, the top layer of `ingest` (the layers: `ingest`): it runs the
spider and hands what it found to the publish layer, which owns the chain and the sink.

Product ids are namespaced by site (`ingest.pages.identity`): a page of `shop.example` can only
write `shop.example:<sku>`, unless its host is listed in `FRESHINDEX_CRAWL_SITE_CATALOG`; the
report says who owns each id.

Incremental recrawls: Scrapy's HTTP cache (RFC 2616 policy) keeps every page with its
ETag/Last-Modified under `<state_dir>/httpcache` and revalidates it on the next crawl; a 304 for a
page published before is not even re-extracted. Servers without validators still send the page,
so a small sqlite map url -> hash of the extracted record (`<state_dir>/seen.sqlite3`) catches
unchanged records too. The map is only written after the broker acknowledged the publish.

Scrapy runs on Twisted's reactor, which starts once per process: call `crawl` once per process
(each `freshindex crawl` is its own process).

Errors: `CrawlError` (an `IngestError`) when the crawl cannot start at all (no or invalid URLs);
everything that goes wrong with one page is a `PageSkipped` outcome with its reason.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.core.items import Accepted, Location
from ingest.errors import IngestError
from ingest.pages.claims import sort_claims
from ingest.pages.identity import catalog_sites
from ingest.pages.middleware import TIMEOUT_RETRIES_SETTING
from ingest.pages.spider import (
    OFFSITE,
    CrawlPlan,
    PageLog,
    PageOutcome,
    PageRecord,
    PageSkipped,
    PageUnchanged,
    ProductSpider,
    allowed_domains_of,
)
from ingest.prepare.chain import PrepareReport
from ingest.producer import MessageSink
from ingest.publish import OnOutcome, publish_crawled
from schemas.models import ProductRecord
from schemas.settings import Settings, home_dir

TRANSIENT_HTTP_CODES = (408, 429, 502, 503, 504, 522, 524)
"""Statuses retried (with Scrapy's retry cap); every other error status is final."""


class CrawlError(IngestError):
    """The crawl cannot run at all (no start URL or sitemap, an invalid URL)."""


@dataclass(frozen=True, kw_only=True)
class CrawlOptions:
    """How politely and how far to crawl."""

    max_pages: int = 1000
    """Most page requests in one crawl (sitemaps and robots.txt not counted)."""
    max_page_bytes: int = 5 * 1024 * 1024
    """Larger pages are cancelled while downloading and reported."""
    concurrency_per_domain: int = 4
    """Requests in flight per domain (AutoThrottle adapts below it)."""
    autothrottle_start_delay_s: float = 0.5
    """AutoThrottle's first delay between requests to a domain."""
    download_timeout_s: float = 20.0
    """Timeout of one request."""
    retry_times: int = 2
    """Retries of a request after a transient error (TRANSIENT_HTTP_CODES, connection errors)."""
    timeout_retries: int = 1
    """Retries of a request that timed out (each costs `download_timeout_s`)."""
    max_sitemap_bytes: int = 50 * 1024 * 1024
    """Larger sitemaps (downloaded, or after gzip decompression) are reported, not read."""
    max_redirects: int = 5
    """Longer redirect chains are reported as redirect loops."""
    user_agent: str = "freshindex-crawler/0.1"
    """User-Agent header, also the name matched in robots.txt."""

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> CrawlOptions:
        """The options the settings give (`crawl_*`), then `options` (the CLI's) over them."""
        return cls(
            **{
                "download_timeout_s": settings.crawl_download_timeout_s,
                "timeout_retries": settings.crawl_timeout_retries,
                "max_sitemap_bytes": settings.crawl_max_sitemap_bytes,
                **options,
            }
        )


def scrapy_settings(options: CrawlOptions, state_dir: Path) -> dict[str, Any]:
    """The Scrapy settings of a crawl."""
    return {
        "USER_AGENT": options.user_agent,
        "ROBOTSTXT_OBEY": True,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": options.autothrottle_start_delay_s,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(options.concurrency_per_domain),
        "CONCURRENT_REQUESTS": 4 * options.concurrency_per_domain,
        "CONCURRENT_REQUESTS_PER_DOMAIN": options.concurrency_per_domain,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOAD_TIMEOUT": options.download_timeout_s,
        "DOWNLOAD_MAXSIZE": options.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": options.retry_times,
        "RETRY_HTTP_CODES": list(TRANSIENT_HTTP_CODES),
        TIMEOUT_RETRIES_SETTING: options.timeout_retries,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "ingest.pages.middleware.CrawlRetryMiddleware": 550,
        },
        "REDIRECT_MAX_TIMES": options.max_redirects,
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_POLICY": "scrapy.extensions.httpcache.RFC2616Policy",
        "HTTPCACHE_STORAGE": "scrapy.extensions.httpcache.FilesystemCacheStorage",
        "HTTPCACHE_DIR": str(state_dir / "httpcache"),
        "HTTPCACHE_GZIP": True,
        # Revalidate every cached page on every crawl (If-None-Match / If-Modified-Since)
        # instead of trusting heuristic freshness: a recrawl must see changed pages.
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
            "Cache-Control": "max-age=0",
        },
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "LOG_INSTALL_ROOT_HANDLER": False,  # library code: the application configures logging
    }


class SeenStore:
    """url -> hash of the record last published from it (sqlite, in the crawl state folder)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pages (url TEXT PRIMARY KEY, product_id TEXT NOT NULL,"
            " record_hash TEXT NOT NULL, published_at REAL NOT NULL)"
        )
        self._db.commit()

    def urls(self) -> frozenset[str]:
        return frozenset(row[0] for row in self._db.execute("SELECT url FROM pages"))

    def product_ids(self, urls: Iterable[str]) -> dict[str, str]:
        """url -> product id last published from it, for those of `urls` published before."""
        found: dict[str, str] = {}
        for url in urls:
            row = self._db.execute("SELECT product_id FROM pages WHERE url = ?", (url,)).fetchone()
            if row is not None:
                found[url] = row[0]
        return found

    def unchanged(self, url: str, digest: str) -> bool:
        row = self._db.execute("SELECT record_hash FROM pages WHERE url = ?", (url,)).fetchone()
        return row is not None and row[0] == digest

    def remember(self, pages: Iterable[PageRecord]) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?)",
            [(p.url, p.record.id, record_hash(p.record), now) for p in pages],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def record_hash(record: ProductRecord) -> str:
    """Hash of everything a record would publish: equal hash, nothing to publish."""
    return hashlib.sha256(record.model_dump_json().encode()).hexdigest()


@dataclass(kw_only=True)
class CrawlReport:
    """What one crawl did: pages crawled, products extracted, pages skipped and why, publishes."""

    crawled: int = 0
    """Page responses received (cached and revalidated ones included)."""
    sitemaps: int = 0
    """Sitemaps and robots.txt files read."""
    products: list[PageRecord] = field(default_factory=list)
    """Products extracted from pages (with the `crawl:<host>` source), new, changed or not."""
    changed: int = 0
    """How many of `products` are new or changed since the last crawl (the ones published)."""
    unchanged: int = 0
    """Pages not published again: not modified (HTTP 304) or the same record as last time."""
    skipped: list[PageSkipped] = field(default_factory=list)
    """Pages and sitemaps without a product, with the reason."""
    published: list[PrepareReport] = field(default_factory=list)
    """One publish summary per domain (empty when nothing changed)."""
    rejected: list[PageSkipped] = field(default_factory=list)
    """Extracted products the prepare chain refused (sent to the dead-letter topic)."""
    duplicates: list[PageSkipped] = field(default_factory=list)
    """Extracted products not published: the same product is indexed under another id, or is
    on another page of this crawl under the same id."""
    conflicts: list[PageSkipped] = field(default_factory=list)
    """Extracted products not published: another page of this crawl claims the same id with a
    different product (`ingest.pages.claims`)."""
    offsite_links: dict[str, str] = field(default_factory=dict)
    """Links to other hosts, not followed: URL -> first page linking it (the first 10,000)."""
    offsite_more: int = 0
    """Further off-site links, counted only."""
    limit_reached: bool = False
    """True when pages were left out because of `max_pages`."""
    dry_run: bool = False
    """True when nothing was sent (the counts say what would have been published)."""
    seconds: float = 0.0
    """Wall time of crawl and publish."""

    @property
    def products_published(self) -> int:
        return sum(s.products for s in self.published)

    @property
    def chunks_published(self) -> int:
        return sum(s.chunks for s in self.published)

    @property
    def owners(self) -> dict[str, int]:
        """Extracted products per owner of their ids (a site, `catalog`)."""
        return dict(Counter(p.owner or "page" for p in self.products))

    @property
    def offsite_hosts(self) -> dict[str, int]:
        """Off-site links not followed, per host."""
        return dict(Counter(urlsplit(u).hostname or "?" for u in self.offsite_links))

    def as_dict(self) -> dict[str, Any]:
        return {
            "crawled": self.crawled,
            "sitemaps": self.sitemaps,
            "extracted": len(self.products),
            "changed": self.changed,
            "products": [_product_dict(p) for p in self.products],
            "owners": self.owners,
            "unchanged": self.unchanged,
            "skipped": [
                {"url": s.url, "reason": s.reason, "sitemap": s.sitemap} for s in self.skipped
            ],
            "conflicts": [{"url": c.url, "reason": c.reason} for c in self.conflicts],
            "off_site": {
                "links": len(self.offsite_links) + self.offsite_more,
                "hosts": self.offsite_hosts,
                "redirects": sum(1 for s in self.skipped if s.reason.startswith(OFFSITE)),
            },
            "published": {
                "products": self.products_published,
                "chunks": self.chunks_published,
                "rejected": [{"url": r.url, "reason": r.reason} for r in self.rejected],
                "duplicates": [{"url": d.url, "reason": d.reason} for d in self.duplicates],
                "sources": [s.source for s in self.published],
            },
            "limit_reached": self.limit_reached,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The report as text, one line per fact, then one line per skipped page."""
        verb = "would publish" if self.dry_run else "published"
        out = [
            f"crawled {self.crawled} pages ({self.sitemaps} sitemaps) in {self.seconds:.1f}s"
            + (" (stopped at --max-pages)" if self.limit_reached else ""),
            f"extracted {len(self.products)} products ({self.changed} new or changed), "
            f"{self.unchanged} pages unchanged, {len(self.skipped)} skipped"
            + (f", {len(self.conflicts)} id conflicts" if self.conflicts else ""),
            f"{verb} {self.products_published} products ({self.chunks_published} chunks)",
        ]
        if self.products:
            owners = ", ".join(f"{owner} {n}" for owner, n in self.owners.items())
            out.append(f"ids owned by: {owners}")
        if self.offsite_links:
            links = len(self.offsite_links) + self.offsite_more
            top = Counter(self.offsite_hosts).most_common()
            hosts = ", ".join(f"{h} {n}" for h, n in top[:5])
            more = f" and {len(top) - 5} more hosts" if len(top) > 5 else ""
            out.append(f"off-site links not followed: {links} ({hosts}{more})")
        out.extend(f"  conflict {c.url}: {c.reason}" for c in self.conflicts)
        out.extend(f"  rejected {r.url}: {r.reason}" for r in self.rejected)
        out.extend(f"  duplicate {d.url}: {d.reason}" for d in self.duplicates)
        out.extend(f"  skipped {s.url}: {s.reason}" for s in self.skipped)
        out.extend(_page_notes(self.products))
        return out


def _product_dict(page: PageRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "url": page.url,
        "id": page.record.id,
        "title": page.record.title,
        "owner": page.owner,
    }
    if page.other_products:
        out["other_products"] = [
            {"title": o.title, "sku": o.sku, "url": o.url} for o in page.other_products
        ]
    if page.warnings:
        out["warnings"] = list(page.warnings)
    return out


def _page_notes(pages: list[PageRecord]) -> Iterator[str]:
    """One line per page with other products in its markup, one per extraction warning."""
    for page in pages:
        if page.other_products:
            names = ", ".join(repr(o.title or o.sku) for o in page.other_products[:3])
            more = len(page.other_products) - 3
            extra = f" and {more} more" if more > 0 else ""
            yield f"  other products on {page.url} (not extracted): {names}{extra}"
        yield from (f"  warning {page.url}: {w}" for w in page.warnings)


def check_urls(urls: Iterable[str]) -> list[str]:
    """The URLs, if each is an absolute http(s) URL with a host; raises `CrawlError` otherwise."""
    checked = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CrawlError(f"not an http(s) URL: {url!r}")
        checked.append(url)
    return checked


def crawl_state_dir() -> Path:
    """Default state folder: `$FRESHINDEX_HOME/crawl-cache`."""
    return home_dir() / "crawl-cache"


def run_spider(
    plan: CrawlPlan,
    settings: dict[str, Any],
    on_page: Callable[[PageOutcome], None] | None = None,
) -> PageLog:
    """Run the spider to the end on Twisted's reactor (once per process) and return its log;
    `on_page` is told of each page's outcome as it happens."""
    from scrapy.crawler import CrawlerProcess

    page_log = PageLog(listener=on_page)
    process = CrawlerProcess(settings)
    process.crawl(ProductSpider, plan=plan, page_log=page_log)
    process.start()
    return page_log


def crawl(
    start_urls: Iterable[str],
    sitemaps: Iterable[str],
    settings: Settings,
    *,
    options: CrawlOptions | None = None,
    state_dir: Path | None = None,
    sink: MessageSink | None = None,
    dry_run: bool = False,
    on_page: Callable[[PageOutcome], None] | None = None,
    on_outcome: OnOutcome | None = None,
) -> CrawlReport:
    """Crawl, extract, publish the new and changed products; return what happened.

    The publisher (`ingest.publish.publish_crawled`) sends to `sink`, by default a `KafkaSink`
    it opens only when there is something to publish; `dry_run` sends nothing and remembers
    nothing. `on_page` and `on_outcome` are told of each page's outcome while crawling and of
    each product's while publishing.
    """
    options = options or CrawlOptions()
    state_dir = state_dir or crawl_state_dir()
    starts, maps = check_urls(start_urls), check_urls(sitemaps)
    if not starts and not maps:
        raise CrawlError("nothing to crawl: give at least one URL or --sitemap")
    started = time.perf_counter()
    store = SeenStore(state_dir / "seen.sqlite3")
    try:
        plan = CrawlPlan(
            start_urls=tuple(starts),
            sitemap_urls=tuple(maps),
            allowed_domains=allowed_domains_of([*starts, *maps]),
            max_pages=options.max_pages,
            max_page_bytes=options.max_page_bytes,
            max_sitemap_bytes=options.max_sitemap_bytes,
            known_urls=store.urls(),
            catalog_sites=catalog_sites(settings.crawl_site_catalog),
        )
        page_log = run_spider(plan, scrapy_settings(options, state_dir), on_page)
        report, changed, twins = _sort_outcomes(page_log, store)
        report.dry_run = dry_run
        if changed:
            report.published = publish_crawled(
                items_of(changed), settings, sink=sink, dry_run=dry_run, progress=on_outcome
            )
            report.rejected = _rejected_pages(report.published)
            report.duplicates += _duplicate_pages(report.published)
        if not dry_run and (changed or twins):
            rejected = {r.url for r in report.rejected}
            store.remember(p for p in [*changed, *twins] if p.url not in rejected)
    finally:
        store.close()
    report.seconds = time.perf_counter() - started
    return report


def _sort_outcomes(
    page_log: PageLog, store: SeenStore
) -> tuple[CrawlReport, list[PageRecord], list[PageRecord]]:
    """The report so far, the pages to publish, and pages of a product published from another
    page of this crawl (to remember with it)."""
    report = CrawlReport(
        crawled=page_log.pages_fetched,
        sitemaps=page_log.sitemaps_read,
        limit_reached=page_log.limit_reached,
        offsite_links=dict(page_log.offsite_links),
        offsite_more=page_log.offsite_more,
    )
    unchanged_urls: list[str] = []
    for outcome in page_log.outcomes:
        if isinstance(outcome, PageSkipped):
            report.skipped.append(outcome)
        elif isinstance(outcome, PageUnchanged):
            unchanged_urls.append(outcome.url)
        else:
            report.products.append(replace(outcome, record=_with_source(outcome)))
    report.unchanged = len(unchanged_urls)
    claims = sort_claims(report.products, store.product_ids(unchanged_urls))
    report.conflicts, report.duplicates = claims.conflicts, claims.duplicates
    changed: list[PageRecord] = []
    for page in claims.kept:
        if store.unchanged(page.url, record_hash(page.record)):
            report.unchanged += 1
        else:
            changed.append(page)
    report.changed = len(changed)
    return report, changed, claims.duplicate_pages


def items_of(pages: list[PageRecord]) -> list[Accepted]:
    """The pages' products as items for the publisher, each at its page's URL."""
    return [Accepted(at=Location(input=page.url), record=page.record) for page in pages]


def _rejected_pages(summaries: list[PrepareReport]) -> list[PageSkipped]:
    """Products the prepare chain refused, as their pages (an item is at its page's URL)."""
    return [
        PageSkipped(url=r.at.input, reason=r.reason)
        for summary in summaries
        for r in summary.rejected
    ]


def _duplicate_pages(summaries: list[PrepareReport]) -> list[PageSkipped]:
    return [
        PageSkipped(
            url=d.at.input,
            reason=f"{d.kind} duplicate of {d.duplicate_of} (similarity {d.similarity})",
        )
        for summary in summaries
        for d in summary.duplicates
    ]


def _with_source(page: PageRecord) -> ProductRecord:
    source = f"crawl:{urlsplit(page.url).hostname or 'unknown'}"
    if page.record.source == source:
        return page.record
    return page.record.model_copy(update={"source": source})
