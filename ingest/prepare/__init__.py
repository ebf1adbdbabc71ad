"""The prepare chain: pure functions (no I/O) that turn product records into chunks."""

from ingest.prepare.chunk import Chunker

__all__ = ["Chunker"]
