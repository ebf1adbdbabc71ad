"""`freshindex train-reranker` (train and install the ranking stage) and `freshindex eval`
(relevance of the live index on judged queries).

Registered on the app in `infra.cli`; LightGBM is imported only when a model is trained or
loaded. Both search the live index in process through `Retriever` (the code `freshindex serve`
runs), so the stack must be up and the catalog indexed. Exit status: 0, or 1 with one line
saying why (qrels that cannot be read, with every bad line; the index or Triton away; nothing to
evaluate), 78 for a ranking model file that cannot be used (it names FRESHINDEX_RANKER_PATH).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from schemas.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
QrelsOpt = Annotated[
    Path,
    typer.Option(
        "--qrels",
        help='Judgments, JSONL: {"query", "product_id", "grade": 0-3} per line (optional'
        ' "kind", "fold"); see README "Relevance".',
        show_default=False,
    ),
]
FoldOpt = Annotated[
    int | None,
    typer.Option("--fold", min=0, max=1, help="Only the queries of this fold of the qrels."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _qrels(path: Path, fold: int | None) -> Any:
    from workers.relevance import QrelsError, load_qrels

    try:
        qrels = load_qrels(path)
    except QrelsError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from e
    if fold is None:
        return qrels
    chosen = qrels.fold(fold)
    if not chosen.queries:
        raise _fail(f"{path}: no query has fold {fold}")
    return chosen


def _exit_for(error: Exception) -> typer.Exit:
    from workers.errors import Terminal
    from workers.shutdown import EXIT_MISCONFIGURED

    return _fail(str(error), EXIT_MISCONFIGURED if isinstance(error, Terminal) else 1)


def train_reranker(
    qrels_path: QrelsOpt,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the versioned model and card; given, nothing is installed."
            " Default: the folder of FRESHINDEX_RANKER_PATH, and the model is installed there.",
        ),
    ] = None,
    fold: FoldOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the ranking stage (LightGBM LambdaRank) on judged queries over the live index,
    validate it on held-out queries, write it as a versioned file and install it.

    A running `freshindex serve` picks an installed model up on restart or SIGHUP."""
    from workers.errors import WorkerError
    from workers.retrieval.ltr import install
    from workers.retrieval.pipeline import Retriever
    from workers.retrieval.training import train

    settings = Settings.load()
    qrels = _qrels(qrels_path, fold)

    async def run() -> Path:
        retriever = await Retriever.open(settings, installed=False)
        try:
            return await train(retriever, qrels, qrels_path=qrels_path, out=folder)
        finally:
            await retriever.close()

    folder = out or settings.ranker_path.parent
    try:
        card_path = asyncio.run(run())
    except (OSError, WorkerError) as e:
        raise _exit_for(e) from e
    installed = None if out else install(card_path, settings.ranker_path)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if as_json:
        typer.echo(
            json.dumps({"model": str(card_path), "installed": _str(installed), "card": card})
        )
        return
    _print_training(card, card_path, installed)


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _print_training(card: dict[str, Any], card_path: Path, installed: Path | None) -> None:
    typer.echo(f"model: {card['name']}")
    typer.echo(f"  card {card_path}, model {card_path.parent / card['model_file']}")
    typer.echo(
        f"  trained on {card['qrels']['trained_on']} queries of {card['qrels']['path']}"
        f" ({len(card['features'])} features, {card['params']['rounds']} rounds)"
    )
    typer.echo("held-out nDCG@10 (train on one fold, evaluate the other), without -> with:")
    for fold in card["validation"]["folds"]:
        if "skipped" in fold:
            typer.echo(f"  fold {fold['held_out']} held out: not validated ({fold['skipped']})")
            continue
        cells = [
            f"{mode} {fold[mode]['without'].get('ndcg@10', 0):.4f} ->"
            f" {fold[mode]['with'].get('ndcg@10', 0):.4f}"
            for mode in ("hybrid", "bm25", "vector")
            if mode in fold
        ]
        typer.echo(f"  fold {fold['held_out']} held out: " + ", ".join(cells))
    if installed:
        typer.echo(f"installed: {installed} (restart `freshindex serve` or send it SIGHUP)")
    else:
        typer.echo(f"not installed: use it with FRESHINDEX_RANKER_PATH={card_path}")


def eval_command(
    qrels_path: QrelsOpt,
    modes: Annotated[
        list[str] | None,
        typer.Option("--mode", help="hybrid, bm25 or vector; repeatable (default: all three)."),
    ] = None,
    ranker: Annotated[
        Path | None,
        typer.Option(
            "--ranker",
            help="A model card to evaluate instead of the installed one (FRESHINDEX_RANKER_PATH).",
        ),
    ] = None,
    no_ranker: Annotated[
        bool, typer.Option("--no-ranker", help="Only without the ranking stage.")
    ] = False,
    fold: FoldOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Relevance of the live index on judged queries: P@1/3/5/10, Recall@100, MRR, mAP, nDCG@10
    and ROC-AUC for each mode, without and with the ranking stage, through the same retrieval
    code as `freshindex serve`."""
    from workers.errors import WorkerError
    from workers.retrieval.evaluation import MODES, evaluate_live, render
    from workers.retrieval.evaluation import as_json as report_json
    from workers.retrieval.ltr import load_ranker
    from workers.retrieval.pipeline import Mode, Retriever

    unknown = [m for m in modes or [] if m not in MODES]
    if unknown:
        raise _fail(f"unknown mode {unknown[0]!r}: use hybrid, bm25 or vector")
    chosen = tuple(cast("list[Mode]", modes)) if modes else MODES
    settings = Settings.load()
    qrels = _qrels(qrels_path, fold)

    async def run() -> Any:
        model = None
        if ranker is not None and not no_ranker:
            model = await asyncio.to_thread(load_ranker, ranker)
        retriever = await Retriever.open(settings, ranker=model, installed=not no_ranker)
        try:
            return await evaluate_live(retriever, qrels, source=str(qrels_path), modes=chosen)
        finally:
            await retriever.close()

    try:
        report = asyncio.run(run())
    except (OSError, WorkerError) as e:
        raise _exit_for(e) from e
    if as_json:
        typer.echo(json.dumps(report_json(report)))
    else:
        typer.echo(render(report))
