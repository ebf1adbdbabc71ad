"""The Scrapy spider of `freshindex crawl`: sitemaps and start URLs in, one outcome per page out.

`ProductSpider` reads sitemaps (sitemap.xml, sitemap indexes and the `Sitemap:` lines of a
robots.txt, through Scrapy's `SitemapSpider`), fetches start URLs and follows links within the
allowed domains, up to a page budget. Every page request ends in exactly one outcome on the
spider's `PageLog`, never an exception:

- `PageRecord`: a product was extracted;
- `PageUnchanged`: the HTTP cache revalidated the page (304) and it was published before;
- `PageSkipped`: no product, with the reason (not HTML, too large, HTTP error, robots.txt,
  redirect loop, redirected off-site, extractor's reason, ...).

Links to hosts outside the allowed domains are not followed; each is counted on the `PageLog`
(`offsite_links`), as are redirects that leave them (`PageSkipped` with an off-site reason; the
offsite middleware would drop them without a word). Sitemaps have their own size cap
(`CrawlPlan.max_sitemap_bytes`), downloaded and after gzip decompression.

The spider does no I/O besides Scrapy's; `ingest.pages.crawl` runs it and publishes.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urlsplit

from scrapy import Request, signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, StopDownload
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.spiders import SitemapSpider
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from ingest.pages.decode import misdeclared_utf8
from ingest.pages.extract import OtherProduct, extract_product
from ingest.pages.middleware import TIMEOUTS
from schemas.models import ProductRecord

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Headers

log = logging.getLogger("freshindex.ingest.crawl")

HTML_TYPES = ("text/html", "application/xhtml+xml")
"""Content types treated as HTML pages; anything else is skipped unread."""

MAX_OFFSITE_LINKS = 10_000
"""Off-site links remembered with their page (a hostile site can link millions)."""
OFFSITE = "off-site"
"""How the reason of a page outside the allowed domains starts."""
_MAXSIZE = re.compile(r"(\d+) bytes which is larger than download max size \((\d+)\)")


@dataclass(frozen=True, kw_only=True)
class PageRecord:
    """A page that yielded a product."""

    url: str
    """Final URL of the page (after redirects)."""
    record: ProductRecord
    """The product extracted from it."""
    owner: str | None = None
    """Who owns the record's id: the page's site, or `catalog` (`ingest.pages.identity`)."""
    other_products: tuple[OtherProduct, ...] = ()
    """Other products in the page's markup (related products...), not extracted."""
    warnings: tuple[str, ...] = ()
    """Problems that did not stop the extraction (an unreadable JSON-LD block...)."""


@dataclass(frozen=True, kw_only=True)
class PageUnchanged:
    """A page the server reported as not modified (HTTP 304) since its last published crawl."""

    url: str
    """URL of the page."""


@dataclass(frozen=True, kw_only=True)
class PageSkipped:
    """A page (or sitemap) that yielded no product, and why."""

    url: str
    """URL that was requested."""
    reason: str
    """Why no product came out of it."""
    sitemap: bool = False
    """True for a sitemap or robots.txt rather than a page."""


PageOutcome = PageRecord | PageUnchanged | PageSkipped


@dataclass(kw_only=True)
class PageLog:
    """Everything the spider saw: one outcome per page request, plus counters."""

    outcomes: list[PageOutcome] = field(default_factory=list)
    """Outcomes in the order they happened."""
    pages_fetched: int = 0
    """Responses received for page requests (cached ones included)."""
    sitemaps_read: int = 0
    """Sitemaps and robots.txt files read."""
    limit_reached: bool = False
    """True when links or sitemap entries were left out because of the page budget."""
    offsite_links: dict[str, str] = field(default_factory=dict)
    """Links to hosts outside the allowed domains, not followed: URL -> first page linking it
    (the first `MAX_OFFSITE_LINKS`)."""
    offsite_more: int = 0
    """Further distinct off-site links, counted only."""
    listener: Callable[[PageOutcome], None] | None = None
    """Told of each outcome as it happens (a terminal's progress line: `infra.progress`)."""


@dataclass(frozen=True, kw_only=True)
class CrawlPlan:
    """What to crawl."""

    start_urls: tuple[str, ...] = ()
    """Pages to start from; links on them within `allowed_domains` are followed."""
    sitemap_urls: tuple[str, ...] = ()
    """sitemap.xml, sitemap index or robots.txt URLs."""
    allowed_domains: tuple[str, ...] = ()
    """Host names whose pages may be crawled (subdomains included)."""
    max_pages: int = 1000
    """Most page requests (sitemaps and robots.txt not counted)."""
    max_page_bytes: int = 5 * 1024 * 1024
    """Largest page the extractor reads (the downloader cancels larger ones first)."""
    max_sitemap_bytes: int = 50 * 1024 * 1024
    """Largest sitemap, downloaded and after gzip decompression."""
    known_urls: frozenset[str] = frozenset()
    """Pages published by an earlier crawl: a 304 for one of them means nothing to do."""
    catalog_sites: frozenset[str] = frozenset()
    """Hosts whose pages' product ids are the catalog's own (`ingest.pages.identity`)."""


def is_html(content_type: bytes | None) -> bool:
    """True when a Content-Type header names HTML (or is missing: the extractor sniffs then)."""
    if not content_type:
        return True
    media = content_type.split(b";", 1)[0].strip().decode("latin-1").lower()
    return media in HTML_TYPES


def page_html(response: Response) -> bytes | str:
    """The page as the extractor should see it.

    Text decoded with the charset of the Content-Type header when that charset decodes the body
    without error (browsers let the header win) and the body is not UTF-8 under another name;
    otherwise the raw bytes, so that the extractor sniffs BOM, meta charset and binary content
    itself (missing or wrong header charsets: a latin-1 header decodes any bytes, even UTF-8).
    """
    from w3lib.encoding import http_content_type_encoding

    header = response.headers.get(b"Content-Type")
    charset = http_content_type_encoding(header.decode("latin-1")) if header else None
    body = response.body
    if charset and b"\x00" not in body[:8192] and not misdeclared_utf8(body, charset):
        try:
            return body.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass
    return body


def failure_reason(error: BaseException | None, *, max_bytes: int, what: str = "page") -> str:
    """A short, human-readable reason for a failed request (`what`: page or sitemap)."""
    if error is None:
        return "request failed"
    if isinstance(error, HttpError):
        return f"HTTP {error.response.status}"
    message = str(error)
    if isinstance(error, IgnoreRequest):
        if "robots.txt" in message:
            return "forbidden by robots.txt"
        if "max redirections" in message:
            return "too many redirects (redirect loop?)"
        if "offsite" in message.lower():
            return f"{OFFSITE}: outside the allowed domains ({message})"
        if "during decompression" in message:
            return f"{what} too large: over {max_bytes} bytes after decompression"
        return f"ignored: {message}"
    if isinstance(error, DownloadCancelledError):
        sizes = _MAXSIZE.search(message)
        if sizes:
            return f"{what} too large: {sizes[1]} bytes (limit {sizes[2]})"
        return f"{what} too large: over {max_bytes} bytes (download cancelled)"
    if isinstance(error, TIMEOUTS):
        return f"timeout: {message}" if message else "timeout"
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def gunzip_capped(data: bytes, limit: int) -> bytes | str:
    """Gzip `data` decompressed, or the reason it is not: over `limit` bytes, or corrupt. A
    truncated stream gives what it holds (as Scrapy's sitemap reader does)."""
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read1(65536):
                if out.tell() + len(chunk) > limit:
                    return f"sitemap too large: over {limit} bytes after gzip decompression"
                out.write(chunk)
    except (OSError, EOFError, zlib.error) as e:
        if not out.tell():
            return f"unreadable gzip sitemap: {e}"
    return out.getvalue()


class ProductSpider(SitemapSpider):
    """Sitemaps + start URLs + in-domain links -> one `PageOutcome` per page on `page_log`."""

    name = "freshindex"
    sitemap_rules = (("", "parse_page"),)

    def __init__(self, *, plan: CrawlPlan, page_log: PageLog, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.page_log = page_log
        self.sitemap_urls = plan.sitemap_urls
        self.allowed_domains = list(plan.allowed_domains)
        self._links = LinkExtractor(unique=True)  # its allow_domains compares host:port
        self._issued: set[str] = set()
        self._pending: set[str] = set()
        self._done: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_headers, signal=signals.headers_received)
        crawler.signals.connect(spider.on_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider.on_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(spider.on_spider_error, signal=signals.spider_error)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    # requests

    async def start(self) -> AsyncIterator[Any]:
        for url in self.plan.sitemap_urls:
            yield self.sitemap_request(url)
        for url in self.plan.start_urls:
            request = self.page_request(url)
            if request is not None:
                yield request

    def page_request(self, url: str) -> Request | None:
        """A request for a page not asked for yet, within the budget; None otherwise."""
        url = urldefrag(url)[0]
        if url in self._issued:
            return None
        if len(self._issued) >= self.plan.max_pages:
            self.page_log.limit_reached = True
            return None
        self._issued.add(url)
        self._pending.add(url)
        return Request(url, callback=self.parse_page, errback=self.on_page_error)

    def sitemap_request(self, url: str) -> Request:
        """A request for a sitemap or robots.txt, under the sitemap size cap."""
        return Request(
            url,
            callback=self._parse_sitemap,
            errback=self.on_sitemap_error,
            meta={"download_maxsize": self.plan.max_sitemap_bytes},
        )

    def _parse_sitemap(self, response: Response) -> Iterator[Request]:  # type: ignore[override]
        """Requests for what a robots.txt, sitemap index or sitemap lists; pages within budget."""
        self.page_log.sitemaps_read += 1
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.body, base_url=response.url):
                yield self.sitemap_request(url)
            return
        sitemap = self._read_sitemap(response)
        if isinstance(sitemap, str):
            self._add(PageSkipped(url=response.url, reason=sitemap, sitemap=True))
            return
        if sitemap.type == "sitemapindex":
            for url in self._get_urls_from_sitemapindex(self.sitemap_filter(sitemap)):
                yield self.sitemap_request(url)
            return
        for url, _ in self._get_urls_and_callbacks_from_urlset(self.sitemap_filter(sitemap)):
            page = self.page_request(url)
            if page is not None:
                yield page

    def _read_sitemap(self, response: Response) -> Sitemap | str:
        """The sitemap, or the reason there is none (too large, corrupt gzip, not a sitemap)."""
        body = self._sitemap_body(response)
        if isinstance(body, str):
            return body
        try:
            sitemap = Sitemap(body)
        except Exception as e:  # lxml gives up on some garbage even in recover mode
            log.warning("unreadable sitemap %s: %s: %s", response.url, type(e).__name__, e)
            return "not a sitemap"
        return sitemap if sitemap.type in ("sitemapindex", "urlset") else "not a sitemap"

    def _sitemap_body(self, response: Response) -> bytes | str:
        """The sitemap's XML (gzip undone, under the sitemap cap), or the reason there is none."""
        if response.body[:3] == b"\x1f\x8b\x08":
            return gunzip_capped(response.body, self.plan.max_sitemap_bytes)
        return self._get_sitemap_body(response) or "not a sitemap"

    # responses

    def parse_page(self, response: Response) -> Iterator[Request]:
        self.page_log.pages_fetched += 1
        self._settle(response.request, response.url)
        if response.url in self._done:
            origin = self._origin(response.request, response.url)
            self._add(
                PageSkipped(url=origin, reason=f"same page as {response.url}, crawled already")
            )
            return
        self._done.add(response.url)
        self._add(self._outcome(response))
        yield from self._follow_links(response)

    def _outcome(self, response: Response) -> PageOutcome:
        url = response.url
        if "cached" in response.flags and url in self.plan.known_urls:
            return PageUnchanged(url=url)
        content_type = response.headers.get(b"Content-Type")
        if not is_html(content_type):
            media = (content_type or b"").decode("latin-1")
            return PageSkipped(url=url, reason=f"not HTML (Content-Type {media})")
        try:
            extracted = extract_product(
                page_html(response),
                url,
                max_bytes=self.plan.max_page_bytes,
                catalog_sites=self.plan.catalog_sites,
            )
        except Exception as e:  # the extractor must not stop the crawl; the reason is kept
            log.warning("extractor failed on %s", url, exc_info=True)
            return PageSkipped(url=url, reason=f"extractor failed: {type(e).__name__}: {e}")
        if extracted.record is None:
            return PageSkipped(url=url, reason=extracted.reason or "no product on the page")
        return PageRecord(
            url=url,
            record=extracted.record,
            owner=extracted.owner,
            other_products=extracted.other_products,
            warnings=extracted.warnings,
        )

    def _follow_links(self, response: Response) -> Iterator[Request]:
        if not isinstance(response, TextResponse) or not is_html(
            response.headers.get(b"Content-Type")
        ):
            return
        try:
            links = self._links.extract_links(response)
        except Exception as e:  # malformed markup that lxml cannot parse: no links, crawl goes on
            log.warning("cannot extract links from %s: %s: %s", response.url, type(e).__name__, e)
            return
        for link in links:
            if not in_domains(link.url, self.plan.allowed_domains):
                self._offsite_link(link.url, response.url)
                continue
            request = self.page_request(link.url)
            if request is not None:
                yield request

    # failures and signals

    def on_page_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        self._settle(request, request.url)
        origin = self._origin(request, request.url)
        self._add(
            PageSkipped(
                url=origin, reason=failure_reason(failure.value, max_bytes=self.plan.max_page_bytes)
            )
        )

    def on_sitemap_error(self, failure: Failure) -> None:
        request: Request = failure.request  # type: ignore[attr-defined]
        limit = self.plan.max_sitemap_bytes
        reason = failure_reason(failure.value, max_bytes=limit, what="sitemap")
        self._add(PageSkipped(url=self._origin(request, request.url), reason=reason, sitemap=True))

    def on_headers(self, headers: Headers, body_length: int, request: Request, spider: Any) -> None:
        """Stop downloading a page as soon as its headers say it is not HTML."""
        if request.callback == self.parse_page and not is_html(headers.get(b"Content-Type")):
            raise StopDownload(fail=False)

    def on_dropped(self, request: Request, spider: Any) -> None:
        """The scheduler dropped a duplicate: a redirect back to a page already asked for."""
        redirects: list[str] = request.meta.get("redirect_urls", [])
        if request.callback != self.parse_page or not redirects:
            self._pending.discard(request.url)
            return
        self._settle(request, request.url)
        chain = " -> ".join([*redirects, request.url])
        if request.url in redirects:
            reason = f"redirect loop: {chain}"
        else:
            reason = f"redirects to a page crawled already: {chain}"
        self._add(PageSkipped(url=redirects[0], reason=reason))

    def on_scheduled(self, request: Request, spider: Any) -> None:
        """A redirect that leaves the allowed domains: reported here, because the offsite
        middleware drops it while scheduling, without an errback or a `request_dropped`."""
        redirects: list[str] = request.meta.get("redirect_urls", [])
        if not redirects or in_domains(request.url, self.plan.allowed_domains):
            return
        self._settle(request, request.url)
        chain = " -> ".join([*redirects, request.url])
        reason = f"{OFFSITE} redirect, not followed: {chain}"
        sitemap = request.callback != self.parse_page
        self._add(PageSkipped(url=redirects[0], reason=reason, sitemap=sitemap))

    def on_spider_error(self, failure: Failure, response: Response, spider: Any) -> None:
        """A bug in a callback: reported with the page, and the crawl goes on."""
        error = failure.value
        self._add(
            PageSkipped(url=response.url, reason=f"crawler error: {type(error).__name__}: {error}")
        )

    def on_closed(self, spider: Any, reason: str) -> None:
        """Any page request without an outcome is reported, never dropped silently."""
        for url in sorted(self._pending):
            self._add(PageSkipped(url=url, reason=f"no response (crawl ended: {reason})"))
        self._pending.clear()

    # bookkeeping

    def _add(self, outcome: PageOutcome) -> None:
        self.page_log.outcomes.append(outcome)
        if self.page_log.listener is not None:
            self.page_log.listener(outcome)

    def _offsite_link(self, url: str, page: str) -> None:
        url = urldefrag(url)[0]
        links = self.page_log.offsite_links
        if urlsplit(url).scheme not in ("http", "https") or url in links:
            return
        if len(links) < MAX_OFFSITE_LINKS:
            links[url] = page
        else:
            self.page_log.offsite_more += 1  # may count a link twice: a bound, not a census

    def _settle(self, request: Request | None, url: str) -> None:
        """`url` (and the URLs that redirected to it) got their outcome."""
        self._pending.discard(url)
        if request is not None:
            self._pending.discard(request.url)
            self._pending.difference_update(request.meta.get("redirect_urls", []))

    @staticmethod
    def _origin(request: Request | None, url: str) -> str:
        """The URL first asked for: the start of the redirect chain that led to `url`."""
        redirects: list[str] = request.meta.get("redirect_urls", []) if request else []
        return redirects[0] if redirects else url


def in_domains(url: str, domains: Iterable[str]) -> bool:
    """True when the URL's host is one of `domains` or a subdomain of one (ports ignored)."""
    host = (urlsplit(url).hostname or "").lower()
    return bool(host) and any(host == d or host.endswith("." + d) for d in domains)


def allowed_domains_of(urls: Iterable[str]) -> tuple[str, ...]:
    """Host names of `urls`, in first-seen order, without ports."""
    hosts: dict[str, None] = {}
    for url in urls:
        host = urlsplit(url).hostname
        if host:
            hosts.setdefault(host.lower(), None)
    return tuple(hosts)
