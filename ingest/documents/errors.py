"""Errors of the document parser.

IngestError (ingest.errors)
 └── DocumentError      the document cannot be parsed; the message says why (unsupported format,
                        encrypted or corrupt PDF, binary data posing as text, empty document, ...)
"""

from __future__ import annotations

from ingest.errors import IngestError


class DocumentError(IngestError):
    """A document cannot be turned into elements; carries a human-readable reason."""
