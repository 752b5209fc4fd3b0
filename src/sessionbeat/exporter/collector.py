"""A prometheus_client Collector over the aggregator's :class:`StateSnapshot`.

The collector holds no state of its own: every scrape calls ``snapshot()`` (the aggregator
service builds it under its lock) and turns the plain tuples into metric families, in the style
of client_python's custom collectors (``prometheus_client.registry.Collector``; see
https://prometheus.github.io/client_python/collector/custom/). No MQTT, no HTTP, no clock: the
only time used is the snapshot's ``taken_at``. The notifier's metrics come from its
``NotifyStatus``, read once per scrape too (:mod:`~sessionbeat.exporter.notify_metrics`).

Naming follows https://prometheus.io/docs/practices/naming/: base units (seconds, ratios 0..1),
``_total`` for counters, ``_timestamp_seconds`` for Unix times. Labels are bounded (host, repo,
status, event, reason, kind, result); a session id is never a label. docs/metrics.md lists
every metric.
"""

from __future__ import annotations

import platform
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sessionbeat import __version__
from sessionbeat.claude_code.events import DOCUMENTED_EVENTS
from sessionbeat.errors import RejectReason
from sessionbeat.exporter.lease_metrics import lease_families
from sessionbeat.exporter.notify_metrics import OFF, notify_families
from sessionbeat.exporter.snapshot import SessionFacts, StateSnapshot
from sessionbeat.models import LIVE_STATUSES, HostState, NotifyStatus, SessionStatus

REAP_REASONS = ("ended", "expired")
"""``reason`` values of ``sessions_reaped_total`` (``aggregator.state.expire``), always exported."""

OTHER_EVENT = "other"
"""The ``event`` label of ``sessionbeat_hook_events_total`` for a name outside
:data:`sessionbeat.claude_code.events.DOCUMENTED_EVENTS`: the name comes from the hosts'
payloads, and an unbounded label would let one host blow up the TSDB."""

CONTEXT_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""Upper bounds of the context usage distribution (ratio of the context window used)."""


def _ts(moment: datetime) -> float:
    """Return the Unix time in seconds of an aware datetime."""
    return moment.timestamp()


REPO_LABEL_MAX = 100
"""Characters of a repository name kept in the ``repo`` label (the name comes from a host)."""


VERSION_LABEL = re.compile(r"^\d{1,4}(\.\d{1,6}){1,3}([-+][0-9A-Za-z.]{1,16})?$")
"""A Claude Code version as a label value (``2.1.328``); anything else is exported as ``other``."""


def _claude_version(facts: SessionFacts) -> str:
    """Return the ``version`` label: Claude Code's version, ``unknown`` or ``other``.

    ``unknown`` when the host did not report one (no registry entry, an old Claude Code),
    ``other`` when it does not look like a version (the value comes from a host).
    """
    version = facts.claude_version
    if version is None:
        return "unknown"
    return version if VERSION_LABEL.match(version) else "other"


def _repo(facts: SessionFacts) -> str:
    """Return the ``repo`` label: the git top-level's name, or ``""`` (absent) outside a repo.

    Names longer than :data:`REPO_LABEL_MAX` characters are cut to that length.
    """
    return (facts.repo or "")[:REPO_LABEL_MAX]


@dataclass(slots=True)
class _Families:
    """One scrape's metric families (fresh and empty when built, filled by ``collect``)."""

    sessions: GaugeMetricFamily
    host_up: GaugeMetricFamily
    host_change: GaugeMetricFamily
    host_bdseq: GaugeMetricFamily
    host_skew: GaugeMetricFamily
    approval_wait: GaugeMetricFamily
    subagents: GaugeMetricFamily
    claude_versions: GaugeMetricFamily
    context: GaugeHistogramMetricFamily
    context_max: GaugeMetricFamily
    received: CounterMetricFamily
    accepted: CounterMetricFamily
    rejected: CounterMetricFamily
    out_of_order: CounterMetricFamily
    stale_deaths: CounterMetricFamily
    removed: CounterMetricFamily
    reaped: CounterMetricFamily
    hosts_reaped: CounterMetricFamily
    hook_events: CounterMetricFamily
    history_errors: CounterMetricFamily
    http_requests: CounterMetricFamily
    broker_connected: GaugeMetricFamily
    last_message: GaugeMetricFamily
    snapshot: GaugeMetricFamily
    build_info: GaugeMetricFamily

    def all(self) -> list[Metric]:
        """Return every family, in exposition order."""
        return [getattr(self, f.name) for f in fields(self)]


def _new_families() -> _Families:
    """Build empty metric families: the names, help texts and label names of every metric.

    Each name is written out as exposed, so a search for it lands here; counters carry their
    ``_total`` (``CounterMetricFamily`` keeps the family name without it and adds it back to
    the sample).
    """
    return _Families(
        sessions=GaugeMetricFamily(
            "sessionbeat_sessions",
            "Sessions known to the aggregator, by host, repository and effective status.",
            labels=["host", "repo", "status"],
        ),
        host_up=GaugeMetricFamily(
            "sessionbeat_host_up",
            "1 if the host's agent is online (birth), 0 if offline (Last Will or shutdown).",
            labels=["host"],
        ),
        host_change=GaugeMetricFamily(
            "sessionbeat_host_state_change_timestamp_seconds",
            "Unix time of the host's last birth or death as seen by the aggregator.",
            labels=["host"],
        ),
        host_bdseq=GaugeMetricFamily(
            "sessionbeat_host_bdseq",
            "Birth/death sequence number of the host agent's current MQTT connection.",
            labels=["host"],
        ),
        host_skew=GaugeMetricFamily(
            "sessionbeat_host_clock_skew_seconds",
            "The host's clock minus the aggregator's, from the sent_at of its live messages "
            "(positive: the host is ahead).",
            labels=["host"],
        ),
        approval_wait=GaugeMetricFamily(
            "sessionbeat_approval_oldest_wait_seconds",
            "How long the host's longest-waiting needs_approval session has waited "
            "(0 when none waits).",
            labels=["host"],
        ),
        subagents=GaugeMetricFamily(
            "sessionbeat_subagents_running",
            "Subagents running in the host's live sessions.",
            labels=["host"],
        ),
        claude_versions=GaugeMetricFamily(
            "sessionbeat_claude_code_sessions",
            "Live sessions by Claude Code version (from its session registry; unknown if not "
            "reported).",
            labels=["version"],
        ),
        context=GaugeHistogramMetricFamily(
            "sessionbeat_context_usage_ratio",
            "Distribution of the context window fraction used by live sessions, per host.",
            labels=["host"],
        ),
        context_max=GaugeMetricFamily(
            "sessionbeat_context_usage_max_ratio",
            "Largest context window fraction used by any live session of the host.",
            labels=["host"],
        ),
        received=CounterMetricFamily(
            "sessionbeat_messages_received_total", "MQTT messages received by the aggregator."
        ),
        accepted=CounterMetricFamily(
            "sessionbeat_messages_accepted_total", "MQTT messages accepted into the state."
        ),
        rejected=CounterMetricFamily(
            "sessionbeat_messages_rejected_total",
            "MQTT messages rejected, by reason.",
            labels=["reason"],
        ),
        out_of_order=CounterMetricFamily(
            "sessionbeat_messages_out_of_order_total",
            "Session beats ignored because a newer one (bdseq, seq) was already applied.",
        ),
        stale_deaths=CounterMetricFamily(
            "sessionbeat_stale_deaths_ignored_total",
            "Offline messages ignored because their bdseq is older than the host's birth.",
        ),
        removed=CounterMetricFamily(
            "sessionbeat_sessions_removed_total",
            "Sessions removed by a zero-length retained message (cleared topic).",
        ),
        reaped=CounterMetricFamily(
            "sessionbeat_sessions_reaped_total",
            "Sessions reaped from the live state, by reason (ended, expired).",
            labels=["reason"],
        ),
        hosts_reaped=CounterMetricFamily(
            "sessionbeat_hosts_reaped_total",
            "Hosts forgotten after host_reap_after offline without sessions.",
        ),
        hook_events=CounterMetricFamily(
            "sessionbeat_hook_events_total",
            "Claude Code hook events received in live session beats, by event name.",
            labels=["event"],
        ),
        history_errors=CounterMetricFamily(
            "sessionbeat_history_errors_total",
            "Failed writes to the SQLite history (full or unwritable disk).",
        ),
        http_requests=CounterMetricFamily(
            "sessionbeat_http_requests_total",
            "Requests to the aggregator's HTTP API, by route template.",
            labels=["route"],
        ),
        broker_connected=GaugeMetricFamily(
            "sessionbeat_broker_connected",
            "1 if the aggregator is connected to the MQTT broker, else 0.",
        ),
        last_message=GaugeMetricFamily(
            "sessionbeat_last_message_timestamp_seconds",
            "Unix time of the last MQTT message received (absent until the first one).",
        ),
        snapshot=GaugeMetricFamily(
            "sessionbeat_snapshot_timestamp_seconds",
            "Unix time on the aggregator's clock at which this scrape's state was taken.",
        ),
        build_info=GaugeMetricFamily(
            "sessionbeat_build_info",
            "Always 1; labels give the sessionbeat and Python versions.",
            labels=["version", "python_version"],
        ),
    )


class SessionbeatCollector(Collector):
    """Export the aggregator's live state and counters as Prometheus metrics.

    ``snapshot`` is called once per scrape and must return a consistent
    :class:`~sessionbeat.exporter.snapshot.StateSnapshot` (the service's ``snapshot`` method);
    ``notify_status`` is the notifier's ``status`` (called once per scrape; None: notifications
    off, exported as zeros by :mod:`~sessionbeat.exporter.notify_metrics`); ``version`` is the
    ``version`` label of ``sessionbeat_build_info``. Register it with
    ``registry.register(SessionbeatCollector(service.snapshot))``.
    """

    def __init__(
        self,
        snapshot: Callable[[], StateSnapshot],
        *,
        notify_status: Callable[[], NotifyStatus] | None = None,
        version: str = __version__,
    ) -> None:
        self._snapshot = snapshot
        self._notify_status = notify_status
        self._version = version

    def describe(self) -> Iterable[Metric]:
        """Return the metric families without samples, so a registry can check for clashes.

        Calls no snapshot and no notifier: registering the collector must not need a running
        aggregator.
        """
        return _new_families().all() + notify_families(None) + lease_families(None)

    def collect(self) -> Iterable[Metric]:
        """Take one snapshot (and the notifier's status) and return every metric family."""
        snap = self._snapshot()
        notify = self._notify_status() if self._notify_status is not None else OFF
        fam = _new_families()
        _fill_sessions(fam, snap)
        _fill_hosts(fam, snap)
        _fill_counters(fam, snap)
        fam.broker_connected.add_metric([], 1.0 if snap.broker_connected else 0.0)
        if snap.last_message_at is not None:
            fam.last_message.add_metric([], _ts(snap.last_message_at))
        fam.snapshot.add_metric([], _ts(snap.taken_at))
        fam.build_info.add_metric([self._version, platform.python_version()], 1.0)
        return fam.all() + notify_families(notify) + lease_families(snap)


def _fill_sessions(fam: _Families, snap: StateSnapshot) -> None:
    """Add per (host, repo, status) counts, waits, subagents, versions and context usage."""
    counts: dict[tuple[str, str], dict[SessionStatus, int]] = defaultdict(
        lambda: dict.fromkeys(SessionStatus, 0)
    )
    wait: dict[str, float] = {}
    subagents: dict[str, int] = {}
    ratios: dict[str, list[float]] = defaultdict(list)
    versions: dict[str, int] = defaultdict(int)
    for facts in snap.sessions:
        counts[(facts.host, _repo(facts))][facts.status] += 1
        if facts.waiting_seconds is not None:
            wait[facts.host] = max(wait.get(facts.host, 0.0), facts.waiting_seconds)
        if facts.status in LIVE_STATUSES:
            versions[_claude_version(facts)] += 1
            subagents[facts.host] = subagents.get(facts.host, 0) + facts.subagents
            if facts.context_ratio is not None:
                ratios[facts.host].append(facts.context_ratio)
    for (host, repo), by_status in sorted(counts.items()):
        for status, n in by_status.items():
            fam.sessions.add_metric([host, repo, status.value], float(n))
    for host in sorted({h.host for h in snap.hosts} | set(wait)):
        fam.approval_wait.add_metric([host], wait.get(host, 0.0))
        fam.subagents.add_metric([host], float(subagents.get(host, 0)))
    for version, n in sorted(versions.items()):
        fam.claude_versions.add_metric([version], float(n))
    for host, values in sorted(ratios.items()):
        buckets = [(str(le), float(sum(1 for v in values if v <= le))) for le in CONTEXT_BUCKETS]
        buckets.append(("+Inf", float(len(values))))
        fam.context.add_metric([host], buckets, gsum_value=sum(values))
        fam.context_max.add_metric([host], max(values))


def _fill_hosts(fam: _Families, snap: StateSnapshot) -> None:
    """Add host up, time of its last birth/death and bdseq (not for hosts without a status).

    The clock skew is added for every host with an estimate, status or not.
    """
    for host in snap.hosts:
        if host.clock_skew_seconds is not None:
            fam.host_skew.add_metric([host.host], host.clock_skew_seconds)
        if host.state is None:
            continue
        fam.host_up.add_metric([host.host], 1.0 if host.state is HostState.ONLINE else 0.0)
        if host.since is not None:
            fam.host_change.add_metric([host.host], _ts(host.since))
        if host.bdseq is not None:
            fam.host_bdseq.add_metric([host.host], float(host.bdseq))


def _fill_counters(fam: _Families, snap: StateSnapshot) -> None:
    """Add the monotonic ``Counters`` of the state; every reason is exported, zeros included."""
    c = snap.counters
    fam.received.add_metric([], float(c.received))
    fam.accepted.add_metric([], float(c.accepted))
    fam.out_of_order.add_metric([], float(c.out_of_order))
    fam.stale_deaths.add_metric([], float(c.stale_deaths))
    fam.removed.add_metric([], float(c.removed))
    for reason in RejectReason:
        fam.rejected.add_metric([reason.value], float(c.rejected.get(reason, 0)))
    for reap in sorted(set(REAP_REASONS) | set(c.reaped)):
        fam.reaped.add_metric([reap], float(c.reaped.get(reap, 0)))
    fam.hosts_reaped.add_metric([], float(c.hosts_reaped))
    events: dict[str, int] = defaultdict(int)
    for name, n in c.hook_events.items():
        events[name if name in DOCUMENTED_EVENTS else OTHER_EVENT] += n
    for name, n in sorted(events.items()):
        fam.hook_events.add_metric([name], float(n))
    fam.history_errors.add_metric([], float(c.history_errors))
    for route, n in sorted(c.http_requests.items()):
        fam.http_requests.add_metric([route], float(n))


def metrics_registry(
    snapshot: Callable[[], StateSnapshot],
    registry: CollectorRegistry | None = None,
    *,
    notify_status: Callable[[], NotifyStatus] | None = None,
) -> CollectorRegistry:
    """Return a Prometheus registry holding a :class:`SessionbeatCollector` over ``snapshot``.

    ``registry`` None builds a new one that also holds the process and platform collectors
    (what ``sessionbeat aggregator`` serves); tests pass a fresh ``CollectorRegistry()``.
    ``notify_status`` is the notifier's ``status`` (None: notifications off).
    Raises ``ValueError`` if ``registry`` already holds sessionbeat's metric names.
    """
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    registry.register(SessionbeatCollector(snapshot, notify_status=notify_status))
    return registry
