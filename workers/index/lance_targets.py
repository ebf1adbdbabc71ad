"""`Targets` of a LanceDB folder: tables `<name>` and `<name>__v<version>_<time>`, and the
pointer file `<folder>/<name>.targets.json` (`{"live", "building", "previous"}`), written to a
temporary file, fsynced and moved over the old one with `os.replace`, so every reader sees the
old or the new pointers, never a mix. No file: `<name>` serves (an index never reindexed).

Pointers need a local folder (an object-store URI has no atomic rename): there, the index name's
own table always serves and `reindex` is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import lancedb

from workers.errors import IndexUnavailable
from workers.index.targets import Layout, TargetError, Targets, belongs

POINTER_SUFFIX = ".targets.json"


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def pointer_path(uri: str, index_name: str) -> Path | None:
    if not is_local(uri):
        return None
    return Path(uri.removeprefix("file://")) / f"{index_name}{POINTER_SUFFIX}"


def read_layout(path: Path | None, base: str) -> Layout:
    """The pointers in `path` (the default layout when there is none)."""
    if path is None:
        return Layout(live=base)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Layout(live=base)
    except (OSError, ValueError) as e:
        raise IndexUnavailable(f"cannot read the index's targets from {path}: {e}") from e
    return Layout(
        live=str(data.get("live") or base),
        building=data.get("building") or None,
        previous=data.get("previous") or None,
    )


class LanceTargets(Targets):
    """The targets of index `index_name` in the LanceDB folder `uri`."""

    def __init__(self, uri: str, index_name: str) -> None:
        self.uri = uri
        self.base = index_name
        self.path = pointer_path(uri, index_name)

    def layout(self) -> Layout:
        return read_layout(self.path, self.base)

    def names(self) -> list[str]:
        db = lancedb.connect(self.uri)
        tables: list[str] = list(db.list_tables().tables)
        return sorted(t for t in tables if belongs(self.base, t))

    def set_building(self, name: str | None) -> None:
        layout = self.layout()
        self._write(Layout(live=layout.live, building=name, previous=layout.previous))

    def apply(self, before: Layout, after: Layout) -> None:
        self._write(after)

    def drop(self, name: str) -> None:
        lancedb.connect(self.uri).drop_table(name)

    def _write(self, layout: Layout) -> None:
        if self.path is None:
            raise TargetError(
                f"LanceDB at {self.uri} is not a local folder: blue/green targets need one"
                " (FRESHINDEX_LANCEDB_URI)"
            )
        body: dict[str, Any] = {
            "live": layout.live,
            "building": layout.building,
            "previous": layout.previous,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        with partial.open("w", encoding="utf-8") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, self.path)
