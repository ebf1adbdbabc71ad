"""Errors of the document parser.

IngestError (ingest.errors)
 ├── DocumentParserUnavailable  the parser process does not start (a broken installation, not a
 │                              document's fault: it stops the run instead of rejecting documents)
 └── DocumentError              the document cannot be parsed; the message says why (unsupported
     │                          format, encrypted or corrupt PDF, binary data posing as text,
     │                          empty document, ...)
     └── DocumentLimitExceeded  the document is over a limit (`ingest.documents.limits`): too big
                                inflated, too many elements, nested too deep, too much text, a
                                parse too slow or too hungry; the message names the limit's
                                environment variable
"""

from __future__ import annotations

from ingest.errors import IngestError


class DocumentError(IngestError):
    """A document cannot be turned into elements; carries a human-readable reason."""


class DocumentLimitExceeded(DocumentError):
    """A document is over one of the limits on documents; the reason names the setting."""


class DocumentParserUnavailable(IngestError):
    """The document parser process cannot be started; no document can be parsed."""
