"""User-service definitions that keep the host agent running (``agent install``).

A systemd user unit on Linux, a launchd agent on macOS; both run ``<script> agent run`` with the
state dir of the settings they were written with.
"""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

from sessionbeat.settings import Settings

SYSTEMD_UNIT = "sessionbeat-agent.service"


LAUNCHD_LABEL = "dev.sessionbeat.agent"


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
