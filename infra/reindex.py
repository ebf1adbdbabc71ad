"""`freshindex reindex`: rebuild the index with another model version, blue/green.

  1. the version's identity is read (`workers.embedding.identity`) and Triton must serve it;
  2. a new target `<name>__v<V>_<time>` is created recording that model, and the index name's
     `building` pointer is set to it: from the next batch on, every worker writes each update to
     it as well, embedded with version V (`workers.routing`);
  3. the catalog's inputs (feeds, saved pages, documents, manifests: what `publish` takes) go
     through the prepare chain again, chunked with V's tokenizer, and are written to the new
     target by `workers.reindex.BuildWriter` (a part a worker wrote meanwhile is newer: kept);
  4. the new target is reconciled with the live one (products deleted meanwhile removed,
     products the inputs lacked reported as missing);
  5. the `live` pointer moves to the new target (atomically: an alias update on Weaviate, an
     `os.replace` of the pointer file on LanceDB); the old target becomes `previous`, which
     workers keep writing, so `--rollback` serves current data at once. `--prune` drops every
     target but the live one (and a build in progress).

Source records: the catalog's own inputs, not the index (it holds chunk texts, already cut by a
tokenizer, not the records) nor the chunks topic (chunks again, and a 7-day retention). The
build must chunk exactly as the publishers do for the updates workers write meanwhile, so a
version shipping its own tokenizer that differs from FRESHINDEX_TOKENIZER_PATH is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.settings import Settings
from workers.embedding.identity import ModelIdentity, identity_of, tokenizer_of
from workers.embedding.triton import TritonEmbedder
from workers.index.base import VectorIndex
from workers.index.factory import open_index, open_targets
from workers.index.targets import Layout, TargetError, Targets
from workers.indexer import BatchIndexer
from workers.limits import chunk_limit
from workers.reindex import BuildReport, BuildWriter, Reconciled, reconcile


@dataclass(kw_only=True)
class Outcome:
    """What a reindex did."""

    target: str
    model: ModelIdentity
    previous: str
    build: BuildReport
    reconciled: Reconciled
    prepare: dict[str, Any] = field(default_factory=dict)
    switched: bool = False
    layout: Layout | None = None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_settings(settings: Settings, version: int) -> Settings:
    """The settings the build chunks with: V's tokenizer, which must be the publishers'."""
    from ingest.prepare.tokenizer import default_tokenizer_path

    own = tokenizer_of(settings.model_repository, settings.triton_model, version)
    configured = settings.tokenizer_path or default_tokenizer_path()
    if own is not None and _sha256(own) != _sha256(configured):
        raise TargetError(
            f"version {version} chunks with its own tokenizer ({own}), not the one publishers"
            f" use ({configured}, FRESHINDEX_TOKENIZER_PATH): updates written during the build"
            " would be chunked for another model. Build a new index name for it instead"
            " (publish the catalog with FRESHINDEX_TOKENIZER_PATH and FRESHINDEX_INDEX_NAME"
            " set for the new model)"
        )
    return settings.model_copy(update={"tokenizer_path": own or settings.tokenizer_path})


async def _embedder(settings: Settings, identity: ModelIdentity) -> TritonEmbedder:
    """Triton's client for `identity`'s version, once Triton says it is ready."""
    embedder = TritonEmbedder(settings, identity=identity)
    try:
        await embedder.ready()
    except BaseException:
        await embedder.close()
        raise
    return embedder


def reindex(
    settings: Settings,
    version: int,
    inputs: list[Path],
    *,
    product_id: str | None = None,
    switch: bool = True,
    allow_missing: bool = False,
    on_outcome: Callable[[Any], None] | None = None,
) -> Outcome:
    """Steps 1-5 of the module docstring; raises `TargetError`, `WorkerError`."""
    identity = identity_of(settings, version)
    chunking = build_settings(settings, version)
    targets = open_targets(settings)
    try:
        layout = targets.layout()
        if layout.building:
            raise TargetError(
                f"a reindex is building {layout.building!r} already: let it finish, or drop it"
                " with `freshindex reindex --abort`"
            )
        return _run(settings, chunking, identity, targets, layout, inputs, product_id,
                    switch=switch, allow_missing=allow_missing, on_outcome=on_outcome)  # fmt: skip
    finally:
        targets.close()


def _run(
    settings: Settings,
    chunking: Settings,
    identity: ModelIdentity,
    targets: Targets,
    layout: Layout,
    inputs: list[Path],
    product_id: str | None,
    *,
    switch: bool,
    allow_missing: bool,
    on_outcome: Callable[[Any], None] | None,
) -> Outcome:
    loop = asyncio.new_event_loop()
    try:
        embedder = loop.run_until_complete(_embedder(settings, identity))
        try:
            name = targets.new_name(identity.version)
            index = open_index(settings, target=name, create=True, model=identity)
            try:
                targets.set_building(name)  # from here on, workers write updates to `name` too
                indexer = BatchIndexer(
                    index,
                    embedder,
                    passage_prefix=settings.passage_prefix,
                    limit=chunk_limit(chunking),
                )
                writer = BuildWriter(
                    indexer, loop.run_until_complete, batch_size=settings.batch_size
                )
                prepared = _prepare(chunking, inputs, writer, product_id, on_outcome)
                reconciled = _reconcile(settings, index, layout.live)
            finally:
                index.close()
        finally:
            loop.run_until_complete(embedder.close())
    finally:
        loop.close()
    outcome = Outcome(
        target=name,
        model=identity,
        previous=layout.live,
        build=writer.report,
        reconciled=reconciled,
        prepare=prepared,
    )
    if switch and (allow_missing or not reconciled.missing):
        outcome.layout = targets.switch(name)
        outcome.switched = True
    return outcome


def _prepare(
    settings: Settings,
    inputs: list[Path],
    writer: BuildWriter,
    product_id: str | None,
    on_outcome: Callable[[Any], None] | None,
) -> dict[str, Any]:
    """Run the prepare chain over the inputs into `writer`; the combined prepare report."""
    from ingest.core.rows import RowLimits
    from ingest.inputs import classify
    from ingest.prepare.chain import combine_reports
    from ingest.publish import chain_for, send_inputs

    found = classify(inputs, product_id=product_id)
    with chain_for(settings, dedup_state=":memory:") as chain:  # the live dedup state stays
        reports = send_inputs(
            found, chain, writer, limits=RowLimits.of(settings), progress=on_outcome
        )
    writer.flush()
    return combine_reports(reports, source="reindex")


def _reconcile(settings: Settings, index: VectorIndex, live: str) -> Reconciled:
    serving = open_index(settings, target=live, create=False)
    try:
        return reconcile(index, serving)
    finally:
        serving.close()


def describe_targets(settings: Settings) -> dict[str, Any]:
    """The pointers and every target with its rows and model (`reindex --status`)."""
    targets = open_targets(settings)
    try:
        layout = targets.layout()
        rows = []
        for name in targets.names():
            index = open_index(settings, target=name, create=False)
            try:
                model = index.recorded_model()
                rows.append(
                    {
                        "target": name,
                        "rows": index.count(),
                        "model": model.describe() if model else None,
                        "version": model.version if model else None,
                    }
                )
            finally:
                index.close()
    finally:
        targets.close()
    return {
        "index": settings.index_name,
        "live": layout.live,
        "building": layout.building,
        "previous": layout.previous,
        "targets": rows,
    }


def operate(settings: Settings, action: str) -> dict[str, Any]:
    """`switch` (to the building target), `rollback`, `prune` or `abort` (drop the building
    target); returns the pointers afterwards (and what was dropped)."""
    targets = open_targets(settings)
    try:
        dropped: list[str] = []
        if action == "switch":
            building = targets.layout().building
            if building is None:
                raise TargetError("no target is being built: nothing to switch to")
            targets.switch(building)
        elif action == "rollback":
            targets.rollback()
        elif action == "prune":
            dropped = targets.prune()
        elif action == "abort":
            building = targets.layout().building
            if building is None:
                raise TargetError("no target is being built: nothing to abort")
            targets.set_building(None)
            targets.drop(building)
            dropped = [building]
        else:
            raise ValueError(action)
        layout = targets.layout()
    finally:
        targets.close()
    return {
        "live": layout.live,
        "building": layout.building,
        "previous": layout.previous,
        "dropped": dropped,
    }
