"""Per-host limits and wire ranges (issue 12, item 5): pure core tests, no broker."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from sessionbeat import topics
from sessionbeat.aggregator.state import (
    AggregatorState,
    Limits,
    Message,
    Outcome,
    Timings,
    apply,
    expire,
)
from sessionbeat.aggregator.views import list_hosts
from sessionbeat.errors import RejectReason
from sessionbeat.models import MAX_CONTEXT_TOKENS, MAX_SEQUENCE, HostState, HostStatus
from tests.aggregator.support import at, beat

DAY = 86400


def send(state: AggregatorState, host: str, sid: str, now: datetime, **fields: object) -> Outcome:
    b = beat(host, sid, sent_at=now, **fields)  # type: ignore[arg-type]
    payload = b.model_dump_json(exclude_none=True).encode()
    return apply(state, Message(topics.session_topic(host, sid), payload), now).outcome


def status(state: AggregatorState, host: str, state_: HostState, now: datetime) -> None:
    body = HostStatus(host=host, state=state_, bdseq=1).model_dump_json().encode()
    apply(state, Message(topics.status_topic(host), body), now)


@pytest.fixture
def state() -> AggregatorState:
    return AggregatorState(timings=Timings(), limits=Limits(max_sessions_per_host=3))


def test_a_host_cannot_have_more_live_sessions_than_its_limit(state: AggregatorState) -> None:
    """A host's fourth session is refused and counted; its three and other hosts go on."""
    outcomes = [send(state, "a", f"s{i}", at(0)) for i in range(5)]
    assert outcomes == [Outcome.ACCEPTED] * 3 + [Outcome.REJECTED] * 2
    assert state.counters.rejected == {RejectReason.TOO_MANY_SESSIONS: 2}
    assert send(state, "a", "s0", at(1), seq=2, status="needs_approval") is Outcome.ACCEPTED
    assert send(state, "b", "s9", at(1)) is Outcome.ACCEPTED
    assert sorted(state.sessions) == [("a", "s0"), ("a", "s1"), ("a", "s2"), ("b", "s9")]


def test_a_session_leaving_makes_room_for_a_new_one(state: AggregatorState) -> None:
    """Once a session of a full host is cleared or reaped, a new one is accepted."""
    for i in range(3):
        send(state, "a", f"s{i}", at(0), status="ended" if i == 0 else "working")
    assert send(state, "a", "new1", at(1)) is Outcome.REJECTED
    apply(state, Message(topics.session_topic("a", "s1"), b""), at(1))
    assert send(state, "a", "new1", at(2)) is Outcome.ACCEPTED
    assert [r.key for r in expire(state, at(400))] == [("a", "s0")]  # ended_linger 300 s
    assert send(state, "a", "new2", at(401)) is Outcome.ACCEPTED
    assert send(state, "a", "new3", at(401)) is Outcome.REJECTED


def test_a_flood_of_sessions_from_one_host_stays_bounded() -> None:
    """10,000 retained sessions of one host: 500 kept (the default limit), the rest refused."""
    state = AggregatorState()
    for i in range(10_000):
        b = beat("flood", f"s{i}", seq=1)
        payload = b.model_dump_json(exclude_none=True).encode()
        apply(state, Message(topics.session_topic("flood", f"s{i}"), payload, True), at(0))
    assert len(state.sessions) == 500
    assert state.hosts["flood"].sessions == 500
    assert state.counters.rejected[RejectReason.TOO_MANY_SESSIONS] == 9_500


def test_offline_hosts_without_sessions_are_forgotten_after_host_reap_after() -> None:
    """102 phantom hosts (offline, no sessions) are gone after a day; live and busy ones stay."""
    state = AggregatorState(timings=Timings(host_reap_after=DAY))
    for i in range(102):
        status(state, f"phantom{i}", HostState.OFFLINE, at(0))
    status(state, "up", HostState.ONLINE, at(0))
    status(state, "busy", HostState.OFFLINE, at(0))
    send(state, "busy", "s1", at(0), status="needs_approval")
    send(state, "busy", "s1", at(DAY - 10), seq=2)  # its session is still live a day later
    gone: list[str] = []
    expire(state, at(DAY - 1), gone_hosts=gone)
    assert gone == []
    expire(state, at(DAY), gone_hosts=gone)
    assert sorted(gone) == sorted(f"phantom{i}" for i in range(102))
    assert state.counters.hosts_reaped == 102
    assert sorted(state.hosts) == ["busy", "up"]
    assert [h.host for h in list_hosts(state, at(DAY))] == ["busy", "up"]


def test_a_host_known_only_from_sessions_leaves_with_them() -> None:
    """A host that never sent a status disappears from /hosts with its last session, as before."""
    state = AggregatorState()
    send(state, "quiet", "s1", at(0))
    assert [h.host for h in list_hosts(state, at(0))] == ["quiet"]
    gone: list[str] = []
    expire(state, at(1800), gone_hosts=gone)
    assert state.sessions == {} and list_hosts(state, at(1800)) == [] and gone == []


def test_clearing_a_host_status_keeps_its_session_count(state: AggregatorState) -> None:
    """An emptied status topic does not reset the host's count: its limit still holds."""
    status(state, "a", HostState.ONLINE, at(0))
    for i in range(3):
        send(state, "a", f"s{i}", at(0))
    apply(state, Message(topics.status_topic("a"), b""), at(1))
    assert send(state, "a", "s3", at(2)) is Outcome.REJECTED
    assert [h.state for h in list_hosts(state, at(2))] == [None]


def _good() -> dict[str, object]:
    data: dict[str, object] = json.loads(beat("a", "s1").model_dump_json())
    return data


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("context_tokens", MAX_CONTEXT_TOKENS, True),
        ("context_tokens", MAX_CONTEXT_TOKENS + 1, False),
        ("context_tokens", -1, False),
        ("context_window", MAX_CONTEXT_TOKENS, True),
        ("context_window", 10**15, False),
        ("seq", MAX_SEQUENCE, True),
        ("seq", MAX_SEQUENCE + 1, False),
        ("bdseq", MAX_SEQUENCE, True),
        ("bdseq", 2**64, False),
        ("bdseq", -1, False),
        ("subagents", 10_000, True),
        ("subagents", 10**9, False),
    ],
)
def test_wire_values_out_of_range_are_rejected(field: str, value: int, ok: bool) -> None:
    """Counters and token counts outside their range are refused as schema errors."""
    state = AggregatorState()
    payload = json.dumps({**_good(), field: value}).encode()
    applied = apply(state, Message(topics.session_topic("a", "s1"), payload), at(0))
    if ok:
        assert applied.outcome is Outcome.ACCEPTED
    else:
        assert (applied.outcome, applied.reason) == (Outcome.REJECTED, RejectReason.SCHEMA)
