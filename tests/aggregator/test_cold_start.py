"""Cold start: 10,000 retained sessions are rebuilt completely from the broker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import Publisher, beat, running, wait_until

SESSIONS = 10_000
HOSTS = 20


def publish_retained(broker: LocalBroker, n: int) -> None:
    """Publish ``n`` retained beats over ``HOSTS`` hosts and wait for every PUBACK."""
    pub = Publisher(broker)
    try:
        infos = []
        for i in range(n):
            b = beat(f"host{i % HOSTS}", f"session-{i:05d}", seq=i, repo=f"repo{i % 7}")
            infos.append(
                pub.client.publish(
                    f"sessionbeat/v1/{b.host}/sessions/{b.session_id}",
                    b.model_dump_json(exclude_none=True).encode(),
                    qos=1,
                    retain=True,
                )
            )
        for info in infos:
            info.wait_for_publish(30)
    finally:
        pub.client.disconnect()
        pub.client.loop_stop()


@pytest.mark.slow
def test_ten_thousand_retained_sessions_rebuilt(own_broker: LocalBroker, tmp: Path) -> None:
    """With the repo's broker config, an aggregator started after 10,000 retained beats has all."""
    publish_retained(own_broker, SESSIONS)
    with running(own_broker, tmp) as (service, api):
        wait_until(
            lambda: len(service.state.sessions) >= SESSIONS, timeout=120, what="10,000 sessions"
        )
        summary = httpx.get(f"{api.url}/summary", timeout=30).json()
        listed: list[dict[str, object]] = []
        query: dict[str, str | int] = {"all": "true", "limit": 1000}
        while True:  # every page, as a script reads them
            page = httpx.get(f"{api.url}/sessions", params=query, timeout=60)
            listed += page.json()
            if "X-Next-Cursor" not in page.headers:
                break
            query["cursor"] = page.headers["X-Next-Cursor"]
        counters = service.snapshot().counters
    assert summary["total"] == SESSIONS
    assert len(summary["by_host"]) == HOSTS
    assert len({(v["host"], v["session_id"]) for v in listed}) == SESSIONS
    assert sum(counters.rejected.values()) == 0
    assert counters.accepted == SESSIONS
