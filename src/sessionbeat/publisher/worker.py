"""The host agent's worker thread: one queue in, and the only thread that touches the sessions.

Other threads only queue items (:class:`WorkQueue`): the IPC server its hook events, paho's
network thread a CONNECT, watchdog's thread a registry change. The :class:`Worker` owns
:class:`~sessionbeat.publisher.core.AgentCore`, the spool and every publish (through
:class:`~sessionbeat.publisher.link.BrokerLink`), so ordering is simple. It scans Claude Code's
registry when it changes (or every ``registry_poll_interval`` seconds where file-system events
are unavailable, and every :data:`REGISTRY_RESCAN_INTERVAL` seconds anyway), checks process
liveness and heartbeats every :data:`LIVENESS_INTERVAL` seconds, reads the inbox (events hooks
left while no agent answered) every :data:`INBOX_SCAN_INTERVAL` seconds, and keeps the status
file (:mod:`sessionbeat.publisher.status_file`) up to date. With ``announce`` on, it hands
every beat it publishes to the :class:`~sessionbeat.publisher.peers.PeerBoard` too.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sessionbeat.models import SessionBeat
from sessionbeat.publisher.core import AgentCore
from sessionbeat.publisher.ipc import HostEvent, IpcServer, Refusal, iter_inbox
from sessionbeat.publisher.link import BrokerLink
from sessionbeat.publisher.registry_watch import RegistryWatcher
from sessionbeat.publisher.status_file import StatusFile
from sessionbeat.settings import Settings

if TYPE_CHECKING:
    from sessionbeat.publisher.peers import PeerBoard

log = logging.getLogger(__name__)

INBOX_SCAN_INTERVAL = 1.0
"""Seconds between scans of the inbox (events hooks left while no agent answered)."""
LIVENESS_INTERVAL = 1.0
"""Seconds between checks that each session's process still runs (kill -9 fires no hook)."""
REGISTRY_RESCAN_INTERVAL = 30.0
"""Seconds between full registry scans while file-system events are watched (a safety net)."""


@dataclass(frozen=True, slots=True)
class _Connected:
    pass


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


@dataclass(frozen=True, slots=True)
class _RegistryChanged:
    pass


_Item = HostEvent | _Connected | _Stop | _RegistryChanged


class WorkQueue:
    """What other threads hand the worker: hook events, CONNECTs, registry changes, the stop.

    Every method may be called from any thread. ``frames_refused`` counts the hook frames the
    IPC server refused, per reason.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[_Item] = queue.Queue()
        self.registry_pending = threading.Event()
        self.frames_refused: Counter[str] = Counter()

    def put(self, event: HostEvent) -> None:
        """Queue one hook event or status-line reading (the IPC server's thread)."""
        self.queue.put(event)

    def connected(self) -> None:
        """Queue a CONNECT accepted by the broker (paho's thread)."""
        self.queue.put(_Connected())

    def registry_changed(self) -> None:
        """Queue one registry scan (watchdog's thread); bursts of events share one scan."""
        if not self.registry_pending.is_set():
            self.registry_pending.set()
            self.queue.put(_RegistryChanged())

    def refused(self, refusal: Refusal, detail: str) -> None:
        """Count a hook frame the IPC server refused; log the first of each reason."""
        self.frames_refused[refusal] += 1
        if self.frames_refused[refusal] == 1:
            log.warning("refused a frame from a hook (%s): %s", refusal, detail)

    def stop(self) -> None:
        """Make :meth:`Worker.run` return once it has handled what was queued before."""
        self.queue.put(_Stop())


class Worker:
    """The agent's worker: run :meth:`run` in one thread; it returns after :meth:`WorkQueue.stop`.

    Takes the settings, a clock returning aware UTC datetimes, the core, the broker link, the
    IPC server (to release each event's frame), the registry watcher (None: polling only), the
    work queue, the status file and the peer board of ``announce`` (None: off). Errors in one
    item are logged and the loop goes on.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime],
        core: AgentCore,
        link: BrokerLink,
        ipc: IpcServer,
        watcher: RegistryWatcher | None,
        work: WorkQueue,
        status_file: StatusFile,
        peers: PeerBoard | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state_dir = settings.state_dir
        self.core = core
        self.link = link
        self.spool = link.spool
        self.ipc = ipc
        self.watcher = watcher
        self.work = work
        self.status_file = status_file
        self.peers = peers
        self._replay_due: float | None = None

    def _send(self, beat: SessionBeat) -> None:
        """Publish one beat (spooled while offline) and show it to the peer board."""
        self.link.send(beat)
        if self.peers is not None:
            self.peers.note_beat(beat)

    def _handle(self, item: _Item) -> None:
        if isinstance(item, _Connected):
            # `sessionbeat doctor` must see the connection before anyone sees the birth.
            self._write_status()
            if self.spool.size() == 0:
                self._birth()
                self._write_status()
            else:
                # After a broker restart every subscriber has lost its session; give them
                # replay_grace seconds to subscribe again before the spooled transitions go.
                self._replay_due = time.monotonic() + self.settings.replay_grace
            return
        if isinstance(item, _Stop):
            return
        if isinstance(item, _RegistryChanged):
            self.work.registry_pending.clear()
            self._scan_registry()
            return
        try:
            for beat in self.core.handle(item, self.clock()):
                self._send(beat)
        finally:
            self.ipc.release(item)  # its frame's bytes may be taken by the next hook
        if item.source is not None:
            item.source.unlink(missing_ok=True)

    def _birth(self) -> None:
        beats = self.core.republish(self.clock())
        self.link.birth(beats)
        if self.peers is not None:
            for beat in beats:
                self.peers.note_beat(beat)

    def _scan_registry(self) -> None:
        if self.watcher is not None:
            self.watcher.arm()  # the folder may have appeared since the last scan
        for beat in self.core.sync_registry(self.clock()):
            self._send(beat)

    def _registry_period(self) -> float:
        """Seconds until the next full registry scan: long while events are watched."""
        if self.watcher is not None and self.watcher.watching:
            return REGISTRY_RESCAN_INTERVAL
        return self.settings.registry_poll_interval

    def _tick(self, scan_registry: bool) -> None:
        if scan_registry:
            self._scan_registry()
        for beat in self.core.tick(self.clock(), scan_registry=False):
            self._send(beat)
        if self.link.connected.is_set() and not self.link.online and self.spool.size() == 0:
            self._birth()
        self._write_status()

    def drain_inbox(self) -> None:
        """Handle every event hooks left in ``<state_dir>/inbox`` while no agent answered."""
        for event in iter_inbox(self.state_dir / "inbox"):
            self._handle(event)

    def run(self) -> None:
        """Handle queued items, replays, inbox scans and ticks until the stop item arrives."""
        next_tick = next_inbox = next_scan = 0.0
        while True:
            now = time.monotonic()
            wake = min(next_tick, next_inbox, self._replay_due or next_tick)
            timeout = max(0.0, wake - now)
            try:
                item = self.work.queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            try:
                if isinstance(item, _Stop):
                    return
                if item is not None:
                    self._handle(item)
                now = time.monotonic()
                if self._replay_due is not None and now >= self._replay_due:
                    self._replay_due = None
                    if self.link.connected.is_set() and self.link.replay_spool():
                        self._birth()
                if now >= next_inbox:
                    self.drain_inbox()
                    next_inbox = now + INBOX_SCAN_INTERVAL
                if now >= next_tick:
                    scan = now >= next_scan
                    self._tick(scan_registry=scan)
                    if scan:
                        next_scan = now + self._registry_period()
                    next_tick = now + min(LIVENESS_INTERVAL, self._registry_period())
            except Exception:  # one bad input must not stop the agent
                log.exception("agent worker error (continuing)")

    def _write_status(self) -> None:
        """Hand ``agent-status.json`` its current content (written only if it changed).

        ``sessionbeat agent status`` and ``doctor`` read it.
        """
        link = self.link
        self.status_file.write(
            {
                "pid": os.getpid(),
                "host": self.settings.host,
                "broker": self.settings.broker.display(),
                "connected": link.connected.is_set(),
                "online": link.online,
                "registry_watched": self.watcher is not None and self.watcher.watching,
                "bdseq": link.bdseq.value,
                "sessions": [
                    {"session_id": s.session_id, "status": s.status.value, "seq": s.seq}
                    for s in self.core.live_sessions()
                ],
                "published": link.published,
                "spooled_pending": len(self.spool.read()) if self.spool.size() else 0,
                "spool_errors": self.spool.errors,
                "spool_in_memory": self.spool.in_memory,
                "spool_dropped": self.spool.dropped,
                "spool_skipped": self.spool.skipped,
                "broker_max_packet_size": link.encoder.broker_max,
                "beats_minimal": link.encoder.minimal,
                "beats_dropped": link.encoder.dropped,
                "events": self.core.counters.events,
                "bad_events": dict(self.core.counters.bad_events),
                "frames_refused": dict(self.work.frames_refused),
                **({"announce": self.peers.status()} if self.peers is not None else {}),
            }
        )
