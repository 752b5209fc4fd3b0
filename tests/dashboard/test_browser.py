"""The page served by `sessionbeat dashboard` in a real headless Chromium at 390x844.

Chromium is the Debian package (never downloaded), driven by Playwright. A cold Streamlit
server renders nothing at first, so every test waits for the app's own elements; and while a
run renders, the previous run's elements are still on the page, so what is read off the page
is checked with Playwright's retrying ``expect`` (tests/dashboard/browser.py).
Screenshots go to a temp dir; with SESSIONBEAT_UPDATE_SCREENSHOTS=1 they replace the ones in
docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.broker.embedded import free_port
from tests.conftest import short_tmpdir
from tests.dashboard.browser import (
    ARGS,
    CHROMIUM,
    PHONE,
    WAIT_MS,
    Refreshes,
    expect,
    requests_by_route,
)
from tests.dashboard.conftest import Loaded, home_env
from tests.procs import SCRIPT, Proc, base_env, wait_until
from tests.tools import missing, require_module

pytestmark = pytest.mark.slow

DOCS = Path(__file__).parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module", autouse=True)
def sync_api() -> Any:
    """Playwright and the system's Chromium: skip without them (fail on CI, tests/tools.py).

    Module-scoped and autouse, so the check comes before the aggregator and the page start.
    """
    api = require_module("playwright.sync_api", "playwright")
    if shutil.which(CHROMIUM) is None:
        missing("chromium")
    return api


@pytest.fixture(scope="module")
def page_url(loaded: Loaded) -> Iterator[str]:
    """`sessionbeat dashboard` on a free port; the API URL comes from its TOML config file."""
    root = short_tmpdir()
    env = base_env("mqtt://127.0.0.1:1", **home_env(root))
    env.pop("SESSIONBEAT_API_URL", None)
    (root / "config.toml").write_text(f'api_url = "{loaded.aggregator.url}"\n')
    port = free_port()
    proc = Proc([SCRIPT, "dashboard", "--port", str(port)], env, root / "dash.log")
    try:
        wait_until(lambda: "You can now view" in proc.output() or proc.popen.poll(), 60)
        assert proc.popen.poll() is None, proc.output()
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser(sync_api: Any) -> Iterator[Any]:
    """The system's Chromium, headless, driven by Playwright."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh 390x844 page (a phone), light theme."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, color_scheme="light")
    try:
        yield context.new_page()
    finally:
        context.close()


def no_sideways_scroll(page: Any) -> bool:
    """True if nothing on the page is wider than the viewport."""
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return bool(width <= inner)


def screenshot(page: Any, name: str) -> None:
    """Save a full-page screenshot (to docs/screenshots/ when asked to update them)."""
    target = DOCS if os.environ.get("SESSIONBEAT_UPDATE_SCREENSHOTS") else short_tmpdir()
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name), full_page=True)


def open_filters(page: Any) -> None:
    """Open the Filters expander and wait until it has finished opening.

    A widget touched while the expander still animates can miss the touch.
    """
    page.get_by_text("Filters", exact=True).click()
    page.wait_for_function(
        "() => { const x = document.querySelector('[data-testid=stExpander] details');"
        " return x && x.open && x.getAnimations({subtree: true}).length === 0 }",
        timeout=WAIT_MS,
    )


def pick(page: Any, label: str, option: str) -> None:
    """Choose ``option`` in the select box ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_view(loaded: Loaded, page_url: str, browser: Any, scheme: str) -> None:
    """At 390x844 the needs-approval session is the first card, nothing overflows sideways."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(page_url + f"?host={loaded.host}", timeout=WAIT_MS)
        page.get_by_text("Stale (1)").wait_for(timeout=WAIT_MS)  # rendered down to the list
        first = page.locator(".sb-card").first
        for text in ("Needs approval", "wants Bash", loaded.host):
            expect(first).to_contain_text(text, timeout=WAIT_MS)
        box = first.bounding_box()
        assert box is not None
        assert box["y"] + box["height"] < PHONE["height"]  # whole card on the first screen
        assert no_sideways_scroll(page)
        background = page.evaluate(
            "getComputedStyle(document.querySelector('.stApp')).backgroundColor"
        )
        dark = sum(int(c) for c in re.findall(r"\d+", background)[:3]) < 200
        assert dark == (scheme == "dark")  # the theme follows the system
        screenshot(page, f"dashboard-{scheme}.png")
    finally:
        context.close()


def calls_per_refresh(
    loaded: Loaded, refreshes: Refreshes, runs: int
) -> tuple[dict[str, float], int]:
    """Return the API calls by route during the next ``runs`` refreshes, and the runs counted.

    One call may be in flight at either end of the window.
    """
    start = refreshes.runs
    before = requests_by_route(loaded.aggregator.url)
    refreshes.wait_for(start + runs)
    after = requests_by_route(loaded.aggregator.url)
    grown = {route: after[route] - before.get(route, 0) for route in after}
    return {r: n for r, n in grown.items() if n and r != "/metrics"}, refreshes.runs - start


def test_one_overview_call_per_refresh(loaded: Loaded, page_url: str, phone: Any) -> None:
    """While the list refreshes itself, the aggregator gets one GET /overview per refresh.

    And one GET /notify, for the push-notification line (and nothing else).
    """
    refreshes = Refreshes(phone)
    phone.goto(page_url, timeout=WAIT_MS)
    phone.locator(".sb-card").first.wait_for(timeout=WAIT_MS)
    calls, runs = calls_per_refresh(loaded, refreshes, 5)
    assert set(calls) == {"/overview", "/notify"}
    for route in calls:
        assert runs - 1 <= calls[route] <= runs + 1, route


def test_an_open_detail_adds_no_call_while_the_session_is_unchanged(
    loaded: Loaded, page_url: str, phone: Any
) -> None:
    """The detail reuses the overview; its timeline is fetched once, not on every refresh."""
    refreshes = Refreshes(phone)
    phone.goto(page_url + f"?session=approve-1&shost={loaded.host}", timeout=WAIT_MS)
    phone.get_by_text("Timeline").wait_for(timeout=WAIT_MS)
    phone.get_by_text("claude --resume approve-1").wait_for(timeout=WAIT_MS)
    phone.get_by_text("All fields").click()
    phone.get_by_text("transcript_path").wait_for(timeout=WAIT_MS)
    assert no_sideways_scroll(phone)  # long paths and ids wrap
    calls, runs = calls_per_refresh(loaded, refreshes, 4)
    assert set(calls) == {"/overview"}
    assert runs - 1 <= calls["/overview"] <= runs + 1
    screenshot(phone, "detail-light.png")


def test_export_downloads_the_session_as_json(loaded: Loaded, page_url: str, phone: Any) -> None:
    """The detail's Export JSON button downloads the session document from the API."""
    phone.goto(page_url + f"?session=approve-1&shost={loaded.host}", timeout=WAIT_MS)
    button = phone.get_by_role("button", name="Export JSON")
    button.wait_for(timeout=WAIT_MS)
    with phone.expect_download(timeout=WAIT_MS) as download:
        button.click()
    document = json.loads(Path(download.value.path()).read_text())
    assert (document["session_id"], document["host"]) == ("approve-1", loaded.host)
    assert document["timeline"][0]["status"] == "needs_approval"


def test_a_filter_applies_at_once_without_reloading(
    loaded: Loaded, page_url: str, phone: Any
) -> None:
    """Picking another host hides the approval at the top and lands in the URL, no reload."""
    phone.goto(page_url, timeout=WAIT_MS)
    phone.locator(".sb-card", has_text="wants Bash").first.wait_for(timeout=WAIT_MS)
    phone.evaluate("window.sbMarker = 1")
    open_filters(phone)
    pick(phone, "Host", loaded.down)
    phone.wait_for_function(f"location.search.includes('host={loaded.down}')", timeout=WAIT_MS)
    phone.get_by_text("Nothing waits for approval").wait_for(timeout=WAIT_MS)
    # The previous run's cards stay on the page until the new run has finished: retry.
    expect(phone.locator(".sb-card", has_text="wants Bash")).to_have_count(0, timeout=WAIT_MS)
    assert phone.evaluate("window.sbMarker") == 1  # the same page: not reloaded


def test_history_on_a_phone(loaded: Loaded, page_url: str, phone: Any) -> None:
    """The history lists the reaped session with a link to its detail, no sideways scroll."""
    phone.goto(page_url + f"?view=history&host={loaded.host}", timeout=WAIT_MS)
    card = phone.locator(".sb-card", has_text="Ship the release")
    card.wait_for(timeout=WAIT_MS)
    assert no_sideways_scroll(phone)
    screenshot(phone, "history-light.png")
    card.get_by_role("link", name="details").click()
    phone.get_by_text("claude --resume done-1").wait_for(timeout=WAIT_MS)
