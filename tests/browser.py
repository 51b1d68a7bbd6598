"""Headless Debian Chromium driven by Selenium (browsers cannot be downloaded here)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def start_chromium(download_dir: str | None = None) -> webdriver.Chrome:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        raise RuntimeError(
            f"{missing} not installed: `make test` installs Debian's chromium and chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    if download_dir:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": download_dir}
        )
    return driver


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Polls predicate() until truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - the page may be mid-update
            last_error = error
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}; last error: {last_error!r}")


def open_dashboard(driver, base_url: str, state: dict | None = None) -> None:
    """Opens TensorBoard on the FeatViz tab (with the dashboard's URL `state`, e.g.
    {"run": "baseline"}, as a shared link would) and switches into the plugin's iframe."""
    from urllib.parse import quote

    driver.get("about:blank")  # same URL + fragment would not reload the page
    extra = "".join(f"&p.featviz.{key}={quote(str(value), safe='')}" for key, value in (state or {}).items())
    driver.get(base_url + "/#featviz" + extra)
    frame = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "iframe"), what="plugin iframe")
    driver.switch_to.frame(frame)


def screenshot(driver, name: str) -> Path:
    """Saves the whole window (TensorBoard and the plugin) under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.switch_to.default_content()
    driver.save_screenshot(str(path))
    return path


def images_loaded(driver, css: str) -> int:
    """How many <img> matching css have finished loading with real pixels."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".filter(i => i.complete && i.naturalWidth > 0).length",
        css,
    )
