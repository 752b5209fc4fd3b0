"""What the exporter reads: an immutable snapshot of the aggregator's facts, and its counters.

The aggregator fills these (``aggregator/snapshot.py`` under its lock; ``Counters`` live in its
state); the exporter only reads them. Defined here, on the exporter's side, so the exporter
depends on nothing of the aggregator and the aggregator command can assemble both
(docs/architecture.md, "Layout").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sessionbeat.errors import RejectReason
from sessionbeat.models import HostState, SessionStatus


@dataclass(slots=True)
class Counters:
    """Monotonic counts since start (exported as Prometheus ``_total`` counters).

    ``history_errors`` counts failed writes to the SQLite history (full or unwritable disk) and
    ``http_requests`` the API's requests by route template; the service sets them, the pure
    core never does. ``hosts_reaped`` counts hosts forgotten after ``host_reap_after`` offline
    without sessions. ``lease_changes`` counts the times this aggregator took or lost the
    reaper lease (the service sets it).
    """

    received: int = 0
    accepted: int = 0
    out_of_order: int = 0
    stale_deaths: int = 0
    removed: int = 0
    history_errors: int = 0
    hosts_reaped: int = 0
    lease_changes: int = 0
    rejected: Counter[RejectReason] = field(default_factory=Counter)
    reaped: Counter[str] = field(default_factory=Counter)
    hook_events: Counter[str] = field(default_factory=Counter)
    http_requests: Counter[str] = field(default_factory=Counter)


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
    """One host: its state (None if only known from sessions) and since when.

    ``clock_skew_seconds`` is the host's clock minus the aggregator's (None before a live
    message from it).
    """

    host: str
    state: HostState | None
    since: datetime | None
    bdseq: int | None
    clock_skew_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """Everything a reader needs, taken at ``taken_at`` (aggregator clock)."""

    taken_at: datetime
    sessions: tuple[SessionFacts, ...]
    hosts: tuple[HostFacts, ...]
    counters: Counters
    broker_connected: bool
    last_message_at: datetime | None
    lease_held: bool | None = None
    """True while this aggregator holds the reaper lease; None where no lease is kept."""
