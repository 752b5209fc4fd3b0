"""The running aggregator on a real mosquitto against hostile or broken senders (issue 12).

Clocks (item 3): a host an hour behind survives an aggregator restart; skew is reported.
Limits (item 5): a host's session flood is refused; forgotten hosts' retained status is cleared.
Logs (item 11): many bad hosts write a bounded number of WARNING lines.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sessionbeat import topics
from sessionbeat.aggregator.reject_log import RejectLog
from sessionbeat.broker.client import publish_properties
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.errors import RejectReason
from sessionbeat.models import HostState, SessionBeat
from tests.aggregator.support import (
    T0,
    ManualClock,
    Publisher,
    beat,
    retained_now,
    running,
    unique_host,
    wait_until,
)

HOUR = timedelta(hours=1)


def publish_with_expiry(publisher: Publisher, b: SessionBeat, expiry: float) -> None:
    """Publish ``b`` retained with a Message Expiry Interval, as the host agent does."""
    topic = topics.session_topic(b.host, b.session_id)
    payload = b.model_dump_json(exclude_none=True).encode()
    info = publisher.client.publish(
        topic, payload, qos=1, retain=True, properties=publish_properties(expiry)
    )
    info.wait_for_publish(10)
    publisher.retained.add(topic)


def test_restart_does_not_reap_a_host_an_hour_behind(
    broker: LocalBroker, publisher: Publisher, tmp: Path
) -> None:
    """An aggregator restarted next to a host 1 h behind keeps its sessions and retained beats."""
    host = unique_host()
    now = datetime.now(UTC)
    publisher.status(host, HostState.ONLINE, 3, sent_at=now - HOUR)
    for i in range(3):
        b = beat(host, f"s{i}", bdseq=3, seq=10, sent_at=now - HOUR, status="needs_approval")
        publish_with_expiry(publisher, b, 1800)
    with running(broker, tmp, clock=ManualClock(now)) as (service, api):
        wait_until(lambda: service.hosts() and len(service.sessions(None)) >= 3, what="sessions")
        reaped = service.reap()
        listed = httpx.get(f"{api.url}/sessions", params={"host": host}).json()
    assert reaped == []
    assert [v["status"] for v in listed] == ["needs_approval"] * 3
    assert all(retained_now(broker, topics.session_topic(host, f"s{i}")) for i in range(3))


def test_clock_skew_is_served_per_host(
    broker: LocalBroker, publisher: Publisher, tmp: Path
) -> None:
    """A host whose beats are dated an hour ahead shows +3600 s in /hosts and /metrics."""
    host = unique_host()
    with running(broker, tmp) as (_service, api):
        publisher.beat(beat(host, "s1", bdseq=0, sent_at=T0 + HOUR), retain=False)
        hosts = wait_until(
            lambda: [h for h in httpx.get(f"{api.url}/hosts").json() if h["host"] == host],
            what="host listed",
        )
        metrics = httpx.get(f"{api.url}/metrics").text
    assert hosts[0]["clock_skew_seconds"] == 3600.0
    assert f'sessionbeat_host_clock_skew_seconds{{host="{host}"}} 3600.0' in metrics


def test_sessions_over_the_host_limit_are_refused_and_left_retained(
    broker: LocalBroker, publisher: Publisher, tmp: Path
) -> None:
    """With a limit of 2, a host's third session is refused, counted, and its topic left alone."""
    host = unique_host()
    with running(broker, tmp, max_sessions_per_host=2) as (service, _api):
        for i in range(3):
            publisher.beat(beat(host, f"s{i}"))
        wait_until(
            lambda: service.snapshot().counters.rejected[RejectReason.TOO_MANY_SESSIONS] == 1,
            what="one refusal",
        )
        kept = sorted(v.session_id for v in service.sessions(None) if v.host == host)
    assert kept == ["s0", "s1"]
    assert retained_now(broker, topics.session_topic(host, "s2")) is not None


def test_a_forgotten_host_has_its_retained_status_cleared(
    broker: LocalBroker, publisher: Publisher, tmp: Path, clock: ManualClock
) -> None:
    """An offline host without sessions is forgotten after host_reap_after; its status topic too."""
    host = unique_host()
    status_topic = topics.status_topic(host)
    with running(broker, tmp, clock=clock, host_reap_after=600) as (service, api):
        publisher.status(host, HostState.OFFLINE, 7)
        wait_until(lambda: any(h.host == host for h in service.hosts()), what="host listed")
        clock.advance(601)
        wait_until(lambda: retained_now(broker, status_topic) is None, what="status cleared")
        listed = [h["host"] for h in httpx.get(f"{api.url}/hosts").json()]
        reaped = service.snapshot().counters.hosts_reaped
    assert host not in listed
    assert reaped == 1


def test_many_bad_hosts_write_few_warnings(
    own_broker: LocalBroker, tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """300 hosts sending garbage: 20 WARNING lines, a summary, and one recovery line."""
    # A broker of its own: retained leftovers of other tests would add to the exact counts.
    hosts = [unique_host("bad") for _ in range(300)]
    publisher = Publisher(own_broker)
    with (
        caplog.at_level(logging.DEBUG, logger="sessionbeat.aggregator.service"),
        running(own_broker, tmp) as (service, _api),
        contextlib.closing(publisher),
    ):
        # A clock that never moves: no window ends during the test, whatever its duration.
        service.rejects = RejectLog(
            logging.getLogger("sessionbeat.aggregator.service"), clock=float
        )
        for host in hosts:
            publisher.raw(f"sessionbeat/v1/{host}/sessions/s1", b"{oops", retain=False, wait=False)
        wait_until(
            lambda: service.snapshot().counters.rejected[RejectReason.BAD_JSON] == 300,
            45,  # a hang guard: on a loaded 2-core machine 300 messages took over 15 s once
            what="300 rejects",
        )
        service.rejects.summarize()
        publisher.beat(beat(hosts[0], "s1"), retain=False)
        wait_until(lambda: service.sessions(None), what="a good beat")
    records = [r for r in caplog.records if r.name == "sessionbeat.aggregator.service"]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    infos = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert len([w for w in warnings if w.startswith("rejected a message")]) == 20
    assert [w for w in warnings if w.startswith("held back")] == [
        "held back 280 log lines about rejected messages in the last 0 s: "
        "bad_json 280 from 280 origins"
    ]
    assert [i for i in infos if "accepted again" in i] == [
        f"messages from {hosts[0]} are accepted again (rejected before: bad_json 1)"
    ]
