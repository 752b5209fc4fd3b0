"""The HTTP API over real HTTP: filters, 404s, token auth, history, exports, metrics, events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from sessionbeat import topics
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import HostState, NotifyStatus, SessionDetail, SessionView
from tests.aggregator.support import (
    ManualClock,
    Publisher,
    ServedApi,
    beat,
    notify_on,
    running,
    unique_host,
    wait_until,
)


@pytest.fixture
def served(
    broker: LocalBroker, tmp: Path, clock: ManualClock
) -> Iterator[tuple[AggregatorService, ServedApi]]:
    with running(broker, tmp, clock=clock, ended_linger=60) as pair:
        yield pair


def get(api: ServedApi, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{api.url}{path}", params=params)


def load(publisher: Publisher, api: ServedApi, host: str) -> None:
    """Three live sessions and one ended on ``host``."""
    publisher.beat(beat(host, "ap", status="needs_approval", repo="api", tool="Bash"))
    publisher.beat(beat(host, "w1", repo="web", task="fix login", seq=2))
    publisher.beat(beat(host, "wt", status="waiting_for_input", repo="web"))
    publisher.beat(beat(host, "en", status="ended", repo="api"))
    wait_until(lambda: len(get(api, "/sessions", host=host, all="true").json()) == 4)


def sids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [v["session_id"] for v in response.json()]


def test_sessions_filters(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """host, repo, status and all select sessions; the order puts approvals first."""
    _, api = served
    host = unique_host()
    load(publisher, api, host)
    assert sids(get(api, "/sessions", host=host)) == ["ap", "w1", "wt"]
    assert sids(get(api, "/sessions", host=host, repo="web")) == ["w1", "wt"]
    assert sids(get(api, "/sessions", host=host, status="ended")) == ["en"]
    assert sids(get(api, "/sessions", host=host, all="true")) == ["ap", "w1", "wt", "en"]
    assert sids(get(api, "/sessions", host=unique_host())) == []
    assert get(api, "/sessions", status="sleeping").status_code == 422
    for item in get(api, "/sessions", host=host).json():
        SessionView.model_validate(item)


def test_session_detail_and_404(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """GET /sessions/{id} returns the detail with its timeline; unknown ids are a JSON 404."""
    _, api = served
    host = unique_host()
    load(publisher, api, host)
    detail = SessionDetail.model_validate(get(api, "/sessions/w1", host=host).json())
    assert (detail.task, detail.repo, [c.status.value for c in detail.timeline]) == (
        "fix login",
        "web",
        ["working"],
    )
    missing = get(api, "/sessions/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no live session 'nope'"}
    assert get(api, "/sessions/w1", host=unique_host()).status_code == 404
    assert get(api, "/history/nope").status_code == 404


def test_reaped_session_is_in_history_not_in_sessions(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher, clock: ManualClock
) -> None:
    """After reaping, /sessions/{id} is a 404 pointing at /history/{id}, which has it."""
    _, api = served
    host = unique_host()
    load(publisher, api, host)
    clock.advance(61)
    wait_until(lambda: get(api, "/history/en", host=host).status_code == 200, what="reaped")
    missing = get(api, "/sessions/en", host=host)
    assert missing.status_code == 404
    assert "/history/en" in missing.json()["detail"]
    entry = get(api, "/history/en", host=host).json()
    assert (entry["reap_reason"], entry["status"], entry["repo"]) == ("ended", "ended", "api")


def test_history_paging_and_time_filters(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher, clock: ManualClock
) -> None:
    """GET /history pages newest first and filters on reaped_at with since/until."""
    _, api = served
    host = unique_host()
    first_reap = clock.advance(0)
    for i in range(3):
        publisher.beat(beat(host, f"e{i}", status="ended", sent_at=clock()))
        wait_until(lambda: get(api, "/sessions", host=host, all="true").json())
        clock.advance(61)
        reaped = i + 1
        wait_until(lambda: get(api, "/history", host=host).json()["total"] == reaped)  # noqa: B023
    page = get(api, "/history", host=host, limit=2).json()
    assert [e["session_id"] for e in page["items"]] == ["e2", "e1"]
    assert (page["total"], page["next_offset"]) == (3, 2)
    rest = get(api, "/history", host=host, limit=2, offset=2).json()
    assert ([e["session_id"] for e in rest["items"]], rest["next_offset"]) == (["e0"], None)
    since = (first_reap.replace(microsecond=0)).isoformat()
    later = get(api, "/history", host=host, since=since).json()["total"]
    assert later == 3
    until = get(api, "/history", host=host, until=page["items"][1]["reaped_at"]).json()
    assert [e["session_id"] for e in until["items"]] == ["e0"]
    assert get(api, "/history", limit=0).status_code == 422


def test_token_guards_everything_but_healthz(
    broker: LocalBroker, tmp: Path, publisher: Publisher
) -> None:
    """With api_token set, requests need the bearer token (401 otherwise); /healthz is open."""
    with running(broker, tmp, api_token="s3cret") as (_service, api):
        for path in ("/sessions", "/hosts", "/summary", "/history", "/metrics", "/sessions/x"):
            denied = get(api, path)
            assert denied.status_code == 401, path
            assert denied.headers["www-authenticate"] == "Bearer"
            wrong = httpx.get(f"{api.url}{path}", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
        assert get(api, "/healthz").status_code == 200
        ok = httpx.get(f"{api.url}/summary", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_hosts_and_summary(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """GET /hosts reports a host's birth; GET /summary counts what the list shows."""
    _, api = served
    host = unique_host()
    publisher.status(host, HostState.ONLINE, 4, agent_version="9.9", platform="linux")
    load(publisher, api, host)
    mine = next(h for h in get(api, "/hosts").json() if h["host"] == host)
    assert (mine["state"], mine["bdseq"], mine["sessions"], mine["needs_approval"]) == (
        "online",
        4,
        3,
        1,
    )
    assert mine["agent_version"] == "9.9"
    summary = get(api, "/summary").json()
    assert summary["by_host"][host] == 3
    assert summary["broker_connected"] is True
    publisher.status(host, HostState.OFFLINE, 4)
    wait_until(
        lambda: {v["status"] for v in get(api, "/sessions", host=host).json()} == {"offline"}
    )


def test_overview_is_one_consistent_call_and_requests_are_counted(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """GET /overview has summary, approvals, live sessions and hosts; requests count per route."""
    _, api = served
    host = unique_host()
    publisher.status(host, HostState.ONLINE, 1)
    load(publisher, api, host)
    overview = get(api, "/overview").json()
    assert [s["session_id"] for s in overview["attention"] if s["host"] == host] == ["ap"]
    mine = [s for s in overview["sessions"] if s["host"] == host]
    assert sorted(s["session_id"] for s in mine) == ["en", "w1", "wt"]  # ended too
    assert overview["summary"]["by_host"][host] == 3
    assert any(h["host"] == host and h["sessions"] == 3 for h in overview["hosts"])
    get(api, "/overview")
    get(api, "/sessions/ap")
    metrics = get(api, "/metrics").text
    assert 'sessionbeat_http_requests_total{route="/overview"} 2.0' in metrics
    assert 'sessionbeat_http_requests_total{route="/sessions/{session_id}"} 1.0' in metrics


def test_session_export_json_and_markdown(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """A session exports as a JSON document and a Markdown report, as downloads."""
    _, api = served
    host = unique_host()
    load(publisher, api, host)
    as_json = get(api, "/sessions/w1/export", host=host)
    assert as_json.headers["content-disposition"] == 'attachment; filename="session-w1.json"'
    assert SessionDetail.model_validate(as_json.json()).task == "fix login"
    md = get(api, "/sessions/w1/export", host=host, format="md")
    assert md.headers["content-type"].startswith("text/markdown")
    assert "## web on " + host in md.text
    assert "| task | fix login |" in md.text
    assert "### Timeline" in md.text
    assert get(api, "/sessions/nope/export").status_code == 404
    assert get(api, "/sessions/w1/export", format="pdf").status_code == 422


def test_history_export(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher, clock: ManualClock
) -> None:
    """The history exports as a JSON array and a Markdown report, filtered like /history."""
    _, api = served
    host = unique_host()
    load(publisher, api, host)
    clock.advance(61)
    wait_until(lambda: get(api, "/history", host=host).json()["total"] == 1)
    data = get(api, "/history/export", host=host).json()
    assert [(e["session_id"], e["reap_reason"]) for e in data] == [("en", "ended")]
    md = get(api, "/history/export", host=host, format="md").text
    assert md.startswith("# Claude Code session history\n\n1 session.")
    assert f"## api on {host}" in md
    assert get(api, "/history/export", host=unique_host()).json() == []


def test_metrics_exposition(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """GET /metrics is a valid Prometheus exposition holding the service's counters."""
    _, api = served
    host = unique_host()
    load(publisher, api, host)
    publisher.raw(f"sessionbeat/v1/{host}/sessions/zz", b"garbage", retain=False)
    wait_until(lambda: 'reason="bad_json"} 1.0' in get(api, "/metrics").text, what="reject")
    response = get(api, "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert "sessionbeat_messages_rejected" in families
    assert "session_id" not in response.text
    working = [
        s
        for s in families["sessionbeat_sessions"].samples
        if s.labels.get("host") == host and s.labels.get("status") == "needs_approval"
    ]
    assert sum(s.value for s in working) == 1


def test_events_stream_changes(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """GET /events sends ready, then a session event per change and removed on a clear."""
    _, api = served
    host = unique_host()
    got: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()
    done = threading.Event()

    def read() -> None:
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=30)) as client,
            connect_sse(client, "GET", f"{api.url}/events") as source,
        ):
            assert source.response.headers["content-type"].startswith("text/event-stream")
            for sse in source.iter_sse():
                data = json.loads(sse.data)
                if sse.event == "ready":
                    ready.set()
                    continue
                if data.get("host") != host:
                    continue
                got.append((sse.event, data))
                if sse.event == "removed":
                    done.set()
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(10)
    publisher.beat(beat(host, "s1", tool="Read"))
    wait_until(lambda: got, what="first event")
    publisher.beat(beat(host, "s1", seq=2, tool="Bash", status="needs_approval"))
    wait_until(lambda: len(got) >= 2, what="second event")
    publisher.clear(topics.session_topic(host, "s1"))
    assert done.wait(10)
    reader.join(10)
    assert [(e, d.get("status"), d.get("tool")) for e, d in got] == [
        ("session", "working", "Read"),
        ("session", "needs_approval", "Bash"),
        ("removed", None, None),
    ]
    assert got[-1][1] == {"host": host, "session_id": "s1", "reason": "cleared"}


def test_openapi_lists_the_endpoints(served: tuple[AggregatorService, ServedApi]) -> None:
    """The OpenAPI document names every endpoint (clients can be generated from it)."""
    _, api = served
    paths = set(get(api, "/openapi.json").json()["paths"])
    assert {
        "/healthz",
        "/sessions",
        "/sessions/{session_id}",
        "/sessions/{session_id}/export",
        "/hosts",
        "/summary",
        "/history",
        "/history/export",
        "/history/{session_id}",
        "/events",
        "/metrics",
        "/notify",
    } <= paths


def test_notify_is_off_without_a_notifier(served: tuple[AggregatorService, ServedApi]) -> None:
    """An aggregator run without notification URLs answers GET /notify with enabled false."""
    _, api = served
    response = get(api, "/notify")
    assert response.status_code == 200
    assert NotifyStatus.model_validate(response.json()) == NotifyStatus(enabled=False)
    assert response.json()["enabled"] is False


def test_notify_serves_the_notifiers_state_behind_the_token(broker: LocalBroker, tmp: Path) -> None:
    """GET /notify needs the token like /summary and returns what the notifier reports."""
    state = notify_on()
    with running(broker, tmp, api_token="s3cret", notify_status=lambda: state) as (_s, api):
        assert get(api, "/notify").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        response = httpx.get(f"{api.url}/notify", headers=auth)
        metrics = httpx.get(f"{api.url}/metrics", headers=auth).text
    assert response.status_code == 200
    assert NotifyStatus.model_validate(response.json()) == state
    assert response.json()["targets"][0]["url"] == "ntfys://ntfy.sh/s...9/"
    assert 'sessionbeat_notifications_total{kind="needs_approval",result="failed"} 1.0' in metrics
