"""Document parser: PDF, DOCX, HTML, Markdown and text to ordered elements with sections,
bad input as `DocumentError`, everything offline; manifests mapping documents to products.

PDF and DOCX inputs are generated here with fpdf2 and python-docx; the committed samples under
data/sample/docs/ are parsed as saved real inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from ingest.documents import (
    SUPPORTED_SUFFIXES,
    DocumentElement,
    DocumentError,
    DocumentSpec,
    ManifestRejected,
    ParsedDocument,
    parse_document,
    read_manifest,
    specs_for_paths,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOCS = ROOT / "data" / "sample" / "docs"
CATALOG = ROOT / "data" / "sample" / "catalog.jsonl"
BULLET = "\x95"  # the WinAnsi bullet of the PDF core fonts


def kinds(doc: ParsedDocument) -> list[str]:
    return [e.kind for e in doc.elements]


def element(doc: ParsedDocument, text_start: str) -> DocumentElement:
    return next(e for e in doc.elements if e.text.startswith(text_start))


# --------------------------------------------------------------------------- PDF


def write_pdf(path: Path) -> Path:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, "Rain Barrel RB-200", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(
        0,
        6,
        "The RB-200 collects rain water from a downspout. It holds 200 litres, fits most "
        "gutters and comes with a brass tap that takes a standard hose connector.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 9, "Specifications", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    with pdf.table(col_widths=(60, 60)) as table:
        for row in (("Property", "Value"), ("Capacity", "200 L"), ("Material", "Recycled HDPE")):
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 9, "In the box", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for item in ("Barrel with lid", "Brass tap", "Diverter kit"):
        pdf.cell(0, 6, f"{BULLET} {item}", new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 9, "Winter care", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Draining", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, "Drain the barrel before the first frost.")
    pdf.output(str(path))
    return path


def test_pdf_headings_paragraphs_table_list_and_pages(tmp_path: Path) -> None:
    doc = parse_document(write_pdf(tmp_path / "rb-200 spec.pdf"))

    assert doc.name == "rb-200 spec.pdf"
    assert doc.format == "pdf"
    assert doc.title == "Rain Barrel RB-200"
    assert kinds(doc) == [
        "title", "text", "title", "table", "title", "list", "list", "list",
        "title", "title", "text",
    ]  # fmt: skip
    paragraph = doc.elements[1]
    assert paragraph.text.startswith("The RB-200 collects rain water")
    assert paragraph.text.endswith("standard hose connector.")  # wrapped lines joined
    assert paragraph.section == "Rain Barrel RB-200"
    table = element(doc, "Property")
    assert table.kind == "table"
    assert table.text == "Property | Value\nCapacity | 200 L\nMaterial | Recycled HDPE"
    assert table.section == "Rain Barrel RB-200 > Specifications"
    items = [e for e in doc.elements if e.kind == "list"]
    assert [e.text for e in items] == ["Barrel with lid", "Brass tap", "Diverter kit"]
    assert {e.section for e in items} == {"Rain Barrel RB-200 > In the box"}
    last = doc.elements[-1]
    assert last.text == "Drain the barrel before the first frost."
    assert last.section == "Rain Barrel RB-200 > Winter care > Draining"
    assert [e.page for e in doc.elements] == [1] * 8 + [2] * 3


# --------------------------------------------------------------------------- DOCX


def write_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_paragraph("Read this sheet before use.")
    document.add_heading("Safety data", 1)
    document.add_paragraph("Keep out of reach of children.")
    document.add_heading("Storage", 2)
    document.add_paragraph("Store in a cool, dry place.")
    for item in ("Keep the lid closed.", "Do not freeze."):
        document.add_paragraph(item, style="List Bullet")
    document.add_heading("Composition", 1)
    table = document.add_table(rows=0, cols=2)
    for row in (("Component", "Share"), ("Potassium nitrate", "10-15 %"), ("Urea", "5-10 %")):
        cells = table.add_row().cells
        cells[0].text, cells[1].text = row
    document.save(str(path))
    return path


def test_docx_heading_styles_give_nested_sections(tmp_path: Path) -> None:
    doc = parse_document(write_docx(tmp_path / "sds.docx"))

    assert doc.format == "docx"
    assert doc.title == "Safety data"
    got = [(e.kind, e.section, e.text) for e in doc.elements]
    assert got == [
        ("text", "", "Read this sheet before use."),
        ("title", "Safety data", "Safety data"),
        ("text", "Safety data", "Keep out of reach of children."),
        ("title", "Safety data > Storage", "Storage"),
        ("text", "Safety data > Storage", "Store in a cool, dry place."),
        ("list", "Safety data > Storage", "Keep the lid closed."),
        ("list", "Safety data > Storage", "Do not freeze."),
        ("title", "Composition", "Composition"),
        ("table", "Composition", "Component | Share\nPotassium nitrate | 10-15 %\nUrea | 5-10 %"),
    ]


# --------------------------------------------------------------------------- HTML, Markdown, text

HTML = """<!doctype html>
<html><head><title>Hose reel</title><style>p { color: red }</style></head>
<body>
<h1>Hose Reel Cart</h1>
<p>Sturdy   powder-coated steel cart &amp; 30&nbsp;m hose.</p>
<h2>Specifications</h2>
<table><tr><th>Size</th><th>Weight</th></tr><tr><td>30 m</td><td>6.5 kg</td></tr></table>
<h2>Accessories</h2>
<ul><li>Spray gun</li><li>Tap connector</li></ul>
<script>var tracking = 1;</script>
</body></html>
"""

MARKDOWN = """\
# Mower Manual

Read the manual first.

## Assembly

1. Unfold the handle.
2. Fit the grass box.

### Cutting height

Six positions, 25 to 75 mm.

| Light | Meaning |
|---|---|
| Green | Charged |

## Care

Brush the deck after use.
"""

TEXT = """\
GARDEN SPRAYER 5 L

This pressure sprayer applies liquid feed and weed killer.
It has a lockable trigger.

Safety

* Wear gloves.
* Keep away from children.

Store in a cool place.
"""


def test_html(tmp_path: Path) -> None:
    path = tmp_path / "reel.htm"
    path.write_text(HTML, encoding="utf-8")
    doc = parse_document(path)

    assert doc.format == "html"
    assert [(e.kind, e.section, e.text) for e in doc.elements] == [
        ("title", "Hose Reel Cart", "Hose Reel Cart"),
        ("text", "Hose Reel Cart", "Sturdy powder-coated steel cart & 30 m hose."),
        ("title", "Hose Reel Cart > Specifications", "Specifications"),
        ("table", "Hose Reel Cart > Specifications", "Size | Weight\n30 m | 6.5 kg"),
        ("title", "Hose Reel Cart > Accessories", "Accessories"),
        ("list", "Hose Reel Cart > Accessories", "Spray gun"),
        ("list", "Hose Reel Cart > Accessories", "Tap connector"),
    ]
    assert {e.page for e in doc.elements} == {None}


def test_markdown(tmp_path: Path) -> None:
    path = tmp_path / "manual.markdown"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = parse_document(path)

    assert doc.format == "md"
    assert doc.title == "Mower Manual"
    assert [(e.kind, e.section, e.text) for e in doc.elements] == [
        ("title", "Mower Manual", "Mower Manual"),
        ("text", "Mower Manual", "Read the manual first."),
        ("title", "Mower Manual > Assembly", "Assembly"),
        ("list", "Mower Manual > Assembly", "Unfold the handle."),
        ("list", "Mower Manual > Assembly", "Fit the grass box."),
        ("title", "Mower Manual > Assembly > Cutting height", "Cutting height"),
        ("text", "Mower Manual > Assembly > Cutting height", "Six positions, 25 to 75 mm."),
        ("table", "Mower Manual > Assembly > Cutting height", "Light | Meaning\nGreen | Charged"),
        ("title", "Mower Manual > Care", "Care"),
        ("text", "Mower Manual > Care", "Brush the deck after use."),
    ]


def test_plain_text_titles_are_top_level_and_sentences_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "sprayer.txt"
    path.write_text(TEXT, encoding="utf-8")
    doc = parse_document(path)

    assert doc.format == "txt"
    assert doc.title == "GARDEN SPRAYER 5 L"
    assert [(e.kind, e.section, e.text) for e in doc.elements] == [
        ("title", "GARDEN SPRAYER 5 L", "GARDEN SPRAYER 5 L"),
        (
            "text",
            "GARDEN SPRAYER 5 L",
            "This pressure sprayer applies liquid feed and weed killer. It has a lockable trigger.",
        ),
        ("title", "Safety", "Safety"),
        ("list", "Safety", "Wear gloves."),
        ("list", "Safety", "Keep away from children."),
        ("text", "Safety", "Store in a cool place."),
    ]


def test_text_without_headings_is_titled_by_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "care-note.txt"
    path.write_text("Water the plants every morning in dry weather.\n", encoding="latin-1")
    doc = parse_document(path)

    assert doc.title == "care-note"
    assert doc.elements == (
        DocumentElement(
            kind="text",
            text="Water the plants every morning in dry weather.",
            section="",
            page=None,
        ),
    )


def test_legacy_encodings_are_decoded(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes(
        "Engrais liquide pour tomates, dosage : 20 ml dans 4,5 L d'eau.".encode("cp1252")
    )
    assert "dosage : 20 ml" in parse_document(path).elements[0].text


def test_supported_suffixes() -> None:
    assert frozenset({".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"}) == (
        SUPPORTED_SUFFIXES
    )


# --------------------------------------------------------------------------- bad input


def encrypted_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.add_page()
    pdf.set_font("Helvetica", "", 12)
    pdf.cell(0, 10, "Confidential price list")
    pdf.output(str(path))


def shapes_only_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 50)
    pdf.output(str(path))


def truncated_pdf(path: Path) -> None:
    data = write_pdf(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def zip_not_docx(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a Word document")


BAD_INPUTS = {
    "unknown suffix": ("sheet.xlsx", b"PK\x03\x04 spreadsheet", "unsupported format '.xlsx'"),
    "no suffix": ("README", b"text", "unsupported format '(no suffix)'"),
    "empty file": ("empty.pdf", b"", "empty file"),
    "blank text": ("blank.txt", b"  \n\n \t\n", "empty file"),
    "text posing as PDF": ("fake.pdf", b"Just some text, not a PDF.\n", "no %PDF- header"),
    "garbage after PDF header": (
        "garbage.pdf",
        b"%PDF-1.7\n" + bytes(range(256)) * 8,
        "corrupt or unreadable PDF",
    ),
    "binary as text": ("noise.txt", bytes(range(256)) * 8, "binary data, not text"),
    "control characters as text": (
        "controls.md",
        bytes(range(1, 9)) * 50,
        "binary data, not text",
    ),
    "binary as HTML": ("page.html", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    "text posing as DOCX": ("sheet.docx", b"Safety data sheet\n", "not a ZIP package"),
    "legacy or encrypted Word": (
        "old.docx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
        "encrypted (password-protected) Word file or a legacy .doc",
    ),
    "truncated DOCX": ("cut.docx", b"PK\x03\x04\x14\x00\x00\x00", "corrupt or unreadable DOCX"),
    "markup only": ("tags.html", b"<html><body><div> </div></body></html>", "empty document"),
}


@pytest.mark.parametrize(("name", "data", "reason"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_document_error(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_document(path)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("locked.pdf", encrypted_pdf, "encrypted PDF: it needs a password"),
        ("scan.pdf", shapes_only_pdf, r"no text found \(a scanned PDF without a text layer\?\)"),
        ("truncated.pdf", truncated_pdf, "corrupt or unreadable PDF"),
        ("archive.docx", zip_not_docx, "not a DOCX: the package has no word/document.xml"),
    ],
)
def test_bad_generated_files(tmp_path: Path, name: str, make: object, reason: str) -> None:
    path = tmp_path / name
    make(path)  # type: ignore[operator]
    with pytest.raises(DocumentError, match=reason):
        parse_document(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="file not found"):
        parse_document(tmp_path / "nowhere.pdf")


# --------------------------------------------------------------------------- offline

OFFLINE_SCRIPT = """
import socket, sys
from pathlib import Path

attempts = []

def refuse(self, address, *args, **kwargs):
    attempts.append(address)
    raise OSError(f"network disabled in this test: {address}")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse

import spacy
def no_model(name, *args, **kwargs):
    raise AssertionError(f"spacy.load({name!r}) called: a trained model would be needed")
spacy.load = no_model

from ingest.documents.limits import DocumentLimits
from ingest.documents.parse import parse_in_process
import unstructured.nlp.tokenize as tokenize

def no_download(*args, **kwargs):
    raise AssertionError("unstructured tried to download/install a spaCy model")
tokenize._install_spacy_model = no_download
tokenize._download_with_timeout = no_download

for name in sys.argv[1:]:
    doc = parse_in_process(Path(name), DocumentLimits())
    assert doc.elements, name
assert not attempts, attempts
print("offline ok", len(sys.argv) - 1)
"""


def test_parsing_needs_no_network_no_nltk_data_and_no_spacy_model(tmp_path: Path) -> None:
    """A fresh interpreter with sockets refused, an empty NLTK_DATA, `spacy.load` and
    unstructured's model installer booby-trapped parses every format: no model is fetched, no
    analytics ping is sent (it would show up as a refused connection). It parses in its own
    process (`parse_in_process`, what the parser process runs), where the traps are set."""
    files = [write_pdf(tmp_path / "a.pdf"), write_docx(tmp_path / "b.docx")]
    for name, text in (("c.html", HTML), ("d.md", MARKDOWN), ("e.txt", TEXT)):
        files.append(tmp_path / name)
        files[-1].write_text(text, encoding="utf-8")
    nltk_data = tmp_path / "nltk_data"
    nltk_data.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS")}
    env |= {"NLTK_DATA": str(nltk_data), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "offline ok 5" in result.stdout
    assert list(nltk_data.iterdir()) == []


def test_telemetry_is_opted_out_after_import() -> None:
    import ingest.documents  # noqa: F401

    assert os.environ.get("DO_NOT_TRACK") or os.environ.get("SCARF_NO_ANALYTICS")
    from unstructured.utils import _telemetry_opt_out

    assert _telemetry_opt_out()


# --------------------------------------------------------------------------- samples


def test_sample_documents_parse_and_belong_to_catalog_products() -> None:
    catalog = {json.loads(line)["id"] for line in CATALOG.read_text(encoding="utf-8").splitlines()}
    items = list(read_manifest(SAMPLE_DOCS / "manifest.jsonl"))

    assert all(isinstance(item, DocumentSpec) for item in items), items
    specs = [item for item in items if isinstance(item, DocumentSpec)]
    assert {spec.product_id for spec in specs} <= catalog
    docs = {spec.document_id: parse_document(spec.path) for spec in specs}
    assert set(docs) == {"spec-sheet", "safety-data-sheet", "user-manual"}

    sheet = docs["spec-sheet"]
    assert sheet.format == "pdf"
    assert sheet.title == "Brookline Water Butt 210 L with Stand"
    specs_table = element(sheet, "Property | Value")
    assert "Capacity | 210 L" in specs_table.text.splitlines()
    assert specs_table.section.endswith("> Specifications")
    assert element(sheet, "Drain the butt").page == 2

    sds = docs["safety-data-sheet"]
    assert sds.format == "docx"
    assert element(sds, "Store upright").section == "7. Handling and storage > Storage"
    assert element(sds, "Component | CAS number").kind == "table"
    assert next(e.text for e in sds.elements if e.kind == "list").startswith("Eyes: rinse")

    manual = docs["user-manual"]
    assert manual.format == "md"
    assert element(manual, "Set the cutting height").section.endswith("> Mowing > Cutting height")


# --------------------------------------------------------------------------- manifests


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "spec.pdf").write_bytes(b"%PDF-1.7")
    (folder / "sds.docx").write_bytes(b"PK\x03\x04")
    (folder / "sub" / "manual.md").write_text("# Manual\n", encoding="utf-8")
    (folder / "notes.xlsx").write_bytes(b"PK")
    (folder / ".hidden.txt").write_text("draft", encoding="utf-8")
    return folder


def test_jsonl_manifest(docs_dir: Path) -> None:
    manifest = docs_dir / "manifest.jsonl"
    rows = [
        {"path": "spec.pdf", "product_id": "GA-10100", "title": "Water Butt 210 L"},
        {"path": "sub/manual.md", "product_id": "GA-10077", "document_id": "manual"},
        {"path": str(docs_dir / "sds.docx"), "product_id": "GA-10001"},
        {"path": "missing.pdf", "product_id": "GA-10100"},
        {"path": "sds.docx", "product_id": "GA 10001"},
        {"path": "sds.docx", "product_id": ""},
        {"path": "notes.xlsx", "product_id": "GA-10001"},
        {"path": "spec.pdf", "product_id": "GA-10100"},
        {"product_id": "GA-10100"},
        {"path": "spec.pdf", "product_id": "GA-10100", "documentid": "x"},
        {"path": "spec.pdf", "product_id": 10100},
    ]
    lines = [json.dumps(row) for row in rows] + ["", "{not json", "[1, 2]"]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")

    items = list(read_manifest(manifest))

    assert items[:3] == [
        DocumentSpec(
            path=docs_dir / "spec.pdf",
            product_id="GA-10100",
            document_id="spec.pdf",
            title="Water Butt 210 L",
        ),
        DocumentSpec(
            path=docs_dir / "sub" / "manual.md", product_id="GA-10077", document_id="manual"
        ),
        DocumentSpec(path=docs_dir / "sds.docx", product_id="GA-10001", document_id="sds.docx"),
    ]
    rejected = {item.line: item.reason for item in items if isinstance(item, ManifestRejected)}
    assert rejected.keys() == {4, 5, 6, 7, 8, 9, 10, 11, 13, 14}
    assert rejected[4].startswith("document file not found:")
    assert "invalid product_id 'GA 10001'" in rejected[5]
    assert "invalid product_id ''" in rejected[6]
    assert rejected[7] == "unsupported document format '.xlsx'"
    assert rejected[8] == "duplicate document_id 'spec.pdf' for product 'GA-10100'"
    assert rejected[9] == "row has no path"
    assert rejected[10].startswith("unknown column(s) documentid")
    assert rejected[11] == "product_id must be a string, got int"
    assert rejected[13].startswith("invalid JSON")
    assert rejected[14] == "row is not a JSON object"
    raw = next(item.raw for item in items if isinstance(item, ManifestRejected) and item.line == 5)
    assert json.loads(raw)["product_id"] == "GA 10001"


def test_csv_manifest(docs_dir: Path) -> None:
    manifest = docs_dir / "manifest.csv"
    manifest.write_text(
        "path,product_id,document_id,title\n"
        "spec.pdf,GA-10100,,Water Butt 210 L\n"
        "sub/manual.md,GA-10077,manual,\n"
        "gone.docx,GA-10001,,\n"
        "sds.docx,GA\t1,,\n"
        "sds.docx,GA-10001,,,extra\n",
        encoding="utf-8",
    )
    items = list(read_manifest(manifest))

    assert items[:2] == [
        DocumentSpec(
            path=docs_dir / "spec.pdf",
            product_id="GA-10100",
            document_id="spec.pdf",
            title="Water Butt 210 L",
        ),
        DocumentSpec(
            path=docs_dir / "sub" / "manual.md", product_id="GA-10077", document_id="manual"
        ),
    ]
    rejected = {item.line: item.reason for item in items if isinstance(item, ManifestRejected)}
    assert rejected[4].startswith("document file not found:")
    assert "invalid product_id" in rejected[5]
    assert rejected[6] == "row has more fields than the header"


def test_unreadable_manifests(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="manifest not found"):
        list(read_manifest(tmp_path / "none.jsonl"))
    (tmp_path / "m.yaml").write_text("- a\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="unknown manifest format"):
        list(read_manifest(tmp_path / "m.yaml"))
    (tmp_path / "m.csv").write_text("file,product\nspec.pdf,GA-1\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="'path' and 'product_id'"):
        list(read_manifest(tmp_path / "m.csv"))


def test_specs_for_paths_walks_directories_sorted(docs_dir: Path, tmp_path: Path) -> None:
    extra = tmp_path / "leaflet.txt"
    extra.write_text("Leaflet", encoding="utf-8")

    specs = specs_for_paths([extra, docs_dir], "GA-10100")

    assert [(s.path, s.document_id) for s in specs] == [
        (extra, "leaflet.txt"),
        (docs_dir / "sds.docx", "sds.docx"),
        (docs_dir / "spec.pdf", "spec.pdf"),
        (docs_dir / "sub" / "manual.md", "sub/manual.md"),
    ]
    assert {s.product_id for s in specs} == {"GA-10100"}
    assert {s.title for s in specs} == {None}


def test_specs_for_paths_rejects_an_invalid_product_id(docs_dir: Path) -> None:
    with pytest.raises(DocumentError, match="invalid product_id"):
        specs_for_paths([docs_dir], "GA 10100")
