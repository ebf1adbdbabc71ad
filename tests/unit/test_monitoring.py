"""The monitoring files of infra/monitoring: the alert rules and the scrape configuration load
in Debian's promtool, the rules fire as alerts.test.yml says (promtool test rules), every
dashboard query is valid PromQL, every metric is selected with the job that exports it and is
defined by the code. tests/integration/test_monitoring.py scrapes real processes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

import workers.metrics
import workers.retrieval.metrics
from schemas.settings import Settings
from tests import monitoring
from tests.monitoring import API_JOB, PROMETHEUS_OWN, WORKER_JOB, promtool

assert workers.metrics and workers.retrieval.metrics  # registered in REGISTRY on import

REQUIRED_ALERTS = {
    "FreshindexLagGrowing",
    "FreshindexFreshnessP99OverSLO",
    "FreshindexDeadLetters",
    "FreshindexWorkerDown",
    "FreshindexTritonErrors",
    "FreshindexIndexErrors",
}


def test_alert_rules_load_in_promtool() -> None:
    checked = promtool("check", "rules", monitoring.RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(monitoring.rules())} rules found" in checked.stdout


def test_scrape_config_and_its_rule_file_load_in_promtool() -> None:
    checked = promtool("check", "config", monitoring.SCRAPE_CONFIG.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(monitoring.SCRAPE_CONFIG.read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == {WORKER_JOB, API_JOB}
    assert config["rule_files"] == [monitoring.RULES.name]


def test_alert_rules_fire_as_their_unit_tests_say() -> None:
    tested = promtool("test", "rules", monitoring.RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load(monitoring.RULE_TESTS.read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert fired == set(monitoring.rules()), "every rule has a case where it fires"


def test_the_rules_cover_lag_freshness_dead_letters_workers_triton_and_index() -> None:
    assert set(monitoring.rules()) >= REQUIRED_ALERTS


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = monitoring.dashboard_expressions()
    assert len(queries) >= 20
    recording = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": monitoring.as_promql(expr)}
                    for i, expr in enumerate(queries.values())
                ],
            }
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(recording))
    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_is_selected_with_the_job_that_exports_it() -> None:
    for where, expr in monitoring.expressions().items():
        assert not monitoring.bare_metric_names(expr), f"{where}: write name{{job=...}}: {expr}"
        found = monitoring.selectors(expr)
        assert found, f"{where}: no metric selector in {expr}"
        for name, job in found:
            assert job in (WORKER_JOB, API_JOB), f"{where}: {name} has no job matcher"
            assert name.startswith("freshindex_") or name in PROMETHEUS_OWN, (where, name)


def sample_names(families: list[Metric]) -> set[str]:
    """Every sample name a family can export (labelled families export none until used)."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
        "summary": ("_sum", "_count", ""),
    }
    return {f.name + s for f in families for s in suffixes.get(f.type, ("",))}


def test_every_metric_named_is_defined_by_the_code() -> None:
    defined = sample_names(list(REGISTRY.collect()))
    for job, names in monitoring.wanted().items():
        assert names <= defined, f"{job}: not defined anywhere: {sorted(names - defined)}"
    assert "freshindex_search_stage_seconds_bucket" in monitoring.wanted()[API_JOB]
    assert "freshindex_consumer_lag" in monitoring.wanted()[WORKER_JOB]


def test_freshness_rule_threshold_is_the_slo_setting() -> None:
    expr = monitoring.rules()["FreshindexFreshnessP99OverSLO"]
    threshold = re.search(r">\s*([0-9.]+)\s*$", expr)
    assert threshold, expr
    default = Settings.model_fields["freshness_slo_s"].default
    assert float(threshold.group(1)) == default, (
        "infra/monitoring/alerts.yml's freshness threshold must equal FRESHINDEX_FRESHNESS_SLO_S's"
        " default (and its annotations say it)"
    )
    assert f"({default:g} s)" in monitoring.RULES.read_text()


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    board = monitoring.dashboard()
    assert board["uid"] == "freshindex" and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    all_panels = monitoring.panels(board)
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in all_panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"] and panel.get("description"), panel["title"]
