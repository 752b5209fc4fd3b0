"""A real Prometheus scrapes a real aggregator in both formats: OpenMetrics and classic text.

Prometheus 2.x always asks for OpenMetrics first, so the classic job goes through a small
forward proxy (``proxy_url``) that replaces the scraper's Accept header with the classic
text format's and asks for no compression. Both jobs must give Prometheus the same series
names; the gauge histogram's type differs as docs/metrics.md ("Formats") says.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import Publisher, beat, unique_host
from tests.conftest import short_tmpdir
from tests.deploy.promserver import PrometheusServer
from tests.procs import Aggregator, wait_until
from tests.tools import require_tool

pytestmark = pytest.mark.slow

TOKEN = "formats-token-41c2"
CLASSIC = "text/plain;version=0.0.4"


class ClassicProxy(BaseHTTPRequestHandler):
    """A forward proxy for GET that asks the target for the classic text format, uncompressed."""

    def do_GET(self) -> None:
        headers = {"Accept": CLASSIC, "Accept-Encoding": "identity"}
        if "Authorization" in self.headers:
            headers["Authorization"] = self.headers["Authorization"]
        upstream = httpx.get(self.path, headers=headers, timeout=10)  # absolute URL via proxy
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", upstream.headers["content-type"])
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def prometheus(broker: LocalBroker) -> Iterator[tuple[PrometheusServer, str]]:
    """Prometheus scraping one aggregator twice: job "openmetrics" directly, "classic" by proxy."""
    require_tool("prometheus")
    host = unique_host("fmt")
    publisher = Publisher(broker)
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), ClassicProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    aggregator = prom = None
    try:
        aggregator = Aggregator(
            broker.url,
            short_tmpdir() / "agg",
            SESSIONBEAT_API_TOKEN=TOKEN,
            SESSIONBEAT_METRICS_MAX_REPOS_PER_HOST="1",
        )
        publisher.status(host, "online", 1)
        for n, repo in enumerate(["big", "big", "small-1", "small-2"]):
            publisher.beat(
                beat(host, f"s{n}", repo=repo, context_tokens=60_000, context_window=200_000)
            )
        target = f"127.0.0.1:{aggregator.port}"
        jobs = [
            {
                "job_name": name,
                "authorization": {"type": "Bearer", "credentials_file": "TOKEN_FILE"},
                "static_configs": [{"targets": [target]}],
                **extra,
            }
            for name, extra in (
                ("openmetrics", {}),
                ("classic", {"proxy_url": f"http://127.0.0.1:{proxy.server_port}"}),
            )
        ]
        prom = PrometheusServer(short_tmpdir("sb-promfmt-"), target, TOKEN, extra_jobs=jobs)
        for job in ("openmetrics", "classic"):
            wait_until(
                lambda j=job: prom.result(
                    f'sessionbeat_sessions{{job="{j}", host="{host}", repo="other"}}'
                ),
                30,
                0.25,
            )
        yield prom, host
    finally:
        if prom is not None:
            prom.stop()
        if aggregator is not None:
            aggregator.stop()
        proxy.shutdown()
        proxy.server_close()
        publisher.close()


def metric_type(prom: PrometheusServer, job: str, metric: str) -> str:
    """The type Prometheus recorded for ``metric`` from ``job``'s scrapes (targets metadata)."""
    body = httpx.get(
        f"{prom.url}/api/v1/targets/metadata",
        params={"match_target": f'{{job="{job}"}}', "metric": metric},
        timeout=10,
    ).json()
    types = {entry["type"] for entry in body["data"]}
    assert len(types) == 1, body
    return types.pop()


def test_both_formats_give_the_same_series(prometheus: tuple[PrometheusServer, str]) -> None:
    """Scraped as OpenMetrics or as classic text, Prometheus holds the same sessionbeat series."""
    prom, _host = prometheus
    names = {}
    for job in ("openmetrics", "classic"):
        result = prom.result(f'count by (__name__) ({{job="{job}", __name__=~"sessionbeat_.+"}})')
        names[job] = {r["metric"]["__name__"] for r in result}
    assert names["openmetrics"] == names["classic"]
    assert {
        "sessionbeat_context_usage_ratio_bucket",
        "sessionbeat_context_usage_ratio_gcount",
        "sessionbeat_context_usage_ratio_gsum",
        "sessionbeat_messages_received_total",
        "sessionbeat_metrics_folded_repos",
    } <= names["openmetrics"]


def test_gauge_histogram_type_per_format(prometheus: tuple[PrometheusServer, str]) -> None:
    """OpenMetrics tells Prometheus the real gaugehistogram type; classic text says histogram."""
    prom, _host = prometheus
    assert metric_type(prom, "openmetrics", "sessionbeat_context_usage_ratio") == "gaugehistogram"
    assert metric_type(prom, "classic", "sessionbeat_context_usage_ratio") == "histogram"
    assert metric_type(prom, "openmetrics", "sessionbeat_messages_received") == "counter"


def test_fold_and_values_agree_in_both_formats(prometheus: tuple[PrometheusServer, str]) -> None:
    """The folded repo="other" series and the histogram read the same in both jobs."""
    prom, host = prometheus
    for job in ("openmetrics", "classic"):
        sel = f'job="{job}", host="{host}"'
        other = prom.result(f'sessionbeat_sessions{{{sel}, repo="other", status="working"}}')
        assert [float(r["value"][1]) for r in other] == [2.0]
        assert prom.result(f'sum(sessionbeat_sessions{{{sel}, status="working"}}) == 4')
        assert prom.result(f'sessionbeat_context_usage_ratio_bucket{{{sel}, le="0.5"}} == 4')
        assert prom.result(f"sessionbeat_context_usage_ratio_gcount{{{sel}}} == 4")
        assert prom.result(f'sessionbeat_metrics_folded_repos{{job="{job}"}} >= 2')
