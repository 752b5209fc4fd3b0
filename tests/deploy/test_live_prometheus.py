"""A real Prometheus scraping a real aggregator fed by real MQTT publishes.

Every PromQL expression of grafana/dashboards/ and prometheus/rules/ is sent to that
Prometheus: it must parse, and it (for the dashboard) or every series it reads (for the rules,
whose comparisons only hold in bad times) must return data. One alert is driven to firing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from sessionbeat import topics
from sessionbeat.broker.embedded import LocalBroker
from tests.conftest import short_tmpdir
from tests.deploy.promserver import PROM_DIR, REPO, PrometheusServer
from tests.procs import Aggregator, wait_until
from tests.tools import require_tool

pytestmark = pytest.mark.slow

DASHBOARDS = REPO / "grafana" / "dashboards"
TOKEN = "test-token-7f3a"
"""The aggregator's API token: Prometheus must send it (prometheus.yml credentials_file)."""
FLAPS = 8
"""Agent reconnects (births with a new bdseq) of host "pi": SessionbeatHostFlapping needs > 6."""

GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$__range": "5m",
    "${host}": ".*",
    "$host": ".*",
}
"""What Grafana would substitute, for a 1 s scrape interval and "All" hosts selected."""


@dataclass
class Stack:
    broker: LocalBroker
    aggregator: Aggregator
    prometheus: PrometheusServer
    client: mqtt.Client


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def publish(client: mqtt.Client, topic: str, body: dict[str, Any] | bytes) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)


def birth(client: mqtt.Client, host: str, bdseq: int) -> None:
    publish(
        client,
        topics.status_topic(host),
        {"v": 1, "host": host, "state": "online", "bdseq": bdseq, "sent_at": now_iso()},
    )


def beat(client: mqtt.Client, host: str, sid: str, status: str, **fields: Any) -> None:
    body = {
        "v": 1,
        "host": host,
        "session_id": sid,
        "status": status,
        "seq": 1,
        "sent_at": now_iso(),
        "started_at": now_iso(),
        "last_activity_at": now_iso(),
        "model": "claude-opus-4-6",
        **fields,
    }
    publish(client, topics.session_topic(host, sid), body)


def feed(client: mqtt.Client) -> None:
    """Two hosts with sessions in every interesting state, plus one malformed message."""
    birth(client, "mac", 3)
    birth(client, "kai-server", 1)
    beat(
        client,
        "mac",
        "3f1c2d9e-0b7a-4c1e-9a53-6d2f8e1b4c70",
        "working",
        event="PreToolUse",
        tool="Task",
        repo="sessionbeat",
        cwd="/Users/dev/sessionbeat",
        subagents=2,
        context_tokens=52_000,
        context_window=200_000,
    )
    beat(
        client,
        "mac",
        "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d",
        "needs_approval",
        event="PermissionRequest",
        tool="Bash",
        repo="sessionbeat",
        context_tokens=183_000,
        context_window=200_000,
    )
    beat(
        client,
        "kai-server",
        "c0ffee00-1111-4222-8333-444455556666",
        "waiting_for_input",
        event="Stop",
        repo="infra",
        context_tokens=9_000,
        context_window=200_000,
    )
    beat(
        client,
        "kai-server",
        "d00dfeed-2222-4333-8444-555566667777",
        "ended",
        event="SessionEnd",
        end_reason="prompt_input_exit",
        repo="infra",
    )
    publish(client, "sessionbeat/v1/mac/sessions/not-json", b"{oops")


def api_get(aggregator: Aggregator, path: str, **params: str) -> Any:
    """GET a JSON endpoint of the token-guarded aggregator."""
    response = httpx.get(
        f"{aggregator.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module", autouse=True)
def prometheus_installed() -> None:
    """Every test here needs the prometheus binary: skip without it (fail on CI, tests/tools.py).

    Module-scoped and autouse, so it runs before ``stack`` starts anything.
    """
    require_tool("prometheus")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Broker, aggregator, publisher and Prometheus of this module, stopped at its end."""
    broker = LocalBroker(short_tmpdir("sb-pbroker-"))
    broker.start()
    aggregator = prometheus = client = None
    try:
        aggregator = Aggregator(broker.url, short_tmpdir() / "agg", SESSIONBEAT_API_TOKEN=TOKEN)
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="test-publisher",
            protocol=mqtt.MQTTv5,
        )
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        feed(client)
        wait_until(lambda: len(api_get(aggregator, "/sessions", all="true")) == 4, 15)
        prometheus = PrometheusServer(
            short_tmpdir("sb-prom-"), f"127.0.0.1:{aggregator.port}", TOKEN
        )
        yield Stack(broker, aggregator, prometheus, client)
    finally:
        if prometheus is not None:
            prometheus.stop()
        if client is not None:
            client.loop_stop()
            client.disconnect()
        if aggregator is not None:
            aggregator.stop()
        broker.stop()


@pytest.fixture(scope="module")
def scraped(stack: Stack) -> Stack:
    """The stack once Prometheus holds a few scrapes and the flapping alert fires."""
    prom = stack.prometheus
    wait_until(lambda: prom.result('up{job="sessionbeat"} == 1'), 30, 0.25)
    for bdseq in range(1, FLAPS + 1):  # one reconnect per scrape or so
        birth(stack.client, "pi", bdseq)
        wait_until(
            lambda b=bdseq: prom.result(f'sessionbeat_host_bdseq{{host="pi"}} == {b}'), 15, 0.1
        )
    wait_until(
        lambda: prom.result('ALERTS{alertname="SessionbeatHostFlapping", alertstate="firing"}'),
        30,
        0.25,
    )
    return stack


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) of every target of every provisioned dashboard, variables filled."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for name, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(name, value)
                found.append((f"{path.name}: {panel['title']}", expr))
    return found


def rule_exprs() -> list[tuple[str, str]]:
    """(rule name, expr) of every alerting and recording rule."""
    found = []
    for path in sorted((PROM_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append((rule.get("alert") or rule["record"], rule["expr"]))
    return found


SELECTOR = re.compile(r"\b(sessionbeat_[a-z_]+|up|ALERTS)\b\s*(\{[^}]*\})?(?!\s*\()")
"""A metric name with its optional label matchers (never a function call)."""


def test_prometheus_reads_the_exporter(scraped: Stack) -> None:
    """Prometheus ingests the exposition with the values the aggregator holds."""
    prom = scraped.prometheus
    result = prom.result('sessionbeat_sessions{host="mac", status="needs_approval"}')
    assert [float(r["value"][1]) for r in result] == [1.0]
    assert prom.result('sessionbeat_subagents_running{host="mac"} == 2')
    assert prom.result('sessionbeat_messages_rejected_total{reason="bad_json"} == 1')
    assert prom.result("sessionbeat_broker_connected == 1")
    assert prom.result('sessionbeat_hook_events_total{event="PermissionRequest"} == 1')


def test_flapping_host_fires_its_alert(scraped: Stack) -> None:
    """A host whose agent reconnects more than 6 times within the hour raises an alert."""
    alerts = scraped.prometheus.result('ALERTS{alertstate="firing"}')
    flapping = [
        a["metric"] for a in alerts if a["metric"]["alertname"] == "SessionbeatHostFlapping"
    ]
    assert [a["host"] for a in flapping] == ["pi"]
    assert flapping[0]["severity"] == "warning"


def test_every_dashboard_expression_returns_data(scraped: Stack) -> None:
    """Every dashboard query parses and returns at least one series from real data."""
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    empty = [(where, expr) for where, expr in exprs if not scraped.prometheus.result(expr)]
    assert empty == []


def test_dashboard_host_variable_lists_every_host(scraped: Stack) -> None:
    """The $host variable's label_values query finds every host, those without status too."""
    for path in DASHBOARDS.glob("*.json"):
        variables = json.loads(path.read_text())["templating"]["list"]
        for var in variables:
            if var["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["definition"])
            assert match, var["definition"]
            values = scraped.prometheus.label_values(match[2], match[1])
            assert set(values) >= {"mac", "kai-server", "pi"}


def test_every_rule_expression_parses_and_reads_existing_series(scraped: Stack) -> None:
    """Each rule's PromQL parses, and every series selector in it matches scraped series."""
    prom = scraped.prometheus
    missing = []
    for name, expr in rule_exprs():
        prom.result(expr)  # asserts it parses and evaluates
        selectors = [m[0] for m in SELECTOR.finditer(expr)]
        assert selectors, name
        missing += [(name, s) for s in selectors if not prom.result(s)]
    assert missing == []


def test_rules_are_loaded_and_healthy(scraped: Stack) -> None:
    """Prometheus loaded every rule of the repository and evaluates each without error."""
    body = httpx.get(f"{scraped.prometheus.url}/api/v1/rules", timeout=10).json()
    rules = [r for g in body["data"]["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == {name for name, _ in rule_exprs()}
    assert {r["health"] for r in rules} == {"ok"}


def test_compose_healthchecks_pass_on_the_real_services(scraped: Stack) -> None:
    """compose.yaml's aggregator and Prometheus healthchecks succeed against the real servers."""
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    ports = {
        "aggregator": (8787, scraped.aggregator.port),
        "prometheus": (9090, scraped.prometheus.port),
    }
    for name, (inside, actual) in ports.items():
        kind, *argv = services[name]["healthcheck"]["test"]
        assert kind == "CMD"
        argv = [a.replace(f"127.0.0.1:{inside}/", f"127.0.0.1:{actual}/") for a in argv]
        if argv[0] == "python":
            argv[0] = sys.executable
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        assert result.returncode == 0, (name, result.stderr)
