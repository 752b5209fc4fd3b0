"""The pure aggregator core: apply/expire with an injected time, no broker."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from sessionbeat import topics
from sessionbeat.aggregator.state import (
    AggregatorState,
    Message,
    Outcome,
    Timings,
    apply,
    effective_status,
    expire,
)
from sessionbeat.errors import RejectReason
from sessionbeat.models import (
    MAX_PAYLOAD_BYTES,
    HostState,
    HostStatus,
    PublishedStatus,
    SessionStatus,
    StatusSource,
)
from tests.aggregator.support import T0, at, beat
from tests.aggregator.support import beat_message as msg

TIMINGS = Timings(stale_after=120, idle_after=300, reap_after=1800, ended_linger=300)
H = "kai-server"


def status_msg(state: HostState, bdseq: int, retained: bool = False) -> Message:
    payload = HostStatus(host=H, state=state, bdseq=bdseq, sent_at=T0).model_dump_json()
    return Message(topics.status_topic(H), payload.encode(), retained)


def status_of(state: AggregatorState, sid: str, now: datetime) -> SessionStatus:
    record = state.sessions[(H, sid)]
    return effective_status(record, state.hosts.get(H), now, state.timings)


@pytest.fixture
def state() -> AggregatorState:
    return AggregatorState(timings=TIMINGS)


def test_newer_beat_replaces_older(state: AggregatorState) -> None:
    """A beat with a later sent_at replaces the known one."""
    apply(state, msg(beat(H, "s1", seq=1, sent_at=at(0), tool="Read")), at(0))
    applied = apply(state, msg(beat(H, "s1", seq=2, sent_at=at(1), tool="Bash")), at(1))
    assert applied.outcome is Outcome.ACCEPTED
    assert state.sessions[(H, "s1")].beat.tool == "Bash"


def test_older_beat_never_overwrites_newer(state: AggregatorState) -> None:
    """A beat sent earlier (a spool replay) arriving later is ignored and counted."""
    apply(state, msg(beat(H, "s1", seq=5, sent_at=at(10), tool="Bash")), at(10))
    applied = apply(state, msg(beat(H, "s1", seq=9, sent_at=at(5), tool="Read")), at(11))
    assert applied.outcome is Outcome.OUT_OF_ORDER
    assert state.sessions[(H, "s1")].beat.tool == "Bash"
    assert state.counters.out_of_order == 1


def test_same_sent_at_is_ordered_by_seq(state: AggregatorState) -> None:
    """Two beats with the same sent_at are ordered by seq; a duplicate is not applied twice."""
    apply(state, msg(beat(H, "s1", seq=2, sent_at=at(0), tool="A")), at(0))
    lower = apply(state, msg(beat(H, "s1", seq=1, sent_at=at(0), tool="B")), at(0))
    same = apply(state, msg(beat(H, "s1", seq=2, sent_at=at(0), tool="C")), at(0))
    higher = apply(state, msg(beat(H, "s1", seq=3, sent_at=at(0), tool="D")), at(0))
    assert (lower.outcome, same.outcome, higher.outcome) == (
        Outcome.OUT_OF_ORDER,
        Outcome.OUT_OF_ORDER,
        Outcome.ACCEPTED,
    )
    assert state.sessions[(H, "s1")].beat.tool == "D"


@pytest.mark.parametrize("published", [PublishedStatus.WORKING, PublishedStatus.WAITING_FOR_INPUT])
def test_hook_sourced_session_goes_idle_after_idle_after(
    state: AggregatorState, published: PublishedStatus
) -> None:
    """Working / waiting_for_input with no hook activity for idle_after becomes idle."""
    b = beat(H, "s1", status=published, last_activity_at=at(0), sent_at=at(0))
    apply(state, msg(b), at(0))
    # heartbeats keep it fresh (not stale) while the hook activity gets older
    for t in range(30, 301, 30):
        keep = b.model_copy(update={"seq": t, "sent_at": at(t), "heartbeat": True})
        apply(state, msg(keep), at(t))
    assert status_of(state, "s1", at(300)) is SessionStatus(published.value)
    keep = b.model_copy(update={"seq": 999, "sent_at": at(330), "heartbeat": True})
    apply(state, msg(keep), at(330))
    assert status_of(state, "s1", at(330)) is SessionStatus.IDLE


def test_needs_approval_never_goes_idle(state: AggregatorState) -> None:
    """A session waiting for approval stays needs_approval however long it waits."""
    b = beat(H, "s1", status="needs_approval", last_activity_at=at(0), sent_at=at(0))
    apply(state, msg(b), at(0))
    for t in range(30, 3601, 30):
        keep = b.model_copy(update={"seq": t, "sent_at": at(t), "heartbeat": True})
        apply(state, msg(keep), at(t))
    assert status_of(state, "s1", at(3600)) is SessionStatus.NEEDS_APPROVAL


def test_registry_sourced_status_is_not_idle(state: AggregatorState) -> None:
    """A status from Claude Code's registry is authoritative and never decays to idle."""
    b = beat(
        H,
        "s1",
        status="waiting_for_input",
        status_source=StatusSource.REGISTRY,
        last_activity_at=at(0),
        sent_at=at(1000),
    )
    apply(state, msg(b), at(1000))
    assert status_of(state, "s1", at(1000)) is SessionStatus.WAITING_FOR_INPUT


def test_stale_after_stale_after_of_silence(state: AggregatorState) -> None:
    """Nothing received for stale_after seconds makes a session stale."""
    apply(state, msg(beat(H, "s1", sent_at=at(0))), at(0))
    assert status_of(state, "s1", at(120)) is SessionStatus.WORKING
    assert status_of(state, "s1", at(121)) is SessionStatus.STALE


def test_host_offline_makes_its_sessions_offline(state: AggregatorState) -> None:
    """A host's offline status (Last Will) turns all its live sessions offline at once."""
    apply(state, status_msg(HostState.ONLINE, 3), at(0))
    apply(state, msg(beat(H, "s1")), at(0))
    apply(state, msg(beat(H, "s2", status="needs_approval")), at(0))
    apply(state, status_msg(HostState.OFFLINE, 3), at(1))
    assert {status_of(state, s, at(1)) for s in ("s1", "s2")} == {SessionStatus.OFFLINE}
    apply(state, status_msg(HostState.ONLINE, 4), at(2))
    assert status_of(state, "s2", at(2)) is SessionStatus.NEEDS_APPROVAL


def test_live_beat_after_the_will_shows_again(state: AggregatorState) -> None:
    """A live beat received after the host's Will is shown; silent sessions stay offline."""
    apply(state, status_msg(HostState.ONLINE, 3), at(0))
    apply(state, msg(beat(H, "s1")), at(0))
    apply(state, msg(beat(H, "s2")), at(0))
    apply(state, status_msg(HostState.OFFLINE, 3), at(5))
    replayed = beat(H, "s1", status="needs_approval", seq=2, sent_at=at(3))
    apply(state, msg(replayed), at(10))
    assert status_of(state, "s1", at(10)) is SessionStatus.NEEDS_APPROVAL
    assert status_of(state, "s2", at(10)) is SessionStatus.OFFLINE
    # A retained copy of an old beat (cold start) does not count as a sign of life.
    cold = AggregatorState(timings=TIMINGS)
    will = HostStatus(host=H, state=HostState.OFFLINE, bdseq=3)  # a Will has no sent_at
    apply(cold, Message(topics.status_topic(H), will.model_dump_json().encode(), True), at(100))
    apply(cold, msg(replayed, retained=True), at(100))
    assert status_of(cold, "s1", at(100)) is SessionStatus.OFFLINE


def test_late_will_with_older_bdseq_is_ignored(state: AggregatorState) -> None:
    """An offline whose bdseq is older than the last online (a late Will) does not kill the host."""
    apply(state, status_msg(HostState.ONLINE, 7), at(0))
    apply(state, msg(beat(H, "s1")), at(0))
    applied = apply(state, status_msg(HostState.OFFLINE, 6), at(1))
    assert applied.outcome is Outcome.STALE_DEATH
    assert state.counters.stale_deaths == 1
    assert state.hosts[H].state is HostState.ONLINE
    assert status_of(state, "s1", at(1)) is SessionStatus.WORKING


def test_retained_replay_is_aged_by_its_message_expiry(state: AggregatorState) -> None:
    """After a restart, a retained beat the broker has held 200 s is stale; a live one is fresh."""
    old = beat(H, "s1", sent_at=at(0))
    apply(state, msg(old, retained=True, expiry=TIMINGS.reap_after - 200), at(200))
    assert state.sessions[(H, "s1")].last_seen == at(0)
    assert status_of(state, "s1", at(200)) is SessionStatus.STALE
    fresh = AggregatorState(timings=TIMINGS)
    apply(fresh, msg(old, retained=False), at(200))
    assert fresh.sessions[(H, "s1")].last_seen == at(200)


def test_the_same_retained_beat_twice_changes_nothing_the_second_time(
    state: AggregatorState,
) -> None:
    """A cold start delivers each retained beat twice: the copy is out of order, the view kept."""
    first = msg(beat(H, "s1", seq=3, status="needs_approval"), retained=True)
    assert apply(state, first, at(0)).outcome is Outcome.ACCEPTED
    record = state.sessions[(H, "s1")]
    again = Message(first.topic, bytes(first.payload), retained=True, expiry=first.expiry)
    assert apply(state, again, at(1)).outcome is Outcome.OUT_OF_ORDER
    assert state.counters.out_of_order == 1
    assert record.received_at == at(0)
    newer = msg(beat(H, "s1", seq=4, status="working"), retained=True)
    assert apply(state, newer, at(2)).outcome is Outcome.ACCEPTED
    assert status_of(state, "s1", at(2)) is SessionStatus.WORKING


def test_expire_reaps_ended_after_linger(state: AggregatorState) -> None:
    """An ended session stays visible for ended_linger seconds, then is reaped as 'ended'."""
    apply(state, msg(beat(H, "s1", status="ended", end_reason="prompt_input_exit")), at(0))
    for t in (30, 60, 120, 240):  # keep it fresh: only the linger can reap it
        apply(state, msg(beat(H, "s1", status="ended", seq=t, sent_at=at(t))), at(t))
    assert expire(state, at(299)) == []
    reaped = expire(state, at(300))
    assert [(r.key, r.reason) for r in reaped] == [((H, "s1"), "ended")]
    assert (H, "s1") not in state.sessions
    assert state.counters.reaped["ended"] == 1


def test_expire_reaps_silent_sessions_after_reap_after(state: AggregatorState) -> None:
    """A session silent for reap_after seconds is reaped as 'expired', others stay."""
    apply(state, msg(beat(H, "s1", sent_at=at(0))), at(0))
    apply(state, msg(beat(H, "s2", sent_at=at(1000))), at(1000))
    assert expire(state, at(1799)) == []
    reaped = expire(state, at(1800))
    assert [(r.key, r.reason) for r in reaped] == [((H, "s1"), "expired")]
    assert list(state.sessions) == [(H, "s2")]


def test_expire_records_derived_changes(state: AggregatorState) -> None:
    """expire() writes derived transitions to the timeline and reports the changed keys."""
    apply(state, msg(beat(H, "s1", sent_at=at(0))), at(0))
    changed: list[tuple[str, str]] = []
    expire(state, at(121), changed)
    assert changed == [(H, "s1")]
    timeline = [c.status for c in state.sessions[(H, "s1")].timeline]
    assert timeline == [SessionStatus.WORKING, SessionStatus.STALE]
    again: list[tuple[str, str]] = []
    expire(state, at(122), again)
    assert again == []


def test_zero_length_payload_removes_a_session(state: AggregatorState) -> None:
    """A zero-length retained payload removes the session and hands back its record."""
    apply(state, msg(beat(H, "s1", repo="web")), at(0))
    applied = apply(state, Message(topics.session_topic(H, "s1"), b"", True), at(1))
    assert applied.outcome is Outcome.REMOVED
    assert applied.removed is not None and applied.removed.beat.repo == "web"
    assert state.sessions == {}
    unknown = apply(state, Message(topics.session_topic(H, "nope"), b"", True), at(1))
    assert unknown.outcome is Outcome.NOTHING


def _good() -> dict[str, object]:
    data: dict[str, object] = json.loads(beat(H, "s1").model_dump_json())
    return data


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("other/v1/kai-server/sessions/s1", json.dumps(_good()).encode(), RejectReason.BAD_TOPIC),
        ("sessionbeat/v1/kai server/status", b"{}", RejectReason.BAD_TOPIC),
        ("sessionbeat/v1/kai-server/sessions/s1/x", b"{}", RejectReason.BAD_TOPIC),
        (
            "sessionbeat/v1/kai-server/sessions/s1",
            b" " * (MAX_PAYLOAD_BYTES + 1),
            RejectReason.TOO_LARGE,
        ),
        ("sessionbeat/v1/kai-server/sessions/s1", b"{not json", RejectReason.BAD_JSON),
        ("sessionbeat/v1/kai-server/sessions/s1", b'{"v": 1}', RejectReason.SCHEMA),
        (
            "sessionbeat/v1/kai-server/sessions/s1",
            json.dumps({**_good(), "status": "sleeping"}).encode(),
            RejectReason.SCHEMA,
        ),
        (
            "sessionbeat/v1/other-host/sessions/s1",
            json.dumps(_good()).encode(),
            RejectReason.HOST_MISMATCH,
        ),
        (
            "sessionbeat/v1/kai-server/sessions/s2",
            json.dumps(_good()).encode(),
            RejectReason.SESSION_MISMATCH,
        ),
        ("sessionbeat/v1/kai-server/status", b"[1, 2]", RejectReason.SCHEMA),
        (
            "sessionbeat/v1/other-host/status",
            b'{"v":1,"host":"kai-server","state":"online","bdseq":1}',
            RejectReason.HOST_MISMATCH,
        ),
    ],
)
def test_each_rejection_reason_is_counted(
    state: AggregatorState, topic: str, payload: bytes, reason: RejectReason
) -> None:
    """Every kind of bad message is rejected with its own reason and changes nothing."""
    applied = apply(state, Message(topic, payload), at(0))
    assert (applied.outcome, applied.reason) == (Outcome.REJECTED, reason)
    assert state.counters.rejected == {reason: 1}
    assert state.sessions == {}


def test_unknown_fields_are_kept(state: AggregatorState) -> None:
    """A payload with fields from a newer publisher is accepted (forward compatibility)."""
    payload = json.dumps({**_good(), "new_field": {"x": 1}}).encode()
    applied = apply(state, Message(topics.session_topic(H, "s1"), payload), at(0))
    assert applied.outcome is Outcome.ACCEPTED


def test_hook_events_count_live_activity_only(state: AggregatorState) -> None:
    """Hook events are counted for new activity, not for heartbeats or retained replays."""
    b = beat(H, "s1", event="PreToolUse", last_activity_at=at(0), sent_at=at(0))
    apply(state, msg(b, retained=True), at(0))
    apply(state, msg(b.model_copy(update={"seq": 2, "sent_at": at(1)})), at(1))
    keep = b.model_copy(update={"seq": 3, "sent_at": at(31), "heartbeat": True})
    apply(state, msg(keep), at(31))
    nxt = b.model_copy(
        update={"seq": 4, "sent_at": at(40), "event": "Stop", "last_activity_at": at(40)}
    )
    apply(state, msg(nxt), at(40))
    assert dict(state.counters.hook_events) == {"Stop": 1}
