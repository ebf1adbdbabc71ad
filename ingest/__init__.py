"""Everything before Kafka, in layers: a module imports from its own layer and the layers below,
never from one above (`LAYERS`, checked by `tests/unit/test_import_layers.py`, imports inside
functions and under `if TYPE_CHECKING:` included).

    commands  pages/crawl.py                     the crawl: the spider, then the publisher
    publish   inputs.py, publish.py, producer.py  items through the chain to a sink (Kafka, a file),
              unchanged.py                       skipping what the index already holds
    prepare   prepare/                           the chain: garbage filter, dedup, chunk, report
    sources   feeds/, pages/, documents/         one kind of input each, read into items; they
                                                 do not import each other
    core      core/, errors.py                   what every source shares: the items and their
                                                 location, row files, text cleaning, the
                                                 availability normaliser, the product-id check

A source hands its items up (`ingest.core.items`); it never calls the chain or a sink. The crawl
command is the one module of `pages/` above the others: it hands the pages' products to
`ingest.publish`, which owns the chain and the sink.

Imports `schemas`, never `workers` or `infra`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer of `ingest`."""

    name: str
    """What it is called in messages."""
    modules: tuple[str, ...]
    """The modules and packages in it (the longest listed prefix places a module)."""
    independent: bool = False
    """Its listed modules and packages do not import each other (the sources)."""


LAYERS = (
    Layer(name="core", modules=("ingest.core", "ingest.errors")),
    Layer(
        name="sources",
        modules=("ingest.feeds", "ingest.pages", "ingest.documents"),
        independent=True,
    ),
    Layer(name="prepare", modules=("ingest.prepare",)),
    Layer(
        name="publish",
        modules=("ingest.inputs", "ingest.publish", "ingest.producer", "ingest.unchanged"),
    ),
    Layer(name="commands", modules=("ingest.pages.crawl",)),
)
"""The layers, bottom first."""
