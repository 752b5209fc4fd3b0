"""The page served by `sessionbeat dashboard` in a real headless Chromium at 390x844.

Screenshots go to a temp dir; with SESSIONBEAT_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/ (shown in the README).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionbeat.broker import free_port
from tests.conftest import short_tmpdir
from tests.dashboard.conftest import Loaded
from tests.procs import SCRIPT, Proc, base_env, wait_until

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def page_url(loaded: Loaded) -> Iterator[str]:
    """`sessionbeat dashboard` on a free port, reading the loaded aggregator."""
    port = free_port()
    env = base_env("mqtt://127.0.0.1:1", SESSIONBEAT_API_URL=loaded.aggregator.url)
    proc = Proc([SCRIPT, "dashboard", "--port", str(port)], env, short_tmpdir() / "dash.log")
    try:
        wait_until(lambda: "You can now view" in proc.output() or proc.popen.poll(), 60)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.stop()


def overview_requests(loaded: Loaded) -> dict[str, float]:
    """Requests per API route so far, from the aggregator's own metrics."""
    text = loaded.aggregator.get_text("/metrics")
    pattern = r'sessionbeat_http_requests_total\{route="([^"]+)"\} ([0-9.e+]+)'
    return {route: float(value) for route, value in re.findall(pattern, text)}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_view(loaded: Loaded, page_url: str, scheme: str) -> None:
    """At 390x844 the needs-approval session is the first card, nothing overflows sideways."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 390, "height": 844}, color_scheme=scheme, device_scale_factor=2
            )
            page.goto(page_url + f"?host={loaded.host}", timeout=60_000)
            first = page.locator(".sb-card").first
            first.wait_for(timeout=60_000)
            assert "Needs approval" in first.inner_text()
            assert "wants Bash" in first.inner_text()
            box = first.bounding_box()
            assert box is not None
            assert box["y"] < 844  # on the first screen, no scrolling needed
            page.get_by_text("Stale (1)").wait_for(timeout=30_000)
            widths = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1]
            background = page.evaluate(
                "getComputedStyle(document.querySelector('.stApp')).backgroundColor"
            )
            dark = sum(int(c) for c in re.findall(r"\d+", background)[:3]) < 200
            assert dark == (scheme == "dark")  # the theme follows the system
            target = DOCS if os.environ.get("SESSIONBEAT_UPDATE_SCREENSHOTS") else short_tmpdir()
            target.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target / f"dashboard-{scheme}.png"), full_page=True)
        finally:
            browser.close()


def test_an_open_page_asks_only_for_the_overview(loaded: Loaded, page_url: str) -> None:
    """While the page refreshes itself, the aggregator sees only GET /overview calls."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(page_url, timeout=60_000)
            page.locator(".sb-card").first.wait_for(timeout=60_000)
            before = overview_requests(loaded)
            time.sleep(7)  # about three refreshes
            after = overview_requests(loaded)
        finally:
            browser.close()
    grown = {route for route in after if after[route] > before.get(route, 0)}
    assert grown - {"/metrics"} == {"/overview"}
    assert after["/overview"] - before.get("/overview", 0) >= 2
