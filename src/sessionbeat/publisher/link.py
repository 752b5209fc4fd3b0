"""The host agent's MQTT connection: Last Will and birth, live publishes, the spool and its replay.

zigbee2mqtt ``lib/mqtt.ts`` style:

* a retained Last Will ``{"state":"offline","bdseq":N}`` on ``sessionbeat/v1/<host>/status``,
  where ``bdseq`` (Sparkplug B, :mod:`sessionbeat.publisher.bdseq`) is persisted and incremented
  before every CONNECT;
* on CONNECT: replay the offline spool (after ``replay_grace`` seconds, so that subscribers
  that lost their session in a broker restart are back; bounded in flight: paho loses messages
  past 65,535 outstanding packet ids), re-publish every live session, then the retained birth
  (``online``, same ``bdseq``);
* a clean stop (SIGTERM, Ctrl-C) publishes ``offline`` itself before DISCONNECT.

Birth, Last Will and the clean ``offline`` carry the ``site`` setting (if set): the site broker
the host connects to, so the aggregator can tell when it cannot see the host (its bridge down).

Beats are retained, QoS 1, with a Message Expiry Interval of ``reap_after`` seconds. Every
payload fits the shared payload limit and the broker's MQTT 5 Maximum Packet Size from its
CONNACK (``publisher/limits.py``: a beat that does not is sent minimal, and counted), so no
publish can make the broker drop the connection. paho's network thread runs the callbacks,
which only set flags and call ``on_connected``; every publish is made by the agent's worker
thread (:mod:`sessionbeat.publisher.worker`), or by :meth:`BrokerLink.close` once it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt

from sessionbeat import __version__, topics
from sessionbeat.broker.client import connect_error_text, make_client, publish_properties
from sessionbeat.models import HostState, HostStatus, SessionBeat
from sessionbeat.publisher.bdseq import BdseqCounter
from sessionbeat.publisher.limits import BeatEncoder
from sessionbeat.publisher.spool import Spool, SpoolRecord
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

REPLAY_BATCH = 500
"""Spooled messages published before waiting for their PUBACKs (bounds paho's in-flight ids)."""
PUBLISH_WAIT = 10.0
"""Seconds to wait for a batch's acknowledgements during a replay."""


class BrokerLink:
    """The agent's MQTT client and what it publishes: beats (or the spool), birth, Last Will.

    Takes the settings, a clock returning aware UTC datetimes, the offline spool, the persisted
    bdseq, ``on_connected`` (called from paho's thread after each accepted CONNECT) and the
    agent's ``stopped`` event (once set, a disconnect arms no new Last Will). ``published``
    and ``spooled`` count beats; ``encoder`` fits them to the broker's Maximum Packet Size.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime],
        spool: Spool,
        bdseq: BdseqCounter,
        *,
        on_connected: Callable[[], None],
        stopped: threading.Event,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.spool = spool
        self.bdseq = bdseq
        self._on_connected = on_connected
        self._stopped = stopped
        self.client = make_client(
            f"sessionbeat-agent-{settings.host}", settings.broker, ca_file=settings.broker_ca_file
        )
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self._connect_error: str | None = None
        self.connected = threading.Event()
        self.published = 0
        self.spooled = 0
        self.encoder = BeatEncoder()
        self.online = False  # the birth is out on this connection: beats may go straight out

    # -- MQTT callbacks (paho's thread): only flags and on_connected ------------------------

    def set_will(self) -> None:
        """Arm the retained ``offline`` Last Will with the next bdseq (before every CONNECT)."""
        bdseq = self.bdseq.next()
        payload = HostStatus(
            host=self.settings.host,
            state=HostState.OFFLINE,
            bdseq=bdseq,
            site=self.settings.site,
        )
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
        self._on_connected()

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
        self.online = False
        if self._stopped.is_set():
            return
        if was:
            log.warning("disconnected from broker: %s; spooling", reason)
        self.set_will()  # the next CONNECT carries a new bdseq

    # -- publishing (worker thread only) ------------------------------------------------------

    def publish(self, topic: str, payload: bytes, expiry: float | None) -> bool:
        """Publish retained, QoS 1, expiring in ``expiry`` s; False if offline or refused."""
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

    def send(self, beat: SessionBeat) -> None:
        """Publish ``beat`` now if online with an empty spool, else append it to the spool."""
        topic, payload = self.encoder.encode(self._stamped(beat))
        if payload is None:
            return
        created = time.time()
        # Keep order: until the spool is replayed and the birth is out, new beats queue behind.
        if (
            self.online
            and self.spool.size() == 0
            and self.publish(topic, payload, self.settings.reap_after)
        ):
            self.published += 1
            return
        if self.spool.append(SpoolRecord(topic, payload, created)):
            self.spooled += 1

    def replay_spool(self) -> bool:
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

    def birth(self, beats: Iterable[SessionBeat]) -> None:
        """Publish ``beats`` (every live session, re-published), then the retained birth.

        :attr:`online` is True afterwards if the birth was accepted by paho.
        """
        for beat in beats:
            topic, payload = self.encoder.encode(self._stamped(beat))
            if payload is not None:
                self.publish(topic, payload, self.settings.reap_after)
        birth = HostStatus(
            host=self.settings.host,
            state=HostState.ONLINE,
            bdseq=self.bdseq.value,
            sent_at=self.clock(),
            agent_version=__version__,
            pid=os.getpid(),
            platform=f"{platform.system()} {platform.machine()}".strip(),
            heartbeat_interval=self.settings.heartbeat_interval,
            site=self.settings.site,
        )
        info = self.client.publish(
            topics.status_topic(self.settings.host),
            birth.model_dump_json(exclude_none=True),
            qos=1,
            retain=True,
        )
        self.online = info.rc == mqtt.MQTT_ERR_SUCCESS

    # -- lifecycle ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Arm the Last Will and connect in the background (paho retries until it succeeds)."""
        self.set_will()
        broker = self.settings.broker
        self.client.connect_async(broker.host, broker.port, keepalive=self.settings.mqtt_keepalive)
        self.client.loop_start()

    def close(self, timeout: float) -> None:
        """If connected, publish ``offline`` (retained; wait ``timeout`` s at most); DISCONNECT."""
        if self.connected.is_set():
            offline = HostStatus(
                host=self.settings.host,
                state=HostState.OFFLINE,
                bdseq=self.bdseq.value,
                sent_at=self.clock(),
                site=self.settings.site,
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
