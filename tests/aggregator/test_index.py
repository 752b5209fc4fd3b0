"""The state's indices give the same answers as a walk of every session (issue 15, part 0).

The reference functions below are the walks the aggregator did before the indices (every
session's effective status at ``now``); random message sequences and clock advances must give
the same lists, pages, totals and host counts, and ``expire`` (due times only) must leave no
session whose status or reaping a full pass would change.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionbeat import topics
from sessionbeat.aggregator import paging, views
from sessionbeat.aggregator.snapshot import take_snapshot
from sessionbeat.aggregator.state import (
    AggregatorState,
    Message,
    Timings,
    apply,
    effective_status,
    expire,
)
from sessionbeat.models import HostState, HostStatus, SessionStatus
from tests.aggregator.support import T0, beat

HOSTS = ["h1", "h2", "h3"]
SIDS = ["s1", "s2", "s3", "s4"]
TIMINGS = Timings(
    stale_after=60, idle_after=90, reap_after=400, ended_linger=100, host_reap_after=500
)


def _brute_list(state: AggregatorState, now: datetime, flt: views.SessionFilter) -> list[Any]:
    """The old GET /sessions: every session's view, filtered, sorted."""
    out = []
    for (host, _sid), record in state.sessions.items():
        if flt.host is not None and host != flt.host:
            continue
        if flt.repo is not None and record.beat.repo != flt.repo:
            continue
        view = views.session_view(record, state.hosts.get(host), now, state)
        if flt.status is not None:
            if view.status != flt.status:
                continue
        elif not flt.all and view.status in views.HIDDEN_BY_DEFAULT:
            continue
        out.append(view)
    rank = {s: i for i, s in enumerate(views.STATUS_ORDER)}
    out.sort(key=lambda v: (rank[v.status], -v.sent_at.timestamp(), v.host, v.session_id))
    return out


def _brute_summary(state: AggregatorState, now: datetime) -> dict[str, Any]:
    """The old summary's counting parts: a walk of every session."""
    by_status: Counter[str] = Counter()
    by_host: Counter[str] = Counter()
    pcts, subagents, stale = [], 0, 0
    for (host, _sid), record in state.sessions.items():
        status = effective_status(record, state.hosts.get(host), now, state.timings)
        stale += status is SessionStatus.STALE
        if status in views.HIDDEN_BY_DEFAULT:
            continue
        by_status[status.value] += 1
        by_host[host] += 1
        subagents += record.beat.subagents
        pct = views.context_pct(record.beat.context_tokens, record.beat.context_window)
        if pct is not None and status is not SessionStatus.OFFLINE:
            pcts.append(pct)
    return {
        "by_status": dict(by_status),
        "by_host": dict(by_host),
        "subagents": subagents,
        "stale": stale,
        "top_context_pct": sorted(pcts, reverse=True)[:2],
        "total": sum(by_status.values()),
    }


def _brute_host_counts(state: AggregatorState, now: datetime) -> dict[str, tuple[int, int]]:
    """Per host: (live sessions shown by default, sessions needing approval)."""
    out: dict[str, tuple[int, int]] = {}
    for name in set(state.hosts) | {h for h, _s in state.sessions}:
        shown = approvals = 0
        for (host, _sid), record in state.sessions.items():
            if host != name:
                continue
            status = effective_status(record, state.hosts.get(host), now, state.timings)
            shown += status not in views.HIDDEN_BY_DEFAULT
            approvals += status is SessionStatus.NEEDS_APPROVAL
        out[name] = (shown, approvals)
    return out


def _ids(items: list[Any]) -> list[tuple[str, str]]:
    return [(v.host, v.session_id) for v in items]


session_step = st.tuples(
    st.just("beat"),
    st.sampled_from(HOSTS),
    st.sampled_from(SIDS),
    st.sampled_from(["working", "needs_approval", "waiting_for_input", "ended", "unknown"]),
    st.booleans(),  # retained replay
    st.integers(min_value=0, max_value=200),  # seconds of quiet before sent_at (hook activity)
    st.sampled_from([None, "web", "api"]),
    st.integers(min_value=0, max_value=3),  # subagents
    st.sampled_from([None, 1000, 50000, 150000]),  # context tokens
)
host_step = st.tuples(
    st.just("host"),
    st.sampled_from(HOSTS),
    st.sampled_from(["online", "offline", "clear"]),
    st.integers(min_value=0, max_value=3),
)
remove_step = st.tuples(st.just("remove"), st.sampled_from(HOSTS), st.sampled_from(SIDS))
steps = st.lists(
    st.tuples(
        st.one_of(session_step, host_step, remove_step),
        st.integers(min_value=0, max_value=150),  # seconds the clock moves first
        st.booleans(),  # run a reaper pass after
    ),
    max_size=30,
)


def _message(step: tuple[Any, ...], now: datetime, seq: int) -> Message:
    kind = step[0]
    if kind == "beat":
        _k, host, sid, status, retained, quiet, repo, subagents, tokens = step
        b = beat(
            host,
            sid,
            status=status,
            seq=seq,
            bdseq=0,
            sent_at=now,
            last_activity_at=now - timedelta(seconds=quiet),
            status_source="hook",
            repo=repo,
            subagents=subagents,
            context_tokens=tokens,
            context_window=200000 if tokens else None,
        )
        return Message(
            topics.session_topic(host, sid),
            b.model_dump_json().encode(),
            retained,
            expiry=300.0 if retained else None,
        )
    if kind == "host":
        _k, host, word, bdseq = step
        topic = topics.status_topic(host)
        if word == "clear":
            return Message(topic, b"")
        status = HostStatus(host=host, state=HostState(word), bdseq=bdseq, sent_at=now)
        return Message(topic, status.model_dump_json().encode())
    _k, host, sid = step
    return Message(topics.session_topic(host, sid), b"")


def _check(state: AggregatorState, now: datetime) -> None:
    """Every indexed answer equals the walk at ``now``."""
    for flt in (
        views.SessionFilter(),
        views.SessionFilter(all=True),
        views.SessionFilter(host="h1"),
        views.SessionFilter(repo="web", all=True),
        views.SessionFilter(status=SessionStatus.STALE),
        views.SessionFilter(status=SessionStatus.IDLE),
        views.SessionFilter(status=SessionStatus.OFFLINE),
    ):
        expected = _brute_list(state, now, flt)
        assert views.list_sessions(state, now, flt) == expected
        # the same list in pages of 2, each continuing after the last key
        paged: list[Any] = []
        after = None
        while True:
            items, page = views.sessions_page(state, now, flt, after=after, limit=2)
            assert page.total == len(expected)
            paged += items
            if page.next_key is None:
                break
            after = page.next_key
        assert _ids(paged) == _ids(expected)
    summary = views.summarize(state, now, broker_connected=True)
    brute = _brute_summary(state, now)
    assert {k: getattr(summary, k) for k in brute} == brute
    hosts = {h.host: (h.sessions, h.needs_approval) for h in views.list_hosts(state, now)}
    assert hosts == _brute_host_counts(state, now)
    snapshot = take_snapshot(state, now, broker_connected=True)
    counted = {
        (h.host, repo, status): n
        for h in snapshot.sessions
        for (repo, status), n in h.counts.items()
    }
    walked: Counter[tuple[str, str | None, SessionStatus]] = Counter()
    for (host, _sid), record in state.sessions.items():
        derived = effective_status(record, state.hosts.get(host), now, state.timings)
        walked[(host, record.beat.repo, derived)] += 1
    assert counted == dict(walked)
    for sid in SIDS:
        matches = [r for (_h, s), r in state.sessions.items() if s == sid]
        newest = max(matches, key=lambda r: (r.received_at, r.beat.host), default=None)
        assert views.find_session(state, sid) is newest


@settings(max_examples=100, deadline=None)
@given(steps)
def test_indexed_answers_equal_a_walk_of_every_session(
    batch: list[tuple[tuple[Any, ...], int, bool]],
) -> None:
    """Lists, pages, totals, host and metrics counts match a full recomputation at every instant."""
    state = AggregatorState(timings=TIMINGS)
    now = T0
    for seq, (step, advance, reap) in enumerate(batch, start=1):
        now += timedelta(seconds=advance)
        apply(state, _message(step, now, seq), now)
        _check(state, now)
        if reap:
            expire(state, now)
            # nothing a full pass would still change or reap
            for (host, _sid), record in state.sessions.items():
                status = effective_status(record, state.hosts.get(host), now, state.timings)
                assert status == record.effective
                if status is SessionStatus.ENDED:
                    assert (now - record.status_since).total_seconds() < TIMINGS.ended_linger
                else:
                    assert (now - record.last_seen).total_seconds() < TIMINGS.reap_after
            _check(state, now)
        _check(state, now + timedelta(seconds=advance))


def test_a_host_going_offline_changes_only_its_own_sessions() -> None:
    """A host's Last Will turns its sessions offline and leaves every other host's untouched."""
    state = AggregatorState()
    for host in ("a", "b"):
        status = HostStatus(host=host, state=HostState.ONLINE, bdseq=1, sent_at=T0)
        apply(state, Message(topics.status_topic(host), status.model_dump_json().encode()), T0)
        for sid in ("s1", "s2"):
            b = beat(host, sid, bdseq=1, sent_at=T0)
            apply(state, Message(topics.session_topic(host, sid), b.model_dump_json().encode()), T0)
    later = T0 + timedelta(seconds=5)
    will = HostStatus(host="a", state=HostState.OFFLINE, bdseq=1)
    apply(state, Message(topics.status_topic("a"), will.model_dump_json().encode()), later)
    statuses = {key: r.effective for key, r in state.sessions.items()}
    assert statuses == {
        ("a", "s1"): SessionStatus.OFFLINE,
        ("a", "s2"): SessionStatus.OFFLINE,
        ("b", "s1"): SessionStatus.WORKING,
        ("b", "s2"): SessionStatus.WORKING,
    }
    assert [c.status for c in state.sessions[("b", "s1")].timeline] == [SessionStatus.WORKING]


def test_a_bad_cursor_is_refused() -> None:
    """A cursor that was not issued by the aggregator is refused with a clear error."""
    key = (1, -1748779200.0, "h1", "s1")
    assert paging.decode_cursor(paging.encode_cursor(key)) == key
    for bad in ("", "!!!", paging.encode_cursor((9, 0.0, "h", "s")), "WzEsMl0"):
        try:
            paging.decode_cursor(bad)
        except paging.CursorError:
            continue
        raise AssertionError(f"accepted {bad!r}")
