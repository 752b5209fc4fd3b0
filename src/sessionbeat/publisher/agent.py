"""The host agent: one long-lived process per host between Claude Code's hooks and the broker.

Threads: the IPC server (``publisher/ipc.py``) queues hook events; paho's network thread runs the
MQTT callbacks and watchdog's thread the registry watch (``publisher/registry_watch.py``), which
only queue signals; one worker thread owns :class:`AgentCore`, the spool and every publish, so
ordering is simple. The worker scans Claude Code's registry when it changes (or every
``registry_poll_interval`` seconds where file-system events are unavailable, and every
:data:`REGISTRY_RESCAN_INTERVAL` seconds anyway), and checks process liveness and heartbeats
every :data:`LIVENESS_INTERVAL` seconds. MQTT (zigbee2mqtt ``lib/mqtt.ts`` style):

* a retained Last Will ``{"state":"offline","bdseq":N}`` on ``sessionbeat/v1/<host>/status``,
  where ``bdseq`` (Sparkplug B) is persisted and incremented before every CONNECT;
* on CONNECT: replay the offline spool (after ``replay_grace`` seconds, so that subscribers
  that lost their session in a broker restart are back; bounded in flight: paho loses messages
  past 65,535 outstanding packet ids), re-publish every live session, then the retained birth
  (``online``, same ``bdseq``);
* a clean stop (SIGTERM, Ctrl-C) publishes ``offline`` itself before DISCONNECT.

Beats are retained, QoS 1, with a Message Expiry Interval of ``reap_after`` seconds. Every
payload fits the shared payload limit and the broker's MQTT 5 Maximum Packet Size from its
CONNACK (``publisher/limits.py``: a beat that does not is sent minimal, and counted), so no
publish can make the broker drop the connection. Hook frames hold their bytes of the IPC
server's budget until handled, and the inbox is read one event at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from filelock import FileLock, Timeout

from sessionbeat import __version__, topics
from sessionbeat.broker.client import connect_error_text, make_client, publish_properties
from sessionbeat.errors import AgentAlreadyRunningError
from sessionbeat.models import HostState, HostStatus, SessionBeat, utc_now
from sessionbeat.publisher.core import AgentCore, CoreConfig, HostReaders
from sessionbeat.publisher.ipc import HostEvent, IpcServer, Refusal, iter_inbox
from sessionbeat.publisher.limits import BeatEncoder
from sessionbeat.publisher.registry_watch import RegistryWatcher
from sessionbeat.publisher.spool import SessionStore, Spool, SpoolRecord
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

REPLAY_BATCH = 500
"""Spooled messages published before waiting for their PUBACKs (bounds paho's in-flight ids)."""
PUBLISH_WAIT = 10.0
"""Seconds to wait for a batch's acknowledgements during a replay."""
INBOX_SCAN_INTERVAL = 1.0
"""Seconds between scans of the inbox (events hooks left while no agent answered)."""
LIVENESS_INTERVAL = 1.0
"""Seconds between checks that each session's process still runs (kill -9 fires no hook)."""
REGISTRY_RESCAN_INTERVAL = 30.0
"""Seconds between full registry scans while file-system events are watched (a safety net)."""
STATUS_REFRESH = 30.0
"""Seconds after which ``agent-status.json`` is rewritten even if nothing in it changed."""


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


class BdseqCounter:
    """The birth/death sequence number, persisted in ``<state_dir>/bdseq``.

    A missing file starts at 0; an unreadable one (not a non-negative number, or a read error)
    too, and says so once in the log. A failure to persist is logged once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = -1
        self._logged_write = False
        try:
            text = path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read bdseq from %s (%s): starting again from 0", path, exc)
            return
        try:
            value = int(text.strip())
        except ValueError:
            value = -1
        if value < 0:
            log.warning("cannot read bdseq from %s (%r): starting again from 0", path, text[:40])
            return
        self.value = value

    def next(self) -> int:
        """Increment, persist (best effort) and return the new value."""
        self.value += 1
        try:
            self.path.write_text(f"{self.value}\n")
            self._logged_write = False
        except OSError as exc:
            if not self._logged_write:
                log.warning("cannot persist bdseq in %s: %s", self.path, exc)
                self._logged_write = True
        return self.value


class HostAgent:
    """The agent: call :meth:`run` (blocks until :meth:`stop`) or :meth:`start` for a thread.

    Takes the settings, the host readers (``publisher.readers.ClaudeReaders`` by default) and a
    clock returning aware UTC datetimes. Raises :class:`AgentAlreadyRunningError` from
    :meth:`start`/:meth:`run` when another agent already serves ``settings.state_dir``.
    """

    def __init__(
        self,
        settings: Settings,
        readers: HostReaders | None = None,
        clock: Callable[[], datetime] = utc_now,
        transport: str | None = None,
    ) -> None:
        if readers is None:
            from sessionbeat.publisher.readers import ClaudeReaders

            readers = ClaudeReaders(settings)
        self.settings = settings
        self.clock = clock
        state_dir = settings.state_dir
        self.state_dir = state_dir
        self.core = AgentCore(
            settings.host,
            readers,
            CoreConfig(
                heartbeat_interval=settings.heartbeat_interval,
                ended_linger=settings.ended_linger,
                reap_after=settings.reap_after,
                include_detail=settings.include_detail,
                detail_max_chars=settings.detail_max_chars,
            ),
            SessionStore(state_dir / "sessions"),
        )
        self.spool = Spool(state_dir / "spool.jsonl", settings.spool_max_bytes)
        self.bdseq = BdseqCounter(state_dir / "bdseq")
        self.lock = FileLock(str(state_dir / "agent.lock"))
        self.queue: queue.Queue[_Item] = queue.Queue()
        self.ipc = IpcServer(
            state_dir,
            self.queue.put,
            self._ipc_error,
            transport or os.environ.get("SESSIONBEAT_AGENT_TRANSPORT"),
        )
        self.client = make_client(
            f"sessionbeat-agent-{settings.host}", settings.broker, ca_file=settings.broker_ca_file
        )
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self._connect_error: str | None = None
        self._registry_pending = threading.Event()
        self._status_written: dict[str, object] = {}
        self._status_time = 0.0
        self.watcher = (
            RegistryWatcher(settings.claude_config_dir, self._registry_changed)
            if settings.registry_watch
            else None
        )
        self.connected = threading.Event()
        self.ready = threading.Event()
        self.published = 0
        self.spooled = 0
        self.encoder = BeatEncoder()
        self.frames_refused: Counter[str] = Counter()
        self._online = False
        self._replay_due: float | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # -- MQTT callbacks (paho's thread): only flags and queue items -------------------------

    def _set_will(self) -> None:
        bdseq = self.bdseq.next()
        payload = HostStatus(host=self.settings.host, state=HostState.OFFLINE, bdseq=bdseq)
        self.client.will_set(
            topics.status_topic(self.settings.host),
            payload.model_dump_json(exclude_none=True),
            qos=1,
            retain=True,
        )

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        self._connect_error = None
        # MQTT 5: the broker's Maximum Packet Size (None: no limit announced).
        self.encoder.broker_max = getattr(props, "MaximumPacketSize", None)
        log.info("connected to %s (bdseq %d)", self.settings.broker.display(), self.bdseq.value)
        self.connected.set()
        self.queue.put(_Connected())

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """Log why a connection attempt failed: a warning per new reason, then debug lines."""
        reason = connect_error_text(sys.exc_info()[1])  # paho calls this in its except block
        level = logging.DEBUG if reason == self._connect_error else logging.WARNING
        self._connect_error = reason
        log.log(level, "cannot connect to %s: %s", self.settings.broker.display(), reason)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        self._online = False
        if self._stopped.is_set():
            return
        if was:
            log.warning("disconnected from broker: %s; spooling", reason)
        self._set_will()  # the next CONNECT carries a new bdseq

    def _registry_changed(self) -> None:
        """Queue one registry scan (watchdog's thread); bursts of events share one scan."""
        if not self._registry_pending.is_set():
            self._registry_pending.set()
            self.queue.put(_RegistryChanged())

    def _ipc_error(self, refusal: Refusal, detail: str) -> None:
        self.frames_refused[refusal] += 1
        if self.frames_refused[refusal] == 1:
            log.warning("refused a frame from a hook (%s): %s", refusal, detail)

    # -- publishing (worker thread only) ------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, expiry: float | None) -> bool:
        if not self.connected.is_set():
            return False
        info = self.client.publish(
            topic, payload, qos=1, retain=True, properties=publish_properties(expiry)
        )
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _stamped(self, beat: SessionBeat) -> SessionBeat:
        """Return ``beat`` stamped with the agent's birth epoch (``bdseq``), to be encoded.

        The aggregator orders a session's beats by ``(bdseq, seq)``, not by the host's clock.
        """
        beat.bdseq = max(self.bdseq.value, 0)  # -1 only before the very first CONNECT
        return beat

    def _send_beat(self, beat: SessionBeat) -> None:
        topic, payload = self.encoder.encode(self._stamped(beat))
        if payload is None:
            return
        created = time.time()
        # Keep order: until the spool is replayed and the birth is out, new beats queue behind.
        if (
            self._online
            and self.spool.size() == 0
            and self._publish(topic, payload, self.settings.reap_after)
        ):
            self.published += 1
            return
        if self.spool.append(SpoolRecord(topic, payload, created)):
            self.spooled += 1

    def _replay_spool(self) -> bool:
        """Publish the spool in order, in acknowledged batches; True when it is empty."""
        records = self.spool.read()
        done = 0
        while done < len(records):
            batch = records[done : done + REPLAY_BATCH]
            infos: list[mqtt.MQTTMessageInfo | None] = []  # None: a record nothing can send
            for record in batch:
                age = max(0.0, time.time() - record.created)
                expiry = max(1.0, self.settings.reap_after - age)
                if not self.connected.is_set():
                    break
                payload = self.encoder.refit(record.topic, record.payload)
                infos.append(
                    None
                    if payload is None
                    else self.client.publish(
                        record.topic,
                        payload,
                        qos=1,
                        retain=True,
                        properties=publish_properties(expiry),
                    )
                )
            try:
                for info in infos:
                    if info is not None:
                        info.wait_for_publish(PUBLISH_WAIT)
            except (RuntimeError, ValueError) as exc:
                log.warning("spool replay interrupted: %s", exc)
            acked = 0
            for info in infos:
                if info is not None and not info.is_published():
                    break
                acked += 1
                if info is not None:
                    self.published += 1
            done += acked
            if acked < len(batch):
                self.spool.remove_first(done)
                return False
        if records:
            log.info("replayed %d spooled beats", done)
            self.spool.remove_first(done)
        return True

    def _birth(self) -> None:
        for beat in self.core.republish(self.clock()):
            topic, payload = self.encoder.encode(self._stamped(beat))
            if payload is not None:
                self._publish(topic, payload, self.settings.reap_after)
        birth = HostStatus(
            host=self.settings.host,
            state=HostState.ONLINE,
            bdseq=self.bdseq.value,
            sent_at=self.clock(),
            agent_version=__version__,
            pid=os.getpid(),
            platform=f"{platform.system()} {platform.machine()}".strip(),
            heartbeat_interval=self.settings.heartbeat_interval,
        )
        info = self.client.publish(
            topics.status_topic(self.settings.host),
            birth.model_dump_json(exclude_none=True),
            qos=1,
            retain=True,
        )
        self._online = info.rc == mqtt.MQTT_ERR_SUCCESS

    # -- the worker ------------------------------------------------------------------------

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
            self._registry_pending.clear()
            self._scan_registry()
            return
        try:
            for beat in self.core.handle(item, self.clock()):
                self._send_beat(beat)
        finally:
            self.ipc.release(item)  # its frame's bytes may be taken by the next hook
        if item.source is not None:
            item.source.unlink(missing_ok=True)

    def _scan_registry(self) -> None:
        if self.watcher is not None:
            self.watcher.arm()  # the folder may have appeared since the last scan
        for beat in self.core.sync_registry(self.clock()):
            self._send_beat(beat)

    def _registry_period(self) -> float:
        """Seconds until the next full registry scan: long while events are watched."""
        if self.watcher is not None and self.watcher.watching:
            return REGISTRY_RESCAN_INTERVAL
        return self.settings.registry_poll_interval

    def _tick(self, scan_registry: bool) -> None:
        if scan_registry:
            self._scan_registry()
        for beat in self.core.tick(self.clock(), scan_registry=False):
            self._send_beat(beat)
        if self.connected.is_set() and not self._online and self.spool.size() == 0:
            self._birth()
        self._write_status()

    def _drain_inbox(self) -> None:
        for event in iter_inbox(self.state_dir / "inbox"):
            self._handle(event)

    def _work(self) -> None:
        next_tick = next_inbox = next_scan = 0.0
        while True:
            now = time.monotonic()
            wake = min(next_tick, next_inbox, self._replay_due or next_tick)
            timeout = max(0.0, wake - now)
            try:
                item = self.queue.get(timeout=timeout)
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
                    if self.connected.is_set() and self._replay_spool():
                        self._birth()
                if now >= next_inbox:
                    self._drain_inbox()
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
        """Write ``agent-status.json`` if anything in it changed (or every 30 s, for its time).

        ``sessionbeat agent status`` and ``doctor`` read it. Writing an unchanged file every
        second was most of the idle agent's CPU time.
        """
        status: dict[str, object] = {
            "pid": os.getpid(),
            "host": self.settings.host,
            "broker": self.settings.broker.display(),
            "connected": self.connected.is_set(),
            "online": self._online,
            "registry_watched": self.watcher is not None and self.watcher.watching,
            "bdseq": self.bdseq.value,
            "sessions": [
                {"session_id": s.session_id, "status": s.status.value, "seq": s.seq}
                for s in self.core.live_sessions()
            ],
            "published": self.published,
            "spooled_pending": len(self.spool.read()) if self.spool.size() else 0,
            "spool_errors": self.spool.errors,
            "spool_in_memory": self.spool.in_memory,
            "spool_dropped": self.spool.dropped,
            "spool_skipped": self.spool.skipped,
            "broker_max_packet_size": self.encoder.broker_max,
            "beats_minimal": self.encoder.minimal,
            "beats_dropped": self.encoder.dropped,
            "events": self.core.counters.events,
            "bad_events": dict(self.core.counters.bad_events),
            "frames_refused": dict(self.frames_refused),
        }
        now = time.monotonic()
        if status == self._status_written and now - self._status_time < STATUS_REFRESH:
            return
        self._status_written, self._status_time = dict(status), now
        status["updated_at"] = self.clock().isoformat()
        try:
            tmp = self.state_dir / "agent-status.json.tmp"
            tmp.write_text(json.dumps(status, indent=1))
            tmp.replace(self.state_dir / "agent-status.json")
        except OSError:
            pass

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Take the lock, restore sessions, listen for hooks and connect (returns at once)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=0)
        except Timeout as exc:
            raise AgentAlreadyRunningError(f"an agent already runs for {self.state_dir}") from exc
        (self.state_dir / "agent.pid").write_text(f"{os.getpid()}\n")
        restored = self.core.restore()
        if restored:
            log.info("restored %d sessions from %s", restored, self.state_dir / "sessions")
        self.ipc.start()
        if self.watcher is not None:
            self.watcher.start()
        self._drain_inbox()
        self._set_will()
        broker = self.settings.broker
        self.client.connect_async(broker.host, broker.port, keepalive=self.settings.mqtt_keepalive)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._work, name="sb-agent", daemon=True)
        self._thread.start()
        self.ready.set()
        log.info(
            "agent %s for host %s started (broker %s)",
            __version__,
            self.settings.host,
            broker.display(),
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop cleanly: publish ``offline`` (retained) before DISCONNECT, release the lock."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.ipc.stop()
        if self.watcher is not None:
            self.watcher.stop()
        self.queue.put(_Stop())
        if self._thread is not None:
            self._thread.join(timeout)
        if self.connected.is_set():
            offline = HostStatus(
                host=self.settings.host,
                state=HostState.OFFLINE,
                bdseq=self.bdseq.value,
                sent_at=self.clock(),
            )
            info = self.client.publish(
                topics.status_topic(self.settings.host),
                offline.model_dump_json(exclude_none=True),
                qos=1,
                retain=True,
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        (self.state_dir / "agent.pid").unlink(missing_ok=True)
        self.lock.release()
        log.info("agent stopped")

    def run(self) -> None:
        """Start, then block until :meth:`stop` is called (e.g. from a signal handler)."""
        self.start()
        self._stopped.wait()
