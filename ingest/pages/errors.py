"""Why a page yields no product.

IngestError (ingest.errors)
 └── PageRejected        the page gives no product record; `str()` is the reason shown to users
      ├── PageTooLarge   over the size limit
      ├── PageTooComplex over the element-count or nesting-depth limit
      ├── NotHtml        binary or undecodable content
      ├── BadCharset     text decoded with the wrong charset (replacement characters, mojibake)
      └── NoProduct      valid HTML without a product on it
"""

from __future__ import annotations

from ingest.errors import IngestError


class PageRejected(IngestError):
    """The page yields no product; the message is the reason."""


class PageTooLarge(PageRejected):
    """The page is over the size limit."""


class PageTooComplex(PageRejected):
    """The page has more elements, or deeper nesting, than the extractor reads."""


class NotHtml(PageRejected):
    """The content is binary or cannot be decoded as text."""


class BadCharset(PageRejected):
    """The product's text shows that the page was decoded with the wrong charset."""


class NoProduct(PageRejected):
    """The page is HTML but shows no product."""
