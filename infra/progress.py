"""Progress of long commands on a terminal (`publish`, `publish-docs`, `prepare`, `crawl`).

One status line on stderr, rewritten in place at most every `EVERY_S` seconds:

    publish catalog.jsonl: 12,345 of ~50,000 records, 812/s, 3 rejected, ETA 0:00:46

items done (of the total when it is known in advance: a feed's lines are counted first, a
cheap pass over the file; `~` because a CSV row may span lines), rate since the start, items
rejected so far, and the time left at that rate. The line is erased when the work ends, so the
command's report follows on a clean screen. `for_terminal` gives a reporter only when stderr
is a terminal and the command was not asked for `--json`; elsewhere there is none, and the
loops call nothing. The loops tell it through callbacks (`ingest.publish.OnOutcome`, the
crawl's `on_page`), so `ingest` knows nothing of terminals.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ingest.core.items import Rejected
from ingest.prepare.chain import DocumentRejected, Outcome

if TYPE_CHECKING:
    from ingest.pages.spider import PageOutcome

EVERY_S = 0.25
"""Shortest time between two redraws of the line."""
ERASE = "\r\x1b[2K"
"""Carriage return + erase the line (ANSI), before each redraw and at the end."""


class Progress:
    """A status line of one piece of work, then of the next (`phase`)."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        total: int | None = None,
        unit: str = "records",
        refused: str = "rejected",
        clock: Callable[[], float] = time.monotonic,
        every_s: float = EVERY_S,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.every_s = every_s
        self._shown = False
        self.phase(label, total=total, unit=unit, refused=refused)

    def phase(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "records",
        refused: str = "rejected",
    ) -> None:
        """Start counting a new piece of work on the same line (`refused`: what the items not
        taken are called: rejected rows, skipped pages)."""
        self.label, self.total, self.unit, self.refused = label, total, unit, refused
        self.done = self.rejected = 0
        self.started = self.clock()
        self._drawn_at: float | None = None

    def item(self, *, rejected: bool = False) -> None:
        """One more item done (and rejected, if so); redraws when it is time."""
        self.done += 1
        self.rejected += rejected
        now = self.clock()
        if self._drawn_at is None or now - self._drawn_at >= self.every_s:
            self._draw(now)

    def outcome(self, outcome: Outcome) -> None:
        """An outcome of the prepare chain: one item, rejected or not (`ingest.publish.OnOutcome`)."""
        self.item(rejected=isinstance(outcome, Rejected | DocumentRejected))

    def line(self, now: float | None = None) -> str:
        """The status line as of `now`."""
        elapsed = max((now if now is not None else self.clock()) - self.started, 1e-9)
        rate = self.done / elapsed
        of = f" of ~{self.total:,}" if self.total else ""
        text = f"{self.label}: {self.done:,}{of} {self.unit}, {rate:,.0f}/s, {self.rejected:,} {self.refused}"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_clock_time((self.total - self.done) / rate)}"
        return text

    def close(self) -> None:
        """Erase the line (the command's report comes next)."""
        if self._shown:
            self.stream.write(ERASE)
            self.stream.flush()
            self._shown = False

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        self.stream.write(ERASE + self.line(now))
        self.stream.flush()
        self._shown = True


def _clock_time(seconds: float) -> str:
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def for_terminal(
    label: str,
    *,
    as_json: bool,
    total: Callable[[], int | None] | None = None,
    unit: str = "records",
    refused: str = "rejected",
    stream: TextIO | None = None,
) -> Progress | None:
    """A reporter on stderr when it is a terminal and `--json` was not asked for, else None;
    `total` (counting the items in advance) is called only for a reporter."""
    stream = stream if stream is not None else sys.stderr
    try:
        attached = stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        attached = False
    if as_json or not attached:
        return None
    count = total() if total is not None else None
    return Progress(stream, label, total=count, unit=unit, refused=refused)


def crawl_callbacks(
    progress: Progress,
) -> tuple[Callable[[PageOutcome], None], Callable[[Outcome], None]]:
    """`crawl`'s `on_page` (pages fetched, skipped ones counted apart; sitemaps are not pages)
    and `on_outcome` (which starts a `publish` phase: the changed products)."""
    from ingest.pages.spider import PageSkipped

    def on_page(page: PageOutcome) -> None:
        if not isinstance(page, PageSkipped):
            progress.item()
        elif not page.sitemap:
            progress.item(rejected=True)

    def on_outcome(outcome: Outcome) -> None:
        if progress.unit == "pages":
            progress.phase("publish", unit="products")
        progress.outcome(outcome)

    return on_page, on_outcome


def count_rows(path: Path) -> int | None:
    """Rows of a feed, counted as lines (less a CSV's header); None when it cannot be read."""
    try:
        with path.open("rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
            f.seek(max(0, f.tell() - 1))
            if f.tell() and f.read(1) != b"\n":
                lines += 1  # a last row without its newline
    except OSError:
        return None
    return max(0, lines - 1) if path.suffix.lower() == ".csv" else lines


def count_items(paths: Iterable[tuple[Path, str]]) -> int | None:
    """Items of classified inputs (`(path, kind)`): a feed's or manifest's rows, one per page
    or document; None when one cannot be counted."""
    total = 0
    for path, kind in paths:
        if kind in ("feed", "manifest"):
            rows = count_rows(path)
            if rows is None:
                return None
            total += rows
        else:
            total += 1
    return total
