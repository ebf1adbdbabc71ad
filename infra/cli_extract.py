"""`freshindex extract FILE [--url URL]`: one saved product page -> one JSON object on stdout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Annotated

import typer


def extract(
    file: Annotated[
        Path, typer.Argument(help="Saved page: .html or .html.gz.", exists=True, dir_okay=False)
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The page's address (resolves links, names the source)."),
    ] = None,
) -> None:
    """Extract the product of a saved page and print it as one JSON object (`{"error": ...}` if none)."""
    from ingest.pages.extract import extract_product
    from ingest.prepare.inputs import read_saved_page

    try:
        html = read_saved_page(file)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        typer.echo(json.dumps({"error": f"unreadable file: {e}"}))
        raise typer.Exit(1) from e
    result = extract_product(html, url)
    if result.record is None:
        typer.echo(json.dumps({"error": result.reason}, ensure_ascii=False))
        raise typer.Exit(1)
    typer.echo(json.dumps(result.fields, ensure_ascii=False))
