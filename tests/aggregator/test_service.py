"""The running aggregator on a real mosquitto: ingest, restart, reaper, history, logging."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import httpx
import pytest

from sessionbeat import topics
from sessionbeat.aggregator.history import History
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.errors import RejectReason
from sessionbeat.models import HostState
from tests.aggregator.support import (
    ManualClock,
    Publisher,
    beat,
    retained_now,
    running,
    unique_host,
    wait_until,
)


def test_published_beats_are_served(broker: LocalBroker, publisher: Publisher, tmp: Path) -> None:
    """Beats published to the broker show up in GET /sessions with their facts."""
    host = unique_host()
    with running(broker, tmp) as (_service, api):
        publisher.beat(beat(host, "s1", repo="web", tool="Bash", status="needs_approval"))
        publisher.beat(beat(host, "s2", repo="api", task="write tests"))
        got = wait_until(
            lambda: (
                len(r := httpx.get(f"{api.url}/sessions", params={"host": host}).json()) == 2 and r
            ),
            what="two sessions",
        )
    assert [(v["session_id"], v["status"]) for v in got] == [
        ("s1", "needs_approval"),
        ("s2", "working"),
    ]
    assert got[0]["tool"] == "Bash" and got[1]["task"] == "write tests"


def test_restart_rebuilds_sessions_from_retained(
    broker: LocalBroker, publisher: Publisher, tmp: Path
) -> None:
    """A restarted aggregator shows the same sessions, rebuilt from the retained beats."""
    host = unique_host()
    publisher.status(host, HostState.ONLINE, 1)
    for i in range(5):
        publisher.beat(beat(host, f"s{i}", repo="web"))

    def sessions(url: str) -> list[str]:
        data = httpx.get(f"{url}/sessions", params={"host": host, "all": "true"}).json()
        return sorted(v["session_id"] for v in data)

    with running(broker, tmp) as (_s, api):
        first = wait_until(lambda: len(s := sessions(api.url)) == 5 and s, what="5 sessions")
    with running(broker, tmp) as (_s, api):
        second = wait_until(lambda: len(s := sessions(api.url)) == 5 and s, what="5 again")
        hosts = httpx.get(f"{api.url}/hosts").json()
    assert first == second == [f"s{i}" for i in range(5)]
    assert {"host": host, "state": "online"}.items() <= next(
        h for h in hosts if h["host"] == host
    ).items()


def test_reaper_clears_retained_topic_and_writes_history(
    broker: LocalBroker, publisher: Publisher, tmp: Path, clock: ManualClock
) -> None:
    """An ended session is reaped after ended_linger: history row written, retained cleared."""
    host = unique_host()
    topic = topics.session_topic(host, "gone")
    with running(broker, tmp, clock=clock, ended_linger=60) as (_service, api):
        publisher.beat(beat(host, "gone", status="ended", end_reason="logout", repo="web"))
        wait_until(
            lambda: httpx.get(f"{api.url}/sessions", params={"host": host, "all": "true"}).json(),
            what="ended session",
        )
        assert retained_now(broker, topic) is not None
        clock.advance(61)
        page = wait_until(
            lambda: (
                (p := httpx.get(f"{api.url}/history", params={"host": host}).json())["total"] and p
            ),
            what="history row",
        )
        assert httpx.get(f"{api.url}/sessions", params={"host": host, "all": "true"}).json() == []
    assert retained_now(broker, topic) is None
    item = page["items"][0]
    assert (item["session_id"], item["reap_reason"], item["end_reason"], item["repo"]) == (
        "gone",
        "ended",
        "logout",
        "web",
    )


def test_retained_clear_from_elsewhere_is_history_cleared(
    broker: LocalBroker, publisher: Publisher, tmp: Path
) -> None:
    """A session whose retained topic someone else empties goes to the history as 'cleared'."""
    host = unique_host()
    with running(broker, tmp) as (_service, api):
        publisher.beat(beat(host, "s1", task="refactor"))
        wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"host": host}).json())
        publisher.clear(topics.session_topic(host, "s1"))
        page = wait_until(
            lambda: (
                (p := httpx.get(f"{api.url}/history", params={"host": host}).json())["total"] and p
            ),
            what="cleared history row",
        )
    assert page["items"][0]["reap_reason"] == "cleared"
    assert page["items"][0]["task"] == "refactor"


def test_rejects_are_counted_and_logged_once_per_reason_and_host(
    own_broker: LocalBroker, tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Repeated bad messages from one host log one WARNING; each is counted."""
    # A broker of its own: retained leftovers of other tests would add to the exact counts.
    h1, h2 = unique_host(), unique_host()
    publisher = Publisher(own_broker)
    with (
        caplog.at_level(logging.DEBUG, logger="sessionbeat.aggregator.service"),
        running(own_broker, tmp) as (service, _api),
        contextlib.closing(publisher),
    ):
        for _ in range(3):
            publisher.raw(f"sessionbeat/v1/{h1}/sessions/s1", b"{oops", retain=False)
        publisher.raw(f"sessionbeat/v1/{h2}/sessions/s1", b"{oops", retain=False)
        publisher.raw(f"sessionbeat/v1/{h2}/sessions/s1", b'{"v":1}', retain=False)
        wait_until(
            lambda: sum(service.snapshot().counters.rejected.values()) == 5, what="5 rejects"
        )
    counters = service.snapshot().counters
    assert counters.rejected == {RejectReason.BAD_JSON: 4, RejectReason.SCHEMA: 1}
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "rejected" in r.getMessage()
    ]
    assert len(warnings) == 3
    assert sum(h1 in w for w in warnings) == 1
    assert any("bad_json" in w and h2 in w for w in warnings)
    assert any("schema" in w and h2 in w for w in warnings)


def test_full_history_does_not_stop_the_service(
    own_broker: LocalBroker, tmp: Path, clock: ManualClock
) -> None:
    """With a history that cannot be written, reaping goes on and failures are counted."""
    # A broker of its own: retained ended sessions of other tests would be reaped too.
    host = unique_host()
    blocker = tmp / "file"
    blocker.write_text("x")
    publisher = Publisher(own_broker)
    with (
        running(own_broker, tmp, clock=clock, history_db=blocker / "h.sqlite3", ended_linger=1) as (
            service,
            api,
        ),
        contextlib.closing(publisher),
    ):
        publisher.beat(beat(host, "s1", status="ended"))
        wait_until(lambda: service.snapshot().sessions, what="session")
        clock.advance(5)
        wait_until(lambda: service.snapshot().counters.history_errors >= 2, what="errors")
        health = httpx.get(f"{api.url}/healthz")
        assert health.status_code == 200
        assert health.json()["history_ok"] is False
        assert httpx.get(f"{api.url}/readyz").status_code == 503
        assert httpx.get(f"{api.url}/history").status_code == 503
        assert service.snapshot().counters.reaped["ended"] == 1


def test_readiness_follows_the_broker_connection(own_broker: LocalBroker, tmp: Path) -> None:
    """/readyz is 503 while the broker is down and 200 after paho reconnects; /healthz says why."""
    with running(own_broker, tmp) as (service, api):
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        own_broker.stop()
        wait_until(lambda: httpx.get(f"{api.url}/readyz").status_code == 503, what="503")
        health = httpx.get(f"{api.url}/healthz")
        assert health.status_code == 200  # liveness: the process is up
        assert (health.json()["status"], health.json()["reasons"]) == (
            "degraded",
            ["broker not connected"],
        )
        own_broker.start()
        wait_until(lambda: httpx.get(f"{api.url}/readyz").status_code == 200, what="200")
        assert httpx.get(f"{api.url}/healthz").json()["status"] == "ok"
        assert service.broker_connected


def test_history_store_is_injectable(broker: LocalBroker, tmp: Path, clock: ManualClock) -> None:
    """reap() writes through the injected store and returns the reaped entries."""
    from sessionbeat.aggregator.service import AggregatorService
    from sessionbeat.aggregator.state import Message
    from tests.aggregator.support import service_settings

    settings = service_settings(broker, tmp, ended_linger=0)
    store = History(tmp / "own.sqlite3", keep_days=1, clock=clock)
    service = AggregatorService(settings, clock, history=store)
    store.open()
    b = beat("hx", "s1", status="ended")
    service.ingest(Message(topics.session_topic("hx", "s1"), b.model_dump_json().encode()))
    entries = service.reap()
    assert [(e.session_id, e.reap_reason) for e in entries] == [("s1", "ended")]
    assert store.find("s1") == entries[0]


def test_a_topic_that_is_not_utf8_is_counted_as_bad_topic(
    broker: LocalBroker, tmp: Path, clock: ManualClock
) -> None:
    """A message whose topic bytes are not UTF-8 (a lax broker) is rejected, not a crash."""
    import paho.mqtt.client as mqtt

    from sessionbeat.aggregator.service import AggregatorService
    from tests.aggregator.support import service_settings

    service = AggregatorService(service_settings(broker, tmp), clock)
    message = mqtt.MQTTMessage(topic=b"sessionbeat/v1/h\xff/sessions/s1")
    message.payload = b"{}"
    service.link.client.on_message(None, None, message)
    counters = service.snapshot().counters
    assert (counters.received, counters.rejected) == (1, {RejectReason.BAD_TOPIC: 1})
