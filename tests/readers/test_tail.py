"""``sessionbeat tail``: readable lines for live MQTT messages from a real broker."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from typer.testing import CliRunner

from sessionbeat import topics
from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.cli import app
from sessionbeat.models import HostState, HostStatus
from sessionbeat.readers.tail import format_message
from tests.aggregator.support import T0, Publisher, beat, unique_host
from tests.readers.test_safe_text import unsafe_shown


def local(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M:%S")


def test_tail_prints_retained_snapshot_then_live_messages(
    broker: LocalBroker, publisher: Publisher
) -> None:
    """Retained status and beat come first (marked), then live messages, one line each."""
    host = unique_host()
    publisher.status(host, HostState.ONLINE, 3, agent_version="0.1.0", sent_at=T0)
    publisher.beat(
        beat(host, "3f2a1b9c-1111", status="needs_approval", event="PermissionRequest", tool="Bash")
    )
    stop = threading.Event()

    def live() -> None:  # repeats until tail has read enough: no guess at when it subscribed
        while not stop.wait(0.1):
            publisher.raw(topics.session_topic(host, "77aa0000-2222"), b"", retain=False)

    feeder = threading.Thread(target=live, daemon=True)
    feeder.start()
    try:
        result = CliRunner().invoke(
            app,
            ["--broker-url", broker.url, "tail", "--host", host, "--count", "3", "--timeout", "30"],
        )
    finally:
        stop.set()
        feeder.join()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:]  # after the "-- broker filter" header
    assert len(lines) == 3
    status = next(line for line in lines if "online" in line)
    session = next(line for line in lines if "3f2a1b9c" in line)
    removed = next(line for line in lines if "77aa0000" in line)
    assert status.split() == [
        local(T0),
        host,
        "▲",
        "online",
        "(bdseq",
        "3,",
        "agent",
        "0.1.0)",
        "(retained)",
    ]
    assert session.split() == [
        local(T0),
        host,
        "3f2a1b9c",
        "⚠",
        "needs",
        "approval",
        "PermissionRequest",
        "Bash",
        "(retained)",
    ]
    assert removed.split()[1:] == [host, "77aa0000", "-", "removed"]


def test_unreachable_broker_exit_code() -> None:
    """No broker: a one-line error and exit code 5 (README: broker unreachable)."""
    url = f"mqtt://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["--broker-url", url, "tail", "--timeout", "1"])
    assert result.exit_code == 5  # README.md: 5 broker unreachable
    assert result.output.startswith("sessionbeat: cannot reach the broker at mqtt://127.0.0.1")


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("sessionbeat/v1/h1/sessions/s1", b"{oops", "invalid payload: bad_json"),
        (
            "sessionbeat/v1/h2/sessions/s1",
            beat("h1", "s1").model_dump_json().encode(),
            "invalid payload: host_mismatch",
        ),
        ("sessionbeat/v1/h1/status", b"", "status cleared"),
        (
            "sessionbeat/v1/h1/status",
            HostStatus(host="h1", state=HostState.OFFLINE, bdseq=9).model_dump_json().encode(),
            "✕ offline  (bdseq 9)",
        ),
        ("sessionbeat/v1/h1/other", b"{}", "not a sessionbeat topic"),
        (
            "sessionbeat/v1/h1/sessions/s1",
            beat("h1", "s1", status="ended", end_reason="logout", heartbeat=True)
            .model_dump_json()
            .encode(),
            "■ ended               (heartbeat)  reason logout",
        ),
        (  # an agent of sessionbeat 0.1.0 named the flag keepalive
            "sessionbeat/v1/h1/sessions/s1",
            b'{"v":1,"host":"h1","session_id":"s1","status":"working","seq":1,'
            b'"sent_at":"2025-06-01T12:00:00Z","keepalive":true}',
            "● working             (heartbeat)",
        ),
    ],
)
def test_format_message(topic: str, payload: bytes, expected: str) -> None:
    """Every kind of message, valid or not, becomes one line saying what it is."""
    line, _style = format_message(topic, payload, retained=False)
    assert expected in line
    assert "\n" not in line


def test_hostile_text_in_a_beat_is_printed_inertly(
    broker: LocalBroker, publisher: Publisher
) -> None:
    """A retained beat whose task and tool carry escape sequences and bidi controls prints none."""
    host = unique_host()
    hostile = "\x1b]0;pwned\x07\x1b[2J\r\x9b31m\u202eexe.txt\u2066"
    publisher.beat(beat(host, "0bad0000-1111", task=f"deploy{hostile}", tool=f"Bash{hostile}"))
    result = CliRunner().invoke(
        app, ["--broker-url", broker.url, "tail", "--host", host, "--count", "1", "--timeout", "30"]
    )
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.output.splitlines() if "0bad0000" in line]
    assert "deploy]0;pwned[2J 31mexe.txt" in line
    assert unsafe_shown(result.output) == []
