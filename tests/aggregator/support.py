"""Helpers for tests of the aggregator and its readers: a clock, a publisher, a served API.

Everything here is real: the publisher is a paho MQTT 5 client on the test's mosquitto, the API
is the FastAPI app served by uvicorn on a free loopback port.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import uvicorn
from prometheus_client import CollectorRegistry

from sessionbeat import topics
from sessionbeat.aggregator.api import create_app
from sessionbeat.aggregator.cli import listen_socket
from sessionbeat.aggregator.history import History
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.aggregator.state import Message
from sessionbeat.broker.client import make_client
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.exporter.collector import metrics_registry
from sessionbeat.models import (
    HostState,
    HostStatus,
    NotifyKind,
    NotifyStatus,
    NotifyTarget,
    PublishedStatus,
    SessionBeat,
)
from sessionbeat.settings import Settings, load_settings
from tests.procs import wait_until

__all__ = ["wait_until"]  # re-exported: the aggregator tests import it from here

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
"""A fixed start time for injected clocks."""


class ManualClock:
    """A clock the test moves by hand; calling it returns the current aware UTC datetime."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` and return the new time."""
        with self._lock:
            self.now += timedelta(seconds=seconds)
            return self.now


def unique_host(prefix: str = "h") -> str:
    """Return a host id no other test uses (the session broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def beat(
    host: str,
    session_id: str,
    *,
    status: PublishedStatus | str = PublishedStatus.WORKING,
    seq: int = 1,
    sent_at: datetime = T0,
    **fields: Any,
) -> SessionBeat:
    """Return a SessionBeat with the given fields (``sent_at`` defaults to :data:`T0`)."""
    return SessionBeat(
        host=host,
        session_id=session_id,
        status=PublishedStatus(status),
        seq=seq,
        sent_at=sent_at,
        **fields,
    )


def at(seconds: float) -> datetime:
    """Return :data:`T0` plus ``seconds`` (the aggregator's clock in the pure-core tests)."""
    return T0 + timedelta(seconds=seconds)


def beat_message(b: SessionBeat, retained: bool = False, expiry: float | None = None) -> Message:
    """Return the MQTT message an agent publishes for ``b`` (its topic, its JSON payload).

    ``retained`` and ``expiry`` (Message Expiry left, seconds) as the broker delivers it.
    """
    payload = b.model_dump_json(exclude_none=True).encode()
    return Message(topics.session_topic(b.host, b.session_id), payload, retained, expiry)


NTFY_URL = "ntfys://ntfy.sh/s...9/"
"""The ntfy target's URL as the notifier shows it (Apprise's privacy form: topic hidden)."""


def notify_on(**changes: Any) -> NotifyStatus:
    """Return the state of a notifier that is on, as ``GET /notify`` would report it.

    Two services (ntfy, which can withdraw, and json), both last sent at 14:02 UTC on T0's
    day; approvals and finished turns on; ``needs_approval`` sent 2, failed 1, withdrawn 1;
    latency buckets 1 s: 1, 5 s: 2, 30 s: 2 (sum 4.5 s over 2); one pending. ``changes``
    replace fields.
    """
    sent = T0.replace(hour=14, minute=2)
    status = NotifyStatus(
        enabled=True,
        kinds=[NotifyKind.NEEDS_APPROVAL, NotifyKind.TURN_FINISHED],
        grace_seconds=30.0,
        targets=[
            NotifyTarget(
                service="ntfy", url=NTFY_URL, withdraw=True, last_result="sent", last_at=sent
            ),
            NotifyTarget(
                service="json",
                url="json://hooks.example.com/n...y",
                last_result="sent",
                last_at=sent,
            ),
        ],
        pending=1,
        last_sent_at=sent,
        counts={"needs_approval": {"sent": 2, "failed": 1, "withdrawn": 1}},
        latency_buckets=[(1.0, 1), (5.0, 2), (30.0, 2)],
        latency_sum=4.5,
        latency_count=2,
    )
    return status.model_copy(update=changes)


class Publisher:
    """A paho client publishing test beats and host statuses, retained, QoS 1.

    Remembers the retained topics it wrote and clears them on :meth:`close`, so the shared
    session broker does not carry one test's sessions into the next.
    """

    def __init__(self, broker: LocalBroker) -> None:
        self.client = make_client(f"test-pub-{uuid.uuid4().hex[:8]}", _address(broker))
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.bind, broker.port)
        self.client.loop_start()
        self.retained: set[str] = set()

    def raw(
        self, topic: str, payload: bytes, *, retain: bool = True, qos: int = 1, wait: bool = True
    ) -> mqtt.MQTTMessageInfo:
        """Publish raw bytes; with ``wait`` block until the broker acknowledged them."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if retain:
            self.retained.add(topic)
        if wait:
            info.wait_for_publish(10)
        return info

    def beat(self, b: SessionBeat, *, retain: bool = True, wait: bool = True) -> None:
        """Publish a SessionBeat on its topic."""
        topic = topics.session_topic(b.host, b.session_id)
        self.raw(topic, b.model_dump_json(exclude_none=True).encode(), retain=retain, wait=wait)

    def status(self, host: str, state: HostState | str, bdseq: int, **fields: Any) -> None:
        """Publish a HostStatus (birth or death) for ``host``."""
        status = HostStatus(host=host, state=HostState(state), bdseq=bdseq, **fields)
        self.raw(topics.status_topic(host), status.model_dump_json().encode())

    def clear(self, topic: str) -> None:
        """Publish a zero-length retained payload (the MQTT way to remove a retained message)."""
        self.raw(topic, b"")

    def close(self) -> None:
        """Clear every retained topic written, then disconnect."""
        for topic in sorted(self.retained):
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        self.client.disconnect()
        self.client.loop_stop()


def _address(broker: LocalBroker) -> Any:
    return load_settings(broker_url=broker.url).broker


class Watcher:
    """A paho subscriber recording every message on ``flt`` (QoS 0) as (topic, payload, retain)."""

    def __init__(self, broker: LocalBroker, flt: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._subscribed = threading.Event()
        self.client = make_client(f"test-watch-{uuid.uuid4().hex[:8]}", _address(broker))
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, bytes(m.payload), m.retain)
        )
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(flt, qos=0)
        self.client.connect(broker.bind, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def retained_now(broker: LocalBroker, topic: str) -> bytes | None:
    """Return the retained payload the broker holds for ``topic`` now (None if none).

    Subscribes, then publishes a marker on a private topic: the broker sends the retained
    message (if any) before the marker, so the marker's arrival ends the wait.
    """
    marker = f"test/{uuid.uuid4().hex}"
    got: dict[str, bytes] = {}
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        if msg.topic == marker:
            done.set()
        elif msg.retain:
            got[msg.topic] = msg.payload

    client = make_client(f"test-ret-{uuid.uuid4().hex[:8]}", _address(broker))
    client.on_message = on_message
    client.connect(broker.bind, broker.port)
    client.subscribe([(topic, 0), (marker, 0)])
    client.loop_start()
    try:
        client.publish(marker, b"x", qos=1).wait_for_publish(10)
        assert done.wait(10), "marker not received"
    finally:
        client.disconnect()
        client.loop_stop()
    return got.get(topic)


def service_settings(broker: LocalBroker, tmp: Path, **overrides: Any) -> Settings:
    """Return Settings for a service on ``broker`` with its history under ``tmp``."""
    values: dict[str, Any] = {
        "broker_url": broker.url,
        "history_db": tmp / "history.sqlite3",
        # alone in its reaper lease group: tests share one broker, and a module-scoped service
        # starts before the test's own environment is set
        "lease_group": f"t-{uuid.uuid4().hex[:12]}",
    }
    return load_settings(**{**values, **overrides})


class ServedApi:
    """The FastAPI app of ``service`` served by uvicorn in a thread on a free loopback port.

    ``notify_status`` stands in for the notifier's ``status`` (None: notifications off).
    """

    def __init__(
        self,
        service: AggregatorService,
        settings: Settings,
        notify_status: Callable[[], NotifyStatus] | None = None,
    ) -> None:
        self.service = service
        sock = listen_socket("127.0.0.1", 0)
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        registry = metrics_registry(
            service.snapshot, CollectorRegistry(), notify_status=notify_status
        )
        config = uvicorn.Config(
            create_app(service, settings, registry, notify_status=notify_status),
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self) -> None:
        """Start serving and wait until uvicorn is up."""
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn start")

    def stop(self) -> None:
        """Stop serving (closes open event streams)."""
        self.server.should_exit = True
        self.thread.join(15)
        self._sock.close()


@contextmanager
def running(
    broker: LocalBroker,
    tmp: Path,
    *,
    clock: Callable[[], datetime] | None = None,
    connect: bool = True,
    reap_interval: float = 0.05,
    history: History | None = None,
    notify_status: Callable[[], NotifyStatus] | None = None,
    **overrides: Any,
) -> Iterator[tuple[AggregatorService, ServedApi]]:
    """Run a started service (with a fresh registry) and its served API; stop both after.

    The service's clock is ``clock``, by default a :class:`ManualClock` standing at :data:`T0`
    (the default ``sent_at`` of :func:`beat`), so nothing ages unless the test says so.
    ``history`` replaces the store the settings name; ``notify_status`` is served as the
    notifier's state (``GET /notify``, the notification metrics).
    """
    settings = service_settings(broker, tmp, **overrides)
    service = AggregatorService(
        settings, clock or ManualClock(), reap_interval=reap_interval, history=history
    )
    service.start()
    api = ServedApi(service, settings, notify_status)
    api.start()
    try:
        if connect:
            assert service.wait_connected(15), "aggregator did not connect to the broker"
        yield service, api
    finally:
        api.stop()
        service.stop()
