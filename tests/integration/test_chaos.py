"""A short `make chaos` in the integration tier: every fault (broker kill -9, Weaviate kill -9,
Triton stopped, worker SIGTERM and kill -9) while a catalog is being indexed, on Kafka + Weaviate.
After each, the index equals the published state: nothing lost, nothing duplicated, and no
dependency's outage became a dead letter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.stack import StackInfo
from tests.benchmarks.chaos import run_chaos

pytestmark = pytest.mark.integration


@pytest.mark.stacks("kafka+weaviate")
def test_every_fault_while_indexing_converges_without_loss_duplicates_or_dead_letters(
    stack: StackInfo, tmp_path: Path
) -> None:
    lines: list[str] = []
    result = run_chaos(stack, tmp_path, products=40, triton_pause_s=5, seed=11, say=lines.append)
    report = "\n".join(lines) + "\n" + json.dumps(result)
    assert set(result) >= {"broker", "index", "triton", "worker", "total"}, report
    for fault in ("broker", "index", "triton", "worker"):
        assert result[fault]["chunks_expected"] > 0, report
    assert result["total"]["lost"] == 0, report
    assert result["total"]["duplicated"] == 0, report
    assert result["total"]["transient_dead_letters"] == 0, report
