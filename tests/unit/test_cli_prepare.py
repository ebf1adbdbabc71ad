"""`freshindex prepare` end to end on mixed inputs (feeds, a duplicate under a second id, a
garbage row, a PDF and a DOCX): the chunks file is valid chunks-topic messages and the report
says what was kept, dropped and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from infra.cli import app
from ingest.core.text import clean_line, clean_text
from schemas.models import CHUNKS_TOPIC_MESSAGE, Chunk, ProductDeleted
from tests.unit import docgen
from tests.unit.fakes import MemorySink

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "data" / "sample" / "catalog.jsonl"
TAP = {
    "id": "T-1",
    "title": "Brass Garden Tap 1/2 inch",
    "brand": "Aquaflow",
    "description": "A solid brass outdoor tap with a hose union. It fits standard half inch "
    "wall plates and comes with a double check valve against back-flow.",
    "attributes": {"size": "1/2 inch"},
}
CAN = {
    "id": "W-1",
    "title": "Galvanised Watering Can 10 L",
    "brand": "Haws",
    "description": "A classic watering can with a long spout and a brass rose for seedlings.",
    "attributes": {"volume": "10 L"},
}


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    clean_env.setenv("FRESHINDEX_HOME", str(tmp_path / "home"))
    clean_env.setenv("FRESHINDEX_SEMANTIC_CHUNKING", "false")
    return clean_env


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def prepare(
    tmp_path: Path, *args: str, exit_code: int = 0
) -> tuple[Result, list[Chunk | ProductDeleted], Any]:
    out, report = tmp_path / "out" / "chunks.jsonl", tmp_path / "out" / "report.json"
    out.parent.mkdir(exist_ok=True)
    result = CliRunner().invoke(app, ["prepare", *args, "--out", str(out), "--report", str(report)])
    assert result.exit_code == exit_code, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    messages = [CHUNKS_TOPIC_MESSAGE.validate_json(line) for line in lines]
    return result, messages, json.loads(report.read_text(encoding="utf-8"))


def mixed_inputs(tmp_path: Path) -> list[Path]:
    first = write_jsonl(
        tmp_path / "first.jsonl",
        [TAP, CAN, {"id": "G-1", "title": "lorem ipsum"}, {"id": "OLD-1", "deleted": True}],
    )
    second = write_jsonl(tmp_path / "second.jsonl", [TAP | {"id": "T-1-COPY"}])
    pdf = docgen.write_pdf(tmp_path / "GA-1__rb-200.pdf")
    docx = docgen.write_docx(tmp_path / "GA-2__sds.docx")
    return [first, second, pdf, docx]


def test_prepare_mixed_inputs(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    inputs = mixed_inputs(tmp_path)
    result, messages, report = prepare(tmp_path, *map(str, inputs), "--json")
    chunks = [m for m in messages if isinstance(m, Chunk)]
    deletions = [m for m in messages if isinstance(m, ProductDeleted)]
    assert [(d.product_id, d.document) for d in deletions] == [("OLD-1", None)]
    assert {(c.product_id, c.document) for c in chunks} == {
        ("T-1", ""),
        ("W-1", ""),
        ("GA-1", "rb-200.pdf"),
        ("GA-2", "sds.docx"),
    }
    assert max(c.token_count for c in chunks) <= 256  # the default FRESHINDEX_CHUNK_MAX_TOKENS
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    pdf_sections = {c.section for c in chunks if c.product_id == "GA-1"}
    assert pdf_sections == docgen.PDF_SECTIONS

    assert json.loads(result.stdout) == report
    assert (report["records_in"], report["kept"], report["deletions"]) == (7, 4, 1)
    assert (report["products"], report["documents"], report["retracted"]) == (2, 2, 0)
    [duplicate] = report["duplicates"]
    assert (duplicate["id"], duplicate["duplicate_of"], duplicate["similarity"]) == (
        "T-1-COPY",
        "T-1",
        1.0,
    )
    assert duplicate["source"] == str(inputs[1])
    [rejected] = report["rejected"]
    assert (rejected["line"], rejected["id"]) == (3, "G-1")
    assert rejected["reason"].startswith("title: placeholder text")
    assert rejected["source"] == str(inputs[0])
    counts = sorted(c.token_count for c in chunks)
    assert report["chunks"]["count"] == len(chunks)
    assert report["chunks"]["tokens_max"] == counts[-1]
    assert counts[0] <= report["chunks"]["tokens_p50"] <= report["chunks"]["tokens_p95"]
    assert [i["path"] for i in report["inputs"]] == [str(p) for p in inputs]
    assert report["out"] == str(tmp_path / "out" / "chunks.jsonl")


def test_prepare_text_summary(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feed = write_jsonl(
        tmp_path / "f.jsonl", [TAP, TAP | {"id": "T-2"}, {"id": "X", "title": "TBD"}]
    )
    result, messages, report = prepare(tmp_path, str(feed))
    assert "prepare: 1 products" in result.stdout
    assert "duplicate T-2 (line 2): exact duplicate of T-1" in result.stdout
    assert "rejected" in result.stdout and "TBD" in result.stdout
    assert f"wrote {len(messages)} chunks" in result.stdout
    assert report["records_in"] == 3


def test_prepare_rejects_unreadable_inputs_and_goes_on(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    feed = write_jsonl(tmp_path / "f.jsonl", [CAN])
    corrupt = docgen.write_corrupt_pdf(tmp_path / "GA-1__bad.pdf")
    bare = docgen.write_docx(tmp_path / "orphan.docx")
    result, messages, report = prepare(
        tmp_path, str(corrupt), str(bare), str(tmp_path / "gone.csv"), str(feed), exit_code=1
    )  # an input that cannot be read at all: status 1, after every other input is done
    assert {m.product_id for m in messages} == {"W-1"}
    assert report["records_in"] == 4 and report["kept"] == 1
    reasons = [r["reason"] for r in report["rejected"]]
    assert (
        "corrupt or unreadable PDF" in reasons[0] and report["rejected"][0]["id"] == "GA-1/bad.pdf"
    )
    assert "--product-id" in reasons[1]
    assert reasons[2] == "gone.csv: no such file"
    assert [f["reason"] for f in report["failed_inputs"]] == reasons[1:3]
    assert "error: gone.csv: no such file" in result.output


def test_prepare_with_a_state_file_remembers_across_runs(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "dedup.sqlite3"
    state.parent.mkdir()
    first = write_jsonl(tmp_path / "a.jsonl", [TAP])
    second = write_jsonl(tmp_path / "b.jsonl", [TAP | {"id": "T-9"}])
    prepare(tmp_path, str(first), "--dedup-state", str(state))
    _, messages, report = prepare(tmp_path, str(second), "--dedup-state", str(state))
    assert messages == [] and [d["id"] for d in report["duplicates"]] == ["T-9"]
    _, messages, report = prepare(tmp_path, str(second))  # default: only these inputs
    assert {m.product_id for m in messages} == {"T-9"} and report["duplicates"] == []


def test_prepare_writes_a_tombstone_for_a_retracted_duplicate(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [TAP, CAN])
    second = write_jsonl(tmp_path / "second.jsonl", [TAP | {"id": "W-1"}])  # W-1 now copies T-1
    _, messages, report = prepare(tmp_path, str(first), str(second))
    assert report["retracted"] == 1
    last = messages[-1]
    assert isinstance(last, ProductDeleted) and last.product_id == "W-1"


def test_prepare_with_semantic_chunking(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("FRESHINDEX_HOME", str(tmp_path / "home"))
    clean_env.setenv("FRESHINDEX_CHUNK_MAX_TOKENS", "96")
    clean_env.setenv("FRESHINDEX_CHUNK_OVERLAP_TOKENS", "0")
    rows = [json.loads(line) for line in CATALOG.read_text().splitlines()]
    longest = max(rows, key=lambda r: len(r["description"]))
    feed = write_jsonl(tmp_path / "long.jsonl", [longest])
    _, messages, report = prepare(tmp_path, str(feed))
    chunks = [m for m in messages if isinstance(m, Chunk)]
    described = [c for c in chunks if c.section == "description"]
    assert len(described) > 2 and report["chunks"]["tokens_max"] <= 96
    context = f"{clean_line(longest['title'])} (description): "  # NFKC: "m³" is "m3"
    assert all(c.text.startswith(context) for c in described)
    bodies = " ".join(c.text.removeprefix(context) for c in described)
    assert "".join(bodies.split()) == "".join(clean_text(longest["description"]).split())
    clean_env.setenv("FRESHINDEX_SEMANTIC_CHUNKING", "false")
    _, greedy, _ = prepare(tmp_path, str(feed))
    assert [m.content_hash for m in greedy if isinstance(m, Chunk)] != [
        c.content_hash for c in chunks
    ]  # the encoder moved the cuts


# --------------------------------------------------------------------------- hostile inputs


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_prepare_reads_ndjson_like_publish(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "f.ndjson", [TAP])
    _, messages, report = prepare(tmp_path, str(feed))
    assert {m.product_id for m in messages} == {"T-1"} and report["products"] == 1


def test_prepare_fail_on_reject(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "f.jsonl", [TAP, {"id": "X", "title": "t", "currency": "XYZ"}])
    _, messages, report = prepare(tmp_path, str(feed), "--fail-on-reject", exit_code=2)
    assert {m.product_id for m in messages} == {"T-1"}  # the chunks are still written
    [rejected] = report["rejected"]
    assert "'XYZ' is not an ISO 4217 currency code" in rejected["reason"]
    prepare(tmp_path, str(write_jsonl(tmp_path / "ok.jsonl", [CAN])), "--fail-on-reject")


def test_prepare_missing_input_exits_1(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result, messages, report = prepare(tmp_path, str(tmp_path / "nope.jsonl"), exit_code=1)
    assert messages == [] and report["failed_inputs"][0]["reason"] == "nope.jsonl: no such file"
    assert "error: nope.jsonl: no such file" in result.output


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xef\xbb\xbf", "empty CSV"),
        (b"sku,title\nA,Hose\n", "CSV header must name at least an 'id' column"),
        (b"id,title,price,price\nA,Hose,1,2\n", "names 'price' more than once"),
    ],
)
def test_prepare_goes_on_after_an_unreadable_csv(
    env: pytest.MonkeyPatch, tmp_path: Path, content: bytes, reason: str
) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [TAP])
    bad = tmp_path / "b.csv"
    bad.write_bytes(content)
    last = write_jsonl(tmp_path / "c.jsonl", [CAN])
    result, messages, report = prepare(tmp_path, str(first), str(bad), str(last), exit_code=1)
    assert {m.product_id for m in messages} == {"T-1", "W-1"}  # before and after the bad one
    assert [(i["path"], i.get("error", "")) for i in report["inputs"]] == [
        (str(first), ""),
        (str(bad), report["failed_inputs"][0]["reason"]),
        (str(last), ""),
    ]
    assert reason in report["failed_inputs"][0]["reason"]
    assert "Traceback" not in result.output


def test_prepare_latin1_csv_rejects_its_rows(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feed = tmp_path / "f.csv"
    feed.write_bytes("id,title\nA,Café crème\nB,Steel garden rake\n".encode("latin-1"))
    _, messages, report = prepare(tmp_path, str(feed))
    assert {m.product_id for m in messages} == {"B"}
    [rejected] = report["rejected"]
    assert rejected["line"] == 2 and "not valid UTF-8" in rejected["reason"]


def test_prepare_out_is_never_half_written(
    env: pytest.MonkeyPatch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out" / "chunks.jsonl"
    out.parent.mkdir()
    out.write_text("previous\n")

    def crashes(inputs: Any, chain: Any, sink: Any, **kw: Any) -> Any:
        sink.stream.write("half\n")
        raise RuntimeError("crash")

    monkeypatch.setattr("ingest.publish.send_inputs", crashes)
    feed = write_jsonl(tmp_path / "f.jsonl", [TAP])
    result = invoke("prepare", str(feed), "--out", str(out), "--report", str(tmp_path / "r.json"))
    assert isinstance(result.exception, RuntimeError)
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["chunks.jsonl"]


def test_prepare_reports_superseded_rows(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feed = write_jsonl(
        tmp_path / "f.jsonl", [TAP, CAN, TAP | {"title": "Brass Garden Tap 3/4 inch"}]
    )
    result, _, report = prepare(tmp_path, str(feed))
    assert (report["records_in"], report["products"]) == (3, 2)
    assert report["superseded"][0] | {"source": ""} == {
        "id": "T-1",
        "line": 1,
        "by_line": 3,
        "was": "product",
        "source": "",
    }
    assert "1 superseded" in result.stdout
    assert "superseded T-1 (line 1, a product): line 3 of the same input" in result.stdout


# --------------------------------------------------------------------------- publish agrees


@pytest.fixture
def memory_kafka(env: pytest.MonkeyPatch) -> MemorySink:
    sink = MemorySink()

    class Sink:
        def __init__(self, settings: object) -> None: ...

        def __enter__(self) -> MemorySink:
            return sink

        def __exit__(self, *exc: object) -> None: ...

    env.setattr("infra.stack.ensure_topics", lambda settings: None)
    env.setattr("ingest.producer.KafkaSink", Sink)
    return sink


def test_publish_a_hostile_feed_goes_to_the_end(memory_kafka: MemorySink, tmp_path: Path) -> None:
    feed = tmp_path / "f.jsonl"
    feed.write_text(
        json.dumps(TAP)
        + "\n"
        + "[" * 10_000
        + "]" * 10_000
        + "\n"
        + json.dumps({"id": "X", "title": "t", "description": "x" * 5_000_000})
        + "\n"
        + json.dumps(CAN)
        + "\n"
    )
    result = invoke("publish", str(feed), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["records_in"], report["products"]) == (4, 2)
    assert [r["line"] for r in report["rejected"]] == [2, 3]
    assert {c.product_id for c in memory_kafka.chunks} == {"T-1", "W-1"}
    assert [len(d.model_dump_json()) < 100_000 for d in memory_kafka.dead_letters] == [True, True]
    assert invoke("publish", str(feed), "--fail-on-reject").exit_code == 2


def test_publish_an_unreadable_feed_exits_1(memory_kafka: MemorySink, tmp_path: Path) -> None:
    feed = tmp_path / "f.csv"
    feed.write_text("title\nHose\n")
    result = invoke("publish", str(feed))
    assert result.exit_code == 1
    assert "error:" in result.output and "'id' column" in result.output
    result = invoke("publish", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 1 and "feed file not found" in result.output


def test_a_lone_surrogate_in_an_id_is_reported_not_a_crash(env: Any, tmp_path: Path) -> None:
    """A JSON escape of half a UTF-16 pair (`"Y\\udfff"`) cannot be written as UTF-8: the row is
    rejected and the report (file and --json) shows the id escaped, instead of a traceback."""
    feed = tmp_path / "f.jsonl"
    feed.write_text('{"id": "Y\\udfff", "deleted": true}\n' + json.dumps(TAP) + "\n")
    result, messages, report = prepare(tmp_path, str(feed), "--json")
    assert [m.product_id for m in messages] == ["T-1"] * len(messages) and messages
    [rejected] = report["rejected"]
    assert rejected["line"] == 1 and rejected["id"] == "Y\udfff"  # the escape, read back
    assert json.loads(result.stdout)["rejected"][0]["line"] == 1
