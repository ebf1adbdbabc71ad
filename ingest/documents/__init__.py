"""Document sources: PDF, DOCX, HTML, Markdown and text files parsed into ordered, cleaned
elements with their section heading (`parse_document`, in a parser process, within
`DocumentLimits`), and manifests that map document files to products (`read_manifest`,
`specs_for_paths`).
"""

from ingest.documents.errors import DocumentLimitExceeded, DocumentParserUnavailable
from ingest.documents.limits import DocumentLimits
from ingest.documents.manifest import (
    DocumentSpec,
    ManifestRejected,
    read_manifest,
    specs_for_paths,
)
from ingest.documents.parse import (
    SUPPORTED_SUFFIXES,
    DocumentElement,
    DocumentError,
    ParsedDocument,
    parse_document,
)

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DocumentElement",
    "DocumentError",
    "DocumentLimitExceeded",
    "DocumentLimits",
    "DocumentParserUnavailable",
    "DocumentSpec",
    "ManifestRejected",
    "ParsedDocument",
    "parse_document",
    "read_manifest",
    "specs_for_paths",
]
