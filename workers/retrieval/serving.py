"""What a retrieval service queries: the index name's live target, with the model it records.

`Serving` is one consistent pair (target, embedder pinned to the target's model): a search
takes one at its start and uses it for every stage, so a query is never embedded by one model
and compared with vectors of another. `ServingResolver` follows the live pointer
(`workers.index.targets`): at most every `RESOLVE_EVERY_S` one request reads it again, and when
it moved, opens the new target, binds it to the model it records and pins the Triton client to
that version; requests already running finish on the old pair, which is closed `RETIRE_AFTER_S` (at least
twice the request deadline) later. A switch therefore reaches every search within about a
second, with no restart and no failed request. A target that records another model than FRESHINDEX_MODEL_VERSION
(when set) is refused (`ModelMismatch`): the service keeps serving what it served and logs why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from schemas.settings import Settings
from workers.embedding.base import QueryEmbedder, VersionedEmbedder
from workers.embedding.identity import STOCK_VERSION, ModelIdentity, identity_of
from workers.errors import Terminal, WorkerError
from workers.index.base import VectorIndex
from workers.index.factory import open_index
from workers.index.targets import RESOLVE_EVERY_S, Targets

log = logging.getLogger("freshindex.retrieval")

RETIRE_AFTER_S = 30.0
"""How long a replaced target stays open for the searches that started on it."""


@dataclass(frozen=True, kw_only=True)
class Serving:
    """A target and the embedder of the model it records."""

    target: str
    index: VectorIndex
    embedder: QueryEmbedder
    model: ModelIdentity | None
    """The model the target records (None: not known, e.g. a fixed index in tests)."""


def open_serving(settings: Settings, root: VersionedEmbedder, target: str) -> Serving:
    """Open `target` for reading with the version it records (FRESHINDEX_MODEL_VERSION when
    set), identified by this service's model repository (blocking); a target recording another
    identity is refused (`ModelMismatch`). A target recording no model was filled before models
    were recorded: the stock model."""
    index = open_index(settings, create=False, long_lived_reader=True, target=target)
    try:
        recorded = index.recorded_model()
        version = settings.model_version or (recorded.version if recorded else STOCK_VERSION)
        wanted = identity_of(settings, version)  # as this service's model repository says
        index.bind_model(wanted, record=False)
    except BaseException:
        index.close()
        raise
    return Serving(target=target, index=index, embedder=root.pinned(wanted), model=wanted)


class ServingResolver:
    """Keeps a retrieval service on the live target (see the module docstring)."""

    def __init__(
        self, settings: Settings, root: VersionedEmbedder, targets: Targets, serving: Serving
    ) -> None:
        self.settings = settings
        self.root = root
        self.targets = targets
        self.serving = serving
        self._checked = time.monotonic()
        self._busy = False
        self._retired: list[tuple[float, Serving]] = []

    async def current(self) -> Serving:
        """The pair to use now (reading the pointer first when it is time and nobody else
        does; a request never waits for another's check)."""
        now = time.monotonic()
        if self._busy or now - self._checked < RESOLVE_EVERY_S:
            return self.serving
        self._busy = True
        try:
            await asyncio.to_thread(self._follow)
        finally:
            self._checked = time.monotonic()
            self._busy = False
        return self.serving

    def _follow(self) -> None:
        self._close_retired()
        try:
            live = self.targets.layout().live
            if live == self.serving.target:
                return
            fresh = open_serving(self.settings, self.root, live)
        except Terminal as e:
            log.error("not serving the new live target: %s", e)
            return
        except WorkerError as e:  # the index is away: keep serving, check again later
            log.warning("could not read the live target (will try again): %s", e)
            return
        log.info(
            "serving %s (model %s), was %s",
            fresh.target,
            fresh.model.describe() if fresh.model else "unknown",
            self.serving.target,
        )
        self._retired.append((time.monotonic(), self.serving))
        self.serving = fresh

    def _close_retired(self, *, all_of_them: bool = False) -> None:
        now = time.monotonic()
        after = max(RETIRE_AFTER_S, 2 * self.settings.serve_timeout_s)
        keep = []
        for since, old in self._retired:
            if all_of_them or now - since >= after:
                old.index.close()
            else:
                keep.append((since, old))
        self._retired = keep

    async def close(self) -> None:
        self._close_retired(all_of_them=True)
        self.serving.index.close()
        self.targets.close()
        await self.root.close()
