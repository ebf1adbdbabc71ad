"""Hostile and malformed product pages: each page of the corpus with the verdict it must get.

Small pages are saved beside this file (`hostile/`); large ones are generated here. A verdict is
either a product (its namespaced id, and what else the page must report: other products in the
markup, a warning) or a rejection with the words its reason must contain. No page may raise,
print a library traceback, or give a record whose text was decoded with the wrong charset.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.pages.decode import MAX_BYTES
from ingest.pages.dom import MAX_DEPTH, MAX_ELEMENTS
from ingest.pages.extract import extract_product
from ingest.pages.identity import MAX_ID_CHARS
from ingest.pages.structured import MAX_JSONLD_DEPTH

HOSTILE = Path(__file__).parent / "hostile"
URL = "https://shop.example/p/hose-30"
LONG_HOST_URL = "https://" + ".".join(c * 63 for c in "abc") + ".example/p/1"


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a page must give: a product (`product_id`), or a rejection (`reason`)."""

    product_id: str | None = None
    """Id of the record, when the page gives one."""
    reason: str | None = None
    """Words the rejection's reason contains, when it gives none."""
    title: str | None = None
    """The record's title, where it matters (charsets)."""
    others: tuple[str, ...] = ()
    """Skus of the other products the page must report."""
    warning: str | None = None
    """Words one of the page's warnings contains."""


def saved(name: str) -> Callable[[], bytes]:
    return lambda: (HOSTILE / name).read_bytes()


def _product_page(head: str = "", body: str = "") -> bytes:
    return (
        f"<html><head><meta charset='utf-8'><title>Desk lamp</title>{head}</head><body>"
        f"<h1>Desk lamp</h1><p class='price'>€ 9,00</p><p>SKU: DL-1</p>{body}"
        "<button class='add-to-cart'>Add to cart</button></body></html>"
    ).encode()


def _jsonld(value: str) -> str:
    return f'<script type="application/ld+json">{value}</script>'


def _deep_div() -> bytes:
    return _product_page(body="<div>" * (MAX_DEPTH + 40) + "deep" + "</div>" * (MAX_DEPTH + 40))


def _many_elements() -> bytes:
    return _product_page(body="<i></i>" * (MAX_ELEMENTS + 1))


def _huge() -> bytes:
    return _product_page(body="<p>filler text</p>" * (MAX_BYTES // 18 + 1))


def _json_bomb() -> bytes:
    return _product_page(head=_jsonld("[" * 100_000 + "]" * 100_000))


def _json_too_deep() -> bytes:
    depth = MAX_JSONLD_DEPTH + 10
    return _product_page(head=_jsonld('{"a":' * depth + '"x"' + "}" * depth))


def _thousand_products() -> bytes:
    items = ",".join(
        f'{{"@type": "Product", "name": "Lamp model {n}", "sku": "L-{n}", "url": "/p/l-{n}",'
        f' "offers": {{"price": "{n}.00", "priceCurrency": "EUR"}}}}'
        for n in range(1000)
    )
    page = _product_page(head=_jsonld(f"[{items}]")).replace(b"<p>SKU: DL-1</p>", b"")
    return page.replace(b"<h1>Desk lamp</h1>", b"<h1>Lamp model 777</h1>")


def _long_sku() -> bytes:
    product = '{"@type": "Product", "name": "Desk lamp", "sku": "%s"}' % ("S" * 500)
    return _product_page(head=_jsonld(product)).replace(b"<p>SKU: DL-1</p>", b"")


CORPUS: list[tuple[str, Callable[[], bytes], str, Verdict]] = [
    # identity
    ("sku-of-a-catalog-product", saved("sku_hijack.html"), URL, Verdict(product_id="shop.example:V-0001")),
    ("control-characters-in-sku", saved("hostile_ids.html"), URL, Verdict(product_id="shop.example:SAW-1-2-3")),
    ("long-host-name", saved("sku_hijack.html"), LONG_HOST_URL, Verdict(product_id="~")),
    ("500-character-sku", _long_sku, URL, Verdict(product_id="shop.example:SSS")),
    # several products
    ("main-product-by-canonical-url", saved("many_products.html"), URL,
     Verdict(product_id="shop.example:HOSE-30", others=("REEL-1", "GUN-7"))),
    ("main-product-by-heading-among-1000", _thousand_products, URL,
     Verdict(product_id="shop.example:L-777", title="Lamp model 777", others=("L-0", "L-999"))),
    ("listing-without-own-product", saved("listing_only.html"), URL,
     Verdict(product_id="shop.example:RAKE-1", others=("SPADE-2",), warning="none has the page's URL or heading")),
    # charsets
    ("legacy-charset-undeclared", saved("legacy_cp1252_undeclared.html"), URL,
     Verdict(reason="6 replacement characters in the title (the page is not UTF-8 and declares no charset")),
    ("legacy-charset-declared", saved("legacy_cp1252_declared.html"), URL,
     Verdict(product_id="shop.example:CB-3", title="Crème brûlée torch « Flambé »")),
    ("utf8-declared-as-latin1", saved("utf8_declared_latin1.html"), URL,
     Verdict(product_id="shop.example:CB-3", title="Crème brûlée torch « Flambé »")),
    ("utf16-with-bom", saved("utf16_bom.html"), URL,
     Verdict(product_id="shop.example:CB-3", title="Crème brûlée torch « Flambé »")),
    ("double-encoded-title", saved("double_encoded_title.html"), URL, Verdict(reason="mojibake in the title")),
    ("replacement-characters-in-title", saved("replacement_chars_title.html"), URL,
     Verdict(reason="3 replacement characters in the title (the page's own text")),
    # structured data
    ("malformed-json-ld-block", saved("malformed_jsonld.html"), URL,
     Verdict(product_id="shop.example:LX-7", warning="JSON-LD block 1 unreadable, skipped: JSONDecodeError")),
    ("json-ld-with-comments", saved("jsonld_with_comments.html"), URL, Verdict(product_id="shop.example:LX-8")),
    ("xhtml-with-xml-declaration", saved("xhtml_xml_declaration.html"), URL, Verdict(product_id="shop.example:CAN-10")),
    ("json-ld-nesting-bomb", _json_bomb, URL,
     Verdict(product_id="shop.example:DL-1", warning="JSON-LD block 1 unreadable, skipped: RecursionError")),
    ("json-ld-too-deep", _json_too_deep, URL,
     Verdict(product_id="shop.example:DL-1", warning=f"nested deeper than {MAX_JSONLD_DEPTH}")),
    # limits and garbage
    ("html-nesting-too-deep", _deep_div, URL, Verdict(reason=f"nesting too deep: {MAX_DEPTH} levels")),
    ("too-many-elements", _many_elements, URL, Verdict(reason=f"too many elements: more than {MAX_ELEMENTS}")),
    ("over-the-size-limit", _huge, URL, Verdict(reason="page too large")),
    ("gzip-bytes", lambda: gzip.compress(_product_page()), URL, Verdict(reason="binary content")),
    ("nul-bytes", lambda: _product_page().replace(b"<p>", b"<p>\x00\x00"), URL, Verdict(reason="binary content")),
    ("empty", lambda: b" \n ", URL, Verdict(reason="empty page")),
    ("no-markup", lambda: b"Desk lamp 9,00 EUR add to cart", URL, Verdict(reason="no HTML markup")),
    ("script-only", lambda: b"<script>while(1){}</script>", URL, Verdict(reason="no product")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("page", "url", "verdict"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_hostile_page_gets_its_verdict(
    page: Callable[[], bytes], url: str, verdict: Verdict
) -> None:
    result = extract_product(page(), url)
    if verdict.reason is not None:
        assert result.record is None and result.reason is not None
        assert verdict.reason in result.reason
        return
    assert result.record is not None, result.reason
    assert verdict.product_id is not None and verdict.product_id in result.record.id
    assert len(result.record.id) <= MAX_ID_CHARS
    assert verdict.title in (None, result.record.title)
    skus = {o.sku for o in result.other_products}
    assert set(verdict.others) <= skus
    assert result.record.id.removeprefix("shop.example:") not in skus
    if verdict.warning is None:
        assert result.warnings == ()
    else:
        assert any(verdict.warning in w for w in result.warnings), result.warnings


def test_catalog_sites_keep_the_catalog_ids_and_other_sites_get_their_own() -> None:
    page = (HOSTILE / "sku_hijack.html").read_bytes()
    catalog = frozenset({"shop.example"})
    own = extract_product(page, "https://shop.example/p/1", catalog_sites=catalog)
    other = extract_product(page, "https://evil.example/p/1", catalog_sites=catalog)
    port = extract_product(page, "http://Shop.Example:8080/p/1", catalog_sites=catalog)
    assert own.record is not None and (own.record.id, own.owner) == ("V-0001", "catalog")
    assert other.record is not None and (other.record.id, other.owner) == (
        "evil.example:V-0001",
        "evil.example",
    )
    assert port.record is not None and port.record.id == "V-0001"
    unnamed = extract_product(page, None)  # a saved page the operator gives: no site
    assert unnamed.record is not None and (unnamed.record.id, unnamed.owner) == ("V-0001", None)


def test_malformed_json_ld_logs_no_traceback(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    result = extract_product((HOSTILE / "malformed_jsonld.html").read_bytes(), URL)
    assert result.record is not None
    assert not [r for r in caplog.records if r.exc_info or r.name.startswith("extruct")]
    assert capsys.readouterr().err == ""


def _cli() -> CliRunner:
    return CliRunner()


def _run_extract(path: Path, *args: str) -> tuple[int, str, str]:
    import typer

    from infra.cli_extract import extract

    app = typer.Typer()
    app.command()(extract)
    out = _cli().invoke(app, [str(path), *args])
    return out.exit_code, out.stdout, out.stderr


def test_cli_rejects_an_undeclared_legacy_charset(clean_env: pytest.MonkeyPatch) -> None:
    code, stdout, _ = _run_extract(HOSTILE / "legacy_cp1252_undeclared.html", "--url", URL)
    assert code == 1
    assert "declares no charset" in json.loads(stdout)["error"]


def test_cli_warns_in_one_line_and_reports_owner_and_other_products(
    clean_env: pytest.MonkeyPatch,
) -> None:
    code, stdout, stderr = _run_extract(HOSTILE / "malformed_jsonld.html", "--url", URL)
    assert code == 0
    assert stderr.splitlines() == [
        "warning: JSON-LD block 1 unreadable, skipped: JSONDecodeError: Expecting property name"
        " enclosed in double quotes: line 1 column 74 (char 73)"
    ]
    assert json.loads(stdout)["owner"] == "shop.example"
    code, stdout, _ = _run_extract(HOSTILE / "many_products.html", "--url", URL)
    data = json.loads(stdout)
    assert (code, data["sku"], data["id"]) == (0, "HOSE-30", "shop.example:HOSE-30")
    assert [o["sku"] for o in data["other_products"]] == ["REEL-1", "GUN-7"]


def test_cli_maps_catalog_sites_from_the_setting(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRESHINDEX_CRAWL_SITE_CATALOG", "other.example, shop.example")
    _, stdout, _ = _run_extract(HOSTILE / "sku_hijack.html", "--url", URL)
    data = json.loads(stdout)
    assert (data["id"], data["owner"]) == ("V-0001", "catalog")


@pytest.mark.parametrize(("code", "expected"), [("RUR", "RUB"), ("HRK", None), ("XYZ", None)])
def test_a_withdrawn_or_unknown_currency_loses_the_currency_not_the_product(
    code: str, expected: str | None
) -> None:
    product = '{"@type": "Product", "name": "Desk lamp", "sku": "DL-2", "offers": '
    product += f'{{"price": "9.00", "priceCurrency": "{code}"}}}}'
    page = _product_page(head=_jsonld(product)).replace("€ 9,00".encode(), b"9,00")
    result = extract_product(page, URL)
    assert result.record is not None, result.reason
    assert (result.record.price, result.record.currency) == (Decimal(9), expected)
