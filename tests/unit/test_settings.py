"""Settings: one boundary reading FRESHINDEX_* variables, bounded, frozen; topic specs from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.settings import Settings, home_dir
from schemas.topics import topic_specs


def test_defaults_without_environment(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.batch_size == 2048  # documented in README.md
    assert settings.chunks_topic == "freshindex.chunks"
    assert settings.lancedb_uri == str(home_dir() / "lancedb")


def test_reads_freshindex_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    clean_env.setenv("FRESHINDEX_BATCH_SIZE", "500")
    clean_env.setenv("FRESHINDEX_BATCH_WITHIN_S", "0.25")
    clean_env.setenv("FRESHINDEX_SKIP_UNCHANGED", "false")
    clean_env.setenv("FRESHINDEX_PRODUCER_COMPRESSION", "none")
    clean_env.setenv("FRESHINDEX_TOKENIZER_PATH", "/models/tok.json")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.batch_size == 500
    assert settings.batch_within_s == 0.25
    assert settings.skip_unchanged is False
    assert settings.producer_compression == "none"
    assert settings.tokenizer_path == Path("/models/tok.json")


def test_unprefixed_variables_are_ignored(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BATCH_SIZE", "7")
    assert Settings().batch_size == Settings.model_fields["batch_size"].default != 7


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FRESHINDEX_BATCH_SIZE", "0"),
        ("FRESHINDEX_BATCH_SIZE", "10001"),
        ("FRESHINDEX_BATCH_SIZE", "many"),
        ("FRESHINDEX_BATCH_WITHIN_S", "-0.1"),
        ("FRESHINDEX_EMBEDDING_DIM", "0"),
        ("FRESHINDEX_EMBED_CONCURRENCY", "65"),
        ("FRESHINDEX_METRICS_PORT", "65536"),
        ("FRESHINDEX_TOPIC_PARTITIONS", "0"),
        ("FRESHINDEX_CHUNK_MAX_TOKENS", "8"),
        ("FRESHINDEX_PRODUCER_COMPRESSION", "zstd"),
        ("FRESHINDEX_INDEX_BACKEND", "chroma"),
    ],
)
def test_rejects_out_of_range_values(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    field = variable.removeprefix("FRESHINDEX_").lower()
    assert [err["loc"][0] for err in info.value.errors()] == [field]


def test_settings_are_frozen(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.batch_size = 1


def test_load_reads_stack_env_and_environment_wins(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "stack.env").write_text(
        "FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:40001\nFRESHINDEX_TRITON_URL=127.0.0.1:40002\n"
    )
    clean_env.setenv("FRESHINDEX_TRITON_URL", "triton.prod:8001")
    settings = Settings.load()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:40001"
    assert settings.triton_url == "triton.prod:8001"
    assert settings.lancedb_uri == str(home.resolve() / "lancedb")


def test_every_field_is_documented() -> None:
    undocumented = [name for name, info in Settings.model_fields.items() if not info.description]
    assert undocumented == []


def test_topic_specs_follow_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRESHINDEX_CHUNKS_TOPIC", "c-topic")
    clean_env.setenv("FRESHINDEX_DEAD_LETTER_TOPIC", "d-topic")
    clean_env.setenv("FRESHINDEX_TOPIC_PARTITIONS", "12")
    clean_env.setenv("FRESHINDEX_TOPIC_REPLICATION", "3")
    chunks, dead = topic_specs(Settings())
    assert (chunks.name, chunks.partitions, chunks.replication) == ("c-topic", 12, 3)
    assert (dead.name, dead.partitions, dead.replication) == ("d-topic", 1, 3)
    # dead letters are kept longer than chunks, so ops can still read them after a weekend
    assert int(dead.config["retention.ms"]) > int(chunks.config["retention.ms"])


def test_plaintext_kafka_config_has_no_credentials(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS", "k1:9092, k2:9092")
    config = Settings().kafka_client_config()
    assert config == {"bootstrap_servers": ["k1:9092", "k2:9092"], "security_protocol": "PLAINTEXT"}


def test_sasl_credentials_reach_the_client_config_but_never_the_repr(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("FRESHINDEX_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    clean_env.setenv("FRESHINDEX_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    clean_env.setenv("FRESHINDEX_KAFKA_SASL_USERNAME", "indexer")
    clean_env.setenv("FRESHINDEX_KAFKA_SASL_PASSWORD", "s3cret-pw")
    clean_env.setenv("FRESHINDEX_KAFKA_SSL_CAFILE", "/etc/ca.pem")
    clean_env.setenv("FRESHINDEX_WEAVIATE_API_KEY", "wv-key-123")
    settings = Settings()
    config = settings.kafka_client_config()
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl_plain_username"], config["sasl_plain_password"]) == (
        "indexer",
        "s3cret-pw",
    )
    assert config["ssl_cafile"] == "/etc/ca.pem"
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "s3cret-pw" not in shown and "wv-key-123" not in shown


def test_stack_and_flavor_are_bounded(clean_env: pytest.MonkeyPatch) -> None:
    assert (Settings().stack, Settings().kafka_flavor) == ("tansu+lancedb", "kafka")
    clean_env.setenv("FRESHINDEX_STACK", "kafka+lancedb")
    with pytest.raises(ValidationError, match="stack"):
        Settings()
