"""The monitoring files against real processes: every metric the Grafana dashboard and the alert
rules name (infra/monitoring) is exported by a running worker or `freshindex serve`, under the
job that selects it; then a real Prometheus (Debian's) scrapes both with prometheus.yml's jobs
and alerts.yml's rules: every rule evaluates without error, every dashboard query runs, and a
dead letter published while it watches fires FreshindexDeadLetters."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from infra.stack import free_port
from schemas.settings import Settings
from tests import monitoring
from tests.integration.conftest import StartWorker
from tests.integration.harness import WorkerProcess, product
from tests.integration.test_serve import Served, publish
from tests.integration.test_status_page import send_broken_message
from workers.ops import wait_until_caught_up

pytestmark = pytest.mark.integration


def exported(url: str) -> set[str]:
    """Names of the samples a /metrics endpoint serves now."""
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    return {s.name for family in text_string_to_metric_families(body) for s in family.samples}


class Prometheus:
    """A real Prometheus scraping `targets` (job -> host:port) every second, with alerts.yml."""

    def __init__(self, folder: Path, targets: dict[str, str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not found: `make system-deps` installs Debian's prometheus")
        scrape = yaml.safe_load(monitoring.SCRAPE_CONFIG.read_text())
        scrape["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        scrape["rule_files"] = [str(monitoring.RULES)]
        for job in scrape["scrape_configs"]:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        config = folder / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape))
        self.port = free_port()
        self.log = folder / "prometheus.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return found

    def wait(self, what: str, check: Any, timeout_s: float = 60) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                found = check()
            except OSError:
                found = None
            if found:
                return found
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s}s"
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def traffic(
    env: dict[str, str], settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> Iterator[tuple[WorkerProcess, Served]]:
    """A worker that indexed a feed and dead-lettered a broken message; an API that answered a
    search, a bad request and a status read."""
    publish(settings, [product(f"MO{i}") for i in range(4)], tmp_path / "a.jsonl")
    send_broken_message(settings)
    worker = start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    served = Served(env, tmp_path / "serve.log")
    served.start()
    try:
        assert served.search(query="garden compost", k=3)[0] == 200
        assert served.search(query="garden compost", k=0)[0] == 422
        assert served.call("GET", "/v1/status")[0] == 200
        yield worker, served
    finally:
        served.stop()


def test_every_metric_of_the_dashboard_and_rules_is_exported(
    env: dict[str, str], traffic: tuple[WorkerProcess, Served]
) -> None:
    _, served = traffic
    endpoints = {
        monitoring.WORKER_JOB: f"http://127.0.0.1:{env['FRESHINDEX_METRICS_PORT']}/metrics",
        monitoring.API_JOB: served.base + "/metrics",
    }
    wanted = monitoring.wanted()
    assert set(wanted) == set(endpoints)
    deadline = time.monotonic() + 30  # the worker exports lag on a 5 s timer after it starts
    while True:
        missing = {job: sorted(names - exported(endpoints[job])) for job, names in wanted.items()}
        if not any(missing.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not any(missing.values()), f"named in infra/monitoring, not exported: {missing}"


def test_prometheus_loads_the_rules_runs_the_queries_and_fires_on_a_dead_letter(
    env: dict[str, str],
    settings: Settings,
    traffic: tuple[WorkerProcess, Served],
    tmp_path: Path,
) -> None:
    worker, served = traffic
    targets = {
        monitoring.WORKER_JOB: f"127.0.0.1:{env['FRESHINDEX_METRICS_PORT']}",
        monitoring.API_JOB: f"127.0.0.1:{served.port}",
    }
    prometheus = Prometheus(tmp_path, targets)
    try:
        prometheus.wait(
            "both jobs scraped",
            lambda: len([r for r in prometheus.query("up == 1")]) == 2,
        )
        for job, names in monitoring.wanted().items():
            for name in names:
                assert prometheus.query(f'{name}{{job="{job}"}}'), f"{name} of {job} not scraped"
        for where, expr in monitoring.dashboard_expressions().items():
            try:
                prometheus.query(monitoring.as_promql(expr))
            except urllib.error.HTTPError as e:
                pytest.fail(f"{where}: Prometheus refuses {expr}: {e.read()!r}")
        rules = prometheus.wait("rules evaluated", lambda: evaluated(prometheus))
        assert {r["name"] for r in rules} == set(monitoring.rules())
        assert all(r["health"] == "ok" for r in rules), [r for r in rules if r["health"] != "ok"]

        before = worker.metric("freshindex_consumed_total")
        send_broken_message(settings)
        firing = prometheus.wait(
            "FreshindexDeadLetters firing",
            lambda: [
                a
                for a in prometheus.get("/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] == "FreshindexDeadLetters" and a["state"] == "firing"
            ],
        )
        assert firing[0]["labels"]["stage"] == "decode"
        assert worker.metric("freshindex_consumed_total") > before
    finally:
        prometheus.stop()


def evaluated(prometheus: Prometheus) -> list[dict[str, Any]]:
    """The loaded rules once each was evaluated at least once (else empty)."""
    rules = [r for g in prometheus.get("/api/v1/rules")["groups"] for r in g["rules"]]
    if not rules or any(r["lastEvaluation"].startswith("0001") for r in rules):
        return []
    return rules
