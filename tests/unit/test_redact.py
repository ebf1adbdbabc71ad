"""`schemas.redact`: one function keeps every credential out of messages, log lines of every
library, stream output and dead letters; the settings refuse credentials in the bootstrap
address without echoing them."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest
from pydantic import ValidationError

from ingest.producer import FileSink
from schemas import redact
from schemas.models import DeadLetter
from schemas.settings import Settings
from tests.unit.fakes import TOPIC
from workers import app as worker_app
from workers.batch import RawMessage
from workers.indexer import BatchResult

SECRET = "s3cr3t-PLANTED"


@pytest.fixture(autouse=True)
def no_known_secrets() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SASL_SSL://alice:pw-1@broker:9092", "SASL_SSL://alice:***@broker:9092"),
        ("at http://u:p@ss@h:8080/v1", "at http://u:***@h:8080/v1"),
        ("['kafka://a:b@h1:1', 'kafka://h2:2']", "['kafka://a:***@h1:1', 'kafka://h2:2']"),
        ("GET /v1/x?api_key=k1&limit=3", "GET /v1/x?api_key=***&limit=3"),
        ("https://h/q?a=1&access_token=t0k#f", "https://h/q?a=1&access_token=***#f"),
        ("kafka://h1:9092 mail x@y.com 12:30", "kafka://h1:9092 mail x@y.com 12:30"),
    ],
)
def test_url_credentials_are_redacted_known_or_not(text: str, expected: str) -> None:
    assert redact.redact(text) == expected


def test_known_secrets_are_redacted_anywhere_longest_first() -> None:
    redact.register([SECRET, "s3cr3t", ""])
    assert redact.redact(f"password {SECRET}; and s3cr3t.") == "password ***; and ***."
    assert redact.redact("nothing here") == "nothing here"


def test_credentials_in_finds_bootstrap_url_and_query_passwords() -> None:
    assert redact.credentials_in("alice:p1@h1:9092, SASL_SSL://bob:p2@h2:9092,h3:9092") == {
        "p1",
        "p2",
    }
    assert redact.credentials_in("http://h:1/?apikey=k3") == {"k3"}
    assert redact.credentials_in("127.0.0.1:9092") == set()


def test_the_settings_secrets_are_the_secretstr_values_and_url_credentials(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_sasl_password=SECRET,  # type: ignore[arg-type]
        weaviate_api_key="wv-key",  # type: ignore[arg-type]
        weaviate_url="http://u:wv-pw@h:8080",
        triton_http_url="h:8000/?token=tr-tok",
    )
    assert redact.secrets_of(settings) == {SECRET, "wv-key", "wv-pw", "tr-tok"}


def test_the_environment_registers_secret_settings_whole_and_urls_credentials() -> None:
    redact.register_environment(
        {
            "FRESHINDEX_KAFKA_SASL_PASSWORD": SECRET,
            "freshindex_weaviate_api_key": "wv-key",  # read case-insensitively, as pydantic does
            "FRESHINDEX_CHUNK_MAX_TOKENS": "256",  # named like a token, but not a secret
            "FRESHINDEX_WEAVIATE_URL": "http://u:wv-pw@h:8080",
            "OTHER_PASSWORD": "not-ours",
        },
        Settings,
    )
    assert redact.redact(f"{SECRET} wv-key 256 wv-pw not-ours") == "*** *** 256 *** not-ours"


def test_credentials_in_the_bootstrap_address_are_refused_without_echo(
    clean_env: pytest.MonkeyPatch,
) -> None:
    for address in (f"SASL_SSL://alice:{SECRET}@h:9092", f"h0:1,alice:{SECRET}@h:9092"):
        clean_env.setenv("FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS", address)
        with pytest.raises(ValidationError) as info:
            Settings()
        shown = str(info.value) + repr(info.value.errors(include_input=False))
        assert "FRESHINDEX_KAFKA_SASL_USERNAME/FRESHINDEX_KAFKA_SASL_PASSWORD" in shown
        assert SECRET not in shown
        assert redact.redact(address).count("***") == 1  # and it is redacted from now on
    clean_env.setenv("FRESHINDEX_KAFKA_BOOTSTRAP_SERVERS", "SASL_SSL://h1:9092, h2:9092")
    assert Settings().kafka_bootstrap_servers == "SASL_SSL://h1:9092, h2:9092"


def test_no_settings_error_echoes_a_value(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FRESHINDEX_KAFKA_SECURITY_PROTOCOL", SECRET)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "kafka_security_protocol" in str(info.value) and SECRET not in str(info.value)


@pytest.mark.parametrize(
    "logger",
    [
        "freshindex.worker",
        "kafka.net.manager",
        "kafka.admin.client",
        "faust.transport.drivers.aiokafka",
        "mode.worker",
        "aiokafka.conn",
        "weaviate.client",
        "tritonclient.grpc",
        "uvicorn.error",
        "some.other.library",
    ],
)
def test_every_logger_s_records_are_redacted(logger: str, caplog: pytest.LogCaptureFixture) -> None:
    redact.register([SECRET])
    redact.install_log_redaction()
    log = logging.getLogger(logger)
    with caplog.at_level(logging.DEBUG, logger=logger):
        log.debug("configuration: %s", {"sasl_plain_password": SECRET})
        try:
            raise ConnectionError(f"cannot reach kafka://u:{SECRET}@h:1")
        except ConnectionError:
            log.exception("connect failed for %s", "kafka://h:1")
    text = caplog.text
    assert "configuration: {'sasl_plain_password': '***'}" in text
    assert "ConnectionError: cannot reach kafka://u:***@h:1" in text  # the traceback stays
    assert SECRET not in text and all(SECRET not in r.getMessage() for r in caplog.records)


def test_a_log_record_without_a_secret_is_left_as_it_was() -> None:
    record = logging.LogRecord("kafka", logging.INFO, __file__, 1, "at %s", ("h:1",), None)
    assert redact.redact_record(record).args == ("h:1",)


def test_the_redacting_filter_redacts_and_keeps_every_record() -> None:
    redact.register([SECRET])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pw %s", (SECRET,), None)
    assert redact.RedactingFilter().filter(record) and record.getMessage() == "pw ***"


def test_a_redacting_stream_redacts_what_is_written() -> None:
    redact.register([SECRET])
    inner = io.StringIO()
    stream = redact.RedactingStream(inner)
    stream.write(f'{{"broker": "h:1", "password": "{SECRET}"}}\n')
    stream.writelines([f"{SECRET}\n", "ok\n"])
    stream.flush()
    assert inner.getvalue() == '{"broker": "h:1", "password": "***"}\n***\nok\n'
    assert stream.getvalue() == inner.getvalue()  # everything else is the inner stream's


def letter_with_secret() -> DeadLetter:
    return DeadLetter(
        stage="index",
        error_type="IndexUnavailable",
        message=f"Weaviate at http://u:{SECRET}@h:1 refused",
        topic=TOPIC,
        partition=0,
        offset=3,
        key="GA-1",
        payload=f'{{"text": "{SECRET}"}}',
    )


def test_a_dead_letter_is_redacted_and_stays_bounded() -> None:
    redact.register([SECRET])
    letter = redact.redact_letter(letter_with_secret())
    assert SECRET not in letter.model_dump_json()
    assert letter.message == "Weaviate at http://u:***@h:1 refused"
    assert (letter.offset, letter.key, letter.payload) == (3, "GA-1", '{"text": "***"}')


def test_the_prepare_sink_keeps_redacted_dead_letters() -> None:
    redact.register([SECRET])
    sink = FileSink(io.StringIO())
    sink.send_dead_letter(letter_with_secret())
    assert SECRET not in sink.dead_letters[0].model_dump_json()


def test_the_worker_sends_and_logs_redacted_dead_letters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, lancedb_uri=str(tmp_path / "db"))  # type: ignore[call-arg]
    worker = worker_app.IndexWorker(
        faust.App("redact-test", broker="memory://", store="memory://", web_enabled=False),
        settings,
    )
    redact.register([SECRET])
    sent: list[DeadLetter] = []

    class Indexer:
        async def process(self, messages: list[RawMessage]) -> BatchResult:
            return BatchResult(consumed=len(messages), dead_letters=[letter_with_secret()])

    async def send(letter: DeadLetter) -> None:
        sent.append(letter)

    worker._indexer = Indexer()  # type: ignore[assignment]
    monkeypatch.setattr(worker, "_send_dead_letter", send)
    message = RawMessage(topic=TOPIC, partition=0, offset=3, key=b"GA-1", value=b"{}")
    with caplog.at_level(logging.ERROR, logger="freshindex.worker"):
        asyncio.run(worker.handle([message]))
    [letter] = sent
    assert SECRET not in letter.model_dump_json() and "u:***@h:1" in letter.message
    assert "dead letter" in caplog.text and SECRET not in caplog.text
