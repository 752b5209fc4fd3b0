"""The MQTT client factory (broker/client.py): paho's own log lines reach our logging."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from sessionbeat.broker.client import MQTT_LOGGER, make_client
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.cli_support import configure_logging
from sessionbeat.settings import load_settings


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger's handlers and the levels configure_logging sets back afterwards."""
    root = logging.getLogger()
    handlers, level, mqtt_level = root.handlers[:], root.level, MQTT_LOGGER.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    MQTT_LOGGER.setLevel(mqtt_level)


def test_paho_logs_to_the_sessionbeat_mqtt_logger(
    broker: LocalBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG on sessionbeat.mqtt, paho's packet trace (CONNECT, CONNACK) shows up there."""
    address = load_settings(broker_url=broker.url).broker
    client = make_client("log-test", address)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    with caplog.at_level(logging.DEBUG, logger=MQTT_LOGGER.name):
        client.connect(address.host, address.port)
        client.loop_start()
        try:
            assert connected.wait(10)
        finally:
            client.disconnect()
            client.loop_stop()
    lines = [r.getMessage() for r in caplog.records if r.name == MQTT_LOGGER.name]
    assert any(line.startswith("Sending CONNECT") for line in lines), lines
    assert any(line.startswith("Received CONNACK") for line in lines), lines


@pytest.mark.usefixtures("root_logging")
def test_packet_trace_stays_out_of_a_debug_log() -> None:
    """SESSIONBEAT_LOG_LEVEL=DEBUG shows our debug lines, not one line per MQTT packet."""
    configure_logging("DEBUG")
    assert logging.getLogger("sessionbeat.aggregator").isEnabledFor(logging.DEBUG)
    assert not MQTT_LOGGER.isEnabledFor(logging.DEBUG)
    assert MQTT_LOGGER.isEnabledFor(logging.ERROR)


def test_an_unreachable_broker_logs_no_error_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    """While the broker is away, paho's retries add no ERROR line each (our WARNING says it)."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = load_settings(broker_url=f"mqtt://127.0.0.1:{port}").broker
    client = make_client("unreachable", address, reconnect_max_delay=1)
    failures = threading.Semaphore(0)
    client.on_connect_fail = lambda *a: failures.release()
    with caplog.at_level(logging.DEBUG, logger=MQTT_LOGGER.name):
        client.connect_async(address.host, address.port)
        client.loop_start()
        try:
            for _ in range(3):  # the first attempt and two retries
                assert failures.acquire(timeout=10)
        finally:
            client.disconnect()
            client.loop_stop()
    records = [r for r in caplog.records if r.name == MQTT_LOGGER.name]
    assert any(r.getMessage() == "Connection failed, retrying" for r in records)
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
