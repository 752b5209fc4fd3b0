"""The aggregator's pure state core: ``apply`` a message, ``expire`` by time. No I/O, no clock.

Both functions take the state and a ``now`` (aware UTC datetime) and return what happened; the
caller (``aggregator/service.py``) owns the lock, the MQTT client and the clock. The state is
updated in place and the same object stays valid: copying 10,000 sessions per message would
make a cold start quadratic (see docs/architecture.md).

Rules (docs/architecture.md "Status model"):

* beats of one session are ordered by ``(sent_at, seq)``; an older or equal one never overwrites;
* a host's ``offline`` whose ``bdseq`` is older than its last ``online`` is a late Will: ignored;
* effective status: ``ended`` > ``offline`` (host down, for sessions last heard from before
  the host's death: a live beat received afterwards proves the host is back) > ``stale``
  (nothing received for
  ``stale_after``) > ``idle`` (hook-sourced working/waiting_for_input without hook activity for
  ``idle_after``) > the published status. ``needs_approval`` never becomes idle;
* reaped: ``ended`` for ``ended_linger``, or nothing received for ``reap_after``.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from sessionbeat import topics
from sessionbeat.errors import PayloadError, RejectReason, TopicError
from sessionbeat.exporter.snapshot import Counters
from sessionbeat.models import (
    HostState,
    HostStatus,
    PublishedStatus,
    SessionBeat,
    SessionStatus,
    StatusSource,
)
from sessionbeat.wire import parse_host_status, parse_session_beat

TOPIC_CACHE_SIZE = 1 << 17
"""Parsed topics remembered (valid ones only): parsing costs ~1 us, a cache hit ~0.1 us."""

_parse_topic = functools.lru_cache(maxsize=TOPIC_CACHE_SIZE)(topics.parse)

TIMELINE_LENGTH = 50
"""Status changes kept per session (oldest dropped first)."""

SessionKey = tuple[str, str]
"""``(host, session_id)``: a session is identified by both (ids are only unique per host)."""


@dataclass(frozen=True, slots=True)
class Timings:
    """The aggregator's thresholds in seconds (docs/architecture.md defaults).

    ``stale_delta`` and ``idle_delta`` are the same thresholds as ``timedelta`` (derived), so
    the per-message status check compares timedeltas without converting them.
    """

    stale_after: float = 120.0
    idle_after: float = 300.0
    reap_after: float = 1800.0
    ended_linger: float = 300.0
    stale_delta: timedelta = field(init=False, repr=False, compare=False)
    idle_delta: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stale_delta", timedelta(seconds=self.stale_after))
        object.__setattr__(self, "idle_delta", timedelta(seconds=self.idle_after))


@dataclass(slots=True)
class Message:
    """An MQTT message as delivered: topic, raw payload bytes, and the retained flag.

    Not frozen: it is built once per received message and a frozen dataclass costs a third of
    a microsecond more to build (the ingest path's budget is a few microseconds).
    """

    topic: str
    payload: bytes
    retained: bool = False


class Change(NamedTuple):
    """One effective-status change in a record's timeline (aggregator clock).

    A plain tuple, not the API's :class:`~sessionbeat.models.StatusChange`: building a pydantic
    model per change cost about a microsecond on the ingest path. ``views`` converts them.
    """

    at: datetime
    status: SessionStatus
    event: str | None


@dataclass(slots=True)
class SessionRecord:
    """What the aggregator knows of one session.

    ``received_at`` is the aggregator's clock at the last accepted beat; ``last_seen`` is the
    same for live messages, but for a retained replay (cold start) the beat's ``sent_at`` (never
    later than now), so a dead session does not look fresh after a restart.
    """

    beat: SessionBeat
    received_at: datetime
    last_seen: datetime
    effective: SessionStatus
    status_since: datetime
    timeline: deque[Change] = field(default_factory=lambda: deque(maxlen=TIMELINE_LENGTH))
    accepted: Applied | None = None


@dataclass(slots=True)
class HostRecord:
    """What the aggregator knows of one host: its last accepted status message."""

    host: str
    state: HostState | None = None
    bdseq: int | None = None
    since: datetime | None = None
    last_seen: datetime | None = None
    status: HostStatus | None = None


@dataclass(slots=True)
class AggregatorState:
    """All live state: sessions by ``(host, session_id)``, hosts by id, counters, thresholds."""

    timings: Timings = field(default_factory=Timings)
    sessions: dict[SessionKey, SessionRecord] = field(default_factory=dict)
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    last_message_at: datetime | None = None


class Outcome(StrEnum):
    """What ``apply`` did with a message."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    OUT_OF_ORDER = "out_of_order"
    STALE_DEATH = "stale_death"
    REMOVED = "removed"
    NOTHING = "nothing"


@dataclass(slots=True)
class Applied:
    """Result of ``apply``: the outcome, the reject reason/detail, and a removed record if any.

    Not frozen, for the same reason as :class:`Message`; treat it as read-only: the result of
    an accepted beat is one object per session, returned again for each of its beats.
    """

    outcome: Outcome
    reason: RejectReason | None = None
    detail: str | None = None
    removed: SessionRecord | None = None
    key: SessionKey | None = None


@dataclass(frozen=True, slots=True)
class Reaped:
    """A session taken out of the live state by ``expire``, with why (``ended`` or ``expired``)."""

    key: SessionKey
    record: SessionRecord
    reason: str


_ZERO = timedelta(0)
_AS_SESSION_STATUS = {p: SessionStatus(p.value) for p in PublishedStatus}


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def idle_seconds(record: SessionRecord, now: datetime) -> float | None:
    """Seconds since the session's last hook activity, measured without cross-host clock skew.

    ``(sent_at - last_activity_at)`` is on the host's clock, ``(now - last_seen)`` on ours.
    Returns None when the host never reported an activity time.
    """
    beat = record.beat
    if beat.last_activity_at is None:
        return None
    return max(0.0, _seconds(beat.sent_at - beat.last_activity_at)) + max(
        0.0, _seconds(now - record.last_seen)
    )


def effective_status(
    record: SessionRecord, host: HostRecord | None, now: datetime, timings: Timings
) -> SessionStatus:
    """Derive the status the API shows for one session at ``now`` (rules in the module doc).

    Runs once per accepted message and once per session per reaper pass, so it compares
    timedeltas and identities only (no float conversion, no Enum lookup by value).
    """
    beat = record.beat
    published = beat.status
    if published is PublishedStatus.ENDED:
        return SessionStatus.ENDED
    if (
        host is not None
        and host.state is HostState.OFFLINE
        and (host.since is None or record.last_seen <= host.since)
    ):
        # Offline covers what was last heard before the host's death. A live beat received
        # after it proves the host is connected again (e.g. replaying its spool before the
        # birth): that beat's own status is shown.
        return SessionStatus.OFFLINE
    silent = now - record.last_seen
    if silent > timings.stale_delta:
        return SessionStatus.STALE
    activity = beat.last_activity_at
    if (
        activity is not None
        and (published is PublishedStatus.WORKING or published is PublishedStatus.WAITING_FOR_INPUT)
        and beat.status_source is StatusSource.HOOK
    ):
        quiet = beat.sent_at - activity
        idle = (quiet if quiet > _ZERO else _ZERO) + (silent if silent > _ZERO else _ZERO)
        if idle > timings.idle_delta:
            return SessionStatus.IDLE
    return _AS_SESSION_STATUS[published]


def _set_effective(
    record: SessionRecord, status: SessionStatus, now: datetime, event: str | None
) -> bool:
    if status == record.effective:
        return False
    record.effective = status
    record.status_since = now
    record.timeline.append(Change(now, status, event))
    return True


def _reject(state: AggregatorState, reason: RejectReason, detail: str) -> Applied:
    state.counters.rejected[reason] += 1
    return Applied(Outcome.REJECTED, reason=reason, detail=detail)


def apply(state: AggregatorState, message: Message, now: datetime) -> Applied:
    """Apply one MQTT message to ``state`` at time ``now`` (updated in place).

    Returns an :class:`Applied` saying whether the message was accepted, rejected (with the
    :class:`RejectReason`, also counted in ``state.counters.rejected``), ignored as older than
    what is known (``out_of_order``) or as a late Will (``stale_death``), or removed a session
    (zero-length payload). Never raises for bad input.
    """
    counters = state.counters
    counters.received += 1
    state.last_message_at = now
    try:
        parsed = _parse_topic(message.topic)
    except TopicError as exc:
        return _reject(state, RejectReason.BAD_TOPIC, str(exc))
    try:
        if parsed.kind is topics.TopicKind.STATUS:
            if not message.payload:
                state.hosts.pop(parsed.host, None)
                counters.accepted += 1
                return Applied(Outcome.REMOVED)
            return _apply_host(state, parse_host_status(message.payload, parsed.host), message, now)
        assert parsed.session_id is not None
        key = (parsed.host, parsed.session_id)
        if not message.payload:
            removed = state.sessions.pop(key, None)
            counters.accepted += 1
            if removed is None:
                return Applied(Outcome.NOTHING, key=key)
            counters.removed += 1
            return Applied(Outcome.REMOVED, removed=removed, key=key)
        beat = parse_session_beat(message.payload, parsed.host, parsed.session_id)
    except PayloadError as exc:
        return _reject(state, exc.reason, exc.detail)
    return _apply_beat(state, key, beat, message.retained, now)


def cause(beat: SessionBeat) -> str | None:
    """Return what decided a beat's status, for the timeline.

    The hook event's name, or ``registry <word>`` when Claude Code's registry decided (e.g.
    ``registry busy`` after an approval at the terminal, which fires no hook).
    """
    if beat.status_source is StatusSource.REGISTRY and beat.registry_status:
        return f"registry {beat.registry_status}"
    return beat.event


def _apply_beat(
    state: AggregatorState, key: SessionKey, beat: SessionBeat, retained: bool, now: datetime
) -> Applied:
    counters = state.counters
    record = state.sessions.get(key)
    if record is not None and (beat.sent_at, beat.seq) <= (record.beat.sent_at, record.beat.seq):
        counters.out_of_order += 1
        return Applied(Outcome.OUT_OF_ORDER, key=key)
    last_seen = min(now, beat.sent_at) if retained else now
    counters.accepted += 1
    if (
        not retained
        and not beat.heartbeat
        and beat.event
        and beat.last_activity_at is not None
        and (record is None or record.beat.last_activity_at != beat.last_activity_at)
    ):
        counters.hook_events[beat.event] += 1
    host = state.hosts.get(beat.host)
    if record is None:
        record = SessionRecord(
            beat=beat,
            received_at=now,
            last_seen=last_seen,
            effective=SessionStatus.UNKNOWN,
            status_since=now,
        )
        state.sessions[key] = record
        status = effective_status(record, host, now, state.timings)
        record.effective = status
        record.timeline.append(Change(now, status, cause(beat)))
        record.accepted = Applied(Outcome.ACCEPTED, key=key)
        return record.accepted
    record.beat = beat
    record.received_at = now
    record.last_seen = last_seen
    _set_effective(record, effective_status(record, host, now, state.timings), now, cause(beat))
    return record.accepted or Applied(Outcome.ACCEPTED, key=key)


def _apply_host(
    state: AggregatorState, status: HostStatus, message: Message, now: datetime
) -> Applied:
    record = state.hosts.get(status.host)
    if record is None:
        record = HostRecord(host=status.host)
        state.hosts[status.host] = record
    if (
        status.state is HostState.OFFLINE
        and record.state is HostState.ONLINE
        and record.bdseq is not None
        and status.bdseq < record.bdseq
    ):
        state.counters.stale_deaths += 1
        return Applied(Outcome.STALE_DEATH)
    state.counters.accepted += 1
    if record.state is not status.state or record.since is None:
        since = now
        if message.retained and status.sent_at is not None:
            since = min(now, status.sent_at)
        record.since = since
    record.state = status.state
    record.bdseq = status.bdseq
    record.last_seen = now
    record.status = status
    for (host, _sid), session in state.sessions.items():
        if host == status.host:
            new = effective_status(session, record, now, state.timings)
            _set_effective(session, new, now, session.beat.event)
    return Applied(Outcome.ACCEPTED)


def expire(
    state: AggregatorState, now: datetime, changed: list[SessionKey] | None = None
) -> list[Reaped]:
    """Advance time to ``now``: update derived statuses and reap dead sessions.

    Records derived changes (idle, stale) in each session's timeline, removes sessions ``ended``
    for more than ``ended_linger`` seconds (reason ``ended``) or not heard from for more than
    ``reap_after`` seconds (reason ``expired``), counts them in ``state.counters.reaped`` and
    returns them so the caller can write the history and clear their retained topics. When
    ``changed`` is a list, the keys of the sessions whose effective status changed (and that
    stay live) are appended to it, so the caller can tell its readers.
    """
    timings = state.timings
    reaped: list[Reaped] = []
    for key, record in list(state.sessions.items()):
        status = effective_status(record, state.hosts.get(key[0]), now, timings)
        moved = _set_effective(record, status, now, record.beat.event)
        reason: str | None = None
        if status is SessionStatus.ENDED:
            if _seconds(now - record.status_since) >= timings.ended_linger:
                reason = "ended"
        elif _seconds(now - record.last_seen) >= timings.reap_after:
            reason = "expired"
        if reason is not None:
            del state.sessions[key]
            state.counters.reaped[reason] += 1
            reaped.append(Reaped(key, record, reason))
        elif moved and changed is not None:
            changed.append(key)
    return reaped
