"""``sessionbeat aggregator`` as a real process: prints its URL, serves, stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse
from typer.testing import CliRunner

from sessionbeat.aggregator import cli as aggregator_cli
from sessionbeat.aggregator.cli import listen_socket
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.cli import app
from sessionbeat.errors import ConfigError
from sessionbeat.models import utc_now
from tests.aggregator.support import Publisher, beat, unique_host, wait_until


def start(broker: LocalBroker, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``sessionbeat aggregator --port 0`` and return it with the URL it printed."""
    env = {
        **os.environ,
        "SESSIONBEAT_BROKER_URL": broker.url,
        "SESSIONBEAT_HISTORY_DB": str(tmp / "history.sqlite3"),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessionbeat", "aggregator", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    assert match, f"no URL in {line!r}"
    return proc, match.group(0)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_aggregator_process_serves_and_stops_cleanly(
    broker: LocalBroker, publisher: Publisher, tmp: Path, sig: signal.Signals
) -> None:
    """The command prints its URL, serves, and exits 0 on SIGTERM/Ctrl-C, open streams included."""
    proc, url = start(broker, tmp)
    events: list[str] = []
    try:
        wait_until(lambda: _status(url) == 200, what="healthz 200")
        reader = threading.Thread(target=_read_events, args=(url, events), daemon=True)
        reader.start()
        wait_until(lambda: "ready" in events, what="the stream's ready event")
        host = unique_host()
        publisher.beat(beat(host, "s1", repo="web", sent_at=utc_now()))
        wait_until(lambda: httpx.get(f"{url}/sessions", params={"host": host}).json())
        wait_until(lambda: "session" in events, what="an event on the open stream")
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert not reader.is_alive()  # the server ended the event stream
    assert "aggregator stopped" in err
    assert "Traceback" not in err and "ERROR" not in err


def _read_events(url: str, names: list[str]) -> None:
    """Hold GET /events open, noting event names, until the server ends the stream."""
    with (
        httpx.Client(timeout=httpx.Timeout(5, read=60)) as client,
        connect_sse(client, "GET", f"{url}/events") as source,
    ):
        for sse in source.iter_sse():
            names.append(sse.event)


def test_port_in_use_is_a_clear_error(broker: LocalBroker) -> None:
    """A taken port is a one-line error with exit code 2, not a traceback."""
    taken = listen_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["--broker-url", broker.url, "aggregator", "--port", str(port)]
        )
    finally:
        taken.close()
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


@pytest.mark.parametrize("flag", ["--bind", "--host"])
def test_bind_address_comes_from_bind_or_the_deprecated_host(flag: str) -> None:
    """--bind sets the listen address; the old --host still does, with a deprecation note."""
    result = CliRunner().invoke(
        app, ["aggregator", flag, "192.0.2.1", "--port", "0", "--insecure-no-token"]
    )
    assert result.exit_code == 2
    assert "cannot listen on 192.0.2.1:0" in result.stderr
    deprecated = "sessionbeat aggregator: --host is deprecated here; use --bind 192.0.2.1"
    assert (deprecated in result.stderr) == (flag == "--host")


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.0.2.1", "kai-server"])
def test_a_non_loopback_address_without_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, bind: str
) -> None:
    """Serving every session to the network without a token is refused, saying what to do."""
    monkeypatch.setattr(aggregator_cli, "listen_socket", _reached)
    result = CliRunner().invoke(app, ["aggregator", "--bind", bind, "--port", "0"])
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"refusing to serve the API on {bind} without a token" in message
    assert "SESSIONBEAT_API_TOKEN" in message and "--insecure-no-token" in message
    assert "reached listen_socket" not in message  # refused before binding anything


def _reached(host: str, port: int) -> None:
    """Stand-in for listen_socket: the command got past its checks (and serves nothing)."""
    raise ConfigError(f"reached listen_socket({host})")


@pytest.mark.parametrize(
    ("bind", "args", "env"),
    [
        ("127.0.0.1", [], {}),
        ("localhost", [], {}),
        ("::1", [], {}),
        ("192.0.2.1", [], {"SESSIONBEAT_API_TOKEN": "s3cret"}),
        ("192.0.2.1", ["--insecure-no-token"], {}),
    ],
)
def test_loopback_a_token_or_the_flag_lets_the_aggregator_bind(
    monkeypatch: pytest.MonkeyPatch, bind: str, args: list[str], env: dict[str, str]
) -> None:
    """Loopback needs nothing; another address needs a token or --insecure-no-token."""
    monkeypatch.setattr(aggregator_cli, "listen_socket", _reached)
    result = CliRunner().invoke(app, ["aggregator", "--bind", bind, *args], env=env)
    assert "refusing" not in result.stderr
    assert f"reached listen_socket({bind})" in result.stderr


def test_listen_socket_raises_config_error() -> None:
    """Binding an address that is not local raises ConfigError."""
    with pytest.raises(ConfigError):
        listen_socket("192.0.2.1", 0)


def _status(url: str) -> int:
    try:
        return httpx.get(f"{url}/healthz").status_code
    except httpx.HTTPError:
        return 0
