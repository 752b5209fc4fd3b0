"""GET /sessions in pages and GET /overview folded and cached, over real HTTP (issue 15, part 1)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionbeat import topics
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.aggregator.state import Message
from sessionbeat.aggregator.views import SessionFilter
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import HostState, HostStatus, Overview
from tests.aggregator.support import T0, ManualClock, ServedApi, beat, running


@pytest.fixture
def served(
    broker: LocalBroker, tmp: Path, clock: ManualClock
) -> Iterator[tuple[AggregatorService, ServedApi]]:
    with running(broker, tmp, clock=clock) as pair:
        yield pair


def _beat(service: AggregatorService, host: str, sid: str, i: int, **fields: Any) -> None:
    b = beat(host, sid, sent_at=T0 - timedelta(milliseconds=i), bdseq=1, **fields)
    service.ingest(Message(topics.session_topic(host, sid), b.model_dump_json().encode()))


def _host(service: AggregatorService, host: str, state: HostState) -> None:
    status = HostStatus(host=host, state=state, bdseq=1, sent_at=T0)
    service.ingest(Message(topics.status_topic(host), status.model_dump_json().encode()))


def _fleet(service: AggregatorService, hosts: int, per_host: int) -> None:
    for h in range(hosts):
        _host(service, f"pg{h}", HostState.ONLINE)
        for s in range(per_host):
            status = "needs_approval" if s % 7 == 0 else "working"
            _beat(service, f"pg{h}", f"s{s:03d}", h * per_host + s, status=status, repo=f"r{s % 3}")


def _next(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        assert "x-next-cursor" not in response.headers
        return None
    url = re.fullmatch(r'<(.+)>; rel="next"', link)
    assert url is not None, link
    assert response.headers["x-next-cursor"] in url[1]
    return url[1]


def _all_pages(url: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """Follow the Link headers from the first page; return (items, pages, X-Total-Count)."""
    items: list[dict[str, Any]] = []
    response = httpx.get(url, params=params)
    pages = 1
    total = int(response.headers["x-total-count"])
    while True:
        assert response.status_code == 200, response.text
        items += response.json()
        nxt = _next(response)
        if nxt is None:
            return items, pages, total
        response = httpx.get(nxt)
        pages += 1


def test_paging_through_1000_sessions_yields_each_once_in_order(
    served: tuple[AggregatorService, ServedApi],
) -> None:
    """A client following Link: rel=next gets every session exactly once, in /sessions order."""
    service, api = served
    _fleet(service, hosts=10, per_host=100)
    expected = [(v.host, v.session_id) for v in service.sessions()]
    assert sum(h.startswith("pg") for h, _s in expected) == 1000  # (the broker is shared)
    items, pages, total = _all_pages(f"{api.url}/sessions", {"limit": 37})
    assert [(v["host"], v["session_id"]) for v in items] == expected
    assert (pages, total) == (-(-len(expected) // 37), len(expected))
    first = httpx.get(f"{api.url}/sessions")
    assert len(first.json()) == 100  # the default page
    assert first.json()[0]["status"] == "needs_approval"


def test_filters_apply_on_the_server_across_pages(
    served: tuple[AggregatorService, ServedApi],
) -> None:
    """host, repo and status filter every page; X-Total-Count counts the matches."""
    service, api = served
    _fleet(service, hosts=4, per_host=60)
    items, _pages, total = _all_pages(f"{api.url}/sessions", {"host": "pg2", "limit": 7})
    assert {v["host"] for v in items} == {"pg2"} and total == len(items) == 60
    items, _pages, total = _all_pages(f"{api.url}/sessions", {"repo": "r1", "limit": 9})
    assert {v["repo"] for v in items} == {"r1"} and total == len(items) == 80
    items, _pages, total = _all_pages(
        f"{api.url}/sessions", {"status": "needs_approval", "limit": 5}
    )
    assert {v["status"] for v in items} == {"needs_approval"} and total == len(items) == 36


def test_a_bad_cursor_is_a_400_with_a_clear_detail(
    served: tuple[AggregatorService, ServedApi],
) -> None:
    """A cursor the aggregator did not issue is refused with 400 and a detail, not a 500."""
    _, api = served
    response = httpx.get(f"{api.url}/sessions", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]
    assert httpx.get(f"{api.url}/sessions", params={"limit": 0}).status_code == 422


def test_overview_folds_hosts_and_keeps_every_approval(
    served: tuple[AggregatorService, ServedApi],
) -> None:
    """Every approval is in attention even past the first page; only hosts to look at are listed."""
    service, api = served
    _fleet(service, hosts=6, per_host=70)  # 10 approvals per host, 60 others
    _host(service, "pg5", HostState.OFFLINE)
    _host(service, "quiet", HostState.ONLINE)
    overview = Overview.model_validate_json(httpx.get(f"{api.url}/overview").content)
    mine = {f"pg{i}" for i in range(6)} | {"quiet"}  # the broker is shared with other tests
    approvals = [v for v in overview.attention if v.host in mine]
    assert len(approvals) == 50  # pg5's approvals show offline now
    assert {v.status for v in overview.attention} == {"needs_approval"}
    assert len(overview.sessions) == 50
    assert "needs_approval" not in {v.status for v in overview.sessions}
    assert overview.summary.needs_approval == len(overview.attention)
    assert {h.host for h in overview.hosts} & mine == {"pg0", "pg1", "pg2", "pg3", "pg4", "pg5"}
    every = service.hosts()
    assert overview.hosts_total == len(every)
    assert overview.hosts_by_state == dict(Counter(h.state.value for h in every if h.state))
    # the cursor continues GET /sessions?all=true after the overview's first page
    assert overview.next_cursor is not None
    rest, _pages, _total = _all_pages(
        f"{api.url}/sessions", {"all": "true", "cursor": overview.next_cursor, "limit": 1000}
    )
    seen = [(v.host, v.session_id) for v in (*overview.attention, *overview.sessions)]
    seen += [(v["host"], v["session_id"]) for v in rest]
    everything = service.sessions(SessionFilter(all=True))
    assert sorted(seen) == sorted((v.host, v.session_id) for v in everything)
    assert len(seen) == len(set(seen)) >= 420
    small = Overview.model_validate_json(httpx.get(f"{api.url}/overview?limit=5").content)
    assert len(small.sessions) == 5 and len(small.attention) == len(overview.attention)


def test_overview_bytes_are_cached_until_the_state_changes(
    served: tuple[AggregatorService, ServedApi], clock: ManualClock
) -> None:
    """Many readers get the same bytes until a change; after one (and the bound) new bytes."""
    service, api = served
    _fleet(service, hosts=2, per_host=5)
    first = httpx.get(f"{api.url}/overview").content
    assert httpx.get(f"{api.url}/overview").content == first
    builds = service.overview_cache.builds
    _beat(service, "pg0", "new", 0)
    clock.advance(0.2)  # within min_interval: the cached bytes still serve
    assert httpx.get(f"{api.url}/overview").content == first
    clock.advance(0.4)
    changed = httpx.get(f"{api.url}/overview").content
    assert changed != first and b'"new"' in changed
    assert service.overview_cache.builds == builds + 1
    clock.advance(0.5)  # no change, younger than max_age
    assert httpx.get(f"{api.url}/overview").content == changed
    clock.advance(0.6)  # no change but older than max_age: durations moved on
    assert httpx.get(f"{api.url}/overview").content != changed
