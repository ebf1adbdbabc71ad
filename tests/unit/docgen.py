"""Small real documents written on the fly for prepare-chain tests: a PDF (fpdf2) and a DOCX
(python-docx), each with headings, paragraphs, a bulleted list and a table, plus a corrupt PDF.

The texts are module constants so tests can check that every one of them reaches a chunk.
"""

from __future__ import annotations

from pathlib import Path

import docx
from fpdf import FPDF

BULLET = "\x95"  # the WinAnsi bullet of the PDF core fonts

PDF_TITLE = "Rain Barrel RB-200"
PDF_PARAGRAPH = (
    "The RB-200 collects rain water from a downspout. It holds 200 litres, fits most gutters "
    "and comes with a brass tap that takes a standard hose connector."
)
PDF_TABLE = (("Property", "Value"), ("Capacity", "200 L"), ("Material", "Recycled HDPE"))
PDF_ITEMS = ("Barrel with lid", "Brass tap", "Diverter kit")
PDF_WINTER = "Drain the barrel before the first frost."
PDF_SECTIONS = {
    "Rain Barrel RB-200",
    "Rain Barrel RB-200 > Specifications",
    "Rain Barrel RB-200 > In the box",
    "Rain Barrel RB-200 > Winter care > Draining",
}
"""Sections of the PDF's chunks (a heading with no text under it makes none)."""

DOCX_INTRO = "Read this sheet before use."
DOCX_HAZARD = "Keep out of reach of children."
DOCX_STORAGE = "Store in a cool, dry place."
DOCX_ITEMS = ("Keep the lid closed.", "Do not freeze.")
DOCX_TABLE = (("Component", "Share"), ("Potassium nitrate", "10-15 %"), ("Urea", "5-10 %"))
DOCX_SECTIONS = {"document", "Safety data", "Safety data > Storage", "Composition"}
"""Sections of the DOCX's chunks: the text before the first heading is `document`."""


def write_pdf(path: Path) -> Path:
    """A two-page spec sheet: title, paragraph, table, list, nested headings."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, PDF_TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, PDF_PARAGRAPH, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    _pdf_heading(pdf, "Specifications", 14)
    with pdf.table(col_widths=(60, 60)) as table:
        for row in PDF_TABLE:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.ln(3)
    _pdf_heading(pdf, "In the box", 14)
    for item in PDF_ITEMS:
        pdf.cell(0, 6, f"{BULLET} {item}", new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    _pdf_heading(pdf, "Winter care", 14)
    _pdf_heading(pdf, "Draining", 12)
    pdf.multi_cell(0, 6, PDF_WINTER)
    pdf.output(str(path))
    return path


def _pdf_heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font("Helvetica", "B", size)
    pdf.cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)


def write_docx(path: Path, *, extra_paragraphs: tuple[str, ...] = ()) -> Path:
    """A safety data sheet: intro, nested headings, paragraphs, a bulleted list, a table;
    `extra_paragraphs` go under the first heading (for garbage-element tests)."""
    document = docx.Document()
    document.add_paragraph(DOCX_INTRO)
    document.add_heading("Safety data", 1)
    document.add_paragraph(DOCX_HAZARD)
    for text in extra_paragraphs:
        document.add_paragraph(text)
    document.add_heading("Storage", 2)
    document.add_paragraph(DOCX_STORAGE)
    for item in DOCX_ITEMS:
        document.add_paragraph(item, style="List Bullet")
    document.add_heading("Composition", 1)
    table = document.add_table(rows=0, cols=2)
    for row in DOCX_TABLE:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = row
    document.save(str(path))
    return path


def write_docx_paragraphs(path: Path, paragraphs: tuple[str, ...]) -> Path:
    """A DOCX of bare paragraphs, no headings."""
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def write_corrupt_pdf(path: Path) -> Path:
    """A file with a PDF header and nothing a PDF reader can use."""
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage \x00\x01\x02 trailer\n")
    return path
