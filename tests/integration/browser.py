"""Headless Chromium for page tests: Debian's `chromium`, driven through Debian's
`chromium-driver` by Selenium (`make system-deps` installs both).

Why Selenium and not Playwright: Playwright speaks CDP to the browser build of its own release
and wants to download it; Debian's chromedriver is built from the same source as Debian's
chromium, so driver and browser always match, and nothing is downloaded: with the driver's path
given, Selenium Manager is never run (SE_OFFLINE is set too, in case).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

os.environ.setdefault("SE_OFFLINE", "true")

PHONE = (390, 844)
"""CSS pixels of a phone viewport (iPhone 12-15)."""


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"{' or '.join(names)} not found: `make system-deps` installs Debian's chromium and"
        " chromium-driver"
    )


@contextmanager
def chromium(
    *, width: int = PHONE[0], height: int = PHONE[1], scale: float = 2.0
) -> Iterator[WebDriver]:
    """A headless Chromium at a `width` x `height` mobile viewport (`scale` device pixels per
    CSS pixel), quit on exit."""
    options = webdriver.ChromeOptions()
    options.binary_location = _binary("chromium", "chromium-browser")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container: the setuid sandbox is not available
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",  # no update checks, safe browsing lists, etc.
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    options.add_experimental_option(
        "mobileEmulation",
        {"deviceMetrics": {"width": width, "height": height, "pixelRatio": scale, "touch": True}},
    )
    service = Service(executable_path=_binary("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def full_page_png(driver: WebDriver, path: Path) -> int:
    """Save the whole page (not just the viewport) as a PNG; returns its size in bytes."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return document.documentElement.clientWidth")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    return len(data)
