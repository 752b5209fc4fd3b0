"""The aggregator's reaper: a thread that expires sessions and writes them to the history.

About once a second (:data:`REAP_INTERVAL`) :class:`Reaper` runs
:func:`~sessionbeat.aggregator.state.expire` under the service's lock, writes the reaped
sessions (and those cleared by others since, noted by the ingest path) to the SQLite history,
clears their retained topics and those of the hosts the state forgot (offline, no sessions,
``host_reap_after``), ticks the reject log and, every :data:`PRUNE_INTERVAL`, prunes the history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

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


class Reaper:
    """The reaper thread of one aggregator service and the history writes it makes.

    Shares the service's ``state`` behind ``lock``, its ``clock`` (aware UTC datetimes), change
    ``feed``, ``history`` store and MQTT ``link`` (to clear retained topics). ``interval`` is
    the period in seconds; ``stopping`` is the service's stop event (the thread ends when it is
    set); ``tick`` is called after every pass (the reject log's per-minute summary).
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

        The caller holds the lock (the ingest path notes it while applying the message).
        """
        self._pending.append(entry)

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
        for r in reaped:
            host, session_id = r.key
            log.info("reaped %s/%s (%s)", host, session_id, r.reason)
            self._clear(topics.session_topic(host, session_id), site_of.get(host))
        for host in gone_hosts:
            log.info("forgot host %s (offline without sessions)", host)
            self._clear(topics.status_topic(host), site_of.get(host))
        self.flush(entries)
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
        """Write ``entries`` and the cleared sessions noted since; else retry what waits."""
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
