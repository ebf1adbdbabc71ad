"""Which targets a worker writes each batch to, and with which model (blue/green).

Before every batch the worker reads the index name's pointers (`workers.index.targets`: a file
read on LanceDB, one `GET /v1/aliases` on Weaviate) and writes the batch to the live target,
then to the target a reindex is building and to the previous one, if any: an update published
while a reindex builds reaches the new target, and one published after a switch still reaches
the old one, so a rollback serves current data. Each target is opened once and embedded for
with the model it records (`ModelIdentity`), through one shared Triton channel:

  - the live target, new or recording no model: the model FRESHINDEX_MODEL_VERSION names,
    else the highest version Triton serves; recorded in the target;
  - the live target recording a model: that version; with FRESHINDEX_MODEL_VERSION set to
    another, the worker refuses (`ModelMismatch`, naming both) and stops;
  - a building or previous target: the version it records (a reindex created it with one).
Each version's identity is read from this worker's model repository (FRESHINDEX_MODEL_REPOSITORY)
and must be exactly what the target records: a version retrained in place (another
fingerprint), or another FRESHINDEX_EMBEDDING_DIM for the stock model, is refused too.

A target the pointers no longer name is closed. Only the live target's dead letters are sent:
the others' are logged (the same message would otherwise be dead-lettered twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from schemas.settings import Settings
from workers.embedding.base import VersionedEmbedder
from workers.embedding.identity import STOCK_VERSION, ModelIdentity, identity_of
from workers.embedding.triton import TritonEmbedder
from workers.errors import IndexMisconfigured, Terminal, Transient, VectorIndexError
from workers.index.base import VectorIndex
from workers.index.factory import open_index, open_targets
from workers.index.targets import Layout, Targets
from workers.indexer import BatchIndexer

log = logging.getLogger("freshindex.worker")

MakeIndexer = Callable[[VectorIndex, VersionedEmbedder], BatchIndexer]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One target a batch is written to."""

    name: str
    role: str
    """live, building or previous."""
    indexer: BatchIndexer


class TargetRouter:
    """Opens, binds and closes the targets a worker writes (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        make: MakeIndexer,
        *,
        targets: Targets | None = None,
        root: VersionedEmbedder | None = None,
    ) -> None:
        """`targets` and `root` (the Triton client every target's embedder shares) default to
        the configured ones, opened on first use inside the event loop."""
        self.settings = settings
        self.make = make
        self._targets = targets
        self._root = root
        self._open: dict[str, BatchIndexer] = {}
        self.layout: Layout | None = None

    async def routes(self) -> list[Route]:
        """The targets of this batch, live first (reopened when the pointers moved)."""
        if self._targets is None:
            self._targets = await asyncio.to_thread(open_targets, self.settings)
        layout = await asyncio.to_thread(self._targets.layout)
        if layout != self.layout:
            log.info(
                "targets: live %s, building %s, previous %s",
                layout.live,
                layout.building or "-",
                layout.previous or "-",
            )
        self.layout = layout
        names = layout.written()
        for name in names:
            if name not in self._open:
                self._open[name] = await self._bind(name, live=name == layout.live)
        for name in [n for n in self._open if n not in names]:
            await self._close(self._open.pop(name))
        roles = {layout.live: "live", layout.building: "building", layout.previous: "previous"}
        return [Route(name=n, role=roles.get(n, "live"), indexer=self._open[n]) for n in names]

    def indexers(self) -> list[BatchIndexer]:
        """The targets opened so far (maintenance)."""
        return list(self._open.values())

    async def _bind(self, name: str, *, live: bool) -> BatchIndexer:
        if self._root is None:  # created inside the event loop (gRPC aio client)
            self._root = TritonEmbedder(self.settings)
        index = await asyncio.to_thread(self._open_target, name, live=live)
        try:
            identity = await self._identity(index, live=live)
            await asyncio.to_thread(index.bind_model, identity, record=True)
        except BaseException:
            index.close()
            raise
        log.info("target %s: writing with model %s", name, identity.describe())
        return self.make(index, self._root.pinned(identity))

    def _open_target(self, name: str, *, live: bool) -> VectorIndex:
        """The target `name`; only the index name's own target is created when missing (the
        others are made by a reindex: one the pointers name that is gone is a misconfiguration,
        never an empty new target)."""
        assert self._targets is not None
        create = live and name == self._targets.base
        try:
            # long-lived: the change check must see what other processes did to the table (an
            # operator's delete, a reindex), or it would skip a chunk the table no longer holds
            return open_index(self.settings, target=name, create=create, long_lived_reader=True)
        except VectorIndexError as e:
            if isinstance(e, Transient | Terminal):
                raise
            raise IndexMisconfigured(
                f"{e}: the index's pointers name a target that does not exist (see"
                " `freshindex reindex`; --rollback or --abort moves them)",
                setting="FRESHINDEX_INDEX_NAME",
            ) from e

    async def _identity(self, index: VectorIndex, *, live: bool) -> ModelIdentity:
        """The model this worker writes `index` with, as its own model repository describes
        it (`bind_model` then refuses it if the target records another)."""
        assert self._root is not None
        recorded = await asyncio.to_thread(index.recorded_model)
        pinned = self.settings.model_version if live else None
        if pinned:
            version = pinned
        elif recorded is not None:
            version = recorded.version
        elif live:
            version = await self._root.serving_version()
        elif await asyncio.to_thread(index.count):  # filled before models were recorded
            version = STOCK_VERSION
        else:
            raise IndexMisconfigured(
                f"target {index.target!r} records no model: it was not made by freshindex"
                " reindex (abort that reindex: freshindex reindex --abort)",
                setting="FRESHINDEX_INDEX_NAME",
            )
        return await asyncio.to_thread(identity_of, self.settings, version)

    @staticmethod
    async def _close(indexer: BatchIndexer) -> None:
        await asyncio.to_thread(indexer.index.close)

    async def close(self) -> None:
        for indexer in self._open.values():
            await self._close(indexer)
        self._open.clear()
        if self._targets is not None:
            self._targets.close()
        if self._root is not None:
            await self._root.close()
