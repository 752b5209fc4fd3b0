"""`sessionbeat doctor` against real parts: a broker, an agent, an aggregator, Claude settings."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.cli import app
from sessionbeat.models import NotifyStatus
from sessionbeat.readers.doctor import Check, Level, check_mcp, check_notify, print_checks
from sessionbeat.settings import load_settings
from tests.aggregator.support import (
    T0,
    ManualClock,
    Publisher,
    beat,
    notify_on,
    running,
    unique_host,
)
from tests.conftest import short_tmpdir
from tests.procs import Agent, Aggregator, static_server, wait_until


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
    assert checks["mcp"]["level"] == "info"  # optional: not registered is no failure
    assert checks["agent"]["level"] == "warn"
    assert checks["api"]["level"] == "warn"
    assert (checks["notifications"]["level"], checks["notifications"]["detail"]) == (
        "info",
        "unknown",
    )


def test_everything_set_up_passes(broker: LocalBroker, isolated_env: Path) -> None:
    """Broker reachable, hooks installed, agent connected, API up, clock in step: exit 0.

    Doctor runs the moment ``/hosts`` shows the host online, as a user would right after up.
    """
    root = short_tmpdir()
    aggregator = Aggregator(broker.url, root / "agg")
    script = str(Path(sys.executable).parent / "sessionbeat")
    CliRunner().invoke(app, ["hooks", "install", "--mcp", "--script", script])
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
        "mcp": "ok",
        "agent": "ok",
        "api": "ok",
        "clock": "ok",
        "notifications": "info",  # no SESSIONBEAT_NOTIFY_URLS: off, which is no failure
    }
    assert code == 0
    assert checks["notifications"]["detail"] == "off"
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


def test_notifications_check_follows_the_notifier(broker: LocalBroker) -> None:
    """On is ok with its services; a failed last delivery or a bad URL warns; off is info."""
    state = [notify_on()]
    with running(broker, short_tmpdir(), notify_status=lambda: state[0]) as (_service, api):
        settings = load_settings(api_url=api.url)
        on = check_notify(settings)
        state[0] = notify_on(last_error="ntfy: HTTP 401", last_error_at=T0.replace(hour=15))
        failing = check_notify(settings)
        state[0] = notify_on(last_error="old", last_error_at=T0.replace(hour=9))
        recovered = check_notify(settings)
        state[0] = notify_on(invalid=["foo://…: unknown service"])
        invalid = check_notify(settings)
        state[0] = NotifyStatus(enabled=False)
        off = check_notify(settings)
    assert on == Check(
        "notifications",
        Level.OK,
        "on: ntfy, json (needs_approval, turn_finished); last sent 2025-06-01T14:02:00+00:00",
    )
    assert failing.level is Level.WARN
    assert "the last delivery failed (2025-06-01T15:00:00+00:00): ntfy: HTTP 401" in failing.detail
    assert "sessionbeat notify status" in failing.hint
    assert recovered.level is Level.OK  # an error older than the last send is history
    assert (invalid.level, invalid.detail.endswith("invalid URLs: foo://…: unknown service")) == (
        Level.WARN,
        True,
    )
    assert (off.level, off.detail, off.hint) == (
        Level.INFO,
        "off",
        "set SESSIONBEAT_NOTIFY_URLS to push approvals",
    )


def test_an_aggregator_without_notify_leaves_it_unknown() -> None:
    """An older aggregator (404 on GET /notify): the check is info, unknown, not a failure."""
    with static_server(short_tmpdir()) as url:
        check = check_notify(load_settings(api_url=url))
    assert (check.level, check.detail.startswith("unknown: ")) == (Level.INFO, True)


def test_long_check_names_keep_the_columns_aligned(capsys: Any) -> None:
    """Details start in one column, hints one before, even with the longest check name."""
    code = print_checks(
        [
            Check("api", Level.OK, "up"),
            Check("notifications", Level.INFO, "off", "set SESSIONBEAT_NOTIFY_URLS"),
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0  # info is no failure
    assert lines == [
        "[ok]   api           up",
        "[info] notifications off",
        "                    -> set SESSIONBEAT_NOTIFY_URLS",
    ]


def test_mcp_check_follows_the_registration(tmp_path: Path) -> None:
    """Not registered: info with the command; registered: ok; the script gone: warn."""
    script = tmp_path / "venv" / "bin" / "sessionbeat"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    config = Path(os.environ["CLAUDE_CONFIG_DIR"]) / ".claude.json"
    settings = load_settings()
    absent = check_mcp(settings)
    assert (absent.level, absent.detail, absent.hint) == (
        Level.INFO,
        f"not registered in {config}",
        "sessionbeat hooks install --mcp",
    )
    CliRunner().invoke(app, ["hooks", "install", "--mcp", "--script", str(script)])
    ok = check_mcp(settings)
    assert (ok.level, ok.detail) == (Level.OK, f"registered in {config}: {script} mcp")
    script.chmod(0o644)
    assert "which is not executable" in check_mcp(settings).detail
    script.unlink()
    gone = check_mcp(settings)
    assert gone.level is Level.WARN
    assert "which no longer exists" in gone.detail
    assert "sessionbeat hooks install --mcp" in gone.hint
    config.write_text("{ broken")
    broken = check_mcp(settings)
    assert (broken.level, str(config) in broken.detail) == (Level.WARN, True)
