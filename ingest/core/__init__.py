"""The bottom layer of `ingest`: what every source and the chain share, importing nothing of
`ingest` above it (only `ingest.errors` and `schemas`).

  - `items`: what a source yields (`Accepted | Deleted | Rejected`) and where it came from
    (`Location`);
  - `rows`: rows of JSONL and CSV files within `RowLimits` (catalog feeds, document manifests);
  - `text`: text cleaning (markup, unicode, control characters, whitespace);
  - `availability`: the one availability normaliser;
  - `ids`: the one product-id check.
"""
