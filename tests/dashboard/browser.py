"""Headless Chromium helpers shared by the page tests and bench/bench_dashboard.py.

Chromium is the Debian package (``/usr/bin/chromium``), never a downloaded browser.
:class:`Refreshes` counts the page's live refreshes from Streamlit's own websocket messages
(``ForwardMsg`` protobufs; a finished fragment run is ``script_finished =
FINISHED_FRAGMENT_RUN_SUCCESSFULLY``), so "calls per refresh" is a count, not a guess from
elapsed time.
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import httpx
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

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
PHONE = {"width": 390, "height": 844}
"""An iPhone 12-14 class viewport in CSS pixels."""
WAIT_MS = 60_000
"""Hang guard for waits on the page (ms); a cold Streamlit server takes a few seconds."""

_ROUTE = re.compile(r'sessionbeat_http_requests_total\{route="([^"]+)"\} ([0-9.e+]+)')


def expect(target: Any) -> Any:
    """Return Playwright's web-first assertions on a locator or page (``expect(x).to_...``).

    They retry until they hold (or their ``timeout``), unlike a ``count()`` or ``inner_text()``
    read once: after a wait, Streamlit may still show the previous run's elements. Imported
    here, when called, so that a machine without Playwright can still collect the tests.
    """
    from playwright.sync_api import expect as web_first

    return web_first(target)


def requests_by_route(api_url: str) -> dict[str, float]:
    """Return the requests the aggregator at ``api_url`` has served, by route template."""
    text = httpx.get(f"{api_url}/metrics", timeout=10).raise_for_status().text
    return {route: float(value) for route, value in _ROUTE.findall(text)}


class Refreshes:
    """Counts a page's finished fragment runs (its live refreshes) and the bytes it receives.

    Attach before ``page.goto``. Playwright delivers the websocket events while the test is
    inside a Playwright call, so wait with :meth:`wait_for`, which keeps the page busy.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.runs = 0
        self.bytes = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: bytes | str) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.bytes += len(data)
        try:
            message = ForwardMsg.FromString(data)
        except Exception:  # not a ForwardMsg: count its bytes only
            return
        if (
            message.WhichOneof("type") == "script_finished"
            and message.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
        ):
            self.runs += 1

    def wait_for(self, runs: int, timeout_ms: float = 60_000) -> None:
        """Wait until at least ``runs`` refreshes have finished (hang guard: ``timeout_ms``)."""
        waited = 0.0
        while self.runs < runs:
            if waited > timeout_ms:
                raise AssertionError(f"only {self.runs} of {runs} refreshes in {timeout_ms} ms")
            self.page.wait_for_timeout(50)
            waited += 50
