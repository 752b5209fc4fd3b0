"""The reaper lease on the broker: which of several aggregators reaps, clears and notifies.

Two or more aggregators on one broker each hold the full state; exactly one of them, the holder
of the lease, writes reaped sessions to the history, clears their retained topics and delivers
push notifications (docs/architecture.md, "More than one aggregator"). :class:`ReaperLease`
runs two MQTT 5 connections of its own, apart from the aggregator's
:class:`~sessionbeat.aggregator.mqtt_link.MqttLink`:

* the **watch** connection, always open, subscribes to the retained lease topic
  (``sessionbeat/aggregators/<group>/lease``, QoS 1) and feeds what arrives to a pure
  :class:`~sessionbeat.aggregator.lease_rules.LeaseBook`;
* the **lease** connection is opened only by a candidate, when the lease is vacant. Its Last
  Will is a zero-length retained message on the lease topic (it clears the lease when the
  holder dies: the broker publishes it 1.5 x ``lease_keepalive`` after the holder went silent);
  on it the candidate publishes its :class:`~sessionbeat.models.LeaseClaim`, retained, and
  re-publishes it every ``lease_keepalive`` seconds (a claim not refreshed for
  :data:`STALE_FACTOR` keepalives counts as abandoned: a broker restart loses the Will).

Claims reach every watcher in the broker's order, so the last one received holds; a candidate
that sees a later claim than its own yields (an MQTT 5 DISCONNECT with reason 0: no Will). A
claimant acts as holder only once its claim stood ``lease_settle`` seconds with no newer one.
On a clean stop the holder publishes a zero-length retained release before it disconnects, so a
standby takes over at once. A thread (:data:`TICK` seconds) makes the decisions; paho's threads
only record what arrives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from sessionbeat import __version__, topics
from sessionbeat.aggregator.lease_rules import LeaseBook
from sessionbeat.broker.client import connect_properties, make_client
from sessionbeat.models import LeaseClaim, utc_now
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

TICK = 0.1
"""Seconds between two decisions of the lease thread."""
STALE_FACTOR = 3
"""A claim not refreshed for this many ``lease_keepalive`` periods counts as abandoned."""
ECHO_FACTOR = 3
"""A claimant whose claim is not back within this many keepalives gives up the attempt."""
RELEASE_TIMEOUT = 2.0
"""Seconds a clean stop waits for the broker to acknowledge the release."""
LEASE_QOS = 1
"""QoS of the claims, the release, the Last Will and the watch subscription."""


ALONE_TEXT = (
    "acting alone: the broker's ACL refuses the reaper lease topic (an ACL from before the "
    "lease); this aggregator reaps and notifies as a single one does. With a second aggregator "
    "give the aggregator user 'topic readwrite sessionbeat/aggregators/#'"
)
"""What ``/healthz`` and the log say when the lease topic is refused."""


class ReaperLease:
    """The reaper lease of one aggregator (module docstring).

    ``settings`` gives the broker, its CA file, the host id, ``lease_group``,
    ``lease_keepalive`` (seconds) and ``lease_settle`` (seconds). ``monotonic`` is the clock of
    the decisions (seconds; tests inject one). Before :meth:`start` (an aggregator that never
    connects: benchmarks, ingest-only tests) :attr:`held` is True: there is no one to share with.
    """

    def __init__(
        self, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.topic = topics.lease_topic(settings.lease_group)
        keepalive = settings.lease_keepalive
        self.book = LeaseBook(
            settle=settings.lease_settle,
            stale_after=STALE_FACTOR * keepalive,
            echo_timeout=ECHO_FACTOR * keepalive,
        )
        self.monotonic = monotonic
        self.changes = 0
        """How many times this aggregator took or lost the lease (a counter)."""
        self._lock = threading.Lock()
        self._enabled = False
        self._held = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch_connected = False
        self._bad_payload_logged = False
        self._watch = make_client(
            f"sessionbeat-lease-watch-{settings.host}-{uuid.uuid4().hex[:8]}",
            settings.broker,
            ca_file=settings.broker_ca_file,
            reconnect_max_delay=2,
        )
        self._watch.on_connect = self._on_watch_connect
        self._watch.on_subscribe = self._on_watch_subscribe
        self._watch.on_disconnect = self._on_watch_disconnect
        self._watch.on_message = self._on_watch_message
        self._claim: mqtt.Client | None = None
        self._claim_id = ""
        self._claim_since = utc_now()
        self._claim_opened = 0.0
        self._claim_connected = False
        self._claim_gone = False
        self._claim_abandon = False
        self._published_at = 0.0
        self._alone = False

    # -- what the service reads --------------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while this aggregator acts as the holder (always, before :meth:`start`).

        Also True when the broker refused the lease topic (an ACL written before the lease
        existed): the aggregator then acts alone, as before, and says so in ``/healthz``.
        """
        return self._held or not self._enabled or self._alone

    def someone_else_holds(self) -> bool:
        """Return True while another aggregator's claim stands (it reaps what this one sees go)."""
        if not self._enabled:
            return False
        with self._lock:
            book = self.book
            return (
                book.current is not None
                and book.current.holder != book.mine
                and not book.vacant(self.monotonic())
            )

    def holder(self) -> bool | None:
        """Return True while this holds the lease, False while another does, None: nobody.

        The notifier delivers on True, drops on False and holds deliveries back on None.
        """
        if self.held:
            return True
        return False if self.someone_else_holds() else None

    def status(self) -> tuple[bool | None, str | None]:
        """Return ``(held, words)`` for ``/healthz``; ``(None, None)`` before :meth:`start`."""
        if not self._enabled:
            return None, None
        if self._alone:
            return True, ALONE_TEXT
        with self._lock:
            held = self._held
            text = self.book.holder_text(self.monotonic())
        if held:
            text = "holds the reaper lease"
        elif text == "holds the reaper lease":
            text = "claiming the reaper lease"
        return held, text

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect the watch connection (in the background) and start the lease thread."""
        if self._enabled:
            return
        self._enabled = True
        broker = self.settings.broker
        self._watch.connect_async(
            broker.host,
            broker.port,
            keepalive=self.settings.lease_keepalive,
            clean_start=True,
            properties=connect_properties(0),
        )
        self._watch.loop_start()
        self._thread = threading.Thread(target=self._run, name="sessionbeat-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop deciding; release the lease if held (zero-length retained), disconnect both."""
        if not self._enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            mine = self.book.mine is not None and (
                self.book.current is not None and self.book.current.holder == self.book.mine
            )
            self._set_held(False, stopping=True)
        self._close_claim(release=mine)
        self._watch.disconnect()
        self._watch.loop_stop()
        self._enabled = False

    # -- the lease thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick()
            except Exception:  # the lease thread must survive anything
                log.exception("reaper lease decision failed")

    def tick(self) -> None:
        """Make one decision now: open, refresh, yield or drop the claim; update :attr:`held`."""
        now = self.monotonic()
        close = False
        with self._lock:
            book = self.book
            if self._claim is not None and (
                self._claim_gone
                or self._claim_abandon
                or book.must_yield(now)
                or (not self._claim_connected and now - self._claim_opened > book.echo_timeout)
            ):
                if book.lost:
                    log.info("yielding the reaper lease claim: a later claim won")
                elif self._claim_gone and self._held:
                    log.warning("lost the reaper lease connection; giving up the lease")
                close = True
                book.drop()
            elif self._claim is None and self._watch_connected and book.vacant(now):
                self._open_claim(now)
            elif (
                self._claim is not None
                and self._claim_connected
                and book.mine is not None
                and (book.must_reclaim(now) or now - self._published_at >= self._refresh_every())
            ):
                self._publish_claim(now)
            held = (
                book.holding(now)
                and self._claim is not None
                and self._claim_connected
                and self._watch_connected
            )
            self._set_held(held)
        if close:
            self._close_claim(release=False)

    def _refresh_every(self) -> float:
        return float(self.settings.lease_keepalive)

    def _set_held(self, held: bool, *, stopping: bool = False) -> None:
        """Record the decision (caller holds the lock); log and count a change once."""
        if held == self._held:
            return
        self._held = held
        self.changes += 1
        if stopping:
            return  # the release is logged
        if held:
            log.info("holds the reaper lease (%s): this aggregator reaps and notifies", self.topic)
        else:
            current = self.book.current
            who = current.label() if current is not None else "nobody yet"
            log.info("gave up the reaper lease; holder now %s", who)

    # -- the lease connection (caller holds the lock unless said otherwise) -------------------

    def _open_claim(self, now: float) -> None:
        self._claim_id = f"sessionbeat-lease-{self.settings.host}-{uuid.uuid4().hex[:8]}"
        client = make_client(
            self._claim_id, self.settings.broker, ca_file=self.settings.broker_ca_file
        )
        client.reconnect_delay_set(3600, 3600)  # never reconnect: a new claim opens a new one
        client.will_set(self.topic, b"", qos=LEASE_QOS, retain=True)
        client.on_connect = self._on_claim_connect
        client.on_publish = self._on_claim_published
        client.on_connect_fail = self._on_claim_gone
        client.on_disconnect = self._on_claim_gone
        self._claim = client
        self._claim_since = utc_now()
        self._claim_opened = now
        self._claim_connected = False
        self._claim_gone = False
        self._claim_abandon = False
        broker = self.settings.broker
        log.debug("lease vacant: claiming it as %s", self._claim_id)
        client.connect_async(
            broker.host,
            broker.port,
            keepalive=self.settings.lease_keepalive,
            clean_start=True,
            properties=connect_properties(0),
        )
        client.loop_start()

    def _publish_claim(self, now: float) -> None:
        client = self._claim
        if client is None:
            return
        claim = LeaseClaim(
            holder=self._claim_id,
            host=self.settings.host,
            pid=os.getpid(),
            since=self._claim_since,
            version=__version__,
        )
        if self.book.mine != self._claim_id:
            self.book.claim(self._claim_id, now)
        self._published_at = now
        client.publish(
            self.topic, claim.model_dump_json(exclude_none=True), qos=LEASE_QOS, retain=True
        )

    def _close_claim(self, *, release: bool) -> None:
        """Disconnect the lease connection cleanly (no Will); first release the lease if asked.

        Called without the lock (it waits for the broker).
        """
        with self._lock:
            client, self._claim = self._claim, None
            self._claim_connected = False
        if client is None:
            return
        if release:
            info = client.publish(self.topic, b"", qos=LEASE_QOS, retain=True)
            # Not connected any more (RuntimeError, ValueError): the Last Will clears it.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(RELEASE_TIMEOUT)
            log.info("released the reaper lease")
        client.disconnect()  # reason 0, normal disconnection: the broker drops the Will
        client.loop_stop()

    # -- MQTT callbacks (paho's threads) -----------------------------------------------------

    def _on_claim_published(
        self, client: Any, userdata: Any, mid: Any, reason_code: Any, properties: Any
    ) -> None:
        """Act alone when the claim's PUBACK says "Not authorized": the ACL refuses the topic.

        Mosquitto (2.0.11, measured) grants the subscription and refuses only the publish.
        """
        if reason_code.is_failure and not self._alone:
            self._alone = True
            log.warning(
                "the broker refused the claim on %s (%s): %s", self.topic, reason_code, ALONE_TEXT
            )

    def _on_claim_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        with self._lock:
            if client is not self._claim:
                return
            if reason_code.is_failure:
                log.warning("the broker refused the lease connection: %s", reason_code)
                self._claim_gone = True
                return
            self._claim_connected = True
            if not self.book.vacant(self.monotonic()):
                self._claim_abandon = True  # someone claimed while this one connected
                return
            self._publish_claim(self.monotonic())

    def _on_claim_gone(self, client: Any, *args: Any) -> None:
        with self._lock:
            if client is self._claim:
                self._claim_gone = True
                self._claim_connected = False

    def _on_watch_connect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            log.warning("the broker refused the lease watch connection: %s", reason_code)
            return
        client.subscribe(self.topic, qos=LEASE_QOS)

    def _on_watch_subscribe(
        self, client: Any, userdata: Any, mid: Any, reason_codes: Any, properties: Any
    ) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self._alone = True
            log.warning(
                "the broker refused the subscription to %s (%s): %s",
                self.topic,
                ", ".join(str(rc) for rc in reason_codes),
                ALONE_TEXT,
            )
            return
        with self._lock:
            self._watch_connected = True
            self.book.subscribed(self.monotonic())

    def _on_watch_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        with self._lock:
            self._watch_connected = False
            self.book.unsubscribed()

    def _on_watch_message(self, client: Any, userdata: Any, msg: Any) -> None:
        claim: LeaseClaim | None = None
        if msg.payload:
            try:
                claim = LeaseClaim.model_validate_json(msg.payload)
            except ValidationError as exc:
                if not self._bad_payload_logged:
                    self._bad_payload_logged = True
                    log.warning(
                        "ignoring a lease message that is not a claim on %s (%s); "
                        "treating the lease as vacant",
                        self.topic,
                        exc.errors(include_url=False)[0].get("msg", "invalid"),
                    )
        with self._lock:
            self.book.observe(claim, self.monotonic())
