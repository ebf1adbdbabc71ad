"""`freshindex reindex`: rebuild the index with another model version while it serves, switch
to it atomically, roll back, prune (`infra.reindex`; design in README "Models and versions").

    freshindex reindex --model-version 2 catalog.jsonl docs/manifest.jsonl   build, then switch
    freshindex reindex --model-version 2 --no-switch catalog.jsonl   build; workers keep it current
    freshindex reindex --switch        serve the target built with --no-switch
    freshindex reindex --rollback      serve the previous target again
    freshindex reindex --prune         drop every target but the live one
    freshindex reindex --abort         drop the target being built
    freshindex reindex                 the pointers and every target with its rows and model

Exit status: 0; 1 when the build or an operation cannot be done (one line says why); 2 when
the build finished but the switch was refused because the inputs lacked products the live index
holds (they are listed; `--allow-missing` switches anyway); 78 for a misconfiguration (a model
version without its fingerprint, another dimension), naming the setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from schemas.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
_SHOWN = 10
"""Product ids listed per kind in the text report."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {' '.join(message.split())}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _exit_for(error: Exception) -> typer.Exit:
    from workers.errors import Terminal
    from workers.shutdown import EXIT_MISCONFIGURED

    return _fail(str(error), EXIT_MISCONFIGURED if isinstance(error, Terminal) else 1)


def reindex(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="The catalog's inputs, as `publish`/`prepare` take them: feeds, saved pages,"
            " documents, manifests, directories. Export them before the reindex starts.",
            show_default=False,
        ),
    ] = None,
    model_version: Annotated[
        int | None,
        typer.Option(
            "--model-version", min=1, help="Build a new target embedded by this model version."
        ),
    ] = None,
    no_switch: Annotated[
        bool,
        typer.Option(
            "--no-switch",
            help="With --model-version: leave the new target building (workers keep it"
            " current) instead of serving it.",
        ),
    ] = False,
    switch: Annotated[
        bool, typer.Option("--switch", help="Serve the target being built (after --no-switch).")
    ] = False,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Serve the previous target again.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Drop every target but the live one (and one being built)."),
    ] = False,
    abort: Annotated[bool, typer.Option("--abort", help="Drop the target being built.")] = False,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Switch even when the inputs lacked products the live index holds.",
        ),
    ] = False,
    product_id: Annotated[
        str | None,
        typer.Option("--product-id", help="Product of the documents given without a manifest."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the index with another model version (blue/green), switch, roll back, prune."""
    from infra.reindex import describe_targets, operate
    from workers.errors import WorkerError
    from workers.index.targets import TargetError

    settings = Settings.load()
    chosen = [("switch", switch), ("rollback", rollback), ("prune", prune), ("abort", abort)]
    actions = [name for name, on in chosen if on]
    if len(actions) + (model_version is not None) > 1:
        raise _fail("give one of --model-version, --switch, --rollback, --prune, --abort")
    if inputs and model_version is None:
        raise _fail("inputs are read only with --model-version")
    try:
        if model_version is not None:
            build = (not no_switch, allow_missing, product_id, as_json)
            _build(settings, model_version, inputs or [], *build)
            return
        shown = operate(settings, actions[0]) if actions else describe_targets(settings)
    except (TargetError, WorkerError) as e:
        raise _exit_for(e) from e
    _print(shown, as_json)


def _build(
    settings: Settings,
    version: int,
    inputs: list[Path],
    switch: bool,
    allow_missing: bool,
    product_id: str | None,
    as_json: bool,
) -> None:
    from infra.progress import count_items, for_terminal
    from infra.reindex import reindex as run
    from ingest.inputs import classify

    if not inputs:
        raise _fail("--model-version needs the catalog's inputs (feeds, pages, documents)")
    progress = for_terminal(
        f"reindex v{version}",
        as_json=as_json,
        total=lambda: count_items((i.path, i.kind) for i in classify(inputs)),
    )
    try:
        outcome = run(
            settings,
            version,
            inputs,
            product_id=product_id,
            switch=switch,
            allow_missing=allow_missing,
            on_outcome=progress.outcome if progress else None,
        )
    finally:
        if progress:
            progress.close()
    report = _report(outcome)
    _print(report, as_json)
    if switch and not outcome.switched:
        raise _fail(
            f"not switched: the inputs lack {len(outcome.reconciled.missing)} product(s) the live"
            " index holds (publish them, then `freshindex reindex --switch`; or rerun with"
            " --allow-missing)",
            2,
        )


def _report(outcome: Any) -> dict[str, Any]:
    build, rec = outcome.build, outcome.reconciled
    return {
        "target": outcome.target,
        "model": outcome.model.describe(),
        "version": outcome.model.version,
        "previous": outcome.previous,
        "switched": outcome.switched,
        "records_in": outcome.prepare.get("records_in", 0),
        "rejected": len(outcome.prepare.get("rejected", [])),
        "chunks_embedded": build.embedded,
        "chunks_written": build.written,
        "newer_kept": build.newer_kept,
        "refused_chunks": len(build.dead_letters),
        "live_products": rec.live_products,
        "products": rec.products,
        "removed": rec.removed,
        "missing": rec.missing,
        "differing_chunks": rec.differing_chunks,
    }


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    for key, value in report.items():
        if key == "targets":
            typer.echo("targets:")
            for t in value:
                typer.echo(
                    f"  {t['target']}: {t['rows']:,} rows, model {t['model'] or 'not recorded'}"
                )
            continue
        if isinstance(value, list):
            more = f" (+{len(value) - _SHOWN} more)" if len(value) > _SHOWN else ""
            value = ", ".join(map(str, value[:_SHOWN])) + more if value else "-"
        typer.echo(f"{key}: {value if value is not None else '-'}")
