"""Scrapy downloader middleware of the crawl: retries with a cap of their own for timeouts.

Scrapy retries transient HTTP statuses and connection errors `RETRY_TIMES` times (2). A request
that timed out is another matter: each try costs the whole `DOWNLOAD_TIMEOUT`, and a server that
did not answer within it rarely answers the next time, so a slow page cost three timeouts (90 s
at 30 s). `CrawlRetryMiddleware` retries a timeout at most `FRESHINDEX_TIMEOUT_RETRIES` times
(setting `crawl_timeout_retries`, default 1) and leaves every other retry to Scrapy's rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import DownloadTimeoutError
from twisted.internet.error import TCPTimedOutError
from twisted.internet.error import TimeoutError as TwistedTimeoutError

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

TIMEOUT_RETRIES_SETTING = "FRESHINDEX_TIMEOUT_RETRIES"
"""Scrapy setting naming the most retries of a timed-out request."""

TIMEOUTS = (DownloadTimeoutError, TCPTimedOutError, TwistedTimeoutError, TimeoutError)
"""Exceptions that mean "no answer within the timeout"."""


class CrawlRetryMiddleware(RetryMiddleware):
    """Scrapy's `RetryMiddleware`, with timeouts retried at most `FRESHINDEX_TIMEOUT_RETRIES` times."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.timeout_retries = settings.getint(TIMEOUT_RETRIES_SETTING, 1)

    def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Any = None
    ) -> Request | Response | None:
        """Give up on a timed-out request after `timeout_retries`; otherwise Scrapy's retry."""
        tries = int(request.meta.get("retry_times", 0))
        if isinstance(exception, TIMEOUTS) and tries >= self.timeout_retries:
            return None  # the errback reports the timeout
        return super().process_exception(request, exception)
