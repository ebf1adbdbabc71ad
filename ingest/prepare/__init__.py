"""The prepare chain: pure functions (no I/O) that turn product records into chunks."""

from ingest.prepare.chunk import Chunker
from ingest.prepare.clean import clean_text

__all__ = ["Chunker", "clean_text"]
