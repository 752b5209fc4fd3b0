"""The aggregator's MQTT link: the paho client, its subscriptions and connection callbacks.

:class:`MqttLink` connects in the background, keeps reconnecting, subscribes, hands every
message to its owner as a :class:`~sessionbeat.aggregator.state.Message` (on paho's network
thread) and publishes the zero-length retained payloads that clear a topic.

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
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from sessionbeat import topics
from sessionbeat.aggregator.state import Message
from sessionbeat.broker.client import connect_error_text, connect_properties, make_client
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


class MqttLink:
    """The aggregator's one MQTT client: connection, subscriptions, incoming messages.

    ``settings`` gives the broker, its CA file, the keepalive (seconds) and the host id (part of
    the client id). ``handle`` is called on paho's network thread with every message; what it
    raises is logged, never passed on to paho. ``stopping`` is the owner's stop event: a
    disconnect once it is set is expected and not logged as a loss.
    """

    def __init__(
        self,
        settings: Settings,
        handle: Callable[[Message], object],
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.handle = handle
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
        self.connected = False
        """True while connected to the broker (and subscribed, on a fresh session)."""
        self._connected = threading.Event()
        self._stopping = stopping
        self._unreachable_logged = False

    def connect(self) -> None:
        """Connect in the background and start paho's network thread; returns at once.

        paho keeps reconnecting with backoff while the broker is away (:attr:`connected`).
        """
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

    def wait_connected(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until connected and subscribed; return the flag."""
        return self._connected.wait(timeout)

    def clear_retained(self, topic: str) -> None:
        """Publish a zero-length retained payload on ``topic`` (QoS 1): the broker forgets it."""
        self.client.publish(topic, b"", qos=1, retain=True)

    def close(self) -> None:
        """Disconnect cleanly and stop paho's network thread."""
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False
        self._connected.clear()

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
            # without retained messages (it replaces the first subscription). The sites' bridge
            # notifications come after the hosts' topics, so their hosts are known by then.
            for topic_filter in (topics.SUBSCRIBE_ALL, topics.SUBSCRIBE_BRIDGES):
                client.subscribe(topic_filter, qos=SUBSCRIBE_QOS)
                client.subscribe(
                    topic_filter,
                    options=SubscribeOptions(
                        qos=LIVE_QOS, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND
                    ),
                )
        self.connected = True
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
        was_connected = self.connected
        self.connected = False
        self._connected.clear()
        if was_connected and not self._stopping.is_set():
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
            self.handle(Message(topic, msg.payload, retained, expiry))
        except Exception:  # never let a bug kill paho's network thread
            log.exception("unexpected error on a message for %s", topic[:200])
