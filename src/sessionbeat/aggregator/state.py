"""The aggregator's pure state core: ``apply`` a message, ``expire`` by time. No I/O, no clock.

Both functions take the state and a ``now`` (aware UTC datetime) and return what happened; the
callers (``aggregator/service.py``, ``reaper.py``) own the lock, the MQTT link and the clock.
The state is updated in place and the same object stays valid: copying 10,000 sessions per
message would make a cold start quadratic (see docs/architecture.md). The records it works on
are declared in :mod:`sessionbeat.aggregator.records` and re-exported here.

Rules (docs/architecture.md "Status model", "Order and time", "Limits"):

* beats of one session are ordered by the agent's birth epoch ``bdseq`` and ``seq``, never by
  a wall clock (:func:`~sessionbeat.aggregator.clocks.is_newer`); an older or equal one never
  overwrites;
* a host's ``offline`` whose ``bdseq`` is older than its last ``online`` is a late Will: ignored;
* times are the aggregator's: "last heard" is when a live beat arrived; a retained replay's age
  comes from the broker's Message Expiry, not from ``sent_at``;
* effective status: ``ended`` > ``offline`` (host down, for sessions last heard from before
  the host's death or only from a retained replay: a live beat received afterwards proves the
  host is back) > ``unreachable`` (the host's site bridge is down, same rule against its
  ``unreachable_since``; :mod:`~sessionbeat.aggregator.sites`) > ``stale`` (nothing
  received for ``stale_after``) > ``idle`` (hook-sourced working/waiting_for_input without
  hook activity for ``idle_after``) > the published status.
  ``needs_approval`` never becomes idle;
* a host has at most ``max_sessions_per_host`` live sessions: a beat of one more is rejected
  (``too_many_sessions``);
* reaped: ``ended`` for ``ended_linger``, or nothing received for ``reap_after``; a host
  offline with no sessions is forgotten after ``host_reap_after``. No session of a host whose
  site is unreachable is reaped (nor turns stale); when the site's bridge is back, their
  stale and reap clocks restart from then (``last_seen`` is moved up to that moment).

Work per message is proportional to what it touches (docs/architecture.md, "Scale"): the
state's :class:`~sessionbeat.aggregator.index.StateIndex` is updated with every change, a host's
status message re-evaluates only that host's sessions, and ``expire`` re-evaluates only the
sessions whose due time (:func:`next_due`) has come.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

from sessionbeat import topics
from sessionbeat.aggregator import sites
from sessionbeat.aggregator.clocks import is_newer, retained_age
from sessionbeat.aggregator.records import (
    TIMELINE_LENGTH,
    AggregatorState,
    Applied,
    Change,
    HostRecord,
    Limits,
    Message,
    Outcome,
    Reaped,
    SessionKey,
    SessionRecord,
    Timings,
)
from sessionbeat.errors import PayloadError, RejectReason, TopicError
from sessionbeat.models import (
    HostState,
    HostStatus,
    PublishedStatus,
    SessionBeat,
    SessionStatus,
    StatusSource,
)
from sessionbeat.wire import parse_host_status, parse_session_beat

__all__ = [
    "TIMELINE_LENGTH",
    "AggregatorState",
    "Applied",
    "Change",
    "HostRecord",
    "Limits",
    "Message",
    "Outcome",
    "Reaped",
    "SessionKey",
    "SessionRecord",
    "Timings",
    "apply",
    "cause",
    "effective_status",
    "expire",
    "idle_seconds",
    "next_due",
]

_ZERO = timedelta(0)
_TICK = timedelta(microseconds=1)
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
        and (record.retained or host.since is None or record.last_seen <= host.since)
    ):
        # Offline covers what was last heard before the host's death, and retained replays.
        # A live beat received after it proves the host is connected again (e.g. replaying its
        # spool before the birth): that beat's own status is shown.
        return SessionStatus.OFFLINE
    if (
        host is not None
        and (hidden := host.unreachable_since) is not None
        and (record.retained or record.last_seen <= hidden)
    ):
        return SessionStatus.UNREACHABLE
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


def next_due(
    record: SessionRecord, host: HostRecord | None, now: datetime, timings: Timings
) -> datetime:
    """Return when ``record``'s derived status may next change or it may be reaped.

    Takes a record whose ``effective`` was just evaluated at ``now``; returns an aware
    datetime never later than the first instant at which :func:`effective_status` or the reap
    rules of :func:`expire` could give another answer without a new message, and not before
    ``now`` (a reap may be due at once). A host's status message re-evaluates
    its sessions itself, so a session shown ``offline`` waits only for its reap time.
    """
    beat = record.beat
    status = record.effective
    if status is SessionStatus.UNREACHABLE:
        # Only its site's bridge notification changes it, and that re-evaluates the host's
        # sessions itself; look again after a reap period all the same.
        return now + timings.reap_delta
    if beat.status is PublishedStatus.ENDED:
        due = record.status_since + timings.linger_delta - _TICK
    else:
        last_seen = record.last_seen
        due = last_seen + timings.reap_delta - _TICK
        if status is not SessionStatus.OFFLINE and status is not SessionStatus.STALE:
            stale = last_seen + timings.stale_delta
            if stale < due:
                due = stale
            activity = beat.last_activity_at
            if (
                status is not SessionStatus.IDLE
                and activity is not None
                and beat.status_source is StatusSource.HOOK
                and (
                    beat.status is PublishedStatus.WORKING
                    or beat.status is PublishedStatus.WAITING_FOR_INPUT
                )
            ):
                quiet = beat.sent_at - activity
                idle = last_seen + timings.idle_delta - (quiet if quiet > _ZERO else _ZERO)
                if idle < due:
                    due = idle
    return due if due > now else now


def _reindex(
    state: AggregatorState,
    key: SessionKey,
    record: SessionRecord,
    host: HostRecord | None,
    now: datetime,
) -> None:
    """Update the index for a record just evaluated at ``now`` and schedule its next due time."""
    index = state.index
    index.update(key, record)
    index.schedule(key, next_due(record, host, now, state.timings))


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
    key = state.topic_keys.get(message.topic)
    try:
        if key is None:
            if message.topic.startswith(topics.SITES_ROOT):
                return _apply_bridge(state, message, now)
            try:
                parsed = topics.parse(message.topic)
            except TopicError as exc:
                return _reject(state, RejectReason.BAD_TOPIC, str(exc))
            if parsed.kind is topics.TopicKind.STATUS:
                if not message.payload:
                    _clear_host_status(state, parsed.host)
                    counters.accepted += 1
                    state.index.version += 1
                    return Applied(Outcome.REMOVED)
                status = parse_host_status(message.payload, parsed.host)
                return _apply_host(state, status, message, now)
            assert parsed.session_id is not None
            # One string per host, shared by its sessions' keys and beats (wire.py).
            key = (sys.intern(parsed.host), parsed.session_id)
        host_id, session_id = key
        if not message.payload:
            removed = state.sessions.pop(key, None)
            counters.accepted += 1
            if removed is None:
                return Applied(Outcome.NOTHING, key=key)
            _forget_session(state, key)
            counters.removed += 1
            state.index.version += 1
            return Applied(Outcome.REMOVED, removed=removed, key=key)
        record = state.sessions.get(key)
        if (
            record is not None
            and message.retained
            and record.retained_hash
            and hash(message.payload) == record.retained_hash
        ):
            # The retained beat already applied, delivered again: older-or-equal, as parsing
            # it would find, without parsing it (a cold start gets each one twice).
            counters.out_of_order += 1
            return Applied(Outcome.OUT_OF_ORDER, key=key)
        if record is None:
            host = state.hosts.get(host_id)
            limit = state.limits.max_sessions_per_host
            if host is not None and host.sessions >= limit:
                # Checked before the payload is parsed: a flood of new sessions costs little.
                return _reject(
                    state,
                    RejectReason.TOO_MANY_SESSIONS,
                    f"host {host_id} already has {host.sessions} live sessions (limit {limit})",
                )
        beat = parse_session_beat(message.payload, host_id, session_id)
    except PayloadError as exc:
        return _reject(state, exc.reason, exc.detail)
    return _apply_beat(state, key, record, beat, message, now)


def _forget_session(state: AggregatorState, key: SessionKey) -> None:
    """Drop what the state keeps beside a session that left it: topic, host's count, index."""
    state.topic_keys.pop(topics.session_topic(*key), None)
    state.index.remove(key)
    record = state.hosts.get(key[0])
    if record is not None and record.sessions > 0:
        record.sessions -= 1


def cause(beat: SessionBeat) -> str | None:
    """Return what decided a beat's status, for the timeline.

    The hook event's name, or ``registry <word>`` when Claude Code's registry decided (e.g.
    ``registry busy`` after an approval at the terminal, which fires no hook).
    """
    if beat.status_source is StatusSource.REGISTRY and beat.registry_status:
        return f"registry {beat.registry_status}"
    return beat.event


def _apply_beat(
    state: AggregatorState,
    key: SessionKey,
    record: SessionRecord | None,
    beat: SessionBeat,
    message: Message,
    now: datetime,
) -> Applied:
    counters = state.counters
    host = state.hosts.get(beat.host)
    if record is not None and not is_newer(
        beat, record.beat, host.bdseq if host is not None else None
    ):
        counters.out_of_order += 1
        return Applied(Outcome.OUT_OF_ORDER, key=key)
    retained = message.retained
    if retained:
        age = retained_age(message.expiry, state.timings.reap_after)
        last_seen = now - timedelta(seconds=age) if age else now
    else:
        last_seen = now
    if host is None:
        host = HostRecord(host=beat.host)
        state.hosts[beat.host] = host
    if host.heard is None or last_seen > host.heard:
        host.heard = last_seen
    state.index.version += 1
    if not retained:
        skew = host.skew
        if skew.due is None or now >= skew.due:
            skew.observe(beat.sent_at, now)
    counters.accepted += 1
    if (
        not retained
        and not beat.heartbeat
        and beat.event
        and beat.last_activity_at is not None
        and (record is None or record.beat.last_activity_at != beat.last_activity_at)
    ):
        counters.hook_events[beat.event] += 1
    if record is None:
        record = SessionRecord(
            beat=beat,
            received_at=now,
            last_seen=last_seen,
            effective=SessionStatus.UNKNOWN,
            status_since=now,
            retained=retained,
            retained_hash=hash(message.payload) if retained else 0,
        )
        state.sessions[key] = record
        state.topic_keys[message.topic] = key
        host.sessions += 1
        status = effective_status(record, host, now, state.timings)
        record.effective = status
        record.timeline.append(Change(now, status, cause(beat)))
        record.accepted = Applied(Outcome.ACCEPTED, key=key)
        _reindex(state, key, record, host, now)
        return record.accepted
    record.beat = beat
    record.received_at = now
    record.last_seen = last_seen
    record.retained = retained
    record.retained_hash = hash(message.payload) if retained else 0
    _set_effective(record, effective_status(record, host, now, state.timings), now, cause(beat))
    _reindex(state, key, record, host, now)
    return record.accepted or Applied(Outcome.ACCEPTED, key=key)


def _apply_host(
    state: AggregatorState, status: HostStatus, message: Message, now: datetime
) -> Applied:
    record = state.hosts.get(status.host)
    if record is None:
        record = HostRecord(host=status.host)
        state.hosts[status.host] = record
        state.index.host_known(status.host)
    if (
        status.state is HostState.OFFLINE
        and record.state is HostState.ONLINE
        and record.bdseq is not None
        and status.bdseq < record.bdseq
    ):
        state.counters.stale_deaths += 1
        return Applied(Outcome.STALE_DEATH)
    state.counters.accepted += 1
    state.index.version += 1
    skew = record.skew
    if (
        not message.retained
        and status.sent_at is not None
        and (skew.due is None or now >= skew.due)
    ):
        skew.observe(status.sent_at, now)
    if record.state is not status.state or record.since is None:
        since = now
        if message.retained and status.sent_at is not None:
            since = min(now, status.sent_at)
        record.since = since
    record.state = status.state
    record.bdseq = status.bdseq
    record.last_seen = now
    if record.heard is None or now > record.heard:
        record.heard = now
    record.status = status
    sites.mark(state, record, now)
    _refresh_sessions(state, {status.host}, now, None)
    return Applied(Outcome.ACCEPTED)


def _refresh_sessions(
    state: AggregatorState, hosts: set[str], now: datetime, event: str | None
) -> None:
    """Re-derive the status of every session of ``hosts``; the timeline's cause is ``event``.

    ``event`` None: each session's last hook event. Only those hosts' sessions (the index),
    not a walk of every session in the state.
    """
    index = state.index
    for host in hosts:
        record = state.hosts.get(host)
        for sid in tuple(index.by_host.get(host, ())):
            key = (host, sid)
            session = state.sessions[key]
            new = effective_status(session, record, now, state.timings)
            _set_effective(session, new, now, event or session.beat.event)
            _reindex(state, key, session, record, now)


def _apply_bridge(state: AggregatorState, message: Message, now: datetime) -> Applied:
    """Apply a site's bridge notification, then re-derive the sessions of the hosts it moved."""
    applied, moved, cause_text = sites.apply_notification(state, message, now)
    if applied.outcome is Outcome.ACCEPTED or applied.outcome is Outcome.REMOVED:
        state.index.version += 1
    if moved:
        _refresh_sessions(state, moved, now, cause_text)
    return applied


def _clear_host_status(state: AggregatorState, host: str) -> None:
    """Forget a host's status (its retained status topic was emptied); keep its sessions' count."""
    record = state.hosts.get(host)
    if record is None:
        return
    if record.sessions == 0:
        del state.hosts[host]
        state.index.host_forgotten(host)
        return
    record.state = record.bdseq = record.since = record.last_seen = record.status = None
    # An offline host's sessions are no longer covered: the next expire re-evaluates them.
    for sid in state.index.by_host.get(host, ()):
        state.index.touch((host, sid))


def expire(
    state: AggregatorState,
    now: datetime,
    changed: list[SessionKey] | None = None,
    gone_hosts: list[str] | None = None,
) -> list[Reaped]:
    """Advance time to ``now``: update derived statuses, reap dead sessions and gone hosts.

    Records derived changes (idle, stale) in each session's timeline, removes sessions ``ended``
    for more than ``ended_linger`` seconds (reason ``ended``) or not heard from for more than
    ``reap_after`` seconds (reason ``expired``), counts them in ``state.counters.reaped`` and
    returns them so the caller can write the history and clear their retained topics. When
    ``changed`` is a list, the keys of the sessions whose effective status changed (and that
    stay live) are appended to it, so the caller can tell its readers.

    Then forgets hosts without live sessions: at once a host only known from its (now gone)
    sessions; after ``host_reap_after`` seconds one whose last status message (received that
    long ago) said offline, counted in ``state.counters.hosts_reaped`` and appended to
    ``gone_hosts`` when it is a list, so the caller can clear its retained status topic.
    """
    timings = state.timings
    reaped: list[Reaped] = []
    index = state.index
    sessions = state.sessions
    # Only the sessions whose due time has come (next_due): the others cannot have changed.
    for key in index.pop_due(now):
        record = sessions[key]
        host = state.hosts.get(key[0])
        status = effective_status(record, host, now, timings)
        moved = _set_effective(record, status, now, record.beat.event)
        reason: str | None = None
        if host is not None and host.unreachable_since is not None:
            pass  # its site is unreachable: kept until the bridge is back (module doc)
        elif status is SessionStatus.ENDED:
            if _seconds(now - record.status_since) >= timings.ended_linger:
                reason = "ended"
        elif _seconds(now - record.last_seen) >= timings.reap_after:
            reason = "expired"
        if reason is not None:
            del sessions[key]
            _forget_session(state, key)
            state.counters.reaped[reason] += 1
            reaped.append(Reaped(key, record, reason))
            index.version += 1
            continue
        if moved:
            index.version += 1
            if changed is not None:
                changed.append(key)
        _reindex(state, key, record, host, now)
    _reap_hosts(state, now, gone_hosts)
    return reaped


def _reap_hosts(state: AggregatorState, now: datetime, gone: list[str] | None) -> None:
    """Forget hosts without sessions: status-less ones at once, offline ones after a while."""
    after = state.timings.host_reap_after
    index = state.index
    for name in list(index.sessionless):
        host = state.hosts.get(name)
        if host is None:
            index.host_forgotten(name)
            continue
        if host.sessions:
            continue
        if host.state is None:
            del state.hosts[name]
            index.host_forgotten(name)
            index.version += 1
        elif (
            host.state is HostState.OFFLINE
            and host.last_seen is not None
            and _seconds(now - host.last_seen) >= after
        ):
            del state.hosts[name]
            index.host_forgotten(name)
            index.version += 1
            state.counters.hosts_reaped += 1
            if gone is not None:
                gone.append(name)
