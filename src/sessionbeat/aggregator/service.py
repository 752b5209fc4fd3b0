"""The aggregator service: MQTT in, pure state core behind a lock, reaper, history, readers.

Threads:

* paho's network thread (``loop_start``) calls :meth:`AggregatorService._on_message`, which
  applies each message to the :class:`~sessionbeat.aggregator.state.AggregatorState` under
  ``self.lock``;
* the reaper thread runs :func:`~sessionbeat.aggregator.state.expire` about once a second,
  writes reaped sessions to the SQLite history and clears their retained topics;
* readers (HTTP handlers, the Prometheus collector) take the lock briefly to build views or a
  :class:`~sessionbeat.aggregator.snapshot.StateSnapshot`.

**The retained snapshot is taken at QoS 0, the live feed at QoS 1.** A cold start replays every
retained session at once (10,000 and more). Measured with stock Mosquitto limits
(``max_queued_messages 1000``, ``max_inflight_messages 20``), a QoS 1 subscriber to
``sessionbeat/v1/#`` received only 1,020 of 10,000 retained messages, silently; a QoS 0
subscription is never queued against those limits and got all of them (docs/architecture.md,
"Measured here"). So on a fresh MQTT session the aggregator subscribes twice to the same filter:
first with QoS 0 (the broker sends the whole retained snapshot, uncut), then with QoS 1 and
Retain Handling 2 ("do not send retained"), which replaces the subscription without a second
flood. The session is persistent within one process (``clean_start`` first time only, Session
Expiry :data:`SESSION_EXPIRY`): while the aggregator is disconnected (its network, a broker
restart with persistence) the broker queues what hosts publish, and the reconnect delivers every
transition in order instead of only the final retained state. A new process starts clean and
takes a fresh snapshot. The ordering rule (``bdseq``, ``seq``) makes any overlap idempotent.
A retained message's Message Expiry Interval is passed on to the core: it ages the replay.

Rejected messages are counted in the state's counters and logged through a
:class:`~sessionbeat.aggregator.reject_log.RejectLog`: the first per (reason, host or topic) at
WARNING within a global budget, a summary line per minute of what was held back, and a host's
recovery once. Hosts the reaper forgets (offline, no sessions, ``host_reap_after``) have their
retained status topic cleared.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import BaseModel

from sessionbeat import __version__, topics
from sessionbeat.aggregator import views
from sessionbeat.aggregator.events import ChangeFeed, ChangeKey
from sessionbeat.aggregator.history import History
from sessionbeat.aggregator.reject_log import RejectLog
from sessionbeat.aggregator.snapshot import take_snapshot
from sessionbeat.aggregator.state import (
    AggregatorState,
    Applied,
    Limits,
    Message,
    Outcome,
    SessionKey,
    Timings,
    apply,
    expire,
)
from sessionbeat.broker.client import connect_error_text, connect_properties, make_client
from sessionbeat.errors import NotFoundError, TopicError
from sessionbeat.exporter.snapshot import StateSnapshot
from sessionbeat.models import (
    Health,
    HistoryEntry,
    HostView,
    Overview,
    SessionDetail,
    SessionRemoved,
    SessionView,
    Summary,
    utc_now,
)
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

SUBSCRIBE_QOS = 0
"""QoS of the snapshot subscription: 0, so a retained flood cannot be cut (module doc)."""
LIVE_QOS = 1
"""QoS the subscription is upgraded to after the snapshot, so a disconnect loses nothing."""
RECONNECT_MAX_DELAY = 2
"""Seconds between the aggregator's reconnect attempts at most (see the agent's replay_grace)."""
SESSION_EXPIRY = 900
"""Seconds the broker keeps the aggregator's session (and queues for it) while it is away."""

REAP_INTERVAL = 1.0
"""Seconds between two runs of the reaper."""

PRUNE_INTERVAL = 3600.0
"""Seconds between two prunes of the history."""

GC_THRESHOLDS = (20_000, 20, 50)
"""Collector thresholds of the aggregator process (CPython's defaults: 700, 10, 10)."""

ChangeEvent = tuple[str, BaseModel]
"""An event for ``GET /events``: (``session`` | ``removed`` | ``host``, its payload model)."""


def tune_gc() -> None:
    """Tune CPython's garbage collector for a process that holds a large, long-lived state.

    A cold start creates about nine GC-tracked objects per retained session that all survive;
    with the default thresholds the young-generation collections that move them along, and the
    full collections that rescan every import-time object of FastAPI and pydantic, took about
    13 % of a 10,000-session rebuild (bench/README.md). This freezes what exists now (it is
    never rescanned; call it after the imports) and collects the young generation every
    :data:`GC_THRESHOLDS` allocations instead of 700. Process-wide: the ``aggregator`` command
    and the benchmarks call it; a library user decides for their own process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _origin(topic: str) -> str:
    """Return the host part of a sessionbeat topic, else the (cut) topic: the log-once key."""
    parts = topic.split("/", 3)
    if len(parts) >= 3 and parts[0] == "sessionbeat" and topics.is_valid_id(parts[2]):
        return parts[2]
    return topic[:120]


class AggregatorService:
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
        self.clock = clock
        self.lock = threading.Lock()
        self.state = AggregatorState(
            timings=Timings(
                stale_after=settings.stale_after,
                idle_after=settings.idle_after,
                reap_after=settings.reap_after,
                ended_linger=settings.ended_linger,
                host_reap_after=settings.host_reap_after,
            ),
            limits=Limits(max_sessions_per_host=settings.max_sessions_per_host),
        )
        self.history = history or History(
            settings.history_path, settings.history_keep_days, clock=clock
        )
        self.feed = ChangeFeed()
        self.reap_interval = reap_interval
        self.client_id = f"sessionbeat-aggregator-{settings.host}-{uuid.uuid4().hex[:8]}"
        # Reconnect quickly (every <= 2 s): agents wait replay_grace (3 s) after a broker restart
        # before replaying what they spooled, and the aggregator must be subscribed by then.
        self.client = make_client(
            self.client_id,
            settings.broker,
            ca_file=settings.broker_ca_file,
            reconnect_max_delay=RECONNECT_MAX_DELAY,
        )
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.broker_connected = False
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self._pending_history: list[HistoryEntry] = []
        self.rejects = RejectLog(log)
        self._unreachable_logged = False
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the history, connect to the broker (in the background) and start the reaper.

        Returns at once; paho keeps reconnecting with backoff while the broker is away
        (:attr:`broker_connected` tells). Use :meth:`wait_connected` to wait.
        """
        if self._started:
            return
        self._started = True
        self.history.open()
        self._sync_history_errors()
        broker = self.settings.broker
        log.info("connecting to %s as %s", broker.display(), self.client_id)
        self.client.connect_async(
            broker.host,
            broker.port,
            keepalive=self.settings.mqtt_keepalive,
            clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=connect_properties(SESSION_EXPIRY),
        )
        self.client.loop_start()
        self._reaper = threading.Thread(
            target=self._reap_loop, name="sessionbeat-reaper", daemon=True
        )
        self._reaper.start()

    def wait_connected(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until connected and subscribed; return the flag."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Stop the reaper, disconnect cleanly, close the readers' streams and the history."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=10)
        self._flush_history()
        if self.history.pending:
            self.history.flush(force=True)
        if self.history.pending:
            log.error(
                "%d reaped sessions were never written to the history %s (%s); they are lost",
                self.history.pending,
                self.history.path,
                self.history.last_error,
            )
        self.client.disconnect()
        self.client.loop_stop()
        self.broker_connected = False
        self._connected.clear()
        self.feed.close()
        self.history.close()
        log.info("aggregator stopped")

    # -- MQTT callbacks (paho's thread) ------------------------------------------------------

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning(
                "broker %s refused the connection: %s",
                self.settings.broker.display(),
                reason_code,
            )
            return
        resumed = bool(getattr(flags, "session_present", False))
        if not resumed:
            # Fresh session: the retained snapshot at QoS 0, then the same filter at QoS 1
            # without retained messages (it replaces the first subscription).
            client.subscribe(topics.SUBSCRIBE_ALL, qos=SUBSCRIBE_QOS)
            client.subscribe(
                topics.SUBSCRIBE_ALL,
                options=SubscribeOptions(
                    qos=LIVE_QOS, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND
                ),
            )
        self.broker_connected = True
        self._unreachable_logged = False
        self._connected.set()
        log.info(
            "connected to %s; %s %s",
            self.settings.broker.display(),
            "resumed the session on" if resumed else "subscribed to",
            topics.SUBSCRIBE_ALL,
        )

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        level = logging.DEBUG if self._unreachable_logged else logging.WARNING
        self._unreachable_logged = True
        log.log(
            level,
            "cannot reach broker %s (%s); retrying with backoff",
            self.settings.broker.display(),
            connect_error_text(sys.exc_info()[1]),  # paho calls this in its except block
        )

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        was_connected = self.broker_connected
        self.broker_connected = False
        self._connected.clear()
        if was_connected and not self._stop.is_set():
            log.warning(
                "lost the broker connection (%s); reconnecting with backoff",
                reason_code,
            )

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError as exc:  # MQTT requires UTF-8 topics; a broker might not check
            topic = exc.object.decode("utf-8", "replace")  # the raw topic bytes paho decoded
        retained = msg.retain
        # A retained replay's age is the time the broker has held it (its Message Expiry left).
        expiry = getattr(msg.properties, "MessageExpiryInterval", None) if retained else None
        try:
            self.ingest(Message(topic, msg.payload, retained, expiry))
        except Exception:  # never let a bug kill paho's network thread
            log.exception("unexpected error on a message for %s", topic[:200])

    def ingest(self, message: Message) -> Applied:
        """Apply one MQTT message now (the ingest path; also used by benchmarks and tests).

        Returns what :func:`~sessionbeat.aggregator.state.apply` did.
        """
        now = self.clock()
        with self.lock:
            applied = apply(self.state, message, now)
            outcome = applied.outcome
            if outcome is Outcome.REMOVED and applied.removed is not None:
                self._pending_history.append(
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
            host = topics.parse(topic).host
        except TopicError:
            return
        self.feed.push(host)
        for key in self.state.sessions:
            if key[0] == host:
                self.feed.push(key)

    # -- reaper ------------------------------------------------------------------------------

    def _reap_loop(self) -> None:
        next_prune = 0.0
        elapsed = 0.0
        while not self._stop.wait(self.reap_interval):
            try:
                self.reap()
                self.rejects.tick()
                elapsed += self.reap_interval
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
            self.client.publish(topics.session_topic(host, session_id), b"", qos=1, retain=True)
        for host in gone_hosts:
            log.info("forgot host %s (offline without sessions)", host)
            self.client.publish(topics.status_topic(host), b"", qos=1, retain=True)
        self._flush_history(entries)
        return entries

    def _flush_history(self, entries: list[HistoryEntry] | None = None) -> None:
        """Write ``entries`` and the cleared sessions noted since; else retry what waits."""
        with self.lock:
            pending, self._pending_history = self._pending_history, []
        batch = [*(entries or []), *pending]
        if batch:
            self.history.add(batch)
        elif self.history.pending:
            self.history.flush()
        else:
            return
        self._sync_history_errors()

    def _sync_history_errors(self) -> None:
        with self.lock:
            self.state.counters.history_errors = self.history.errors

    # -- readers -----------------------------------------------------------------------------

    def snapshot(self) -> StateSnapshot:
        """Return a consistent copy of the state's facts at the clock's now (for the exporter)."""
        now = self.clock()
        with self.lock:
            return take_snapshot(self.state, now, self.broker_connected)

    def sessions(self, flt: views.SessionFilter | None = None) -> list[SessionView]:
        """Return the live sessions matching ``flt`` in ``GET /sessions`` order."""
        now = self.clock()
        with self.lock:
            return views.list_sessions(self.state, now, flt)

    def session(self, session_id: str, host: str | None = None) -> SessionDetail:
        """Return one live session with its timeline; raises ``NotFoundError``."""
        now = self.clock()
        with self.lock:
            record = views.find_session(self.state, session_id, host)
            if record is None:
                where = f" on host {host!r}" if host else ""
                raise NotFoundError(f"no live session {session_id!r}{where}")
            return views.session_detail(
                record, self.state.hosts.get(record.beat.host), now, self.state
            )

    def hosts(self) -> list[HostView]:
        """Return every known host, sorted by id."""
        now = self.clock()
        with self.lock:
            return views.list_hosts(self.state, now)

    def summary(self) -> Summary:
        """Return the totals of ``GET /summary``."""
        now = self.clock()
        with self.lock:
            return views.summarize(self.state, now, self.broker_connected)

    def count_request(self, route: str) -> None:
        """Count one HTTP request by route template (``sessionbeat_http_requests_total``)."""
        with self.lock:
            self.state.counters.http_requests[route] += 1

    def overview(self) -> Overview:
        """Return summary, every live session (stale and ended too) and hosts at one instant."""
        now = self.clock()
        with self.lock:
            return Overview(
                now=now,
                summary=views.summarize(self.state, now, self.broker_connected),
                sessions=views.list_sessions(self.state, now, views.SessionFilter(all=True)),
                hosts=views.list_hosts(self.state, now),
            )

    def health(self) -> Health:
        """Return the health document of ``GET /healthz`` and ``GET /readyz``.

        ``ready`` is True while the broker is connected and the history writable; ``reasons``
        says in words why ``status`` is ``degraded`` (also after a corrupt history was moved
        aside, until the process restarts).
        """
        now = self.clock()
        with self.lock:
            last = self.state.last_message_at
        connected = self.broker_connected
        reasons = [] if connected else ["broker not connected"]
        reasons += self.history.problems()
        return Health(
            status="degraded" if reasons else "ok",
            ready=connected and self.history.writable,
            reasons=reasons,
            broker_connected=connected,
            history_ok=self.history.ok,
            now=now,
            last_message_at=last,
            version=__version__,
        )

    def render_changes(self, batch: dict[ChangeKey, str | None]) -> list[ChangeEvent]:
        """Turn a batch of change keys into ``GET /events`` events with the current state.

        A session key yields ``("session", SessionView)`` when the session is live, else
        ``("removed", SessionRemoved)``; a host key yields ``("host", HostView)``.
        """
        now = self.clock()
        out: list[ChangeEvent] = []
        with self.lock:
            host_views: dict[str, HostView] | None = None
            for key, reason in batch.items():
                if isinstance(key, str):
                    if host_views is None:
                        host_views = {h.host: h for h in views.list_hosts(self.state, now)}
                    if key in host_views:
                        out.append(("host", host_views[key]))
                    continue
                record = self.state.sessions.get(key)
                if record is None:
                    removed = SessionRemoved(
                        host=key[0], session_id=key[1], reason=reason or "cleared"
                    )
                    out.append(("removed", removed))
                else:
                    view = views.session_view(record, self.state.hosts.get(key[0]), now, self.state)
                    out.append(("session", view))
        return out
