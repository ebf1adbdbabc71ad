"""Retrieval: the read side of the index, one path for every caller.

- `pipeline`  `Retriever`: embed the query (Triton), BM25 and vector candidates, fusion, the
              optional ranking stage, one result per product; deadlines on every dependency call
- `fusion`    pure functions: RRF and weighted (min-max, convex) fusion, per-stage scores/ranks
- `ranking`   the `Ranker` protocol, the hook of a trained ranking stage (none installed here)
- `api`       the FastAPI app of `freshindex serve` (`create_app`), its wire models
- `server`    binding, start-up checks and uvicorn for `freshindex serve`
- `metrics`   the service's Prometheus metrics

FastAPI and uvicorn are imported by `api` and `server` only, so `freshindex search` and the
worker never load them.
"""
