"""Product-page extractor: saved pages with expected outputs beside them, bad input, and the dev
set of real pages (F1 floors computed as the project's eval tool computes them)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest.pages.decode import MAX_BYTES
from ingest.pages.extract import extract_product

PAGES = Path(__file__).parent / "pages"
URL = "https://shop.example/p/1"
PEB = Path(__file__).resolve().parents[3] / "shared/data/product-pages"
EVAL_TOOL = Path(__file__).resolve().parents[3] / "shared/tools/eval_extraction.py"
FLOORS = {"price": 0.94, "sku": 0.85, "availability": 0.97}
"""Slightly under what the extractor reaches on the 73 dev pages (0.942, 0.870, 1.000)."""

FIXTURES = sorted(
    p.stem for p in PAGES.glob("*.html") if (PAGES / f"{p.stem}.expected.json").exists()
)


@pytest.mark.parametrize("name", FIXTURES)
def test_saved_page_gives_expected_fields(name: str) -> None:
    result = extract_product((PAGES / f"{name}.html").read_bytes(), URL)
    expected = json.loads((PAGES / f"{name}.expected.json").read_text())
    assert result.record is not None, result.reason
    assert {k: result.fields.get(k) for k in expected} == expected


def test_record_carries_ids_in_attributes_and_price_as_decimal() -> None:
    result = extract_product((PAGES / "jsonld_product.html").read_bytes(), URL)
    assert result.record is not None
    assert result.record.attributes["gtin"] == "4006381333931"
    assert str(result.record.price) == "1299.5"
    assert result.record.source == "crawl:shop.example"


def test_page_without_product_gives_reason() -> None:
    result = extract_product((PAGES / "no_product.html").read_bytes(), URL)
    assert result.record is None
    assert result.reason is not None and "no product" in result.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 64, "binary"),
        (gzip.compress(b"<html></html>"), "binary"),
        (b"just some words, no markup", "no HTML"),
        (b"<html><body>" + b"<p>filler</p>" * (MAX_BYTES // 10) + b"</body></html>", "too large"),
    ],
    ids=["empty", "garbage", "gzip-bytes", "plain-text", "huge"],
)
def test_bad_input_is_a_reason_not_a_crash(content: bytes, reason: str) -> None:
    result = extract_product(content, URL)
    assert result.record is None
    assert result.reason is not None and reason in result.reason


def test_wrong_declared_charset_does_not_crash() -> None:
    page = (
        (PAGES / "jsonld_product.html").read_text().replace('charset="utf-8"', 'charset="bogus-9"')
    )
    result = extract_product(page.encode("utf-8"), None)
    assert (
        result.record is not None and result.record.url == "https://shop.example/p/trail-runner-2"
    )


def test_cli_prints_one_json_object(tmp_path: Path) -> None:
    import typer

    from infra.cli_extract import extract

    app = typer.Typer()
    app.command()(extract)
    page = tmp_path / "page.html.gz"
    page.write_bytes(gzip.compress((PAGES / "microdata_product.html").read_bytes()))
    out = CliRunner().invoke(app, [str(page), "--url", URL])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert (data["price"], data["sku"], data["availability"]) == ("19.99", "GH-25", "OutOfStock")
    missing = CliRunner().invoke(app, [str(PAGES / "no_product.html")])
    assert missing.exit_code == 1 and "error" in json.loads(missing.stdout)


def _eval_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_extraction", EVAL_TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (PEB / "dataset/ground-truth.json").exists() or not EVAL_TOOL.exists(),
    reason=f"dev pages not found at {PEB} (shared/ is beside the checkout only on project machines)",
)
def test_dev_pages_f1_floors() -> None:
    tool = _eval_tool()
    truth: dict[str, Any] = json.loads((PEB / "dataset/ground-truth.json").read_text())
    keys = sorted(k for k in truth if k[0] in "01234567")
    preds = {}
    for key in keys:
        html = gzip.decompress((PEB / f"dataset/html/{key}.html.gz").read_bytes())
        result = extract_product(html, truth[key]["url"])
        preds[key] = tool.to_pred(result.fields if result.record is not None else None)
    scores = {
        attr: tool.f1([tool.match(attr, set(truth[k].get(attr, [])), preds[k][attr]) for k in keys])
        for attr in FLOORS
    }
    assert all(scores[a] >= floor for a, floor in FLOORS.items()), scores


def _product_page(body: str, head: str = "", body_class: str = "") -> bytes:
    return (
        f"<html><head><title>Lamp</title>{head}</head><body class='{body_class}'>"
        f"<h1>Desk Lamp</h1>{body}<button class='add-to-cart'>Add to cart</button></body></html>"
    ).encode()


_JSONLD = (
    '<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "Product",'
    ' "name": "Desk Lamp", "sku": "{sku}", "offers": {{"@type": "Offer", "price": "{price}",'
    ' "priceCurrency": "EUR"}}}}</script>'
)


def test_labelled_product_code_beats_markup_sku() -> None:
    page = _product_page(
        "<p>Product code: 46286401</p>", _JSONLD.format(sku="236840879", price="9")
    )
    assert extract_product(page, URL).fields["sku"] == "46286401"


def test_reference_element_names_variant_product() -> None:
    variants = "".join(_JSONLD.format(sku=f"8451-040-{n}", price="9") for n in (35, 36))
    page = _product_page('<p><span data-qa="product-reference">1002/710</span></p>', variants)
    assert extract_product(page, URL).fields["sku"] == "1002/710"


def test_cjk_product_number_label_in_brackets() -> None:
    page = _product_page("<p>€ 9,00</p><td>〈商品編號：M67296549〉</td>")
    assert extract_product(page, URL).fields["sku"] == "M67296549"


def test_body_state_class_does_not_hide_the_page() -> None:
    page = _product_page("<p>€ 9,00</p><p>SKU: AB-1234</p>", body_class="menu-hide")
    assert extract_product(page, URL).fields["sku"] == "AB-1234"


def test_opengraph_and_visible_price_outvote_markup_price() -> None:
    og = '<meta property="product:price:amount" content="200"><meta property="og:type" content="product">'
    page = _product_page(
        "<div class='product-price'><span class='price'>$200</span></div>",
        og + _JSONLD.format(sku="A1", price="150"),
    )
    assert extract_product(page, URL).fields["price"] == "200"
