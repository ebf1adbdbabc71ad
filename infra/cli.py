"""`freshindex`: one Typer app for the whole system.

Every option falls back to the `FRESHINDEX_*` environment variable of the same setting
(see `schemas.settings.Settings`); `freshindex up` writes the local stack's addresses to
`$FRESHINDEX_HOME/stack.env`, which every other command reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from infra.cli_crawl import crawl as crawl_command
from infra.cli_dead_letters import dead_letters_app
from infra.cli_extract import extract as extract_command
from infra.cli_finetune import finetune as finetune_command
from infra.cli_prepare import prepare as prepare_command
from infra.cli_prepare import publish_docs as publish_docs_command
from infra.cli_reindex import reindex as reindex_command
from infra.cli_relevance import eval_command
from infra.cli_relevance import train_reranker as train_reranker_command
from infra.render import print_status, print_summary, snippet
from schemas import logs, redact
from schemas.settings import Settings, home_dir


class _ErrorBoundary(TyperGroup):
    """Every command's last error boundary: settings that do not load (exit 78, naming the
    variables, never echoing a value) and Kafka errors a command does not map itself (exit 1,
    naming the broker setting) become one redacted line instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except ValidationError as e:
            if e.title != Settings.__name__:
                raise
            from workers.shutdown import EXIT_MISCONFIGURED

            raise _fail(_settings_problem(e), EXIT_MISCONFIGURED) from e
        except Exception as e:
            if not type(e).__module__.startswith("kafka."):
                raise
            detail = str(e) if str(e).startswith(type(e).__name__) else f"{type(e).__name__}: {e}"
            raise _fail(
                f"Kafka broker (setting FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS): {detail}"
            ) from e


def _settings_problem(error: ValidationError) -> str:
    """The settings' errors as `FRESHINDEX_<FIELD>: reason`, without the values."""
    problems = []
    for err in error.errors(include_input=False, include_url=False):
        name = f"FRESHINDEX_{str(err['loc'][0]).upper()}" if err["loc"] else "FRESHINDEX_*"
        reason = err["msg"].removeprefix("Value error, ")
        problems.append(reason if name in reason else f"{name}: {reason}")
    return "invalid settings: " + "; ".join(problems)


app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, cls=_ErrorBoundary)
log = logging.getLogger("freshindex.cli")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


class _KafkaCloseRace(logging.Filter):
    """kafka-python 3.0.12 logs a traceback when a consumer closes while its socket is being read
    ("'NoneType' object has no attribute 'recv'" on a closed transport). It is harmless: drop
    exactly that record, keep every other kafka error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (
            isinstance(error, AttributeError)
            and "'recv'" in str(error)
            and "(closed)" in record.getMessage()
        )


def _settings() -> Settings:
    settings = Settings.load()
    redact.register_settings(settings)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {redact.redact(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _log_format() -> logs.LogFormat:
    """FRESHINDEX_LOG_FORMAT; `plain` while the settings do not load (the command needing them
    says why)."""
    with contextlib.suppress(ValidationError):
        return Settings.load().log_format
    return "plain"


def _redact_output() -> None:
    """Keep every credential out of this process's output: register the known ones (from the
    environment, and from the settings when they load), redact every log record, and pass
    stdout/stderr (command output, --json, tracebacks, Faust's prints) through `redact`."""
    redact.register_environment(os.environ, Settings)
    with contextlib.suppress(ValidationError):  # the command needing them says why (boundary)
        redact.register_settings(Settings.load())
    redact.install_log_redaction()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        with contextlib.suppress(AttributeError, ValueError):  # a lone surrogate from an input
            stream.reconfigure(errors="backslashreplace")  # (a JSON "\ud800") prints escaped
        if not isinstance(stream, redact.RedactingStream):
            setattr(sys, name, cast(TextIO, redact.RedactingStream(stream)))


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log at DEBUG level.")] = False,
) -> None:
    """freshindex keeps a product index fresh: feeds -> Kafka -> workers -> Triton -> index."""
    _redact_output()
    logs.configure(_log_format(), logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("kafka.net.transport").addFilter(_KafkaCloseRace())
    if not verbose:  # connection retries are kafka-python's to log; our errors name the broker
        logging.getLogger("kafka").setLevel(logging.CRITICAL)


StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="tansu+lancedb (embedded default) or kafka+weaviate (production parity); "
        "default: FRESHINDEX_STACK.",
    ),
]


@app.command()
def up(stack_name: StackOpt = None, as_json: JsonOpt = False) -> None:
    """Start the local stack (only the services not already running) and create the topics.

    tansu+lancedb: Tansu broker, tritonserver with the model, LanceDB folder.
    kafka+weaviate: Apache Kafka (KRaft), tritonserver, Weaviate (`make production-deps` first).
    """
    from infra import stack

    chosen = stack_name or Settings.load().stack
    try:
        info = stack.up(home_dir(), stack=chosen)
        stack.ensure_topics(Settings.load())
    except stack.StackError as e:
        raise _fail(str(e)) from e
    if as_json:
        typer.echo(json.dumps({"home": str(info.home), **info.env}))
        return
    typer.echo(f"stack {info.stack} up in {info.home}")
    for service in info.services.values():
        typer.echo(f"  {service.name:<9} pid {service.pid:<7} {service.address}  log {service.log}")
    for key, value in info.env.items():
        typer.echo(f"  {key}={value}")
    typer.echo(f"(written to {info.home / 'stack.env'}; `freshindex down` stops it)")


@app.command()
def down() -> None:
    """Stop the local stack started by `freshindex up` (data folders are kept)."""
    from infra import stack

    stopped = stack.down(home_dir())
    typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


ServiceArg = Annotated[
    str, typer.Argument(help="A service of the running stack: tansu, kafka, triton or weaviate.")
]


@app.command()
def restart(name: ServiceArg) -> None:
    """Restart one service of the local stack on its ports (clients reconnect by themselves)."""
    from infra import stack

    try:
        service = stack.restart(home_dir(), name)
    except stack.StackError as e:
        raise _fail(str(e)) from e
    typer.echo(f"restarted {service.name}: pid {service.pid}, {service.address}")


@app.command()
def stop(
    name: ServiceArg,
    kill: Annotated[bool, typer.Option("--kill", help="SIGKILL, as a crash would.")] = False,
) -> None:
    """Stop one service of the local stack, keeping its ports; `freshindex up` brings it back."""
    from infra import stack

    try:
        stack.stop_service(home_dir(), name, kill=kill)
    except stack.StackError as e:
        raise _fail(str(e)) from e
    typer.echo(f"{'killed' if kill else 'stopped'} {name}")


@app.command()
def services(as_json: JsonOpt = False) -> None:
    """The local stack's services: pid, address, alive, ready."""
    from infra import stack

    report = stack.status(home_dir())
    if as_json:
        typer.echo(json.dumps(report))
        return
    if not report:
        typer.echo("no local stack recorded (run `freshindex up`)")
    for name, entry in report.items():
        state = "ready" if entry["ready"] else ("alive" if entry["alive"] else "down")
        typer.echo(f"{name:<9} {state:<6} pid {entry['pid']:<7} {entry['address']}")


@app.command()
def publish(
    feed: Annotated[
        Path,
        typer.Argument(help="Catalog feed: .jsonl/.ndjson or .csv, one product per row."),
    ],
    as_json: JsonOpt = False,
    fail_on_reject: Annotated[
        bool, typer.Option(help="Exit with status 2 when any row was rejected.")
    ] = False,
) -> None:
    """Validate, clean, deduplicate and chunk a catalog feed and publish it to Kafka; report every
    rejected row, duplicate and superseded row. Products the index already holds as they are
    are not sent again (reported as unchanged; FRESHINDEX_PUBLISH_SKIP_UNCHANGED=false sends
    all). Exits 1 when the feed cannot be read as a whole
    (the report says how far it got), 2 with --fail-on-reject when a row was rejected."""
    from kafka.errors import KafkaError

    from infra.cli_prepare import exit_status
    from infra.progress import count_rows, for_terminal
    from infra.publishing import unchanged_gate
    from infra.stack import StackError, ensure_topics
    from ingest.core.rows import RowLimits
    from ingest.errors import IngestError
    from ingest.producer import KafkaSink
    from ingest.publish import chain_for, publish_feed

    if not feed.is_file():
        raise _fail(f"feed file not found: {feed}")
    settings = _settings()
    progress = for_terminal(f"publish {feed.name}", as_json=as_json, total=lambda: count_rows(feed))
    try:
        ensure_topics(settings)
        with (
            KafkaSink(settings) as sink,
            chain_for(settings) as chain,
            unchanged_gate(settings) as gate,
        ):
            summary = publish_feed(
                feed,
                sink,
                chain,
                limits=RowLimits.of(settings),
                progress=progress.outcome if progress else None,
                gate=gate,
            )
    except (IngestError, StackError) as e:
        raise _fail(str(e)) from e
    except KafkaError as e:
        raise _fail(f"Kafka broker at {settings.kafka_bootstrap_servers}: {e}") from e
    finally:
        if progress:
            progress.close()
    report = summary.as_dict()
    if as_json:
        typer.echo(json.dumps(report))
    else:
        print_summary(report)
    raise typer.Exit(exit_status(report, fail_on_reject=fail_on_reject))


_INDEX_SETTING = {"lancedb": "FRESHINDEX_LANCEDB_URI", "weaviate": "FRESHINDEX_WEAVIATE_URL"}


def _worker_start_error(settings: Settings, error: Exception) -> typer.Exit:
    """One line naming the setting to check; exit status 78 for a misconfiguration, else 1."""
    from workers.errors import Terminal, VectorIndexError
    from workers.shutdown import EXIT_MISCONFIGURED

    cause = error if isinstance(error, Terminal | VectorIndexError) else error.__cause__
    message = " ".join(str(error).split())
    if isinstance(cause, Terminal):  # its message names the setting
        return _fail(message, EXIT_MISCONFIGURED)
    if isinstance(cause, VectorIndexError) and "FRESHINDEX_" not in message:
        setting = _INDEX_SETTING.get(settings.index_backend, "FRESHINDEX_INDEX_BACKEND")
        message += f" (setting {setting})"
    return _fail(message)


@app.command()
def worker() -> None:
    """Run an index worker (Faust) until SIGTERM/SIGINT; metrics on FRESHINDEX_METRICS_PORT.

    Exits 78 when a misconfiguration stops it (the message names the setting), 1 when a
    dependency is missing at start, 0 after SIGTERM/SIGINT (within seconds, in every state)."""
    from infra.stack import StackError, check_services, ensure_topics
    from workers.app import run_worker
    from workers.errors import WorkerError

    settings = _settings()
    try:
        check_services(settings)
        ensure_topics(settings)
    except (StackError, WorkerError) as e:
        raise _worker_start_error(settings, e) from e
    logging.getLogger("freshindex").setLevel(settings.worker_log_level.upper())
    sys.argv = [sys.argv[0], "worker"]  # Faust's Worker parses argv
    try:
        run_worker(settings)
    except WorkerError as e:  # found before Faust runs (e.g. the metrics port is taken)
        raise _worker_start_error(settings, e) from e


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="Number of results.")] = 10,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="FIELD=VALUE (or != < <= > >=); repeatable, ANDed."),
    ] = None,
    per_product: Annotated[
        bool, typer.Option("--per-product", help="One result per product (its best chunk).")
    ] = False,
    mode: Annotated[
        str, typer.Option("--mode", help="hybrid (BM25 + vector, fused), bm25 or vector.")
    ] = "hybrid",
    as_json: JsonOpt = False,
) -> None:
    """Search the live index in process, through the same retrieval pipeline as `freshindex serve`."""
    from workers.errors import WorkerError
    from workers.retrieval.fusion import Candidate
    from workers.retrieval.pipeline import Mode, Query, Retriever, parse_filter

    if mode not in ("hybrid", "bm25", "vector"):
        raise _fail(f"unknown mode {mode!r}: use hybrid, bm25 or vector")
    settings = _settings()

    async def run() -> list[Candidate]:
        retriever = await Retriever.open(settings)
        try:
            asked = Query(
                text=query,
                k=k,
                mode=cast("Mode", mode),  # checked above
                filters=tuple(parse_filter(f) for f in filters or []),
                per_product=per_product,
            )
            return (await retriever.search(asked)).results
        finally:
            await retriever.close()

    try:
        hits = asyncio.run(run())
    except (ValueError, WorkerError) as e:
        raise _fail(" ".join(str(e).split())) from e
    if as_json:
        rows = [
            {
                "chunk_id": h.chunk.chunk_id,
                "product_id": h.product_id,
                "score": h.score,
                "text": h.chunk.text,
                **h.chunk.fields,
                "scores": h.scores,
                "ranks": h.ranks,
            }
            for h in hits
        ]
        typer.echo(json.dumps(rows, default=str))
        return
    if not hits:
        typer.echo("no results")
    for rank, h in enumerate(hits, start=1):
        f = h.chunk.fields
        price = (
            f"{f.get('price_text')} {f.get('currency') or ''}".strip()
            if f.get("price_text")
            else "-"
        )
        typer.echo(
            f"{rank:>2}. [{h.score:.4f}] {h.product_id}  {f.get('title')}  "
            f"({price}, {f.get('availability') or '-'})"
        )
        where = f.get("section")
        if f.get("document"):
            where = f"{f['document']} > {where}"
        typer.echo(f"      {where}: {snippet(h.chunk.text)}")


@app.command()
def serve() -> None:
    """Serve the retrieval HTTP API (POST /v1/search, GET /v1/products/ID, /healthz, /readyz,
    /metrics, /openapi.json) on FRESHINDEX_SERVE_HOST:FRESHINDEX_SERVE_PORT until SIGTERM/SIGINT.

    The index and the Triton model must answer at start (exit 1 naming the setting otherwise;
    78 for an unusable address); later outages answer 503 until the dependency is back."""
    from workers.errors import WorkerError
    from workers.retrieval.server import serve as run_server

    settings = _settings()
    logging.getLogger("freshindex").setLevel(logging.INFO)
    try:
        asyncio.run(run_server(settings))
    except WorkerError as e:
        raise _worker_start_error(settings, e) from e


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Consumer lag per partition, index size, freshness and dead letters."""
    from kafka.errors import KafkaError

    from workers.ops import status as ops_status

    settings = _settings()
    try:
        report = ops_status(settings)
    except (KafkaError, TimeoutError) as e:
        raise _fail(f"Kafka broker at {settings.kafka_bootstrap_servers}: {e}") from e
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    print_status(report)


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option(help="Leave the stack and worker running at the end.")
    ] = False,
) -> None:
    """The main job (`make run`): stack up, worker, publish the sample catalog and its updates, search, status."""
    from infra.demo import run_demo

    raise typer.Exit(run_demo(keep_running=keep_running))


# Product pages (crawl a shop, extract one saved page): their modules import Scrapy and extruct
# only when the command runs.
app.command("crawl")(crawl_command)
app.command("extract")(extract_command)
app.command("prepare")(prepare_command)
app.command("publish-docs")(publish_docs_command)
# Dead letters: the latest, and `replay` (infra/cli_dead_letters.py, workers/replay.py).
app.add_typer(dead_letters_app, name="dead-letters")
# Relevance: the ranking stage's training and the evaluation import LightGBM only when they run.
app.command("train-reranker")(train_reranker_command)
app.command("eval")(eval_command)
# The embedding model fine-tuned on judged queries: a new version (infra/cli_finetune.py); torch
# and sentence-transformers are imported only when it runs.
app.command("finetune")(finetune_command)
# Models and versions: blue/green rebuild with another model version (infra/cli_reindex.py).
app.command("reindex")(reindex_command)


if __name__ == "__main__":
    app()
