"""Blue/green targets of one index name: which table or collection serves, which one a reindex
is filling, which one served before.

An index name (FRESHINDEX_INDEX_NAME) is served by one *target* at a time: the table or
collection named like the index until the first reindex, then one named
`<name>__v<version>_<UTC time>` per reindex. Three pointers, each changed atomically on its own:

  live      the target readers and writers use (LanceDB: `<uri>/<name>.targets.json`, replaced
            with os.replace; Weaviate: the collection alias `<Name>__live`)
  building  the target `freshindex reindex` is filling (workers write updates there too)
  previous  the target that served before the last switch (workers keep it up to date, so a
            `--rollback` serves current data at once); cleared by a rollback or `--prune`

A worker writes every batch to each of live, building and previous (each with the model it
records), so no update published during a build or after a switch is missing from any of them;
readers resolve `live` again at most every `RESOLVE_EVERY_S`. Targets no pointer names are kept
until `freshindex reindex --prune` drops them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import UTC, datetime

RESOLVE_EVERY_S = 1.0
"""Longest a reader serves an index name from a target after a switch."""
SEPARATOR = "__"
"""Between an index name and its reindexed targets' suffix."""


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Where an index name points now."""

    live: str
    """The target serving the index name."""
    building: str | None = None
    """The target a reindex is filling, if any."""
    previous: str | None = None
    """The target that served before the last switch (`--rollback` goes back to it)."""

    def written(self) -> list[str]:
        """The targets a worker writes each batch to, live first, each once."""
        out = [self.live]
        for name in (self.building, self.previous):
            if name and name not in out:
                out.append(name)
        return out

    def switched(self, name: str) -> Layout:
        """The layout after `name` becomes live (the live one becomes previous)."""
        building = None if self.building == name else self.building
        return Layout(live=name, building=building, previous=self.live)

    def rolled_back(self) -> Layout:
        if self.previous is None:
            raise TargetError(
                f"nothing to roll back to: {self.live!r} serves and no previous target is kept"
            )
        return replace(self, live=self.previous, previous=None)


class TargetError(Exception):
    """A reindex operation that cannot be done as asked (no build, nothing to roll back to)."""


def new_target_name(base: str, version: int, now: datetime | None = None) -> str:
    """`<base>__v<version>_<UTC time to the second>`."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{base}{SEPARATOR}v{version}_{stamp}"


def belongs(base: str, name: str) -> bool:
    """Whether `name` is a target of the index whose base target is `base`."""
    return name == base or name.startswith(f"{base}{SEPARATOR}v")


class Targets(ABC):
    """The targets of one index name in one backend."""

    base: str
    """The target named like the index (the only one before a reindex)."""

    @abstractmethod
    def layout(self) -> Layout:
        """The pointers as they are now (live = `base` when none was ever set)."""

    @abstractmethod
    def names(self) -> list[str]:
        """Every target of this index name that exists, sorted."""

    @abstractmethod
    def set_building(self, name: str | None) -> None:
        """Point `building` at `name` (None: no build)."""

    @abstractmethod
    def apply(self, before: Layout, after: Layout) -> None:
        """Move the pointers from `before` to `after`; `live` moves atomically."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Delete the target `name` and its data."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Default: nothing."""

    def new_name(self, version: int) -> str:
        name = new_target_name(self.base, version)
        if name in self.names():
            raise TargetError(f"target {name!r} exists already: try again in a second")
        return name

    def switch(self, name: str) -> Layout:
        """Serve `name` from now on; the live target becomes the previous one."""
        before = self.layout()
        if name not in self.names():
            raise TargetError(f"no target {name!r} to switch to")
        if name == before.live:
            return before
        after = before.switched(name)
        self.apply(before, after)
        return after

    def rollback(self) -> Layout:
        """Serve the previous target again (what served before the last switch)."""
        before = self.layout()
        after = before.rolled_back()
        self.apply(before, after)
        return after

    def prune(self) -> list[str]:
        """Drop every target but the live one and the one being built; returns those dropped.
        Afterwards there is nothing to roll back to."""
        layout = self.layout()
        if layout.previous is not None:
            self.apply(layout, replace(layout, previous=None))
        keep = {layout.live, layout.building}
        dropped = [n for n in self.names() if n not in keep]
        for name in dropped:
            self.drop(name)
        return dropped
