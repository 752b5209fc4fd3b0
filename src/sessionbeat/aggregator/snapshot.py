"""A consistent, immutable copy of the aggregator state for readers that must not hold the lock.

The Prometheus collector (``exporter/``) and other bulk readers call the service's
``snapshot()``, which builds a :class:`StateSnapshot` under the lock with :func:`take_snapshot`;
everything afterwards works on plain tuples without touching the live state.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

from sessionbeat.aggregator.state import AggregatorState, Counters, effective_status
from sessionbeat.models import HostState, SessionStatus


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """The bounded-cardinality facts of one session (no session id is exported as a label).

    ``context_ratio`` is ``context_tokens / context_window`` (0..1, None if unknown);
    ``waiting_seconds`` is how long a needs_approval session has waited (None otherwise);
    ``claude_version`` is Claude Code's version from its registry (None if not reported).
    """

    host: str
    session_id: str
    repo: str | None
    status: SessionStatus
    subagents: int
    context_ratio: float | None
    waiting_seconds: float | None
    claude_version: str | None = None


@dataclass(frozen=True, slots=True)
class HostFacts:
    """One host: its state (None if only known from sessions) and since when."""

    host: str
    state: HostState | None
    since: datetime | None
    bdseq: int | None


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """Everything a reader needs, taken at ``taken_at`` (aggregator clock)."""

    taken_at: datetime
    sessions: tuple[SessionFacts, ...]
    hosts: tuple[HostFacts, ...]
    counters: Counters
    broker_connected: bool
    last_message_at: datetime | None


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
                rec.state if rec else None,
                rec.since if rec else None,
                rec.bdseq if rec else None,
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
