"""``sessionbeat tail``: print one readable line per sessionbeat MQTT message, live.

A friendlier ``mosquitto_sub -v -t 'sessionbeat/#'``: time (the message's ``sent_at`` in local
time), host, short session id, status with its icon, hook event, tool and task. Host status
topics print ``online``/``offline`` with the ``bdseq``; a zero-length retained payload prints
``removed``. The retained snapshot arrives first and is marked ``(retained)``. Subscribes with
QoS 0, like the aggregator, so a large retained snapshot is never cut by broker queue limits.
Each line is printed through ``render.safe_text``: no control or bidi character from a payload
reaches the terminal.
"""

from __future__ import annotations

import contextlib
import queue
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sessionbeat import topics
from sessionbeat.errors import BrokerUnavailableError, ConfigError, PayloadError, TopicError
from sessionbeat.readers.render import STATUS_STYLES, safe_text, short_id, status_label
from sessionbeat.settings import Settings

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the first connection to the broker."""


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def format_message(
    topic: str, payload: bytes, retained: bool, received: datetime | None = None
) -> tuple[str, str]:
    """Return one readable line for an MQTT message and its rich style.

    Takes the topic, the raw payload, the retained flag and the receive time (default now);
    the line's time is the payload's ``sent_at`` when it has one, else the receive time, in
    local time. Never raises: an invalid topic or payload gives a line saying so, with the
    reason.
    """
    from sessionbeat.wire import parse_host_status, parse_session_beat

    now = _local_time(received or datetime.now(UTC))
    mark = "  (retained)" if retained else ""
    try:
        parsed = topics.parse(topic)
    except TopicError as exc:
        return f"{now}  ?  not a sessionbeat topic: {exc}{mark}", "red"
    host = f"{parsed.host:<16}"
    if parsed.kind is topics.TopicKind.STATUS:
        if not payload:
            return f"{now}  {host}  status cleared{mark}", "dim"
        try:
            status = parse_host_status(payload, parsed.host)
        except PayloadError as exc:
            return f"{now}  {host}  invalid status: {exc}{mark}", "red"
        extra = [f"bdseq {status.bdseq}"]
        if status.agent_version:
            extra.append(f"agent {status.agent_version}")
        if status.platform:
            extra.append(status.platform)
        state = status.state.value
        when = _local_time(status.sent_at) if status.sent_at else now
        line = f"{when}  {host}  {status_label(state)}  ({', '.join(extra)})"
        return line + mark, STATUS_STYLES.get(state, "")
    assert parsed.session_id is not None
    sid = short_id(parsed.session_id)
    if not payload:
        return f"{now}  {host}  {sid:<8}  {status_label('removed')}{mark}", "dim"
    try:
        beat = parse_session_beat(payload, parsed.host, parsed.session_id)
    except PayloadError as exc:
        return f"{now}  {host}  {sid:<8}  invalid payload: {exc}{mark}", "red"
    what = [p for p in (beat.event, beat.tool, beat.task) if p]
    if beat.heartbeat:
        what.append("(heartbeat)")
    if beat.end_reason:
        what.append(f"reason {beat.end_reason}")
    status_text = f"{status_label(beat.status.value):<20}"
    line = f"{_local_time(beat.sent_at)}  {host}  {sid:<8}  {status_text}  {'  '.join(what)}"
    return line.rstrip() + mark, STATUS_STYLES.get(beat.status.value, "")


def run_tail(
    settings: Settings,
    host: str | None = None,
    retained: bool = True,
    count: int | None = None,
    timeout: float | None = None,
) -> None:
    """Print sessionbeat messages live, one line each, until Ctrl-C.

    Subscribes to every host's topics (or ``host``'s), prints the retained snapshot first when
    ``retained``, and returns after ``count`` messages or ``timeout`` seconds if given. Raises
    ``ConfigError`` for an invalid host id and ``BrokerUnavailableError`` when the broker
    cannot be reached.
    """
    from rich.console import Console

    from sessionbeat.broker.client import make_client

    address = settings.broker
    try:
        flt = topics.host_filter(host) if host else topics.SUBSCRIBE_ALL
    except TopicError as exc:
        raise ConfigError(str(exc)) from None
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue()
    client = make_client(
        f"sessionbeat-tail-{uuid.uuid4().hex[:8]}", address, ca_file=settings.broker_ca_file
    )

    def on_connect(client: Any, userdata: Any, flags: Any, reason_code: Any, props: Any) -> None:
        if reason_code.is_failure:
            lines.put((f"-- broker refused the connection: {reason_code}", "red"))
            return
        client.subscribe(flt, qos=0)

    def on_disconnect(client: Any, userdata: Any, flags: Any, reason_code: Any, props: Any) -> None:
        lines.put((f"-- disconnected ({reason_code}); reconnecting", "red"))

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        if msg.retain and not retained:
            return
        with contextlib.suppress(Exception):  # a line must never kill paho's thread
            lines.put(format_message(msg.topic, msg.payload, msg.retain))

    client.connect_timeout = CONNECT_TIMEOUT
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    try:
        client.connect(address.host, address.port, keepalive=settings.mqtt_keepalive)
    except OSError as exc:
        raise BrokerUnavailableError(
            f"cannot reach the broker at {address.display()}: {exc.strerror or exc}"
        ) from exc
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"-- {address.display()} {flt} (Ctrl-C stops)", style="dim")
    client.loop_start()
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    try:
        while count is None or seen < count:
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                item = lines.get(timeout=wait)
            except queue.Empty:
                continue
            if item is None:
                break
            text, style = item
            console.print(safe_text(text), style=style or None, markup=False)
            if not text.startswith("-- "):
                seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
