"""The progress line of long commands (`infra.progress`): count, rate, ETA and rejected so far
on a terminal, rewritten in place and erased at the end; nothing at all off a terminal or with
--json; the publish and prepare loops tell it of every outcome."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from infra.progress import ERASE, Progress, count_items, count_rows, crawl_callbacks, for_terminal
from ingest.core.items import Location, Rejected
from ingest.inputs import classify
from ingest.pages.spider import PageSkipped, PageUnchanged
from ingest.prepare.chain import Deletion, Outcome, PrepareChain
from ingest.prepare.chunk import Chunker
from ingest.producer import FileSink
from ingest.publish import publish_feed, send_inputs


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_nothing_off_a_terminal_or_with_json() -> None:
    counted: list[int] = []

    def total() -> int:
        counted.append(1)
        return 10

    assert for_terminal("publish", as_json=False, total=total, stream=io.StringIO()) is None
    assert for_terminal("publish", as_json=True, total=total, stream=Terminal()) is None
    assert counted == [], "the items are not even counted"
    progress = for_terminal("publish", as_json=False, total=total, stream=Terminal())
    assert progress is not None and progress.total == 10


def test_the_line_has_count_rate_eta_and_rejected_so_far() -> None:
    clock = Clock()
    progress = Progress(Terminal(), "publish catalog.jsonl", total=1000, clock=clock)
    for i in range(100):
        clock.now += 0.05
        progress.item(rejected=i % 25 == 0)
    assert progress.line() == (
        "publish catalog.jsonl: 100 of ~1,000 records, 20/s, 4 rejected, ETA 0:00:45"
    )
    crawl = Progress(Terminal(), "crawl", unit="pages", refused="skipped", clock=clock)
    clock.now += 2
    crawl.item()
    assert crawl.line() == "crawl: 1 pages, 0/s, 0 skipped"  # no total: no ETA


def test_the_line_is_redrawn_in_place_at_most_every_quarter_second_and_erased() -> None:
    clock, screen = Clock(), Terminal()
    progress = Progress(screen, "prepare", total=10, clock=clock)
    for _ in range(10):
        clock.now += 0.1
        progress.item()
    drawn = screen.getvalue().split(ERASE)[1:]
    assert 3 <= len(drawn) <= 5, drawn  # 1 s of work: the first item, then every 0.25 s
    assert all("\n" not in d for d in drawn)
    progress.close()
    assert screen.getvalue().endswith(ERASE), "erased: the report follows on a clean line"


def test_rows_and_items_are_counted_in_advance(tmp_path: Path) -> None:
    feed = tmp_path / "f.jsonl"
    feed.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c"}')  # no newline at the end
    csv = tmp_path / "f.csv"
    csv.write_text("id,title\na,A\nb,B\n")
    doc = tmp_path / "GA-1__manual.md"
    doc.write_text("# Manual\n")
    assert count_rows(feed) == 3 and count_rows(csv) == 2
    assert count_rows(tmp_path / "missing.jsonl") is None
    assert count_items([(feed, "feed"), (csv, "feed"), (doc, "document")]) == 6


def recorder() -> tuple[list[Outcome], Callable[[Outcome], None]]:
    seen: list[Outcome] = []
    return seen, seen.append


def test_publish_and_prepare_tell_progress_of_every_outcome(
    tmp_path: Path, chunker: Callable[..., Chunker]
) -> None:
    feed = tmp_path / "catalog.jsonl"
    feed.write_text(
        '{"id": "GA-1", "title": "Tomato Feed", "price": "6.99", "currency": "EUR"}\n'
        '{"id": "GA-2", "title": "", "price": "1"}\n'
        '{"id": "GA-3", "deleted": true}\n'
    )
    seen, tell = recorder()
    report = publish_feed(feed, FileSink(io.StringIO()), chunker(), progress=tell)
    assert len(seen) == report.as_dict()["records_in"] == 3
    assert sum(isinstance(o, Rejected) for o in seen) == 1
    assert any(isinstance(o, Deletion) for o in seen)

    clock, screen = Clock(), Terminal()
    progress = Progress(screen, "prepare", total=count_items([(feed, "feed")]), clock=clock)
    send_inputs(
        classify([feed]),
        PrepareChain(chunker()),
        FileSink(io.StringIO()),
        progress=progress.outcome,
    )
    assert (progress.done, progress.rejected) == (3, 1)


def test_a_crawl_counts_pages_then_publishes() -> None:
    clock = Clock()
    progress = Progress(Terminal(), "crawl", unit="pages", refused="skipped", clock=clock)
    on_page, on_outcome = crawl_callbacks(progress)
    on_page(PageUnchanged(url="https://shop.example/p/1"))
    on_page(PageSkipped(url="https://shop.example/p/2", reason="robots.txt"))
    on_page(
        PageSkipped(url="https://shop.example/sitemap.xml", reason="not a sitemap", sitemap=True)
    )
    assert (progress.done, progress.rejected) == (2, 1), "a sitemap is not a page"
    on_outcome(Deletion(product_id="GA-1", at=Location(input="feed.jsonl", line=1)))
    assert progress.label == "publish" and (progress.done, progress.rejected) == (1, 0)
