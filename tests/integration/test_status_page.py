"""The status page of `freshindex serve`, end to end in headless Chromium at a phone viewport:
a feed and a broken message published through the real broker, indexed by a real worker, then
/status read as a person reads it: rows in the index, lag 0, the dead letter's stage and reason,
every service healthy, nothing wider than the phone. The screenshot lands in the test's tmp
folder; with FRESHINDEX_STATUS_SCREENSHOT=PATH (`make status-screenshot`) it is also written
there (docs/status.png in the README)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from schemas.settings import Settings
from tests.integration.browser import PHONE, chromium, full_page_png
from tests.integration.conftest import StartWorker
from tests.integration.harness import expected_state, product
from tests.integration.test_serve import Served, publish
from workers.ops import wait_until_caught_up

pytestmark = pytest.mark.integration

BROKEN_KEY = "BROKEN-1"
DOCS_MAX_BYTES = 150_000


def send_broken_message(settings: Settings) -> None:
    """A message that is not JSON: the worker dead-letters it (stage decode) and goes on."""
    raw = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    raw.send(settings.chunks_topic, key=BROKEN_KEY.encode(), value=b"{this is not json")
    raw.flush()
    raw.close()


def settled(served: Served, timeout_s: float = 60) -> dict[str, Any]:
    """/v1/status once it has read the dead letter (the board reads the topic incrementally)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = served.call("GET", "/v1/status")
        assert status == 200, body
        dead = body["dead_letters"]
        if dead and dead["total"] == 1 and dead["caught_up"] and body["lag"]["total"] == 0:
            return body
        assert time.monotonic() < deadline, f"status never settled: {body}"
        time.sleep(1)


def text(driver: Any, element_id: str) -> str:
    found: str = driver.find_element(By.ID, element_id).text
    return found


def test_status_page_shows_index_lag_dead_letters_and_health_on_a_phone(
    env: dict[str, str],
    settings: Settings,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    feed = publish(
        settings, [product(f"ST{i}", sentences=4) for i in range(8)], tmp_path / "a.jsonl"
    )
    send_broken_message(settings)
    start_worker()
    wait_until_caught_up(settings, timeout_s=300)
    rows = len(expected_state(settings, [feed]))
    served = Served(env, tmp_path / "serve.log")
    served.start()
    try:
        data = settled(served)
        assert data["index"]["rows"] == rows and data["freshness"]["chunks"] == rows

        started = time.monotonic()
        with chromium() as driver:
            driver.get(served.base + "/status")
            WebDriverWait(driver, 30).until(
                lambda d: (
                    d.execute_script("return document.body.dataset.loaded") == "1"
                    and d.find_element(By.ID, "dlq-total").get_attribute("data-value") == "1"
                    and d.find_element(By.ID, "tput-committed").text != "–"
                )
            )
            assert text(driver, "index-rows") == f"{rows:,}"
            assert text(driver, "lag-total") == "0"
            assert text(driver, "workers-state") == "caught up"
            assert text(driver, "tput-committed") == "0"  # caught up before anyone looked
            assert [text(driver, f"health-{s}") for s in ("broker", "triton", "index")] == [
                "ok"
            ] * 3
            reasons = driver.find_elements(By.CSS_SELECTOR, "#dlq-reasons tbody tr")
            assert [r.text.split() for r in reasons] == [["decode", "MessageRejected", "1"]]
            latest = driver.find_element(By.ID, "dlq-latest").text
            assert f"decode · MessageRejected · {BROKEN_KEY}" in latest
            assert "value is not UTF-8 JSON" in latest
            partitions = driver.find_elements(By.CSS_SELECTOR, "#lag-table tbody tr")
            assert len(partitions) == settings.topic_partitions
            assert text(driver, "fresh-chunks") == f"{rows:,}"
            assert text(driver, "fresh-p50").endswith(" s") and text(driver, "fresh-p99") != "–"
            assert (
                text(driver, "model-name")
                == f"{settings.triton_model} ({settings.embedding_dim}-d)"
            )
            assert text(driver, "model-version") == "1"
            assert text(driver, "index-name") == f"{settings.index_backend} · {settings.index_name}"
            assert not driver.find_element(By.ID, "banner").is_displayed()
            width = driver.execute_script("return document.documentElement.scrollWidth")
            assert width <= PHONE[0], f"the page is {width}px wide on a {PHONE[0]}px phone"
            size = full_page_png(driver, tmp_path / "status.png")
        print(f"status page checked in Chromium in {time.monotonic() - started:.1f}s, {size} B")
        assert size > 10_000
        save_for_docs(tmp_path / "status.png")
    finally:
        served.stop()


def save_for_docs(shot: Path) -> None:
    """With FRESHINDEX_STATUS_SCREENSHOT set, the screenshot as a small palette PNG there."""
    target = os.environ.get("FRESHINDEX_STATUS_SCREENSHOT")
    if not target:
        return
    image = Image.open(shot).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    assert out.tell() <= DOCS_MAX_BYTES, f"screenshot of {out.tell()} B: over {DOCS_MAX_BYTES}"
    Path(target).write_bytes(out.getvalue())
