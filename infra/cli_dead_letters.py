"""`freshindex dead-letters` (the latest dead letters) and `freshindex dead-letters replay`
(send again the messages whose cause can have been fixed: `workers.replay`).

Registered on the app in `infra.cli` (`app.add_typer(dead_letters_app, name="dead-letters")`).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from infra.render import snippet
from schemas import redact
from schemas.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]

dead_letters_app = typer.Typer(
    add_completion=False,
    help="The latest dead letters (reason, coordinates, payload); `replay` sends the fixable ones again.",
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _settings() -> Settings:
    settings = Settings.load()
    redact.register_settings(settings)
    return settings


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a duration back from now (`90s`, `15m`, `2h`, `7d`) or an ISO 8601 time (UTC
    unless it says otherwise)."""
    now = now or datetime.now(UTC)
    duration = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if duration:
        return now - timedelta(seconds=float(duration[1]) * _UNITS[duration[2]])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (90s, 15m, 2h, 7d) nor an ISO 8601 time"
        ) from e
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dead_letters_app.callback(invoke_without_command=True)
def dead_letters(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many of the latest to show.")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The latest dead letters with their reason, coordinates and payload; `replay` sends again
    those whose cause can have been fixed."""
    if ctx.invoked_subcommand is not None:
        return
    from workers.ops import dead_letters as latest

    total, letters = latest(_settings(), limit=limit)
    if as_json:
        payload = {"total": total, "dead_letters": [d.model_dump(mode="json") for d in letters]}
        typer.echo(json.dumps(payload))
        return
    typer.echo(f"{total} dead letters; latest {len(letters)}:")
    for d in letters:
        typer.echo(f"- {d.published_at:%Y-%m-%d %H:%M:%S} {d.stage}/{d.error_type}: {d.message}")
        typer.echo(
            f"  at {d.source or d.topic} "
            + (f"line {d.line}" if d.line else f"partition {d.partition} offset {d.offset}")
            + f", key {d.key}"
        )
        typer.echo(f"  payload: {snippet(d.payload, 200)}")


@dead_letters_app.command()
def replay(
    stage: Annotated[
        str | None,
        typer.Option(help="Only dead letters of this stage (decode, validate, embed, index, ...)."),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="Only those whose reason or error type contains this (any case)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only those written since: a duration back (15m, 2h, 7d) or an ISO time."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and report, send nothing.")
    ] = False,
    from_payload: Annotated[
        bool,
        typer.Option(
            "--from-payload",
            help="When the original message is gone from the chunks topic, send the dead"
            " letter's own copy (only a whole, unredacted one).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send the fixable dead letters again (original key and bytes, once); say why others stay dead.

    A message is replayed when its cause can have been fixed (a setting, the model, the index,
    the worker's code) and nothing newer replaced it. Run it with the workers' settings: each
    message is checked as a worker will check it. Rows rejected before Kafka stay dead: publish
    the fixed feed again. A second replay sends nothing: it finds the first one's copies."""
    from kafka.errors import KafkaError

    from workers.replay import Filters
    from workers.replay import replay as run_replay

    settings = _settings()
    filters = Filters(stage=stage, reason=reason, since=parse_since(since) if since else None)
    try:
        report = run_replay(settings, filters, dry_run=dry_run, from_payload=from_payload)
    except (KafkaError, TimeoutError) as e:
        typer.secho(
            redact.redact(f"error: Kafka broker at {settings.kafka_bootstrap_servers}: {e}"),
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1) from e
    summary = report.as_dict()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    print_replay(summary)


def print_replay(r: dict[str, Any]) -> None:
    """The replay report: counts, then one line per dead letter considered."""
    sent = f"{r['would_replay']} would be replayed" if r["dry_run"] else f"{r['replayed']} replayed"
    typer.echo(
        f"{r['considered']} dead letters: {sent}, {r['already_replayed']} already replayed,"
        f" {r['stays_dead']} stay dead" + (" (dry run: nothing sent)" if r["dry_run"] else "")
    )
    for o in r["dead_letters"]:
        where = f"{o['origin']}" + (f" -> {o['sent_to']}" if o["sent_to"] else "")
        typer.echo(
            f"- {o['action']}: {o['stage']} {where} (key {o['key']}, dead letter"
            f" {o['dead_letter']}): {o['reason']}"
        )
