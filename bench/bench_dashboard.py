"""The page's cost: API calls per refresh, bytes to the phone per refresh, server render time.

Method: a real Mosquitto, real ``sessionbeat aggregator`` and ``sessionbeat dashboard``
processes, and the system's headless Chromium (Playwright) at 390x844. For each size (default
10, 100 and 1000 live sessions; ten per host; every fifth needs approval, the rest a mix of
working, waiting, ended) retained SessionBeats are published until the aggregator holds them,
then:

1. Live view, a fresh page: after its first render, ``--refreshes`` live refreshes are counted
   from Streamlit's own websocket messages (finished fragment runs). Reported: the API
   requests the aggregator served meanwhile (its ``sessionbeat_http_requests_total{route}``)
   per refresh, and the websocket bytes the browser received per refresh (uncompressed
   payloads) against the baseline: the size of one ``GET /overview`` response, which is what
   the Streamlit server itself fetches per refresh.
2. Detail view (``?session=`` of an approval): the same counts.
3. Server-side render, in this process: one full run of the page script with Streamlit's
   ``AppTest`` (fetch + build every card) against the baseline of one ``GET /overview`` with
   the same client; medians of ``--runs`` runs each, alternated.

Run: ``.venv/bin/python bench/bench_dashboard.py [--sizes 10,100,1000] [--refreshes 8]
[--runs 15]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from tests.aggregator.support import Publisher, beat  # noqa: E402
from tests.dashboard.browser import ARGS, CHROMIUM, PHONE, Refreshes, requests_by_route  # noqa: E402
from tests.procs import SCRIPT, Aggregator, Proc, base_env, wait_until  # noqa: E402

from sessionbeat.broker.embedded import LocalBroker, free_port  # noqa: E402
from sessionbeat.models import HostState, utc_now  # noqa: E402
from sessionbeat.readers.client import ApiClient  # noqa: E402

APP = ROOT / "src" / "sessionbeat" / "dashboard" / "app.py"
STATUSES = ["needs_approval", "working", "working", "waiting_for_input", "working"] * 2
STATUSES[9] = "ended"


def fill(publisher: Publisher, aggregator: Aggregator, start: int, total: int) -> None:
    """Publish sessions ``start``..``total - 1`` (ten per host) and wait until all are live."""
    now = utc_now()
    for i in range(start, total):
        host = f"host-{i // 10:03d}"
        if i % 10 == 0:
            publisher.status(host, HostState.ONLINE, 1, sent_at=now)
        status = STATUSES[i % 10]
        publisher.beat(
            beat(
                host,
                f"s-{i:05d}",
                status=status,
                sent_at=now,
                started_at=now - timedelta(minutes=i % 90),
                last_activity_at=now - timedelta(minutes=1 + i % 50),
                cwd=f"/home/dev/repo-{i % 17}",
                repo=f"repo-{i % 17}",
                branch="main",
                tool="Bash",
                task=f"Task number {i} of the benchmark",
                model="claude-opus-4-6",
                context_tokens=(i * 7919) % 200_000,
                context_window=200_000,
                subagents=i % 3,
                end_reason="logout" if status == "ended" else None,
            ),
            wait=i == total - 1,
        )
    wait_until(lambda: len(aggregator.get("/sessions", all="true")) >= total, 120)


def timed(fn: Callable[[], Any]) -> float:
    """Return the wall time of one call of ``fn`` in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def browser_view(browser: Any, url: str, api_url: str, refreshes: int) -> dict[str, float]:
    """Open ``url`` on a phone-sized page; return calls and bytes per refresh over a window."""
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        counter = Refreshes(page)
        page.goto(url, timeout=120_000)
        page.locator(".sb-card").first.wait_for(timeout=120_000)
        counter.wait_for(counter.runs + 1, 120_000)  # past the first render
        runs, received = counter.runs, counter.bytes
        before = requests_by_route(api_url)
        counter.wait_for(runs + refreshes, 300_000)
        after = requests_by_route(api_url)
        done = counter.runs - runs
        calls = {
            route: (after[route] - before.get(route, 0)) / done
            for route in after
            if route != "/metrics" and after[route] > before.get(route, 0)
        }
        return {"refreshes": done, "bytes": (counter.bytes - received) / done, **calls}
    finally:
        context.close()


def render_times(api_url: str, runs: int) -> tuple[float, float]:
    """Return median ms of one full page run (AppTest) and of one GET /overview."""
    from streamlit.testing.v1 import AppTest

    os.environ["SESSIONBEAT_API_URL"] = api_url
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()  # imports and first run
    page_ms, api_ms = [], []
    with ApiClient(api_url) as api:
        for _ in range(runs):
            page_ms.append(timed(at.run))
            api_ms.append(timed(api.overview))
    assert not at.exception, at.exception
    return statistics.median(page_ms), statistics.median(api_ms)


def main() -> None:
    """Measure each size and print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--refreshes", type=int, default=8)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="sb-bench-dash-") as tmp:
        root = Path(tmp)
        home = {
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "home" / ".config"),
            "XDG_CACHE_HOME": str(root / "home" / ".cache"),
        }
        os.environ.update(home)
        os.environ.pop("SESSIONBEAT_API_TOKEN", None)
        with LocalBroker(root / "broker") as broker:
            aggregator = Aggregator(broker.url, root / "agg", SESSIONBEAT_STALE_AFTER="3600")
            port = free_port()
            env = base_env(broker.url, SESSIONBEAT_API_URL=aggregator.url)
            dash = Proc([SCRIPT, "dashboard", "--port", str(port)], env, root / "dash.log")
            publisher = Publisher(broker)
            rows = []
            try:
                wait_until(lambda: "You can now view" in dash.output(), 60)
                page_url = f"http://127.0.0.1:{port}/"
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    have = 0
                    for size in sizes:
                        fill(publisher, aggregator, have, size)
                        have = size
                        overview = len(httpx.get(f"{aggregator.url}/overview").content)
                        live = browser_view(browser, page_url, aggregator.url, args.refreshes)
                        detail = browser_view(
                            browser,
                            page_url + "?session=s-00000&shost=host-000",
                            aggregator.url,
                            args.refreshes,
                        )
                        page_ms, api_ms = render_times(aggregator.url, args.runs)
                        rows.append((size, overview, live, detail, page_ms, api_ms))
                    browser.close()
            finally:
                publisher.close()
                dash.stop()
                aggregator.stop()
    print(
        "sessions | GET /overview | live: calls/refresh | live: bytes/refresh (x overview)"
        " | detail: calls/refresh | page run vs GET /overview (ms)"
    )
    for size, overview, live, detail, page_ms, api_ms in rows:
        calls = ", ".join(f"{r} {n:.2f}" for r, n in live.items() if r.startswith("/"))
        dcalls = ", ".join(f"{r} {n:.2f}" for r, n in detail.items() if r.startswith("/"))
        print(
            f"{size:>8} | {overview:>10,} B | {calls} ({live['refreshes']:.0f} refreshes)"
            f" | {live['bytes']:>9,.0f} B ({live['bytes'] / overview:.2f}x)"
            f" | {dcalls} | {page_ms:.1f} vs {api_ms:.1f} ({page_ms / api_ms:.1f}x)"
        )


if __name__ == "__main__":
    main()
