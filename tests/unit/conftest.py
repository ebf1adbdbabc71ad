"""Unit-tier fixtures: the real tokenizer, a chunker factory, an isolated settings environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ingest.prepare.chunk import Chunker
from ingest.prepare.tokenizer import TokenCounter


@pytest.fixture(scope="session")
def tokens() -> TokenCounter:
    """The bundled all-MiniLM-L6-v2 tokenizer (the model's own, not an approximation)."""
    return TokenCounter.from_file()


@pytest.fixture
def chunker(tokens: TokenCounter) -> Callable[..., Chunker]:
    def make(max_tokens: int = 64, overlap_tokens: int = 0, passage_prefix: str = "") -> Chunker:
        return Chunker(
            tokens,
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            passage_prefix=passage_prefix,
        )

    return make


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[pytest.MonkeyPatch]:
    """No FRESHINDEX_* variable from the outer environment; FRESHINDEX_HOME is a fresh folder."""
    for name in list(os.environ):
        if name.startswith("FRESHINDEX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FRESHINDEX_HOME", str(tmp_path / "home"))
    yield monkeypatch


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Secrets a test registers for redaction (`schemas.redact`, process-global) end with it, so
    a test's planted password never rewrites another test's output."""
    yield
    from schemas.redact import forget_all

    forget_all()
