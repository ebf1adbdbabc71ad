"""Retrieval: the read side of the index, one path for every caller.

- `pipeline`  `Retriever`: embed the query (Triton), BM25 and vector candidates, fusion, the
              optional ranking stage, one result per product; deadlines on every dependency call
- `fusion`    pure functions: RRF and weighted (min-max, convex) fusion, per-stage scores/ranks
- `ranking`   the `Ranker` protocol, the hook of the ranking stage
- `features`  features of (query, product) pairs for learning to rank (pure)
- `ltr`       `LtrRanker`: the LightGBM LambdaRank stage, its model files, loading, installing
- `training`  `freshindex train-reranker`: candidates from the live index, validation, fitting
- `evaluation` `freshindex eval`: relevance of the live index through `Retriever.search`
- `api`       the FastAPI app of `freshindex serve` (`create_app`), its wire models
- `server`    binding, start-up checks and uvicorn for `freshindex serve`
- `metrics`   the service's Prometheus metrics
- `status`    the status page's numbers (`StatusBoard`: lag, throughput, freshness, dead
              letters, index, model, health); `status_page` its routes and HTML

FastAPI and uvicorn are imported by `api`, `status_page` and `server` only, so `freshindex search` and the
worker never load them.
"""
