"""Small worker-side pure functions: filter parsing, freshness summary, Triton error triage."""

from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException

from schemas.settings import Settings
from workers.embedding.triton import is_transient
from workers.index.base import Filter
from workers.ops import freshness_summary
from workers.search import parse_filter

# --------------------------------------------------------------------------- parse_filter


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("brand=Terra", Filter(field="brand", op="=", value="Terra")),
        ("price<=10", Filter(field="price", op="<=", value="10")),
        ("price >= 2.5", Filter(field="price", op=">=", value="2.5")),
        ("category!=Seeds", Filter(field="category", op="!=", value="Seeds")),
        ("price<3", Filter(field="price", op="<", value="3")),
        ("price>3", Filter(field="price", op=">", value="3")),
        ("brand=Hedgerow Organics", Filter(field="brand", op="=", value="Hedgerow Organics")),
        ("brand=O'Neill", Filter(field="brand", op="=", value="O'Neill")),
        ("  availability = InStock  ", Filter(field="availability", op="=", value="InStock")),
    ],
)
def test_parse_filter_accepts(expression: str, expected: Filter) -> None:
    assert parse_filter(expression) == expected


@pytest.mark.parametrize("expression", ["brand", "=x", "brand=", "", "9lives=1", "brand ~ Terra"])
def test_parse_filter_rejects_with_the_accepted_form(expression: str) -> None:
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_filter(expression)


# --------------------------------------------------------------------------- freshness_summary


def test_freshness_summary_of_nothing() -> None:
    assert freshness_summary([]) == {"chunks": 0, "p50_s": None, "p99_s": None, "max_s": None}


def test_freshness_summary() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100 s, unsorted
    summary = freshness_summary(values)
    # median of 1..100 is 50.5; the 99th percentile (nearest rank on 100 values) is 99
    assert summary == {"chunks": 100, "p50_s": 50.5, "p99_s": 99.0, "max_s": 100.0}


def test_freshness_summary_of_one_value_rounds_to_milliseconds() -> None:
    assert freshness_summary([0.12345]) == {
        "chunks": 1,
        "p50_s": 0.123,
        "p99_s": 0.123,
        "max_s": 0.123,
    }


# --------------------------------------------------------------------------- is_transient


@pytest.mark.parametrize(
    "status",
    [
        "StatusCode.UNAVAILABLE",
        "StatusCode.DEADLINE_EXCEEDED",
        "StatusCode.RESOURCE_EXHAUSTED",
        "StatusCode.ABORTED",
    ],
)
def test_transient_triton_errors(status: str) -> None:
    assert is_transient(InferenceServerException("try again", status=status))


@pytest.mark.parametrize("status", ["StatusCode.INVALID_ARGUMENT", "StatusCode.INTERNAL", None])
def test_terminal_triton_errors(status: str | None) -> None:
    assert not is_transient(InferenceServerException("bad input shape", status=status))


def test_a_model_without_available_versions_is_transient() -> None:
    """tritonserver answers NOT_FOUND while it unloads the model on SIGTERM (see
    test_triton_errors.py for every classification)."""
    assert is_transient(
        InferenceServerException(
            "Request for unknown model: 'minilm' has no available versions",
            status="StatusCode.NOT_FOUND",
        )
    )


def test_connection_failure_without_status_is_transient() -> None:
    error = InferenceServerException("failed to connect to all addresses; last error: refused")
    assert is_transient(error)


def test_best_per_product_keeps_rank_order_and_first_hit() -> None:
    from workers.index.base import Hit
    from workers.search import best_per_product

    def hit(cid: str, pid: str, score: float) -> Hit:
        return Hit(chunk_id=cid, product_id=pid, score=score, text=cid, fields={})

    hits = [
        hit("a1", "A", 0.9),
        hit("a2", "A", 0.8),
        hit("b1", "B", 0.7),
        hit("c1", "C", 0.6),
        hit("b2", "B", 0.5),
    ]
    assert [h.chunk_id for h in best_per_product(hits, 10)] == ["a1", "b1", "c1"]
    assert [h.chunk_id for h in best_per_product(hits, 2)] == ["a1", "b1"]


def test_faust_gets_the_sasl_credentials_and_plaintext_gets_none() -> None:
    import faust

    from workers.app import broker_credentials

    assert broker_credentials(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    sasl = Settings(  # type: ignore[call-arg]
        _env_file=None,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="indexer",
        kafka_sasl_password="pw",
    )
    credentials = broker_credentials(sasl)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("indexer", "pw")
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.ssl_context is None
