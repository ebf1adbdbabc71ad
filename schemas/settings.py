"""One typed, frozen settings object for every part of freshindex.

Every field is read from an environment variable `FRESHINDEX_<FIELD>` (e.g.
`FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS`), and from `$FRESHINDEX_HOME/stack.env`, which
`freshindex up` writes with the addresses of the local stack. Real environment variables win
over that file, so the same code points at a Kafka cluster and GPU Triton by configuration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.redact import credentials_in, has_userinfo, register


def home_dir() -> Path:
    """Folder for the local stack's state, logs and the default LanceDB index."""
    return Path(os.environ.get("FRESHINDEX_HOME", ".freshindex")).resolve()


class Settings(BaseSettings):
    """freshindex configuration (environment prefix `FRESHINDEX_`)."""

    model_config = SettingsConfigDict(
        env_prefix="FRESHINDEX_",
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
        hide_input_in_errors=True,  # an error never echoes a value (it may be a credential)
    )

    # the local stack
    stack: Literal["tansu+lancedb", "kafka+weaviate"] = "tansu+lancedb"
    """Which local stack `freshindex up` starts: `tansu+lancedb` (embedded default, Python only)
    or `kafka+weaviate` (production parity: Apache Kafka + Weaviate servers). `up` writes the
    broker address and index backend it started into `$FRESHINDEX_HOME/stack.env`."""

    # broker
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated host:port. Credentials in it (`user:pw@host`) are
    refused: they go in FRESHINDEX_KAFKA_SASL_USERNAME/PASSWORD."""
    kafka_flavor: Literal["kafka", "tansu"] = "kafka"
    """What the brokers are: `kafka` (Apache Kafka or compatible: idempotent producer, exact end
    offsets) or `tansu` (the embedded dev broker: no idempotent producer, lag from fetch high
    watermarks because its ListOffsets answers wrongly). `freshindex up` writes it."""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How clients talk to the brokers (SASL_SSL on a managed cluster)."""
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    """SASL mechanism when the security protocol is SASL_*."""
    kafka_sasl_username: str | None = None
    """SASL user name."""
    kafka_sasl_password: SecretStr | None = None
    """SASL password (never printed)."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle that signed the brokers' certificates (default: the system's)."""
    chunks_topic: str = "freshindex.chunks"
    """Topic of chunks and product deletions, keyed by product id."""
    dead_letter_topic: str = "freshindex.dead-letters"
    """Topic of records that could not be processed."""
    topic_partitions: int = Field(default=4, ge=1, le=1024)
    """Partitions of the chunks topic when freshindex creates it."""
    topic_replication: int = Field(default=1, ge=1, le=5)
    """Replication factor when freshindex creates topics (3 on a production cluster)."""
    producer_compression: Literal["gzip", "none"] = "gzip"
    """Producer compression codec."""
    consumer_group: str = "freshindex-indexer"
    """Consumer group (and Faust app id) of the index workers."""

    # embedding
    triton_url: str = "127.0.0.1:8001"
    """Triton gRPC address host:port."""
    triton_http_url: str = "127.0.0.1:8000"
    """Triton HTTP address host:port (health checks, statistics)."""
    triton_model: str = "minilm"
    """Name of the embedding model in Triton's model repository."""
    embedding_dim: int = Field(default=384, ge=1, le=8192)
    """Dimension of the stock model's embeddings (a version with a `fingerprint.json` states
    its own)."""
    model_version: int | None = Field(default=None, ge=1)
    """`FRESHINDEX_MODEL_VERSION`: the model version this process embeds with. Unset: the
    version the live index records (the index knows its model); a new index gets the highest
    version Triton serves. Set: a worker or `serve` refuses an index filled by another."""
    model_repository: Path = Field(
        default_factory=lambda: (
            Path(__file__).resolve().parent.parent / "infra" / "triton" / "model_repository"
        )
    )
    """`FRESHINDEX_MODEL_REPOSITORY`: Triton's model repository as this process can read it
    (`<model>/<version>/fingerprint.json` identifies each version); default: the bundled one."""
    query_prefix: str = ""
    """Text put before a search query before embedding (E5: `query: `; MiniLM: none)."""
    passage_prefix: str = ""
    """Text put before a chunk before embedding (E5: `passage: `; MiniLM: none)."""
    tokenizer_path: Path | None = None
    """tokenizer.json of the embedding model; default: the bundled all-MiniLM-L6-v2."""
    embed_request_rows: int = Field(default=16, ge=1, le=4096)
    """Rows per Triton request (at most the model's max_batch_size); a batch is split into these."""
    embed_concurrency: int = Field(default=4, ge=1, le=64)
    """Triton requests in flight per worker."""
    embed_spread: int = Field(default=2, ge=1, le=64)
    """A batch goes out as at least this many requests (and whole multiples of it), of even
    size: the model's instance count (`instance_group` count in config.pbtxt), so a small batch
    keeps every instance busy at once."""
    embed_max_retries: int = Field(default=5, ge=0, le=100)
    """Retries of a Triton request on transient errors (unavailable, timeout)."""
    embed_timeout_s: float = Field(default=120.0, gt=0)
    """Timeout of one Triton request."""

    # index
    index_backend: Literal["lancedb", "weaviate"] = "lancedb"
    """Vector index implementation: `lancedb` (a folder) or `weaviate` (a server)."""
    weaviate_url: str = "http://127.0.0.1:8080"
    """Weaviate REST endpoint (scheme://host:port)."""
    weaviate_grpc_url: str = "127.0.0.1:50051"
    """Weaviate gRPC host:port (batch writes and queries go over gRPC)."""
    weaviate_api_key: SecretStr | None = None
    """Weaviate API key (never printed); none for an anonymous local server."""
    weaviate_timeout_s: float = Field(default=30.0, gt=0, le=600)
    """Timeout of one Weaviate call (insert, query, init)."""
    lancedb_uri: str = Field(default_factory=lambda: str(home_dir() / "lancedb"))
    """LanceDB folder (or object-store URI)."""
    index_name: str = "products"
    """Table (collection) holding the chunks."""

    # worker
    batch_size: int = Field(default=2048, ge=1, le=10_000)
    """Most chunks per batch. Batches follow the load (`workers.batching`): they reach this size
    only under backlog, where big ones keep Triton busiest (rows are length-sorted across the
    batch); a kill -9 replays at most two batches (the one being indexed and the next, held)."""
    batch_within_s: float = Field(default=0.05, ge=0, le=60)
    """Longest a batch waits for more messages when fewer than `batch_size` have arrived, in
    seconds (a linger: under backlog batches are full at once and never wait). Small values
    keep a thin stream's freshness near the model's own latency; see README "Benchmark"."""
    skip_unchanged: bool = True
    """Skip embedding for chunks whose content hash is already in the index."""
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Port of the worker's Prometheus /metrics (0: don't serve)."""
    metrics_host: str = "127.0.0.1"
    """Address the worker's /metrics listens on (0.0.0.0 in a container)."""
    worker_log_level: str = "info"
    """Worker log level."""
    log_format: Literal["plain", "json"] = "plain"
    """Log lines of every command, the worker and the retrieval service: `plain` (readable in a
    terminal; a traceback's lines indented under its event) or `json` (one object per line:
    ts, level, logger, message, exc, and fields such as topic/partition/offset/product_id)."""

    # retrieval service (`freshindex serve`)
    serve_host: str = "127.0.0.1"
    """Address `freshindex serve` listens on (loopback; 0.0.0.0 in a container)."""
    serve_port: int = Field(default=8090, ge=1, le=65535)
    """Port of `freshindex serve` (HTTP API, /metrics, /healthz, /readyz)."""
    serve_api_key: SecretStr | None = None
    """API key `/v1/*` requests must send (`X-API-Key` or `Authorization: Bearer`; never
    printed); none: no key asked."""
    serve_timeout_s: float = Field(default=5.0, gt=0, le=120)
    """Deadline of one request's calls to Triton and the index: a dependency slower or away
    answers 503 within it."""
    serve_max_k: int = Field(default=100, ge=1, le=1000)
    """Most results one search may ask for."""
    serve_max_request_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    """Largest request body accepted (413 above it)."""
    candidates_bm25: int = Field(default=50, ge=1, le=1000)
    """BM25 candidates fetched per search (at least k, k*5 for one result per product)."""
    candidates_vector: int = Field(default=50, ge=1, le=1000)
    """Vector candidates fetched per search (at least k, k*5 for one result per product)."""
    fusion: Literal["rrf", "weighted"] = "rrf"
    """How hybrid search fuses BM25 and vector candidates: `rrf` (reciprocal rank fusion) or
    `weighted` (min-max normalised scores, convex combination); a request may choose."""
    rrf_k: int = Field(default=60, ge=1, le=10_000)
    """RRF constant: a candidate at rank r of a stage adds 1 / (rrf_k + r)."""
    fusion_vector_weight: float = Field(default=0.5, ge=0, le=1)
    """Weight of the vector score in `weighted` fusion (BM25 gets 1 minus it)."""
    ranker_path: Path = Field(default_factory=lambda: home_dir() / "ranker" / "ranker.json")
    """The installed ranking model's card (`freshindex train-reranker` writes it; the model file
    is named in it, beside it). `freshindex serve`, `search` and `eval` load it at start (serve
    again on SIGHUP); absent: no ranking stage."""
    lancedb_read_consistency_s: float = Field(default=0.0, ge=0, le=3600)
    """How stale the retrieval service's view of a LanceDB table may get, in seconds (0: every
    read sees the latest write of any process; costs no measurable time here)."""

    # ops: the status page (`freshindex serve`, /status) and the alert rules
    freshness_slo_s: float = Field(default=30.0, gt=0, le=86_400)
    """Freshness objective, in seconds: the p99 of published -> searchable latency should stay
    at or below it. The status page marks a p99 above it; the `FreshnessP99OverSLO` rule of
    infra/monitoring/alerts.yml fires above it (the rule file is static: change its threshold
    with this setting; a test checks the committed rule matches the default)."""
    status_window_s: float = Field(default=300.0, ge=10, le=86_400)
    """Window of the status page's freshness percentiles, throughput and dead letters per
    minute, in seconds."""

    # chunking
    chunk_max_tokens: int = Field(default=256, ge=32, le=8192)
    """Most tokens in a chunk, special tokens and passage prefix included."""
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=1024)
    """Tokens of the previous description chunk repeated at the start of the next."""

    semantic_chunking: bool = True
    """Cut long free text (descriptions, document sections) where adjacent sentences are least
    alike (sentence embeddings of the bundled model, on the CPU); false: pack sentences greedily."""

    # deduplication
    dedup_enabled: bool = True
    """Drop products that duplicate another product already indexed (exact or near)."""
    dedup_threshold: float = Field(default=0.7, gt=0, le=1)
    """Estimated Jaccard similarity (word 3-grams) from which two products are near-duplicates."""
    dedup_state_path: Path = Field(default_factory=lambda: home_dir() / "dedup.sqlite3")
    """sqlite file of the deduplicator's state (survives restarts; one per catalog)."""

    # the unchanged path of a publish (`ingest.unchanged`)
    publish_skip_unchanged: bool = True
    """Do not send a record the index already holds exactly as it would be sent (checked against
    the index in bulk; the publisher remembers which chunks each record made)."""
    publish_cache_path: Path = Field(default_factory=lambda: home_dir() / "published.sqlite3")
    """sqlite file of what each record made when it was last sent (one per catalog)."""

    # product pages (`freshindex crawl`, `freshindex extract`)
    crawl_site_catalog: str = ""
    """`FRESHINDEX_CRAWL_SITE_CATALOG`: host names (comma-separated, exact, no port) whose
    pages' product ids are the catalog's own: a page there with sku V-0001 updates catalog
    product V-0001. A page of any other host gets its id namespaced by its host
    (`shop.example.com:V-0001`), so no site can overwrite another source's product."""
    crawl_download_timeout_s: float = Field(default=20.0, gt=0, le=600)
    """`FRESHINDEX_CRAWL_DOWNLOAD_TIMEOUT_S`: timeout of one page or sitemap request, seconds."""
    crawl_timeout_retries: int = Field(default=1, ge=0, le=5)
    """`FRESHINDEX_CRAWL_TIMEOUT_RETRIES`: retries of a request that timed out (each costs the
    whole timeout; other transient errors keep Scrapy's 2 retries)."""
    crawl_max_sitemap_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, le=1024**3)
    """`FRESHINDEX_CRAWL_MAX_SITEMAP_BYTES`: largest sitemap, downloaded and after gzip
    decompression (the sitemaps protocol allows 50 MB); pages have their own `--max-page-bytes`."""

    # catalog feeds (and document manifests): limits on one row
    feed_max_row_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1024 * 1024)
    """`FRESHINDEX_FEED_MAX_ROW_BYTES`: largest row of a feed or manifest, in bytes (line break
    not counted). A longer row is rejected with its size, without being parsed or held in memory
    (JSONL) and without stopping the feed."""
    feed_max_depth: int = Field(default=16, ge=3, le=200)
    """`FRESHINDEX_FEED_MAX_DEPTH`: deepest nesting of objects and lists in a row (the row is
    level 1, its `attributes` 2, a list value 3). A deeper row is rejected with the reason."""

    # documents (PDF, DOCX, HTML, Markdown, text): limits on one document; a document over one
    # is rejected with the reason (a dead letter when publishing) and the others go on
    doc_max_file_bytes: int = Field(default=100_000_000, ge=1024)
    """`FRESHINDEX_DOC_MAX_FILE_BYTES`: largest document file, in bytes (checked before reading)."""
    doc_max_uncompressed_bytes: int = Field(default=200_000_000, ge=1_000_000)
    """`FRESHINDEX_DOC_MAX_UNCOMPRESSED_BYTES`: most bytes a DOCX package (a ZIP) may inflate
    to, any one member and all together: first as its ZIP directory declares, before anything is
    inflated, then as the members actually stream out."""
    doc_max_compression_ratio: float = Field(default=100.0, ge=10)
    """`FRESHINDEX_DOC_MAX_COMPRESSION_RATIO`: highest inflated / compressed size of a DOCX
    member over 1 MB (real document XML compresses 5-20:1; a zip bomb of zeros 1000:1)."""
    doc_max_zip_members: int = Field(default=1000, ge=10)
    """`FRESHINDEX_DOC_MAX_ZIP_MEMBERS`: most members (parts, images) in a DOCX package."""
    doc_max_elements: int = Field(default=1_000_000, ge=100)
    """`FRESHINDEX_DOC_MAX_ELEMENTS`: most elements in a document: markup elements (DOCX XML
    parts, HTML, Markdown rendered to HTML), counted while streaming before the parse; PDF text
    lines, page by page; and parsed elements (paragraphs, titles, list items, tables)."""
    doc_max_depth: int = Field(default=200, ge=8, le=250)
    """`FRESHINDEX_DOC_MAX_DEPTH`: deepest nesting of markup elements (DOCX XML, HTML, Markdown
    rendered to HTML). At most 250: libxml2, which parses them all, silently drops text nested
    256 levels deep."""
    doc_max_text_chars: int = Field(default=20_000_000, ge=1000)
    """`FRESHINDEX_DOC_MAX_TEXT_CHARS`: most characters of text in a document (a 10,000-page
    book), counted before the parse where the format allows, page by page for a PDF."""
    doc_parse_timeout_s: float = Field(default=60.0, ge=0.1, le=3600)
    """`FRESHINDEX_DOC_PARSE_TIMEOUT_S`: longest parse of one document, in seconds; the parser
    process is then killed and the document rejected."""
    doc_parse_max_memory_bytes: int = Field(default=2_000_000_000, ge=100_000_000)
    """`FRESHINDEX_DOC_PARSE_MAX_MEMORY_BYTES`: most memory (address space) the parser process
    may take on top of what it holds idle; a parse that needs more is rejected."""

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _no_credentials_in_bootstrap(cls, value: str) -> str:
        if any(has_userinfo(address) for address in value.split(",")):
            register(credentials_in(value))  # redacted wherever it might still show
            raise ValueError(
                "credentials in FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS are not supported; use"
                " FRESHINDEX_KAFKA_SASL_USERNAME/FRESHINDEX_KAFKA_SASL_PASSWORD (and"
                " FRESHINDEX_KAFKA_SECURITY_PROTOCOL)"
            )
        return value

    @model_validator(mode="after")
    def _overlap_fits(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_max_tokens // 2:
            raise ValueError("chunk_overlap_tokens must be less than half of chunk_max_tokens")
        return self

    def kafka_client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments for the brokers and their security settings."""
        config: dict[str, Any] = {
            "bootstrap_servers": [hp.strip() for hp in self.kafka_bootstrap_servers.split(",")],
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL"):
            config["sasl_mechanism"] = self.kafka_sasl_mechanism
            config["sasl_plain_username"] = self.kafka_sasl_username
            config["sasl_plain_password"] = (
                self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
            )
        if self.kafka_ssl_cafile is not None:
            config["ssl_cafile"] = str(self.kafka_ssl_cafile)
        return config

    @classmethod
    def load(cls) -> Settings:
        """Read the environment, then the local stack's env file (environment wins)."""
        return cls(_env_file=home_dir() / "stack.env")  # type: ignore[call-arg]
