"""Regenerate the sample product documents in this folder (invented content).

    .venv/bin/python data/sample/docs/make_docs.py

- `water-butt-210l-spec-sheet.pdf`: spec sheet of GA-10100 (two pages: headings, paragraphs,
  a ruled specification table, bulleted lists), written with fpdf2;
- `tomato-feed-sds.docx`: safety data sheet of GA-10001 (Word heading styles, a table, bullets),
  written with python-docx;
- `cordless-mower-manual.md`: user manual of GA-10077 (Markdown).

`manifest.jsonl` maps the three files to their products.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import docx
from fpdf import FPDF

HERE = Path(__file__).resolve().parent
FIXED_DATE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BULLET = "\x95"  # WinAnsi bullet in the PDF core fonts

WATER_BUTT_SPECS = (
    ("Property", "Value"),
    ("Capacity", "210 L"),
    ("Material", "Recycled polyethylene, UV-stabilised"),
    ("Height on stand", "105 cm"),
    ("Diameter", "62 cm"),
    ("Tap", "Brass, 3/4 in BSP"),
    ("Weight (empty)", "9.5 kg"),
)

SDS_COMPOSITION = (
    ("Component", "CAS number", "Concentration"),
    ("Potassium nitrate", "7757-79-1", "10-15 %"),
    ("Urea", "57-13-6", "5-10 %"),
    ("Monoammonium phosphate", "7722-76-1", "1-5 %"),
)

MOWER_MANUAL = """\
# Voltmark 36V Cordless Lawn Mower 42 cm: User Manual

Thank you for choosing the Voltmark 36V mower (kit GA-10077). This manual covers assembly,
charging, mowing and care. Keep it with the mower.

## Safety

- Read this manual before first use.
- Remove both batteries before clearing the chute, adjusting the height or cleaning.
- Keep children, pets and bystanders at least 15 m away while mowing.
- Wear sturdy shoes and long trousers; never mow barefoot.

## Assembly

1. Unfold the lower handle and tighten the two quick-release levers.
2. Clip the upper handle onto the lower handle and route the cable into the clips.
3. Hook the 50 L grass box onto the rear flap.

## Charging the batteries

The kit includes two 18 V 4.0 Ah batteries and a dual charger. A full charge takes about
90 minutes at room temperature. Charge indoors between 10 and 30 °C.

| Charger light | Meaning |
|---|---|
| Green, steady | Battery fully charged |
| Green, flashing | Charging |
| Red, flashing | Battery too hot or too cold; wait |

## Mowing

### Cutting height

Set the cutting height with the central lever: six positions from 25 to 75 mm. Start high in
spring and lower the deck gradually; never remove more than a third of the grass blade at once.

### Run time

Two fully charged 4.0 Ah batteries mow about 350 m² of dry grass at a medium height.

## Care and storage

Clean the deck with a brush after each use; never use a hose or pressure washer. Store the
mower in a dry shed and the batteries indoors, at about half charge, over winter.
"""


def make_spec_sheet(path: Path) -> None:
    """Spec sheet PDF for the water butt (GA-10100)."""
    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title("Water Butt 210 L with Stand and Diverter Kit: Specification Sheet")
    pdf.add_page()
    _pdf_heading(pdf, "Brookline Water Butt 210 L with Stand", 20)
    _pdf_paragraph(
        pdf,
        "Collect rain water from your downpipe and water the garden with it all summer. The "
        "210 L butt stands on a raised base so that a full watering can fits under the tap, "
        "and the child-safe lid locks with a quarter turn.",
    )
    _pdf_heading(pdf, "Specifications", 14)
    pdf.set_font("Helvetica", "", 11)
    with pdf.table(col_widths=(55, 95)) as table:
        for row in WATER_BUTT_SPECS:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.ln(4)
    _pdf_heading(pdf, "In the box", 14)
    for item in ("Water butt with child-safe lid", "Stand", "Brass tap", "Downpipe diverter kit"):
        _pdf_bullet(pdf, item)
    pdf.add_page()
    _pdf_heading(pdf, "Installation", 14)
    _pdf_paragraph(
        pdf,
        "Place the stand on firm, level paving next to the downpipe. Cut the downpipe at the "
        "height marked on the diverter template and fit the diverter. Connect the diverter to "
        "the inlet on the butt with the supplied hose.",
    )
    _pdf_heading(pdf, "Winter care", 14)
    _pdf_paragraph(
        pdf,
        "Drain the butt and open the tap before the first hard frost. Ice can split the tap "
        "housing.",
    )
    pdf.output(str(path))


def _pdf_heading(pdf: FPDF, text: str, size: int) -> None:
    pdf.set_font("Helvetica", "B", size)
    pdf.cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _pdf_paragraph(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _pdf_bullet(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 6, f"{BULLET} {text}", new_x="LMARGIN", new_y="NEXT")


def make_safety_data_sheet(path: Path) -> None:
    """Safety data sheet DOCX for the tomato feed (GA-10001)."""
    document = docx.Document()
    document.core_properties.created = FIXED_DATE.replace(tzinfo=None)
    document.add_heading("Safety Data Sheet: Terravita Tomato Feed Liquid Concentrate", 0)
    document.add_heading("1. Identification", 1)
    document.add_paragraph(
        "Product: Terravita Tomato Feed Liquid Concentrate 1 L (NPK 4-2-8). Use: liquid "
        "fertiliser for tomatoes, peppers and chillies, diluted 20 ml per 4.5 L of water."
    )
    document.add_heading("2. Hazards identification", 1)
    document.add_paragraph(
        "Not classified as hazardous. May cause mild eye irritation in concentrated form."
    )
    document.add_heading("3. Composition", 1)
    table = document.add_table(rows=0, cols=3)
    for row in SDS_COMPOSITION:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value
    document.add_heading("4. First-aid measures", 1)
    for item in (
        "Eyes: rinse with plenty of clean water for several minutes.",
        "Skin: wash with soap and water.",
        "Swallowed: rinse mouth and drink a glass of water; do not induce vomiting.",
    ):
        document.add_paragraph(item, style="List Bullet")
    document.add_heading("7. Handling and storage", 1)
    document.add_heading("Storage", 2)
    document.add_paragraph(
        "Store upright in the original container, away from frost and direct sunlight, out of "
        "reach of children and pets."
    )
    document.add_heading("Disposal", 2)
    document.add_paragraph(
        "Dilute leftover feed and apply it to the garden; recycle the rinsed bottle."
    )
    document.save(str(path))


def main() -> None:
    make_spec_sheet(HERE / "water-butt-210l-spec-sheet.pdf")
    make_safety_data_sheet(HERE / "tomato-feed-sds.docx")
    (HERE / "cordless-mower-manual.md").write_text(MOWER_MANUAL, encoding="utf-8")


if __name__ == "__main__":
    main()
