"""The workbench in a real browser: Selenium driving Debian's chromium + chromedriver against uvicorn on
127.0.0.1. A cataloguer works through three records by keyboard alone, reloads, and finds the decisions held;
the API sees the same decisions, and a decision made through the API shows in the page.

``run_tests.sh`` installs chromium and chromium-driver and sets BACKSTAMP_REQUIRE_BROWSER=1, so there a
missing browser fails these tests instead of skipping them. ``BACKSTAMP_SCREENSHOTS=DIR`` also keeps the
screenshots (docs/workbench-images.png comes from here).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.review_run import HOSTILE_ID, workbench_app

CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(workbench_run, tmp_path) -> Iterator[str]:
    """The workbench over ``workbench_run``, served by uvicorn in a thread; its base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(workbench_app(workbench_run, str(tmp_path / "reviews.db")), host="127.0.0.1", port=port,
                            log_level="warning")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    served.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    """Headless chromium through chromedriver, with a profile of its own."""
    if not (shutil.which("chromium") and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("BACKSTAMP_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium or chromium-driver is not installed (run_tests.sh installs them)")
        pytest.skip("chromium or chromium-driver is not installed; ./run_tests.sh installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def press(driver, keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()


def wait_for(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def shown_record(driver) -> str:
    return wait_for(driver, "article.record.workbench").get_attribute("data-record-id")


def held(driver, field: str) -> str | None:
    """The decision the page shows as holding for ``field`` (None: none)."""
    found = driver.find_elements("css selector", f'tr.decide-row[data-field="{field}"] p.held')
    return found[0].get_attribute("data-decision") if found else None


def api(base: str, path: str, body: dict | None = None, csrf: str | None = None) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", **({"X-CSRF-Token": csrf}
                                                                                     if csrf else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def screenshot(driver, name: str, tmp_path: Path) -> Path:
    from matplotlib.image import imread

    path = tmp_path / name
    driver.save_screenshot(str(path))
    pixels = imread(path)
    assert pixels.shape[0] >= 600 and pixels.std() > 0.05  # a rendered page, not a blank one
    keep = os.environ.get("BACKSTAMP_SCREENSHOTS")
    if keep:
        shutil.copy(path, Path(keep) / name)
    return path


def test_three_records_by_keyboard_then_reload_and_the_decisions_hold(server, browser, tmp_path):
    browser.get(server + "/")
    wait_for(browser, "#progress")
    screenshot(browser, "browser-queue.png", tmp_path)
    press(browser, "\ue007")  # Enter: start
    assert shown_record(browser) == "r-title"
    assert "selected" in browser.find_element("id", "field-title").get_attribute("class")
    screenshot(browser, "workbench-images.png", tmp_path)
    press(browser, "a")  # accept the title
    wait_for(browser, 'tr.decide-row[data-field="title"] p.held[data-decision="accept"]')

    press(browser, "j")  # next record: the hostile one
    wait_for(browser, f'article[data-record-id="{HOSTILE_ID.replace(chr(34), chr(92) + chr(34))}"]')
    assert browser.find_element("tag name", "body").get_attribute("data-pwned") is None  # its OCR ran nothing
    press(browser, "c")  # correct the title, typed in place
    box = browser.switch_to.active_element
    assert box.get_attribute("class") == "correction"
    box.clear()
    box.send_keys("Royal visit to Keystone\ue007")  # Enter stores it
    wait_for(browser, 'tr.decide-row[data-field="title"] p.held[data-decision="correct"]')

    press(browser, "j")
    assert shown_record(browser) == "r-agency"
    assert "selected" in browser.find_element("id", "field-agency").get_attribute("class")
    press(browser, "u")  # the print cannot tell
    wait_for(browser, 'tr.decide-row[data-field="agency"] p.held[data-decision="unreadable"]')
    screenshot(browser, "browser-decided.png", tmp_path)

    browser.refresh()  # as if the browser had been closed and opened again
    assert held(browser, "agency") == "unreadable"
    press(browser, "k")
    wait_for(browser, f'article[data-record-id="{HOSTILE_ID.replace(chr(34), chr(92) + chr(34))}"]')
    assert held(browser, "title") == "correct"
    assert 'corrected to “Royal visit to Keystone”' in browser.find_element("id", "fields").text
    press(browser, "k")
    assert shown_record(browser) == "r-title" and held(browser, "title") == "accept"

    decisions = api(server, "/api/decisions?holding=true")["decisions"]
    assert {(d["id"], d["field"], d["decision"], d["value"]) for d in decisions} == {
        ("r-title", "title", "accept", "WILLIAM DOIG"), (HOSTILE_ID, "title", "correct", "Royal visit to Keystone"),
        ("r-agency", "agency", "unreadable", None)}
    assert api(server, "/api/queue")["total"] == 2


def test_a_decision_made_through_the_api_shows_in_the_page(server, browser):
    browser.get(server + "/record?id=r-date")
    assert held(browser, "date") is None
    token = browser.find_element("css selector", 'input[name="csrf_token"]').get_attribute("value")
    cookie = browser.get_cookie("backstamp_session")["value"]
    request = urllib.request.Request(server + "/api/decisions", data=json.dumps({"decisions": [
        {"id": "r-date", "field": "date", "decision": "correct", "value": "1913"}]}).encode(),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token, "Cookie": f"backstamp_session={cookie}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"stored": 1}
    browser.refresh()
    assert held(browser, "date") == "correct"
    assert "corrected to “1913”" in browser.find_element("id", "fields").text


def test_the_page_loads_nothing_from_elsewhere_and_runs_only_its_own_script(server, browser):
    browser.get(server + "/record?id=r-title")
    wait_for(browser, "article.record.workbench")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(server + "/") for name in resources)
    logs = browser.get_log("browser")
    assert not [entry for entry in logs if "Content Security Policy" in entry["message"]], logs
