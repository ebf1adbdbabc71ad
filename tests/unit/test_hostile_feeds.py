"""Hostile and malformed catalog feeds (issue 14).

A regression corpus: each case is a feed (large ones generated here, never committed) with the
verdict of each of its rows, in order: `accepted`, `deleted`, `rejected:<reason substring>`, or
`error:<substring>` for a feed refused as a whole. Every case is also published into a memory
sink: it never raises, every row is in the report, every dead letter is deliverable.

Then properties (hypothesis): the feed reader, the cleaner and the prepare chain with its
chunker never raise, and every row is accounted for.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.core.items import Accepted, Deleted, Rejected, SourceItem
from ingest.core.rows import RowLimits
from ingest.core.text import _CONTROL, clean_line, clean_text
from ingest.errors import FeedError
from ingest.feeds.reader import read_feed
from ingest.prepare.chain import PrepareChain, PrepareReport
from ingest.prepare.chunk import Chunker
from ingest.prepare.tokenizer import TokenCounter
from ingest.publish import publish_feed
from schemas.models import DeadLetter, ProductRecord
from tests.unit.fakes import PUBLISHED, MemorySink

MB5 = 5 * 1024 * 1024
GOOD = {"id": "A", "title": "Brass garden tap"}
OTHER = {"id": "B", "title": "Galvanised watering can"}
MakeChunker = Callable[..., Chunker]


def jsonl(*rows: object) -> Callable[[], bytes]:
    """A JSONL feed: dicts as JSON, str and bytes as the line itself."""

    def make() -> bytes:
        out = []
        for row in rows:
            if isinstance(row, bytes):
                out.append(row)
            elif isinstance(row, str):
                out.append(row.encode())
            else:
                out.append(json.dumps(row).encode())
        return b"\n".join(out) + b"\n"

    return make


def raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


CASES: dict[str, tuple[str, Callable[[], bytes], list[str]]] = {
    # ---------------------------------------------------------------- JSONL: depth and size
    "10,000 levels deep inside a row": (
        "f.jsonl",
        jsonl(GOOD, f'{{"id": "X", "title": "t", "attributes": {{"a": {deep(10_000)}}}}}', OTHER),
        ["accepted", "rejected:nested too deeply", "accepted"],
    ),
    "a row that is 10,000 levels of arrays": (
        "f.jsonl",
        jsonl(deep(10_000), GOOD),
        ["rejected:FRESHINDEX_FEED_MAX_DEPTH", "accepted"],
    ),
    "one level over the depth limit": (
        "f.jsonl",
        jsonl({"id": "X", "title": "t", "attributes": {"a": json.loads(deep(15))}}, GOOD),
        ["rejected:nested 17 levels, over the limit of 16", "accepted"],
    ),
    "a 5 MB description": (
        "f.jsonl",
        jsonl(GOOD, {"id": "X", "title": "t", "description": "x" * MB5}, OTHER),
        [
            "accepted",
            "rejected:over the limit of 1048576 (FRESHINDEX_FEED_MAX_ROW_BYTES)",
            "accepted",
        ],
    ),
    "a 5 MB last line without a line break": (
        "f.jsonl",
        lambda: json.dumps(GOOD).encode() + b"\n" + b"y" * MB5,
        ["accepted", "rejected:over the limit"],
    ),
    "a description over its field limit, inside the row limit": (
        "f.jsonl",
        jsonl({"id": "X", "title": "t", "description": "z" * 300_000}, GOOD),
        ["rejected:description: String should have at most 200000 characters", "accepted"],
    ),
    # ---------------------------------------------------------------- JSONL: not what it says
    "an integer of 5,000 digits": (
        "f.jsonl",
        jsonl('{"id": "X", "title": "t", "price": ' + "9" * 5000 + "}", GOOD),
        ["rejected:invalid JSON: Exceeds the limit", "accepted"],
    ),
    "NaN and Infinity prices": (
        "f.jsonl",
        jsonl(
            '{"id": "X", "title": "t", "price": NaN}',
            '{"id": "Y", "title": "t", "price": Infinity}',
        ),
        ["rejected:price", "rejected:price"],
    ),
    "rows that are not objects": (
        "f.jsonl",
        jsonl("[1, 2]", '"text"', "null", "42", GOOD),
        ["rejected:not a JSON object"] * 4 + ["accepted"],
    ),
    "a key twice in one object": (
        "f.jsonl",
        jsonl(
            '{"id": "X", "title": "a", "title": "b"}',
            '{"id": "Y", "title": "t", "attributes": {"s": "1", "s": "2"}}',
        ),
        ["rejected:key 'title' appears twice", "rejected:key 's' appears twice"],
    ),
    "broken JSON": (
        "f.jsonl",
        jsonl('{"id": "X", "title":', GOOD),
        ["rejected:invalid JSON", "accepted"],
    ),
    "a row that is not UTF-8": (
        "f.jsonl",
        jsonl(GOOD, b'{"id": "X", "title": "caf\xe9"}'),
        ["accepted", "rejected:not valid UTF-8 (byte 0xe9"],
    ),
    "a UTF-16 file": (
        "f.jsonl",
        raw((json.dumps(GOOD) + "\n").encode("utf-16")),
        ["rejected:not valid UTF-8", "rejected:invalid JSON"],
    ),
    "binary garbage": (
        "f.jsonl",
        raw(bytes(range(256)) + b"\n\x00\x01\x02\n"),
        ["rejected:", "rejected:", "rejected:"],
    ),
    "a lone surrogate escape": (
        "f.jsonl",
        jsonl('{"id": "X", "title": "a\\ud800b"}', '{"id": "Y\\udfff", "deleted": true}'),
        ["rejected:title", "rejected:id"],
    ),
    # ---------------------------------------------------------------- JSONL: ids and deletions
    "deletion ids that are not product ids": (
        "f.jsonl",
        jsonl(
            {"id": "A B", "deleted": True},
            {"id": {"a": 1}, "deleted": True},
            {"id": "x" * 201, "deleted": True},
            {"id": True, "deleted": True},
            {"deleted": True},
            {"id": 17, "deleted": True},
        ),
        [
            "rejected:id: String should match pattern",
            "rejected:id must be text, got dict",
            "rejected:at most 200 characters",
            "rejected:id must be text, got bool",
            "rejected:deletion row has no id",
            "deleted",
        ],
    ),
    "an id that is a list": ("f.jsonl", jsonl({"id": ["A"], "title": "t"}), ["rejected:id"]),
    # ---------------------------------------------------------------- JSONL: text and values
    "control and zero-width characters, markup and scripts": (
        "f.jsonl",
        jsonl(
            {
                "id": "X",
                "title": "Hose\x00\u200b reel\x1b",
                "description": "<p>Good<script>alert(1)</script></p>",
            }
        ),
        ["accepted"],
    ),
    "attribute values: list, null, bool, number": (
        "f.jsonl",
        jsonl(
            {
                "id": "X",
                "title": "t",
                "attributes": {"size": ["S", "M"], "n": None, "ok": True, "kg": 2.5},
            }
        ),
        ["accepted"],
    ),
    "a nested object as an attribute value": (
        "f.jsonl",
        jsonl(
            {"id": "X", "title": "t", "attributes": {"dims": {"w": 1}}},
            {"id": "Y", "title": "t", "attributes": {"s": [["S"]]}},
        ),
        [
            "rejected:attributes.dims: a nested object",
            "rejected:attributes.s: a list inside a list",
        ],
    ),
    "attributes over their bounds (every chunk would carry them)": (
        "f.jsonl",
        jsonl(
            {"id": "X", "title": "t", "attributes": {f"a{i}": "v" for i in range(300)}},
            {"id": "Y", "title": "t", "attributes": {"a": "v" * 3000}},
            {"id": "Z", "title": "t", "attributes": {f"a{i}": "v" * 1000 for i in range(20)}},
            {"id": "W", "title": "t", "attributes": {"n" * 300: "v"}},
        ),
        [
            "rejected:attributes: Dictionary should have at most 256 items",
            "rejected:attribute 'a' is over 2000 characters",
            "rejected:characters in all, over 16384",
            "rejected:attribute name 'nnnn",
        ],
    ),
    "a URL of 3,000 characters": (
        "f.jsonl",
        jsonl({"id": "X", "title": "t", "url": "https://shop.example/" + "p" * 3000}),
        ["rejected:url: String should have at most 2048 characters"],
    ),
    "attribute names equal once cleaned": (
        "f.jsonl",
        jsonl({"id": "X", "title": "t", "attributes": {"size": "S", " size ": "M"}}),
        ["rejected:are the same name once cleaned"],
    ),
    "a currency that is not ISO 4217": (
        "f.jsonl",
        jsonl(
            {"id": "X", "title": "t", "currency": "XYZ"},
            {"id": "Y", "title": "t", "currency": "eur"},
        ),
        ["rejected:'XYZ' is not an ISO 4217 currency code", "accepted"],
    ),
    "blank lines, CRLF, a BOM": (
        "f.jsonl",
        raw(
            b"\xef\xbb\xbf"
            + json.dumps(GOOD).encode()
            + b"\r\n\r\n   \n\t\n"
            + json.dumps(OTHER).encode()
            + b"\r\n"
        ),
        ["accepted", "accepted"],
    ),
    "an empty JSONL": ("f.jsonl", raw(b""), []),
    "a JSONL that is only a BOM": ("f.ndjson", raw(b"\xef\xbb\xbf"), []),
    # ---------------------------------------------------------------- CSV: the file as a whole
    "a CSV that is only a BOM": ("f.csv", raw(b"\xef\xbb\xbf"), ["error:empty CSV"]),
    "an empty CSV": ("f.csv", raw(b""), ["error:empty CSV"]),
    "a CSV without an id column": ("f.csv", raw(b"sku,title\nA,t\n"), ["error:'id' column"]),
    "a CSV naming a column twice": (
        "f.csv",
        raw(b"id,title,price,price\nA,t,1,2\n"),
        ["error:names 'price' more than once"],
    ),
    "a CSV naming a column twice once spaces are stripped": (
        "f.csv",
        raw(b"id,title, title\nA,t,u\n"),
        ["error:names 'title' more than once"],
    ),
    "a CSV header that is not UTF-8": (
        "f.csv",
        raw(b"id,t\xeftle\nA,t\n"),
        ["error:not valid UTF-8"],
    ),
    "a CSV with old Mac line breaks": (
        "f.csv",
        raw(b"id,title\rA,t\r"),
        ["error:unreadable CSV header"],
    ),
    # ---------------------------------------------------------------- CSV: rows
    "a Latin-1 CSV": (
        "f.csv",
        raw("id,title\nA,Café\nB,Rake\n".encode("latin-1")),
        ["rejected:not valid UTF-8 (byte 0xe9", "accepted"],
    ),
    "more and fewer fields than the header": (
        "f.csv",
        raw(b"id,title,brand\nA,t,b,extra\nB,t\nC,t,b\n"),
        [
            "rejected:more fields than the header",
            "rejected:fewer fields than the header (2 of 3)",
            "accepted",
        ],
    ),
    "a quoted field never closed": (
        "f.csv",
        raw(b'id,title\nA,t\nB,"never closed\nC,t\n'),
        ["accepted", "rejected:a quoted field opened at line 3 is never closed"],
    ),
    "a stray quote inside a quoted field": (
        "f.csv",
        raw(b'id,title\nA,"x"y\nB,t\n'),
        ["rejected:malformed CSV record", "accepted"],
    ),
    "a 5 MB field on one line": (
        "f.csv",
        lambda: b"id,title,description\nA,t,d\nX,t," + b"x" * MB5 + b"\nB,t,d\n",
        ["accepted", "rejected:over the limit of 1048576", "accepted"],
    ),
    "a 5 MB quoted field over many lines": (
        "f.csv",
        lambda: (
            b'id,title,description\nX,t,"' + (b'a, ""quoted"" line\n' * 300_000) + b'end"\nB,t,d\n'
        ),
        ["rejected:over the limit of 1048576", "accepted"],
    ),
    "a 5 MB line that opens a quoted field": (
        "f.csv",
        lambda: (
            b'id,title,description\nX,t,"'
            + b"x" * MB5
            + b'\nstill inside, "" a quote\nend"\nB,t,d\n'
        ),
        ["rejected:over the limit", "accepted"],
    ),
    "a NUL byte in a field": ("f.csv", raw(b"id,title\nA,Ho\x00se\n"), ["accepted"]),
    "attributes JSON column too deep or not an object": (
        "f.csv",
        raw(
            b'id,title,attributes\nA,t,"' + deep(20).encode() + b'"\nB,t,"[1]"\nC,t,"{""a"": 1}"\n'
        ),
        ["rejected:nested 20 levels", "rejected:not a JSON object", "accepted"],
    ),
    "an attribute both in the JSON column and its own column": (
        "f.csv",
        raw(b'id,title,attributes,attributes.size\nA,t,"{""size"": ""S""}",M\n'),
        ["rejected:attribute 'size' is given twice"],
    ),
}


def verdict(item: SourceItem) -> str:
    if isinstance(item, Accepted):
        return "accepted"
    if isinstance(item, Deleted):
        return "deleted"
    return f"rejected:{item.reason}"


def write_case(tmp_path: Path, name: str) -> tuple[Path, list[str]]:
    filename, make, expected = CASES[name]
    path = tmp_path / filename
    path.write_bytes(make())
    return path, expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_feed_verdicts(tmp_path: Path, name: str) -> None:
    path, expected = write_case(tmp_path, name)
    if expected and expected[0].startswith("error:"):
        with pytest.raises(
            FeedError, match=expected[0].removeprefix("error:")[:20].replace("(", r"\(")
        ):
            list(read_feed(path))
        return
    items = list(read_feed(path))
    got = [verdict(i) for i in items]
    assert len(got) == len(expected), got
    for seen, wanted in zip(got, expected, strict=True):
        kind, _, reason = wanted.partition(":")
        assert seen.startswith(kind) and reason in seen, (seen, wanted)
    lines = [i.at.line for i in items]
    assert lines == sorted(set(lines))  # each row once, at its own line
    for item in items:
        if isinstance(item, Rejected):
            assert len(item.reason) < 400  # a reason is a sentence, never the rejected value
            assert len(item.raw.encode()) <= 1_048_576 + 4


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_feed_publishes_without_raising(
    tmp_path: Path, name: str, chunker: MakeChunker
) -> None:
    path, expected = write_case(tmp_path, name)
    sink = MemorySink()
    report = publish_feed(path, sink, chunker(64))
    assert sink.flushes == 1
    assert_balanced(report)
    if expected and expected[0].startswith("error:"):
        [failed] = report.input_errors
        assert failed.at.line is None and expected[0].removeprefix("error:") in failed.reason
        [letter] = sink.dead_letters
        assert letter.error_type == "InputFailed"
        return
    assert report.records_in == len(expected)
    assert len(sink.dead_letters) == len(report.rejected)  # the reader's and the chain's
    assert len(report.rejected) >= sum(v.startswith("rejected") for v in expected)
    for letter in sink.dead_letters:
        assert_deliverable(letter)


def assert_balanced(report: PrepareReport) -> None:
    assert report.records_in == (
        report.kept
        + report.deletions
        + len(report.duplicates)
        + len(report.rejected)
        + len(report.rejected_documents)
        + len(report.superseded)
    )


def assert_deliverable(letter: DeadLetter) -> None:
    wire = letter.model_dump_json().encode()
    assert len(wire) < 1_000_000  # Kafka's default message.max.bytes is 1 MiB
    assert len(letter.message.encode()) <= 4096
    assert len(letter.payload.encode()) <= 65_536
    assert letter.payload_bytes is not None  # the original's size (bytes, before decoding)
    assert DeadLetter.model_validate_json(wire) == letter


def test_the_5_mb_row_dead_letter_keeps_the_whole_size(
    tmp_path: Path, chunker: MakeChunker
) -> None:
    path, _ = write_case(tmp_path, "a 5 MB description")
    sink = MemorySink()
    publish_feed(path, sink, chunker(64))
    [letter] = sink.dead_letters
    assert letter.line == 2 and letter.payload_bytes == len(
        json.dumps({"id": "X", "title": "t", "description": "x" * MB5})
    )
    assert letter.payload.startswith('{"id": "X"') and len(letter.payload) == 65_536
    assert "5242" in letter.message and "FRESHINDEX_FEED_MAX_ROW_BYTES" in letter.message


def test_row_limits_come_from_the_settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from schemas.settings import Settings

    clean_env.setenv("FRESHINDEX_FEED_MAX_ROW_BYTES", "2048")
    clean_env.setenv("FRESHINDEX_FEED_MAX_DEPTH", "3")
    limits = RowLimits.of(Settings())
    assert (limits.max_bytes, limits.max_depth) == (2048, 3)
    path = tmp_path / "f.jsonl"
    rows = [
        {"id": "A", "title": "t", "description": "d" * 2100},  # over 2048 bytes
        {"id": "B", "title": "t", "attributes": {"a": ["x"]}},  # depth 3: fine
        {"id": "C", "title": "t", "attributes": {"a": [["x"]]}},  # depth 4
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = [verdict(i) for i in read_feed(path, limits=limits)]
    assert "over the limit of 2048" in got[0]
    assert got[1] == "accepted"
    assert "nested 4 levels, over the limit of 3" in got[2]
    for variable, value in [
        ("FRESHINDEX_FEED_MAX_ROW_BYTES", "10"),
        ("FRESHINDEX_FEED_MAX_DEPTH", "1"),
    ]:
        clean_env.setenv(variable, value)
        with pytest.raises(ValueError, match=variable.removeprefix("FRESHINDEX_").lower()):
            Settings()
        clean_env.delenv(variable)


def test_row_at_the_size_limit_is_read_one_byte_over_is_not(tmp_path: Path) -> None:
    limits = RowLimits(max_bytes=1024, max_depth=16)
    base = json.dumps({"id": "A", "title": "t", "description": ""})
    fits = base.replace('""', '"' + "d" * (1024 - len(base)) + '"')
    over = fits.replace('"A"', '"B"').replace('d"}', 'dd"}')
    assert (len(fits), len(over)) == (1024, 1025)
    path = tmp_path / "f.jsonl"
    path.write_text(fits + "\r\n" + over + "\n" + fits.replace('"A"', '"C"'))
    got = [verdict(i) for i in read_feed(path, limits=limits)]
    assert got[0] == "accepted" and "row is 1025 bytes" in got[1] and got[2] == "accepted"


# --------------------------------------------------------------------------- properties

LIMITS = RowLimits(max_bytes=1024, max_depth=4)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = [
    "id",
    "title",
    "description",
    "brand",
    "price",
    "currency",
    "attributes",
    "deleted",
    "url",
]
ROW = st.fixed_dictionaries(
    {"id": st.text(max_size=12), "title": st.text(max_size=30)},
    optional={name: JSON for name in FIELD_NAMES[2:]},
)
LINE = st.one_of(
    ROW.map(lambda r: json.dumps(r).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=60).map(lambda t: t.encode("utf-8", errors="replace")),
    st.binary(max_size=60),
    st.integers(1000, 1100).map(lambda n: b'{"id": "L", "title": "' + b"x" * n + b'"}'),
).map(lambda b: b.replace(b"\n", b" "))
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def blank(line: bytes) -> bool:
    """What the reader skips: a line with nothing but white space (and a BOM)."""
    return len(line) <= LIMITS.max_bytes and not line.decode("utf-8", "replace").strip().lstrip(
        "\ufeff"
    )


@QUICK
@given(st.lists(LINE, max_size=12))
def test_jsonl_reader_accounts_for_every_row(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.jsonl"
        path.write_bytes(b"\n".join(lines))
        items = list(read_feed(path, limits=LIMITS))
    assert [i.at.line for i in items] == [n for n, line in enumerate(lines, 1) if not blank(line)]
    for item in items:
        if isinstance(item, Accepted):
            assert isinstance(item.record, ProductRecord)
        elif isinstance(item, Rejected):
            assert item.reason and not item.input_error


CSV_TEXT = st.text(
    alphabet=st.sampled_from(list('ab ,"\n\r\t;{}[]é\x00\ufeff'))
    | st.characters(codec="utf-8"),  # a CSV file holds only encodable text
    max_size=30,
)


@QUICK
@given(
    st.lists(st.sampled_from(FIELD_NAMES[1:]), unique=True, max_size=5),
    st.lists(st.lists(CSV_TEXT, min_size=1, max_size=8), max_size=10),
)
def test_csv_reader_accounts_for_every_record(extra: list[str], records: list[list[str]]) -> None:
    header = ["id", *extra]
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF, fields with CR or LF quoted
    writer.writerow(header)
    writer.writerows(records)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        items = list(read_feed(path, limits=LIMITS))
    written = [r for r in records if "".join(r).strip()]
    assert len(items) == len(written)
    assert [i.at.line for i in items] == sorted({i.at.line for i in items})
    for item, fields in zip(items, written, strict=True):
        if len(fields) != len(header):
            assert isinstance(item, Rejected) and "fields than the header" in item.reason
        elif isinstance(item, Accepted):
            assert item.record.id == fields[0].strip()


MARKUP = st.text(
    alphabet=st.sampled_from(list("<>/&;#!-ab pli\n\r\t\x00\x7f\u200b\ufeff\u00a0\u2028"))
    | st.characters(),
    max_size=200,
)


@QUICK
@given(MARKUP)
def test_cleaner_never_raises_and_leaves_clean_text(text: str) -> None:
    cleaned = clean_text(text)
    assert not _CONTROL.search(cleaned) and "\r" not in cleaned
    assert cleaned == cleaned.strip() and "\n\n\n" not in cleaned
    line = clean_line(text)
    assert "\n" not in line and line == line.strip() and "  " not in line


@pytest.fixture(scope="module")
def small_chain(tokens: TokenCounter) -> PrepareChain:
    return PrepareChain(Chunker(tokens, max_tokens=48, overlap_tokens=8))


@QUICK
@given(
    st.lists(
        ROW | st.fixed_dictionaries({"id": st.text(max_size=5), "deleted": st.just(True)}),
        max_size=8,
    )
)
def test_prepare_chain_never_raises_and_accounts_for_every_row(
    small_chain: PrepareChain, rows: list[dict[str, object]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        sink = MemorySink()
        report = publish_feed(path, sink, small_chain, limits=LIMITS)
    assert report.records_in == len(rows)
    assert_balanced(report)
    last: dict[str, bool] = {}  # product id -> indexed after its last message
    for message in sink.messages:
        last[message.product_id] = message.kind == "chunk"
    assert report.products == sum(last.values())  # distinct ids, the later row winning
    for chunk in sink.chunks:
        assert chunk.token_count <= 48 and chunk.chunk_index < chunk.chunk_count
    for letter in sink.dead_letters:
        assert_deliverable(letter)


# --------------------------------------------------------------------------- other producers


def test_worker_dead_letter_of_a_huge_message_is_deliverable() -> None:
    from workers.batch import RawMessage, dead_letter
    from workers.errors import MessageRejected

    value = b'{"kind": "chunk", "text": "' + b"\xff" * 3_000_000 + b'"}'
    msg = RawMessage(topic="t", partition=1, offset=7, key=b"k" * 5000, value=value)
    error = MessageRejected("decode", "value is not UTF-8 JSON: " + repr(value))
    letter = dead_letter(msg, error, error.stage)
    assert_deliverable(letter)
    assert letter.payload_bytes == len(value)
    assert (
        letter.message.startswith("value is not UTF-8 JSON") and "bytes in all)" in letter.message
    )
    assert (letter.topic, letter.partition, letter.offset) == ("t", 1, 7)


def test_classify_survives_a_hostile_first_row(tmp_path: Path) -> None:
    from ingest.inputs import classify

    deep_feed = tmp_path / "deep.jsonl"
    deep_feed.write_text(deep(10_000) + "\n")
    huge = tmp_path / "huge.ndjson"
    huge.write_bytes(b"z" * MB5)
    assert [i.kind for i in classify([deep_feed, huge])] == ["feed", "feed"]


def test_the_largest_valid_record_gives_deliverable_chunks(tokens: TokenCounter) -> None:
    wide = "漢"  # three bytes in UTF-8, unchanged by NFKC
    biggest = ProductRecord(
        id="P" * 200,
        title=wide * 1000,
        brand=wide * 200,
        category=wide * 500,
        url="https://shop.example/" + "p" * 2000,
        description=(wide * 50 + ". ") * 3840,
        attributes={f"{i:03d}" + wide * 61: wide * 1000 for i in range(15)},
    )
    chunks = Chunker(tokens, max_tokens=256, overlap_tokens=32).chunk(biggest, PUBLISHED)
    assert max(len(c.model_dump_json().encode()) for c in chunks) < 512 * 1024
