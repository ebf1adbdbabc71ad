"""The crawler's pure parts: Scrapy settings, page outcomes and skip reasons, the unchanged-record
store, publishing of changed records, and the report. No network, no reactor: the spider's
callbacks are called with Scrapy response objects built in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse, XmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from ingest.pages.crawl import (
    TRANSIENT_HTTP_CODES,
    CrawlError,
    CrawlOptions,
    CrawlReport,
    SeenStore,
    _rejected_pages,
    _sort_outcomes,
    check_urls,
    items_of,
    record_hash,
    scrapy_settings,
)
from ingest.pages.spider import (
    CrawlPlan,
    PageLog,
    PageRecord,
    PageSkipped,
    PageUnchanged,
    ProductSpider,
    allowed_domains_of,
    failure_reason,
    in_domains,
    is_html,
    page_html,
)
from ingest.prepare.chain import PrepareChain
from ingest.prepare.chunk import Chunker
from ingest.publish import publish_by_source
from tests.unit.fakes import MemorySink, record

BASE = "https://shop.example"
SITE = Path(__file__).parents[1] / "integration" / "site"


def product_page(sku: str = "FS-1", name: str = "Peat-free compost 50 L") -> bytes:
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{name}</title>
<script type="application/ld+json">
{{"@context": "https://schema.org", "@type": "Product", "sku": "{sku}", "name": "{name}",
  "description": "A peat-free compost for raised beds.", "brand": {{"@type": "Brand", "name": "Terravita"}},
  "offers": {{"@type": "Offer", "price": "8.99", "priceCurrency": "EUR",
              "availability": "https://schema.org/InStock"}}}}
</script></head><body><h1>{name}</h1><a href="/p/other.html">other</a>
<a href="https://elsewhere.example/p/x.html">elsewhere</a><a href="/img/photo.jpg">photo</a></body></html>
""".encode()


def spider(**plan: Any) -> ProductSpider:
    values: dict[str, Any] = {"allowed_domains": ("shop.example",), "max_pages": 100}
    values.update(plan)
    return ProductSpider(plan=CrawlPlan(**values), page_log=PageLog())


def html(
    path: str, body: bytes, content_type: str = "text/html; charset=utf-8", **kw: Any
) -> HtmlResponse:
    url = BASE + path
    return HtmlResponse(
        url, body=body, headers={"Content-Type": content_type}, request=Request(url), **kw
    )


def crawl_page(s: ProductSpider, response: Response) -> list[Request]:
    return list(s.parse_page(response))


# settings


def test_scrapy_settings_obey_robots_throttle_cache_and_retry_only_transient(
    tmp_path: Path,
) -> None:
    settings = scrapy_settings(CrawlOptions(max_page_bytes=123_456), tmp_path)
    assert settings["ROBOTSTXT_OBEY"] is True
    assert settings["AUTOTHROTTLE_ENABLED"] is True
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == CrawlOptions().concurrency_per_domain
    assert settings["DOWNLOAD_MAXSIZE"] == 123_456
    assert settings["HTTPCACHE_ENABLED"] is True
    assert settings["HTTPCACHE_POLICY"] == "scrapy.extensions.httpcache.RFC2616Policy"
    assert settings["HTTPCACHE_DIR"] == str(tmp_path / "httpcache")
    assert settings["DEFAULT_REQUEST_HEADERS"]["Cache-Control"] == "max-age=0"
    assert set(settings["RETRY_HTTP_CODES"]) == set(TRANSIENT_HTTP_CODES)
    assert not {400, 401, 403, 404, 410, 500} & set(settings["RETRY_HTTP_CODES"])
    assert settings["LOG_INSTALL_ROOT_HANDLER"] is False


def test_check_urls_refuses_what_is_not_http() -> None:
    assert check_urls([BASE + "/"]) == [BASE + "/"]
    for bad in ("ftp://shop.example/", "shop.example/p/1", "http:///nohost", "file:///etc/passwd"):
        with pytest.raises(CrawlError, match="not an http"):
            check_urls([bad])


def test_allowed_domains_are_the_hosts_of_start_urls_and_sitemaps() -> None:
    domains = allowed_domains_of(
        [BASE + "/", "http://127.0.0.1:8080/robots.txt", "https://SHOP.example/sitemap.xml"]
    )
    assert domains == ("shop.example", "127.0.0.1")
    assert in_domains("https://www.shop.example/p/1", domains)
    assert in_domains("http://127.0.0.1:9999/p/1", domains)
    assert not in_domains("https://evilshop.example/p/1", domains)
    assert not in_domains("mailto:someone@shop.example", domains)


# content checks and reasons


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"text/html; charset=utf-8", True),
        (b"application/xhtml+xml", True),
        (b"TEXT/HTML", True),
        (None, True),
        (b"image/png", False),
        (b"application/pdf", False),
        (b"text/plain", False),
    ],
)
def test_is_html(header: bytes | None, expected: bool) -> None:
    assert is_html(header) is expected


def test_page_html_uses_the_header_charset_only_when_it_fits() -> None:
    text = "<html><body>Crème</body></html>"
    right = html("/a", text.encode("cp1252"), "text/html; charset=windows-1252")
    assert page_html(right) == text
    wrong = html("/b", text.encode("cp1252"), "text/html; charset=utf-8")
    assert page_html(wrong) == text.encode("cp1252")  # bytes: the extractor sniffs
    missing = html("/c", text.encode("utf-8"), "text/html")
    assert page_html(missing) == text.encode("utf-8")
    binary = html("/d", b"\x89PNG\r\n\x1a\n\x00\x00", "text/html; charset=iso-8859-1")
    assert isinstance(page_html(binary), bytes)


def test_failure_reasons() -> None:
    response = Response(BASE + "/gone", status=404)
    assert failure_reason(HttpError(response), max_bytes=10) == "HTTP 404"
    assert (
        failure_reason(IgnoreRequest("Forbidden by robots.txt"), max_bytes=10)
        == "forbidden by robots.txt"
    )
    assert "redirect" in failure_reason(IgnoreRequest("max redirections reached"), max_bytes=10)
    big = DownloadCancelledError(
        "Expected to receive 2000 bytes which is larger than download max size (1000) in request x."
    )
    assert failure_reason(big, max_bytes=1000) == "page too large: 2000 bytes (limit 1000)"
    assert failure_reason(DownloadCancelledError(), max_bytes=1000).startswith(
        "page too large: over 1000 bytes"
    )
    assert failure_reason(ConnectionRefusedError("refused"), max_bytes=1) == (
        "ConnectionRefusedError: refused"
    )


# the spider's callbacks


def test_a_product_page_gives_a_record_and_follows_in_domain_html_links() -> None:
    s = spider()
    followed = crawl_page(s, html("/p/compost.html", product_page()))
    [outcome] = s.page_log.outcomes
    assert isinstance(outcome, PageRecord)
    assert (outcome.record.id, outcome.owner) == ("shop.example:FS-1", "shop.example")
    assert outcome.url == BASE + "/p/compost.html"
    assert [r.url for r in followed] == [BASE + "/p/other.html"]  # not offsite, not the image
    assert s.page_log.offsite_links == {"https://elsewhere.example/p/x.html": outcome.url}
    assert s.page_log.pages_fetched == 1


def test_a_page_without_a_product_is_skipped_with_the_extractors_reason() -> None:
    s = spider()
    crawl_page(
        s, html("/about.html", b"<html><body><h1>About us</h1><p>Family shop.</p></body></html>")
    )
    [outcome] = s.page_log.outcomes
    assert isinstance(outcome, PageSkipped)
    assert "no product" in outcome.reason


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "text/html", "binary"),
        (b"%PDF-1.7 ...", "application/pdf", "not HTML (Content-Type application/pdf)"),
        (b"", "text/html", "empty"),
        (product_page()[:300], "text/html; charset=utf-8", None),  # truncated: record or reason
    ],
)
def test_bad_pages_never_raise(body: bytes, content_type: str, reason: str | None) -> None:
    s = spider()
    response = Response(BASE + "/x", body=body, headers={"Content-Type": content_type})
    if content_type.startswith("text/html"):
        response = html("/x", body, content_type)
    crawl_page(s, response)
    [outcome] = s.page_log.outcomes
    if reason is not None:
        assert isinstance(outcome, PageSkipped)
        assert reason in outcome.reason


def test_the_extractor_failing_is_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("ingest.pages.spider.extract_product", broken)
    s = spider()
    crawl_page(s, html("/p/1.html", product_page()))
    [outcome] = s.page_log.outcomes
    assert isinstance(outcome, PageSkipped)
    assert outcome.reason == "extractor failed: RuntimeError: boom"


def test_a_revalidated_page_published_before_is_not_extracted_again() -> None:
    url = BASE + "/p/compost.html"
    s = spider(known_urls=frozenset({url}))
    crawl_page(s, html("/p/compost.html", product_page(), flags=["cached"]))
    assert s.page_log.outcomes == [PageUnchanged(url=url)]
    # a cached page never published (e.g. the earlier publish failed) is extracted again
    s = spider()
    crawl_page(s, html("/p/compost.html", product_page(), flags=["cached"]))
    assert isinstance(s.page_log.outcomes[0], PageRecord)


def test_the_page_budget_bounds_requests_and_says_so() -> None:
    s = spider(max_pages=2)
    assert s.page_request(BASE + "/a") is not None
    assert s.page_request(BASE + "/a#reviews") is None  # same page
    assert s.page_request(BASE + "/b") is not None
    assert s.page_request(BASE + "/c") is None
    assert s.page_log.limit_reached


def test_sitemaps_robots_and_indexes(tmp_path: Path) -> None:
    s = spider(max_pages=2)
    robots = TextResponse(
        BASE + "/robots.txt",
        body=(SITE / "robots.txt").read_bytes().replace(b"__BASE__", BASE.encode()),
    )
    [index_request] = list(s._parse_sitemap(robots))
    assert index_request.url == BASE + "/sitemap_index.xml"

    index = XmlResponse(
        BASE + "/sitemap_index.xml",
        body=(SITE / "sitemap_index.xml").read_bytes().replace(b"__BASE__", BASE.encode()),
    )
    assert [r.url for r in s._parse_sitemap(index)] == [
        BASE + "/sitemap-products.xml",
        BASE + "/sitemap-more.xml",
        BASE + "/bad/not-a-sitemap.xml",
    ]
    urlset = XmlResponse(
        BASE + "/sitemap-products.xml",
        body=(SITE / "sitemap-products.xml").read_bytes().replace(b"__BASE__", BASE.encode()),
    )
    pages = list(s._parse_sitemap(urlset))
    assert [r.url for r in pages] == [BASE + "/p/compost.html", BASE + "/p/hose.html"]  # budget
    assert all(r.callback == s.parse_page for r in pages)

    broken = XmlResponse(BASE + "/bad/not-a-sitemap.xml", body=b"<html><body>no</body></html>")
    assert list(s._parse_sitemap(broken)) == []
    assert s.page_log.outcomes == [
        PageSkipped(url=BASE + "/bad/not-a-sitemap.xml", reason="not a sitemap", sitemap=True)
    ]
    assert s.page_log.sitemaps_read == 4


def test_errbacks_redirect_loops_and_unanswered_pages_are_reported() -> None:
    s = spider()
    gone = s.page_request(BASE + "/gone")
    assert gone is not None
    failure = Failure(HttpError(Response(BASE + "/gone", status=404)))  # type: ignore[no-untyped-call]
    failure.request = gone  # type: ignore[attr-defined]
    s.on_page_error(failure)

    loop = s.page_request(BASE + "/loop-a")
    assert loop is not None
    back = loop.replace(
        url=BASE + "/loop-a", meta={"redirect_urls": [BASE + "/loop-a", BASE + "/loop-b"]}
    )
    s.on_dropped(back, s)

    s.page_request(BASE + "/never")
    s.on_closed(s, "finished")
    reasons = {o.url: o.reason for o in s.page_log.outcomes if isinstance(o, PageSkipped)}
    assert reasons == {
        BASE + "/gone": "HTTP 404",
        BASE + "/loop-a": f"redirect loop: {BASE}/loop-a -> {BASE}/loop-b -> {BASE}/loop-a",
        BASE + "/never": "no response (crawl ended: finished)",
    }


# unchanged-record store, publishing, report


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SeenStore]:
    s = SeenStore(tmp_path / "state" / "seen.sqlite3")
    yield s
    s.close()


def test_seen_store_remembers_record_hashes_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite3"
    page = PageRecord(url=BASE + "/p/1", record=record("P1"))
    first = SeenStore(path)
    assert not first.unchanged(page.url, record_hash(page.record))
    first.remember([page])
    first.close()
    again = SeenStore(path)
    assert again.urls() == frozenset({page.url})
    assert again.unchanged(page.url, record_hash(page.record))
    assert not again.unchanged(page.url, record_hash(record("P1", price="1.00")))
    again.close()


def test_only_new_and_changed_records_are_to_publish(store: SeenStore) -> None:
    same = PageRecord(url=BASE + "/p/same", record=record("SAME"))
    changed = PageRecord(url=BASE + "/p/changed", record=record("CH", price="5.00"))
    log = PageLog(
        outcomes=[
            PageRecord(url=same.url, record=record("SAME")),
            PageRecord(url=changed.url, record=record("CH", price="4.00")),
            PageUnchanged(url=BASE + "/p/304"),
            PageSkipped(url=BASE + "/about", reason="no product"),
        ],
        pages_fetched=4,
        sitemaps_read=1,
    )
    store.remember([PageRecord(url=same.url, record=record("SAME", source="crawl:shop.example"))])
    store.remember([changed])
    report, to_publish, _ = _sort_outcomes(log, store)
    assert [p.record.id for p in to_publish] == ["CH"]
    assert to_publish[0].record.source == "crawl:shop.example"
    assert (report.crawled, report.sitemaps, report.unchanged, report.changed) == (4, 1, 2, 1)
    assert len(report.products) == 2
    assert report.skipped == [PageSkipped(url=BASE + "/about", reason="no product")]


def test_publish_goes_through_the_prepare_chain_per_source(
    chunker: Callable[..., Chunker],
) -> None:
    sink = MemorySink()
    pages = [
        PageRecord(url="https://a.example/p/1", record=record("A1", source="crawl:a.example")),
        PageRecord(url="https://b.example/p/1", record=record("B1", source="crawl:b.example")),
        PageRecord(url="https://a.example/p/2", record=record("A2", source="crawl:a.example")),
    ]
    summaries = publish_by_source(items_of(pages), sink, PrepareChain(chunker()))
    assert [(s.source, s.products) for s in summaries] == [
        ("crawl:a.example", 2),
        ("crawl:b.example", 1),
    ]
    assert {m.product_id for m in sink.messages} == {"A1", "A2", "B1"}
    assert sink.flushes == 2


def test_a_product_the_chain_refuses_is_reported_at_its_page(
    chunker: Callable[..., Chunker],
) -> None:
    pages = [
        PageRecord(url="https://a.example/p/1", record=record("A1", source="crawl:a.example")),
        PageRecord(
            url="https://a.example/p/2", record=record("A2", title="TBD", source="crawl:a.example")
        ),
    ]
    summaries = publish_by_source(items_of(pages), MemorySink(), PrepareChain(chunker()))
    assert _rejected_pages(summaries) == [
        PageSkipped(url="https://a.example/p/2", reason="title: placeholder text 'TBD'")
    ]


def test_report_text_and_json() -> None:
    report = CrawlReport(
        crawled=3,
        sitemaps=1,
        products=[PageRecord(url=BASE + "/p/1", record=record("P1"))],
        changed=1,
        unchanged=1,
        skipped=[PageSkipped(url=BASE + "/big", reason="page too large: 9 bytes (limit 1)")],
        seconds=1.25,
    )
    data = report.as_dict()
    assert data["extracted"] == 1
    assert data["products"] == [
        {"url": BASE + "/p/1", "id": "P1", "title": "Tomato Feed 1 L", "owner": None}
    ]
    assert data["skipped"] == [
        {"url": BASE + "/big", "reason": "page too large: 9 bytes (limit 1)", "sitemap": False}
    ]
    assert data["published"]["products"] == 0
    text = "\n".join(report.lines())
    assert "crawled 3 pages (1 sitemaps)" in text
    assert "extracted 1 products (1 new or changed), 1 pages unchanged, 1 skipped" in text
    assert "published 0 products (0 chunks)" in text
    assert f"skipped {BASE}/big: page too large" in text
    report.dry_run = True
    assert "would publish 0 products" in "\n".join(report.lines())
