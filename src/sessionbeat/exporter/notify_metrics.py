"""The notifier's metrics: its :class:`~sessionbeat.models.NotifyStatus` as metric families.

:class:`~sessionbeat.exporter.collector.SessionbeatCollector` calls :func:`notify_families`
once per scrape with the status the notifier reports (``status()``; docs/architecture.md) and
adds the families to the exposition; :func:`notify_families` with ``None`` gives them empty for
``describe``. Off (``enabled`` False) they are still exported, at zero, so a dashboard or an
alert sees zeros rather than gaps. Names follow https://prometheus.io/docs/practices/naming/;
``kind`` and ``result`` are bounded (the notifier's own words), never a session id.
"""

from __future__ import annotations

import math

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from sessionbeat.models import NotifyKind, NotifyStatus

ALWAYS_RESULTS = ("sent", "failed")
"""``result`` values of ``sessionbeat_notifications_total`` exported from 0 for every kind that
is on (and ``needs_approval`` always), so ``increase(...{result="failed"}[15m])`` has a series."""

OFF = NotifyStatus(enabled=False)
"""What a scrape reports when the aggregator runs without a notifier."""


def notify_families(status: NotifyStatus | None) -> list[Metric]:
    """Return the notification metric families filled from ``status`` (None: without samples).

    Families, in exposition order: ``sessionbeat_notifications_enabled`` (gauge, 1/0),
    ``sessionbeat_notifications_pending`` (gauge: episodes waiting out the grace period, quiet
    hours or the rate limit), ``sessionbeat_notifications_total{kind,result}`` (counter, from
    ``status.counts``) and ``sessionbeat_notification_latency_seconds`` (histogram, no labels,
    from ``latency_buckets`` — cumulative ``(upper bound in seconds, count)`` pairs —
    ``latency_sum`` and ``latency_count``; the ``+Inf`` bucket is ``latency_count``, a bound of
    infinity in the pairs is ignored). Raises nothing.
    """
    enabled = GaugeMetricFamily(
        "sessionbeat_notifications_enabled",
        "1 if the aggregator sends push notifications (at least one URL set), else 0.",
    )
    pending = GaugeMetricFamily(
        "sessionbeat_notifications_pending",
        "Notifications waiting out the grace period, quiet hours or the per-session rate limit.",
    )
    sent = CounterMetricFamily(
        "sessionbeat_notifications_total",
        "Notification deliveries and what became of them, by kind and result.",
        labels=["kind", "result"],
    )
    latency = HistogramMetricFamily(
        "sessionbeat_notification_latency_seconds",
        "Seconds from the status change to the notification's delivery.",
    )
    families: list[Metric] = [enabled, pending, sent, latency]
    if status is None:
        return families
    enabled.add_metric([], 1.0 if status.enabled else 0.0)
    pending.add_metric([], float(status.pending))
    counts: dict[tuple[str, str], int] = {}
    for kind in {NotifyKind.NEEDS_APPROVAL.value, *(k.value for k in status.kinds)}:
        for result in ALWAYS_RESULTS:
            counts[(kind, result)] = 0
    for kind, results in status.counts.items():
        for result, n in results.items():
            counts[(kind, result)] = n
    for (kind, result), n in sorted(counts.items()):
        sent.add_metric([kind, result], float(n))
    buckets = [
        (str(float(le)), float(n)) for le, n in sorted(status.latency_buckets) if not math.isinf(le)
    ]
    buckets.append(("+Inf", float(status.latency_count)))
    latency.add_metric([], buckets, status.latency_sum)
    return families
