"""Read models over the state: filters, ordering, summary and its title, hosts, history rows."""

from __future__ import annotations

from datetime import datetime

import pytest

from sessionbeat import topics
from sessionbeat.aggregator import views
from sessionbeat.aggregator.state import AggregatorState, Message, Timings, apply, expire
from sessionbeat.aggregator.views import SessionFilter
from sessionbeat.models import HostState, HostStatus, SessionBeat, SessionStatus, SessionView
from tests.aggregator.support import T0, at, beat


def put(state: AggregatorState, b: SessionBeat, now: datetime = T0) -> None:
    topic = topics.session_topic(b.host, b.session_id)
    apply(state, Message(topic, b.model_dump_json().encode()), now)


@pytest.fixture
def state() -> AggregatorState:
    """Five sessions on two hosts: working, approval, waiting, ended and one gone stale."""
    s = AggregatorState(timings=Timings())
    put(s, beat("a", "old", sent_at=at(-200), repo="web"), at(-200))  # stale at T0
    put(s, beat("a", "w1", sent_at=at(1), repo="web", context_tokens=44000, context_window=200000))
    put(s, beat("a", "ap", status="needs_approval", sent_at=at(0), repo="api", tool="Bash"))
    put(s, beat("b", "wt", status="waiting_for_input", sent_at=at(2), repo="web", subagents=2))
    put(s, beat("b", "en", status="ended", sent_at=at(3), repo="api"))
    return s


def ids(views_: list[SessionView]) -> list[str]:
    return [v.session_id for v in views_]


def test_default_list_hides_stale_and_ended_and_puts_approvals_first(
    state: AggregatorState,
) -> None:
    """GET /sessions order: needs_approval, working, waiting; stale and ended left out."""
    assert ids(views.list_sessions(state, at(5))) == ["ap", "w1", "wt"]


def test_all_adds_stale_and_ended(state: AggregatorState) -> None:
    """all=true shows every live session, hidden statuses last."""
    got = views.list_sessions(state, at(5), SessionFilter(all=True))
    assert ids(got) == ["ap", "w1", "wt", "old", "en"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (SessionFilter(host="b"), ["wt"]),
        (SessionFilter(repo="web"), ["w1", "wt"]),
        (SessionFilter(repo="api", all=True), ["ap", "en"]),
        (SessionFilter(status=SessionStatus.STALE), ["old"]),
        (SessionFilter(status=SessionStatus.ENDED, host="a"), []),
    ],
)
def test_filters_are_exact_matches(
    state: AggregatorState, flt: SessionFilter, expected: list[str]
) -> None:
    """host/repo/status filters combine; asking for a hidden status shows it."""
    assert ids(views.list_sessions(state, at(5), flt)) == expected


def test_session_view_fields(state: AggregatorState) -> None:
    """A view carries the derived numbers: context %, waiting time, last seen."""
    now = at(65)
    approval = views.session_view(state.sessions[("a", "ap")], None, now, state)
    assert approval.waiting_seconds == 65.0
    assert approval.last_seen_seconds == 65.0
    working = views.session_view(state.sessions[("a", "w1")], None, now, state)
    assert working.context_pct == 22.0
    assert working.waiting_seconds is None


def test_summary_counts_and_title(state: AggregatorState) -> None:
    """The summary counts what the default list shows, plus stale; the title is one line."""
    summary = views.summarize(state, at(5), broker_connected=True)
    assert (summary.total, summary.active, summary.stale, summary.needs_approval) == (3, 2, 1, 1)
    assert summary.by_host == {"a": 2, "b": 1}
    assert summary.subagents == 2
    assert summary.top_context_pct == [22.0]
    assert summary.title == "3 sessions · 1 needs you · ctx 22% · 2 subagents"
    assert summary.short_title == "3 sess · ⚠1 · 22% · 2 sub"


@pytest.mark.parametrize(
    ("args", "title", "short"),
    [
        (
            (12, [32.0, 23.0], 1, 1),
            "12 sessions · 1 needs you · ctx 32%/23% · 1 subagent",
            "12 sess · ⚠1 · 32%/23% · 1 sub",
        ),
        ((0, [], 0, 0), "0 sessions", "0 sess"),
        ((1, [10.4], 0, 2), "1 session · 2 need you · ctx 10%", "1 sess · ⚠2 · 10%"),
    ],
)
def test_summary_title(args: tuple[int, list[float], int, int], title: str, short: str) -> None:
    """The title reads without a legend (highest context first); the short form fits a menu bar."""
    assert views.summary_title(*args) == title
    assert views.summary_short_title(*args) == short


def test_hosts_count_live_sessions_and_state(state: AggregatorState) -> None:
    """GET /hosts lists hosts known from sessions or status, with live and approval counts."""
    status = HostStatus(host="c", state=HostState.OFFLINE, bdseq=2, platform="linux")
    apply(state, Message(topics.status_topic("c"), status.model_dump_json().encode()), at(5))
    hosts = {h.host: h for h in views.list_hosts(state, at(5))}
    assert sorted(hosts) == ["a", "b", "c"]
    assert (hosts["a"].sessions, hosts["a"].needs_approval, hosts["a"].state) == (2, 1, None)
    assert (hosts["c"].state, hosts["c"].platform, hosts["c"].sessions) == (
        HostState.OFFLINE,
        "linux",
        0,
    )


def test_a_host_is_last_seen_at_its_last_message_of_any_kind(state: AggregatorState) -> None:
    """Beats keep a host's last_seen moving after its birth; since stays at the birth."""
    birth = HostStatus(host="a", state=HostState.ONLINE, bdseq=1)
    apply(state, Message(topics.status_topic("a"), birth.model_dump_json().encode()), at(5))
    put(state, beat("a", "w1", seq=2, sent_at=at(40), heartbeat=True), at(40))
    host = {h.host: h for h in views.list_hosts(state, at(41))}["a"]
    assert (host.since, host.last_seen) == (at(5), at(40))
    known_from_beats = {h.host: h for h in views.list_hosts(state, at(41))}["b"]
    assert known_from_beats.last_seen == T0  # the beats of b arrived at T0


def test_find_session_without_host_takes_the_newest(state: AggregatorState) -> None:
    """The same session id on two hosts: without a host the beat received last wins."""
    put(state, beat("b", "w1", sent_at=at(-99)), at(9))
    found = views.find_session(state, "w1")
    assert found is not None and found.beat.host == "b"
    on_a = views.find_session(state, "w1", host="a")
    assert on_a is not None and on_a.beat.host == "a"
    assert views.find_session(state, "nope") is None


def test_history_entry_keeps_facts_and_timeline(state: AggregatorState) -> None:
    """A reaped session's history row has its last status, reason and status timeline."""
    reaped = expire(state, at(400))
    by_id = {r.key[1]: r for r in reaped}
    assert by_id["en"].reason == "ended"
    entry = views.history_entry(by_id["en"].record, None, at(400), state, "ended")
    assert (entry.session_id, entry.host, entry.repo, entry.status) == (
        "en",
        "b",
        "api",
        SessionStatus.ENDED,
    )
    assert entry.reaped_at == at(400)
    assert [c.status for c in entry.timeline] == [SessionStatus.ENDED]
