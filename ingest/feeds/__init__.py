"""Catalog feed sources: JSONL and CSV, one product per row."""

from ingest.feeds.reader import Accepted, Deleted, FeedItem, Rejected, read_feed

__all__ = ["Accepted", "Deleted", "FeedItem", "Rejected", "read_feed"]
