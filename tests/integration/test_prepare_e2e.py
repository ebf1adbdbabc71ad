"""Documents and deduplication end to end, on the real stack: `freshindex publish-docs` and
`freshindex publish` (with its dedup) -> Tansu -> worker -> Triton -> LanceDB -> `freshindex search`;
and `freshindex prepare` computes exactly the chunks a publish indexes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from schemas.models import CHUNKS_TOPIC_MESSAGE, Chunk
from schemas.settings import Settings
from tests.integration.conftest import StartWorker
from tests.integration.harness import cli, product, write_feed
from workers.index.factory import open_index
from workers.ops import wait_until_caught_up

pytestmark = pytest.mark.integration

SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "data" / "sample" / "docs"

MANUAL_V1 = """# Mower manual

## Safety
Always wear sturdy shoes and eye protection when mowing. Keep children and pets indoors.
Remove the safety key before you clear grass from the chute.

## Charging
Charge the 36 V battery for ninety minutes before the first use. The charger light turns green when full.

## Blade care
Sharpen the steel blade every season with a fine file. Replace a bent blade at once.

## Storage
Store the mower in a dry shed over winter with the battery removed and half charged.
"""

MANUAL_V2 = """# Mower manual

## Safety
Always wear sturdy shoes and eye protection when mowing.
"""


def chunks_of(out: Path) -> list[Chunk]:
    messages = [CHUNKS_TOPIC_MESSAGE.validate_json(line) for line in out.read_text().splitlines()]
    return [m for m in messages if isinstance(m, Chunk)]


def prepared(env: dict[str, str], tmp_path: Path, *inputs: str, name: str) -> list[Chunk]:
    """What `freshindex prepare` says these inputs index to (no Kafka, no index)."""
    out, report = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
    done = cli(env, "prepare", *inputs, "--out", str(out), "--report", str(report))
    assert done.returncode == 0, done.stderr
    return chunks_of(out)


def index_rows(settings: Settings) -> dict[str, tuple[str, str, int]]:
    return open_index(settings, create=False).snapshot()


def test_documents_are_indexed_replaced_and_deleted_with_their_product(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    feed = write_feed(
        tmp_path / "catalog.jsonl",
        [product("MOWER1", title="Cordless lawn mower 36 V"), product("OTHER1")],
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    manual = docs / "manual.md"
    manual.write_text(MANUAL_V1)
    sheet = docs / "spec-sheet.pdf"
    shutil.copy(SAMPLE_DOCS / "water-butt-210l-spec-sheet.pdf", sheet)
    sds = docs / "sds.docx"
    shutil.copy(SAMPLE_DOCS / "tomato-feed-sds.docx", sds)

    start_worker()
    assert cli(env, "publish", str(feed)).returncode == 0
    done = cli(env, "publish-docs", str(docs), "--product-id", "MOWER1", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["documents"], summary["rejected"]) == (3, [])
    wait_until_caught_up(settings, timeout_s=300)

    # the index holds exactly what `prepare` computes for the same inputs
    expected = prepared(env, tmp_path, str(feed), str(docs), "--product-id", "MOWER1", name="v1")
    rows = index_rows(settings)
    assert set(rows) == {c.chunk_id for c in expected}
    assert {rows[c.chunk_id][1] for c in expected} == {c.content_hash for c in expected}
    documents = {c.document for c in expected if c.product_id == "MOWER1"}
    assert documents == {"", "manual.md", "spec-sheet.pdf", "sds.docx"}

    found = cli(
        env, "search", "how long to charge the battery before first use", "-k", "3", "--json"
    )
    assert found.returncode == 0, found.stderr
    best = json.loads(found.stdout)[0]
    assert (best["product_id"], best["document"], best["section"]) == (
        "MOWER1",
        "manual.md",
        "Mower manual > Charging",
    )
    assert "ninety minutes" in best["text"]

    # a shorter version of the manual replaces its chunks; the record and other documents stay
    manual.write_text(MANUAL_V2)
    missing = tmp_path / "MOWER1__warranty.pdf"
    done = cli(env, "publish-docs", str(manual), str(missing), "--product-id", "MOWER1")
    assert done.returncode == 1, "a missing input is an error, after the others are published"
    assert "no such file" in done.stderr and str(missing) in done.stdout + done.stderr
    wait_until_caught_up(settings, timeout_s=300)
    v2 = prepared(env, tmp_path, str(manual), "--product-id", "MOWER1", name="v2")
    rows = index_rows(settings)
    manual_rows = {cid for c in expected if c.document == "manual.md" for cid in [c.chunk_id]}
    assert {cid for cid in rows if cid in manual_rows or cid in {c.chunk_id for c in v2}} == {
        c.chunk_id for c in v2
    }
    others = {c.chunk_id for c in expected if c.document != "manual.md"}
    assert others <= set(rows)
    assert len(rows) == len(others) + len(v2)

    # one document deleted alone, then the product with everything it has
    assert (
        cli(env, "publish-docs", "--delete", "--product-id", "MOWER1", "sds.docx").returncode == 0
    )
    wait_until_caught_up(settings, timeout_s=300)
    sds_rows = {c.chunk_id for c in expected if c.document == "sds.docx"}
    rows = index_rows(settings)
    assert sds_rows and not sds_rows & set(rows)
    assert {c.chunk_id for c in expected if c.document == ""} <= set(rows)

    gone = write_feed(tmp_path / "gone.jsonl", [{"id": "MOWER1", "deleted": True}])
    assert cli(env, "publish", str(gone)).returncode == 0
    wait_until_caught_up(settings, timeout_s=300)
    rows = index_rows(settings)
    assert {p for p, _, _ in rows.values()} == {"OTHER1"}


def test_duplicates_under_another_id_are_indexed_once_and_variants_are_kept(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    originals = [
        product("SOIL-40", title="Peat-free multi-purpose compost 40 L", sentences=4),
        product("HOSE-30", title="Expandable garden hose 30 m", sentences=4),
    ]
    first = write_feed(tmp_path / "feed-a.jsonl", list[dict[str, Any] | str](originals))
    copy = dict(originals[0])
    copy.update(
        id="OTHERFEED-991",
        title=copy["title"].upper(),
        description="  " + copy["description"].replace(" ", "  ") + " Free delivery!",
        url=copy["url"] + "?utm_source=mail&gclid=1",
    )
    variant = dict(originals[0])
    variant.update(id="SOIL-60", title="Peat-free multi-purpose compost 60 L")
    second = write_feed(tmp_path / "feed-b.jsonl", [copy, variant])

    start_worker()
    assert cli(env, "publish", str(first)).returncode == 0
    done = cli(env, "publish", str(second), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert [(d["id"], d["duplicate_of"]) for d in summary["duplicates"]] == [
        ("OTHERFEED-991", "SOIL-40")
    ]
    assert summary["duplicates"][0]["similarity"] >= settings.dedup_threshold
    assert summary["products"] == 1  # the variant
    wait_until_caught_up(settings, timeout_s=300)
    assert {p for p, _, _ in index_rows(settings).values()} == {"SOIL-40", "HOSE-30", "SOIL-60"}

    # the state survives the process: publishing the copy again is still a duplicate, and an
    # update of the original's own id is an update
    again = cli(env, "publish", str(second), "--json")
    assert [d["id"] for d in json.loads(again.stdout)["duplicates"]] == ["OTHERFEED-991"]
    update = dict(originals[0], price="12.49")
    done = cli(env, "publish", str(write_feed(tmp_path / "update.jsonl", [update])), "--json")
    assert json.loads(done.stdout)["duplicates"] == []
