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

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def home_dir() -> Path:
    """Folder for the local stack's state, logs and the default LanceDB index."""
    return Path(os.environ.get("FRESHINDEX_HOME", ".freshindex")).resolve()


class Settings(BaseSettings):
    """freshindex configuration (environment prefix `FRESHINDEX_`)."""

    model_config = SettingsConfigDict(
        env_prefix="FRESHINDEX_", frozen=True, extra="ignore", use_attribute_docstrings=True
    )

    # the local stack
    stack: Literal["tansu+lancedb", "kafka+weaviate"] = "tansu+lancedb"
    """Which local stack `freshindex up` starts: `tansu+lancedb` (embedded default, Python only)
    or `kafka+weaviate` (production parity: Apache Kafka + Weaviate servers). `up` writes the
    broker address and index backend it started into `$FRESHINDEX_HOME/stack.env`."""

    # broker
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated host:port."""
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
    """Dimension of the model's embeddings."""
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
    """Most chunks taken from the stream per batch. Batches only fill up under backlog, where big
    ones keep Triton busiest (rows are length-sorted across the batch); a kill -9 replays at most
    one batch."""
    batch_within_s: float = Field(default=0.5, gt=0, le=60)
    """Longest wait to fill a batch, in seconds."""
    skip_unchanged: bool = True
    """Skip embedding for chunks whose content hash is already in the index."""
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Port of the worker's Prometheus /metrics (0: don't serve)."""
    metrics_host: str = "127.0.0.1"
    """Address the worker's /metrics listens on (0.0.0.0 in a container)."""
    worker_log_level: str = "info"
    """Worker log level."""

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
