"""The aggregator service with sites: readers are told, reaped sessions are cleared at the site."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sessionbeat import topics
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.aggregator.state import Message
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import HostState, HostStatus
from tests.aggregator.support import ManualClock, beat, service_settings


def birth(host: str, site: str) -> Message:
    status = HostStatus(host=host, state=HostState.ONLINE, bdseq=1, site=site)
    return Message(topics.status_topic(host), status.model_dump_json(exclude_none=True).encode())


def beat_msg(host: str, sid: str, status: str = "working") -> Message:
    b = beat(host, sid, status=status)
    return Message(topics.session_topic(host, sid), b.model_dump_json().encode())


@pytest.fixture
def service(broker: LocalBroker, tmp: Path, clock: ManualClock) -> AggregatorService:
    svc = AggregatorService(service_settings(broker, tmp, ended_linger=0), clock)
    svc.history.open()
    return svc


def test_a_site_going_down_tells_event_readers_about_its_hosts_and_sessions(
    service: AggregatorService,
) -> None:
    """GET /events readers hear of the site's host and its session, not of other hosts."""
    service.ingest(birth("lab-1", "lab"))
    service.ingest(beat_msg("lab-1", "s1"))
    service.ingest(birth("far-1", "far"))
    service.ingest(beat_msg("far-1", "s2"))

    async def scenario() -> list[object]:
        sub = service.feed.subscribe(asyncio.get_running_loop())
        service.ingest(Message(topics.bridge_topic("lab"), b"0"))
        return list(dict(await sub.next_batch(1)))

    assert asyncio.run(scenario()) == ["lab-1", ("lab-1", "s1")]
    assert service.hosts()[1].state is HostState.UNREACHABLE


def test_reaped_session_of_a_site_host_is_cleared_on_the_site_broker_too(
    service: AggregatorService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reaped session behind a site is cleared centrally and through the site's bridge."""
    cleared: list[str] = []
    monkeypatch.setattr(service.link, "clear_retained", cleared.append)
    service.ingest(birth("lab-1", "lab"))
    service.ingest(beat_msg("lab-1", "s1", status="ended"))
    service.ingest(beat_msg("lone", "s2", status="ended"))
    service.reap()
    assert sorted(cleared) == [
        "sessionbeat/sites/lab/v1/lab-1/sessions/s1",
        "sessionbeat/v1/lab-1/sessions/s1",
        "sessionbeat/v1/lone/sessions/s2",
    ]
