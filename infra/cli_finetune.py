"""`freshindex finetune`: fine-tune the embedding model on judged queries and write it as a new
version of the model in Triton's model repository (`workers.finetune`).

Registered on the app in `infra.cli`; torch and sentence-transformers are imported only when it
runs. The corpus and the hard negatives come from the live index (`Retriever`, the code
`freshindex serve` runs); when it cannot be reached, from `--catalog` in process, said in the
output. Training runs on the CPU. Exit status: 0, or 1 with one line saying why (qrels that
cannot be read, with every bad line; nothing to train on; no corpus; a base model or model
repository that cannot be used).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from schemas.settings import Settings, home_dir

if TYPE_CHECKING:
    from workers.finetune.data import Candidates, Passage, Split
    from workers.relevance import Qrels

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def finetune(
    qrels_path: Annotated[
        Path,
        typer.Option(
            "--qrels",
            help='Judgments, JSONL: {"query", "product_id", "grade": 0-3} per line (optional'
            ' "kind", "fold"); see README "Relevance".',
            show_default=False,
        ),
    ],
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Model to start from: a version of FRESHINDEX_TRITON_MODEL in the model"
            " repository (e.g. 2), or a sentence-transformers folder. Default: the stock"
            " all-MiniLM-L6-v2.",
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, max=100, help="Most epochs (early stopping).")
    ] = 3,
    fold: Annotated[
        int | None,
        typer.Option(
            "--fold",
            min=0,
            max=1,
            help="Train on this fold's queries only; the other fold's are reported as test.",
        ),
    ] = None,
    model_repository: Annotated[
        Path | None,
        typer.Option(
            "--model-repository",
            help="Triton model repository to add the version to. Default:"
            " FRESHINDEX_MODEL_REPOSITORY (what `freshindex up` serves), or the served copy in"
            " $FRESHINDEX_HOME/triton/model_repository instead of the bundled one in the"
            " source tree.",
        ),
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            help="Catalog inputs (a feed, pages, documents) to take the corpus from, prepared"
            " as `publish` would, and mine in process, when the live index cannot be reached.",
        ),
    ] = None,
    no_index: Annotated[
        bool,
        typer.Option("--no-index", help="Do not use the live index: the corpus is --catalog."),
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=2, max=1024, help="Rows per training step.")
    ] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, torch, batches.")] = 13,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the embedding model on judged queries (positives from the qrels, hard
    negatives from the live index's BM25 and vector candidates), stop early on held-out
    queries, and write a new model version with its fingerprint; prints the version and
    vector-only nDCG@10 before and after."""
    from workers.errors import WorkerError
    from workers.finetune.data import split_queries
    from workers.finetune.params import Params
    from workers.finetune.repository import resolve_base
    from workers.finetune.run import Request
    from workers.finetune.run import finetune as run_finetune

    settings = Settings.load()
    qrels = _qrels(qrels_path)
    params = Params(
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
    )
    logging.getLogger("freshindex.finetune").setLevel(logging.INFO)
    try:
        split = split_queries(
            qrels, fold=fold, validation_fraction=params.validation_fraction, seed=seed
        )
        repository = _repository(settings, model_repository)
        resolved = resolve_base(base, repository, settings.triton_model)
        passages, candidates, corpus_source, mining = _sources(
            settings, split, params.candidates, catalog, no_index
        )
        outcome = run_finetune(
            Request(
                qrels=qrels,
                qrels_path=str(qrels_path),
                qrels_sha256=hashlib.sha256(qrels_path.read_bytes()).hexdigest(),
                split=split,
                fold=fold,
                passages=passages,
                corpus_source=corpus_source,
                candidates=candidates,
                mining_source=mining,
                base=resolved,
                repository=repository,
                model_name=settings.triton_model,
                params=params,
            )
        )
    except (OSError, WorkerError) as e:
        raise _fail(str(e)) from e
    if as_json:
        typer.echo(json.dumps(outcome.summary()))
        return
    _print(outcome.summary())


def _qrels(path: Path) -> Qrels:
    from workers.relevance import QrelsError, load_qrels

    try:
        return load_qrels(path)
    except QrelsError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from e


def _repository(settings: Settings, given: Path | None) -> Path:
    """The repository to write into: given, else the configured one, except that the bundled
    one in the source tree is replaced by the stack's served copy (seeded from it)."""
    from infra.stack.triton import DEFAULT_MODEL_REPOSITORY, seed_repository, served_repository

    if given is not None:
        return given
    configured = settings.model_repository.resolve()
    if configured != DEFAULT_MODEL_REPOSITORY.resolve():
        return configured
    served = served_repository(home_dir())
    if not (served / settings.triton_model / "config.pbtxt").is_file():
        seed_repository(served)
    return served


def _sources(
    settings: Settings, split: Split, k: int, catalog: Path | None, no_index: bool
) -> tuple[list[Passage], dict[str, Candidates] | None, str, str]:
    """(corpus, live candidates or None, where the corpus came from, where negatives come
    from): the live index, else `catalog` in process (see the module docstring)."""
    from workers.errors import WorkerError

    why = "--no-index"
    if not no_index:
        try:
            return asyncio.run(_live(settings, split.train, k))
        except (OSError, WorkerError) as e:
            why = f"the live index cannot be used ({type(e).__name__}: {e})"
    if catalog is None:
        raise _fail(f"no corpus to train on: {why}, and no --catalog to read one from")
    typer.secho(f"note: {why}: corpus and negatives from {catalog}, in process", err=True)
    passages = _catalog_passages(settings, catalog)
    mining = f"in process over {catalog}: BM25 and base-model vector candidates ({why})"
    return passages, None, f"catalog {catalog}, prepared in process", mining


async def _live(
    settings: Settings, queries: tuple[str, ...], k: int
) -> tuple[list[Passage], dict[str, Candidates] | None, str, str]:
    from workers.errors import WorkerError
    from workers.finetune.mining import index_passages, live_candidates
    from workers.retrieval.pipeline import Retriever

    retriever = await Retriever.open(settings, installed=False)
    try:
        passages = await index_passages(retriever)
        if not passages:
            raise OSError(f"index {settings.index_name!r} is empty")
        where = f"live index ({settings.index_backend} {settings.index_name!r})"
        try:
            candidates = await live_candidates(retriever, queries, k=min(k, settings.serve_max_k))
        except WorkerError as e:
            mining = f"in process over the {where}'s chunks (its search failed: {e})"
            return passages, None, where, mining
        return passages, candidates, where, f"{where}: BM25 and vector candidates"
    finally:
        await retriever.close()


class _Collect:
    """A `MessageSink` that keeps the chunks (the catalog's corpus)."""

    def __init__(self) -> None:
        self.passages: list[Passage] = []

    def send(self, message: Any) -> None:
        from schemas.models import Chunk
        from workers.finetune.data import Passage

        if isinstance(message, Chunk):
            self.passages.append(
                Passage(chunk_id=message.chunk_id, product_id=message.product_id, text=message.text)
            )

    def send_dead_letter(self, letter: Any) -> None:
        return None

    def flush(self) -> None:
        return None


def _catalog_passages(settings: Settings, catalog: Path) -> list[Passage]:
    """The chunks `publish` would send for `catalog` (deduplicated among themselves)."""
    from ingest.inputs import classify
    from ingest.publish import chain_for, send_inputs

    if not catalog.exists():
        raise _fail(f"--catalog {catalog}: no such file or folder")
    sink = _Collect()
    with chain_for(settings, dedup_state=":memory:") as chain:
        send_inputs(classify([catalog]), chain, sink)
    if not sink.passages:
        raise _fail(f"--catalog {catalog}: no chunk came out of it")
    return sink.passages


def _print(summary: dict[str, Any]) -> None:
    training, queries = summary["training"], summary["queries"]
    typer.echo(f"version {summary['version']} of {summary['model']}: {summary['path']}")
    fold = "" if queries["fold"] is None else f" (fold {queries['fold']})"
    typer.echo(
        f"  base {summary['base_model']}; trained on {queries['train_queries']} queries of"
        f" {queries['path']}{fold}, {queries['rows']} rows; best epoch {training['best_epoch']}"
        f" of {len(training['epochs']) - 1}, {training['seconds']:.0f} s"
    )
    typer.echo(f"  corpus: {summary['corpus']['source']} ({summary['corpus']['chunks']} chunks)")
    typer.echo(f"  hard negatives: {summary['mining']}")
    typer.echo("vector-only nDCG@10 in process, before -> after:")
    labels = {
        "validation": "validation (held out, early stopping)",
        "test": "test (the other fold, never trained on)",
    }
    for side, before in summary["before"].items():
        after = summary["after"][side]
        typer.echo(
            f"  {labels[side]}, {before['queries']} queries:"
            f" {before['ndcg@10']:.4f} -> {after['ndcg@10']:.4f}"
        )
    if not summary["improved"]:
        typer.echo("  no epoch beat the base model: this version holds the base model's weights")
    typer.echo(
        f"serve it: `freshindex restart triton` (Triton loads versions at start), then"
        f" `freshindex reindex CATALOG --model-version {summary['version']}`"
    )
