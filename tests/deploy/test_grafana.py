"""grafana/: provisioning files agree with each other and the dashboard is well formed.

Grafana itself cannot run here; what its provisioning would reject or show broken (a wrong
datasource uid, duplicate panel ids, overlapping panels) is checked on the files. The queries
are checked against a real Prometheus in test_live_prometheus.py.
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "grafana"


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))]


def datasource() -> dict[str, Any]:
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    return dict(source)


def test_datasource_points_at_the_compose_prometheus() -> None:
    """The provisioned datasource is Prometheus at the compose service's address."""
    source = datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True


def test_scrape_interval_matches_prometheus() -> None:
    """Grafana's timeInterval equals Prometheus' scrape interval, so $__rate_interval is right."""
    prom = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    assert datasource()["jsonData"]["timeInterval"] == prom["global"]["scrape_interval"]


def test_dashboard_datasource_variable_defaults_to_the_provisioned_uid() -> None:
    """Each dashboard's ${datasource} variable defaults to the provisioned datasource uid."""
    uid = datasource()["uid"]
    for dash in dashboards():
        (var,) = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
        assert var["name"] == "datasource"
        assert var["query"] == "prometheus"
        assert var["current"]["value"] == uid


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    """No panel or query hard-codes another datasource."""
    for dash in dashboards():
        for panel in dash["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"], panel["title"]
                assert target["expr"].strip(), panel["title"]


def test_panels_have_unique_ids_titles_and_descriptions() -> None:
    """Panel ids are unique (Grafana links and edits by id); each panel says what it shows."""
    for dash in dashboards():
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids))
        for panel in dash["panels"]:
            assert panel["title"]
            if panel["type"] != "row":
                assert panel.get("description"), panel["title"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    """Every panel lies within the 24-column grid and no two panels overlap."""
    for dash in dashboards():
        boxes = []
        for panel in dash["panels"]:
            g = panel["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
            boxes.append((panel["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
        for (a, ax0, ay0, ax1, ay1), (b, bx0, by0, bx1, by1) in combinations(boxes, 2):
            overlap = ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1
            assert not overlap, (a, b)


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    """Sessions by status, per host, approvals, context, hosts up, message rates, rejections."""
    (dash,) = dashboards()
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
    for needed in (
        "sum by (status) (sessionbeat_sessions",
        "sum by (host) (sessionbeat_sessions",
        'status="needs_approval"',
        "sessionbeat_approval_oldest_wait_seconds",
        "sessionbeat_context_usage_ratio_bucket",
        "sessionbeat_host_up",
        "rate(sessionbeat_messages_received_total",
        "rate(sessionbeat_messages_rejected_total",
    ):
        assert needed in exprs, needed


def test_dashboard_provider_is_read_only_and_unique() -> None:
    """The file provider keeps the dashboard as committed (no UI edits, no deletion)."""
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/sessionbeat.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    assert provider["disableDeletion"] is True
    uids = [d["uid"] for d in dashboards()]
    assert len(uids) == len(set(uids)) and all(uids)
