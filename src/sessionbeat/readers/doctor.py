"""``sessionbeat doctor``: check this host's set-up and say what to fix.

Checks, each reported as ok / warn / fail with a hint: the configuration, the broker (TCP, then
an MQTT 5 CONNECT with the configured credentials), Claude Code's hooks (installed, absolute
command that exists), sessionbeat's MCP server in Claude Code's config (registered, command
that exists), the host agent (running, connected), the aggregator API, and the clock
skew against the aggregator host (its ``Date`` header, corrected by half the round trip; the
aggregator runs next to the broker), with the skew the aggregator measures on every host's beats
(``GET /hosts``: this host's, and any other host's beyond :data:`SKEW_WARN_SECONDS`), and the
aggregator's push notifications (``GET /notify``: on with its services, failing, or off; it
sends nothing). Exit code 1 when any check fails; ``info`` is neither good nor bad news.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sessionbeat.claude_code.events import INSTALLED_EVENTS
from sessionbeat.claude_code.settings_file import installed_events, our_command
from sessionbeat.errors import ConfigError
from sessionbeat.settings import CONFIG_ENV, Settings, default_config_file

SKEW_WARN_SECONDS = 2.0
"""Clock skew above this is reported: idle and stale times are measured across hosts."""


class Level(StrEnum):
    """Outcome of one check (``info``: something to know, e.g. a feature that is off)."""

    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's name, outcome, what was found and, if not ok, what to do."""

    name: str
    level: Level
    detail: str
    hint: str = ""


def check_config(settings: Settings) -> Check:
    """Report which config file applies and the effective host id and broker."""
    path = Path(os.environ.get(CONFIG_ENV) or default_config_file())
    where = f"{path}" if path.is_file() else f"{path} (absent: env and defaults)"
    return Check(
        "config",
        Level.OK,
        f"host {settings.host}, broker {settings.broker.display()}, file {where}",
    )


def check_broker(settings: Settings, timeout: float = 3.0) -> Check:
    """Connect to the broker over TCP, then with MQTT 5 and the configured credentials."""
    address = settings.broker
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            pass
    except OSError as exc:
        return Check(
            "broker",
            Level.FAIL,
            f"{address.display()} unreachable: {exc}",
            "start it (`sessionbeat up`) or fix SESSIONBEAT_BROKER_URL",
        )
    from sessionbeat.broker.client import make_client, tls_hint

    result: dict[str, Any] = {}
    done = threading.Event()
    try:
        client = make_client(
            f"sessionbeat-doctor-{settings.host}-{int(time.time())}",
            address,
            ca_file=settings.broker_ca_file,
        )
    except ConfigError as exc:
        return Check("broker", Level.FAIL, str(exc), "fix SESSIONBEAT_BROKER_CA_FILE")

    def on_connect(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
        result["reason"] = reason
        done.set()

    client.on_connect = on_connect
    try:
        client.connect(address.host, address.port, keepalive=10)
    except OSError as exc:  # a failed TLS handshake too (ssl.SSLError is an OSError)
        return Check("broker", Level.FAIL, f"MQTT connect failed: {exc}", tls_hint(exc))
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    reason = result.get("reason")
    if reason is None:
        return Check("broker", Level.FAIL, "no CONNACK from the broker", "is it an MQTT port?")
    if reason.is_failure:
        return Check(
            "broker",
            Level.FAIL,
            f"broker refused: {reason}",
            "check the user/password in SESSIONBEAT_BROKER_URL "
            "(`sessionbeat broker add-host` prints it)",
        )
    user = address.username or "anonymous"
    return Check("broker", Level.OK, f"{address.display()} accepts MQTT 5 as {user}")


def check_hooks(settings: Settings) -> Check:
    """Look for ``sessionbeat publish`` hooks in Claude Code's user settings."""
    path = settings.claude_config_dir / "settings.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Check(
            "hooks", Level.FAIL, f"{path} does not exist", "run `sessionbeat hooks install`"
        )
    except (OSError, ValueError) as exc:
        return Check("hooks", Level.FAIL, f"cannot read {path}: {exc}")
    if not isinstance(data, dict):
        return Check("hooks", Level.FAIL, f"{path} does not hold a JSON object")
    events = installed_events(data)
    commands = {e: our_command(data, e) for e in events}
    if not commands:
        return Check(
            "hooks",
            Level.FAIL,
            f"no sessionbeat hooks in {path}",
            "run `sessionbeat hooks install`",
        )
    missing = [e for e in INSTALLED_EVENTS if e not in commands]
    script = next(iter(commands.values())).rsplit(" publish", 1)[0].strip().strip('"')
    if not Path(script).is_absolute() or not Path(script).exists():
        return Check(
            "hooks",
            Level.FAIL,
            f"hook command {script!r} is not an existing absolute path",
            "run `sessionbeat hooks install` again from the installed venv",
        )
    if missing:
        return Check(
            "hooks",
            Level.WARN,
            f"{len(commands)} events hooked; missing {', '.join(missing)}",
            "run `sessionbeat hooks install`",
        )
    return Check("hooks", Level.OK, f"{len(commands)} events hooked in {path}")


MCP_CHECK = "mcp"
"""The name of the MCP server check."""


def check_mcp(settings: Settings) -> Check:
    """Report whether Claude Code starts sessionbeat's MCP server (``hooks install --mcp``).

    Reads ``mcpServers.sessionbeat`` in Claude Code's global config (``~/.claude.json``, or
    ``$CLAUDE_CONFIG_DIR/.claude.json``). ok when it is registered and its command is an
    executable file; warn when the command no longer exists (a removed venv) or the file cannot
    be read; info when it is not registered (an optional feature).
    """
    from sessionbeat.publisher.hooks_install import mcp_config_file, registered_mcp_server

    path = mcp_config_file(settings)
    try:
        entry = registered_mcp_server(path)
    except ConfigError as exc:
        return Check(MCP_CHECK, Level.WARN, str(exc), "Claude Code cannot read it either")
    if entry is None:
        return Check(
            MCP_CHECK, Level.INFO, f"not registered in {path}", "sessionbeat hooks install --mcp"
        )
    command = entry.get("command")
    shown = " ".join(str(part) for part in [command, *(entry.get("args") or [])])
    script = Path(command) if isinstance(command, str) else None
    problem = None
    if script is None or not script.is_file():
        problem = "which no longer exists"
    elif not os.access(script, os.X_OK):
        problem = "which is not executable"
    if problem:
        return Check(
            MCP_CHECK,
            Level.WARN,
            f"registered in {path} with {command!r}, {problem}",
            "run `sessionbeat hooks install --mcp` again from the installed venv",
        )
    return Check(MCP_CHECK, Level.OK, f"registered in {path}: {shown}")


def check_agent(settings: Settings) -> Check:
    """Report whether this host's agent runs and is connected to the broker."""
    from sessionbeat.publisher.agent_files import agent_pid, read_status

    pid = agent_pid(settings)
    if pid is None:
        return Check(
            "agent",
            Level.WARN,
            "not running",
            "the first hook starts it; or `sessionbeat agent install --now`",
        )
    status = read_status(settings) or {}
    if not status.get("connected"):
        return Check(
            "agent",
            Level.FAIL,
            f"pid {pid} runs but is not connected to the broker",
            f"see {settings.state_dir / 'agent.log'}",
        )
    pending = status.get("spooled_pending", 0)
    sessions = status.get("sessions")
    count = len(sessions) if isinstance(sessions, list) else 0
    return Check(
        "agent", Level.OK, f"pid {pid}, connected, {count} live sessions, {pending} spooled"
    )


def check_api_and_clock(settings: Settings) -> list[Check]:
    """Reach the aggregator's /healthz and measure the clock skew from its ``Date`` header."""
    import httpx

    url = settings.api_url.rstrip("/") + "/healthz"
    try:
        start = time.time()
        response = httpx.get(url, timeout=3.0)
        end = time.time()
    except httpx.HTTPError as exc:
        return [
            Check(
                "api",
                Level.WARN,
                f"{url} unreachable: {exc}",
                "start the aggregator or set SESSIONBEAT_API_URL",
            )
        ]
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    reasons = body.get("reasons") if isinstance(body, dict) else None
    degraded = response.status_code != 200 or (
        isinstance(body, dict) and body.get("status") not in (None, "ok")
    )
    api = Check(
        "api",
        Level.WARN if degraded else Level.OK,
        f"{url}: HTTP {response.status_code} {json.dumps(body)[:120]}",
        "; ".join(map(str, reasons)) if degraded and isinstance(reasons, list) else "",
    )
    server_now: float | None = None
    if isinstance(body, dict) and isinstance(body.get("now"), str):
        from datetime import datetime

        server_now = datetime.fromisoformat(body["now"].replace("Z", "+00:00")).timestamp()
    elif "date" in response.headers:
        server_now = parsedate_to_datetime(response.headers["date"]).timestamp() + 0.5
    if server_now is None:
        return [api, Check("clock", Level.WARN, "the API gave no time to compare with")]
    skew = (start + end) / 2 - server_now
    own, others = hosts_skew(settings)
    detail = f"skew against the aggregator host {skew:+.2f} s"
    if own is not None:
        detail += f"; this host's beats as the aggregator sees them {own:+.2f} s"
    if others:
        listed = ", ".join(f"{host} {value:+.1f} s" for host, value in others)
        detail += f"; other hosts over {SKEW_WARN_SECONDS:.0f} s: {listed}"
    worst = max(abs(skew), abs(own or 0.0))
    level = Level.OK if worst <= SKEW_WARN_SECONDS else Level.WARN
    return [
        api,
        Check(
            "clock",
            level,
            detail,
            "" if level is Level.OK else "enable NTP (timedatectl set-ntp true)",
        ),
    ]


def hosts_skew(settings: Settings) -> tuple[float | None, list[tuple[str, float]]]:
    """Return the clock skew the aggregator measured on this host, and on hosts over the limit.

    Reads ``GET /hosts`` (``clock_skew_seconds``: a host's clock minus the aggregator's, from
    its live beats). Returns ``(this host's skew or None, [(host, skew), ...])`` for the other
    hosts beyond :data:`SKEW_WARN_SECONDS`, largest first; ``(None, [])`` when the API cannot
    be read (the api check already says why).
    """
    from sessionbeat.errors import SessionbeatError
    from sessionbeat.readers.client import ApiClient

    token = settings.api_token.get_secret_value() if settings.api_token else None
    try:
        with ApiClient(settings.api_url, token, timeout=3.0) as api:
            hosts = api.hosts()
    except SessionbeatError:
        return None, []
    own = next((h.clock_skew_seconds for h in hosts if h.host == settings.host), None)
    others = [
        (h.host, h.clock_skew_seconds)
        for h in hosts
        if h.host != settings.host
        and h.clock_skew_seconds is not None
        and abs(h.clock_skew_seconds) > SKEW_WARN_SECONDS
    ]
    others.sort(key=lambda item: -abs(item[1]))
    return own, others


def check_notify(settings: Settings) -> Check:
    """Report the aggregator's push notifications from ``GET /notify``; sends nothing.

    ok with the services when on and the last delivery did not fail; warn with the error when
    it did (an error newer than the last send) or when some URLs are invalid; info when off,
    and ``unknown`` when the API does not answer it (an older aggregator, a wrong token). The
    URLs it shows come redacted from the aggregator (Apprise's privacy form); text from the
    services is cleaned of control and bidi characters (``render.safe_text``).
    """
    from sessionbeat.errors import SessionbeatError
    from sessionbeat.readers.client import ApiClient
    from sessionbeat.readers.render import (
        NOTIFY_HINT,
        notify_failing,
        notify_services,
        safe_text,
    )

    token = settings.api_token.get_secret_value() if settings.api_token else None
    try:
        with ApiClient(settings.api_url, token, timeout=3.0) as api:
            status = api.notify_status()
    except SessionbeatError as exc:
        return Check(NOTIFY_CHECK, Level.INFO, f"unknown: {exc}")
    invalid = f"; invalid URLs: {safe_text(', '.join(status.invalid))}" if status.invalid else ""
    if not status.enabled:
        level = Level.WARN if status.invalid else Level.INFO
        return Check(NOTIFY_CHECK, level, f"off{invalid}", NOTIFY_HINT + " to push approvals")
    services = safe_text(", ".join(notify_services(status))) or "no service"
    kinds = ", ".join(k.value for k in status.kinds)
    detail = f"on: {services} ({kinds})"
    if notify_failing(status):
        when = status.last_error_at.isoformat() if status.last_error_at else "at an unknown time"
        return Check(
            NOTIFY_CHECK,
            Level.WARN,
            f"{detail}; the last delivery failed ({when}): "
            f"{safe_text(status.last_error or '')}{invalid}",
            "`sessionbeat notify status` shows each service's last error",
        )
    if status.invalid:
        return Check(
            NOTIFY_CHECK, Level.WARN, detail + invalid, "fix them in SESSIONBEAT_NOTIFY_URLS"
        )
    sent = status.last_sent_at.isoformat() if status.last_sent_at else "nothing yet"
    return Check(NOTIFY_CHECK, Level.OK, f"{detail}; last sent {sent}")


NOTIFY_CHECK = "notifications"
"""The name of the push-notification check."""


def run_checks(settings: Settings) -> list[Check]:
    """Run every check in order and return the results."""
    checks = [check_config(settings), check_broker(settings), check_hooks(settings)]
    checks += [check_mcp(settings), check_agent(settings)]
    api = check_api_and_clock(settings)
    checks += api
    # check_api_and_clock adds the clock check only when the API answered: without it the
    # notifications are unknown, and not worth another wait for an unreachable address.
    reachable = len(api) > 1
    checks.append(
        check_notify(settings) if reachable else Check(NOTIFY_CHECK, Level.INFO, "unknown")
    )
    return checks


_MARK = {Level.OK: "[ok]  ", Level.INFO: "[info]", Level.WARN: "[warn]", Level.FAIL: "[FAIL]"}


def print_checks(checks: list[Check], as_json: bool = False) -> int:
    """Print the checks as lines (or as a JSON list); return the exit code: 1 if any failed."""
    if as_json:
        rows = [
            {"name": c.name, "level": c.level.value, "detail": c.detail, "hint": c.hint}
            for c in checks
        ]
        typer.echo(json.dumps(rows, indent=2))
    else:
        width = max([7, *(len(c.name) for c in checks)])
        for c in checks:
            typer.echo(f"{_MARK[c.level]} {c.name:<{width}} {c.detail}")
            if c.hint:
                typer.echo(f"{'':{width + 7}}-> {c.hint}")
    return 1 if any(c.level is Level.FAIL for c in checks) else 0
