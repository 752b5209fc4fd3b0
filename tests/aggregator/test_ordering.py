"""Order and expiry do not depend on the senders' clocks (issue 12, item 3): pure core tests.

Beats are ordered by the agent's birth epoch (``bdseq``) and ``seq``; staleness and expiry run on
the aggregator's clock; each host's clock skew is estimated from its live messages.
"""

from __future__ import annotations

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
from sessionbeat.models import HostState, HostStatus, SessionStatus
from tests.aggregator.support import at, beat
from tests.aggregator.support import beat_message as msg

TIMINGS = Timings(stale_after=120, idle_after=300, reap_after=1800, ended_linger=300)
H = "kai-server"
HOUR = 3600


def birth(bdseq: int, sent_at: datetime | None = None) -> Message:
    status = HostStatus(host=H, state=HostState.ONLINE, bdseq=bdseq, sent_at=sent_at)
    return Message(topics.status_topic(H), status.model_dump_json().encode())


def status_of(state: AggregatorState, sid: str, now: datetime) -> SessionStatus:
    record = state.sessions[(H, sid)]
    return effective_status(record, state.hosts.get(H), now, state.timings)


@pytest.fixture
def state() -> AggregatorState:
    return AggregatorState(timings=TIMINGS)


def test_beat_dated_an_hour_ahead_does_not_block_later_beats(state: AggregatorState) -> None:
    """A beat stamped +1 h by a wrong clock does not hide the next real needs_approval."""
    apply(state, msg(beat(H, "s1", bdseq=4, seq=5, sent_at=at(HOUR))), at(0))
    applied = apply(
        state, msg(beat(H, "s1", bdseq=4, seq=6, status="needs_approval", sent_at=at(1))), at(1)
    )
    assert applied.outcome is Outcome.ACCEPTED
    assert status_of(state, "s1", at(1)) is SessionStatus.NEEDS_APPROVAL


def test_host_clock_stepping_back_does_not_freeze_its_sessions(state: AggregatorState) -> None:
    """After the host's clock steps back 1 h its sessions still change status."""
    for seq, t in ((1, 0), (2, 10), (3, 20)):
        apply(state, msg(beat(H, "s1", bdseq=1, seq=seq, sent_at=at(t))), at(t))
    stepped = beat(H, "s1", bdseq=1, seq=4, status="waiting_for_input", sent_at=at(30 - HOUR))
    assert apply(state, msg(stepped), at(30)).outcome is Outcome.ACCEPTED
    assert status_of(state, "s1", at(30)) is SessionStatus.WAITING_FOR_INPUT


def test_older_or_equal_seq_in_the_same_epoch_is_ignored(state: AggregatorState) -> None:
    """A replay or duplicate (same epoch, seq not higher) never overwrites, whatever its date."""
    apply(state, msg(beat(H, "s1", bdseq=2, seq=7, tool="Bash", sent_at=at(0))), at(0))
    older = apply(state, msg(beat(H, "s1", bdseq=2, seq=6, tool="Read", sent_at=at(HOUR))), at(1))
    same = apply(state, msg(beat(H, "s1", bdseq=2, seq=7, tool="Edit", sent_at=at(HOUR))), at(1))
    assert (older.outcome, same.outcome) == (Outcome.OUT_OF_ORDER, Outcome.OUT_OF_ORDER)
    assert state.sessions[(H, "s1")].beat.tool == "Bash"


def test_a_later_epoch_wins_over_a_higher_seq(state: AggregatorState) -> None:
    """A beat of the agent's next connection (bdseq + 1) wins even if its seq restarted."""
    apply(state, msg(beat(H, "s1", bdseq=2, seq=50, sent_at=at(0))), at(0))
    newer = beat(H, "s1", bdseq=3, seq=1, status="needs_approval", sent_at=at(-HOUR))
    assert apply(state, msg(newer), at(5)).outcome is Outcome.ACCEPTED
    late = beat(H, "s1", bdseq=2, seq=51, sent_at=at(HOUR))
    assert apply(state, msg(late), at(6)).outcome is Outcome.OUT_OF_ORDER
    assert status_of(state, "s1", at(6)) is SessionStatus.NEEDS_APPROVAL


def test_a_resumed_session_restarting_its_seq_is_accepted(state: AggregatorState) -> None:
    """A session the agent forgot and saw again (new started_at, seq from 1) is shown."""
    apply(state, msg(beat(H, "s1", bdseq=2, seq=40, status="ended", started_at=at(0))), at(0))
    resumed = beat(
        H, "s1", bdseq=2, seq=1, status="waiting_for_input", started_at=at(100), sent_at=at(100)
    )
    assert apply(state, msg(resumed), at(100)).outcome is Outcome.ACCEPTED
    assert status_of(state, "s1", at(100)) is SessionStatus.WAITING_FOR_INPUT


def test_an_agent_whose_bdseq_was_reset_is_heard_again(state: AggregatorState) -> None:
    """After the agent lost its state dir (bdseq back to 0), its new birth lets its beats in."""
    apply(state, birth(57), at(0))
    apply(state, msg(beat(H, "s1", bdseq=57, seq=300, sent_at=at(0))), at(0))
    apply(state, birth(0), at(10))
    fresh = beat(H, "s1", bdseq=0, seq=1, status="needs_approval", sent_at=at(10))
    assert apply(state, msg(fresh), at(10)).outcome is Outcome.ACCEPTED
    assert status_of(state, "s1", at(10)) is SessionStatus.NEEDS_APPROVAL


def test_beats_without_bdseq_keep_the_sent_at_order(state: AggregatorState) -> None:
    """Agents of 0.1.0 send no bdseq: their beats are still ordered by (sent_at, seq)."""
    apply(state, msg(beat(H, "s1", seq=5, sent_at=at(10), tool="Bash")), at(10))
    older = apply(state, msg(beat(H, "s1", seq=9, sent_at=at(5), tool="Read")), at(11))
    upgraded = apply(state, msg(beat(H, "s1", bdseq=0, seq=1, sent_at=at(0), tool="Edit")), at(12))
    assert (older.outcome, upgraded.outcome) == (Outcome.OUT_OF_ORDER, Outcome.ACCEPTED)
    assert state.sessions[(H, "s1")].beat.tool == "Edit"


def test_live_beats_dated_an_hour_back_are_fresh(state: AggregatorState) -> None:
    """A host 1 h behind: its live sessions are neither stale nor reaped while it beats."""
    for t in range(0, 2000, 30):
        apply(state, msg(beat(H, "s1", bdseq=1, seq=t + 1, sent_at=at(t - HOUR))), at(t))
        assert expire(state, at(t)) == []
    assert status_of(state, "s1", at(1980)) is SessionStatus.WORKING


def test_retained_replay_of_a_host_an_hour_behind_is_not_reaped(state: AggregatorState) -> None:
    """After a restart, retained beats of a host 1 h behind are not expired at once."""
    fresh = beat(H, "s1", bdseq=1, seq=3, sent_at=at(-HOUR))
    apply(state, msg(fresh, retained=True, expiry=1795), at(0))
    assert expire(state, at(0)) == []
    assert status_of(state, "s1", at(0)) is SessionStatus.WORKING
    assert expire(state, at(1794)) == []
    assert [r.reason for r in expire(state, at(1795))] == ["expired"]


def test_retained_replay_age_comes_from_the_message_expiry(state: AggregatorState) -> None:
    """A retained beat the broker has held 200 s (expiry left 1600 of 1800) is stale at once."""
    ahead = beat(H, "s1", bdseq=1, seq=3, sent_at=at(HOUR))
    apply(state, msg(ahead, retained=True, expiry=1600), at(1000))
    assert state.sessions[(H, "s1")].last_seen == at(800)
    assert status_of(state, "s1", at(1000)) is SessionStatus.STALE
    assert [r.reason for r in expire(state, at(2600))] == ["expired"]


def test_retained_replay_without_expiry_counts_from_receipt(state: AggregatorState) -> None:
    """A retained beat with no Message Expiry (a hand-made one) ages from when it arrived."""
    apply(state, msg(beat(H, "s1", sent_at=at(-HOUR)), retained=True), at(0))
    assert state.sessions[(H, "s1")].last_seen == at(0)
    assert expire(state, at(1799)) == []


def test_host_clock_skew_is_estimated_from_live_messages(state: AggregatorState) -> None:
    """The skew a host shows is its clock minus ours, from live beats; replays do not move it."""
    apply(state, birth(1, sent_at=at(HOUR - 0.01)), at(0))
    for t in range(1, 40):
        delay = 0.05 if t % 3 else 0.8  # transit time varies; the least delayed sample wins
        sent = at(t + HOUR - delay)
        apply(state, msg(beat(H, "s1", bdseq=1, seq=t, sent_at=sent)), at(t))
    spooled = beat(H, "s2", bdseq=1, seq=1, sent_at=at(HOUR - 600))  # replayed 10 min late
    apply(state, msg(spooled), at(40))
    apply(state, msg(beat(H, "s3", bdseq=1, seq=1, sent_at=at(0)), retained=True), at(40))
    skew = state.hosts[H].skew.seconds
    assert skew == pytest.approx(HOUR - 0.01)


def test_host_clock_skew_follows_a_clock_step(state: AggregatorState) -> None:
    """When the host's clock steps back 1 h, its skew estimate follows within two minutes."""
    for t in range(0, 300, 10):
        shift = 0 if t < 100 else -HOUR
        apply(state, msg(beat(H, "s1", bdseq=1, seq=t + 1, sent_at=at(t + shift))), at(t))
    skew = state.hosts[H].skew.seconds
    assert skew == pytest.approx(-HOUR)
