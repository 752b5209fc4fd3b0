"""Cost of the API's Host check (issue 12): ``GET /healthz`` with it and with it turned off.

Method: two copies of the real aggregator app (``create_app``, no broker needed: ``/healthz``
answers either way) served by uvicorn in this process on free loopback ports; one trusts the
default names (``Settings.trusted_hosts``: loopback, this machine, the bind address), the other
``*`` (Starlette's ``TrustedHostMiddleware`` then passes every request on without parsing the
``Host`` header). One keep-alive client per server; the requests alternate between the two, so
both see the same machine load. Reported: median and p95 milliseconds per request and the
difference of the medians; a request with a foreign ``Host`` is checked to get 400.

Run: ``.venv/bin/python bench/bench_api_guards.py [--requests 2000]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from prometheus_client import CollectorRegistry

from sessionbeat.aggregator.api import create_app
from sessionbeat.aggregator.cli import listen_socket
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.settings import load_settings


def serve(trusted: list[str] | None, tmp: Path) -> tuple[str, uvicorn.Server]:
    """Serve one app on a free loopback port; return its URL and server (None: default names)."""
    settings = load_settings(history_db=tmp / f"h{id(trusted)}.sqlite3")
    app = create_app(
        AggregatorService(settings), settings, CollectorRegistry(), trusted_hosts=trusted
    )
    sock = listen_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def main() -> None:
    """Measure and print the two request times and their difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        checked_url, checked = serve(None, Path(tmp))
        open_url, unchecked = serve(["*"], Path(tmp))
        with httpx.Client(base_url=checked_url) as a, httpx.Client(base_url=open_url) as b:
            assert a.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
            times: dict[str, list[float]] = {"checked": [], "open": []}
            for _ in range(args.requests):
                for name, client in (("checked", a), ("open", b)):
                    start = time.perf_counter()
                    client.get("/healthz").raise_for_status()
                    times[name].append((time.perf_counter() - start) * 1000)
        for server in (checked, unchecked):
            server.should_exit = True
    for name, label in (
        ("checked", "Host checked (default names)"),
        ("open", "Host check off (*)"),
    ):
        ms = times[name]
        p95 = statistics.quantiles(ms, n=20)[-1]
        print(
            f"GET /healthz, {label:<28} median {statistics.median(ms):6.3f} ms  p95 {p95:6.3f} ms"
        )
    diff = statistics.median(times["checked"]) - statistics.median(times["open"])
    print(f"difference of the medians: {diff * 1000:+.0f} us over {args.requests} requests each")


if __name__ == "__main__":
    main()
