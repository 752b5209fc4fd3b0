"""`sessionbeat doctor` against real parts: a broker, an agent, an aggregator, Claude settings."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from typer.testing import CliRunner

from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.cli import app
from tests.aggregator.support import ManualClock, Publisher, beat, running, unique_host
from tests.conftest import short_tmpdir
from tests.procs import Agent, Aggregator, wait_until


def doctor(*args: str) -> tuple[int, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(app, [*args, "doctor", "--json"])
    return result.exit_code, {c["name"]: c for c in json.loads(result.stdout)}


def test_nothing_set_up_fails_with_hints() -> None:
    """No broker, no hooks, no agent: doctor fails and says what to do for each."""
    code, checks = doctor(
        "--broker-url",
        f"mqtt://127.0.0.1:{free_port()}",
        "--api-url",
        f"http://127.0.0.1:{free_port()}",
    )
    assert code == 1
    assert checks["broker"]["level"] == "fail"
    assert "unreachable" in checks["broker"]["detail"]
    assert checks["hooks"]["level"] == "fail"
    assert "sessionbeat hooks install" in checks["hooks"]["hint"]
    assert checks["agent"]["level"] == "warn"
    assert checks["api"]["level"] == "warn"


def test_everything_set_up_passes(broker: LocalBroker, isolated_env: Path) -> None:
    """Broker reachable, hooks installed, agent connected, API up, clock in step: exit 0.

    Doctor runs the moment ``/hosts`` shows the host online, as a user would right after up.
    """
    root = short_tmpdir()
    aggregator = Aggregator(broker.url, root / "agg")
    script = str(Path(sys.executable).parent / "sessionbeat")
    CliRunner().invoke(app, ["hooks", "install", "--script", script])
    state = Path(isolated_env) / "state"
    agent = Agent(broker.url, state, "doctor-host")
    try:
        wait_until(
            lambda: any(
                h["host"] == "doctor-host" and h["state"] == "online"
                for h in aggregator.get("/hosts")
            ),
            15,
        )
        code, checks = doctor("--broker-url", broker.url, "--api-url", aggregator.url)
    finally:
        agent.stop()
        aggregator.stop()
    assert {name: c["level"] for name, c in checks.items()} == {
        "config": "ok",
        "broker": "ok",
        "hooks": "ok",
        "agent": "ok",
        "api": "ok",
        "clock": "ok",
    }
    assert code == 0
    assert "skew against the aggregator host" in checks["clock"]["detail"]


def test_wrong_credentials_are_reported(tmp_path: Path) -> None:
    """A broker that refuses the user: the broker check fails and points at the URL."""
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\nuser root\n"
    )
    import subprocess

    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        from sessionbeat.broker.embedded import wait_for_port

        wait_for_port("127.0.0.1", port, 10)
        code, checks = doctor("--broker-url", f"mqtt://nobody:wrong@127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)
    assert code == 1
    assert checks["broker"]["level"] == "fail"
    assert "refused" in checks["broker"]["detail"]


def test_clock_check_reports_the_skew_the_aggregator_measures(
    broker: LocalBroker, publisher: Publisher
) -> None:
    """A host whose beats are an hour ahead is told so by its doctor; others' skew is listed."""
    me, other = unique_host("me"), unique_host("other")
    now = datetime.now(UTC)
    with running(broker, short_tmpdir(), clock=ManualClock(now)) as (_service, api):
        publisher.beat(beat(me, "s1", bdseq=0, sent_at=now + timedelta(hours=1)), retain=False)
        publisher.beat(beat(other, "s1", bdseq=0, sent_at=now - timedelta(hours=2)), retain=False)
        wait_until(
            lambda: {me, other} <= {h["host"] for h in httpx.get(f"{api.url}/hosts").json()}, 15
        )
        _code, checks = doctor("--host", me, "--broker-url", broker.url, "--api-url", api.url)
    clock = checks["clock"]
    assert clock["level"] == "warn"
    assert "this host's beats as the aggregator sees them +3600.00 s" in clock["detail"]
    assert f"other hosts over 2 s: {other} -7200.0 s" in clock["detail"]


def test_a_degraded_aggregator_is_a_warning_with_its_reason(tmp_path: Path) -> None:
    """An aggregator that answers but cannot reach its broker is not reported as ok."""
    dead_broker = f"mqtt://127.0.0.1:{free_port()}"
    aggregator = Aggregator(dead_broker, tmp_path / "aggregator")
    try:
        _code, checks = doctor("--broker-url", dead_broker, "--api-url", aggregator.url)
    finally:
        aggregator.stop()
    assert checks["api"]["level"] == "warn"
    assert "broker not connected" in checks["api"]["hint"]
