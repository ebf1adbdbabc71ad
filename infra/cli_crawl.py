"""`freshindex crawl`: crawl product pages and publish the new and changed products.

Registered on the app in `infra.cli` (`app.command()(crawl)`); kept in its own module so that
Scrapy and Twisted are imported only when a crawl runs. Scrapy's reactor starts once per
process, which a CLI command is.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from schemas.settings import Settings


def crawl(
    urls: Annotated[
        list[str] | None,
        typer.Argument(
            help="Start pages (product or category pages); links within their domains are followed.",
            show_default=False,
        ),
    ] = None,
    sitemap: Annotated[
        list[str] | None,
        typer.Option(
            "--sitemap",
            help="A sitemap.xml, a sitemap index, or a robots.txt whose Sitemap: lines to read; repeatable.",
        ),
    ] = None,
    max_pages: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="Most pages to request in this crawl.")
    ] = 1000,
    max_page_bytes: Annotated[
        int,
        typer.Option(min=1024, help="Larger pages are cancelled while downloading and reported."),
    ] = 5 * 1024 * 1024,
    dry_run: Annotated[
        bool,
        typer.Option(help="Crawl and extract, publish nothing; print what would be published."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """Crawl product pages (robots.txt obeyed, sitemaps read), extract products, publish the changed ones.

    Pages unchanged since the last crawl (HTTP 304 from the crawl cache in
    $FRESHINDEX_HOME/crawl-cache, or the same extracted product) are not published again.
    Product ids are namespaced by site (`shop.example:SKU`) unless the host is listed in
    $FRESHINDEX_CRAWL_SITE_CATALOG; two pages claiming one id with different products are
    reported as a conflict and neither is published. Timeouts: $FRESHINDEX_CRAWL_DOWNLOAD_TIMEOUT_S,
    retried $FRESHINDEX_CRAWL_TIMEOUT_RETRIES times; sitemaps: $FRESHINDEX_CRAWL_MAX_SITEMAP_BYTES.
    """
    from kafka.errors import KafkaError

    from infra.progress import crawl_callbacks, for_terminal
    from infra.stack import StackError, ensure_topics
    from ingest.errors import IngestError
    from ingest.pages.crawl import CrawlOptions
    from ingest.pages.crawl import crawl as run_crawl

    settings = Settings.load()
    options = CrawlOptions.from_settings(
        settings, max_pages=max_pages, max_page_bytes=max_page_bytes
    )
    progress = for_terminal("crawl", as_json=as_json, unit="pages", refused="skipped")
    on_page, on_outcome = crawl_callbacks(progress) if progress else (None, None)
    try:
        if not dry_run:
            ensure_topics(settings)  # fail fast when the broker is not there, before crawling
        report = run_crawl(
            urls or [],
            sitemap or [],
            settings,
            options=options,
            dry_run=dry_run,
            on_page=on_page,
            on_outcome=on_outcome,
        )
    except (IngestError, StackError) as e:
        raise _fail(str(e)) from e
    except KafkaError as e:
        raise _fail(f"Kafka broker at {settings.kafka_bootstrap_servers}: {e}") from e
    finally:
        if progress:
            progress.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    for line in report.lines():
        typer.echo(line)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)
