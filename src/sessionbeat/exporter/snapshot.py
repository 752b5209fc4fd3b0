"""What the exporter reads: an immutable snapshot of the aggregator's facts, and its counters.

The sessions come aggregated per host (:class:`HostSessions`), so a snapshot's size and the
time it takes under the aggregator's lock follow hosts and repositories, not every session's
record (bench/README.md, ``bench_metrics.py``).

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


CONTEXT_BUCKETS = (0.25, 0.5, 0.75, 0.9, 0.95, 1.0)
"""Upper bounds of the context usage distribution (ratio of the context window used).

Quarters, then finer near full (auto-compaction); six bounds rather than ten deciles keep
the per-host gauge histogram at 9 series, which fits a 2,000-host scrape in 5 MB."""


@dataclass(slots=True)
class HostSessions:
    """The sessions of one host, aggregated (no session id, no per-session record).

    Built by the aggregator's ``take_snapshot`` and read-only afterwards. ``counts`` maps
    ``(repo, status)`` to a number of sessions (``repo`` None outside a git repository; only
    pairs with at least one session); ``oldest_wait_seconds`` is the longest wait of a
    ``needs_approval`` session (None when none waits); ``subagents`` sums the subagents of the
    live sessions (``models.LIVE_STATUSES``). The context usage of the live sessions that report
    it (``context_tokens / context_window``): ``context_counts[i]`` sessions fall in bucket
    ``i`` of :data:`CONTEXT_BUCKETS` (the first bound at or above the ratio; the last entry,
    index ``len(CONTEXT_BUCKETS)``, counts ratios above 1.0), ``context_sum`` their ratios'
    sum, ``context_max`` the largest (None when no live session reports one).
    """

    host: str
    counts: dict[tuple[str | None, SessionStatus], int] = field(default_factory=dict)
    oldest_wait_seconds: float | None = None
    subagents: int = 0
    context_counts: list[int] = field(default_factory=lambda: [0] * (len(CONTEXT_BUCKETS) + 1))
    context_sum: float = 0.0
    context_max: float | None = None


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
    """Everything a reader needs, taken at ``taken_at`` (aggregator clock).

    ``sessions`` holds one aggregate per host with at least one session (empty: no session);
    ``claude_versions`` counts the live sessions by Claude Code version as the hosts report it
    (None: not reported), unfiltered: the exporter bounds the label values.
    """

    taken_at: datetime
    sessions: tuple[HostSessions, ...]
    hosts: tuple[HostFacts, ...]
    counters: Counters
    broker_connected: bool
    last_message_at: datetime | None
    claude_versions: dict[str | None, int] = field(default_factory=dict)
    lease_held: bool | None = None
    """True while this aggregator holds the reaper lease; None where no lease is kept."""
