"""The monitoring files (infra/monitoring) as data, for the unit and integration tests: every
PromQL expression of the alert rules and the Grafana dashboard, the metric selectors in them,
and promtool.

Every metric in these expressions is written as a selector with a `job` matcher
(`name{job="freshindex-worker", ...}`), so each names the process that must export it; a unit
test holds the files to that, so no metric can hide from the exported-names test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[1] / "infra" / "monitoring"
RULES = MONITORING / "alerts.yml"
RULE_TESTS = MONITORING / "alerts.test.yml"
SCRAPE_CONFIG = MONITORING / "prometheus.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"

WORKER_JOB = "freshindex-worker"
API_JOB = "freshindex-api"
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus makes itself for every target (not exported by the target)."""
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}

_SELECTOR = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_JOB = re.compile(r'\bjob\s*=\s*"([^"]+)"')
_BARE = re.compile(r"\b(freshindex_[A-Za-z0-9_:]*)\b(?!\s*\{)")


def rules() -> dict[str, str]:
    """alert name -> expression."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return found


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def dashboard_expressions() -> dict[str, str]:
    """'panel title [refId]' -> expression, Grafana's variables left in."""
    return {
        f"{panel['title']} [{target['refId']}]": target["expr"]
        for panel in panels(dashboard())
        for target in panel.get("targets", [])
    }


def expressions() -> dict[str, str]:
    """Every expression: 'alerts.yml: NAME' and 'dashboard: PANEL [REF]' -> expression."""
    return {
        **{f"alerts.yml: {name}": expr for name, expr in rules().items()},
        **{f"dashboard: {where}": expr for where, expr in dashboard_expressions().items()},
    }


def as_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced by plain durations."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def selectors(expr: str) -> list[tuple[str, str | None]]:
    """(metric name, job it is selected from, or None) of each selector in `expr`."""
    out = []
    for name, matchers in _SELECTOR.findall(expr):
        job = _JOB.search(matchers)
        out.append((name, job.group(1) if job else None))
    return out


def bare_metric_names(expr: str) -> list[str]:
    """freshindex_* names written without a selector (which `selectors` would not see)."""
    return _BARE.findall(expr)


def wanted() -> dict[str, set[str]]:
    """job -> the metric names its processes must export, from every expression."""
    out: dict[str, set[str]] = {}
    for expr in expressions().values():
        for name, job in selectors(expr):
            if name not in PROMETHEUS_OWN and job is not None:
                out.setdefault(job, set()).add(name)
    return out


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    """Debian's promtool (package prometheus, installed by `make system-deps`)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: `make system-deps` installs Debian's prometheus package")
    return subprocess.run(
        [path, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
