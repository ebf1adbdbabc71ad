"""`freshindex crawl` end to end: a fake shop on a local HTTP server, then Kafka, a worker, the index.

The shop (`tests/integration/site/`) has product pages with JSON-LD, a category page, a
robots.txt with a `Sitemap:` line and a `Disallow:`, a sitemap index and two sitemaps. The server
sends ETag/Last-Modified and answers conditional requests with 304, and adds routes for bad
input: huge pages (with and without Content-Length), binary content labelled text/html, an image,
a redirect loop, a redirect to another host, a 404, a page that fails with 503 once, a truncated
page, a page whose header charset is wrong, a page without a product and a sitemap that is not one.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import cli
from workers.ops import wait_until_caught_up

pytestmark = pytest.mark.integration

SITE = Path(__file__).parent / "site"
HUGE = 2 * 1024 * 1024
MAX_PAGE_BYTES = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 64
PRODUCTS = {
    "/p/compost.html": "FS-COMP-50",
    "/p/hose.html": "FS-HOSE-30",
    "/p/rake.html": "FS-RAKE-1",
    "/p/secateurs.html": "FS-SEC-20",
    "/p/tonic.html": "FS-TONIC-1",
    "/bad/flaky.html": "FS-CAN-10",
}
"""Pages that must give a product (path -> product id)."""


@dataclass
class Site:
    """The running fake shop: its address, its files, and what the crawler asked for."""

    base: str
    root: Path
    hits: Counter[str] = field(default_factory=Counter)
    statuses: list[tuple[str, int]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with lock:
                site.hits[path] += 1
                hit = site.hits[path]
            route = _ROUTES.get(path)
            if route is not None:
                route(self, hit)
            else:
                self._static(path)

        def send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            with lock:
                site.statuses.append((self.path, status))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if "no_length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                if name != "no_length":
                    self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def _static(self, path: str) -> None:
            file = site.root / path.lstrip("/")
            if path.endswith("/"):
                file = file / "index.html"
            if not file.is_file() or site.root not in file.resolve().parents:
                self.send(404, b"<html><body>not found</body></html>", "text/html; charset=utf-8")
                return
            body = file.read_bytes().replace(b"__BASE__", site.base.encode())
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            modified = email.utils.formatdate(file.stat().st_mtime, usegmt=True)
            if self.headers.get("If-None-Match") == etag:
                self.send(304, b"", _content_type(file), ETag=etag, no_length="1")
                return
            self.send(200, body, _content_type(file), ETag=etag, Last_Modified=modified)

    return Handler


def _content_type(file: Path) -> str:
    if file.name == "tonic.html":
        return "text/html; charset=utf-8"  # wrong: the page is windows-1252 (its meta says so)
    return {
        ".html": "text/html; charset=utf-8",
        ".xml": "application/xml",
        ".txt": "text/plain; charset=utf-8",
    }.get(file.suffix, "application/octet-stream")


def _huge(h: Any, hit: int) -> None:
    body = b"<html><body><h1>Huge</h1>" + b"<p>filler text</p>" * (HUGE // 16) + b"</body></html>"
    h.send(200, body, "text/html; charset=utf-8")


def _huge_stream(h: Any, hit: int) -> None:
    h.send(200, b"<html><body>" + b"<p>more filler</p>" * (HUGE // 16), "text/html", no_length="1")


def _binary(h: Any, hit: int) -> None:
    h.send(200, PNG, "text/html")


def _binary_with_charset(h: Any, hit: int) -> None:
    h.send(200, PNG, "text/html; charset=utf-8")


def _image(h: Any, hit: int) -> None:
    h.send(200, PNG, "image/png")


def _redirect(to: str) -> Callable[[Any, int], None]:
    def route(h: Any, hit: int) -> None:
        h.send(302, b"", "text/html", Location=to)

    return route


def _flaky(h: Any, hit: int) -> None:
    if hit == 1:
        h.send(503, b"<html><body>busy</body></html>", "text/html", Retry_After="0")
    else:
        h._static("/bad/flaky.html")


def _away(h: Any, hit: int) -> None:
    port = h.server.server_address[1]
    h.send(302, b"", "text/html", Location=f"http://localhost:{port}/p/compost.html")


def _gone(h: Any, hit: int) -> None:
    h.send(404, b"<html><body>gone</body></html>", "text/html; charset=utf-8")


_ROUTES: dict[str, Callable[[Any, int], None]] = {
    "/bad/huge.html": _huge,
    "/bad/huge-stream.html": _huge_stream,
    "/bad/binary.html": _binary,
    "/bad/photo.html": _binary_with_charset,
    "/bad/shop-photo": _image,
    "/bad/loop-a": _redirect("/bad/loop-b"),
    "/bad/loop-b": _redirect("/bad/loop-a"),
    "/bad/flaky.html": _flaky,
    "/bad/gone.html": _gone,
    "/bad/away": _away,
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The fake shop, copied to a folder the test may edit, served on a free local port."""
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    shop = Site(base=f"http://127.0.0.1:{server.server_address[1]}", root=root.resolve())
    server.RequestHandlerClass = _handler(shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield shop
    server.shutdown()
    server.server_close()


def run_crawl(env: dict[str, str], site: Site, *extra: str) -> dict[str, Any]:
    """`freshindex crawl` of the shop as its own process (Twisted's reactor starts once per process)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import typer; from infra.cli_crawl import crawl; typer.run(crawl)",
            site.url("/"),
            "--sitemap",
            site.url("/robots.txt"),
            "--max-page-bytes",
            str(MAX_PAGE_BYTES),
            "--json",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def skip_reasons(report: dict[str, Any], site: Site) -> dict[str, str]:
    return {s["url"].removeprefix(site.base): s["reason"] for s in report["skipped"]}


def extracted_ids(report: dict[str, Any], site: Site) -> dict[str, str]:
    return {p["url"].removeprefix(site.base): p["id"] for p in report["products"]}


def test_bad_pages_are_skipped_with_reasons_and_the_crawl_goes_on(
    site: Site, tmp_path: Path
) -> None:
    env = {**os.environ, "FRESHINDEX_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    report = run_crawl(env, site, "--dry-run")

    ids = extracted_ids(report, site)
    assert {path: ids.get(path) for path in PRODUCTS} == {
        path: f"127.0.0.1:{product_id}" for path, product_id in PRODUCTS.items()
    }  # ids namespaced by site: a crawled page cannot replace a catalog product
    assert report["owners"] == {"127.0.0.1": len(ids)}
    tonic = next(p for p in report["products"] if p["id"] == "127.0.0.1:FS-TONIC-1")
    assert tonic["title"] == "Crème de jardin plant tonic 1 L"  # wrong header charset survived

    reasons = skip_reasons(report, site)
    assert reasons["/private/secret.html"] == "forbidden by robots.txt"
    assert reasons["/bad/huge.html"].startswith("page too large")
    assert reasons["/bad/huge-stream.html"].startswith("page too large")
    assert "binary" in reasons["/bad/binary.html"]
    assert "binary" in reasons["/bad/photo.html"]
    assert "not HTML" in reasons["/bad/shop-photo"]
    assert "redirect" in reasons["/bad/loop-a"]
    assert reasons["/bad/away"].startswith("off-site redirect, not followed: ")
    assert reasons["/bad/gone.html"] == "HTTP 404"
    assert "no product" in reasons["/about.html"]
    assert reasons["/bad/not-a-sitemap.xml"] == "not a sitemap"
    # the truncated page gives its product or a reason, but is never lost
    assert "/bad/truncated.html" in ids or "/bad/truncated.html" in reasons

    assert site.hits["/private/secret.html"] == 0, "robots.txt Disallow was not obeyed"
    assert site.hits["/bad/gone.html"] == 1, "a 404 is not transient: no retry"
    assert site.hits["/bad/flaky.html"] == 2, "a 503 is transient: one retry"
    assert not any("elsewhere" in s["url"] for s in report["skipped"])
    assert report["off_site"]["hosts"] == {"elsewhere.example": 1}
    assert report["off_site"]["redirects"] == 1
    assert report["sitemaps"] == 5  # robots.txt, the index, two sitemaps and the broken one
    assert report["published"]["products"] == len(ids)
    assert report["dry_run"] is True


def test_max_pages_bounds_the_crawl(site: Site, tmp_path: Path) -> None:
    env = {**os.environ, "FRESHINDEX_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    report = run_crawl(env, site, "--dry-run", "--max-pages", "3")
    assert report["limit_reached"] is True
    assert len(report["products"]) + len(report["skipped"]) - _sitemap_skips(report) <= 3


def _sitemap_skips(report: dict[str, Any]) -> int:
    return sum(1 for s in report["skipped"] if s["sitemap"])


def search(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    found = cli(env, "search", query, "-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    hits: list[dict[str, Any]] = json.loads(found.stdout)
    return hits


def test_crawled_products_are_searchable_and_an_unchanged_recrawl_publishes_nothing(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, site: Site
) -> None:
    env = {**env, "FRESHINDEX_CRAWL_SITE_CATALOG": "127.0.0.1"}  # the catalog's own shop
    first = run_crawl(env, site)
    published = set(extracted_ids(first, site).values())
    assert set(PRODUCTS.values()) <= published
    assert first["owners"] == {"catalog": len(published)}
    assert first["published"]["products"] == len(published)

    start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    assert (
        search(env, "expandable garden hose with brass spray gun")[0]["product_id"] == "FS-HOSE-30"
    )
    assert search(env, "peat-free compost for raised beds")[0]["product_id"] == "FS-COMP-50"
    assert search(env, "lawn rake for moss")[0]["product_id"] == "FS-RAKE-1"

    site.statuses.clear()
    second = run_crawl(env, site)
    assert second["published"]["products"] == 0
    assert second["unchanged"] == len(published)
    assert any(status == 304 for _, status in site.statuses), "no conditional request was sent"

    hose = site.root / "p" / "hose.html"
    hose.write_text(hose.read_text().replace("24.50", "19.99"))
    third = run_crawl(env, site)
    assert third["published"]["products"] == 1
    wait_until_caught_up(settings, timeout_s=300)
    top = search(env, "expandable garden hose with brass spray gun")[0]
    assert (top["product_id"], top["price_text"]) == ("FS-HOSE-30", "19.99")
