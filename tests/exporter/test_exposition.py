"""GET /metrics of a real aggregator: OpenMetrics or classic text by Accept, gzip, the fold."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import Publisher, beat, unique_host
from tests.conftest import short_tmpdir
from tests.procs import Aggregator, wait_until

OPENMETRICS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
"""What Prometheus 2.x sends as Accept (scrape/scrape.go)."""


@pytest.fixture(scope="module")
def host() -> str:
    return unique_host("fold")


@pytest.fixture
def aggregator(broker: LocalBroker, publisher: Publisher, host: str) -> Iterator[Aggregator]:
    """A real aggregator capped at 1 repo per host, fed one host with 3 repositories."""
    agg = Aggregator(broker.url, short_tmpdir() / "agg", SESSIONBEAT_METRICS_MAX_REPOS_PER_HOST="1")
    try:
        for n, repo in enumerate(["big", "big", "small-1", "small-2"]):
            publisher.beat(
                beat(host, f"s{n}", repo=repo, context_tokens=50_000, context_window=200_000)
            )
        wait_until(lambda: len(agg.get("/sessions", host=host)) == 4, 15)
        yield agg
    finally:
        agg.stop()


def scrape(agg: Aggregator, **headers: str) -> httpx.Response:
    response = httpx.get(f"{agg.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response


def test_default_scrape_is_classic_text_with_the_fold(aggregator: Aggregator, host: str) -> None:
    """Without an Accept for OpenMetrics: text 0.0.4, the gauge histogram typed histogram."""
    response = scrape(aggregator, Accept="text/plain")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE sessionbeat_context_usage_ratio histogram\n" in response.text
    assert "# EOF" not in response.text
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    ours = {
        (s.labels["repo"], s.labels["status"]): s.value
        for s in families["sessionbeat_sessions"].samples
        if s.labels["host"] == host
    }
    assert ours[("big", "working")] == 2
    assert ours[("other", "working")] == 2
    assert {repo for repo, _status in ours} == {"big", "other"}
    folded = families["sessionbeat_metrics_folded_repos"].samples
    assert [s.value for s in folded] == [2]


def test_openmetrics_when_the_scraper_asks(aggregator: Aggregator, host: str) -> None:
    """Prometheus' Accept gets OpenMetrics 1.0.0: gaugehistogram type, # EOF, same samples."""
    response = scrape(aggregator, Accept=OPENMETRICS_ACCEPT)
    assert response.headers["content-type"].startswith(
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    assert "# TYPE sessionbeat_context_usage_ratio gaugehistogram\n" in response.text
    assert response.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(response.text)}
    assert families["sessionbeat_context_usage_ratio"].type == "gaugehistogram"
    samples = {
        s.name: s.value
        for s in families["sessionbeat_context_usage_ratio"].samples
        if s.labels["host"] == host and s.labels.get("le") in (None, "0.25")
    }
    assert samples == {
        "sessionbeat_context_usage_ratio_bucket": 4,
        "sessionbeat_context_usage_ratio_gcount": 4,
        "sessionbeat_context_usage_ratio_gsum": 1.0,
    }
    assert families["sessionbeat_messages_received"].type == "counter"


def test_gzip_only_when_accepted(aggregator: Aggregator) -> None:
    """Accept-Encoding: gzip gets a gzipped body; identity gets plain text."""
    with httpx.stream(
        "GET", f"{aggregator.url}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=10
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert b"sessionbeat_sessions{" in gzip.decompress(raw)
    plain = scrape(aggregator, **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert "sessionbeat_sessions{" in plain.text
