"""Why a page yields no product.

IngestError (ingest.errors)
 └── PageRejected        the page gives no product record; `str()` is the reason shown to users
      ├── PageTooLarge   over the size limit
      ├── NotHtml        binary or undecodable content
      └── NoProduct      valid HTML without a product on it
"""

from __future__ import annotations

from ingest.errors import IngestError


class PageRejected(IngestError):
    """The page yields no product; the message is the reason."""


class PageTooLarge(PageRejected):
    """The page is over the size limit."""


class NotHtml(PageRejected):
    """The content is binary or cannot be decoded as text."""


class NoProduct(PageRejected):
    """The page is HTML but shows no product."""
