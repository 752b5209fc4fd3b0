"""A prometheus_client Collector over the aggregator's :class:`StateSnapshot`.

The collector holds no state of its own: every scrape calls ``snapshot()`` (the aggregator
service builds it under its lock) and turns the plain tuples into metric families, in the style
of client_python's custom collectors (``prometheus_client.registry.Collector``; see
https://prometheus.github.io/client_python/collector/custom/). No MQTT, no HTTP, no clock: the
only time used is the snapshot's ``taken_at``. The notifier's metrics come from its
``NotifyStatus``, read once per scrape too (:mod:`~sessionbeat.exporter.notify_metrics`).

Naming follows https://prometheus.io/docs/practices/naming/: base units (seconds, ratios 0..1),
``_total`` for counters, ``_timestamp_seconds`` for Unix times. Labels are bounded (host, repo,
status, event, reason, kind, result); a session id is never a label, and each host's ``repo``
values are capped (:mod:`~sessionbeat.exporter.repo_fold`). docs/metrics.md lists every metric
and states the bound on the number of series.
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
from sessionbeat.exporter.repo_fold import fold_repos
from sessionbeat.exporter.snapshot import CONTEXT_BUCKETS, StateSnapshot
from sessionbeat.models import HostState, NotifyStatus, SessionStatus

REAP_REASONS = ("ended", "expired")
"""``reason`` values of ``sessions_reaped_total`` (``aggregator.state.expire``), always exported."""

OTHER_EVENT = "other"
"""The ``event`` label of ``sessionbeat_hook_events_total`` for a name outside
:data:`sessionbeat.claude_code.events.DOCUMENTED_EVENTS`: the name comes from the hosts'
payloads, and an unbounded label would let one host blow up the TSDB."""

DEFAULT_MAX_REPOS_PER_HOST = 20
"""``repo`` label values kept per host unless told otherwise (``metrics_max_repos_per_host``)."""


def _ts(moment: datetime) -> float:
    """Return the Unix time in seconds of an aware datetime."""
    return moment.timestamp()


MAX_VERSIONS = 20
"""``version`` label values of ``sessionbeat_claude_code_sessions`` besides ``unknown`` and
``other``: the versions with the most live sessions (then by name); the rest add up into
``other``. A fleet runs a few Claude Code versions at once; a host cannot add more series."""

VERSION_LABEL = re.compile(r"^\d{1,4}(\.\d{1,6}){1,3}([-+][0-9A-Za-z.]{1,16})?$")
"""A Claude Code version as a label value (``2.1.328``); anything else is exported as ``other``."""


def _claude_version(version: str | None) -> str:
    """Return the ``version`` label: Claude Code's version, ``unknown`` or ``other``.

    ``unknown`` when the host did not report one (no registry entry, an old Claude Code),
    ``other`` when it does not look like a version (the value comes from a host).
    """
    if version is None:
        return "unknown"
    return version if VERSION_LABEL.match(version) else "other"


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
    folded_repos: GaugeMetricFamily
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
        folded_repos=GaugeMetricFamily(
            "sessionbeat_metrics_folded_repos",
            'Repository label values folded into repo="other" in this scrape, summed over '
            "hosts (more than metrics_max_repos_per_host repositories on one host).",
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
    ``version`` label of ``sessionbeat_build_info``; ``max_repos_per_host`` (>= 0) caps the
    ``repo`` label values of each host (:func:`~sessionbeat.exporter.repo_fold.fold_repos`).
    Register it with ``registry.register(SessionbeatCollector(service.snapshot))``.
    """

    def __init__(
        self,
        snapshot: Callable[[], StateSnapshot],
        *,
        notify_status: Callable[[], NotifyStatus] | None = None,
        version: str = __version__,
        max_repos_per_host: int = DEFAULT_MAX_REPOS_PER_HOST,
    ) -> None:
        self._snapshot = snapshot
        self._notify_status = notify_status
        self._version = version
        self._max_repos = max_repos_per_host

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
        _fill_sessions(fam, snap, self._max_repos)
        _fill_hosts(fam, snap)
        _fill_counters(fam, snap)
        fam.broker_connected.add_metric([], 1.0 if snap.broker_connected else 0.0)
        if snap.last_message_at is not None:
            fam.last_message.add_metric([], _ts(snap.last_message_at))
        fam.snapshot.add_metric([], _ts(snap.taken_at))
        fam.build_info.add_metric([self._version, platform.python_version()], 1.0)
        return fam.all() + notify_families(notify) + lease_families(snap)


def _fill_sessions(fam: _Families, snap: StateSnapshot, max_repos: int) -> None:
    """Add per (host, repo, status) counts, waits, subagents, versions and context usage.

    Each host's repositories are folded to ``max_repos`` labels; a status none of the host's
    sessions has is exported as 0 under its first repo label, so every host with sessions has
    a series for every status (graphs and alerts see 0, not a gap) without a zero for every
    (repo, status) pair.
    """
    folded = 0
    for agg in snap.sessions:
        fold = fold_repos(agg.counts, max_repos)
        folded += fold.folded
        counts = dict(fold.counts)
        if fold.first is not None:
            present = {status for _label, status in counts}
            for status in SessionStatus:
                if status not in present:
                    counts[(fold.first, status)] = 0
        order = {status: i for i, status in enumerate(SessionStatus)}
        for (repo, status), n in sorted(counts.items(), key=lambda i: (i[0][0], order[i[0][1]])):
            fam.sessions.add_metric([agg.host, repo, status.value], float(n))
        if agg.context_max is not None:
            cumulative = 0
            buckets = []
            for le, n in zip(CONTEXT_BUCKETS, agg.context_counts, strict=False):
                cumulative += n
                buckets.append((str(le), float(cumulative)))
            buckets.append(("+Inf", float(sum(agg.context_counts))))
            fam.context.add_metric([agg.host], buckets, gsum_value=agg.context_sum)
            fam.context_max.add_metric([agg.host], agg.context_max)
    fam.folded_repos.add_metric([], float(folded))
    by_host = {agg.host: agg for agg in snap.sessions}
    for host in snap.hosts:
        found = by_host.get(host.host)
        wait = found.oldest_wait_seconds if found is not None else None
        fam.approval_wait.add_metric([host.host], wait or 0.0)
        fam.subagents.add_metric([host.host], float(found.subagents if found is not None else 0))
    _fill_versions(fam, snap)


def _fill_versions(fam: _Families, snap: StateSnapshot) -> None:
    """Add live sessions per Claude Code version label, at most :data:`MAX_VERSIONS` of them."""
    versions: dict[str, int] = defaultdict(int)
    for version, n in snap.claude_versions.items():
        versions[_claude_version(version)] += n
    ranked = sorted(
        (v for v in versions if v not in ("unknown", "other")), key=lambda v: (-versions[v], v)
    )
    for version in ranked[MAX_VERSIONS:]:
        versions["other"] += versions.pop(version)
    for version, n in sorted(versions.items()):
        fam.claude_versions.add_metric([version], float(n))


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
    max_repos_per_host: int = DEFAULT_MAX_REPOS_PER_HOST,
) -> CollectorRegistry:
    """Return a Prometheus registry holding a :class:`SessionbeatCollector` over ``snapshot``.

    ``registry`` None builds a new one that also holds the process and platform collectors
    (what ``sessionbeat aggregator`` serves); tests pass a fresh ``CollectorRegistry()``.
    ``notify_status`` is the notifier's ``status`` (None: notifications off);
    ``max_repos_per_host`` is the settings' ``metrics_max_repos_per_host``.
    Raises ``ValueError`` if ``registry`` already holds sessionbeat's metric names.
    """
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    registry.register(
        SessionbeatCollector(
            snapshot, notify_status=notify_status, max_repos_per_host=max_repos_per_host
        )
    )
    return registry
