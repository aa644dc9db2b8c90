"""The dashboard in a real browser: ``genai-sim dashboard`` on a free loopback port, driven by
headless Chromium (Debian's ``chromium``, through Playwright with the system executable).

The test changes a lever to a bad value (the schema's message must show, no traceback), then to a
good one, steps the model and checks that the month shown and every chart changed, plays and
pauses, and that the browser console logged no error. Every wait polls for a condition with a
generous bound; the server is always killed. ``GENAI_SIM_SCREENSHOT=PATH`` also saves a
screenshot (the README's figure). Skipped only when no Chromium executable exists (``.ci/run``
installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 120
WAIT_MS = 60_000


def chromium() -> str | None:
    """The Chromium executable: $GENAI_SIM_CHROMIUM, /usr/bin/chromium or one on PATH."""
    for candidate in (os.environ.get("GENAI_SIM_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``genai-sim dashboard`` on a free loopback port; its URL. Killed afterwards."""
    port = free_port()
    # A long horizon (480 months), so that playing cannot reach the end while the test, on a
    # loaded machine, looks for the Pause button.
    scenario = tmp_path / "long.yaml"
    scenario.write_text(
        f"extends: {ROOT / 'scenarios' / 'baseline.yaml'}\nname: long\nend: 2060-12\n",
        encoding="utf-8",
    )
    log = (tmp_path / "server.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "dashboard", str(scenario), "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, killed as one
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dashboard server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on {url}: {(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        log.close()


def chart_images(page: Page) -> list[str]:
    """The charts' image data (PNG data URLs), in page order."""
    return [img.get_attribute("src") or "" for img in page.locator("img").all()]


def test_dashboard_in_headless_chromium(server: str, tmp_path: Path) -> None:
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium executable (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh --user-data-dir
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(server)

            month = page.locator(".month-shown")
            expect(month).to_contain_text("not started")
            expect(page.locator("img")).to_have_count(5)  # the five charts
            before = chart_images(page)

            lever = page.get_by_label(re.compile(r"^Export control scale"))
            apply = page.get_by_role("button", name="Apply levers and reset")
            lever.fill("9")
            lever.press("Enter")
            apply.click()
            alert = page.locator(".lever-error")
            expect(alert).to_contain_text("policy.export_control_scale")
            expect(alert).to_contain_text("less than or equal to 5")
            assert "Traceback (most recent call last)" not in page.locator("body").inner_text()

            lever.fill("2.5")
            lever.press("Enter")
            apply.click()
            expect(alert).to_have_count(0)
            expect(page.get_by_text(re.compile("dashed: the scenario file"))).to_be_visible()
            page.get_by_role("button", name="Step 12").click()
            expect(month).to_contain_text("Month: 2021-12")
            for _ in range(3):
                page.get_by_role("button", name="Step", exact=True).click()
            expect(month).to_contain_text("Month: 2022-03 (15 of 480 simulated)")

            deadline = time.monotonic() + WAIT_MS / 1000
            while True:  # every chart redrawn (the images follow the month in one render)
                after = chart_images(page)
                changed = [a != b for a, b in zip(before, after, strict=True)]
                if all(changed) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert len(after) == 5 and all(changed), changed
            expect(page.locator(".event-feed")).to_contain_text("entry")

            page.get_by_role("button", name="Play").click()  # plays on by itself ...
            expect(page.get_by_role("button", name="Pause")).to_be_visible()
            expect(month).not_to_contain_text("(15 of 480")
            page.get_by_role("button", name="Pause").click()  # ... until paused
            expect(page.get_by_role("button", name="Step", exact=True)).to_be_enabled()
            paused_at = month.inner_text()
            time.sleep(1.0)
            assert month.inner_text() == paused_at
            assert "Traceback (most recent call last)" not in page.locator("body").inner_text()
            if shot := os.environ.get("GENAI_SIM_SCREENSHOT"):
                page.screenshot(path=shot)
        finally:
            browser.close()
    assert errors == [], errors
