"""Catalog feed sources: JSONL and CSV, one product per row."""

from ingest.feeds.reader import read_feed, to_record

__all__ = ["read_feed", "to_record"]
