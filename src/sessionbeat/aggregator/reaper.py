"""The aggregator's reaper: a thread that expires sessions and writes them to the history.

About once a second (:data:`REAP_INTERVAL`) :class:`Reaper` runs
:func:`~sessionbeat.aggregator.state.expire` under the service's lock, writes the reaped
sessions (and those cleared by others since, noted by the ingest path) to the SQLite history,
clears their retained topics and those of the hosts the state forgot (offline, no sessions,
``host_reap_after``), ticks the reject log and, every :data:`PRUNE_INTERVAL`, prunes the history.

With more than one aggregator on a broker only the holder of the reaper lease
(:class:`~sessionbeat.aggregator.lease.ReaperLease`) writes and clears; every aggregator still
expires its own state, so each one's ``/sessions`` stays the same. A standby keeps what it
reaped, keyed by the topic to clear, until the holder's clear of that topic arrives (the
ingest path calls :meth:`Reaper.confirm`); if it takes the lease over first, it writes and
clears what is still unconfirmed: a session the old holder had not reaped when it died is
written once. Sessions cleared by someone else are written by the holder; a standby keeps
them only while no other holder's claim stands (docs/architecture.md, "More than one
aggregator").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sessionbeat import topics
from sessionbeat.aggregator import sites, views
from sessionbeat.aggregator.events import ChangeFeed
from sessionbeat.aggregator.history import History
from sessionbeat.aggregator.mqtt_link import MqttLink
from sessionbeat.aggregator.state import AggregatorState, SessionKey, expire
from sessionbeat.models import HistoryEntry

log = logging.getLogger(__name__)

REAP_INTERVAL = 1.0
"""Seconds between two runs of the reaper."""

PRUNE_INTERVAL = 3600.0
"""Seconds between two prunes of the history."""

MAX_STANDBY = 10_000
"""Reaped sessions and forgotten hosts a standby keeps unconfirmed at most (oldest go first)."""


class LeaseGate(Protocol):
    """What the reaper asks the lease (:class:`~sessionbeat.aggregator.lease.ReaperLease`)."""

    @property
    def held(self) -> bool:
        """True while this aggregator holds the lease (it writes, clears and notifies)."""

    def someone_else_holds(self) -> bool:
        """Return True while another aggregator's claim stands."""


class SoleHolder:
    """The lease of an aggregator alone: always held (tests, benchmarks)."""

    held = True

    def someone_else_holds(self) -> bool:
        """Return False: nobody else."""
        return False


class Reaper:
    """The reaper thread of one aggregator service and the history writes it makes.

    Shares the service's ``state`` behind ``lock``, its ``clock`` (aware UTC datetimes), change
    ``feed``, ``history`` store and MQTT ``link`` (to clear retained topics). ``interval`` is
    the period in seconds; ``stopping`` is the service's stop event (the thread ends when it is
    set); ``tick`` is called after every pass (the reject log's per-minute summary). ``lease``
    says whether this aggregator holds the reaper lease (default: alone, always).
    """

    def __init__(
        self,
        state: AggregatorState,
        lock: threading.Lock,
        clock: Callable[[], datetime],
        feed: ChangeFeed,
        history: History,
        link: MqttLink,
        *,
        interval: float = REAP_INTERVAL,
        stopping: threading.Event,
        tick: Callable[[], object],
        lease: LeaseGate | None = None,
    ) -> None:
        self.state = state
        self.lock = lock
        self.clock = clock
        self.feed = feed
        self.history = history
        self.link = link
        self.interval = interval
        self._stopping = stopping
        self._tick = tick
        self._thread: threading.Thread | None = None
        self._pending: list[HistoryEntry] = []
        self.lease: LeaseGate = lease or SoleHolder()
        self._standby: dict[str, HistoryEntry | None] = {}
        """Topics a standby reaped (a session's entry, None for a host's status), unconfirmed."""
        self._standby_sites: dict[str, str] = {}
        """The site of each standby topic whose host is behind a site broker."""
        self.taken_over = 0
        """Unconfirmed sessions this aggregator wrote and cleared when it took the lease over."""

    def start(self) -> None:
        """Start the reaper thread (a daemon); it runs until ``stopping`` is set."""
        self._thread = threading.Thread(target=self._loop, name="sessionbeat-reaper", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the thread to end (after ``stopping`` was set)."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def note_cleared(self, entry: HistoryEntry) -> None:
        """Keep the entry of a session cleared by someone else for the next write.

        The caller holds the lock (the ingest path notes it while applying the message). A
        standby drops it while another aggregator's claim stands: the holder writes it.
        """
        if self.lease.held or not self.lease.someone_else_holds():
            self._pending.append(entry)

    def confirm(self, topic: str) -> None:
        """Forget what a standby reaped on ``topic``: a zero-length message (a clear) arrived.

        The caller holds the lock; cheap when nothing waits (the ingest path calls it for every
        zero-length message).
        """
        if self._standby:
            self._standby.pop(topic, None)
            self._standby_sites.pop(topic, None)

    def _loop(self) -> None:
        next_prune = 0.0
        elapsed = 0.0
        while not self._stopping.wait(self.interval):
            try:
                self.reap()
                self._tick()
                elapsed += self.interval
                if elapsed >= next_prune:
                    self.history.prune()
                    next_prune = elapsed + PRUNE_INTERVAL
            except Exception:  # the reaper must survive anything
                log.exception("reaper run failed")

    def reap(self) -> list[HistoryEntry]:
        """Run one reaper pass now: expire, write the history, clear the retained topics.

        Returns the history entries of the sessions reaped in this pass (reasons ``ended`` and
        ``expired``); entries of sessions cleared by others are written too. Hosts forgotten in
        this pass (offline without sessions for ``host_reap_after``) have their retained status
        topic cleared.
        """
        now = self.clock()
        changed: list[SessionKey] = []
        gone_hosts: list[str] = []
        with self.lock:
            reaped = expire(self.state, now, changed, gone_hosts)
            site_of = {
                name: site
                for name in {r.key[0] for r in reaped} | set(gone_hosts)
                if (record := self.state.hosts.get(name)) and (site := sites.site_of(record))
            }
            entries = [
                views.history_entry(
                    r.record, self.state.hosts.get(r.key[0]), now, self.state, r.reason
                )
                for r in reaped
            ]
            if self.feed.active:
                for key in changed:
                    self.feed.push(key)
                for r in reaped:
                    self.feed.push(r.key, r.reason)
        cleared: list[tuple[str, HistoryEntry | None]] = [
            (topics.session_topic(*r.key), entry) for r, entry in zip(reaped, entries, strict=True)
        ]
        cleared += [(topics.status_topic(host), None) for host in gone_hosts]
        for r in reaped:
            log.info("reaped %s/%s (%s)", r.key[0], r.key[1], r.reason)
        for host in gone_hosts:
            log.info("forgot host %s (offline without sessions)", host)
        site_by_topic = {
            topic: site
            for (topic, _entry), host in zip(
                cleared, [*(r.key[0] for r in reaped), *gone_hosts], strict=True
            )
            if (site := site_of.get(host)) is not None
        }
        if not self.lease.held:
            self._keep_for_takeover(cleared, site_by_topic)
            return entries
        batch = self._take_over()
        for topic, _entry in cleared:
            self._clear(topic, site_by_topic.get(topic))
        self.flush([*batch, *entries])
        return entries

    def _keep_for_takeover(
        self, cleared: list[tuple[str, HistoryEntry | None]], site_by_topic: dict[str, str]
    ) -> None:
        """Standby: keep what this pass reaped until the holder clears it; drop noted clears.

        ``site_by_topic`` names the site of each topic whose host is behind a site broker.
        """
        with self.lock:
            if self.lease.someone_else_holds():
                self._pending.clear()
            for topic, entry in cleared:
                self._standby.pop(topic, None)
                self._standby[topic] = entry
                if topic in site_by_topic:
                    self._standby_sites[topic] = site_by_topic[topic]
            while len(self._standby) > MAX_STANDBY:
                oldest = next(iter(self._standby))
                del self._standby[oldest]
                self._standby_sites.pop(oldest, None)

    def _take_over(self) -> list[HistoryEntry]:
        """Holder: clear what was reaped as standby and never confirmed; return its entries."""
        if not self._standby:
            return []
        with self.lock:
            waiting, self._standby = self._standby, {}
            waiting_sites, self._standby_sites = self._standby_sites, {}
        entries = [entry for entry in waiting.values() if entry is not None]
        for topic in waiting:
            self._clear(topic, waiting_sites.get(topic))
        self.taken_over += len(entries)
        log.info(
            "took over %d reaped sessions and %d forgotten hosts no holder had cleared",
            len(entries),
            len(waiting) - len(entries),
        )
        return entries

    def _clear(self, topic: str, site: str | None) -> None:
        """Clear ``topic`` on our broker and, for a host behind a site, on its site broker.

        The site broker keeps its own retained copy and re-sends it whenever its bridge
        reconnects (measured: docs/architecture.md, "Sites and bridges"); the clear published
        on ``sessionbeat/sites/<site>/v1/...`` reaches it through the bridge's ``in`` topic.
        """
        self.link.clear_retained(topic)
        if site is not None:
            self.link.clear_retained(topics.site_mirror(site, topic))

    def flush(self, entries: list[HistoryEntry] | None = None) -> None:
        """Write ``entries`` and the cleared sessions noted since; else retry what waits.

        A standby (not holding the lease) writes nothing.
        """
        if not self.lease.held:
            return
        with self.lock:
            pending, self._pending = self._pending, []
        batch = [*(entries or []), *pending]
        if batch:
            self.history.add(batch)
        elif self.history.pending:
            self.history.flush()
        else:
            return
        self.sync_errors()

    def sync_errors(self) -> None:
        """Copy the history's error count into the state's counters (the exporter reads them)."""
        with self.lock:
            self.state.counters.history_errors = self.history.errors

    def final_flush(self) -> None:
        """Write everything that waits, past the retry interval: the last chance, at shutdown.

        Logs at ERROR how many reaped sessions could still not be written (they are lost).
        """
        self.flush()
        if self.history.pending:
            self.history.flush(force=True)
        if self.history.pending:
            log.error(
                "%d reaped sessions were never written to the history %s (%s); they are lost",
                self.history.pending,
                self.history.path,
                self.history.last_error,
            )
