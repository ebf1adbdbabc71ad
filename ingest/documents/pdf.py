"""PDF text extraction with pdfminer.six: `unstructured`'s "fast" strategy, rebuilt offline.

`unstructured.partition.pdf` cannot be imported here: even its "fast" (pdfminer) path imports
`unstructured_inference`, whose OpenCV needs numpy 2 (this project pins numpy<2 for Triton) and
which brings ONNX Runtime, timm and layout models. So the same engine is driven directly and its
output expressed as `unstructured` elements:

- text lines come from pdfminer's layout analysis, in its reading order;
- headings are lines set larger than the body text, or bold where the body is not; each distinct
  heading style (size, weight) is a level, largest first (`category_depth`);
- lines starting with a bullet (`unstructured`'s bullet patterns) or "1." are list items;
- tables are regions ruled with drawn rectangles or lines (cell borders); their text lines are
  grouped into rows by height and into cells left to right. Borderless tables stay text lines,
  as in `unstructured`'s "fast" strategy, which finds no tables at all.

Pages are laid out one at a time and the text lines and characters so far are counted against
the limits (`max_elements`, `max_text_chars`) after each page, so a PDF with too much text stops
at the page that passes a limit.
"""

from __future__ import annotations

import html
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTChar, LTCurve, LTPage, LTTextBox, LTTextLine
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

from ingest.documents.errors import DocumentError
from ingest.documents.limits import DocumentLimits, count, exceeded

if TYPE_CHECKING:
    from unstructured.documents.elements import Element

logger = logging.getLogger(__name__)

_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_HEADING_SIZE_RATIO = 1.15
_HEADING_MAX_WORDS = 15
_SENTENCE_END = re.compile(r"[.;,]$")
_NUMBERED = re.compile(r"^\d+[.)]\s+\S")
_TOUCH = 1.5  # points: ruling shapes this close belong to the same table; left-edge tolerance
_LINE_GAP = 0.8  # a gap under 0.8 line heights joins lines of a paragraph split across boxes


@dataclass(frozen=True, kw_only=True, eq=False)
class _Line:
    text: str
    size: float
    bold: bool
    box: int
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, kw_only=True)
class _Page:
    lines: tuple[_Line, ...]
    rulings: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True, kw_only=True)
class _Table:
    first: _Line
    members: frozenset[_Line]
    rows: tuple[tuple[str, ...], ...]


def partition_pdf(path: Path, limits: DocumentLimits) -> list[Element]:
    """Elements of a text PDF: titles with levels, paragraphs, list items, ruled tables."""
    pages = _read_pages(path, limits)
    lines = [line for page in pages for line in page.lines]
    body = _body_style(lines)
    levels = _heading_levels(lines, body)
    elements: list[Element] = []
    for number, page in enumerate(pages, start=1):
        elements.extend(_page_elements(page, number, body, levels))
    return elements


def _read_pages(path: Path, limits: DocumentLimits) -> list[_Page]:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pages = _within_limits(
                (_page(layout) for layout in extract_pages(path, laparams=LAParams())), limits
            )
    except PDFPasswordIncorrect as e:
        raise DocumentError("encrypted PDF: it needs a password to open") from e
    except PDFEncryptionError as e:
        raise DocumentError(f"encrypted PDF that pdfminer cannot decrypt: {e}") from e
    for warning in caught:
        logger.debug("pdfminer warning for %s: %s", path.name, warning.message)
    return pages


def _within_limits(pages: Iterator[_Page], limits: DocumentLimits) -> list[_Page]:
    """The pages, stopped at the first one that takes the text lines or characters over a limit."""
    out: list[_Page] = []
    lines = chars = 0
    for page in pages:
        out.append(page)
        lines += len(page.lines)
        chars += sum(len(line.text) for line in page.lines)
        if lines > limits.max_elements:
            limit = count(limits.max_elements)
            raise exceeded(f"more than {limit} text lines by page {len(out)}", "max_elements")
        if chars > limits.max_text_chars:
            limit = count(limits.max_text_chars)
            raise exceeded(
                f"more than {limit} characters of text by page {len(out)}", "max_text_chars"
            )
    return out


def _page(layout: LTPage) -> _Page:
    lines: list[_Line] = []
    rulings: list[tuple[float, float, float, float]] = []
    for index, item in enumerate(layout):
        if isinstance(item, LTTextBox):
            lines.extend(_line(line, index) for line in item if isinstance(line, LTTextLine))
        elif isinstance(item, LTCurve):  # LTRect and LTLine are curves too
            rulings.append(item.bbox)
    return _Page(lines=tuple(line for line in lines if line.text), rulings=tuple(rulings))


def _line(line: LTTextLine, box: int) -> _Line:
    chars = [c for c in line if isinstance(c, LTChar)]
    sizes = Counter(round(c.size, 1) for c in chars)
    bold = sum(1 for c in chars if _BOLD.search(c.fontname)) > len(chars) / 2
    x0, y0, x1, y1 = line.bbox
    return _Line(
        text=" ".join(line.get_text().split()),
        size=sizes.most_common(1)[0][0] if sizes else 0.0,
        bold=bold,
        box=box,
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
    )


def _body_style(lines: Sequence[_Line]) -> tuple[float, bool]:
    """The (size, bold) that most characters are set in."""
    weights: Counter[tuple[float, bool]] = Counter()
    for line in lines:
        weights[(line.size, line.bold)] += len(line.text)
    return weights.most_common(1)[0][0] if weights else (0.0, False)


def _is_heading(line: _Line, body: tuple[float, bool]) -> bool:
    size, bold = body
    if len(line.text.split()) > _HEADING_MAX_WORDS or _SENTENCE_END.search(line.text):
        return False
    if _is_list_start(line.text):
        return False
    return line.size >= size * _HEADING_SIZE_RATIO or (
        line.bold and not bold and line.size >= size - 0.5
    )


def _heading_levels(
    lines: Sequence[_Line], body: tuple[float, bool]
) -> dict[tuple[float, bool], int]:
    styles = {(line.size, line.bold) for line in lines if _is_heading(line, body)}
    ordered = sorted(styles, key=lambda style: (-style[0], not style[1]))
    return {style: level for level, style in enumerate(ordered)}


def _is_list_start(text: str) -> bool:
    from unstructured.partition.text_type import is_bulleted_text

    return is_bulleted_text(text) or _NUMBERED.match(text) is not None


def _page_elements(
    page: _Page, number: int, body: tuple[float, bool], levels: dict[tuple[float, bool], int]
) -> Iterator[Element]:
    tables = _tables(page)
    in_table = {line: table for table in tables for line in table.members}
    group: list[_Line] = []
    for line in page.lines:
        table = in_table.get(line)
        if table is None and group and _continues(group, line, body):
            group.append(line)
            continue
        if group:
            yield _element(group, number, body, levels)
        group = [line] if table is None else []
        if table is not None and table.first is line:
            yield _table_element(table, number)
    if group:
        yield _element(group, number, body, levels)


def _continues(group: list[_Line], line: _Line, body: tuple[float, bool]) -> bool:
    """Whether `line` carries on the paragraph, heading or list item that `group` has begun."""
    first, last = group[0], group[-1]
    if _is_list_start(line.text) or not (line.box == last.box or _next_line(last, line)):
        return False
    if _is_heading(first, body) or _is_heading(line, body):
        return _is_heading(first, body) and (line.size, line.bold) == (first.size, first.bold)
    if _is_list_start(first.text):
        return line.x0 > first.x0 + 1.0  # wrapped item text is indented past the bullet
    return (line.size, line.bold) == (first.size, first.bold)


def _next_line(above: _Line, line: _Line) -> bool:
    """`line` is the next line of the same left-aligned block (pdfminer may box lines apart)."""
    gap = above.y0 - line.y1
    height = max(above.y1 - above.y0, line.y1 - line.y0)
    return 0 <= gap < _LINE_GAP * height and abs(above.x0 - line.x0) < _TOUCH


def _element(
    group: list[_Line], number: int, body: tuple[float, bool], levels: dict[tuple[float, bool], int]
) -> Element:
    from unstructured.cleaners.core import clean_bullets
    from unstructured.documents.elements import ElementMetadata, ListItem, NarrativeText, Title

    text = _join(line.text for line in group)
    first = group[0]
    if _is_heading(first, body):
        depth = levels[(first.size, first.bold)]
        return Title(text=text, metadata=ElementMetadata(page_number=number, category_depth=depth))
    metadata = ElementMetadata(page_number=number)
    if _is_list_start(first.text):
        return ListItem(text=clean_bullets(text), metadata=metadata)
    return NarrativeText(text=text, metadata=metadata)


def _join(texts: Iterator[str]) -> str:
    """Lines of one block as running text; a word hyphenated at a line end is rejoined."""
    out = ""
    for text in texts:
        rejoin = out.endswith("-") and text[:1].islower()
        out = out[:-1] + text if rejoin else f"{out} {text}".lstrip()
    return out


def _tables(page: _Page) -> list[_Table]:
    tables = []
    for region in _ruled_regions(page.rulings):
        members = [line for line in page.lines if _inside(line, region)]
        rows = _rows(members)
        if sum(1 for row in rows if len(row) >= 2) >= 2:
            cells = tuple(tuple(line.text for line in row) for row in rows)
            tables.append(_Table(first=members[0], members=frozenset(members), rows=cells))
    return tables


def _ruled_regions(
    rulings: Sequence[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float]]:
    """Bounding boxes of groups of at least two touching ruling shapes."""
    groups: list[tuple[tuple[float, float, float, float], int]] = []
    for box in rulings:
        merged, count = box, 1
        rest = []
        for other, n in groups:
            if _touch(merged, other):
                merged, count = _union(merged, other), count + n
            else:
                rest.append((other, n))
        groups = [*rest, (merged, count)]
    return [box for box, count in groups if count >= 2]


def _touch(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return not (
        a[2] + _TOUCH < b[0] or b[2] + _TOUCH < a[0] or a[3] + _TOUCH < b[1] or b[3] + _TOUCH < a[1]
    )


def _union(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _inside(line: _Line, region: tuple[float, float, float, float]) -> bool:
    x, y = (line.x0 + line.x1) / 2, (line.y0 + line.y1) / 2
    return region[0] <= x <= region[2] and region[1] <= y <= region[3]


def _rows(lines: Sequence[_Line]) -> list[list[_Line]]:
    """Lines grouped into rows top to bottom (a row: lines whose middles share a height)."""
    rows: list[list[_Line]] = []
    for line in sorted(lines, key=lambda line: -(line.y0 + line.y1) / 2):
        middle = (line.y0 + line.y1) / 2
        if rows and rows[-1][0].y0 <= middle <= rows[-1][0].y1:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda line: line.x0) for row in rows]


def _table_element(table: _Table, number: int) -> Element:
    from unstructured.documents.elements import ElementMetadata, Table

    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return Table(
        text="\n".join(" ".join(row) for row in table.rows),
        metadata=ElementMetadata(page_number=number, text_as_html=f"<table>{body}</table>"),
    )
