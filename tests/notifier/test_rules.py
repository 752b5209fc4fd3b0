"""The notifier's pure rules: grace, batching, withdrawal, restarts, filters, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sessionbeat.models import (
    HostState,
    HostView,
    NotifyKind,
    PublishedStatus,
    SessionStatus,
    SessionView,
)
from sessionbeat.notifier.policy import Policy
from sessionbeat.notifier.rules import (
    Closed,
    Filtered,
    Rules,
    Send,
    StoredEpisode,
    Withdraw,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def view(
    sid: str = "s1",
    status: SessionStatus = SessionStatus.NEEDS_APPROVAL,
    since: float = 0.0,
    **fields: Any,
) -> SessionView:
    """A session view as the aggregator builds it, ``status`` since T0 + ``since``."""
    published = (
        PublishedStatus(status.value)
        if status.value in PublishedStatus.__members__.values()
        else PublishedStatus.WORKING
    )
    base: dict[str, Any] = {
        "host": "kai-server",
        "session_id": sid,
        "repo": "sessionbeat",
        "branch": "main",
        "tool": "Bash" if status is SessionStatus.NEEDS_APPROVAL else None,
        "detail": "npm test" if status is SessionStatus.NEEDS_APPROVAL else None,
        "status": status,
        "published_status": published,
        "seq": 1,
        "sent_at": at(since),
        "received_at": at(since),
        "context_pct": None,
        "heartbeat": False,
        "host_online": True,
        "age_seconds": 10.0,
        "idle_seconds": 0.0,
        "last_seen_seconds": 0.0,
        "status_since": at(since),
        "waiting_seconds": None,
    }
    base.update(fields)
    return SessionView.model_validate(base)


def sends(actions: list[Any]) -> list[Send]:
    """The Send actions among ``actions``."""
    return [a for a in actions if isinstance(a, Send)]


def test_an_approval_is_sent_once_after_the_grace_period() -> None:
    """A waiting approval is due exactly at grace, once, and never again while it waits."""
    rules = Rules(Policy(grace=5))
    assert rules.observe_session(view(), at(0.1)) == []
    assert rules.due(at(4.9)) == []
    assert rules.next_due(at(1)) == at(5)
    (send,) = rules.due(at(5))
    assert send.kind is NotifyKind.NEEDS_APPROVAL
    assert [ep.session_id for ep in send.episodes] == ["s1"]
    assert send.batch_id.startswith("sb-")
    rules.observe_session(view(), at(6))  # a heartbeat of the same approval
    assert rules.due(at(60)) == []


def test_an_approval_answered_within_grace_sends_nothing() -> None:
    """Answered at the terminal at once: no message, nothing to withdraw."""
    rules = Rules(Policy(grace=5))
    rules.observe_session(view(), at(0))
    assert rules.observe_session(view(status=SessionStatus.WORKING, since=2), at(2)) == []
    assert rules.due(at(10)) == []
    assert rules.pending() == 0


def test_approvals_falling_due_together_make_one_batch() -> None:
    """Three sessions needing approval within the batch window: one message with all three."""
    rules = Rules(Policy(grace=5, batch_window=1))
    for i, since in enumerate((0.0, 0.3, 0.8)):
        rules.observe_session(view(f"s{i}", since=since), at(since))
    rules.observe_session(view("late", since=3), at(3))  # due at 8: not in this batch
    (send,) = rules.due(at(5))
    assert sorted(ep.session_id or "" for ep in send.episodes) == ["s0", "s1", "s2"]
    assert rules.due(at(6)) == []
    (later,) = rules.due(at(8))
    assert [ep.session_id for ep in later.episodes] == ["late"]


def test_a_batch_is_withdrawn_when_every_approval_in_it_is_answered() -> None:
    """Answering one of two batched approvals withdraws nothing; answering both withdraws."""
    rules = Rules(Policy(grace=1))
    rules.observe_session(view("a"), at(0))
    rules.observe_session(view("b"), at(0))
    (send,) = rules.due(at(1))
    first = rules.observe_session(view("a", SessionStatus.WORKING, since=5), at(5))
    assert [type(a) for a in first] == [Closed]
    second = rules.observe_removed("kai-server", "b")
    assert [type(a) for a in second] == [Closed, Withdraw]
    withdraw = second[1]
    assert isinstance(withdraw, Withdraw)
    assert withdraw.batch_id == send.batch_id


def test_a_new_approval_right_after_another_is_a_new_episode() -> None:
    """Another tool asking without a status in between closes the first and opens a second."""
    rules = Rules(Policy(grace=1, session_interval=0))
    rules.observe_session(view(), at(0))
    rules.due(at(1))
    actions = rules.observe_session(view(detail="rm -rf build", since=3), at(3))
    assert [type(a) for a in actions] == [Closed, Withdraw]
    (send,) = rules.due(at(4))
    assert send.episodes[0].facts.detail == "rm -rf build"


def test_a_restart_does_not_send_an_approval_again() -> None:
    """The ledger's open episode with the same tool and detail is adopted, not re-sent."""
    stored = StoredEpisode(
        NotifyKind.NEEDS_APPROVAL, "kai-server", "s1", "Bash|npm test", "sb-old", at(0)
    )
    rules = Rules.restored(Policy(grace=1), [stored])
    assert rules.observe_session(view(since=100), at(100)) == []
    assert rules.due(at(200)) == []
    answered = rules.observe_session(view(status=SessionStatus.WORKING, since=300), at(300))
    assert [type(a) for a in answered] == [Closed, Withdraw]
    assert isinstance(answered[1], Withdraw) and answered[1].batch_id == "sb-old"


def test_a_stored_approval_answered_while_away_is_withdrawn() -> None:
    """A different approval after a restart withdraws the stored one and is sent itself."""
    stored = StoredEpisode(
        NotifyKind.NEEDS_APPROVAL, "kai-server", "s1", "Bash|make", "sb-old", at(0)
    )
    rules = Rules.restored(Policy(grace=1), [stored])
    actions = rules.observe_session(view(since=100), at(100))
    assert [type(a) for a in actions] == [Closed, Withdraw]
    assert len(rules.due(at(101))) == 1


def test_reconcile_withdraws_stored_episodes_never_seen_again() -> None:
    """An episode whose session vanished while the aggregator was down is closed at start."""
    gone = StoredEpisode(NotifyKind.NEEDS_APPROVAL, "h", "gone", "Bash|x", "sb-g", at(0))
    rules = Rules.restored(Policy(), [gone])
    assert [type(a) for a in rules.reconcile()] == [Closed, Withdraw]
    assert rules.reconcile() == []


def test_filters_keep_other_hosts_and_repos_silent() -> None:
    """A host or repo outside the filters is counted as filtered and never sent."""
    rules = Rules(Policy(grace=0, hosts=("kai-*",), repos=("session*",)))
    assert rules.observe_session(view("ok"), at(0)) == []
    assert rules.observe_session(view("other", host="mac"), at(0)) == [
        Filtered(NotifyKind.NEEDS_APPROVAL)
    ]
    assert rules.observe_session(view("norepo", repo=None), at(0)) == [
        Filtered(NotifyKind.NEEDS_APPROVAL)
    ]
    (send,) = rules.due(at(1))
    assert [ep.session_id for ep in send.episodes] == ["ok"]


def test_quiet_hours_hold_messages_until_they_end() -> None:
    """Inside 22:00-07:00 nothing goes out; at 07:00 what still waits goes out as one."""
    zone = ZoneInfo("Europe/Berlin")
    night = datetime(2026, 12, 1, 23, 30, tzinfo=zone).astimezone(UTC)
    policy = Policy(grace=5, quiet=(time(22), time(7)), zone=zone)
    rules = Rules(policy)
    rules.observe_session(view("a", status_since=night), night)
    rules.observe_session(view("b", status_since=night), night)
    assert rules.due(night + timedelta(hours=1)) == []
    morning = datetime(2026, 12, 2, 7, 0, tzinfo=zone).astimezone(UTC)
    assert rules.next_due(night + timedelta(seconds=10)) == morning
    (send,) = rules.due(morning)
    assert len(send.episodes) == 2


def test_quiet_until_handles_spans_inside_one_day_and_across_midnight() -> None:
    """The quiet span's end is found for same-day and overnight spans, None outside."""
    day = Policy(quiet=(time(12), time(13)), zone=UTC)
    assert day.quiet_until(T0) == datetime(2026, 12, 1, 13, tzinfo=UTC)
    assert day.quiet_until(at(3600)) is None
    night = Policy(quiet=(time(22), time(7)), zone=UTC)
    assert night.quiet_until(datetime(2026, 12, 1, 3, tzinfo=UTC)) == datetime(
        2026, 12, 1, 7, tzinfo=UTC
    )
    assert night.quiet_until(datetime(2026, 12, 1, 23, tzinfo=UTC)) == datetime(
        2026, 12, 2, 7, tzinfo=UTC
    )
    assert night.quiet_until(T0) is None


def test_the_rate_limit_delays_a_second_message_about_one_session() -> None:
    """A session pushed a moment ago waits ``session_interval`` before its next push."""
    rules = Rules(Policy(grace=1, session_interval=60))
    rules.observe_session(view(), at(0))
    rules.due(at(1))
    rules.observe_session(view(status=SessionStatus.WORKING, since=2), at(2))
    rules.observe_session(view(detail="make", since=3), at(3))
    assert rules.due(at(10)) == []
    assert rules.next_due(at(10)) == at(61)
    assert len(rules.due(at(61))) == 1


def test_a_long_turn_that_finishes_is_announced_a_short_one_is_not() -> None:
    """turn_finished fires once when working lasted longer than the threshold."""
    rules = Rules(Policy(needs_approval=False, turn_finished_after=600))
    rules.observe_session(view(status=SessionStatus.WORKING, since=0), at(0))
    rules.observe_session(view(status=SessionStatus.WAITING_FOR_INPUT, since=700), at(700))
    (send,) = rules.due(at(700))
    assert send.kind is NotifyKind.TURN_FINISHED
    assert send.episodes[0].facts.worked_seconds == 700
    rules.observe_session(view("short", status=SessionStatus.WORKING, since=800), at(800))
    rules.observe_session(view("short", status=SessionStatus.WAITING_FOR_INPUT, since=900), at(900))
    assert rules.due(at(900)) == []


def host(state: HostState, since: float, sessions: int = 2) -> HostView:
    """A host view in ``state`` since T0 + ``since``."""
    return HostView(
        host="mac",
        state=state,
        since=at(since),
        bdseq=3,
        last_seen=at(since),
        sessions=sessions,
        needs_approval=0,
    )


def test_a_host_offline_longer_than_its_grace_is_announced_and_withdrawn_when_back() -> None:
    """A host's Last Will pushes after offline_grace; its return withdraws the push."""
    rules = Rules(Policy(needs_approval=False, host_offline=True, offline_grace=60))
    rules.observe_host(host(HostState.OFFLINE, 0), at(0))
    assert rules.due(at(59)) == []
    (send,) = rules.due(at(60))
    assert send.kind is NotifyKind.HOST_OFFLINE and send.episodes[0].facts.sessions == 2
    back = rules.observe_host(host(HostState.ONLINE, 100), at(100))
    assert [type(a) for a in back] == [Closed, Withdraw]


def test_a_host_back_within_its_grace_pushes_nothing() -> None:
    """An agent restart (offline, online a second later) makes no noise."""
    rules = Rules(Policy(needs_approval=False, host_offline=True, offline_grace=60))
    rules.observe_host(host(HostState.OFFLINE, 0), at(0))
    rules.observe_host(host(HostState.ONLINE, 1), at(1))
    assert rules.due(at(120)) == []


def test_a_session_working_without_a_sign_of_life_is_stuck() -> None:
    """A working session with no hook for stuck_after seconds is announced once."""
    rules = Rules(Policy(needs_approval=False, stuck_after=900))
    busy = view(status=SessionStatus.WORKING, idle_seconds=100.0)
    stuck = view(status=SessionStatus.WORKING, idle_seconds=1000.0)
    assert rules.scan([busy], at(0)) == []
    rules.scan([stuck], at(0))
    (send,) = rules.due(at(0))
    assert send.kind is NotifyKind.STUCK
    rules.scan([stuck], at(30))
    assert rules.due(at(30)) == []
    alive = rules.observe_session(busy, at(40))
    assert [type(a) for a in alive] == [Closed, Withdraw]


def test_kinds_lists_the_switched_on_kinds() -> None:
    """Only needs_approval is on by default; each switch adds its kind."""
    assert Policy().kinds == [NotifyKind.NEEDS_APPROVAL]
    everything = Policy(turn_finished_after=60, host_offline=True, stuck_after=60)
    assert len(everything.kinds) == 4
