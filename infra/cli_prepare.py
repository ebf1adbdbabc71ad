"""`freshindex prepare` (the whole prepare chain offline, with a report) and
`freshindex publish-docs` (product documents -> Kafka).

Registered on the app in `infra.cli`; the chain's imports (unstructured, sentence-transformers)
happen only when one of these runs.

Exit status, as for `freshindex publish`: 0 when every input was read (rejected rows are in the
report), 1 when an input failed as a whole (missing, unsupported, a CSV without a usable header:
the other inputs are still processed and the report written), 2 with `--fail-on-reject` when any
row or document was rejected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from infra.render import print_summary
from schemas.settings import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
Inputs = Annotated[
    list[Path],
    typer.Argument(
        help="Feeds (.jsonl/.csv), saved product pages (.html/.html.gz), documents"
        " (.pdf/.docx/.md/.txt, or <product-id>__<name>.<ext>), document manifests, directories.",
        show_default=False,
    ),
]
ProductIdOpt = Annotated[
    str | None,
    typer.Option("--product-id", help="Product of the documents given without a manifest."),
]
FailOnRejectOpt = Annotated[
    bool, typer.Option(help="Exit with status 2 when any row or document was rejected.")
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def exit_status(report: dict[str, Any], *, fail_on_reject: bool) -> int:
    """1 when an input failed as a whole (each is named on stderr), 2 when rows or documents
    were rejected and `fail_on_reject`, else 0."""
    for failed in report["failed_inputs"]:
        typer.secho(f"error: {failed['reason']}", fg=typer.colors.RED, err=True)
    if report["failed_inputs"]:
        return 1
    return 2 if fail_on_reject and report["rejected"] else 0


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    # an input's lone surrogate (a JSON "\ud800" in an id) is written as that escape again
    partial.write_text(text, encoding="utf-8", errors="backslashreplace")
    partial.replace(path)


def prepare(
    inputs: Inputs,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the chunks, one JSON message per line.")
    ] = Path("chunks.jsonl"),
    report_path: Annotated[
        Path, typer.Option("--report", help="Where to write the JSON report.")
    ] = Path("report.json"),
    product_id: ProductIdOpt = None,
    dedup_state: Annotated[
        str,
        typer.Option(
            help="Dedup state to compare against: ':memory:' (only these inputs) or a state file"
            " (the live one is FRESHINDEX_DEDUP_STATE_PATH; it is updated)."
        ),
    ] = ":memory:",
    as_json: JsonOpt = False,
    fail_on_reject: FailOnRejectOpt = False,
) -> None:
    """Run the prepare chain offline (no Kafka, no index): clean, filter, deduplicate and chunk
    feeds, saved pages and documents; write the chunks and a report of what was kept, dropped
    and why. Every input is processed and reported, even when one fails; `--out` is replaced
    only when all are done (never left half-written)."""
    from infra.progress import count_items, for_terminal
    from ingest.core.rows import RowLimits
    from ingest.inputs import classify
    from ingest.prepare.chain import combine_reports
    from ingest.producer import FileSink
    from ingest.publish import chain_for, send_inputs

    settings = Settings.load()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    found = classify(inputs, product_id=product_id)
    progress = for_terminal(
        "prepare", as_json=as_json, total=lambda: count_items((i.path, i.kind) for i in found)
    )
    try:
        with (
            partial.open("w", encoding="utf-8") as stream,
            chain_for(settings, dedup_state=dedup_state) as chain,
        ):
            sink = FileSink(stream)  # the same decisions as a publish, written instead of sent
            reports = send_inputs(
                found,
                chain,
                sink,
                limits=RowLimits.of(settings),
                progress=progress.outcome if progress else None,
            )
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
        if progress:
            progress.close()
    combined = combine_reports(reports, source="prepare")
    combined["inputs"] = [_input_entry(r.as_dict()) for r in reports]
    combined["out"] = str(out)
    _write_atomically(report_path, json.dumps(combined, indent=2, ensure_ascii=False) + "\n")
    if as_json:
        typer.echo(json.dumps(combined, ensure_ascii=False))
    else:
        print_summary(combined)
        typer.echo(f"wrote {sink.written} chunks to {out}, report to {report_path}")
    raise typer.Exit(exit_status(combined, fail_on_reject=fail_on_reject))


def _input_entry(report: dict[str, Any]) -> dict[str, Any]:
    """One input's line in the report: its path, counts and, if it failed as a whole, why."""
    entry = {
        "path": report["source"],
        "records_in": report["records_in"],
        "kept": report["kept"],
        "rejected": len(report["rejected"]),
    }
    if report["failed_inputs"]:
        entry["error"] = report["failed_inputs"][0]["reason"]
    return entry


def publish_docs(
    inputs: Inputs,
    product_id: ProductIdOpt = None,
    delete: Annotated[
        bool,
        typer.Option(
            "--delete",
            help="Take the named documents of --product-id out of the index instead (by file"
            " name); the product stays.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Parse product documents (spec sheets, manuals, safety data sheets) and publish their
    chunks; a document published again replaces its earlier chunks."""
    from kafka.errors import KafkaError

    from infra.progress import Progress, count_items, for_terminal
    from infra.stack import StackError, ensure_topics
    from ingest.errors import IngestError
    from ingest.inputs import classify
    from ingest.prepare.chain import combine_reports
    from ingest.producer import KafkaSink
    from ingest.publish import chain_for, delete_documents, send_inputs

    settings = Settings.load()
    progress: Progress | None = None
    try:
        ensure_topics(settings)
        if delete:
            if not product_id:
                raise _fail("--delete needs --product-id")
            with KafkaSink(settings) as sink:
                sent = delete_documents([(product_id, p.name) for p in inputs], sink)
            typer.echo(f"deleted {sent} documents of {product_id}")
            return
        inputs_ = classify(inputs, product_id=product_id)
        wrong = [i for i in inputs_ if i.kind in ("feed", "page")]
        if wrong:
            raise _fail(
                f"{wrong[0].path} is a {wrong[0].kind}, not a document: use `freshindex "
                f"{'publish' if wrong[0].kind == 'feed' else 'crawl'}`"
            )
        progress = for_terminal(
            "publish-docs",
            as_json=as_json,
            total=lambda: count_items((i.path, i.kind) for i in inputs_),
            unit="documents",
        )
        with KafkaSink(settings) as sink, chain_for(settings) as chain:
            reports = send_inputs(
                inputs_, chain, sink, progress=progress.outcome if progress else None
            )
    except (IngestError, StackError) as e:
        raise _fail(str(e)) from e
    except KafkaError as e:
        raise _fail(f"Kafka broker at {settings.kafka_bootstrap_servers}: {e}") from e
    finally:
        if progress:
            progress.close()
    combined = combine_reports(reports, source="documents")
    if as_json:
        typer.echo(json.dumps(combined, ensure_ascii=False))
    else:
        print_summary(combined)
    raise typer.Exit(exit_status(combined, fail_on_reject=False))
