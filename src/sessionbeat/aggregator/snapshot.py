"""A consistent, immutable copy of the aggregator state for readers that must not hold the lock.

The Prometheus collector (``exporter/``) and other bulk readers call the service's
``snapshot()``, which builds a :class:`~sessionbeat.exporter.snapshot.StateSnapshot` under the
lock with :func:`take_snapshot`; everything afterwards works on plain values without touching
the live state. Sessions are aggregated per host while they are walked (counts per repository
and status, the longest approval wait, subagents, context usage buckets): the copy is as large
as the hosts and repositories, not as the sessions.
"""

from __future__ import annotations

import copy
from bisect import bisect_left
from datetime import datetime

from sessionbeat.aggregator import sites
from sessionbeat.aggregator.paging import moved_statuses
from sessionbeat.aggregator.state import AggregatorState
from sessionbeat.exporter.snapshot import CONTEXT_BUCKETS, HostFacts, HostSessions, StateSnapshot
from sessionbeat.models import LIVE_STATUSES, SessionStatus


def take_snapshot(state: AggregatorState, now: datetime, broker_connected: bool) -> StateSnapshot:
    """Aggregate every session and copy every host at ``now`` (call it under the state's lock).

    Returns a :class:`StateSnapshot` whose ``sessions`` hold one
    :class:`~sessionbeat.exporter.snapshot.HostSessions` per host with sessions, in host order.
    Costs O(sessions) with a few dictionary updates per session; no pydantic model and no
    per-session object is built. A session's status is the one the index stored, corrected for
    the few sessions due since the last reaper pass (``paging.moved_statuses``): the same answer
    as ``effective_status`` at ``now``, without deriving it 100,000 times under the lock.
    Raises nothing.
    """
    moved = moved_statuses(state, now)
    per_host: dict[str, HostSessions] = {}
    versions: dict[str | None, int] = {}
    needs_approval = SessionStatus.NEEDS_APPROVAL
    hosts = state.hosts
    for skey, record in state.sessions.items():
        host = skey[0]
        agg = per_host.get(host)
        if agg is None:
            agg = per_host[host] = HostSessions(host)
        status = moved.get(skey, record.effective) if moved else record.effective
        beat = record.beat
        key = (beat.repo, status)
        agg.counts[key] = agg.counts.get(key, 0) + 1
        if status is needs_approval:
            waiting = (
                max(0.0, (now - record.status_since).total_seconds())
                if record.effective is status
                else 0.0
            )
            if agg.oldest_wait_seconds is None or waiting > agg.oldest_wait_seconds:
                agg.oldest_wait_seconds = waiting
        if status not in LIVE_STATUSES:
            continue
        versions[beat.claude_version] = versions.get(beat.claude_version, 0) + 1
        agg.subagents += beat.subagents
        if beat.context_tokens is not None and beat.context_window:
            ratio = beat.context_tokens / beat.context_window
            agg.context_counts[bisect_left(CONTEXT_BUCKETS, ratio)] += 1
            agg.context_sum += ratio
            if agg.context_max is None or ratio > agg.context_max:
                agg.context_max = ratio
    known = set(hosts) | set(per_host)
    host_facts = []
    for name in sorted(known):
        rec = hosts.get(name)
        host_facts.append(
            HostFacts(
                name,
                sites.host_state(rec),
                sites.host_since(rec),
                rec.bdseq if rec else None,
                rec.skew.seconds if rec else None,
            )
        )
    return StateSnapshot(
        taken_at=now,
        sessions=tuple(per_host[name] for name in sorted(per_host)),
        hosts=tuple(host_facts),
        counters=copy.deepcopy(state.counters),
        broker_connected=broker_connected,
        last_message_at=state.last_message_at,
        claude_versions=versions,
    )
