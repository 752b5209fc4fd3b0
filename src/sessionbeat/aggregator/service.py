"""The aggregator service: assembles the parts and runs the ingest path (MQTT in, state core).

Threads:

* paho's network thread (:class:`~sessionbeat.aggregator.mqtt_link.MqttLink`) calls
  :meth:`AggregatorService.ingest`, which applies each message to the
  :class:`~sessionbeat.aggregator.state.AggregatorState` under ``self.lock``;
* the reaper thread (:class:`~sessionbeat.aggregator.reaper.Reaper`) runs
  :func:`~sessionbeat.aggregator.state.expire` about once a second, writes reaped sessions to
  the history (SQLite or PostgreSQL) and clears their retained topics (only while this
  aggregator holds the reaper lease);
* the lease thread and its two MQTT connections
  (:class:`~sessionbeat.aggregator.lease.ReaperLease`) decide which of several aggregators on
  one broker holds that lease;
* readers (HTTP handlers, the Prometheus collector) take the lock briefly to build views or a
  :class:`~sessionbeat.aggregator.snapshot.StateSnapshot`
  (:class:`~sessionbeat.aggregator.reads.StateReads`, which the service is).

How the snapshot and the live feed are subscribed (QoS 0, then QoS 1) is told in
:mod:`sessionbeat.aggregator.mqtt_link`.

Rejected messages are counted in the state's counters and logged through a
:class:`~sessionbeat.aggregator.reject_log.RejectLog`: the first per (reason, host or topic) at
WARNING within a global budget, a summary line per minute of what was held back, and a host's
recovery once. Hosts the reaper forgets (offline, no sessions, ``host_reap_after``) have their
retained status topic cleared.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sessionbeat import topics
from sessionbeat.aggregator import sites, views
from sessionbeat.aggregator.events import ChangeFeed
from sessionbeat.aggregator.history import History
from sessionbeat.aggregator.lease import ReaperLease
from sessionbeat.aggregator.mqtt_link import MqttLink
from sessionbeat.aggregator.reads import StateReads
from sessionbeat.aggregator.reaper import REAP_INTERVAL, Reaper
from sessionbeat.aggregator.reject_log import RejectLog
from sessionbeat.aggregator.state import (
    AggregatorState,
    Applied,
    Limits,
    Message,
    Outcome,
    Timings,
    apply,
)
from sessionbeat.errors import TopicError
from sessionbeat.exporter.snapshot import StateSnapshot
from sessionbeat.models import Health, HistoryEntry, utc_now
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)


def _origin(topic: str) -> str:
    """Return the host part of a sessionbeat topic, else the (cut) topic: the log-once key."""
    parts = topic.split("/", 3)
    if len(parts) >= 3 and parts[0] == "sessionbeat" and topics.is_valid_id(parts[2]):
        return parts[2]
    return topic[:120]


class AggregatorService(StateReads):
    """The running aggregator: one MQTT client, the state, the reaper and the history.

    ``settings`` gives the broker, the timings (seconds) and the history path; ``clock``
    returns aware UTC datetimes (tests inject one). ``reap_interval`` is the reaper's period in
    seconds; ``history`` replaces the default store (tests). Its metrics are read through
    :meth:`snapshot` (the aggregator command registers the exporter's collector over it).
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        *,
        reap_interval: float = REAP_INTERVAL,
        history: History | None = None,
    ) -> None:
        self.settings = settings
        state = AggregatorState(
            timings=Timings(
                stale_after=settings.stale_after,
                idle_after=settings.idle_after,
                reap_after=settings.reap_after,
                ended_linger=settings.ended_linger,
                host_reap_after=settings.host_reap_after,
            ),
            limits=Limits(max_sessions_per_host=settings.max_sessions_per_host),
        )
        history = history or History(
            settings.history_path,
            settings.history_keep_days,
            url=settings.history_url_value(),
            clock=clock,
        )
        self._stop = threading.Event()
        link = MqttLink(settings, self.ingest, self._stop)
        super().__init__(state, threading.Lock(), clock, history, link)
        self.feed = ChangeFeed()
        self.rejects = RejectLog(log)
        self.lease = ReaperLease(settings)
        self.reaper = Reaper(
            state,
            self.lock,
            clock,
            self.feed,
            history,
            link,
            interval=reap_interval,
            stopping=self._stop,
            tick=lambda: self.rejects.tick(),
            lease=self.lease,
        )
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the history, connect to the broker, start the reaper lease and the reaper.

        Returns at once; paho keeps reconnecting with backoff while the broker is away
        (:attr:`broker_connected` tells). Use :meth:`wait_connected` to wait.
        """
        if self._started:
            return
        self._started = True
        self.history.open()
        self.reaper.sync_errors()
        self.link.connect()
        self.lease.start()
        self.reaper.start()

    def wait_connected(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until connected and subscribed; return the flag."""
        return self.link.wait_connected(timeout)

    def stop(self) -> None:
        """Stop the reaper, release the lease, disconnect, close the readers' streams, history."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        self.reaper.join(timeout=10)
        self.reaper.final_flush()
        self.lease.stop()
        self.link.close()
        self.feed.close()
        self.history.close()
        log.info("aggregator stopped")

    # -- ingest (paho's thread) --------------------------------------------------------------

    def ingest(self, message: Message) -> Applied:
        """Apply one MQTT message now (the ingest path; also used by benchmarks and tests).

        Returns what :func:`~sessionbeat.aggregator.state.apply` did.
        """
        now = self.clock()
        with self.lock:
            applied = apply(self.state, message, now)
            outcome = applied.outcome
            if not message.payload:
                self.reaper.confirm(message.topic)
            if outcome is Outcome.REMOVED and applied.removed is not None:
                self.reaper.note_cleared(
                    views.history_entry(
                        applied.removed,
                        self.state.hosts.get(applied.removed.beat.host),
                        now,
                        self.state,
                        "cleared",
                    )
                )
            if self.feed.active:
                self._notify(message.topic, applied)
        if outcome is Outcome.REJECTED:
            assert applied.reason is not None
            self.rejects.rejected(
                _origin(message.topic), applied.reason, message.topic, applied.detail
            )
        elif self.rejects.troubled and outcome is Outcome.ACCEPTED:
            self.rejects.accepted(
                applied.key[0] if applied.key is not None else _origin(message.topic)
            )
        return applied

    def _notify(self, topic: str, applied: Applied) -> None:
        """Tell the readers what ``applied`` changed (caller holds the lock)."""
        outcome = applied.outcome
        if applied.key is not None:
            if outcome is Outcome.ACCEPTED:
                self.feed.push(applied.key)
            elif outcome is Outcome.REMOVED:
                self.feed.push(applied.key, "cleared")
            return
        if outcome not in (Outcome.ACCEPTED, Outcome.REMOVED):
            return
        try:
            hosts = {topics.parse(topic).host}
        except TopicError:
            try:
                site = topics.parse_bridge(topic)
            except TopicError:
                return
            hosts = {h for h, rec in self.state.hosts.items() if sites.site_of(rec) == site}
        for host in hosts:
            self.feed.push(host)
            for sid in self.state.index.by_host.get(host, ()):
                self.feed.push((host, sid))

    # -- the reaper lease, as readers see it ---------------------------------------------------

    def health(self) -> Health:
        """Return the health document (see :meth:`StateReads.health`) with the lease's state.

        ``lease_held`` and ``lease`` say whether this aggregator holds the reaper lease and, if
        not, who does (None before :meth:`start`).
        """
        health = super().health()
        held, text = self.lease.status()
        return health.model_copy(update={"lease_held": held, "lease": text})

    def snapshot(self) -> StateSnapshot:
        """Return the exporter's snapshot (see :meth:`StateReads.snapshot`) with the lease's state.

        ``lease_held`` is the lease gauge (None before :meth:`start`); the counters carry the
        lease changes.
        """
        snap = super().snapshot()
        held, _text = self.lease.status()
        snap.counters.lease_changes = self.lease.changes
        return dataclasses.replace(snap, lease_held=held)

    def reap(self) -> list[HistoryEntry]:
        """Run one reaper pass now; returns the entries of the sessions reaped in it.

        See :meth:`~sessionbeat.aggregator.reaper.Reaper.reap`.
        """
        return self.reaper.reap()
