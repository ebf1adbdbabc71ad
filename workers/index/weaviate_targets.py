"""`Targets` of a Weaviate index: collections `<Name>` and `<Name>__v<version>_<time>`, and
three collection aliases (Weaviate 1.32+), each moved atomically by the server:
`<Name>__live`, `<Name>__building`, `<Name>__previous`. No `__live` alias: `<Name>` serves (an
index never reindexed). Clients outside freshindex query the alias `<Name>__live` once a reindex
has made it. One `GET /v1/aliases` reads all three.
"""

from __future__ import annotations

from typing import Any

import weaviate

from schemas.settings import Settings
from workers.index.targets import SEPARATOR, Layout, Targets, belongs
from workers.index.weaviate import _connect, _guard, collection_name

LIVE, BUILDING, PREVIOUS = "live", "building", "previous"


class WeaviateTargets(Targets):
    """The targets of the index FRESHINDEX_INDEX_NAME in the Weaviate at FRESHINDEX_WEAVIATE_URL
    (`client`: share an open client; it is then not closed here)."""

    def __init__(self, settings: Settings, client: weaviate.WeaviateClient | None = None) -> None:
        self.base = collection_name(settings.index_name)
        self.url = settings.weaviate_url
        self._owner = client is None
        self._client = client or _connect(settings)

    def alias(self, role: str) -> str:
        return f"{self.base}{SEPARATOR}{role}"

    def layout(self) -> Layout:
        with _guard(f"reading the aliases of {self.base!r} at {self.url}"):
            found: dict[str, Any] = self._client.alias.list_all()
        pointed = {name: getattr(a, "collection", None) for name, a in found.items()}
        return Layout(
            live=pointed.get(self.alias(LIVE)) or self.base,
            building=pointed.get(self.alias(BUILDING)),
            previous=pointed.get(self.alias(PREVIOUS)),
        )

    def names(self) -> list[str]:
        with _guard(f"listing the collections at {self.url}"):
            found = self._client.collections.list_all(simple=True)
        return sorted(n for n in found if belongs(self.base, n))

    def set_building(self, name: str | None) -> None:
        self._point(BUILDING, name)

    def apply(self, before: Layout, after: Layout) -> None:
        """previous first, then live (the switch itself, one alias update), then building:
        at every moment the targets workers write cover live, building and previous."""
        if after.previous != before.previous:
            self._point(PREVIOUS, after.previous)
        if after.live != before.live:
            self._point(LIVE, after.live)
        if after.building != before.building:
            self._point(BUILDING, after.building)

    def drop(self, name: str) -> None:
        with _guard(f"deleting collection {name!r} at {self.url}"):
            self._client.collections.delete(name)

    def _point(self, role: str, target: str | None) -> None:
        alias = self.alias(role)
        with _guard(f"moving alias {alias!r} at {self.url}"):
            exists = self._client.alias.get(alias_name=alias) is not None
            if target is None:
                if exists:
                    self._client.alias.delete(alias_name=alias)
            elif exists:
                self._client.alias.update(alias_name=alias, new_target_collection=target)
            else:
                self._client.alias.create(alias_name=alias, target_collection=target)

    def close(self) -> None:
        if self._owner:
            self._client.close()
