"""The prepare chain: garbage filter, dedup and chunking of feed items and documents, the
report that counts every item once, and what `ingest.publish` sends for each outcome."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.core.items import Accepted, Deleted, Location, Rejected, SourceItem
from ingest.documents import DocumentElement, DocumentSpec
from ingest.documents.model import ElementKind
from ingest.prepare.chain import (
    Deletion,
    DocumentRejected,
    DroppedText,
    Duplicate,
    Outcome,
    PrepareChain,
    Prepared,
    PreparedDocument,
    PrepareReport,
    blocks_of,
    combine_reports,
    percentile,
)
from ingest.prepare.chunk import Block, Chunker
from ingest.prepare.dedup import Deduplicator
from ingest.prepare.tokenizer import TokenCounter
from ingest.publish import delete_documents, publish_documents, publish_items
from schemas.models import ProductDeleted, chunk_id
from tests.unit import docgen
from tests.unit.fakes import PUBLISHED, MemorySink, record

MakeChunker = Callable[..., Chunker]
MakeChain = Callable[..., PrepareChain]

DESCRIPTION = (
    "Made from composted garden green waste, screened to 10 mm. Use it to bulk up poor soil, "
    "as a weed-suppressing mulch on borders, or to top up raised beds at the end of each "
    "season. Dig in one to two bags per square metre when preparing new beds."
)
SOIL: dict[str, Any] = {
    "title": "Peat-Free Soil Improver 40 L",
    "brand": "Old Barn Compost Co.",
    "description": DESCRIPTION,
    "attributes": {"volume": "40 L"},
}
HOSE: dict[str, Any] = {
    "title": "Expanding Garden Hose 30 m",
    "brand": "Aquaflow",
    "description": "A light hose that expands to three times its length under water pressure.",
    "attributes": {"length": "30 m"},
}


@pytest.fixture
def make_chain(chunker: MakeChunker) -> Iterator[MakeChain]:
    chains: list[PrepareChain] = []

    def make(*, dedup: bool = True, max_tokens: int = 128) -> PrepareChain:
        chain = PrepareChain(chunker(max_tokens, 16), Deduplicator(":memory:") if dedup else None)
        chains.append(chain)
        return chain

    yield make
    for chain in chains:
        chain.close()


def at(line: int) -> Location:
    """Line `line` of a feed."""
    return Location(input="feed.jsonl", line=line)


def accepted(product_id: str, line: int = 1, **fields: Any) -> Accepted:
    return Accepted(at=at(line), record=record(product_id, **fields))


def run(chain: PrepareChain, items: list[SourceItem]) -> list[Outcome]:
    return [chain.item(item, PUBLISHED) for item in items]


# --------------------------------------------------------------------------- feed items


@pytest.mark.parametrize("dedup", [True, False], ids=["dedup", "no-dedup"])
def test_garbage_title_is_rejected_with_the_reason(make_chain: MakeChain, dedup: bool) -> None:
    [outcome] = run(make_chain(dedup=dedup), [accepted("P-1", line=4, title="TBD")])
    assert isinstance(outcome, Rejected)
    assert (outcome.at.line, outcome.product_id) == (4, "P-1")
    assert outcome.reason == "title: placeholder text 'TBD'"
    assert json.loads(outcome.raw)["id"] == "P-1"


@pytest.mark.parametrize("dedup", [True, False], ids=["dedup", "no-dedup"])
def test_garbage_description_is_dropped_and_reported(make_chain: MakeChain, dedup: bool) -> None:
    [outcome] = run(make_chain(dedup=dedup), [accepted("P-1", description="Lorem ipsum dolor")])
    assert isinstance(outcome, Prepared)
    assert [c.section for c in outcome.chunks] == ["overview"]
    assert outcome.dropped == [
        DroppedText(id="P-1", field="description", reason="placeholder text 'Lorem ipsum dolor'")
    ]


def test_rejected_row_passes_through(make_chain: MakeChain) -> None:
    bad = Rejected(at=at(3), reason="price: Input should be >= 0", raw="{}", product_id="X")
    assert run(make_chain(), [bad]) == [bad]


def test_exact_duplicate_under_another_id(make_chain: MakeChain) -> None:
    first, second = run(make_chain(), [accepted("A", **SOIL), accepted("B", line=2, **SOIL)])
    assert isinstance(first, Prepared) and {c.product_id for c in first.chunks} == {"A"}
    assert second == Duplicate(
        at=at(2), product_id="B", duplicate_of="A", similarity=1.0, kind="exact", was_indexed=False
    )


def test_near_duplicate_under_another_id(make_chain: MakeChain) -> None:
    reworded = SOIL | {"description": DESCRIPTION.replace("Dig in", "Fork in")}
    _, second = run(make_chain(), [accepted("A", **SOIL), accepted("B", **reworded)])
    assert isinstance(second, Duplicate)
    assert (second.duplicate_of, second.kind) == ("A", "near")
    assert 0.7 <= second.similarity < 1.0 and second.similarity == round(second.similarity, 3)


def test_same_id_again_is_an_update(make_chain: MakeChain) -> None:
    outcomes = run(
        make_chain(),
        [accepted("A", **SOIL), accepted("A", **SOIL), accepted("A", **(SOIL | {"price": "9"}))],
    )
    assert all(isinstance(o, Prepared) for o in outcomes)


def test_variant_of_another_size_is_not_a_duplicate(make_chain: MakeChain) -> None:
    larger = SOIL | {"title": "Peat-Free Soil Improver 80 L", "attributes": {"volume": "80 L"}}
    outcomes = run(make_chain(), [accepted("A", **SOIL), accepted("B", **larger)])
    assert [type(o) for o in outcomes] == [Prepared, Prepared]


def test_without_dedup_copies_are_all_kept(make_chain: MakeChain) -> None:
    outcomes = run(make_chain(dedup=False), [accepted("A", **SOIL), accepted("B", **SOIL)])
    assert [type(o) for o in outcomes] == [Prepared, Prepared]


def test_indexed_product_that_becomes_a_duplicate_must_leave(make_chain: MakeChain) -> None:
    chain = make_chain()
    outcomes = run(chain, [accepted("A", **SOIL), accepted("B", **HOSE), accepted("B", **SOIL)])
    assert [type(o) for o in outcomes] == [Prepared, Prepared, Duplicate]
    retracted = outcomes[2]
    assert isinstance(retracted, Duplicate) and retracted.was_indexed
    assert retracted.duplicate_of == "A"
    # a duplicate sent again was never indexed in between: nothing to take out
    [again] = run(chain, [accepted("B", **SOIL)])
    assert isinstance(again, Duplicate) and not again.was_indexed


def test_deletion_makes_dedup_forget(make_chain: MakeChain) -> None:
    chain = make_chain()
    outcomes = run(
        chain,
        [
            accepted("A", **SOIL),
            accepted("B", **SOIL),
            Deleted(at=at(3), product_id="A"),
            accepted("B", line=4, **SOIL),
            accepted("C", line=5, **SOIL),
        ],
    )
    assert [type(o) for o in outcomes] == [Prepared, Duplicate, Deletion, Prepared, Duplicate]
    assert outcomes[2] == Deletion(at=at(3), product_id="A")
    last = outcomes[4]
    assert isinstance(last, Duplicate) and last.duplicate_of == "B"  # B is the canonical now


def test_items_prepares_a_whole_feed_in_order(make_chain: MakeChain) -> None:
    items: list[SourceItem] = [accepted("A", **SOIL), Deleted(at=at(2), product_id="Z")]
    outcomes = list(make_chain().items(items))
    assert [type(o) for o in outcomes] == [Prepared, Deletion]
    first = outcomes[0]
    assert isinstance(first, Prepared)
    assert all(c.published_at.tzinfo is not None for c in first.chunks)


# --------------------------------------------------------------------------- documents


def spec(
    path: Path, *, title: str | None = "Rain Barrel 200 L", document: str = "spec"
) -> DocumentSpec:
    return DocumentSpec(path=path, product_id="GA-1", document_id=document, title=title)


def test_pdf_document(make_chain: MakeChain, tmp_path: Path, tokens: TokenCounter) -> None:
    path = docgen.write_pdf(tmp_path / "rb-200.pdf")
    outcome = make_chain(max_tokens=64).document(spec(path), PUBLISHED)
    assert isinstance(outcome, PreparedDocument), outcome
    chunks = outcome.chunks
    assert outcome.dropped == []
    assert {c.document for c in chunks} == {"spec"} and {c.product_id for c in chunks} == {"GA-1"}
    assert [c.chunk_id for c in chunks] == [chunk_id("GA-1", i, "spec") for i in range(len(chunks))]
    assert {c.section for c in chunks} == docgen.PDF_SECTIONS
    for chunk in chunks:
        # the product title, then the heading path (which starts with the document's title)
        assert chunk.section.startswith(docgen.PDF_TITLE)
        assert chunk.text.startswith(f"Rain Barrel 200 L > {chunk.section}: ")
        assert chunk.token_count == tokens.count(chunk.text) <= 64
        assert (chunk.product.title, chunk.product.source) == (
            "Rain Barrel 200 L",
            "doc:rb-200.pdf",
        )
    text = " ".join(c.text for c in chunks)
    for piece in (docgen.PDF_WINTER, *docgen.PDF_ITEMS, "Capacity | 200 L", "Property | Value"):
        assert piece in text
    assert "It holds 200 litres" in text


def test_docx_document_without_a_manifest_title(make_chain: MakeChain, tmp_path: Path) -> None:
    path = docgen.write_docx(tmp_path / "sds.docx")
    outcome = make_chain().document(spec(path, title=None, document="sds.docx"), PUBLISHED)
    assert isinstance(outcome, PreparedDocument), outcome
    chunks = outcome.chunks
    assert {c.section for c in chunks} == docgen.DOCX_SECTIONS
    by_section = {c.section: c.text for c in chunks}
    # no manifest title: the document's first heading is the context and the product title
    assert by_section["document"] == f"Safety data: {docgen.DOCX_INTRO}"
    assert by_section["Safety data > Storage"] == (
        f"Safety data > Storage: {docgen.DOCX_STORAGE} {' '.join(docgen.DOCX_ITEMS)}"
    )
    assert by_section["Composition"].startswith("Safety data > Composition: Component | Share\n")
    assert {c.product.title for c in chunks} == {"Safety data"}
    assert {c.document for c in chunks} == {"sds.docx"}


def test_garbage_elements_are_dropped_and_reported(make_chain: MakeChain, tmp_path: Path) -> None:
    path = docgen.write_docx(tmp_path / "sds.docx", extra_paragraphs=("N/A", "xxx"))
    outcome = make_chain().document(spec(path), PUBLISHED)
    assert isinstance(outcome, PreparedDocument)
    assert [(d.id, d.reason) for d in outcome.dropped] == [
        ("GA-1/spec", "placeholder text 'N/A'"),
        ("GA-1/spec", "placeholder text 'xxx'"),
    ]
    assert all(
        d.field.startswith("element ") and d.field.endswith("(text)") for d in outcome.dropped
    )
    assert not any("N/A" in c.text or "xxx" in c.text for c in outcome.chunks)


def test_document_of_only_garbage_is_rejected(make_chain: MakeChain, tmp_path: Path) -> None:
    path = docgen.write_docx_paragraphs(tmp_path / "empty.docx", ("TBD", "---", "Lorem ipsum"))
    outcome = make_chain().document(spec(path), PUBLISHED)
    assert isinstance(outcome, DocumentRejected)
    assert outcome.reason == "no indexable text (every element was empty or garbage)"


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        ("bad.pdf", docgen.write_corrupt_pdf, "corrupt or unreadable PDF"),
        ("fake.pdf", lambda p: p.write_text("just text") and p, "not a PDF"),
        ("fake.docx", lambda p: p.write_text("just text") and p, "not a DOCX"),
    ],
)
def test_unreadable_document_is_rejected_with_the_reason(
    make_chain: MakeChain, tmp_path: Path, name: str, write: Callable[[Path], Any], reason: str
) -> None:
    path = tmp_path / name
    write(path)
    document = spec(path)
    outcome = make_chain().document(document, PUBLISHED)
    assert isinstance(outcome, DocumentRejected)
    assert outcome.spec == document and reason in outcome.reason


def test_missing_document_is_rejected(make_chain: MakeChain, tmp_path: Path) -> None:
    outcome = make_chain().document(spec(tmp_path / "gone.pdf"), PUBLISHED)
    assert isinstance(outcome, DocumentRejected) and "file not found" in outcome.reason


# --------------------------------------------------------------------------- blocks_of


def element(kind: ElementKind, text: str, section: str) -> DocumentElement:
    return DocumentElement(kind=kind, text=text, section=section, page=None)


def test_blocks_group_free_text_by_section_and_keep_tables_apart() -> None:
    elements = [
        element("text", "Intro.", ""),
        element("text", "Use weekly.", "Use"),
        element("list", "Brass tap", "Use"),
        element("table", "A | B\n1 | 2", "Use"),
        element("text", "After the table.", "Use"),
        element("text", "Drain it.", "Use > Winter"),
        element("table", "C | D\n3 | 4", "Use > Winter"),
        element("table", "E | F\n5 | 6", "Use > Winter"),
    ]
    assert blocks_of(elements) == [
        Block(section="", text="Intro."),
        Block(section="Use", text="Use weekly.\nBrass tap"),
        Block(section="Use", text="A | B\n1 | 2", is_table=True),
        Block(section="Use", text="After the table."),
        Block(section="Use > Winter", text="Drain it."),
        Block(section="Use > Winter", text="C | D\n3 | 4", is_table=True),
        Block(section="Use > Winter", text="E | F\n5 | 6", is_table=True),
    ]
    assert blocks_of([]) == []


# --------------------------------------------------------------------------- report


def mixed_run(chain: PrepareChain, tmp_path: Path) -> PrepareReport:
    report = PrepareReport(source="mixed")
    items: list[SourceItem] = [
        accepted("A", line=1, **SOIL),
        accepted("B", line=2, **SOIL),  # duplicate
        accepted("C", line=3, title="N/A"),  # rejected
        accepted("D", line=4, **(HOSE | {"description": "coming soon"})),  # kept, dropped text
        Deleted(at=at(5), product_id="E"),
        Rejected(at=at(6), reason="title: Field required", raw="{}", product_id="F"),
    ]
    for outcome in chain.items(items):
        report.add(outcome)
    report.add(chain.document(spec(docgen.write_docx(tmp_path / "sds.docx")), PUBLISHED))
    report.add(chain.document(spec(docgen.write_corrupt_pdf(tmp_path / "bad.pdf")), PUBLISHED))
    return report


def test_report_counts_every_item_once(make_chain: MakeChain, tmp_path: Path) -> None:
    report = mixed_run(make_chain(), tmp_path)
    assert report.records_in == 8
    assert (report.products, report.documents, report.kept, report.deletions) == (2, 1, 3, 1)
    assert report.records_in == (
        report.kept
        + report.deletions
        + len(report.duplicates)
        + len(report.rejected)
        + len(report.rejected_documents)
    )
    assert [r.product_id for r in report.rejected] == ["C", "F"]
    assert len(report.rejected_documents) == 1
    assert [(d.id, d.field) for d in report.dropped] == [("D", "description")]
    assert report.chunks == len(report.token_counts) > 3


def test_report_as_dict(make_chain: MakeChain, tmp_path: Path) -> None:
    report = mixed_run(make_chain(), tmp_path)
    data = report.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["source"] == "mixed"
    assert (data["records_in"], data["kept"], data["deletions"], data["retracted"]) == (8, 3, 1, 0)
    duplicates: Any = data["duplicates"]
    assert [(d["id"], d["duplicate_of"], d["similarity"]) for d in duplicates] == [("B", "A", 1.0)]
    rejected: Any = data["rejected"]
    assert [(r.get("line"), r["id"]) for r in rejected] == [(3, "C"), (6, "F"), (None, "GA-1/spec")]
    assert rejected[0]["reason"] == "title: placeholder text 'N/A'"
    assert rejected[2]["path"].endswith("bad.pdf") and "PDF" in rejected[2]["reason"]
    assert all(r["source"] == "mixed" for r in rejected)
    tokens = report.token_counts
    assert data["chunks"] == {
        "count": report.chunks,
        "tokens_p50": percentile(tokens, 50),
        "tokens_p95": percentile(tokens, 95),
        "tokens_max": max(tokens),
    }
    dropped: Any = data["dropped"]
    assert dropped == [
        {
            "id": "D",
            "field": "description",
            "reason": "placeholder text 'coming soon'",
            "source": "mixed",
        }
    ]


def test_retracted_duplicates_are_counted(make_chain: MakeChain) -> None:
    report = PrepareReport(source="s")
    chain = make_chain()
    for outcome in chain.items(
        [accepted("A", **SOIL), accepted("B", **HOSE), accepted("B", **SOIL)]
    ):
        report.add(outcome)
    # B's first row is superseded by its second, which duplicates A: one product in the end
    assert (report.products, len(report.duplicates), report.retracted) == (1, 1, 1)
    assert [(s.id, s.was) for s in report.superseded] == [("B", "product")]
    assert report.as_dict()["retracted"] == 1


def test_combine_reports() -> None:
    first = PrepareReport(source="a.jsonl", records_in=3, products=2, chunks=3, deletions=1)
    first.token_counts = [10, 20, 30]
    first.seconds = 0.25
    second = PrepareReport(source="b.pdf", records_in=2, documents=1, chunks=2)
    second.token_counts = [40, 50]
    second.rejected = [Rejected(at=at(2), reason="bad", raw="{}", product_id="X")]
    second.seconds = 0.5
    data = combine_reports([first, second], source="prepare")
    assert data["source"] == "prepare"
    assert (data["records_in"], data["kept"], data["products"], data["documents"]) == (5, 3, 2, 1)
    assert data["deletions"] == 1 and data["seconds"] == 0.75
    assert data["rejected"] == [{"line": 2, "id": "X", "reason": "bad", "source": "b.pdf"}]
    assert data["chunks"] == {"count": 5, "tokens_p50": 30, "tokens_p95": 50, "tokens_max": 50}
    empty = combine_reports([], source="nothing")
    assert empty["chunks"] == {"count": 0, "tokens_p50": 0, "tokens_p95": 0, "tokens_max": 0}


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, 0),
        ([7], 50, 7),
        ([7], 95, 7),
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 100, 100),
        (list(range(1, 101)), 0, 1),
        ([30, 10, 20], 50, 20),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4], 51, 3),
    ],
)
def test_percentile_is_nearest_rank(values: list[int], q: float, expected: int) -> None:
    assert percentile(values, q) == expected


# --------------------------------------------------------------------------- publish


def test_publish_sends_nothing_for_a_duplicate(make_chain: MakeChain) -> None:
    sink = MemorySink()
    report = publish_items(
        [accepted("A", **SOIL), accepted("B", line=2, **SOIL)], sink, make_chain(), source="f"
    )
    assert {m.product_id for m in sink.messages} == {"A"}
    assert sink.dead_letters == [] and sink.flushes == 1
    assert [d.product_id for d in report.duplicates] == ["B"] and report.retracted == 0


def test_publish_deletes_a_formerly_indexed_duplicate(make_chain: MakeChain) -> None:
    sink = MemorySink()
    items: list[SourceItem] = [accepted("A", **SOIL), accepted("B", **HOSE), accepted("B", **SOIL)]
    report = publish_items(items, sink, make_chain(), source="f")
    last = sink.messages[-1]
    assert isinstance(last, ProductDeleted) and last.product_id == "B" and last.document is None
    assert not any(isinstance(m, ProductDeleted) for m in sink.messages[:-1])
    assert report.retracted == 1


def test_publish_rejected_title_is_a_feed_dead_letter(make_chain: MakeChain) -> None:
    sink = MemorySink()
    publish_items([accepted("A", line=9, title="xxx")], sink, make_chain(), source="feed:f.jsonl")
    [letter] = sink.dead_letters
    assert (letter.stage, letter.line, letter.key) == ("feed", 9, "A")
    assert letter.message == "title: placeholder text 'xxx'"
    assert sink.messages == []


def test_publish_documents(make_chain: MakeChain, tmp_path: Path) -> None:
    sink = MemorySink()
    good = spec(docgen.write_docx(tmp_path / "sds.docx"), document="sds")
    bad = spec(docgen.write_corrupt_pdf(tmp_path / "bad.pdf"), document="bad.pdf")
    report = publish_documents([good, bad], sink, make_chain(), source="documents")
    assert sink.chunks and {c.document for c in sink.chunks} == {"sds"}
    assert [c.chunk_index for c in sink.chunks] == list(range(len(sink.chunks)))
    [letter] = sink.dead_letters
    assert (letter.stage, letter.error_type) == ("document", "DocumentRejected")
    assert (letter.key, letter.payload) == ("GA-1", "bad.pdf")
    assert letter.source == str(bad.path) and "PDF" in letter.message
    assert (report.documents, len(report.rejected_documents), report.records_in) == (1, 1, 2)
    assert sink.flushes == 1


def test_delete_documents_sends_document_tombstones() -> None:
    sink = MemorySink()
    assert delete_documents([("GA-1", "spec-sheet.pdf"), ("GA-2", "manual")], sink) == 2
    assert sink.messages == [
        ProductDeleted(
            product_id="GA-1", document="spec-sheet.pdf", published_at=sink.messages[0].published_at
        ),
        ProductDeleted(
            product_id="GA-2", document="manual", published_at=sink.messages[1].published_at
        ),
    ]
    assert sink.flushes == 1
