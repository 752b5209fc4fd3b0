"""``sessionbeat agent``: run, inspect, stop and install the host agent.

``agent install`` writes a systemd user unit (Linux) or a launchd agent (macOS) that keeps the
agent running; without it the first hook starts an agent on demand. Windows: see the README
(Task Scheduler, "At log on", ``sessionbeat agent run``).
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat.cli_support import configure_logging, get_settings
from sessionbeat.errors import NotFoundError
from sessionbeat.settings import Settings

app = typer.Typer(help="Run, inspect and install the host agent.", no_args_is_help=True)

SYSTEMD_UNIT = "sessionbeat-agent.service"
LAUNCHD_LABEL = "dev.sessionbeat.agent"


def console_script() -> Path:
    """Return the absolute path of the installed ``sessionbeat`` script (next to Python)."""
    candidate = Path(sys.executable).parent / (
        "sessionbeat.exe" if os.name == "nt" else "sessionbeat"
    )
    if candidate.exists():
        return candidate
    found = shutil.which("sessionbeat")
    if found:
        return Path(found).resolve()
    raise NotFoundError("the sessionbeat console script is not installed next to this Python")


@app.command()
def run(
    ctx: typer.Context,
    transport: Annotated[
        str | None,
        typer.Option(
            help="unix or tcp",
            show_default="SESSIONBEAT_AGENT_TRANSPORT or unix where available",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(help="log here", show_default="stderr; agent.log when detached"),
    ] = None,
) -> None:
    """Run the agent in the foreground until SIGTERM or Ctrl-C (exits 0 if one already runs)."""
    from sessionbeat.publisher.agent import AgentAlreadyRunningError, HostAgent

    settings = get_settings(ctx)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if log_file is None and not sys.stderr.isatty() and _stderr_is_null():
        log_file = settings.state_dir / "agent.log"
    if log_file is not None:
        configure_logging(settings.log_level, log_file)
    agent = HostAgent(settings, transport=transport)

    def _stop(signum: int, frame: object) -> None:
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        agent.run()
    except AgentAlreadyRunningError as exc:
        typer.echo(f"sessionbeat: {exc}", err=True)
        raise typer.Exit(0) from None


def _stderr_is_null() -> bool:
    try:
        return os.path.samefile(f"/proc/self/fd/{sys.stderr.fileno()}", os.devnull)
    except (OSError, ValueError, AttributeError):
        return not sys.stderr.isatty()


def agent_pid(settings: Settings) -> int | None:
    """Return the pid of the running agent for ``settings.state_dir``, or None."""
    import psutil

    try:
        pid = int((settings.state_dir / "agent.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def read_status(settings: Settings) -> dict[str, object] | None:
    """Return the agent's last status file (written when it changes, at least every 30 s)."""
    try:
        data = json.loads((settings.state_dir / "agent-status.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the status file as JSON")] = False,
) -> None:
    """Show whether the agent runs, its broker connection and its sessions (exit 1 if not)."""
    settings = get_settings(ctx)
    pid = agent_pid(settings)
    data = read_status(settings) or {}
    if as_json:
        typer.echo(json.dumps({"running": pid is not None, **data}, indent=2))
    elif pid is None:
        typer.echo(f"agent: not running (state dir {settings.state_dir})")
    else:
        sessions = data.get("sessions")
        count = len(sessions) if isinstance(sessions, list) else 0
        typer.echo(
            f"agent: running, pid {pid}, host {data.get('host')}, broker {data.get('broker')}, "
            f"{'connected' if data.get('connected') else 'NOT connected'}, "
            f"{count} live sessions, {data.get('spooled_pending', 0)} beats spooled"
        )
    raise typer.Exit(0 if pid is not None else 1)


@app.command()
def stop(ctx: typer.Context) -> None:
    """Stop the running agent cleanly (SIGTERM: it publishes offline first)."""
    settings = get_settings(ctx)
    pid = agent_pid(settings)
    if pid is None:
        typer.echo("agent: not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while agent_pid(settings) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    typer.echo(f"agent {pid} stopped")


def systemd_unit(script: Path, settings: Settings) -> str:
    """Return the text of a systemd user unit that runs ``<script> agent run``."""
    env = f"Environment=SESSIONBEAT_STATE_DIR={settings.state_dir}\n"
    return (
        "[Unit]\n"
        "Description=sessionbeat host agent (Claude Code sessions -> MQTT)\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={script} agent run --log-file {settings.state_dir / 'agent.log'}\n"
        f"{env}"
        "Restart=always\n"
        "RestartSec=5\n"
        "KillSignal=SIGTERM\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist(script: Path, settings: Settings) -> bytes:
    """Return a launchd agent plist that keeps ``<script> agent run`` alive."""
    return plistlib.dumps(
        {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": [
                str(script),
                "agent",
                "run",
                "--log-file",
                str(settings.state_dir / "agent.log"),
            ],
            "EnvironmentVariables": {"SESSIONBEAT_STATE_DIR": str(settings.state_dir)},
            "RunAtLoad": True,
            "KeepAlive": True,
        }
    )


def service_file(platform: str) -> Path:
    """Return where the service definition goes on ``platform`` (``linux`` or ``darwin``)."""
    if platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "systemd" / "user" / SYSTEMD_UNIT


@app.command()
def install(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(help="print the file instead of writing it")] = False,
    now: Annotated[bool, typer.Option(help="also enable and start it")] = False,
    platform: Annotated[str, typer.Option(hidden=True)] = sys.platform,
) -> None:
    """Install the agent as a user service (systemd on Linux, launchd on macOS)."""
    settings = get_settings(ctx)
    script = console_script()
    if platform.startswith("win"):
        typer.echo(
            "Windows: create a Task Scheduler task 'At log on' running:\n"
            f"  {script} agent run\n(see the README, section 'The host agent')."
        )
        raise typer.Exit(0)
    path = service_file(platform)
    if platform == "darwin":
        content = launchd_plist(script, settings)
        commands = [["launchctl", "load", "-w", str(path)]]
    else:
        content = systemd_unit(script, settings).encode()
        commands = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", SYSTEMD_UNIT],
        ]
    if dry_run:
        typer.echo(f"# would write {path}")
        typer.echo(content.decode())
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    typer.echo(f"wrote {path}")
    if now:
        for command in commands:
            subprocess.run(command, check=False)
    else:
        typer.echo("start it with: " + " && ".join(" ".join(c) for c in commands))


@app.command()
def uninstall(
    ctx: typer.Context, platform: Annotated[str, typer.Option(hidden=True)] = sys.platform
) -> None:
    """Remove the user service that 'agent install' wrote (stopping it first)."""
    path = service_file(platform)
    if not path.exists():
        typer.echo(f"nothing installed at {path}")
        return
    if platform == "darwin":
        subprocess.run(["launchctl", "unload", "-w", str(path)], check=False)
    elif shutil.which("systemctl"):
        subprocess.run(["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT], check=False)
    path.unlink()
    typer.echo(f"removed {path}")
