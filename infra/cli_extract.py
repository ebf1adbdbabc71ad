"""`freshindex extract FILE [--url URL]`: one saved product page -> one JSON object on stdout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Annotated

import typer

from schemas.settings import Settings


def extract(
    file: Annotated[
        Path, typer.Argument(help="Saved page: .html or .html.gz.", exists=True, dir_okay=False)
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The page's address (resolves links, names the source)."),
    ] = None,
) -> None:
    """Extract the product of a saved page and print it as one JSON object (`{"error": ...}` and
    exit status 1 if none: no product, too large, undecodable text...).

    With --url the id is namespaced by the page's host (`shop.example:SKU`) unless the host is
    listed in $FRESHINDEX_CRAWL_SITE_CATALOG; `owner` says which. Other products in the page's
    markup are listed under `other_products`; problems that did not stop the extraction (an
    unreadable JSON-LD block) are one `warning:` line each on stderr.
    """
    from ingest.inputs import read_saved_page
    from ingest.pages.extract import extract_product
    from ingest.pages.identity import catalog_sites

    try:
        html = read_saved_page(file)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        typer.echo(json.dumps({"error": f"unreadable file: {e}"}))
        raise typer.Exit(1) from e
    catalog = catalog_sites(Settings.load().crawl_site_catalog)
    result = extract_product(html, url, catalog_sites=catalog)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if result.record is None:
        typer.echo(json.dumps({"error": result.reason}, ensure_ascii=False))
        raise typer.Exit(1)
    out = {**result.fields, "owner": result.owner}
    if result.other_products:
        out["other_products"] = [
            {"title": o.title, "sku": o.sku, "url": o.url} for o in result.other_products
        ]
    typer.echo(json.dumps(out, ensure_ascii=False))
