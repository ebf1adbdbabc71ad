"""The unchanged path of a publish: a product the index already holds as this record would make
it costs a hash and a share of one bulk lookup, not a chain run, a Kafka message and a worker's
change check.

    Accepted record ──> key = sha256(fingerprint, record) ──> remembered chunks of that key?
        no  ──> the chain (clean, dedup, chunk) and Kafka, as always; then remembered
        yes ──> the index holds each of those chunk ids with the same record hash?
                    yes ──> `Unchanged` (reported, nothing sent)
                    no  ──> the chain and Kafka (the index lost it, or it was never written)

The index stays the source of truth: the cache only says which chunks a record WOULD make, and
every skip is confirmed against the index in bulk (`IndexedHashes`, one lookup per batch of
records), so a product missing from the index is sent again however often this publisher has
sent it before; deletion rows always go out. A product id that appears twice in one publish is
never skipped after its first row (the later row must win in Kafka order).

What the cache is keyed by decides what invalidates it: the cleaned record (all its fields) and
a fingerprint of everything else that decides its chunks (the chunker's settings, the tokenizer
file, the message schema version and the source of the modules that clean, filter and chunk).
A chunker or code change is a new fingerprint, so every record goes through the chain once.
The embedding model is not in it: vectors are the worker's business, and a new model is a new
index (`freshindex reindex`), whose lookup holds none of the chunks.

Where it lives: an sqlite file (`FRESHINDEX_PUBLISH_CACHE_PATH`, default
`$FRESHINDEX_HOME/published.sqlite3`), one row per record: a 16-byte key, the product id and its
chunks' (id, record hash) pairs. At 5M products (about 11M chunks) that is about 1.2 GB on disk;
memory is sqlite's page cache (a few MiB), since each batch reads only its own keys.
Why sqlite: it is in the standard library, survives restarts and crashes (WAL), and a keyed
bulk read of 256 keys takes about a millisecond; nothing else needs to run.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from ingest.core.items import Accepted, Location, SourceItem
from ingest.prepare.chain import Unchanged
from schemas.models import SCHEMA_VERSION, Chunk, ProductRecord

IndexedHashes = Callable[[list[str]], dict[str, str]]
"""Of the given chunk ids, those the index holds, with the record hash it holds for each; raises
when the index cannot be asked (the gate then sends everything)."""

BATCH = 256
"""Records per bulk check (one cache read and one index lookup)."""

Expected = tuple[str, list[tuple[str, str]]]
"""What a remembered record made: its product id and its chunks' (chunk id, record hash)."""
E = TypeVar("E")


def fingerprint(settings_part: dict[str, object], modules: Iterable[ModuleType]) -> str:
    """What decides a record's chunks besides the record: `settings_part` (chunker settings,
    tokenizer hash) and the source of `modules`; any change gives another fingerprint."""
    h = hashlib.sha256()
    h.update(json.dumps(settings_part, sort_keys=True, default=str).encode())
    h.update(f"schema {SCHEMA_VERSION}".encode())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # a bare source tree
        h.update(importlib.metadata.version("freshindex").encode())
    for module in sorted(modules, key=lambda m: m.__name__):
        source = Path(module.__file__ or "")
        h.update(module.__name__.encode())
        h.update(source.read_bytes() if source.is_file() else b"")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (the tokenizer's, for the fingerprint)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_key(record: ProductRecord, fingerprint: str) -> bytes:
    """The cache key of a cleaned record under a fingerprint (16 bytes of sha256)."""
    body = record.model_dump_json()
    return hashlib.sha256(f"{fingerprint}\x1f{body}".encode()).digest()[:16]


class PublishedCache:
    """Which chunks each record made when it was last sent (sqlite; see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sent ("
            " key BLOB PRIMARY KEY, product_id TEXT NOT NULL, chunks TEXT NOT NULL"
            ") WITHOUT ROWID"
        )
        self._pending: list[tuple[bytes, str, str]] = []

    def expected(self, keys: list[bytes]) -> dict[bytes, Expected]:
        """The product id and remembered (chunk id, record hash) pairs of each known key."""
        self.commit()
        out: dict[bytes, Expected] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, product_id, chunks in self._db.execute(
                f"SELECT key, product_id, chunks FROM sent WHERE key IN ({marks})", part
            ):
                out[bytes(key)] = (product_id, [(c, h) for c, h in json.loads(chunks)])
        return out

    def remember(self, key: bytes, product_id: str, chunks: list[Chunk]) -> None:
        """Record what `key` made (written with the next `commit`)."""
        pairs = [[c.chunk_id, c.metadata_hash()] for c in chunks]
        self._pending.append((key, product_id, json.dumps(pairs, separators=(",", ":"))))
        if len(self._pending) >= 1000:
            self.commit()

    def commit(self) -> None:
        if self._pending:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO sent (key, product_id, chunks) VALUES (?, ?, ?)",
                    self._pending,
                )
            self._pending.clear()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM sent").fetchone()[0])

    def close(self) -> None:
        self.commit()
        self._db.close()


@dataclass(kw_only=True)
class GateStats:
    """What the gate decided over one publish."""

    checked: int = 0
    """Records whose chunks the cache knew (asked of the index)."""
    unchanged: int = 0
    """Of those, held by the index as they are: not sent."""
    index_errors: int = 0
    """Bulk checks that failed (their records were sent)."""


@dataclass(frozen=True, kw_only=True)
class Keyed:
    """An item the chain must handle, with the cache key of what it was read from (None: the
    item cannot be remembered)."""

    item: SourceItem
    key: bytes | None


class UnchangedGate:
    """Splits a stream of entries (raw feed rows, or items) into `Unchanged` ones and the items
    the chain must handle (`Keyed`), in the stream's order. An entry the cache knows and the
    index confirms is never parsed: for a feed row that skips validation and cleaning too.
    `remember` records what a sent entry made."""

    def __init__(
        self,
        cache: PublishedCache,
        indexed: IndexedHashes,
        fingerprint: str,
        *,
        batch: int = BATCH,
        on_index_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.cache = cache
        self.indexed = indexed
        self.fingerprint = fingerprint
        self.batch = batch
        self.on_index_error = on_index_error
        self.stats = GateStats()
        self._seen: set[str] = set()

    def row_key(self, source: str, raw: str) -> bytes:
        """The cache key of a raw row of `source` (the row's exact text: another text, even
        only reformatted, is another key)."""
        body = f"{self.fingerprint}\x1f{source}\x1f{raw}"
        return hashlib.sha256(body.encode("utf-8", errors="surrogatepass")).digest()[:16]

    def item_key(self, item: SourceItem) -> bytes | None:
        """The cache key of an item (a record: its cleaned fields)."""
        return record_key(item.record, self.fingerprint) if isinstance(item, Accepted) else None

    def items(self, items: Iterable[SourceItem]) -> Iterator[Keyed | Unchanged]:
        """`split` over items already parsed (crawled pages, a list of records)."""
        return self.split(items, key=self.item_key, parse=lambda item: item, where=lambda i: i.at)

    def split(
        self,
        entries: Iterable[E],
        *,
        key: Callable[[E], bytes | None],
        parse: Callable[[E], SourceItem],
        where: Callable[[E], Location],
    ) -> Iterator[Keyed | Unchanged]:
        """Entries in batches of `batch` (`key`: an entry's cache key; `parse`: its item, only
        asked of entries the chain must handle; `where`: its location, for the report); an
        error of `entries` comes after the entries read before it were decided."""
        pending: list[E] = []
        it = iter(entries)
        while True:
            try:
                entry = next(it)
            except StopIteration:
                break
            except Exception:
                yield from self._decide(pending, key, parse, where)
                raise
            pending.append(entry)
            if len(pending) >= self.batch:
                yield from self._decide(pending, key, parse, where)
                pending = []
        yield from self._decide(pending, key, parse, where)

    def remember(self, entry: Keyed, chunks: list[Chunk]) -> None:
        """`entry` was sent as `chunks`."""
        if entry.key is not None and chunks:
            self.cache.remember(entry.key, chunks[0].product_id, chunks)

    def close(self) -> None:
        self.cache.commit()

    def _decide(
        self,
        batch: list[E],
        key: Callable[[E], bytes | None],
        parse: Callable[[E], SourceItem],
        where: Callable[[E], Location],
    ) -> Iterator[Keyed | Unchanged]:
        if not batch:
            return
        keys = [key(e) for e in batch]
        known = self.cache.expected([k for k in keys if k is not None])
        self.stats.checked += len(known)
        held = self._held([c for _, pairs in known.values() for c, _ in pairs])
        for entry, k in zip(batch, keys, strict=True):
            expected = known.get(k) if k is not None else None
            if expected is not None and held is not None:
                product_id, pairs = expected
                if product_id not in self._seen and all(held.get(c) == h for c, h in pairs):
                    self._seen.add(product_id)
                    self.stats.unchanged += 1
                    yield Unchanged(at=where(entry), product_id=product_id, chunks=len(pairs))
                    continue
            item = parse(entry)
            if named := _product_id(item):
                self._seen.add(named)
            yield Keyed(item=item, key=k)

    def _held(self, chunk_ids: list[str]) -> dict[str, str] | None:
        if not chunk_ids:
            return {}
        try:
            return self.indexed(chunk_ids)
        except Exception as e:  # an index that cannot be asked, for whatever reason: send all
            self.stats.index_errors += 1
            if self.on_index_error is not None:
                self.on_index_error(e)
            return None


def _product_id(item: SourceItem) -> str | None:
    if isinstance(item, Accepted):
        return item.record.id
    return item.product_id
