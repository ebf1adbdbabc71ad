"""Hostile and malformed documents (issue 14): a regression corpus with a verdict for each.

Every document is generated here, never committed. The bombs cost megabytes, not gigabytes: a
deflate block of 1 MiB of spaces is compressed once and repeated (after a full flush each copy
is a valid continuation of the stream), so a 3 MB DOCX that really inflates to 3.2 GB takes a
second to write and is never inflated by the test. Each case is parsed through the parser
process (`parse_document`), with the default limits or low ones of its own (within the
settings' bounds), and must come back parsed, or rejected: `DocumentLimitExceeded` with the
reason and the limit's variable, `DocumentError` for a broken file.

Then: the default limits refuse the issue's two DOCX bombs at full size in seconds without
inflating them; a parse past the time limit is killed and the next document parses; the limits
are settings; a rejected document is a dead letter and the publish goes on.
"""

from __future__ import annotations

import os
import re
import resource
import struct
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from pydantic import ValidationError

from ingest.documents import DocumentError, DocumentSpec, parse_document, worker
from ingest.documents.errors import DocumentLimitExceeded
from ingest.documents.limits import DocumentLimits, env_var
from ingest.documents.parse import parse_in_process
from ingest.prepare.chain import PrepareChain
from ingest.prepare.chunk import Chunker
from ingest.publish import publish_documents
from schemas.settings import Settings
from tests.unit import docgen
from tests.unit.fakes import MemorySink

MiB = 1 << 20
NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
BODY_START = f'<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>'.encode()
BODY_END = b"</w:body></w:document>"
PARAGRAPH = (
    b"<w:p><w:r><w:t>The RB-200 collects rain water from a downspout and holds 200 litres."
    b"</w:t></w:r></w:p>"
)
SPACES = b" " * MiB
Make = Callable[[Path], Path]


# --------------------------------------------------------------------------- generators


def deflated(head: bytes, filler: bytes, repeats: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of `head + filler * repeats + tail` with its CRC-32 and size, the filler
    compressed once: after a full flush the compressor starts afresh, so its output for the
    filler is the same bytes every time and can be repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(filler) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(filler, crc)
    crc = zlib.crc32(tail, crc)
    return first + block * repeats + last, crc, len(head) + len(filler) * repeats + len(tail)


def raw_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> Path:
    """A ZIP of already deflated members `(name, deflated, crc, declared size)` (under 4 GiB)."""
    out, central = bytearray(), bytearray()
    for name, data, crc, declared in members:
        encoded, offset = name.encode(), len(out)
        sizes = (crc, len(data), declared, len(encoded))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, *sizes, 0) + encoded + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, *sizes, 0, 0, 0, 0, 0, offset
        )
        central += encoded
    count = len(members)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def stored(name: str, text: str) -> tuple[str, bytes, int, int]:
    data, crc, n = deflated(text.encode(), b"", 0, b"")
    return name, data, crc, n


def zip_bomb(inflated_mib: int, name: str = "bomb.docx") -> Make:
    """A DOCX whose word/document.xml is one paragraph of `inflated_mib` MiB of spaces."""

    def make(tmp: Path) -> Path:
        head = BODY_START + b"<w:p><w:r><w:t>x"
        tail = b"</w:t></w:r></w:p>" + BODY_END
        data, crc, n = deflated(head, SPACES, inflated_mib, tail)
        parts = [stored("[Content_Types].xml", CONTENT_TYPES), stored("_rels/.rels", RELS)]
        return raw_zip(tmp / name, [*parts, ("word/document.xml", data, crc, n)])

    return make


def paragraphs_bomb(inflated_mib: int) -> Make:
    """The issue's second DOCX: `inflated_mib` MiB of real paragraphs in a few hundred kB."""
    filler = PARAGRAPH * (MiB // len(PARAGRAPH))

    def make(tmp: Path) -> Path:
        data, crc, n = deflated(BODY_START, filler, inflated_mib, BODY_END)
        parts = [stored("[Content_Types].xml", CONTENT_TYPES), stored("_rels/.rels", RELS)]
        return raw_zip(tmp / "paragraphs.docx", [*parts, ("word/document.xml", data, crc, n)])

    return make


def docx_of(
    body: Iterable[bytes], name: str = "doc.docx", extra: dict[str, bytes] | None = None
) -> Make:
    """A minimal DOCX (zipfile, streamed) with `body` inside <w:body> and extra members."""

    def make(tmp: Path) -> Path:
        path = tmp / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", CONTENT_TYPES)
            archive.writestr("_rels/.rels", RELS)
            for member, data in (extra or {}).items():
                archive.writestr(member, data)
            with archive.open("word/document.xml", "w") as part:
                for piece in (BODY_START, *body, BODY_END):
                    part.write(piece)
        return path

    return make


def paragraphs(n: int) -> Iterator[bytes]:
    return (PARAGRAPH for _ in range(n))


def nested_sdt(levels: int) -> Iterator[bytes]:
    """Content controls nested `levels` deep (two XML elements a level) around a paragraph."""
    yield b"<w:sdt><w:sdtContent>" * levels
    yield PARAGRAPH
    yield b"</w:sdtContent></w:sdt>" * levels


def lying_directory(tmp: Path) -> Path:
    """word/document.xml inflates to 2 MB but the ZIP directory says 1,000 bytes."""
    body = BODY_START + PARAGRAPH * (2 * MiB // len(PARAGRAPH)) + BODY_END
    data, crc, _ = deflated(body, b"", 0, b"")
    parts = [stored("[Content_Types].xml", CONTENT_TYPES), stored("_rels/.rels", RELS)]
    return raw_zip(tmp / "liar.docx", [*parts, ("word/document.xml", data, crc, 1000)])


def many_members(tmp: Path) -> Path:
    path = docx_of(paragraphs(1))(tmp)
    with zipfile.ZipFile(path, "a") as archive:
        for i in range(1000):
            archive.writestr(f"word/media/image{i}.png", b"\x89PNG")
    return path


def incompressible_members(tmp: Path) -> Path:
    """Three 400 kB members that do not compress: 1.2 MB in all."""
    noise = {f"word/media/noise{i}.bin": os.urandom(400_000) for i in range(3)}
    return docx_of(paragraphs(3), extra=noise)(tmp)


def text_file(name: str, text: str) -> Make:
    def make(tmp: Path) -> Path:
        (tmp / name).write_text(text, encoding="utf-8")
        return tmp / name

    return make


def bytes_file(name: str, data: bytes) -> Make:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


def deep_html(levels: int) -> Make:
    text = "<div>" * levels + "Deep text about the RB-200 rain barrel." + "</div>" * levels
    return text_file(f"deep{levels}.html", f"<html><body>{text}</body></html>")


def deep_markdown(levels: int) -> Make:
    return text_file(f"deep{levels}.md", ">" * levels + " Deep text about the rain barrel.\n")


def pdf_lines(pages: int, lines: int, chars: int = 40) -> Make:
    def make(tmp: Path) -> Path:
        pdf = FPDF()
        pdf.set_font("Helvetica", "", 10)
        for page in range(pages):
            pdf.add_page()
            for line in range(lines):
                text = f"Page {page} line {line} " + "x" * chars
                pdf.cell(0, 4, text[:chars], new_x="LMARGIN", new_y="NEXT")
        path = tmp / "lines.pdf"
        pdf.output(str(path))
        return path

    return make


def pdf_stream_bomb(inflated_mib: int) -> Make:
    """A one-page PDF whose content stream (FlateDecode) inflates to `inflated_mib` MiB."""

    def make(tmp: Path) -> Path:
        head = b"BT /F1 12 Tf 72 720 Td (Rain barrel RB-200) Tj ET\n"
        data, _, _ = deflated(head, SPACES, inflated_mib, b"\n")
        adler = zlib.adler32(head)
        for _ in range(inflated_mib):
            adler = zlib.adler32(SPACES, adler)
        stream = b"\x78\xda" + data + struct.pack(">I", zlib.adler32(b"\n", adler))
        return write_pdf_objects(
            tmp / "stream-bomb.pdf",
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
                b" /Resources << /Font << /F1 5 0 R >> >> >>",
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
                + stream
                + b"\nendstream",
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            ],
        )

    return make


def write_pdf_objects(path: Path, objects: list[bytes]) -> Path:
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


def truncated(make: Make) -> Make:
    def cut(tmp: Path) -> Path:
        path = make(tmp)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path

    return cut


def renamed(make: Make, name: str) -> Make:
    def rename(tmp: Path) -> Path:
        return make(tmp).rename(tmp / name)

    return rename


# --------------------------------------------------------------------------- the corpus

LIMIT, ERROR, OK = "limit", "error", "ok"
RATIO_ALLOWED = {"max_compression_ratio": 10_000.0}

CASES: dict[str, tuple[Make, dict[str, Any], str, str]] = {
    # name: (make, limits other than the defaults, verdict, reason or text substring)
    "a real DOCX within the defaults": (
        lambda tmp: docgen.write_docx(tmp / "sds.docx"),
        {},
        OK,
        docgen.DOCX_STORAGE,
    ),
    "zip bomb (300 MiB of spaces)": (
        zip_bomb(300),
        {},
        LIMIT,
        "word/document.xml inflates to 315 MB, over the 200 MB limit "
        "(FRESHINDEX_DOC_MAX_UNCOMPRESSED_BYTES)",
    ),
    "package over the limit in all": (
        incompressible_members,
        {"max_uncompressed_bytes": 1_000_000},
        LIMIT,
        "the package inflates to 1.2 MB, over the 1 MB limit",
    ),
    "compression ratio": (
        zip_bomb(2),
        {},
        LIMIT,
        "over the 100:1 limit (FRESHINDEX_DOC_MAX_COMPRESSION_RATIO)",
    ),
    "too many members": (
        many_members,
        {},
        LIMIT,
        "the package has 1,003 members, over the 1,000 limit (FRESHINDEX_DOC_MAX_ZIP_MEMBERS)",
    ),
    "ZIP directory understating a member": (
        lying_directory,
        {},
        ERROR,
        "corrupt or unreadable DOCX: BadZipFile: Bad CRC-32 for file 'word/document.xml'",
    ),
    "paragraphs DOCX: elements": (
        docx_of(paragraphs(20_000)),
        {"max_elements": 10_000, **RATIO_ALLOWED},
        LIMIT,
        "more than 10,000 markup elements in word/document.xml (FRESHINDEX_DOC_MAX_ELEMENTS)",
    ),
    "paragraphs DOCX: text": (
        docx_of(paragraphs(20_000)),
        {"max_text_chars": 100_000, **RATIO_ALLOWED},
        LIMIT,
        "more than 100,000 characters of text in word/document.xml (FRESHINDEX_DOC_MAX_TEXT_CHARS)",
    ),
    "DOCX nested 300 levels": (
        docx_of(nested_sdt(150)),
        {},
        LIMIT,
        "nesting depth over 200 in word/document.xml (FRESHINDEX_DOC_MAX_DEPTH)",
    ),
    "HTML nested 100,000 deep": (
        deep_html(100_000),
        {},
        LIMIT,
        "nesting depth over 200 (FRESHINDEX_DOC_MAX_DEPTH)",
    ),
    "Markdown quotes nested 100,000 deep": (
        deep_markdown(100_000),
        {},
        LIMIT,
        "nesting depth over 200 (FRESHINDEX_DOC_MAX_DEPTH)",
    ),
    "HTML at the deepest depth allowed keeps its text": (
        deep_html(248),
        {"max_depth": 250},
        OK,
        "Deep text about the RB-200 rain barrel.",
    ),
    "Markdown at the deepest depth allowed keeps its text": (
        deep_markdown(247),
        {"max_depth": 250},
        OK,
        "Deep text about the rain barrel.",
    ),
    "HTML elements": (
        text_file("many.html", "<p>Rain barrel</p>" * 2000),
        {"max_elements": 1000},
        LIMIT,
        "more than 1,000 markup elements (FRESHINDEX_DOC_MAX_ELEMENTS)",
    ),
    "HTML text": (
        text_file("long.html", "<p>" + "rain barrel " * 200 + "</p>"),
        {"max_text_chars": 1000},
        LIMIT,
        "more than 1,000 characters of text (FRESHINDEX_DOC_MAX_TEXT_CHARS)",
    ),
    "HTML markup is not text": (
        text_file("markup.html", '<p class="a-long-class-name">Rain barrel</p>' * 100),
        {"max_text_chars": 2000},
        OK,
        "Rain barrel",
    ),
    "plain text": (
        text_file("long.txt", "rain barrel " * 200),
        {"max_text_chars": 1000},
        LIMIT,
        "more than 1,000 characters of text (FRESHINDEX_DOC_MAX_TEXT_CHARS)",
    ),
    "plain text paragraphs": (
        text_file("paragraphs.txt", "A rain barrel.\n\n" * 200),
        {"max_elements": 100},
        LIMIT,
        "more than 100 elements after parsing (FRESHINDEX_DOC_MAX_ELEMENTS)",
    ),
    "PDF text lines": (
        pdf_lines(pages=3, lines=60),
        {"max_elements": 100},
        LIMIT,
        "more than 100 text lines by page 2 (FRESHINDEX_DOC_MAX_ELEMENTS)",
    ),
    "PDF text": (
        pdf_lines(pages=2, lines=40),
        {"max_text_chars": 1000},
        LIMIT,
        "more than 1,000 characters of text by page 1 (FRESHINDEX_DOC_MAX_TEXT_CHARS)",
    ),
    "file size": (
        text_file("big.txt", "rain barrel\n" * 200),
        {"max_file_bytes": 1024},
        LIMIT,
        "the file is 2.4 kB, over the 1.0 kB limit (FRESHINDEX_DOC_MAX_FILE_BYTES)",
    ),
    "truncated DOCX": (
        truncated(lambda tmp: docgen.write_docx(tmp / "cut.docx")),
        {},
        ERROR,
        "corrupt or unreadable DOCX: BadZipFile",
    ),
    "DOCX with broken XML": (
        docx_of([b"<w:p><w:r><w:t>unclosed"]),
        {},
        ERROR,
        "corrupt or unreadable DOCX: XMLSyntaxError",
    ),
    "truncated PDF": (
        truncated(lambda tmp: docgen.write_pdf(tmp / "cut.pdf")),
        {},
        ERROR,
        "corrupt or unreadable PDF",
    ),
    "PDF named .docx": (
        renamed(lambda tmp: docgen.write_pdf(tmp / "a.pdf"), "a.docx"),
        {},
        ERROR,
        "not a DOCX: the file is not a ZIP package",
    ),
    "DOCX named .pdf": (
        renamed(lambda tmp: docgen.write_docx(tmp / "a.docx"), "a.pdf"),
        {},
        ERROR,
        "not a PDF: the file has no %PDF- header",
    ),
    "spreadsheet named .docx": (
        lambda tmp: raw_zip(tmp / "sheet.docx", [stored("xl/workbook.xml", "<workbook/>")]),
        {},
        ERROR,
        "not a DOCX: the package has no word/document.xml",
    ),
    "empty DOCX": (bytes_file("empty.docx", b""), {}, ERROR, "empty file"),
    "NUL bytes as HTML": (
        bytes_file("nul.html", b"<html>\x00\x00\x00</html>"),
        {},
        ERROR,
        "binary data, not text",
    ),
    # last: these restart the parser process
    "PDF content stream inflating to 300 MiB": (
        pdf_stream_bomb(300),
        {"parse_max_memory_bytes": 100_000_000},
        LIMIT,
        "the parse needed more than 100 MB of memory (FRESHINDEX_DOC_PARSE_MAX_MEMORY_BYTES)",
    ),
}


@pytest.mark.parametrize(("make", "limits", "verdict", "expected"), CASES.values(), ids=CASES)
def test_hostile_document(
    tmp_path: Path, make: Make, limits: dict[str, Any], verdict: str, expected: str
) -> None:
    path = make(tmp_path)
    if verdict == OK:
        doc = parse_document(path, DocumentLimits(**limits))
        assert any(expected in e.text for e in doc.elements), doc.elements
        return
    with pytest.raises(DocumentError) as caught:
        parse_document(path, DocumentLimits(**limits))
    assert expected in str(caught.value)
    assert isinstance(caught.value, DocumentLimitExceeded) == (verdict == LIMIT)


def test_case_limits_are_within_the_settings_bounds(clean_env: pytest.MonkeyPatch) -> None:
    """A case's low limit is one an operator could set (`FRESHINDEX_DOC_*`)."""
    for name, (_, limits, _, _) in CASES.items():
        with clean_env.context() as env:
            for limit, value in limits.items():
                env.setenv(env_var(limit), str(value))
            assert DocumentLimits.configured() == DocumentLimits(**limits), name


# --------------------------------------------------------------------------- the issue's bombs


@contextmanager
def address_space(headroom: int) -> Iterator[None]:
    """Cap this process's address space at its current size plus `headroom` (a test that
    regresses into inflating a bomb fails with MemoryError instead of taking the machine)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    mapped = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + headroom, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            zip_bomb(3072),
            "word/document.xml inflates to 3.2 GB, over the 200 MB limit "
            "(FRESHINDEX_DOC_MAX_UNCOMPRESSED_BYTES)",
        ),
        (
            paragraphs_bomb(100),
            "word/document.xml is compressed 2",  # ~290:1, over the 100:1 limit
        ),
    ],
    ids=["3 GB zip bomb", "100 MB of paragraphs"],
)
def test_default_limits_refuse_the_issue_bombs_from_the_zip_directory(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, make: Make, reason: str
) -> None:
    """The issue's DOCX bombs at full size (3.2 GB of spaces in 3 MB; 100 MB of paragraphs in
    360 kB) with the default settings: refused in under a second, in this process with 200 MB
    of address space to spare, and through the parser process."""
    path = make(tmp_path)
    limits = DocumentLimits.from_settings(Settings())
    with address_space(200 * MiB):
        before, started = peak_rss(), time.perf_counter()
        with pytest.raises(DocumentLimitExceeded, match=re.escape(reason)):
            parse_in_process(path, limits)
        seconds = time.perf_counter() - started
    assert seconds < 1.0
    assert peak_rss() - before < 50 * MiB
    with pytest.raises(DocumentLimitExceeded, match=re.escape(reason)):
        parse_document(path)


def test_the_paragraphs_bomb_is_stopped_by_the_text_limit_when_its_ratio_is_allowed(
    tmp_path: Path,
) -> None:
    """With the ratio check out of the way, the streaming scan stops at the text limit after
    reading a fraction of the 100 MB, holding no tree."""
    path = paragraphs_bomb(100)(tmp_path)
    limits = DocumentLimits(max_compression_ratio=10_000.0)
    with address_space(200 * MiB):
        before = peak_rss()
        with pytest.raises(DocumentLimitExceeded, match="more than 20,000,000 characters"):
            parse_in_process(path, limits)
    assert peak_rss() - before < 50 * MiB


# --------------------------------------------------------------------------- time


def test_a_parse_past_the_time_limit_is_killed_and_the_next_document_parses(
    tmp_path: Path,
) -> None:
    slow = docx_of(paragraphs(20_000), name="slow.docx")(tmp_path)
    limits = DocumentLimits(parse_timeout_s=0.2, max_compression_ratio=10_000.0)
    parse_document(docgen.write_docx(tmp_path / "warm.docx"), limits)
    assert worker._current is not None
    pid = worker._current.process.pid

    started = time.perf_counter()
    with pytest.raises(DocumentLimitExceeded, match=r"parse took over 0\.2 s"):
        parse_document(slow, limits)
    assert time.perf_counter() - started < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left running
    doc = parse_document(docgen.write_docx(tmp_path / "next.docx"), limits)
    assert any(e.text == docgen.DOCX_STORAGE for e in doc.elements)


# --------------------------------------------------------------------------- settings


def test_limits_are_settings_named_in_the_reasons(clean_env: pytest.MonkeyPatch) -> None:
    assert DocumentLimits.configured() == DocumentLimits()
    clean_env.setenv("FRESHINDEX_DOC_MAX_DEPTH", "40")
    clean_env.setenv("FRESHINDEX_DOC_PARSE_TIMEOUT_S", "5")
    assert DocumentLimits.configured() == DocumentLimits(max_depth=40, parse_timeout_s=5.0)
    for name, field in Settings.model_fields.items():
        if name.startswith("doc_"):
            assert field.description and env_var(name[4:]) in field.description, name
    clean_env.setenv("FRESHINDEX_DOC_MAX_DEPTH", "300")  # libxml2 drops text past 255 levels
    with pytest.raises(ValidationError, match="doc_max_depth"):
        Settings()


# --------------------------------------------------------------------------- publishing


def test_a_rejected_document_is_a_dead_letter_and_the_publish_goes_on(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, chunker: Callable[..., Chunker]
) -> None:
    clean_env.setenv("FRESHINDEX_DOC_MAX_TEXT_CHARS", "100000")
    docs = [
        ("bomb", zip_bomb(3072)(tmp_path)),
        ("deep", deep_html(100_000)(tmp_path)),
        ("sds", docgen.write_docx(tmp_path / "sds.docx")),
        ("long", text_file("long.txt", "A rain barrel. " * 10_000)(tmp_path)),
    ]
    specs = [DocumentSpec(path=p, product_id="GA-1", document_id=d) for d, p in docs]
    sink = MemorySink()

    report = publish_documents(specs, sink, PrepareChain(chunker(128, 16)), source="docs")

    assert {c.document for c in sink.chunks} == {"sds"}
    reasons = {letter.payload: letter.message for letter in sink.dead_letters}
    assert reasons.keys() == {"bomb", "deep", "long"}
    assert "inflates to 3.2 GB" in reasons["bomb"]
    assert "nesting depth over 200" in reasons["deep"]
    assert "FRESHINDEX_DOC_MAX_TEXT_CHARS" in reasons["long"]
    assert {letter.error_type for letter in sink.dead_letters} == {"DocumentRejected"}
    assert (report.documents, len(report.rejected_documents)) == (1, 3)


def test_a_worker_started_near_an_inherited_memory_limit_still_gives_the_real_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under a `ulimit -v` close to the parser's own size, its peak sits at the cap before any
    document: a rejection is the document's own reason, not "needed more memory", unless the
    parse itself raised the peak to the cap; the memory reason names the allowance it had."""
    gib = 1 << 30
    memory = worker._Memory(baseline=int(2.9 * gib), cap=3 * gib, allowance=2 * gib)
    peaks = iter([3 * gib - 1, 3 * gib - 1])  # the peak before the parse, then after it
    monkeypatch.setattr(worker, "_vm", lambda field: next(peaks))
    assert not memory.hit_cap(since=next(peaks))
    monkeypatch.setattr(worker, "_vm", lambda field: 3 * gib - 1)
    assert memory.hit_cap(since=int(2.95 * gib))  # this parse rose to the cap
    assert "107 MB" in str(worker._out_of_memory(memory))
    roomy = worker._Memory(baseline=gib, cap=None, allowance=2 * gib)
    assert not roomy.hit_cap(since=None) and "2.1 GB" in str(worker._out_of_memory(roomy))
