"""A consistent, immutable copy of the aggregator state for readers that must not hold the lock.

The Prometheus collector (``exporter/``) and other bulk readers call the service's
``snapshot()``, which builds a :class:`~sessionbeat.exporter.snapshot.StateSnapshot` under the
lock with :func:`take_snapshot`; everything afterwards works on plain tuples without touching
the live state.
"""

from __future__ import annotations

import copy
from datetime import datetime

from sessionbeat.aggregator import sites
from sessionbeat.aggregator.state import AggregatorState, effective_status
from sessionbeat.exporter.snapshot import HostFacts, SessionFacts, StateSnapshot
from sessionbeat.models import SessionStatus


def take_snapshot(state: AggregatorState, now: datetime, broker_connected: bool) -> StateSnapshot:
    """Copy the facts of every session and host at ``now`` (call it under the state's lock).

    Costs O(sessions); no pydantic model is built, so a 10,000-session scrape stays cheap.
    """
    timings = state.timings
    sessions = []
    for (host, sid), record in state.sessions.items():
        status = effective_status(record, state.hosts.get(host), now, timings)
        beat = record.beat
        ratio = (
            beat.context_tokens / beat.context_window
            if beat.context_tokens is not None and beat.context_window
            else None
        )
        waiting = (
            max(0.0, (now - record.status_since).total_seconds())
            if status is SessionStatus.NEEDS_APPROVAL and record.effective is status
            else (0.0 if status is SessionStatus.NEEDS_APPROVAL else None)
        )
        sessions.append(
            SessionFacts(
                host, sid, beat.repo, status, beat.subagents, ratio, waiting, beat.claude_version
            )
        )
    known = set(state.hosts) | {host for host, _sid in state.sessions}
    hosts = []
    for name in sorted(known):
        rec = state.hosts.get(name)
        hosts.append(
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
        sessions=tuple(sessions),
        hosts=tuple(hosts),
        counters=copy.deepcopy(state.counters),
        broker_connected=broker_connected,
        last_message_at=state.last_message_at,
    )
