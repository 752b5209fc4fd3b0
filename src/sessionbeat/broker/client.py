"""paho-mqtt plumbing shared by the agent, the aggregator and the CLI.

Every client is MQTT 5 with ``CallbackAPIVersion.VERSION2``; reconnection uses paho's own
backoff (``reconnect_delay_set``), never a loop of ours. paho's own log lines go to the
``sessionbeat.mqtt`` logger (``Client.enable_logger``): one DEBUG line per packet, ERROR when a
socket fails or a callback raises; ``cli_support.configure_logging`` keeps it at WARNING so the
per-packet trace never floods the log, and one paho 2.2 ERROR that only says "no socket right
now" is dropped (:func:`_not_a_disconnected_loop`).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sessionbeat.errors import ConfigError
from sessionbeat.settings import BrokerAddress

RECONNECT_MIN_DELAY = 1
RECONNECT_MAX_DELAY = 30

MQTT_LOGGER = logging.getLogger("sessionbeat.mqtt")
"""The logger every client's paho log lines go to."""


def _not_a_disconnected_loop(record: logging.LogRecord) -> bool:
    """Return False for paho 2.2's "Client is not connected" ERROR, True for any other record.

    paho 2.2 logs it at ERROR whenever its network loop runs without a socket: after every
    clean ``disconnect()`` and after every failed reconnect attempt while the broker is away
    (once per backoff step, up to every 30 s for as long as it is away). Our own
    ``on_disconnect``/``on_connect_fail`` callbacks already report both, once.
    """
    return not str(record.msg).startswith("Client is not connected")


MQTT_LOGGER.addFilter(_not_a_disconnected_loop)


def make_client(
    client_id: str,
    broker: BrokerAddress,
    *,
    ca_file: Path | None = None,
    reconnect_max_delay: int = RECONNECT_MAX_DELAY,
) -> mqtt.Client:
    """Return a configured, not yet connected MQTT 5 client.

    Takes the client id and the broker address (credentials and TLS from ``mqtts://``;
    ``ca_file`` overrides the system CA bundle). paho backs off between 1 s and
    ``reconnect_max_delay`` seconds when the broker is away. paho logs to :data:`MQTT_LOGGER`.
    Raises ``ConfigError`` when the CA file cannot be loaded.
    """
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        try:
            client.tls_set(
                ca_certs=str(ca_file) if ca_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        except (OSError, ssl.SSLError) as exc:  # missing, unreadable or not PEM
            raise ConfigError(
                f"cannot load the CA file {ca_file} (SESSIONBEAT_BROKER_CA_FILE): {exc}"
            ) from exc
    client.reconnect_delay_set(RECONNECT_MIN_DELAY, reconnect_max_delay)
    client.enable_logger(MQTT_LOGGER)
    return client


def connect_properties(session_expiry: int = 0) -> Properties:
    """Return CONNECT properties with a Session Expiry Interval in seconds (0: clean)."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry
    return props


def publish_properties(message_expiry: float | None = None) -> Properties | None:
    """Return PUBLISH properties carrying a Message Expiry Interval (whole seconds), or None."""
    if message_expiry is None:
        return None
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.MessageExpiryInterval = max(1, int(message_expiry))
    return props


def tls_hint(exc: BaseException | None) -> str:
    """Return what to fix for a failed TLS handshake (``exc``), or ``""`` for any other error.

    A certificate that does not chain to the trusted CA points at
    ``SESSIONBEAT_BROKER_CA_FILE``; one that does not name the address connected to points at
    the broker's certificate (``sessionbeat broker tls --host``).
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = (exc.verify_message or "").lower()
        if "mismatch" in reason:
            return (
                "the broker's certificate does not name this address: use a name it carries, "
                "or make it again with `sessionbeat broker tls --host`"
            )
        return (
            "SESSIONBEAT_BROKER_CA_FILE must name the CA that signed the broker's certificate "
            "(ca.crt of `sessionbeat broker tls`)"
        )
    if isinstance(exc, ssl.SSLError):
        return "is it the TLS listener (mqtts://, port 8883)? plain MQTT is mqtt://"
    return ""


def connect_error_text(exc: BaseException | None) -> str:
    """Return a failed connection attempt's reason for logs: the error, then what to fix.

    paho calls ``on_connect_fail`` inside its ``except OSError`` block, so a callback passes
    ``sys.exc_info()[1]``; None (no error at hand) gives ``"unknown error"``.
    """
    if exc is None:
        return "unknown error"
    text = (
        str(exc) if isinstance(exc, ssl.SSLError) else (getattr(exc, "strerror", None) or str(exc))
    )
    hint = tls_hint(exc)
    return f"{text}; {hint}" if hint else text
