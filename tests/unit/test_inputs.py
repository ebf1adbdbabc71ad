"""Mixed inputs for `freshindex prepare`: which file is what (feed, manifest, page, document),
and the prepare chain run over each with its own report."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.core.items import Location, Rejected
from ingest.inputs import Input, classify, prepare, read_saved_page
from ingest.prepare.chain import (
    Duplicate,
    Outcome,
    PrepareChain,
    Prepared,
    PreparedDocument,
    PrepareReport,
)
from ingest.prepare.chunk import Chunker
from ingest.prepare.dedup import Deduplicator
from tests.unit import docgen

MakeChunker = Callable[..., Chunker]
ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "data" / "sample" / "catalog.jsonl"
SAMPLE_DOCS = ROOT / "data" / "sample" / "docs"

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Brass Garden Tap | Example Shop</title>
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "Product", "name": "Brass Garden Tap 1/2 inch",
 "sku": "BT-12", "brand": {"@type": "Brand", "name": "Aquaflow"},
 "description": "A solid brass outdoor tap with a hose union. Fits standard half inch wall plates.",
 "offers": {"@type": "Offer", "price": "18.50", "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock", "url": "https://shop.example/p/bt-12"}}
</script></head>
<body><h1>Brass Garden Tap 1/2 inch</h1><p>18,50 EUR</p></body></html>
"""


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def kinds(inputs: list[Input]) -> list[tuple[str, str]]:
    return [(i.path.name, i.kind) for i in inputs]


@pytest.fixture
def chain(chunker: MakeChunker) -> Iterator[PrepareChain]:
    with PrepareChain(chunker(128, 16), Deduplicator(":memory:")) as chain:
        yield chain


# --------------------------------------------------------------------------- classify


def test_jsonl_and_csv_feeds_and_manifests(tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [{"id": "A", "title": "Rake"}])
    manifest = write_jsonl(tmp_path / "docs.jsonl", [{"path": "a.pdf", "product_id": "A"}])
    bom_manifest = tmp_path / "bom.csv"
    bom_manifest.write_text("\ufeffpath,product_id\na.pdf,A\n", encoding="utf-8")
    csv_feed = tmp_path / "feed.csv"
    csv_feed.write_text("id,title\nA,Rake\n")
    # a feed row naming a path and product_id is still a feed when it has an id
    odd_feed = write_jsonl(tmp_path / "odd.jsonl", [{"id": "A", "path": "x", "product_id": "A"}])
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    blank_first = tmp_path / "blank.jsonl"
    blank_first.write_text('\n\n{"path": "a.pdf", "product_id": "A"}\n')
    upper = write_jsonl(tmp_path / "UPPER.JSONL", [{"id": "A", "title": "Rake"}])
    paths = [feed, manifest, bom_manifest, csv_feed, odd_feed, broken, blank_first, upper]
    assert kinds(classify(paths)) == [
        ("feed.jsonl", "feed"),
        ("docs.jsonl", "manifest"),
        ("bom.csv", "manifest"),
        ("feed.csv", "feed"),
        ("odd.jsonl", "feed"),
        ("broken.jsonl", "feed"),  # the feed reader reports the bad row
        ("blank.jsonl", "manifest"),
        ("UPPER.JSONL", "feed"),
    ]


@pytest.mark.parametrize(
    "name", ["GA-1__spec sheet.pdf", "GA-1__manual.docx", "GA-1__notes.md", "GA-1__m.HTML"]
)
def test_product_prefix_names_the_product(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    [found] = classify([path], product_id="OTHER")
    assert found == Input(
        path=path, kind="document", product_id="GA-1", document_id=name.split("__", 1)[1]
    )


def test_bare_document_needs_a_product_id(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(b"x")
    [without] = classify([path])
    assert without.kind == "unknown" and "--product-id" in without.reason
    assert "<product-id>__manual.pdf" in without.reason
    [given] = classify([path], product_id="GA-7")
    assert given == Input(path=path, kind="document", product_id="GA-7", document_id="manual.pdf")


@pytest.mark.parametrize("name", ["p.html", "p.htm", "p.html.gz", "P.HTML.GZ", "GA-1__p.html.gz"])
def test_saved_pages(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    assert kinds(classify([path])) == [(name, "page")]


def test_invalid_product_id_prefix(tmp_path: Path) -> None:
    path = tmp_path / "GA 1__manual.pdf"
    path.write_bytes(b"x")
    [found] = classify([path])
    assert found.kind == "unknown" and found.reason == "'GA 1' is not a valid product id"


def test_missing_and_unsupported(tmp_path: Path) -> None:
    (tmp_path / "notes.xlsx").write_bytes(b"x")
    (tmp_path / "README").write_text("x")
    found = classify([tmp_path / "gone.jsonl", tmp_path / "notes.xlsx", tmp_path / "README"])
    assert [(i.kind, i.reason) for i in found] == [
        ("unknown", "no such file"),
        ("unknown", "unsupported input type '.xlsx'"),
        ("unknown", "unsupported input type 'readme'"),
    ]


def test_directories_are_expanded_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "GA-2__z.md").write_text("# Z")
    write_jsonl(tmp_path / "c.jsonl", [{"id": "A", "title": "Rake"}])
    (tmp_path / "a.html").write_text("<html></html>")
    (tmp_path / "empty").mkdir()
    found = classify([tmp_path])
    assert kinds(found) == [("a.html", "page"), ("GA-2__z.md", "document"), ("c.jsonl", "feed")]
    assert [i.path for i in found] == sorted(i.path for i in found)


# --------------------------------------------------------------------------- prepare


def outcome_types(outcomes: list[Outcome]) -> list[str]:
    return [type(o).__name__ for o in outcomes]


def test_mixed_input_has_a_report_per_input(tmp_path: Path, chain: PrepareChain) -> None:
    feed = write_jsonl(
        tmp_path / "feed.jsonl",
        [
            {"id": "T-1", "title": "Brass Garden Tap 1/2 inch", "description": "A solid tap."},
            {"id": "T-2", "title": "TBD"},
            {"id": "T-3", "deleted": True},
        ],
    )
    page = tmp_path / "tap.html.gz"
    page.write_bytes(gzip.compress(PAGE.encode()))
    docgen.write_pdf(tmp_path / "rb-200.pdf")
    docgen.write_docx(tmp_path / "sds.docx")
    manifest = write_jsonl(
        tmp_path / "manifest.jsonl",
        [
            {"path": "rb-200.pdf", "product_id": "GA-1", "document_id": "spec", "title": "Barrel"},
            {"path": "sds.docx", "product_id": "GA-2"},
            {"path": "gone.pdf", "product_id": "GA-3"},
        ],
    )
    results = list(prepare(classify([feed, page, manifest, tmp_path / "x.xlsx"]), chain))
    assert [(i.kind, r.source) for i, r, _ in results] == [
        ("feed", str(feed)),
        ("page", str(page)),
        ("manifest", str(manifest)),
        ("unknown", str(tmp_path / "x.xlsx")),
    ]
    (_, feed_report, feed_out), (_, page_report, page_out) = results[0], results[1]
    assert outcome_types(feed_out) == ["Prepared", "Rejected", "Deletion"]
    assert (feed_report.records_in, feed_report.products, feed_report.deletions) == (3, 1, 1)
    [page_outcome] = page_out
    assert isinstance(page_outcome, Prepared)
    assert {c.product_id for c in page_outcome.chunks} == {"BT-12"}
    assert {c.product.source for c in page_outcome.chunks} == {"page:tap.html.gz"}
    assert page_report.products == 1 and page_report.seconds >= 0
    _, doc_report, doc_out = results[2]
    assert outcome_types(doc_out) == ["PreparedDocument", "PreparedDocument", "Rejected"]
    pdf, docx = doc_out[0], doc_out[1]
    assert isinstance(pdf, PreparedDocument) and isinstance(docx, PreparedDocument)
    assert {(c.product_id, c.document) for c in pdf.chunks} == {("GA-1", "spec")}
    assert {(c.product_id, c.document) for c in docx.chunks} == {("GA-2", "sds.docx")}
    assert all(c.text.startswith(f"Barrel > {docgen.PDF_TITLE}") for c in pdf.chunks)
    assert (doc_report.documents, len(doc_report.rejected), doc_report.records_in) == (2, 1, 3)
    missing = doc_out[2]
    assert isinstance(missing, Rejected) and missing.at == Location(input=str(manifest), line=3)
    assert "document file not found" in missing.reason
    _, unknown_report, unknown_out = results[3]
    assert unknown_report.records_in == len(unknown_report.rejected) == 1
    [unknown] = unknown_out
    assert isinstance(unknown, Rejected) and unknown.at == Location(input=str(tmp_path / "x.xlsx"))
    assert unknown.reason == "x.xlsx: no such file"
    for _, report, _ in results:
        assert_balanced(report)


def assert_balanced(report: PrepareReport) -> None:
    assert report.records_in == (
        report.kept
        + report.deletions
        + len(report.duplicates)
        + len(report.rejected)
        + len(report.rejected_documents)
        + len(report.superseded)
    )


def test_duplicates_are_found_across_inputs(tmp_path: Path, chain: PrepareChain) -> None:
    rows = [json.loads(line) for line in CATALOG.read_text().splitlines()[:20]]
    copy = write_jsonl(tmp_path / "second.jsonl", [rows[3] | {"id": "COPY-4"}])
    results = list(prepare(classify([CATALOG, copy]), chain))
    catalog_report, copy_report = results[0][1], results[1][1]
    assert catalog_report.records_in == catalog_report.products == 150
    [duplicate] = results[1][2]
    assert isinstance(duplicate, Duplicate)
    assert (duplicate.product_id, duplicate.duplicate_of, duplicate.kind) == (
        "COPY-4",
        rows[3]["id"],
        "exact",
    )
    assert copy_report.kept == 0 and len(copy_report.duplicates) == 1


ZIPPED_PAGE = gzip.compress(PAGE.encode())


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("about.html", b"<html><body><p>Our opening hours</p></body></html>", "no product"),
        ("cut.html.gz", ZIPPED_PAGE[: len(ZIPPED_PAGE) // 2], "unreadable page"),
        ("plain.html.gz", PAGE.encode(), "unreadable page: Not a gzipped file"),
    ],
    ids=["no-product", "truncated-gzip", "not-gzip"],
)
def test_page_without_a_product_is_rejected(
    tmp_path: Path, chain: PrepareChain, name: str, data: bytes, reason: str
) -> None:
    page = tmp_path / name
    page.write_bytes(data)
    [(_, report, [outcome])] = list(prepare(classify([page]), chain))
    assert isinstance(outcome, Rejected) and outcome.at == Location(input=str(page))  # no line
    assert outcome.reason.startswith(f"{name}: ") and reason in outcome.reason
    assert len(report.rejected) == 1


@pytest.mark.parametrize(
    "data",
    [b"\x1f\x8b\x08\x00broken gzip", ZIPPED_PAGE[:10] + b"\xff" * 20 + ZIPPED_PAGE[30:]],
    ids=["bad-stream", "corrupt-block"],
)
def test_corrupt_gzip_page_is_rejected_and_the_run_goes_on(
    tmp_path: Path, chain: PrepareChain, data: bytes
) -> None:
    page = tmp_path / "broken.html.gz"
    page.write_bytes(data)
    good = tmp_path / "tap.html"
    good.write_text(PAGE)
    results = list(prepare(classify([page, good]), chain))
    assert [outcome_types(out) for _, _, out in results] == [["Rejected"], ["Prepared"]]


def test_read_saved_page_undoes_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "p.html"
    plain.write_bytes(PAGE.encode())
    zipped = tmp_path / "p.html.gz"
    zipped.write_bytes(gzip.compress(PAGE.encode()))
    unnamed = tmp_path / "q.html"  # gzip bytes without the suffix
    unnamed.write_bytes(gzip.compress(PAGE.encode()))
    assert read_saved_page(plain) == read_saved_page(zipped) == read_saved_page(unnamed)


def test_document_given_with_product_id(tmp_path: Path, chain: PrepareChain) -> None:
    path = docgen.write_docx(tmp_path / "sds.docx")
    [(found, report, [outcome])] = list(prepare(classify([path], product_id="GA-9"), chain))
    assert found.kind == "document" and report.documents == 1
    assert isinstance(outcome, PreparedDocument)
    assert {(c.product_id, c.document) for c in outcome.chunks} == {("GA-9", "sds.docx")}


def test_documents_listed_by_a_manifest_in_the_same_directory(
    tmp_path: Path, chain: PrepareChain
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    docgen.write_docx(folder / "sds.docx")
    write_jsonl(folder / "manifest.jsonl", [{"path": "sds.docx", "product_id": "GA-2"}])
    results = list(prepare(classify([folder]), chain))
    outcomes = [o for _, _, out in results for o in out]
    assert outcome_types(outcomes) == ["PreparedDocument"]


def test_sample_docs_folder_is_not_all_rejected(chain: PrepareChain) -> None:
    # what the folder gives today: the manifest's three documents, and the helper script rejected
    results = list(prepare(classify([SAMPLE_DOCS]), chain))
    prepared = [o for _, _, out in results for o in out if isinstance(o, PreparedDocument)]
    assert {(d.spec.product_id, d.spec.document_id) for d in prepared} == {
        ("GA-10100", "spec-sheet"),
        ("GA-10001", "safety-data-sheet"),
        ("GA-10077", "user-manual"),
    }
    rejected = [o for _, _, out in results for o in out if isinstance(o, Rejected)]
    assert any(r.reason == "make_docs.py: unsupported input type '.py'" for r in rejected)
