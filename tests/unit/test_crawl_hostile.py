"""The crawler against hostile sites, without network: ids claimed by several pages, off-site
redirects and links, sitemaps over their cap, slow pages (timeouts retried once), wrong header
charsets. Spider callbacks get Scrapy objects built in memory, as in test_crawl."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from ingest.pages.claims import sort_claims
from ingest.pages.crawl import CrawlOptions, CrawlReport, SeenStore, _sort_outcomes, scrapy_settings
from ingest.pages.middleware import CrawlRetryMiddleware
from ingest.pages.spider import (
    CrawlPlan,
    PageLog,
    PageRecord,
    PageSkipped,
    PageUnchanged,
    ProductSpider,
    failure_reason,
    page_html,
)
from schemas.settings import Settings
from tests.unit.fakes import record

BASE = "https://shop.example"


def spider(**plan: Any) -> ProductSpider:
    values: dict[str, Any] = {"allowed_domains": ("shop.example",), "max_pages": 100}
    values.update(plan)
    return ProductSpider(plan=CrawlPlan(**values), page_log=PageLog())


def page(path: str, product_id: str, **fields: Any) -> PageRecord:
    return PageRecord(url=BASE + path, record=record(product_id, url=BASE + path, **fields))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SeenStore]:
    s = SeenStore(tmp_path / "seen.sqlite3")
    yield s
    s.close()


# ids claimed by several pages


def test_two_pages_claiming_one_id_with_different_products_are_a_conflict(
    store: SeenStore,
) -> None:
    log = PageLog(
        outcomes=[
            page("/p/a", "shop.example:V-1"),
            page("/p/b", "shop.example:V-1", title="Cheap knock-off", price="0.01"),
            page("/p/c", "shop.example:C-1"),
        ]
    )
    report, to_publish, twins = _sort_outcomes(log, store)
    assert [p.url for p in to_publish] == [BASE + "/p/c"] and twins == []
    assert {c.url for c in report.conflicts} == {BASE + "/p/a", BASE + "/p/b"}
    assert all("id conflict: shop.example:V-1" in c.reason for c in report.conflicts)
    assert f"also claimed by {BASE}/p/b" in report.conflicts[0].reason
    text = "\n".join(report.lines())
    assert "2 id conflicts" in text and f"conflict {BASE}/p/a: id conflict" in text
    assert report.as_dict()["conflicts"][1]["url"] == BASE + "/p/b"


def test_one_product_under_two_paths_is_published_once() -> None:
    claims = sort_claims([page("/p/a", "X"), page("/sale/a", "X"), page("/p/b", "Y")], {})
    assert [p.url for p in claims.kept] == [BASE + "/p/a", BASE + "/p/b"]
    assert [d.url for d in claims.duplicates] == [BASE + "/sale/a"]
    assert claims.duplicates[0].reason == f"same product as {BASE}/p/a (id X), published once"
    assert [p.url for p in claims.duplicate_pages] == [BASE + "/sale/a"]
    assert claims.conflicts == []


def test_a_page_claiming_the_id_of_an_unchanged_page_is_a_conflict(store: SeenStore) -> None:
    store.remember([page("/p/a", "shop.example:V-1")])
    log = PageLog(outcomes=[PageUnchanged(url=BASE + "/p/a"), page("/p/b", "shop.example:V-1")])
    report, to_publish, _ = _sort_outcomes(log, store)
    assert to_publish == [] and report.unchanged == 1
    [conflict] = report.conflicts
    assert conflict.url == BASE + "/p/b" and f"also claimed by {BASE}/p/a" in conflict.reason


def test_the_report_says_who_owns_each_id() -> None:
    report = CrawlReport(
        products=[
            PageRecord(url=BASE + "/p/a", record=record("shop.example:A"), owner="shop.example"),
            PageRecord(url=BASE + "/p/b", record=record("B"), owner="catalog"),
        ],
        offsite_links={"https://elsewhere.example/x": BASE + "/", "http://cdn.example/y": BASE},
    )
    data = report.as_dict()
    assert [p["owner"] for p in data["products"]] == ["shop.example", "catalog"]
    assert data["owners"] == {"shop.example": 1, "catalog": 1}
    assert data["off_site"]["links"] == 2
    assert data["off_site"]["hosts"] == {"elsewhere.example": 1, "cdn.example": 1}
    text = "\n".join(report.lines())
    assert "ids owned by: shop.example 1, catalog 1" in text
    assert "off-site links not followed: 2 (elsewhere.example 1, cdn.example 1)" in text


def test_catalog_sites_reach_the_extractor() -> None:
    s = spider(catalog_sites=frozenset({"shop.example"}))
    body = (Path(__file__).parent / "hostile" / "sku_hijack.html").read_bytes()
    url = BASE + "/p/1"
    list(s.parse_page(HtmlResponse(url, body=body, request=Request(url))))
    [outcome] = s.page_log.outcomes
    assert isinstance(outcome, PageRecord)
    assert (outcome.record.id, outcome.owner) == ("V-0001", "catalog")


# off-site redirects and links


def test_an_off_site_redirect_is_reported_as_such_not_as_no_response() -> None:
    s = spider()
    first = s.page_request(BASE + "/go")
    assert first is not None
    away = first.replace(url="https://elsewhere.example/p/1", meta={"redirect_urls": [first.url]})
    s.on_scheduled(away, s)
    s.on_scheduled(first, s)  # an in-domain request: nothing to say
    s.on_closed(s, "finished")
    assert s.page_log.outcomes == [
        PageSkipped(
            url=BASE + "/go",
            reason=f"off-site redirect, not followed: {BASE}/go -> https://elsewhere.example/p/1",
        )
    ]


def test_the_offsite_middlewares_refusal_has_an_off_site_reason() -> None:
    error = IgnoreRequest("Filtered offsite request to 'elsewhere.example'")
    assert failure_reason(error, max_bytes=1).startswith("off-site: outside the allowed domains")


# sitemaps


def _gzip_sitemap(entries: int) -> bytes:
    urls = "".join(f"<url><loc>{BASE}/p/{n}</loc></url>" for n in range(entries))
    xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    return gzip.compress(xml.encode())


def test_a_gzip_sitemap_over_its_cap_is_reported_as_too_large_not_as_not_a_sitemap() -> None:
    body = _gzip_sitemap(2000)  # ~80 KB of XML, ~6 KB compressed
    s = spider(max_sitemap_bytes=50_000, max_page_bytes=10_000)
    assert list(s._parse_sitemap(Response(BASE + "/sitemap.xml.gz", body=body))) == []
    assert s.page_log.outcomes == [
        PageSkipped(
            url=BASE + "/sitemap.xml.gz",
            reason="sitemap too large: over 50000 bytes after gzip decompression",
            sitemap=True,
        )
    ]
    roomy = spider(max_sitemap_bytes=1_000_000, max_page_bytes=10_000, max_pages=5000)
    requests = list(roomy._parse_sitemap(Response(BASE + "/sitemap.xml.gz", body=body)))
    assert len(requests) == 2000  # the sitemap cap, not the page cap, bounds a sitemap


def test_a_corrupt_gzip_sitemap_says_so() -> None:
    s = spider()
    list(s._parse_sitemap(Response(BASE + "/sitemap.xml.gz", body=b"\x1f\x8b\x08" + b"\x00" * 40)))
    [outcome] = s.page_log.outcomes
    assert isinstance(outcome, PageSkipped) and outcome.reason.startswith("unreadable gzip sitemap")


def test_sitemap_requests_carry_the_sitemap_cap_and_their_failures_say_sitemap() -> None:
    s = spider(max_sitemap_bytes=123_456)
    assert s.sitemap_request(BASE + "/sitemap.xml").meta["download_maxsize"] == 123_456
    cancelled = DownloadCancelledError(
        "Cancelling download of x: expected response size (999999 bytes which is larger than"
        " download max size (123456)."
    )
    reason = failure_reason(cancelled, max_bytes=123_456, what="sitemap")
    assert reason == "sitemap too large: 999999 bytes (limit 123456)"
    bomb = IgnoreRequest("Ignored response <200 x> because its body exceeded DOWNLOAD_MAXSIZE "
                         "(123456 B) during decompression.")  # fmt: skip
    assert failure_reason(bomb, max_bytes=123_456, what="sitemap") == (
        "sitemap too large: over 123456 bytes after decompression"
    )


# timeouts


class _Slow(Spider):
    name = "slow"


def _retry_middleware(timeout_retries: int) -> CrawlRetryMiddleware:
    settings = scrapy_settings(CrawlOptions(timeout_retries=timeout_retries), Path("/nonexistent"))
    crawler = get_crawler(_Slow, settings)
    crawler.spider = _Slow.from_crawler(crawler)
    return CrawlRetryMiddleware.from_crawler(crawler)


def _tries(middleware: CrawlRetryMiddleware, error: Exception) -> int:
    request: Request | None = Request(BASE + "/slow")
    tries = 0
    while request is not None:
        tries += 1
        retried = middleware.process_exception(request, error)
        request = retried if isinstance(retried, Request) else None
    return tries


def test_a_timeout_is_retried_once_and_other_transient_errors_twice() -> None:
    middleware = _retry_middleware(timeout_retries=1)
    assert _tries(middleware, DownloadTimeoutError("took longer than 20.0 seconds")) == 2
    assert _tries(middleware, ConnectionRefusedError("refused")) == 3
    assert _tries(_retry_middleware(timeout_retries=0), DownloadTimeoutError("slow")) == 1


def test_crawl_settings_install_the_retry_cap_and_come_from_the_settings(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("FRESHINDEX_CRAWL_TIMEOUT_RETRIES", "0")
    clean_env.setenv("FRESHINDEX_CRAWL_MAX_SITEMAP_BYTES", "2048")
    options = CrawlOptions.from_settings(Settings(), max_pages=7)
    assert (options.timeout_retries, options.max_sitemap_bytes, options.max_pages) == (0, 2048, 7)
    assert options.download_timeout_s == Settings().crawl_download_timeout_s == 20.0
    settings = scrapy_settings(options, Path("/nonexistent"))
    assert settings["FRESHINDEX_TIMEOUT_RETRIES"] == 0
    middlewares = settings["DOWNLOADER_MIDDLEWARES"]
    assert middlewares["ingest.pages.middleware.CrawlRetryMiddleware"] == 550
    assert middlewares["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    assert failure_reason(DownloadTimeoutError("took longer"), max_bytes=1) == (
        "timeout: took longer"
    )


# charsets


def test_a_latin1_header_on_a_utf8_body_leaves_the_charset_to_the_extractor() -> None:
    body = "<html><body><h1>Crème brûlée</h1></body></html>".encode()
    response = HtmlResponse(
        BASE + "/p", body=body, headers={"Content-Type": "text/html; charset=iso-8859-1"}
    )
    assert page_html(response) == body  # bytes: read as UTF-8, not as "CrÃ¨me"


def test_off_site_links_are_remembered_up_to_a_bound_and_counted_beyond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ingest.pages.spider.MAX_OFFSITE_LINKS", 2)
    s = spider()
    links = "".join(f'<a href="https://other{n}.example/">x</a>' for n in range(5))
    body = f'<html><body>{links}<a href="mailto:a@b.example">m</a></body></html>'.encode()
    list(s.parse_page(HtmlResponse(BASE + "/", body=body, request=Request(BASE + "/"))))
    assert list(s.page_log.offsite_links) == ["https://other0.example/", "https://other1.example/"]
    assert s.page_log.offsite_more == 3
