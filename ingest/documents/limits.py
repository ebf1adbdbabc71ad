"""How much of a document the parser accepts, and the reasons it gives when one is over.

Every limit is a setting (`FRESHINDEX_DOC_*`, see `schemas.settings.Settings`), checked as early
and as cheaply as the format allows: file size before reading; a DOCX package's member count,
sizes and compression ratio from its ZIP directory before inflating anything, then its actual
sizes while streaming; markup elements, nesting depth and text while streaming the XML or HTML
through a pull parser that keeps no tree; PDF text lines and characters page by page. Wall time
and memory are enforced on the parser process (`ingest.documents.worker`). A document over a
limit raises `DocumentLimitExceeded` naming the measure, the limit and its variable.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ingest.documents.errors import DocumentLimitExceeded

if TYPE_CHECKING:
    from schemas.settings import Settings

_SETTING_PREFIX = "doc_"


@dataclass(frozen=True, kw_only=True)
class DocumentLimits:
    """Limits on one document; the defaults are those of `Settings`."""

    max_file_bytes: int = 100_000_000
    """Largest document file, in bytes."""
    max_uncompressed_bytes: int = 200_000_000
    """Most bytes a DOCX package inflates to: any one member, and all of them together."""
    max_compression_ratio: float = 100.0
    """Highest uncompressed / compressed size of a DOCX member over 1 MB."""
    max_zip_members: int = 1000
    """Most members in a DOCX package."""
    max_elements: int = 1_000_000
    """Most markup elements (DOCX XML, HTML, Markdown as HTML) and most parsed elements."""
    max_depth: int = 200
    """Deepest nesting of markup elements."""
    max_text_chars: int = 20_000_000
    """Most characters of text."""
    parse_timeout_s: float = 60.0
    """Longest wall time of one parse, in seconds."""
    parse_max_memory_bytes: int = 2_000_000_000
    """Most memory (address space) the parser process may add to what it holds idle."""

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        """The limits configured in `settings` (`FRESHINDEX_DOC_<LIMIT>`)."""
        return cls(**{f.name: getattr(settings, _SETTING_PREFIX + f.name) for f in fields(cls)})

    @classmethod
    def configured(cls) -> DocumentLimits:
        """The limits of the environment and the local stack's env file, read now."""
        from schemas.settings import Settings

        return cls.from_settings(Settings.load())


def env_var(limit: str) -> str:
    """The environment variable of a `DocumentLimits` field."""
    return f"FRESHINDEX_{_SETTING_PREFIX}{limit}".upper()


def exceeded(message: str, limit: str) -> DocumentLimitExceeded:
    """The error for a document over `limit` (a `DocumentLimits` field); the message gets the
    limit's environment variable, e.g. "nesting depth over 200 (FRESHINDEX_DOC_MAX_DEPTH)"."""
    return DocumentLimitExceeded(f"{message} ({env_var(limit)})")


def size(n: float) -> str:
    """Bytes for people: 512 B, 200 MB, 3.2 GB (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            digits = 0 if value >= 100 or value.is_integer() else 1
            return f"{value:.{digits}f} {unit}"
    return f"{int(n)} B"


def count(n: float) -> str:
    """A count with thousands separators."""
    return f"{n:,.0f}"
