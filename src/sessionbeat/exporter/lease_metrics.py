"""The reaper lease's metrics: whether this aggregator holds the lease, and how often it changed.

:class:`~sessionbeat.exporter.collector.SessionbeatCollector` adds :func:`lease_families` to
every scrape (docs/architecture.md, "More than one aggregator"; docs/metrics.md). Two or more
aggregators on one broker each export their own: ``sum(sessionbeat_reaper_lease_held)`` over
them is 1 while one holds it.
"""

from __future__ import annotations

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from sessionbeat.exporter.snapshot import StateSnapshot


def lease_families(snap: StateSnapshot | None) -> list[Metric]:
    """Return the lease's metric families filled from ``snap`` (None: without samples).

    ``sessionbeat_reaper_lease_held`` (gauge, 1 while this aggregator holds the reaper lease,
    else 0; absent where no lease is kept, ``snap.lease_held`` None) and
    ``sessionbeat_reaper_lease_changes_total`` (counter of the times it took or lost the
    lease, from ``snap.counters.lease_changes``). Raises nothing.
    """
    held = GaugeMetricFamily(
        "sessionbeat_reaper_lease_held",
        "1 if this aggregator holds the reaper lease (it reaps, clears and notifies), else 0.",
    )
    changes = CounterMetricFamily(
        "sessionbeat_reaper_lease_changes_total",
        "Times this aggregator took or lost the reaper lease.",
    )
    if snap is not None:
        if snap.lease_held is not None:
            held.add_metric([], 1.0 if snap.lease_held else 0.0)
        changes.add_metric([], float(snap.counters.lease_changes))
    return [held, changes]
