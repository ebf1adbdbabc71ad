"""Product pages: saved or crawled HTML -> `ProductRecord` (structured data, then heuristics).

Import from the modules (`ingest.pages.extract`, `ingest.pages.crawl`): this package imports
nothing itself, so the CLI does not load extruct or Scrapy unless a page command runs.
"""
