"""The page with more sessions than the overview's first page (streamlit.testing AppTest).

A real aggregator (in-process, its clock standing still) over HTTP holds 60 working sessions
on one host, an approval on another and one session on each of two more hosts: more than
the 50 of ``GET /overview``'s first page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import HostState, Overview
from tests.aggregator.support import T0, Publisher, beat, running, unique_host, wait_until
from tests.conftest import short_tmpdir
from tests.dashboard.test_page import headers, markdown, run_page

BIG = 60
"""Working sessions on the busy host."""


@dataclass(frozen=True)
class Fleet:
    """The aggregator's URL, the busy host (``big-00`` .. ``big-59``, oldest first), the others."""

    url: str
    busy: str
    asking: str
    quiet: tuple[str, str]


@pytest.fixture(scope="module")
def fleet(broker: LocalBroker) -> Iterator[Fleet]:
    publisher = Publisher(broker)
    busy, asking = unique_host("busy"), unique_host("asking")
    quiet = (unique_host("quiet"), unique_host("quiet"))
    try:
        with running(broker, short_tmpdir()) as (_service, api):
            for bdseq, host in enumerate((busy, asking, *quiet), 1):
                publisher.status(host, HostState.ONLINE, bdseq)
            for i in range(BIG):
                sent = T0 - timedelta(seconds=BIG - i)
                publisher.beat(beat(busy, f"big-{i:02d}", repo="big", sent_at=sent))
            publisher.beat(
                beat(asking, "ask-1", status="needs_approval", repo="small", tool="Bash")
            )
            for host in quiet:
                publisher.beat(beat(host, f"{host}-1", repo="calm"))
            wait_until(
                lambda: int(httpx.get(f"{api.url}/sessions").headers["x-total-count"]) >= BIG + 3,
                15,
            )
            yield Fleet(api.url, busy, asking, quiet)
    finally:
        publisher.close()


def overview(url: str) -> Overview:
    return Overview.model_validate_json(httpx.get(f"{url}/overview").content)


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def test_the_first_page_says_how_many_and_show_more_adds_the_rest(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unfiltered: approvals and the first 50, "Showing 51 of 63 sessions"; Show more adds."""
    at = run_page(monkeypatch, fleet.url)
    seen = overview(fleet.url)
    held = len(seen.attention) + len(seen.sessions)
    total = sum(seen.summary.by_status.values())
    assert total > held
    assert f"Showing {held} of {total:,} sessions" in captions(at)
    working = seen.summary.by_status["working"]
    assert any(h.startswith("#### ● Working (") and f" of {working:,})" in h for h in headers(at))
    assert "session=big-00" not in markdown(at)  # the oldest is beyond the first page
    at.button(key="more").click().run()
    assert not at.exception, at.exception
    assert "session=big-00" in markdown(at)
    assert not any(c.startswith("Showing ") for c in captions(at)) or total > held + 50


def test_a_host_filter_is_applied_by_the_server_with_its_own_pages(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?host= lists that host's first 50 of 60 from GET /sessions, Show more the last 10."""
    at = run_page(monkeypatch, fleet.url, host=fleet.busy)
    assert f"Showing 50 of {BIG} sessions" in captions(at)
    assert headers(at)[0] == "#### ● Working (50)"
    at.button(key="more").click().run()
    assert headers(at)[0] == f"#### ● Working ({BIG})"
    assert "session=big-00" in markdown(at)
    assert not at.button  # nothing more to show
    at.selectbox(key="f_status").set_value("needs_approval").run()  # new filters: first page
    assert at.query_params == {"host": fleet.busy, "status": "needs_approval"}
    assert "session=big-" not in markdown(at)


def test_the_host_strip_shows_who_needs_a_look_and_counts_the_rest(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host with an approval gets a chip; the online rest is one "N more online" chip."""
    at = run_page(monkeypatch, fleet.url)
    seen = overview(fleet.url)
    text = markdown(at)
    assert fleet.asking in text and "⚠ 1" in text
    assert fleet.busy + "</b>" not in text  # online with nothing waiting: folded
    assert f"▲ {seen.hosts_total - len(seen.hosts):,} more online" in text


def test_the_detail_of_a_session_beyond_the_first_page_opens(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?session=big-00 (not in the overview) is read with GET /sessions/{id} and shown live."""
    at = run_page(monkeypatch, fleet.url, session="big-00", shost=fleet.busy)
    assert not at.warning
    assert [c.value for c in at.code][-1] == "claude --resume big-00"
    assert "● working" in markdown(at)  # the timeline
